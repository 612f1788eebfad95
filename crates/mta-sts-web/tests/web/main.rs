//! The web checker over real sockets, against the lab: one test binary, grouped by theme.

mod api;
mod client;
mod defences;
mod hostile;
mod pages;
mod render;
mod scenarios;

use std::net::SocketAddr;
use std::time::Duration;

use mta_sts_check::NetSettings;
use mta_sts_lab::Lab;
use mta_sts_net::{AddressGuard, Trust};
use mta_sts_web::{WebConfig, WebError};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::client::Response;

/// A running web checker on 127.0.0.1 and an OS-chosen port.
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), WebError>>,
}

impl Server {
    /// Serves `config` until [`Server::stop`].
    pub async fn start(config: WebConfig) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(mta_sts_web::serve(listener, config, async {
            // A dropped sender stops the server too.
            let _ = stopped.await;
        }));
        Server { addr, stop, task }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Response {
        client::get(self.addr, path).await
    }

    /// `GET /api/v1/check?domain=`.
    pub async fn check(&self, domain: &str) -> Response {
        self.get(&format!("/api/v1/check?domain={}", client::encode(domain)))
            .await
    }

    /// `GET /?domain=`.
    pub async fn page(&self, domain: &str) -> Response {
        self.get(&format!("/?domain={}", client::encode(domain)))
            .await
    }

    /// Stops the server and waits for it; it must have served without error.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.expect("server task").expect("served");
    }
}

/// The lab's network, reachable (loopback allowed), with the checker's 1.5 s step timeout.
pub fn settings(lab: &Lab) -> NetSettings {
    NetSettings {
        resolver: Some(lab.dns_addr()),
        trust: Trust::only_pem(lab.ca_pem()).expect("lab CA"),
        https_port: lab.https_port(),
        smtp_port: lab.smtp_port(),
        timeout: Duration::from_millis(1500),
        guard: AddressGuard::AllowAll,
        probe_smtp: true,
    }
}

/// Limits generous enough that only the test of a limit meets it.
pub fn config(lab: &Lab) -> WebConfig {
    let mut config = WebConfig::new(settings(lab));
    config.rate_per_minute = 10_000;
    config.max_concurrent_checks = 256;
    config
}

/// The domain of a lab scenario.
pub fn domain(lab: &Lab, scenario: &str) -> String {
    lab.scenario(scenario)
        .unwrap_or_else(|| panic!("no scenario {scenario}"))
        .domain
        .clone()
}

/// The error and warning codes of a report in JSON.
pub fn problem_codes(report: &serde_json::Value) -> std::collections::BTreeSet<String> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["severity"] != "info")
        .map(|f| f["code"].as_str().expect("code").to_string())
        .collect()
}

/// A counter's value in the metrics text, by its sample line prefix.
pub fn metric(text: &str, sample: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(sample)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{sample} not in\n{text}"))
        .parse()
        .expect("a number")
}
