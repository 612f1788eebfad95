//! Alerts for the domain owner: when reports with failures arrive for a domain, a reporter
//! goes silent, or the rollout advisor's verdict changes, `mta-sts serve`'s watcher raises an
//! [`Alert`]; this crate delivers it by webhook and by mail.
//!
//! - **One alert per condition per period**: [`Alerter::raise`] first claims (domain,
//!   condition, period) in the store, which says yes exactly once even to several servers
//!   sharing one PostgreSQL; only then is the alert queued.
//! - **Never blocking**: each channel has a bounded queue and its own task ([`Dispatcher`]);
//!   raising never waits for a receiver, and a full queue drops the alert with a log line;
//!   [`Dispatcher::finish`] gives the queued alerts a bounded time when the server stops.
//! - **Retries**: exponential backoff with jitter up to a number of attempts ([`RetryPolicy`]),
//!   then the alert is given up with a log line; a 4xx answer (but 408, 429) or an SMTP 5xx
//!   reply is not retried.
//!
//! # The webhook
//! `POST` to the configured URL with `Content-Type: application/json` and the body
//!
//! ```json
//! {"version": 1, "id": "example.com/failures/2026-12-07", "domain": "example.com",
//!  "condition": "failures", "period": "2026-12-07", "raised_at": "2026-12-07T10:00:00Z",
//!  "summary": "2 reports from Google LLC, Microsoft Corporation counted 31 failed TLS sessions with example.com.",
//!  "details": {"kind": "failures", "failed_sessions": 31, "reports": [{"organization": "...",
//!    "report_id": "...", "start": "...", "end": "...", "received_at": "...", "source": "https",
//!    "policies": [{"policy_type": "sts", "policy_domain": "example.com", "successful": 1000,
//!      "failed": 31, "failures": [{"result_type": "certificate-host-mismatch", "count": 31,
//!        "receiving_mx_hostname": "mx2.example.com", "sending_mta_ip": "192.0.2.1"}]}]}]}}
//! ```
//!
//! `details.kind` is `failures`, `silent-reporter` (`organization`, `last_day`,
//! `days_reported`, `silent_days`), `verdict-changed` (`previous`, `current`, `reasons`),
//! `certificate-expiring` (`host`, `not_after`, `last_error`) or `monitor` (`code`, `subject`,
//! `state` `raised` or `cleared`, `message`: an event of the monitor began or ended). The
//! headers `Mta-Sts-Timestamp` (Unix seconds) and `Mta-Sts-Signature: v1=HEX` carry the
//! HMAC-SHA256, with the shared secret, of `TIMESTAMP.BODY` ([`signature`]): a receiver
//! recomputes it, compares in constant time, and refuses a timestamp older than a few minutes.
//! `Mta-Sts-Alert-Id` repeats `id`, the same on every retry. Any 2xx answer is success.
//!
//! # Mail
//! A plain-text message ([`Alert::text`]) submitted to the configured relay with STARTTLS
//! (required) or implicit TLS, with a login when one is configured ([`MailSettings`]).

mod alert;
mod alerter;
mod error;
mod mail;
#[cfg(feature = "test-support")]
pub mod postfix;
mod queue;
mod retry;
mod secret;
pub mod signature;
mod webhook;

pub use alert::{Alert, BODY_VERSION, Condition, FailedReport, MonitorState};
pub use alerter::Alerter;
pub use error::AlertError;
pub use mail::{MailSecurity, MailSettings, Mailer};
pub use queue::{ChannelKind, DeliverySettings, Dispatcher, Outcome, OutcomeHook, Queued};
pub use retry::RetryPolicy;
pub use webhook::{ALERT_ID_HEADER, Webhook, WebhookSettings};
