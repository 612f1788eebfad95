//! `mta-sts tlsrpt status`: what was collected, and what became of each report.

use mta_sts_core::time::{Clock as _, UtcDate};
use mta_sts_net::SystemClock;
use mta_sts_tlsrpt::tlsrpt_reporter_config::Component;

use super::super::{CommandError, emit, runtime, to_json};
use super::{load_config, parse_day, store_url};
use crate::cli::TlsrptStatusArgs;
use crate::exit::Status;

/// Prints the status of the days asked for (today and yesterday by default), newest first.
pub fn run(args: &TlsrptStatusArgs) -> Result<Status, CommandError> {
    let config = load_config(&args.config, Component::Reportd)?;
    let store_url = store_url(args.config.store.as_deref(), &config)?;
    let now = SystemClock.now();
    let mut days: Vec<UtcDate> = if args.day.is_empty() {
        vec![
            parse_day("today", now.utc_date())?,
            parse_day("yesterday", now.utc_date())?,
        ]
    } else {
        args.day
            .iter()
            .map(|text| parse_day(text, now.utc_date()))
            .collect::<Result<_, _>>()?
    };
    days.sort_by(|a, b| b.cmp(a));
    days.dedup();
    let status = runtime()?.block_on(async {
        let store = super::open_store(&store_url, super::StoreAccess::Existing).await?;
        mta_sts_tlsrpt::status::read(&store, &days, now)
            .await
            .map_err(|e| CommandError::Setup(format!("{e}.")))
    })?;
    if args.json {
        emit(&to_json(&status)?)?;
    } else {
        emit(&status.to_text())?;
    }
    Ok(Status::Valid)
}
