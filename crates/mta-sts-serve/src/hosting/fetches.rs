//! Policy fetches: a log line for each, the counter `mta_sts_serve_policy_fetches_total{domain}`,
//! and per domain and fetching organisation the count and the first and last fetch time in the
//! store (what the dashboard shows: "Google last fetched your policy 2 hours ago").
//!
//! The request path only adds to a tally in memory (per domain and client address, bounded);
//! [`FetchLog::run`] takes the tally every `fetch_log_interval`, finds each address's
//! organisation (DNS, cached) and adds the batch to the store in one transaction: never a
//! lookup or a store write per request.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::Version;
use mta_sts_core::report::Timestamp;
use mta_sts_service::Stopping;
use mta_sts_store::reports::{PolicyFetches, ReportStore};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use super::HostedPolicy;
use super::organizations::Organizations;

/// Client addresses tallied between two flushes; fetches from further addresses are tallied
/// under "unknown" (bounded memory under a flood from many addresses).
const MAX_TALLIED_CLIENTS: usize = 10_000;

/// Where the fetches of clients past [`MAX_TALLIED_CLIENTS`] are tallied.
const OVERFLOW: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

/// Rows (domain, organisation) kept while the store cannot be written; past this many, the
/// oldest outage's rows are given up (a store down for long, fetchers without number).
const MAX_PENDING_ROWS: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DomainLabel {
    domain: String,
}

/// The fetches of one domain's policy by one client since the last flush.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tally {
    count: u64,
    first: i64,
    last: i64,
}

/// Per domain, per client address.
type Tallies = HashMap<String, HashMap<IpAddr, Tally>>;

/// Per (domain, organisation): the rows of one store write.
type Rows = HashMap<(String, String), PolicyFetches>;

/// Where policy fetches are counted and logged. Cheap to clone; clones share the counters.
#[derive(Debug, Clone)]
pub(crate) struct FetchLog {
    fetches: Family<DomainLabel, Counter>,
    tallies: Arc<Mutex<Tallies>>,
    /// The rows of a store write that failed, added again with the next one.
    pending: Arc<Mutex<Rows>>,
}

impl FetchLog {
    /// Registers the counter under `mta_sts_serve_`.
    pub(crate) fn register(registry: &mut Registry) -> FetchLog {
        let fetches = Family::<DomainLabel, Counter>::default();
        registry.sub_registry_with_prefix("mta_sts_serve").register(
            "policy_fetches",
            "Policies served (GET or HEAD of /.well-known/mta-sts.txt answered 200), by policy domain",
            fetches.clone(),
        );
        FetchLog {
            fetches,
            tallies: Arc::default(),
            pending: Arc::default(),
        }
    }

    /// `client` fetched `policy` (answered 200).
    pub(crate) fn fetched(&self, policy: &HostedPolicy, client: Option<IpAddr>, version: Version) {
        self.fetches
            .get_or_create(&DomainLabel {
                domain: policy.domain.clone(),
            })
            .inc();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| {
                i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
            });
        self.tally(&policy.domain, client.unwrap_or(OVERFLOW), now);
        let client = client.map_or_else(|| "a client".to_string(), |ip| ip.to_string());
        tracing::info!(
            kind = %"policy-fetched",
            domain = %policy.domain,
            client = %client,
            id = %policy.id,
            "{client} fetched the policy of {} (id {}) over {}.",
            policy.domain,
            policy.id,
            version_name(version),
        );
    }

    fn tally(&self, domain: &str, client: IpAddr, now: i64) {
        let mut tallies = self.tallies.lock().unwrap_or_else(PoisonError::into_inner);
        let clients: usize = tallies.values().map(HashMap::len).sum();
        let by_client = match tallies.get_mut(domain) {
            Some(by_client) => by_client,
            None => tallies.entry(domain.to_string()).or_default(),
        };
        let client = if clients >= MAX_TALLIED_CLIENTS && !by_client.contains_key(&client) {
            OVERFLOW
        } else {
            client
        };
        let tally = by_client.entry(client).or_insert(Tally {
            count: 0,
            first: now,
            last: now,
        });
        tally.count += 1;
        tally.first = tally.first.min(now);
        tally.last = tally.last.max(now);
    }

    /// The tallies since the last call, emptied.
    fn take(&self) -> Tallies {
        std::mem::take(&mut *self.tallies.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Every `interval`, and once more when `stopping` completes, adds the fetches tallied to
    /// `store` by domain and organisation.
    pub(crate) async fn run(
        self,
        organizations: Arc<Organizations>,
        store: ReportStore,
        interval: Duration,
        mut stopping: Stopping,
    ) {
        loop {
            let stop = tokio::select! {
                () = tokio::time::sleep(interval) => false,
                () = stopping.wait() => true,
            };
            self.flush(&organizations, &store).await;
            if stop {
                return;
            }
        }
    }

    /// Adds the fetches tallied so far, and those a failed write left, to `store`; when the
    /// write fails they are kept for the next one.
    pub(crate) async fn flush(&self, organizations: &Organizations, store: &ReportStore) {
        let tallies = self.take();
        let mut rows =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner));
        if tallies.is_empty() && rows.is_empty() {
            return;
        }
        by_organization(tallies, organizations, &mut rows).await;
        let batch: Vec<PolicyFetches> = rows.values().cloned().collect();
        let fetches: u64 = batch.iter().map(|row| row.fetches).sum();
        let count = batch.len();
        match store.add_policy_fetches(&batch).await {
            Ok(()) => tracing::info!(
                kind = %"policy-fetches-stored",
                fetches,
                "{fetches} policy fetches were added to the store ({count} rows of domain and \
                 fetching organisation)."
            ),
            Err(error) if count <= MAX_PENDING_ROWS => {
                tracing::warn!(
                    kind = %"policy-fetches-not-stored",
                    "{fetches} policy fetches could not be added to the store ({error}); they \
                     are kept in memory and added with the next write."
                );
                self.keep_pending(rows);
            }
            Err(error) => tracing::warn!(
                kind = %"policy-fetches-not-stored",
                "{fetches} policy fetches could not be added to the store ({error}), and the \
                 store has failed long enough that their {count} rows are more than the \
                 {MAX_PENDING_ROWS} kept: they are given up; the counter \
                 mta_sts_serve_policy_fetches_total still has them."
            ),
        }
    }

    /// Puts back the rows of a failed write, merged with any a concurrent flush left.
    fn keep_pending(&self, rows: Rows) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        for (key, row) in rows {
            match pending.get_mut(&key) {
                Some(kept) => merge(kept, &row),
                None => {
                    pending.insert(key, row);
                }
            }
        }
    }
}

/// Adds the tallies per client to `rows`, per (domain, organisation).
async fn by_organization(tallies: Tallies, organizations: &Organizations, rows: &mut Rows) {
    for (domain, by_client) in tallies {
        for (client, tally) in by_client {
            let organization = organizations.of(client).await;
            let fetched = PolicyFetches {
                domain: domain.clone(),
                organization: organization.clone(),
                fetches: tally.count,
                first_fetch: Timestamp::from_unix_seconds_saturating(tally.first),
                last_fetch: Timestamp::from_unix_seconds_saturating(tally.last),
            };
            match rows.get_mut(&(domain.clone(), organization.clone())) {
                Some(row) => merge(row, &fetched),
                None => {
                    rows.insert((domain.clone(), organization), fetched);
                }
            }
        }
    }
}

/// `row` counts `more`'s fetches too.
fn merge(row: &mut PolicyFetches, more: &PolicyFetches) {
    row.fetches += more.fetches;
    row.first_fetch = row.first_fetch.min(more.first_fetch);
    row.last_fetch = row.last_fetch.max(more.last_fetch);
}

fn version_name(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "HTTP",
    }
}

#[cfg(test)]
mod tests;
