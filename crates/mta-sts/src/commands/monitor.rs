//! `mta-sts monitor once`: the monitor of `mta-sts serve`, run once from cron: each domain
//! checked, compared with the history in the report store, the events raised and cleared
//! printed (nothing when nothing changed, so cron mails only news).

use mta_sts_check::Checker;
use mta_sts_core::Clock as _;
use mta_sts_monitor::{Event, Monitor, MonitorSettings};
use mta_sts_net::SystemClock;
use mta_sts_store::reports::ReportStore;
use serde::Serialize;

use super::{CommandError, emit, owner_check_settings, runtime};
use crate::cli::{MonitorCommand, MonitorOnceArgs};
use crate::exit::Status;

/// Runs one `monitor` subcommand.
pub fn run(command: MonitorCommand) -> Result<Status, CommandError> {
    match command {
        MonitorCommand::Once(args) => once(&args),
    }
}

/// What `--json` prints.
#[derive(Serialize)]
struct Output<'a> {
    events: &'a [Event],
}

/// Exit 0 when every domain ran and none has an open event, 1 when one has, 2 when the
/// monitor could not run (a bad argument, a store that cannot be opened or written).
fn once(args: &MonitorOnceArgs) -> Result<Status, CommandError> {
    let settings = super::reports::settings(&args.store, &args.domains)?;
    if settings.domains.is_empty() {
        return Err(CommandError::Argument(
            "no domain to monitor: give --domain (or --config with `domains`).".into(),
        ));
    }
    // Every name is checked before anything runs: a typo stops the run, not the last domain.
    let domains = settings
        .domains
        .iter()
        .map(|name| {
            mta_sts_core::domain::normalize_mail_domain(name).map_err(|e| {
                CommandError::Argument(format!(
                    "{name} is not a mail domain: {}.",
                    e.diagnostic().message
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let check = settings
        .config
        .map(|config| config.check)
        .unwrap_or_default();
    let net = owner_check_settings(&args.check, &check, !args.no_smtp)?;
    let checker = Checker::from_settings(&net).map_err(|e| CommandError::Setup(e.to_string()))?;
    let store_url = settings.store;
    let (events, open) = runtime()?.block_on(async {
        let store = ReportStore::open(&store_url).await.map_err(|error| {
            CommandError::Setup(format!(
                "cannot open the report store {store_url}: {error}."
            ))
        })?;
        let monitor = Monitor::new(checker, store.clone(), MonitorSettings::default());
        let mut events = Vec::new();
        let mut open = 0_usize;
        // One domain after another: each check already runs its lookups and probes at once.
        for domain in &domains {
            let run = monitor
                .run(domain, SystemClock.now())
                .await
                .map_err(|error| {
                    CommandError::Setup(format!("monitoring {domain} failed: {error}."))
                })?;
            events.extend(run.events);
            open += store
                .open_monitor_events(domain)
                .await
                .map_err(|error| {
                    CommandError::Setup(format!(
                        "reading the open events of {domain} failed: {error}."
                    ))
                })?
                .len();
        }
        Ok::<_, CommandError>((events, open))
    })?;
    let text = if args.json {
        let mut json = serde_json::to_string(&Output { events: &events })
            .map_err(|e| CommandError::Write(std::io::Error::other(e)))?;
        json.push('\n');
        json
    } else {
        events
            .iter()
            .map(|event| format!("{} {}: {}\n", event.state, event.code, event.message))
            .collect()
    };
    emit(&text)?;
    Ok(if open == 0 {
        Status::Valid
    } else {
        Status::Invalid
    })
}
