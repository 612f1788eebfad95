//! The web page in a real browser: Debian's Chromium, headless, loads a healthy and a broken lab
//! domain from the web checker and the test asserts on the rendered DOM (after the page's script
//! ran). A screenshot of each is saved under `target/screenshots/` as a CI artifact.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use mta_sts_check::NetSettings;
use mta_sts_lab::Lab;
use mta_sts_net::{AddressGuard, Trust};
use mta_sts_store::test_support::skip;

const CHROMIUM: &str = "/usr/bin/chromium";

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    dir
}

/// Runs headless Chromium with the flags this machine needs (no sandbox as root, no background
/// network traffic, which the closed network would refuse) and a fresh profile.
fn chromium(args: &[&str]) -> std::process::Output {
    let profile = tempdir();
    let output = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", profile.display()),
        ])
        .args(args)
        .output()
        .expect("run chromium");
    let _ = std::fs::remove_dir_all(&profile);
    output
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "mta-sts-chromium-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).expect("profile directory");
    dir
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

fn dom(url: &str) -> String {
    let output = chromium(&["--virtual-time-budget=10000", "--dump-dom", url]);
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn screenshot(url: &str, name: &str) {
    let path = screenshots().join(name);
    let output = chromium(&[
        "--virtual-time-budget=10000",
        "--window-size=1280,2200",
        &format!("--screenshot={}", path.display()),
        url,
    ]);
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        std::fs::metadata(&path).is_ok_and(|m| m.len() > 10_000),
        "no screenshot at {}",
        path.display()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_in_headless_chromium() {
    // .ci/run installs Debian's chromium; only a developer machine without it skips.
    if !skip::installed(CHROMIUM, "chromium") {
        return;
    }
    let lab = Lab::start().await.expect("lab");
    let settings = NetSettings {
        resolver: Some(lab.dns_addr()),
        trust: Trust::only_pem(lab.ca_pem()).expect("lab CA"),
        https_port: lab.https_port(),
        smtp_port: lab.smtp_port(),
        timeout: Duration::from_millis(1500),
        guard: AddressGuard::AllowAll,
        probe_smtp: true,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(mta_sts_web::serve(
        listener,
        mta_sts_web::WebConfig::new(settings),
        async {
            let _ = stopped.await;
        },
    ));

    let healthy = lab
        .scenario("healthy-enforce")
        .expect("scenario")
        .domain
        .clone();
    let broken = lab
        .scenario("mx-wrong-name")
        .expect("scenario")
        .domain
        .clone();
    let healthy_url = format!("http://{address}/?domain={healthy}");
    let broken_url = format!("http://{address}/?domain={broken}");
    let (healthy_dom, broken_dom) =
        tokio::task::block_in_place(|| (dom(&healthy_url), dom(&broken_url)));

    assert!(healthy_dom.contains("id=\"verdict\""), "{healthy_dom}");
    assert!(
        healthy_dom.contains("data-verdict=\"pass\""),
        "{healthy_dom}"
    );
    // Each section's mark is the word the command line prints for it (`MTA-STS record [pass]`).
    assert!(
        healthy_dom.contains("data-mark=\"pass\"") && !healthy_dom.contains(">ok<"),
        "{healthy_dom}"
    );

    assert!(broken_dom.contains("data-verdict=\"fail\""), "{broken_dom}");
    assert!(
        broken_dom.contains("data-code=\"mx-cert-hostname\""),
        "{broken_dom}"
    );
    assert!(broken_dom.contains("class=\"copy"), "{broken_dom}");
    // The page's script ran in the browser and added a copy button to the block.
    assert!(broken_dom.contains(">Copy<"), "{broken_dom}");

    tokio::task::block_in_place(|| {
        screenshot(&healthy_url, "web-healthy.png");
        screenshot(&broken_url, "web-broken.png");
    });
    let _ = stop.send(());
    let _ = server.await;
    lab.shutdown().await;
}
