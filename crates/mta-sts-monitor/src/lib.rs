//! The monitor: checks an owner's domains as `mta-sts check` does, keeps every check in the
//! report store as history, and raises and clears events with stable codes, so a breakage that
//! happens months after a clean setup is caught at the next check. `mta-sts serve` runs it on a
//! schedule; `mta-sts monitor once` runs it from cron.
//!
//! The monitor is state-based, like NCSC MailCheck's advisories: each check gives a
//! [`Snapshot`]; the conditions that hold in it ([`conditions`]) are compared with the events
//! open in the store ([`diff`]). A condition that holds and has no open event is raised; an open
//! event whose condition no longer holds is cleared. One event per (domain, code, subject) is
//! open at a time, whichever server raises it, so servers sharing a store announce each raise
//! and each clear once. A check that could not be completed raises nothing and clears only
//! what it learnt.
//!
//! | code | subject | holds while |
//! |---|---|---|
//! | any checker finding code (`mx-cert-expired`, `policy-mode-testing`, ...) | the domain | the check reports that warning or error, unless an event below covers it |
//! | `policy-changed-id-unchanged` | the domain | the served policy differs from the one the current `_mta-sts` id was first seen with (RFC 8461 §3.1: senders re-fetch only when the id changes) |
//! | `id-changed-policy-unchanged` | the domain | the id changed since the previous check but the policy did not |
//! | `mx-not-covered` | the MX host | an MX host matches no `mx` pattern of the policy (folds `mx-not-in-policy`) |
//! | `cert-expiring-30d`, `-14d`, `-7d`, `-1d` | the host (policy host or MX) | its certificate expires within that many days, the tightest threshold only (folds `cert-expiring-soon`; expired certificates stay the checker's `*-cert-expired`) |
//! | `policy-host-unreachable` | the domain | the policy fetch fails: no address, connection refused, TLS handshake, HTTP 5xx, time-out (folds `policy-host-unresolvable`, `policy-fetch-failed`, a 5xx `policy-http-status`) |
//! | `tlsrpt-record-gone` | the domain | `_smtp._tls` is missing after an earlier check saw it (folds `tlsrpt-missing`) |
//! | `no-such-domain` | the domain | the domain does not exist (NXDOMAIN) |
//! | `fetcher-stopped` | the organisation | an organisation that fetched the hosted policy regularly has been silent for much longer than its usual interval ([`Monitor::run_fetchers`]) |

mod error;
mod event;
mod fetchers;
mod monitor;
mod settings;
mod snapshot;
mod state;

pub use error::MonitorError;
pub use event::{Event, EventState, codes};
pub use fetchers::fetcher_conditions;
pub use monitor::{Monitor, MonitorRun, StoredCheck, events, history};
pub use mta_sts_store::reports::MonitorEvent as StoredEvent;
pub use settings::MonitorSettings;
pub use snapshot::{CertificateRole, CertificateSeen, Previous, SeenFinding, Snapshot};
pub use state::{Change, Changes, ConditionKey, conditions, decides, diff};
