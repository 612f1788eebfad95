//! What the daemon reports while it keeps answering: failures an administrator should hear about
//! (RFC 8461 §3.3: "MTAs SHOULD alert administrators ... when such attempts fail") but that never
//! stop a reply.

use std::fmt;

use crate::netstring::FramingError;
use mta_sts_core::time::Timestamp;

/// Something worth logging or counting. Subscribe with [`crate::Daemon::subscribe`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A policy could not be fetched (or was refused); the domain's id is not fetched again
    /// before `retry_at`.
    FetchFailed {
        /// The policy domain.
        domain: String,
        /// The TXT id whose policy failed.
        id: String,
        /// What went wrong.
        error: String,
        /// The earliest next attempt.
        retry_at: Timestamp,
        /// Whether an unexpired cached policy is still applied meanwhile.
        kept_cached: bool,
    },
    /// A DANE lookup (RFC 7672) failed: the MX lookup of a domain whose reply would be
    /// `secure` (`host` is `None`; the MTA-STS answer is given), or the TLSA lookup of one of
    /// its MX hosts under a validated MX RRset (the reply is `dane`, and Postfix looks again at
    /// delivery).
    DaneLookupFailed {
        /// The next-hop domain.
        domain: String,
        /// The MX host whose TLSA lookup failed; `None` for the MX lookup.
        host: Option<String>,
        /// What DNS said.
        error: String,
    },
    /// A newly fetched policy lists `mx` patterns shaped like IPv4 addresses (`192.0.2.25`).
    /// The policy is used; the addresses are left out of every reply (they match no MX host
    /// name, RFC 8461 §4.1), and if nothing else is left, enforcing replies defer the mail.
    /// Reported once per fetch, not per request.
    AddressPatternsIgnored {
        /// The policy domain.
        domain: String,
        /// The TXT id of the policy.
        id: String,
        /// The patterns left out, as written.
        patterns: Vec<String>,
        /// Whether they are all the policy's patterns.
        all: bool,
    },
    /// The cache failed an operation; the answer was given without it.
    CacheFailed {
        /// `get`, `put`, `delete` or `scan`.
        operation: &'static str,
        /// The cache's error.
        error: String,
    },
    /// A client broke the netstring framing (or sent an oversize request); its connection was
    /// closed after the replies it was owed.
    BadRequest {
        /// What was wrong.
        error: FramingError,
    },
    /// The connection cap (`max_connections`) was reached: to serve new clients, the
    /// connections that had gone longest without sending a whole request were closed. Emitted
    /// at most once a minute, however many connections are closed meanwhile.
    ConnectionCapReached {
        /// The cap.
        limit: usize,
        /// Connections closed to make room since the previous such event, the one that
        /// prompted this one included.
        evicted: u64,
    },
}

impl Event {
    /// The event's stable name for logs and metrics: `fetch-failed`, `dane-lookup-failed`,
    /// `mx-addresses-ignored`, `cache-failed`, `bad-request`, `connection-cap-reached`.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::FetchFailed { .. } => "fetch-failed",
            Event::DaneLookupFailed { .. } => "dane-lookup-failed",
            Event::AddressPatternsIgnored { .. } => "mx-addresses-ignored",
            Event::CacheFailed { .. } => "cache-failed",
            Event::BadRequest { .. } => "bad-request",
            Event::ConnectionCapReached { .. } => "connection-cap-reached",
        }
    }

    /// The domain the event concerns, if it concerns one.
    pub fn domain(&self) -> Option<&str> {
        match self {
            Event::FetchFailed { domain, .. }
            | Event::DaneLookupFailed { domain, .. }
            | Event::AddressPatternsIgnored { domain, .. } => Some(domain),
            Event::CacheFailed { .. }
            | Event::BadRequest { .. }
            | Event::ConnectionCapReached { .. } => None,
        }
    }
}

impl fmt::Display for Event {
    /// One sentence for the log: the domain, what happened and what follows; times in RFC 3339.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::FetchFailed {
                domain,
                id,
                error,
                retry_at,
                kept_cached,
            } => {
                write!(
                    f,
                    "{domain}: the MTA-STS policy with id {id} could not be fetched: {error}; "
                )?;
                // RFC 8461 §3.3 and §5.1: a valid cached policy still applies; without one, mail
                // goes as if the domain had no MTA-STS.
                if *kept_cached {
                    f.write_str("the cached policy still applies until it expires")?;
                } else {
                    f.write_str("mail to it is delivered as if it had no MTA-STS policy")?;
                }
                write!(f, "; the next attempt is not before {retry_at}.")
            }
            Event::DaneLookupFailed {
                domain,
                host: None,
                error,
            } => write!(
                f,
                "{domain}: the MX lookup for DANE failed: {error}; the MTA-STS answer is given."
            ),
            Event::DaneLookupFailed {
                domain,
                host: Some(host),
                error,
            } => write!(
                f,
                "{domain}: the TLSA lookup for MX host {host} failed: {error}; the reply is \
                 `dane`, and Postfix looks the records up again at delivery."
            ),
            Event::AddressPatternsIgnored {
                domain,
                id,
                patterns,
                all,
            } => {
                let listed = patterns.join(", ");
                let what_follows = if *all {
                    "no pattern is left, so Postfix is told to defer mail to the domain while the \
                     policy is in force (RFC 8461 §5)"
                } else {
                    "the other patterns are sent to Postfix"
                };
                write!(
                    f,
                    "{domain}: the MTA-STS policy with id {id} lists the IP address(es) {listed} \
                     as mx; they match no MX host name (RFC 8461 §4.1) and are left out of the \
                     replies to Postfix; {what_follows}."
                )
            }
            Event::CacheFailed { operation, error } => {
                let what = match *operation {
                    "get" => "read an entry",
                    "put" => "store an entry",
                    "delete" => "delete an entry",
                    "scan" => "list its entries",
                    other => other,
                };
                write!(
                    f,
                    "The policy cache could not {what}: {error}; the answer was given without it."
                )
            }
            Event::BadRequest { error } => write!(
                f,
                "A client broke the socketmap framing: {error}; its connection was closed after \
                 the replies it was owed."
            ),
            Event::ConnectionCapReached { limit, evicted } => write!(
                f,
                "{limit} connections are open, the max_connections cap: the connection idle \
                 longest is closed for each new one ({evicted} closed since the last message of \
                 this kind, which comes at most once a minute); if these clients are \
                 legitimate, raise max_connections."
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netstring::MAX_REQUEST;

    fn events() -> Vec<Event> {
        vec![
            Event::FetchFailed {
                domain: "example.com".into(),
                id: "20260101T000000".into(),
                error: "HTTP status 404".into(),
                retry_at: Timestamp::from_unix_seconds_saturating(1_796_591_023),
                kept_cached: false,
            },
            Event::FetchFailed {
                domain: "example.com".into(),
                id: "20260101T000000".into(),
                error: "HTTP status 404".into(),
                retry_at: Timestamp::from_unix_seconds_saturating(1_796_591_023),
                kept_cached: true,
            },
            Event::DaneLookupFailed {
                domain: "example.net".into(),
                host: None,
                error: "the resolver failed to answer (SERVFAIL)".into(),
            },
            Event::DaneLookupFailed {
                domain: "example.net".into(),
                host: Some("mx1.example.net".into()),
                error: "timed out".into(),
            },
            Event::CacheFailed {
                operation: "put",
                error: "database is locked".into(),
            },
            Event::BadRequest {
                error: FramingError::TooLong { limit: MAX_REQUEST },
            },
            Event::ConnectionCapReached {
                limit: 1024,
                evicted: 1,
            },
            Event::AddressPatternsIgnored {
                domain: "example.org".into(),
                id: "1".into(),
                patterns: vec!["192.0.2.25".into()],
                all: false,
            },
        ]
    }

    #[test]
    fn every_event_is_a_sentence() {
        for event in events() {
            let text = event.to_string();
            assert!(text.ends_with('.'), "{text}");
            assert!(!text.contains('{') && !text.contains("Timestamp"), "{text}");
            if let Some(domain) = event.domain() {
                assert!(text.starts_with(&format!("{domain}: ")), "{text}");
            }
        }
    }

    #[test]
    fn a_failed_fetch_says_what_follows_and_when_in_rfc3339() {
        let [dropped, kept] = &events()[..2] else {
            panic!("two fetch failures");
        };
        assert_eq!(
            dropped.to_string(),
            "example.com: the MTA-STS policy with id 20260101T000000 could not be fetched: HTTP \
             status 404; mail to it is delivered as if it had no MTA-STS policy; the next attempt \
             is not before 2026-12-06T21:03:43Z."
        );
        assert!(
            kept.to_string()
                .contains("; the cached policy still applies until it expires;"),
            "{kept}"
        );
        assert_eq!(dropped.kind(), "fetch-failed");
    }

    #[test]
    fn dane_cache_and_framing_events_name_what_failed() {
        let events = events();
        assert!(
            events[2]
                .to_string()
                .contains("the MX lookup for DANE failed")
        );
        assert!(events[3].to_string().contains("MX host mx1.example.net"));
        assert_eq!(
            events[4].to_string(),
            "The policy cache could not store an entry: database is locked; the answer was given \
             without it."
        );
        assert_eq!(
            events[5].to_string(),
            "A client broke the socketmap framing: the netstring announces more than 1024 bytes; \
             its connection was closed after the replies it was owed."
        );
        let kinds: Vec<&str> = events.iter().map(Event::kind).collect();
        assert_eq!(
            kinds,
            [
                "fetch-failed",
                "fetch-failed",
                "dane-lookup-failed",
                "dane-lookup-failed",
                "cache-failed",
                "bad-request",
                "connection-cap-reached",
                "mx-addresses-ignored"
            ]
        );
        assert!(
            events[6]
                .to_string()
                .starts_with("1024 connections are open, the max_connections cap:"),
            "{}",
            events[6]
        );
    }

    #[test]
    fn ignored_addresses_say_what_reaches_postfix() {
        let some = &events()[7];
        assert_eq!(
            some.to_string(),
            "example.org: the MTA-STS policy with id 1 lists the IP address(es) 192.0.2.25 as mx; \
             they match no MX host name (RFC 8461 §4.1) and are left out of the replies to \
             Postfix; the other patterns are sent to Postfix."
        );
        let all = Event::AddressPatternsIgnored {
            domain: "example.org".into(),
            id: "1".into(),
            patterns: vec!["192.0.2.25".into(), "192.0.2.26".into()],
            all: true,
        };
        assert!(
            all.to_string().contains("192.0.2.25, 192.0.2.26")
                && all.to_string().contains("defer mail"),
            "{all}"
        );
    }
}
