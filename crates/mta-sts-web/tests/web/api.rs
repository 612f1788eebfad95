//! The JSON API gives exactly what the engine gives.

use mta_sts_check::Checker;
use mta_sts_lab::Lab;

use crate::{Server, config, domain, problem_codes, settings};

#[tokio::test(flavor = "multi_thread")]
async fn the_api_returns_the_engines_report() {
    let lab = Lab::start().await.expect("lab");
    let server = Server::start(config(&lab)).await;
    let checker = Checker::from_settings(&settings(&lab)).expect("checker");
    for scenario in ["healthy-enforce", "mx-wrong-name"] {
        let domain = domain(&lab, scenario);
        let response = server.check(&domain).await;
        assert_eq!(response.status, 200, "{}", response.body);
        assert_eq!(response.header("content-type"), Some("application/json"));
        let api = response.json();
        let direct = serde_json::to_value(checker.check(&domain).await).expect("serializes");
        assert_eq!(api["domain"], direct["domain"]);
        assert_eq!(api["verdict"], direct["verdict"], "{scenario}");
        assert_eq!(problem_codes(&api), problem_codes(&direct), "{scenario}");
        let keys = |v: &serde_json::Value| {
            v.as_object()
                .expect("an object")
                .keys()
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(keys(&api), keys(&direct));
    }
    // Unicode and upper case are normalised before checking.
    let response = server.check("HEALTHY-ENFORCE.test.").await;
    assert_eq!(response.json()["domain"], "healthy-enforce.test");
    server.stop().await;
    lab.shutdown().await;
}
