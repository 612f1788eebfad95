//! What the daemon remembers per domain: one [`CacheEntry`] with the last good policy
//! ([`CachedPolicy`], with the DANE facts of its domain, [`DaneEntry`]), when the TXT record was
//! last checked, a negative entry ([`NegativeEntry`]) and a backoff record ([`BackoffEntry`]).
//!
//! The types live in the store, beside the SQLite file that keeps them, so that the store does
//! not depend on the daemon; the daemon's other caches (memory, Redis) use the same types.

use std::fmt;
use std::sync::Arc;

use mta_sts_core::Policy;
use mta_sts_core::time::Timestamp;
use serde::Serialize;

/// A policy as fetched, with its id and lifetime, and the DANE facts of its domain once they
/// were looked up. Cheap to clone (the body and the facts are shared).
///
/// The DANE facts live here rather than beside the policy in [`CacheEntry`]: they are only
/// consulted when this policy would be applied, so they share its lifetime, and
/// [`CacheEntry`]'s fields stay as they were for code that builds entries.
#[derive(Clone, PartialEq, Eq)]
pub struct CachedPolicy {
    stored: Arc<Stored>,
    dane: Option<Arc<DaneEntry>>,
}

#[derive(PartialEq, Eq)]
struct Stored {
    id: String,
    body: String,
    policy: Policy,
    fetched_at: Timestamp,
    expires_at: Timestamp,
}

impl CachedPolicy {
    /// A policy body fetched at `fetched_at` for TXT id `id`; refused if a sender would refuse
    /// the body (RFC 8461 §3.2).
    pub fn new(
        id: impl Into<String>,
        body: impl Into<String>,
        fetched_at: Timestamp,
    ) -> Result<CachedPolicy, mta_sts_core::Error> {
        let body = body.into();
        let policy = Policy::parse(body.as_bytes())?;
        // RFC 8461 §3.2: clients "SHOULD cache a policy for up to this value from last policy
        // fetch time" — an unchanged TXT id confirms the policy but does not extend it.
        let expires_at =
            fetched_at.saturating_add(std::time::Duration::from_secs(u64::from(policy.max_age)));
        Ok(CachedPolicy {
            stored: Arc::new(Stored {
                id: id.into(),
                body,
                policy,
                fetched_at,
                expires_at,
            }),
            dane: None,
        })
    }

    /// The `id` of the `_mta-sts` TXT record the policy was fetched under.
    pub fn id(&self) -> &str {
        &self.stored.id
    }

    /// The policy text as served.
    pub fn body(&self) -> &str {
        &self.stored.body
    }

    /// The policy as a sender reads it.
    pub fn policy(&self) -> &Policy {
        &self.stored.policy
    }

    /// When it was fetched.
    pub fn fetched_at(&self) -> Timestamp {
        self.stored.fetched_at
    }

    /// When it stops being usable: `fetched_at + max_age`.
    pub fn expires_at(&self) -> Timestamp {
        self.stored.expires_at
    }

    /// Whether it may still be applied at `now` (RFC 8461 §5.1).
    pub fn is_valid_at(&self, now: Timestamp) -> bool {
        now < self.stored.expires_at
    }

    /// The DANE facts of the policy's domain, if they were looked up (possibly long ago: see
    /// [`DaneEntry::is_fresh`]).
    pub fn dane(&self) -> Option<&DaneEntry> {
        self.dane.as_deref()
    }

    /// The same policy with these DANE facts (or none) in place of the ones it had.
    pub fn with_dane(&self, dane: Option<DaneEntry>) -> CachedPolicy {
        CachedPolicy {
            stored: Arc::clone(&self.stored),
            dane: dane.map(Arc::new),
        }
    }
}

impl fmt::Debug for CachedPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedPolicy")
            .field("id", &self.stored.id)
            .field("mode", &self.stored.policy.mode)
            .field("fetched_at", &self.stored.fetched_at)
            .field("expires_at", &self.stored.expires_at)
            .field("dane", &self.dane)
            .finish_non_exhaustive()
    }
}

/// What DNS said about DANE (RFC 7672) for a domain when it was last asked: the facts that decide
/// whether the daemon answers `dane` instead of the MTA-STS policy (the rule is in
/// `mta_sts_policyd::policy`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DaneEntry {
    /// The resolver validated the domain's MX RRset with DNSSEC (it set the AD bit).
    pub mx_validated: bool,
    /// The MX hosts, in MX preference order, with a DNSSEC-validated TLSA RRset at
    /// `_25._tcp.<host>`. Looked up only under a validated MX RRset.
    pub hosts: Vec<String>,
    /// The MX hosts whose TLSA lookup failed (SERVFAIL, timeout, no answer): neither "TLSA" nor
    /// "no TLSA" was learnt for them. Looked up only under a validated MX RRset.
    pub failed: Vec<String>,
    /// Why the MX lookup gave no MX set, if it did not (NXDOMAIN, NODATA, SERVFAIL, timeout).
    pub mx_error: Option<String>,
    /// When the lookups were made.
    pub checked_at: Timestamp,
}

impl DaneEntry {
    /// Whether DANE applies to the domain: its MX RRset is validated and at least one MX host
    /// has a validated TLSA RRset, or a TLSA lookup failed so that only Postfix's own lookup at
    /// delivery can tell (see `mta_sts_policyd::policy`).
    pub fn applies(&self) -> bool {
        self.mx_validated && (!self.hosts.is_empty() || !self.failed.is_empty())
    }

    /// Whether the facts may still decide a reply at `now`: they are checked again as often as
    /// the `_mta-sts` TXT id, once `check_interval` has passed.
    pub fn is_fresh(&self, now: Timestamp, check_interval: std::time::Duration) -> bool {
        now < self.checked_at.saturating_add(check_interval)
    }
}

/// Why a domain is remembered as having no policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum NegativeReason {
    /// No usable `v=STSv1` TXT record: none, several, or an invalid one (RFC 8461 §3.1).
    NoRecord,
    /// The TXT lookup failed (SERVFAIL, timeout).
    LookupFailed {
        /// What DNS said.
        error: String,
    },
}

/// "This domain has no policy", remembered until `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegativeEntry {
    /// Why.
    pub reason: NegativeReason,
    /// When it was learnt.
    pub since: Timestamp,
    /// When to ask again.
    pub until: Timestamp,
}

/// A failed fetch for one policy id, not retried before `until` (RFC 8461 §3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackoffEntry {
    /// The TXT id whose policy could not be fetched; a new id may be fetched at once.
    pub id: String,
    /// Failures in a row for this id.
    pub failures: u32,
    /// When the last one happened.
    pub last_failure: Timestamp,
    /// No fetch for this id before this time.
    pub until: Timestamp,
    /// What went wrong the last time.
    pub error: String,
}

/// Everything remembered about one domain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheEntry {
    /// The last good policy (possibly expired: [`CacheEntry::valid_policy`] filters).
    pub policy: Option<CachedPolicy>,
    /// When the `_mta-sts` TXT record was last looked up, whatever the answer.
    pub checked_at: Option<Timestamp>,
    /// A remembered "no policy".
    pub negative: Option<NegativeEntry>,
    /// A remembered fetch failure.
    pub backoff: Option<BackoffEntry>,
}

impl CacheEntry {
    /// The cached policy, if it has not expired at `now`.
    pub fn valid_policy(&self, now: Timestamp) -> Option<&CachedPolicy> {
        self.policy.as_ref().filter(|p| p.is_valid_at(now))
    }

    /// The negative entry, if it still holds at `now`.
    pub fn negative_at(&self, now: Timestamp) -> Option<&NegativeEntry> {
        self.negative.as_ref().filter(|n| now < n.until)
    }

    /// The backoff record, if it still holds at `now`.
    pub fn backoff_at(&self, now: Timestamp) -> Option<&BackoffEntry> {
        self.backoff.as_ref().filter(|b| now < b.until)
    }

    /// Whether nothing in the entry is of any use at `now`, so it can be dropped.
    pub fn is_dead(&self, now: Timestamp) -> bool {
        self.valid_policy(now).is_none()
            && self.negative_at(now).is_none()
            && self.backoff_at(now).is_none()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn dane(mx_validated: bool, hosts: &[&str], failed: &[&str]) -> DaneEntry {
        DaneEntry {
            mx_validated,
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            failed: failed.iter().map(|h| h.to_string()).collect(),
            mx_error: None,
            checked_at: Timestamp::from_unix_seconds_saturating(1_000),
        }
    }

    const BODY: &str = "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 86400\n";

    #[test]
    fn a_policy_expires_max_age_after_its_fetch() {
        let fetched = Timestamp::from_unix_seconds_saturating(1_000);
        let policy = CachedPolicy::new("1", BODY, fetched).expect("valid policy");
        assert_eq!(
            policy.expires_at(),
            fetched.saturating_add(Duration::from_secs(86_400))
        );
        assert!(policy.is_valid_at(fetched.saturating_add(Duration::from_secs(86_399))));
        assert!(!policy.is_valid_at(fetched.saturating_add(Duration::from_secs(86_400))));
        assert!(CachedPolicy::new("1", "mode: enforce", fetched).is_err());
    }

    #[test]
    fn dane_applies_only_under_a_validated_mx_rrset() {
        assert!(dane(true, &["mx.example.com"], &[]).applies());
        // A failed TLSA lookup under a validated MX set: Postfix's own lookup decides.
        assert!(dane(true, &[], &["mx.example.com"]).applies());
        assert!(!dane(true, &[], &[]).applies(), "validated MX, no TLSA");
        // RFC 7672 §2.2.1: DANE need not apply under an insecure MX RRset.
        assert!(!dane(false, &["mx.example.com"], &["mx2.example.com"]).applies());
    }

    #[test]
    fn dane_facts_are_fresh_for_check_interval() {
        let facts = dane(true, &["mx.example.com"], &[]);
        let t = facts.checked_at;
        let interval = Duration::from_secs(60);
        assert!(facts.is_fresh(t, interval));
        assert!(facts.is_fresh(t.saturating_add(Duration::from_secs(59)), interval));
        assert!(!facts.is_fresh(t.saturating_add(Duration::from_secs(60)), interval));
    }

    #[test]
    fn dane_facts_ride_with_the_policy_and_share_its_body() {
        let fetched = Timestamp::from_unix_seconds_saturating(1_000);
        let policy = CachedPolicy::new("1", BODY, fetched).expect("valid policy");
        assert_eq!(policy.dane(), None);
        let facts = dane(true, &["mx.example.com"], &[]);
        let with = policy.with_dane(Some(facts.clone()));
        assert_eq!(with.dane(), Some(&facts));
        assert!(
            Arc::ptr_eq(&with.stored, &policy.stored),
            "the body is shared"
        );
        assert_ne!(with, policy, "the facts are part of what is cached");
        assert_eq!(with.with_dane(None), policy);
        assert_eq!(
            (with.id(), with.expires_at()),
            (policy.id(), policy.expires_at())
        );
    }

    #[test]
    fn an_entry_is_dead_when_nothing_in_it_holds() {
        let t = Timestamp::from_unix_seconds_saturating(1_000);
        let later = t.saturating_add(Duration::from_secs(100));
        let mut entry = CacheEntry {
            negative: Some(NegativeEntry {
                reason: NegativeReason::NoRecord,
                since: t,
                until: t.saturating_add(Duration::from_secs(50)),
            }),
            ..CacheEntry::default()
        };
        assert!(!entry.is_dead(t));
        assert!(entry.is_dead(later));
        entry.backoff = Some(BackoffEntry {
            id: "1".into(),
            failures: 1,
            last_failure: t,
            until: t.saturating_add(Duration::from_secs(300)),
            error: "404".into(),
        });
        assert!(!entry.is_dead(later));
        entry.policy = CachedPolicy::new("1", BODY, t).ok();
        assert!(!entry.is_dead(t.saturating_add(Duration::from_secs(1_000))));
        assert!(entry.is_dead(t.saturating_add(Duration::from_secs(86_400))));
    }
}
