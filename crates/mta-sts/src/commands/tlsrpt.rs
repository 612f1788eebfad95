//! `mta-sts tlsrpt`: TLS-RPT as a sender (RFC 8460), one file per subcommand.

mod collect;
mod report;
mod run;
mod send;
mod status;

use std::collections::BTreeMap;

use mta_sts_core::time::UtcDate;
use mta_sts_store::sender_reports::SenderStore;
use mta_sts_store::{StoreError, StoreUrl};
use mta_sts_tlsrpt::config::TlsRptConfig;
use mta_sts_tlsrpt::tlsrpt_reporter_config::{self, Component};

use super::CommandError;
use crate::cli::{TlsrptCommand, TlsrptConfigArgs};
use crate::exit::Status;

/// Runs one `tlsrpt` subcommand.
pub fn run(command: TlsrptCommand) -> Result<Status, CommandError> {
    match command {
        TlsrptCommand::Collect(args) => collect::run(&args),
        TlsrptCommand::Report(args) => report::run(&args),
        TlsrptCommand::Run(args) => run::run(&args),
        TlsrptCommand::Send(args) => send::run(&args),
        TlsrptCommand::Status(args) => status::run(&args),
    }
}

/// The settings from tlsrpt-reporter's file (as `component` reads it, with its environment
/// overrides) and ours over it; each tlsrpt-reporter key ignored or read differently is logged
/// (or, before a log, written to standard error) as a sentence.
fn load_config(
    args: &TlsrptConfigArgs,
    component: Component,
) -> Result<TlsRptConfig, CommandError> {
    let mut config = TlsRptConfig::default();
    if let Some(path) = &args.tlsrpt_reporter_config {
        // Variables that are not Unicode cannot be tlsrpt-reporter's (Python reads them as
        // text too); they are skipped rather than stopping the program.
        let env: BTreeMap<String, String> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        let imported = tlsrpt_reporter_config::import(component, path, &env)
            .map_err(|e| CommandError::Setup(format!("{e}.")))?;
        for note in &imported.notes {
            if crate::logging::active() {
                tracing::info!(
                    kind = %"tlsrpt-reporter-config",
                    "{} ({}): {}.",
                    note.key,
                    path.display(),
                    note.message
                );
            } else {
                eprintln!("note: {} ({}): {}.", note.key, path.display(), note.message);
            }
        }
        config = imported.config;
    }
    if let Some(path) = &args.config {
        let ours = TlsRptConfig::load(path).map_err(|e| CommandError::Setup(format!("{e}.")))?;
        config = config.overlaid(ours);
        // Each file is checked alone; keys that must agree may come from both.
        config
            .validate()
            .map_err(|e| CommandError::Setup(format!("{e}.")))?;
    }
    Ok(config)
}

/// The store: `--store`, else the configuration's, else the default sender store.
fn store_url(flag: Option<&str>, config: &TlsRptConfig) -> Result<StoreUrl, CommandError> {
    match flag {
        Some(text) => text
            .parse()
            .map_err(|error: StoreError| CommandError::Argument(format!("{error} (--store)."))),
        None => Ok(config
            .store
            .clone()
            .unwrap_or_else(SenderStore::default_url)),
    }
}

/// Whether opening the sender store may create it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StoreAccess {
    /// The collector and the reporter daemon make the store they write to.
    Create,
    /// The commands that read what was collected refuse a missing store rather than leave an
    /// empty one behind: a mistyped `--store` would otherwise look like a day without mail.
    Existing,
}

/// Opens the sender store at `url`, refusing a missing SQLite file when `access` says so.
async fn open_store(url: &StoreUrl, access: StoreAccess) -> Result<SenderStore, CommandError> {
    if let (StoreAccess::Existing, StoreUrl::Sqlite(path)) = (access, url)
        && !path.exists()
    {
        return Err(CommandError::Setup(format!(
            "there is no sender store at {}: nothing has been collected there (start `mta-sts \
             tlsrpt collect`, or name the store with --store).",
            path.display()
        )));
    }
    SenderStore::open(url).await.map_err(|error| {
        CommandError::Setup(format!("cannot open the sender store {url}: {error}."))
    })
}

/// A UTC day as `--day` takes it: `YYYY-MM-DD`, `today` or `yesterday` (`today` being the
/// current UTC day).
fn parse_day(text: &str, today: UtcDate) -> Result<UtcDate, CommandError> {
    match text {
        "today" => Ok(today),
        "yesterday" => UtcDate::from_day_number(today.day_number() - 1).ok_or_else(|| {
            CommandError::Argument(format!("--day {text} is before the year 0000."))
        }),
        _ => UtcDate::parse(text).map_err(|e| {
            CommandError::Argument(format!(
                "--day {text} is not a day: {e}; write YYYY-MM-DD, today or yesterday."
            ))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_dates_today_or_yesterday() {
        let today = UtcDate::parse("2026-12-07").expect("date");
        assert_eq!(parse_day("today", today).ok(), Some(today));
        assert_eq!(
            parse_day("yesterday", today).ok(),
            UtcDate::parse("2026-12-06").ok()
        );
        assert_eq!(
            parse_day("2026-01-31", today).ok(),
            UtcDate::parse("2026-01-31").ok()
        );
        for bad in ["2026-02-30", "tomorrow", "", "2026-1-1"] {
            assert!(parse_day(bad, today).is_err(), "{bad}");
        }
    }
}
