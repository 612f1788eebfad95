//! Every lab scenario through the API: exactly the codes it declares.

use std::collections::BTreeSet;

use futures_util::future::join_all;
use mta_sts_core::Severity;
use mta_sts_lab::Lab;

use crate::{Server, config, problem_codes};

#[tokio::test(flavor = "multi_thread")]
async fn every_scenario_gives_exactly_its_declared_codes() {
    let lab = Lab::start().await.expect("lab");
    let server = Server::start(config(&lab)).await;
    let responses = join_all(lab.scenarios().iter().map(|s| server.check(&s.domain))).await;
    let mut wrong = Vec::new();
    for (scenario, response) in lab.scenarios().iter().zip(&responses) {
        assert_eq!(response.status, 200, "{}: {}", scenario.name, response.body);
        let report = response.json();
        let expected: BTreeSet<String> = scenario.expect.iter().map(|c| c.to_string()).collect();
        let found = problem_codes(&report);
        if expected != found {
            wrong.push(format!(
                "{}: expected {expected:?}, found {found:?}",
                scenario.name
            ));
        }
        // The verdict follows from the declared codes' severities.
        let severities: Vec<Severity> = scenario.expect.iter().map(|c| c.severity()).collect();
        let verdict = if severities.contains(&Severity::Error) {
            "fail"
        } else if severities.contains(&Severity::Warning) {
            "warn"
        } else {
            "pass"
        };
        assert_eq!(
            report["verdict"], verdict,
            "{}: {}",
            scenario.name, report["findings"]
        );
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    server.stop().await;
    lab.shutdown().await;
}
