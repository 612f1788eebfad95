//! The TLSA records of an MX host as DANE for SMTP (RFC 7672) locates them: one rule, shared by
//! the Postfix policy daemon (which decides with it) and the checker (which reports with it).
//!
//! RFC 7672 §2.2.2: when the MX host name is an alias whose expansion the resolver validated, the
//! fully expanded name is the preferred TLSA base domain and the host name is tried after it; an
//! expansion reached through unvalidated data leaves the host name alone.

use crate::DnsError;
use crate::dns::{CnameExpansion, Dns, Tlsa};

/// The TLSA answer that decides for one MX host, and the name it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxHostTlsa {
    /// The CNAME-expanded name of the host whose TLSA answer this is (a secure expansion, RFC
    /// 7672 §2.2.2), or `None` when it is the answer at the MX host name itself.
    pub via: Option<String>,
    /// The TLSA answer at `_25._tcp.<via>`, or at `_25._tcp.<MX host>` when `via` is `None`.
    pub answer: Result<Tlsa, DnsError>,
    /// How the CNAME lookup of the host name failed (SERVFAIL, timeout, ...), if it did: whether
    /// a secure expansion with TLSA records exists is then unknown. NXDOMAIN and NODATA are
    /// answers, not failures, and leave this `None`.
    pub expansion_failure: Option<DnsError>,
}

/// What the TLSA records of one MX host mean to a DANE sender (RFC 7672 §2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DaneStatus {
    /// A "secure" TLSA RRset at the TLSA base domain: DANE applies to the host.
    Applies,
    /// No usable TLSA RRset at any candidate name: the host gets pre-DANE TLS.
    DoesNotApply,
    /// A lookup whose answer would decide failed: neither "TLSA" nor "no TLSA" was learnt.
    Unknown(DnsError),
}

/// What one TLSA answer says about its name.
enum TlsaAnswer {
    /// A "secure" TLSA RRset (validated, AD=1).
    Secure,
    /// No usable records: NXDOMAIN, NODATA, or records the resolver did not validate.
    Unusable,
    /// The lookup failed (SERVFAIL, timeout): neither "TLSA" nor "no TLSA" was learnt.
    Failed(DnsError),
}

impl TlsaAnswer {
    fn of(answer: &Result<Tlsa, DnsError>) -> TlsaAnswer {
        match answer {
            // RFC 7672 §2.2: a "secure" TLSA RRset makes DANE apply to the host.
            Ok(tlsa) if tlsa.authenticated => TlsaAnswer::Secure,
            // RFC 7672 §2.2: TLSA records that are not "secure" are not used; the host gets
            // pre-DANE TLS, as if it had none.
            Ok(_) => TlsaAnswer::Unusable,
            // NXDOMAIN or NODATA: no TLSA records at this name.
            Err(error) if error.is_negative() => TlsaAnswer::Unusable,
            // RFC 7672 §2.1.1: a failed lookup (SERVFAIL, timeout) proves neither that records
            // exist nor that they do not, so it must not be read as "no TLSA".
            Err(error) => TlsaAnswer::Failed(error.clone()),
        }
    }
}

impl MxHostTlsa {
    /// The deciding answer of one MX host from its lookups: `expansion`, the CNAME lookup of the
    /// host name; `at_host`, the TLSA answer at `_25._tcp.<host>`; `at_target`, the expanded
    /// name and the TLSA answer there, looked up only for a secure expansion.
    pub fn decide(
        expansion: &Result<Option<CnameExpansion>, DnsError>,
        at_host: Result<Tlsa, DnsError>,
        at_target: Option<(String, Result<Tlsa, DnsError>)>,
    ) -> MxHostTlsa {
        let expansion_failure = match expansion {
            Err(error) if !error.is_negative() => Some(error.clone()),
            _ => None,
        };
        // RFC 7672 §2.2.2 (and RFC 7671 §7): with a secure CNAME expansion the fully expanded
        // name is the preferred TLSA base domain; the MX host name is tried when no TLSA
        // records are found there.
        let unusable_at_target = match at_target {
            Some((target, answer)) => match TlsaAnswer::of(&answer) {
                // Secure TLSA there decides, whatever the host name has. A failed lookup there
                // decides too (RFC 7672 §2.1.1): whether the preferred base domain has TLSA
                // records is unknown, so falling back to the host name could let a spoofed or
                // lost answer skip DANE; a sender looking up for itself decides for this host.
                TlsaAnswer::Secure | TlsaAnswer::Failed(_) => {
                    return MxHostTlsa {
                        via: Some(target),
                        answer,
                        expansion_failure,
                    };
                }
                TlsaAnswer::Unusable => Some((target, answer)),
            },
            None => None,
        };
        // No expansion, an insecure one (RFC 7672 §2.2.2: an expanded name reached through
        // unvalidated data is no TLSA base domain), or nothing at the expanded name: the MX
        // host name is the (remaining) candidate.
        match (TlsaAnswer::of(&at_host), unusable_at_target) {
            // Unusable at both names, but unvalidated records at the expanded name only: the
            // answer that shows them, so a report can say they are there and why they do not
            // count. Either way DANE does not apply.
            (TlsaAnswer::Unusable, Some((target, answer @ Ok(_)))) if at_host.is_err() => {
                MxHostTlsa {
                    via: Some(target),
                    answer,
                    expansion_failure,
                }
            }
            _ => MxHostTlsa {
                via: None,
                answer: at_host,
                expansion_failure,
            },
        }
    }

    /// What the answer means to a DANE sender (RFC 7672 §2.2).
    pub fn status(&self) -> DaneStatus {
        match TlsaAnswer::of(&self.answer) {
            // Secure TLSA at the host name decides even when the CNAME lookup failed: DANE
            // applies whichever name turns out to be the base domain.
            TlsaAnswer::Secure => DaneStatus::Applies,
            TlsaAnswer::Failed(error) => DaneStatus::Unknown(error),
            TlsaAnswer::Unusable => match &self.expansion_failure {
                // RFC 7672 §2.1.1: the CNAME lookup failed, so whether a secure expansion with
                // TLSA records exists is unknown: not "no TLSA".
                Some(error) => DaneStatus::Unknown(error.clone()),
                None => DaneStatus::DoesNotApply,
            },
        }
    }

    /// `host` named with the name its answer came from: see [`label`].
    pub fn label(&self, host: &str) -> String {
        label(host, self.via.as_deref())
    }
}

/// An MX host named with the TLSA base domain its answer came from, for display and caches:
/// `mx.example.com (via mx1.provider.net)` for its CNAME-expanded name, the host name alone
/// otherwise.
pub fn label(host: &str, via: Option<&str>) -> String {
    match via {
        Some(target) => format!("{host} (via {target})"),
        None => host.to_string(),
    }
}

/// The TLSA records of the MX host `host` (RFC 7672 §2.2.2, §2.2.3): at `_25._tcp.<expanded
/// name>` first when `host` is an alias whose expansion the resolver validated, then at
/// `_25._tcp.<host>`. Whether DANE applies to the domain at all (a validated MX RRset, RFC 7672
/// §2.2.1) is the caller's question.
pub async fn mx_host_tlsa(dns: &Dns, host: &str) -> MxHostTlsa {
    // RFC 7672 §2.2.3, with the naming of RFC 6698 §3: the TLSA records of a TLSA base domain
    // are at `_25._tcp.<base domain>`. The host name is a candidate whatever its CNAME lookup
    // says, so both go out at once.
    let at_host_name = format!("_25._tcp.{host}");
    let (expansion, at_host) = tokio::join!(
        dns.cname_target_authenticated(host),
        dns.tlsa(&at_host_name),
    );
    // RFC 7672 §2.2.2: only a secure expansion (every CNAME validated) makes the expanded name
    // a TLSA base domain, tried before the host name; an insecure one leaves the host name
    // alone.
    let secure_target = match &expansion {
        Ok(Some(expanded)) if expanded.authenticated && expanded.target != host => {
            Some(expanded.target.clone())
        }
        _ => None,
    };
    let at_target = match secure_target {
        Some(target) => {
            let answer = dns.tlsa(&format!("_25._tcp.{target}")).await;
            Some((target, answer))
        }
        None => None,
    };
    MxHostTlsa::decide(&expansion, at_host, at_target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlsa(authenticated: bool) -> Result<Tlsa, DnsError> {
        Ok(Tlsa {
            records: vec!["3 1 1 00".into()],
            authenticated,
        })
    }

    fn alias(authenticated: bool) -> Result<Option<CnameExpansion>, DnsError> {
        Ok(Some(CnameExpansion {
            target: "mx1.provider.example".into(),
            chain: vec!["mx1.provider.example".into()],
            authenticated,
        }))
    }

    fn at_target(answer: Result<Tlsa, DnsError>) -> Option<(String, Result<Tlsa, DnsError>)> {
        Some(("mx1.provider.example".into(), answer))
    }

    fn via() -> Option<String> {
        Some("mx1.provider.example".to_string())
    }

    /// The status and the name of the deciding answer, what a DANE sender acts on.
    fn decided(
        expansion: &Result<Option<CnameExpansion>, DnsError>,
        at_host: Result<Tlsa, DnsError>,
        at_target: Option<(String, Result<Tlsa, DnsError>)>,
    ) -> (DaneStatus, Option<String>) {
        let tlsa = MxHostTlsa::decide(expansion, at_host, at_target);
        (tlsa.status(), tlsa.via)
    }

    #[test]
    fn a_secure_expansion_is_tried_first_then_the_host_name() {
        // TLSA at the expanded name: DANE, decided there, whatever the host name has.
        for at_host in [tlsa(true), Err(DnsError::NxDomain), Err(DnsError::ServFail)] {
            let decision = MxHostTlsa::decide(&alias(true), at_host, at_target(tlsa(true)));
            assert_eq!(decision.status(), DaneStatus::Applies);
            assert_eq!(decision.via, via());
            assert_eq!(decision.answer, tlsa(true));
        }
        // Nothing usable at the expanded name (none, or unvalidated): the host name decides.
        for nothing in [Err(DnsError::NxDomain), Err(DnsError::NoData), tlsa(false)] {
            assert_eq!(
                decided(&alias(true), tlsa(true), at_target(nothing.clone())),
                (DaneStatus::Applies, None)
            );
            let (status, _) = decided(&alias(true), Err(DnsError::NxDomain), at_target(nothing));
            assert_eq!(status, DaneStatus::DoesNotApply);
        }
        // A failed lookup at the expanded name is not "no TLSA there": no fallback.
        assert_eq!(
            decided(&alias(true), tlsa(true), at_target(Err(DnsError::Timeout))),
            (DaneStatus::Unknown(DnsError::Timeout), via())
        );
    }

    #[test]
    fn unvalidated_records_are_shown_where_they_are_but_never_count() {
        // Only the expanded name has records, unvalidated: they are the answer, from there.
        let shown = MxHostTlsa::decide(
            &alias(true),
            Err(DnsError::NxDomain),
            at_target(tlsa(false)),
        );
        assert_eq!(shown.via, via());
        assert_eq!(shown.answer, tlsa(false));
        assert_eq!(shown.status(), DaneStatus::DoesNotApply);
        // Unvalidated at both names: the host name's, the candidate tried last.
        assert_eq!(
            decided(&alias(true), tlsa(false), at_target(tlsa(false))),
            (DaneStatus::DoesNotApply, None)
        );
        // Nothing anywhere: the host name's own negative answer.
        let none = MxHostTlsa::decide(
            &alias(true),
            Err(DnsError::NoData),
            at_target(Err(DnsError::NxDomain)),
        );
        assert_eq!((none.via, none.answer), (None, Err(DnsError::NoData)));
    }

    #[test]
    fn without_a_secure_expansion_only_the_host_name_counts() {
        // Not an alias, or an alias the resolver did not validate (no target lookup is made):
        // the host name's own TLSA answer decides.
        for expansion in [Ok(None), alias(false), Err(DnsError::NxDomain)] {
            assert_eq!(
                decided(&expansion, tlsa(true), None),
                (DaneStatus::Applies, None)
            );
            assert_eq!(
                decided(&expansion, tlsa(false), None),
                (DaneStatus::DoesNotApply, None)
            );
            assert_eq!(
                decided(&expansion, Err(DnsError::ServFail), None),
                (DaneStatus::Unknown(DnsError::ServFail), None)
            );
            assert_eq!(
                MxHostTlsa::decide(&expansion, tlsa(true), None).expansion_failure,
                None
            );
        }
        // A failed CNAME lookup leaves the expansion unknown: not "no TLSA", unless the host
        // name has secure TLSA anyway.
        let failed = Err(DnsError::Timeout);
        assert_eq!(
            decided(&failed, Err(DnsError::NxDomain), None),
            (DaneStatus::Unknown(DnsError::Timeout), None)
        );
        assert_eq!(
            MxHostTlsa::decide(&failed, Err(DnsError::NxDomain), None).expansion_failure,
            Some(DnsError::Timeout)
        );
        assert_eq!(
            decided(&failed, tlsa(true), None),
            (DaneStatus::Applies, None)
        );
    }

    #[test]
    fn labels_name_the_expanded_name() {
        assert_eq!(
            label("mx.example", Some("mx1.provider.example")),
            "mx.example (via mx1.provider.example)"
        );
        assert_eq!(label("mx.example", None), "mx.example");
        let tlsa = MxHostTlsa::decide(&alias(true), Err(DnsError::NxDomain), at_target(tlsa(true)));
        assert_eq!(
            tlsa.label("mx.example"),
            "mx.example (via mx1.provider.example)"
        );
    }
}
