//! `mta-sts reports`: take in TLS-RPT reports, list them, sum them up.

mod fetch;
mod import;
mod list;
mod outcome;
mod summary;

use mta_sts_reports::DomainFilter;
use mta_sts_serve::ServeConfig;
use mta_sts_serve::config::DEFAULT_STORE;
use mta_sts_store::reports::ReportStore;
use mta_sts_store::{StoreError, StoreUrl};

use crate::cli::{ReportsCommand, StoreArgs};
use crate::commands::{CommandError, display_path};
use crate::exit::Status;

/// Runs one `reports` subcommand.
pub fn run(command: ReportsCommand) -> Result<Status, CommandError> {
    match command {
        ReportsCommand::Import(args) => import::run(&args),
        ReportsCommand::List(args) => list::run(&args),
        ReportsCommand::Summary(args) => summary::run(&args),
        ReportsCommand::Fetch(args) => fetch::run(&args),
    }
}

/// What the `reports` subcommands take from `--config` (the file `mta-sts serve` reads, by
/// the server's own reader) with the flags over it: the store and the domains.
pub(super) struct Settings {
    /// The store: `--store`, else the file's `store`, else the default.
    pub(super) store: StoreUrl,
    /// The domains: `--domain`, else the file's `domains` (empty: none given).
    pub(super) domains: Vec<String>,
    /// Where the domains came from, to name in messages.
    domains_origin: String,
    /// The configuration itself, when `--config` named one (`rollout` reads its `[check]` and
    /// `[rollout]`).
    pub(super) config: Option<ServeConfig>,
}

impl Settings {
    /// The domains as a filter; a name that is not a domain is an error naming where it was
    /// given.
    fn domain_filter(&self) -> Result<DomainFilter, CommandError> {
        DomainFilter::from_names(self.domains.iter().map(String::as_str)).map_err(|error| {
            CommandError::Argument(format!("{} ({}).", error, self.domains_origin))
        })
    }
}

/// Reads `--config` if given and lays the flags over it.
pub(super) fn settings(
    args: &StoreArgs,
    flag_domains: &[String],
) -> Result<Settings, CommandError> {
    let config = match &args.config {
        Some(path) => Some(
            ServeConfig::load(path).map_err(|error| CommandError::Setup(format!("{error}.")))?,
        ),
        None => None,
    };
    let config_name = args.config.as_deref().map(display_path).unwrap_or_default();
    let (store, store_origin) = match (&args.store, &config) {
        (Some(store), _) => (store.clone(), "--store".to_string()),
        (None, Some(config)) => (
            config.store.clone(),
            format!("`store` in the configuration {config_name}"),
        ),
        (None, None) => (DEFAULT_STORE.to_string(), "the default store".to_string()),
    };
    let store = store.parse().map_err(|error: StoreError| {
        CommandError::Argument(format!("{error} ({store_origin})."))
    })?;
    let (domains, domains_origin) = match &config {
        Some(config) if flag_domains.is_empty() => (
            config.domains.clone(),
            format!("`domains` in the configuration {config_name}"),
        ),
        _ => (flag_domains.to_vec(), "--domain".to_string()),
    };
    Ok(Settings {
        store,
        domains,
        domains_origin,
        config,
    })
}

/// Opens the store and asks it one question (`list`, `summary`): a store that cannot answer is
/// exit 75 when retrying may help, and a plain error otherwise.
async fn ask_store<T, Answer>(
    url: &StoreUrl,
    ask: impl FnOnce(ReportStore) -> Answer,
) -> Result<Result<T, Status>, CommandError>
where
    Answer: Future<Output = Result<T, StoreError>>,
{
    let answer = match ReportStore::open(url).await {
        Ok(store) => ask(store).await,
        Err(error) => Err(error),
    };
    match answer {
        Ok(value) => Ok(Ok(value)),
        Err(error) if error.is_unavailable() => {
            eprintln!("mta-sts: the store is unavailable: {error}. Try again later.");
            Ok(Err(Status::TempFail))
        }
        Err(error) => Err(CommandError::Setup(format!("{error}."))),
    }
}
