//! `mta-sts demo --serve`: the lab plus the owner's server over generated reports. The printed
//! login opens the dashboard, the three demo domains are there with what their reports show, and
//! the rollout advisor, checking the live lab, calls the testing domain ready to enforce and the
//! failing one not ready. The server also hosts a lab domain's policy, which `mta-sts check`
//! passes.

mod serve_harness;

use std::net::SocketAddr;
use std::process::{Command, Stdio};

use serde_json::Value;
use serve_harness::request;

const BIN: &str = env!("CARGO_BIN_EXE_mta-sts");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_serve_prints_a_login_that_opens_a_dashboard_of_three_domains() {
    let mut demo = Command::new(BIN)
        .args(["demo", "--serve", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the demo");
    let out = demo.stdout.take().expect("stdout");
    // The object comes first; the server then runs until SIGINT.
    let first = tokio::task::spawn_blocking(move || {
        serde_json::Deserializer::from_reader(out)
            .into_iter::<Value>()
            .next()
    })
    .await
    .expect("reading the demo's output");
    let value = match first {
        Some(Ok(value)) => value,
        other => {
            let _ = demo.kill();
            panic!("no JSON object from demo --serve --json: {other:?}");
        }
    };
    let checked = match check_dashboard(&value).await {
        Ok(()) => check_hosted(&value),
        failed => failed,
    };
    let _ = Command::new("kill")
        .args(["-INT", &demo.id().to_string()])
        .status();
    let stopped = demo.wait().expect("the demo stops on SIGINT");
    let store = value["serve"]["store"].as_str().unwrap_or_default();
    let store_file = store
        .strip_prefix("sqlite:")
        .unwrap_or_default()
        .to_string();
    checked.unwrap_or_else(|failure| panic!("{failure}\n{value}"));
    assert!(stopped.success(), "{stopped:?}");
    assert!(
        !std::path::Path::new(&store_file).exists(),
        "the demo's store {store_file} is removed when it stops"
    );
}

/// Logs in with the printed login and reads the overview and two domains' advice.
async fn check_dashboard(value: &Value) -> Result<(), String> {
    let serve = &value["serve"];
    let url = serve["url"].as_str().ok_or("no dashboard URL")?;
    let address: SocketAddr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .map_err(|e| format!("the URL {url} names no address: {e}"))?;
    let (user, password) = (
        serve["user"].as_str().ok_or("no user")?,
        serve["password"].as_str().ok_or("no password")?,
    );
    let domains: Vec<&str> = serve["domains"]
        .as_array()
        .ok_or("no domains")?
        .iter()
        .filter_map(|d| d["domain"].as_str())
        .collect();
    if domains
        != [
            "mode-testing.test",
            "mx-wrong-name.test",
            "healthy-enforce.test",
        ]
    {
        return Err(format!(
            "the demo names other domains: {}",
            domains.join(", ")
        ));
    }

    let wrong = login(address, user, "not-the-password").await;
    if wrong.is_some() {
        return Err("a wrong password logged in".to_string());
    }
    let cookie = login(address, user, password)
        .await
        .ok_or("the printed login was refused")?;
    let overview = get(address, &cookie, "/").await?;
    for domain in &domains {
        if !overview.contains(domain) {
            return Err(format!("the overview does not show {domain}"));
        }
    }
    let ready = advice(address, &cookie, "mode-testing.test").await?;
    if ready["stage"] != "testing" || ready["ready"] != true {
        return Err(format!(
            "mode-testing.test should be ready to enforce: {ready}"
        ));
    }
    if !ready["next"]["policy"]
        .as_str()
        .is_some_and(|p| p.contains("mode: enforce"))
    {
        return Err(format!("no enforce policy to publish: {ready}"));
    }
    let failing = advice(address, &cookie, "mx-wrong-name.test").await?;
    let failed: Vec<&str> = failing["reasons"]
        .as_array()
        .map(|reasons| {
            reasons
                .iter()
                .filter(|r| r["ok"] == false)
                .filter_map(|r| r["code"].as_str())
                .collect()
        })
        .unwrap_or_default();
    if failing["ready"] != false || !failed.contains(&"regressions") {
        return Err(format!(
            "mx-wrong-name.test should show regressions: {failing}"
        ));
    }
    let silent = get(address, &cookie, "/domains/healthy-enforce.test").await?;
    if !silent.contains("Mail.Ru") || !silent.to_lowercase().contains("silent") {
        return Err("healthy-enforce.test does not flag Mail.Ru as silent".to_string());
    }
    Ok(())
}

/// The hosted domain: the demo's own check of it passed, and so does `mta-sts check` run now
/// against the lab, fetching the policy from the demo's server.
fn check_hosted(value: &Value) -> Result<(), String> {
    let hosted = &value["serve"]["hosted"];
    let domain = hosted["domain"].as_str().ok_or("no hosted domain")?;
    let outcome = value["scenarios"]
        .as_array()
        .and_then(|all| all.iter().find(|s| s["domain"] == domain))
        .ok_or_else(|| format!("the demo did not check {domain}"))?;
    if outcome["as_declared"] != true || outcome["found"] != serde_json::json!([]) {
        return Err(format!(
            "the demo's check of {domain} did not pass: {outcome}"
        ));
    }
    let lab = &value["lab"];
    let port = |key: &str| lab[key].as_u64().map(|p| p.to_string()).unwrap_or_default();
    let check = Command::new(BIN)
        .args(["check", domain, "--json", "--resolver"])
        .arg(lab["resolver"].as_str().unwrap_or_default())
        .arg("--ca-file")
        .arg(lab["ca_file"].as_str().unwrap_or_default())
        .args([
            "--https-port",
            &port("https_port"),
            "--smtp-port",
            &port("smtp_port"),
        ])
        .output()
        .map_err(|e| format!("cannot run mta-sts check: {e}"))?;
    let report: Value = serde_json::from_slice(&check.stdout)
        .map_err(|e| format!("mta-sts check printed no JSON: {e}"))?;
    if !check.status.success() || report["policy"]["mode"] != "enforce" {
        return Err(format!(
            "mta-sts check {domain} against the demo's server did not pass ({}): {report}",
            check.status
        ));
    }
    Ok(())
}

/// The session cookie when the login succeeds.
async fn login(address: SocketAddr, user: &str, password: &str) -> Option<String> {
    let body = format!("name={user}&password={password}&next=%2F");
    let answer = request(
        address,
        None,
        "POST",
        "/login",
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            // The harness names the host `localhost`; the form must come from the same origin.
            ("origin", "http://localhost"),
        ],
        body.into_bytes(),
    )
    .await;
    if answer.status != 303 {
        return None;
    }
    let cookie = answer.headers.get("set-cookie")?.to_str().ok()?;
    cookie.split(';').next().map(str::to_string)
}

async fn get(address: SocketAddr, cookie: &str, path: &str) -> Result<String, String> {
    let answer = request(
        address,
        None,
        "GET",
        path,
        &[("cookie", cookie)],
        Vec::new(),
    )
    .await;
    if answer.status == 200 {
        Ok(answer.body)
    } else {
        Err(format!("GET {path}: {} {}", answer.status, answer.body))
    }
}

/// The advisor's answer for `domain`, waiting for the live check the server started.
async fn advice(address: SocketAddr, cookie: &str, domain: &str) -> Result<Value, String> {
    let path = format!("/api/v1/domains/{domain}/advice");
    for _ in 0..30 {
        let body = get(address, cookie, &path).await?;
        let value: Value =
            serde_json::from_str(&body).map_err(|e| format!("{path} is not JSON: {e}"))?;
        if !value["advice"].is_null() {
            return Ok(value["advice"].clone());
        }
        // The page waits up to check_wait_ms for the check; asking again waits again.
    }
    Err(format!("{path} never gave advice"))
}
