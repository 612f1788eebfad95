//! `mta-sts reports`: take in TLS-RPT reports, list them, sum them up.

mod fetch;
mod import;
mod list;
mod summary;

use mta_sts_store::StoreUrl;
use mta_sts_store::reports::ReportStore;

use crate::cli::{ReportsCommand, StoreArgs};
use crate::commands::CommandError;
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

/// The store `--store` names.
fn store_url(args: &StoreArgs) -> Result<StoreUrl, CommandError> {
    args.store
        .parse()
        .map_err(|error: mta_sts_store::StoreError| CommandError::Argument(format!("{error}.")))
}

/// Opens the store for reading (`list`, `summary`): a store that cannot be opened is exit 75
/// when retrying may help, and a plain error otherwise.
async fn open_for_reading(url: &StoreUrl) -> Result<Result<ReportStore, Status>, CommandError> {
    match ReportStore::open(url).await {
        Ok(store) => Ok(Ok(store)),
        Err(error) if error.is_unavailable() => {
            eprintln!("mta-sts: the store is unavailable: {error}. Try again later.");
            Ok(Err(Status::TempFail))
        }
        Err(error) => Err(CommandError::Setup(format!("{error}."))),
    }
}
