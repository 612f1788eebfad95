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

/// The OpenAPI document describes the reports the API really gives: every required field is
/// there, the status words and finding codes are the ones listed.
#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_describes_real_reports() {
    let lab = Lab::start().await.expect("lab");
    let server = Server::start(config(&lab)).await;
    let document = server.get("/api/v1/openapi.json").await.json();
    let schemas = &document["components"]["schemas"];
    let list = |value: &serde_json::Value| -> Vec<String> {
        value
            .as_array()
            .expect("a list")
            .iter()
            .map(|v| v.as_str().expect("a string").to_string())
            .collect()
    };
    let codes = list(&schemas["Finding"]["properties"]["code"]["enum"]);
    let names: Vec<String> = mta_sts_check::FindingCode::ALL
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(codes, names);
    let words = list(&schemas["Status"]["enum"]);
    for name in ["mx-not-in-policy", "tlsrpt-missing", "healthy-enforce"] {
        let report = server.check(&domain(&lab, name)).await.json();
        for field in list(&schemas["CheckReport"]["required"]) {
            assert!(report.get(&field).is_some(), "{name}: no {field}");
        }
        assert!(
            words.iter().any(|w| report["verdict"] == w.as_str()),
            "{name}"
        );
        for section in report["sections"].as_array().expect("sections") {
            assert!(
                words.iter().any(|w| section["status"] == w.as_str()),
                "{name}"
            );
        }
    }
    let report = server.check(mta_sts_lab::SERVFAIL_DOMAIN).await.json();
    assert_eq!(report["verdict"], "unknown");
    for item in report["not_learnt"].as_array().expect("not_learnt") {
        for field in list(&schemas["NotLearnt"]["required"]) {
            assert!(item.get(&field).is_some(), "no {field} in {item}");
        }
    }
    server.stop().await;
    lab.shutdown().await;
}
