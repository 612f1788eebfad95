//! `mta-sts demo`: boot the lab, check every scenario, and show that each misbehaves exactly as
//! its story says.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use mta_sts_check::{CheckReport, Checker, FindingCode, NetSettings};
use mta_sts_lab::{Lab, Ports};
use mta_sts_net::{AddressGuard, Trust};
use serde::Serialize;

use super::{CommandError, emit, runtime, to_json};
use crate::cli::{DemoArgs, LogFormat};
use crate::exit::Status;
use crate::logging;

mod loopback;
mod owner;

/// Shorter than the lab's slow policy host (3 s), so that scenario shows a timeout, and long
/// enough for everything else on loopback.
const LAB_TIMEOUT: Duration = Duration::from_millis(1500);

#[derive(Serialize)]
struct Outcome<'a> {
    domain: &'a str,
    story: &'a str,
    expected: Vec<&'a str>,
    found: Vec<&'a str>,
    as_declared: bool,
}

/// `--json` with `--keep` or `--web`: the scenarios and where the lab (and the web checker) can
/// be reached, so a script can point other commands at them.
#[derive(Serialize)]
struct KeptLab<'a> {
    scenarios: &'a [Outcome<'a>],
    lab: LabAddresses,
    /// The web checker's page, with `--web`.
    web: Option<String>,
    /// The owner's server (dashboard, login, store), with `--serve`.
    serve: Option<&'a owner::DemoLogin>,
}

#[derive(Serialize)]
struct LabAddresses {
    /// The lab's DNS server, `IP:PORT` (for `--resolver`).
    resolver: String,
    /// The lab CA's certificate (for `--ca-file`).
    ca_file: String,
    https_port: u16,
    smtp_port: u16,
    /// A `mta-sts check` command that works as printed while the lab runs.
    check: String,
}

/// Runs the demo; exit 0 when every scenario behaved as declared.
pub fn run(args: &DemoArgs) -> Result<Status, CommandError> {
    let DemoArgs {
        keep,
        standard_ports,
        web,
        serve,
        generated,
        json,
    } = *args;
    if keep || web || serve {
        // The web checker and the lab keep running: what they log goes to standard error.
        logging::init(LogFormat::Text)?;
    }
    match loopback::ensure_up().map_err(CommandError::Setup)? {
        loopback::Loopback::Up => {}
        loopback::Loopback::BroughtUp => {
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "mta-sts demo: loopback (lo) was down in this network namespace; it has been \
                 brought up for the lab"
            );
        }
    }
    runtime()?.block_on(async {
        let started = Instant::now();
        let ports = if standard_ports {
            Ports::STANDARD
        } else {
            Ports::EPHEMERAL
        };
        let mut scenarios = mta_sts_lab::catalog();
        if serve {
            scenarios.push(owner::hosted_scenario());
        }
        let shown = scenarios.len();
        // u32 → usize cannot lose anything on the platforms this builds for.
        scenarios.extend(mta_sts_lab::generated_mix(generated as usize));
        let lab = Lab::start_on(scenarios, 0, ports)
            .await
            .map_err(|e| CommandError::Setup(format!("cannot start the lab: {e}")))?;
        let shown = &lab.scenarios()[..shown];
        let trust =
            Trust::only_pem(lab.ca_pem()).map_err(|e| CommandError::Setup(e.to_string()))?;
        let settings = NetSettings {
            resolver: Some(lab.dns_addr()),
            trust,
            https_port: lab.https_port(),
            smtp_port: lab.smtp_port(),
            timeout: LAB_TIMEOUT,
            // The lab lives on loopback; only the lab may be dialled this way.
            guard: AddressGuard::AllowAll,
            probe_smtp: true,
        };
        let checker =
            Checker::from_settings(&settings).map_err(|e| CommandError::Setup(e.to_string()))?;
        // The owner's server hosts a policy the checks below fetch: it starts first.
        let owner = if serve {
            let demo = owner::OwnerDemo::start(&lab, LAB_TIMEOUT).await?;
            let login = demo.login.clone();
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let serving = tokio::spawn(demo.serve(async {
                let _ = stopped.await;
            }));
            Some((login, stop, serving))
        } else {
            None
        };
        let boot_ms = started.elapsed().as_millis();
        let checks = shown.iter().map(|s| checker.check(&s.domain));
        let reports: Vec<CheckReport> = futures_util::future::join_all(checks).await;
        let check_ms = started.elapsed().as_millis() - boot_ms;

        let outcomes: Vec<Outcome<'_>> = shown
            .iter()
            .zip(&reports)
            .map(|(scenario, report)| {
                let expected: BTreeSet<FindingCode> = scenario.expect.iter().copied().collect();
                let found = report.problem_codes();
                Outcome {
                    domain: &scenario.domain,
                    story: scenario.story,
                    as_declared: expected == found,
                    expected: expected.into_iter().map(FindingCode::as_str).collect(),
                    found: found.into_iter().map(FindingCode::as_str).collect(),
                }
            })
            .collect();
        let all_ok = outcomes.iter().all(|o| o.as_declared);
        // The lab's resolver answers only for the lab, so allowing private addresses exposes
        // nothing but the lab.
        let web_listener = if web {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| CommandError::Setup(format!("cannot listen for the web checker: {e}")))?;
            let address = listener.local_addr().map_err(|e| CommandError::Setup(e.to_string()))?;
            Some((listener, address))
        } else {
            None
        };
        let example = outcomes
            .first()
            .map_or("healthy-enforce.test", |o| o.domain);
        let text = if json && (keep || web || serve) {
            to_json(&KeptLab {
                scenarios: &outcomes,
                lab: LabAddresses {
                    resolver: lab.dns_addr().to_string(),
                    ca_file: lab.ca_file().display().to_string(),
                    https_port: lab.https_port(),
                    smtp_port: lab.smtp_port(),
                    check: check_command(&lab, example),
                },
                web: web_listener
                    .as_ref()
                    .map(|(_, address)| format!("http://{address}/")),
                serve: owner.as_ref().map(|(login, _, _)| login),
            })?
        } else if json {
            to_json(&outcomes)?
        } else {
            table(&lab, &outcomes, boot_ms, check_ms, keep || web || serve)
        };
        emit(&text)?;
        if let Some((listener, address)) = web_listener {
            if !json {
                let example = lab.scenarios().iter().find(|s| !s.expect.is_empty()).map_or("", |s| s.domain.as_str());
                emit(&format!(
                    "\nThe web checker runs on the lab until Ctrl-C:\n  open  http://{address}/?domain={example}\n  api   http://{address}/api/v1/check?domain={example}\n"
                ))?;
            }
            mta_sts_web::serve(listener, mta_sts_web::WebConfig::new(settings), async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map_err(|e| CommandError::Setup(e.to_string()))?;
        } else if let Some((login, stop, serving)) = owner {
            if !json {
                emit(&owner_text(&login))?;
            }
            let _ = tokio::signal::ctrl_c().await;
            let _ = stop.send(());
            // The server finishes the requests in progress; a panic in it has been printed.
            let _ = serving.await;
        } else if keep {
            tokio::signal::ctrl_c()
                .await
                .map_err(|e| CommandError::Setup(format!("cannot wait for Ctrl-C: {e}")))?;
        }
        lab.shutdown().await;
        Ok(if all_ok {
            Status::Valid
        } else {
            Status::Invalid
        })
    })
}

fn table(lab: &Lab, outcomes: &[Outcome<'_>], boot_ms: u128, check_ms: u128, keep: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "mta-sts demo: a simulated internet on loopback (DNS {}, HTTPS port {}, SMTP port {}), {} scenarios\n",
        lab.dns_addr(),
        lab.https_port(),
        lab.smtp_port(),
        outcomes.len()
    );
    let width = outcomes.iter().map(|o| o.domain.len()).max().unwrap_or(0);
    for outcome in outcomes {
        let found = if outcome.found.is_empty() {
            "pass".to_string()
        } else {
            outcome.found.join(", ")
        };
        let mark = if outcome.as_declared { "ok  " } else { "FAIL" };
        let _ = writeln!(out, "{mark} {:width$}  {found}", outcome.domain);
        if !outcome.as_declared {
            let expected = if outcome.expected.is_empty() {
                "pass".to_string()
            } else {
                outcome.expected.join(", ")
            };
            let _ = writeln!(out, "     {:width$}  expected: {expected}", "");
        }
        let _ = writeln!(out, "     {:width$}  {}", "", outcome.story);
    }
    let behaved = outcomes.iter().filter(|o| o.as_declared).count();
    let _ = writeln!(
        out,
        "\n{behaved}/{} scenarios behaved as declared (lab up in {boot_ms} ms, all checks in {check_ms} ms).",
        outcomes.len()
    );
    let example = outcomes
        .first()
        .map_or("healthy-enforce.test", |o| o.domain);
    if keep {
        let _ = writeln!(out, "\nThe lab keeps running until Ctrl-C:");
        let _ = writeln!(out, "  resolver    {}", lab.dns_addr());
        let _ = writeln!(out, "  CA file     {}", lab.ca_file().display());
        let _ = writeln!(out, "  HTTPS port  {}", lab.https_port());
        let _ = writeln!(out, "  SMTP port   {}", lab.smtp_port());
        let generated = &lab.scenarios()[outcomes.len()..];
        if let (Some(first), Some(last)) = (generated.first(), generated.last()) {
            let _ = writeln!(
                out,
                "  generated   {} domains, {} to {}",
                generated.len(),
                first.domain,
                last.domain
            );
        }
        let _ = writeln!(out, "  try         {}", check_command(lab, example));
        let _ = writeln!(
            out,
            "              mta-sts query {example} --cache memory --resolver {} --ca-file {} \
             --https-port {}",
            lab.dns_addr(),
            lab.ca_file().display(),
            lab.https_port()
        );
        let _ = writeln!(
            out,
            "              dig @{} -p {} TXT _mta-sts.{example}",
            lab.dns_addr().ip(),
            lab.dns_addr().port()
        );
    } else {
        // The lab stops with this command, so the only command that works as printed is the
        // one that keeps it running; that one prints complete `check` commands.
        let _ = writeln!(
            out,
            "\nExplore: `mta-sts demo --keep` keeps the lab running and prints a complete \
             `mta-sts check` command (--resolver, --ca-file, --https-port, --smtp-port) that \
             shows any scenario in full."
        );
    }
    out
}

/// How to reach the owner's server of `--serve`, and what to look at.
fn owner_text(login: &owner::DemoLogin) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nThe domain owner's server (mta-sts serve) runs on the lab until Ctrl-C:"
    );
    let _ = writeln!(out, "  dashboard   {}", login.url);
    let _ = writeln!(out, "  login       {} / {}", login.user, login.password);
    let _ = writeln!(out, "  store       {}", login.store);
    let width = login
        .domains
        .iter()
        .map(|d| d.domain.len())
        .max()
        .unwrap_or(0);
    let _ = writeln!(out, "  reports for:");
    for domain in &login.domains {
        let _ = writeln!(out, "    {:width$}  {}", domain.domain, domain.shows);
    }
    let _ = writeln!(
        out,
        "  hosts       {} (the policy of {}, served on {})",
        login.hosted.url, login.hosted.domain, login.hosted.address
    );
    if let Some(first) = login.domains.first() {
        let _ = writeln!(
            out,
            "  try         mta-sts reports summary --store {} --domain {}",
            login.store, first.domain
        );
    }
    out
}

/// A `mta-sts check` command for `domain` in the running lab, complete: it works as printed.
fn check_command(lab: &Lab, domain: &str) -> String {
    format!(
        "mta-sts check {domain} --resolver {} --ca-file {} --https-port {} --smtp-port {}",
        lab.dns_addr(),
        lab.ca_file().display(),
        lab.https_port(),
        lab.smtp_port()
    )
}
