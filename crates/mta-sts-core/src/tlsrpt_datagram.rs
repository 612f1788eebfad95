//! The datagram an MTA sends through libtlsrpt for each delivery attempt (datagram protocol
//! version 1), read the way sys4's tlsrpt-reporter 0.6.0 reads it, and written the way
//! libtlsrpt writes it.
//!
//! One datagram is one delivery attempt to one recipient domain: `d` (the domain), `pr` (its
//! `_smtp._tls` TXT record as the MTA found it), `dpv` (the protocol version, `"1"`; libtlsrpt
//! before 0.5 leaves it out) and `policies`, one object per policy the MTA applied:
//!
//! | key | meaning |
//! |---|---|
//! | `policy-type` | 1 `tlsa`, 2 `sts`, 9 `no-policy-found` |
//! | `policy-domain`, `policy-string`, `mx-host` | as in the report (RFC 8460 §4.4) |
//! | `f` | the final result: 0 success, 1 failure |
//! | `t` | how many `failure-details` libtlsrpt wrote |
//! | `failure-details` | `c` the result code (201..306), `s` sending MTA IP, `n` receiving MX name, `h` its HELO, `r` receiving IP, `a` additional information, `f` failure reason code |
//!
//! What a collector counts per (day, domain, record, policy): one session, failed when `f` is 1,
//! and one per listed failure detail (each [`FailureDetail`] here has `failed_session_count` 1),
//! exactly as tlsrpt-reporter's collectd does. Where this reader departs from tlsrpt-reporter
//! (each a deliberate choice, each tested):
//! - the recipient domain is normalised as tlsrpt-reporter's `normalize_domain_name` does
//!   (lowercase, one trailing dot removed), and further: U-labels become A-labels and a name that
//!   is no domain at all is refused ([`DatagramError::InvalidDomain`]), where tlsrpt-reporter
//!   keeps any text;
//! - a datagram naming another protocol version than 1 is refused
//!   ([`DatagramError::UnsupportedVersion`]): its fields may mean something else.
//!   tlsrpt-reporter logs an error and counts it anyway;
//! - a policy without `f`, or with an unknown `policy-type`, refuses the whole datagram, so
//!   nothing of it is counted; tlsrpt-reporter fails half-way (the policies before it counted)
//!   or, for the policy type, later when it builds the report;
//! - a failure code outside 201..306, or none, is counted as `validation-failure` (RFC 8460
//!   §4.3.3: the catch-all) and noted ([`DatagramNote::UnknownFailureCode`]); tlsrpt-reporter
//!   writes that failure detail without a `result-type`, which no receiver can read;
//! - `t` differing from the number of failure details is noted
//!   ([`DatagramNote::FailureCountMismatch`]) and the datagram counted, as tlsrpt-reporter does;
//! - keys libtlsrpt does not write are ignored; tlsrpt-reporter copies unknown policy keys into
//!   the report.

use std::borrow::Cow;
use std::fmt::Write as _;

use serde::Deserialize;

use crate::domain;
use crate::report::{AppliedPolicy, FailureDetail, PolicyType, ResultType};

/// The largest datagram read: tlsrpt-collectd's `TLSRPT_MAX_READ_COLLECTD` (16 MiB). A unix
/// datagram socket caps real ones far lower (the sender's `wmem_max`).
pub const MAX_DATAGRAM_SIZE: usize = 16 * 1024 * 1024;

/// The one datagram protocol version this reader understands.
pub const PROTOCOL_VERSION: &str = "1";

/// One delivery attempt, as read from a datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// The recipient domain: lowercase A-labels, no trailing dot.
    pub domain: String,
    /// The `_smtp._tls` TXT record as the MTA saw it (`pr`), exactly as given; empty when the
    /// domain has none.
    pub tlsrpt_record: String,
    /// The policies applied, in the datagram's order (never empty).
    pub policies: Vec<DatagramPolicy>,
    /// What was odd but counted anyway.
    pub notes: Vec<DatagramNote>,
}

/// One policy of a datagram and what happened under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatagramPolicy {
    /// The policy: type, domain, strings and MX patterns as given.
    pub policy: AppliedPolicy,
    /// Whether the session failed under this policy (`f` = 1).
    pub failed: bool,
    /// The failures listed, each with `failed_session_count` 1.
    pub failures: Vec<FailureDetail>,
}

/// Something odd in a datagram that does not stop it being counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatagramNote {
    /// `t` (how many failure details the MTA meant to send) differs from those listed; the
    /// listed ones are counted, as tlsrpt-reporter does.
    FailureCountMismatch {
        /// The policy's position in the datagram (0-based).
        policy: usize,
        /// `t`, or `None` when missing.
        declared: Option<i64>,
        /// The failure details listed.
        listed: usize,
    },
    /// A failure detail's code (`c`) is none of libtlsrpt's; counted as `validation-failure`.
    UnknownFailureCode {
        /// The policy's position in the datagram (0-based).
        policy: usize,
        /// The code, or `None` when missing.
        code: Option<i64>,
    },
}

impl std::fmt::Display for DatagramNote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatagramNote::FailureCountMismatch {
                policy,
                declared: Some(declared),
                listed,
            } => write!(
                f,
                "policy {} announced {declared} failure details but listed {listed}; the listed \
                 ones were counted",
                policy + 1
            ),
            DatagramNote::FailureCountMismatch {
                policy,
                declared: None,
                listed,
            } => write!(
                f,
                "policy {} has no failure count (`t`) but listed {listed} failure details; they \
                 were counted",
                policy + 1
            ),
            DatagramNote::UnknownFailureCode {
                policy,
                code: Some(code),
            } => write!(
                f,
                "a failure of policy {} has the unknown result code {code}; it was counted as \
                 validation-failure",
                policy + 1
            ),
            DatagramNote::UnknownFailureCode { policy, code: None } => write!(
                f,
                "a failure of policy {} has no result code; it was counted as validation-failure",
                policy + 1
            ),
        }
    }
}

/// Why a datagram was not counted. Each reads as a sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DatagramError {
    /// Not JSON, not UTF-8, or a field of the wrong type.
    #[error("the datagram is not JSON as libtlsrpt writes it ({0})")]
    NotJson(String),
    /// `dpv` names a version other than 1.
    #[error("the datagram is of protocol version {0}, and only version 1 is understood")]
    UnsupportedVersion(String),
    /// `d` is missing.
    #[error("the datagram names no recipient domain (no `d`)")]
    MissingDomain,
    /// `d` is not a domain name.
    #[error("the datagram's recipient domain {domain:?} is not a domain name: {reason}")]
    InvalidDomain {
        /// The name as given (at most 100 characters).
        domain: String,
        /// Why it is refused.
        reason: String,
    },
    /// `pr` is missing.
    #[error("the datagram carries no TLSRPT record (no `pr`)")]
    MissingRecord,
    /// `policies` is missing or empty.
    #[error("the datagram lists no policies")]
    NoPolicies,
    /// A policy has no `policy-type`.
    #[error("policy {} of the datagram has no policy type", .0 + 1)]
    MissingPolicyType(usize),
    /// A policy's `policy-type` is none of 1, 2 and 9.
    #[error(
        "policy {} of the datagram has the policy type {value}, which is none of 1 (tlsa), \
         2 (sts) and 9 (no-policy-found)", .policy + 1
    )]
    UnknownPolicyType {
        /// The policy's position (0-based).
        policy: usize,
        /// The value given.
        value: i64,
    },
    /// A policy has no final result `f`, or one that is neither 0 nor 1.
    #[error(
        "policy {} of the datagram has no final result 0 (success) or 1 (failure) in `f`",
        .0 + 1
    )]
    MissingResult(usize),
}

#[derive(Deserialize)]
struct RawDatagram<'a> {
    #[serde(borrow, default)]
    dpv: Option<RawVersion<'a>>,
    #[serde(borrow, default)]
    d: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pr: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    policies: Option<Vec<RawPolicy<'a>>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawVersion<'a> {
    Text(#[serde(borrow)] Cow<'a, str>),
    Number(i64),
}

#[derive(Deserialize)]
struct RawPolicy<'a> {
    #[serde(rename = "policy-type", default)]
    policy_type: Option<i64>,
    #[serde(rename = "policy-domain", borrow, default)]
    policy_domain: Option<Cow<'a, str>>,
    #[serde(rename = "policy-string", borrow, default)]
    policy_string: Vec<Cow<'a, str>>,
    #[serde(rename = "mx-host", borrow, default)]
    mx_host: Vec<Cow<'a, str>>,
    #[serde(rename = "failure-details", borrow, default)]
    failure_details: Vec<RawFailure<'a>>,
    #[serde(default)]
    t: Option<i64>,
    #[serde(default)]
    f: Option<RawResult>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawResult {
    Number(i64),
    Flag(bool),
}

#[derive(Deserialize)]
struct RawFailure<'a> {
    #[serde(default)]
    c: Option<i64>,
    #[serde(borrow, default)]
    s: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    n: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    h: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    r: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    a: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    f: Option<Cow<'a, str>>,
}

/// The result type libtlsrpt's failure code `code` stands for (its `tlsrpt_failure_t`, the
/// map tlsrpt-reporter reports with), or `None` for a code it does not define.
pub fn result_type_of_code(code: i64) -> Option<ResultType> {
    Some(match code {
        201 => ResultType::StarttlsNotSupported,
        202 => ResultType::CertificateHostMismatch,
        203 => ResultType::CertificateNotTrusted,
        204 => ResultType::CertificateExpired,
        205 => ResultType::ValidationFailure,
        301 => ResultType::StsPolicyFetchError,
        302 => ResultType::StsPolicyInvalid,
        303 => ResultType::StsWebpkiInvalid,
        304 => ResultType::TlsaInvalid,
        305 => ResultType::DnssecInvalid,
        306 => ResultType::DaneRequired,
        _ => return None,
    })
}

/// libtlsrpt's failure code for `result_type`; `None` for a result type it has no code for.
pub fn code_of_result_type(result_type: &ResultType) -> Option<i64> {
    Some(match result_type {
        ResultType::StarttlsNotSupported => 201,
        ResultType::CertificateHostMismatch => 202,
        ResultType::CertificateNotTrusted => 203,
        ResultType::CertificateExpired => 204,
        ResultType::ValidationFailure => 205,
        ResultType::StsPolicyFetchError => 301,
        ResultType::StsPolicyInvalid => 302,
        ResultType::StsWebpkiInvalid => 303,
        ResultType::TlsaInvalid => 304,
        ResultType::DnssecInvalid => 305,
        ResultType::DaneRequired => 306,
        ResultType::Other(_) => return None,
    })
}

/// libtlsrpt's `policy-type` number for `policy_type`; `None` for types it has no number for.
pub fn number_of_policy_type(policy_type: &PolicyType) -> Option<i64> {
    Some(match policy_type {
        PolicyType::Tlsa => 1,
        PolicyType::Sts => 2,
        PolicyType::NoPolicyFound => 9,
        PolicyType::Other(_) => return None,
    })
}

fn policy_type_of_number(number: i64) -> Option<PolicyType> {
    Some(match number {
        1 => PolicyType::Tlsa,
        2 => PolicyType::Sts,
        9 => PolicyType::NoPolicyFound,
        _ => return None,
    })
}

/// Reads one datagram (see the module documentation for what is refused and what is noted).
pub fn parse(bytes: &[u8]) -> Result<Datagram, DatagramError> {
    let raw: RawDatagram<'_> =
        serde_json::from_slice(bytes).map_err(|e| DatagramError::NotJson(e.to_string()))?;
    match &raw.dpv {
        None => {}
        Some(RawVersion::Text(text)) if text == PROTOCOL_VERSION => {}
        Some(RawVersion::Number(1)) => {}
        Some(RawVersion::Text(text)) => {
            return Err(DatagramError::UnsupportedVersion(format!(
                "{:?}",
                bounded(text)
            )));
        }
        Some(RawVersion::Number(number)) => {
            return Err(DatagramError::UnsupportedVersion(number.to_string()));
        }
    }
    let domain = normalize_domain(raw.d.as_deref().ok_or(DatagramError::MissingDomain)?)?;
    let tlsrpt_record = raw.pr.ok_or(DatagramError::MissingRecord)?.into_owned();
    let raw_policies = raw.policies.unwrap_or_default();
    if raw_policies.is_empty() {
        return Err(DatagramError::NoPolicies);
    }
    let mut notes = Vec::new();
    let mut policies = Vec::with_capacity(raw_policies.len());
    for (index, raw_policy) in raw_policies.into_iter().enumerate() {
        let number = raw_policy
            .policy_type
            .ok_or(DatagramError::MissingPolicyType(index))?;
        let policy_type =
            policy_type_of_number(number).ok_or(DatagramError::UnknownPolicyType {
                policy: index,
                value: number,
            })?;
        let failed = match raw_policy.f {
            Some(RawResult::Number(0) | RawResult::Flag(false)) => false,
            Some(RawResult::Number(1) | RawResult::Flag(true)) => true,
            _ => return Err(DatagramError::MissingResult(index)),
        };
        let listed = raw_policy.failure_details.len();
        if raw_policy.t != i64::try_from(listed).ok() {
            notes.push(DatagramNote::FailureCountMismatch {
                policy: index,
                declared: raw_policy.t,
                listed,
            });
        }
        let mut failures = Vec::with_capacity(listed);
        for raw_failure in raw_policy.failure_details {
            let result_type = match raw_failure.c.and_then(result_type_of_code) {
                Some(result_type) => result_type,
                None => {
                    notes.push(DatagramNote::UnknownFailureCode {
                        policy: index,
                        code: raw_failure.c,
                    });
                    // RFC 8460 §4.3.3: validation-failure is the failure of no other category.
                    ResultType::ValidationFailure
                }
            };
            failures.push(FailureDetail {
                result_type,
                sending_mta_ip: raw_failure.s.map(Cow::into_owned),
                receiving_mx_hostname: raw_failure.n.map(Cow::into_owned),
                receiving_mx_helo: raw_failure.h.map(Cow::into_owned),
                receiving_ip: raw_failure.r.map(Cow::into_owned),
                failed_session_count: 1,
                additional_information: raw_failure.a.map(Cow::into_owned),
                failure_reason_code: raw_failure.f.map(Cow::into_owned),
            });
        }
        policies.push(DatagramPolicy {
            policy: AppliedPolicy {
                policy_type,
                policy_string: owned(raw_policy.policy_string),
                policy_domain: raw_policy.policy_domain.map(Cow::into_owned),
                mx_host: owned(raw_policy.mx_host),
            },
            failed,
            failures,
        });
    }
    Ok(Datagram {
        domain,
        tlsrpt_record,
        policies,
        notes,
    })
}

fn owned(strings: Vec<Cow<'_, str>>) -> Vec<String> {
    strings.into_iter().map(Cow::into_owned).collect()
}

/// At most 100 characters of `text`, for messages.
fn bounded(text: &str) -> String {
    text.chars().take(100).collect()
}

/// tlsrpt-reporter's `normalize_domain_name` (lowercase, one trailing dot removed), then the
/// core's mail-domain reading: U-labels to A-labels, and a name that is no domain refused.
fn normalize_domain(given: &str) -> Result<String, DatagramError> {
    // The common case first: already lowercase A-labels, no trailing dot. It is what Postfix
    // sends, and checking it costs a fraction of the full reading.
    if !given.is_empty()
        && given
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && domain::check_a_label_domain(given).is_ok()
        && !given.rsplit('.').next().is_some_and(|tld| {
            tld.bytes().all(|b| b.is_ascii_digit()) // an IPv4 address, refused below
        })
    {
        return Ok(given.to_owned());
    }
    let invalid = |reason: String| DatagramError::InvalidDomain {
        domain: bounded(given),
        reason,
    };
    let normalized = domain::normalize_mail_domain(given)
        .map_err(|e| invalid(e.diagnostic().message.clone()))?;
    domain::check_a_label_domain(&normalized)
        .map_err(|problem| invalid(problem.kind.to_string()))?;
    Ok(normalized)
}

/// Writes `datagram` as libtlsrpt 0.5 does (its key order and spacing, `dpv` first), so tests,
/// benchmarks and fuzz seeds send what an MTA sends. A result type libtlsrpt has no code for
/// is written as 205 (validation-failure); a policy type it has no number for, as 9.
pub fn write(datagram: &Datagram) -> String {
    let mut out = String::with_capacity(256);
    out.push_str("{\"dpv\": \"1\",\"d\": ");
    push_json_string(&mut out, &datagram.domain);
    out.push_str(",\"pr\": ");
    push_json_string(&mut out, &datagram.tlsrpt_record);
    for (index, policy) in datagram.policies.iter().enumerate() {
        out.push_str(if index == 0 { ",\"policies\":[{" } else { ",{" });
        let number = number_of_policy_type(&policy.policy.policy_type).unwrap_or(9);
        let _ = write!(out, "\"policy-type\":{number}");
        if let Some(policy_domain) = &policy.policy.policy_domain {
            out.push_str(",\"policy-domain\": ");
            push_json_string(&mut out, policy_domain);
        }
        push_list(&mut out, "policy-string", &policy.policy.policy_string);
        push_list(&mut out, "mx-host", &policy.policy.mx_host);
        if !policy.failures.is_empty() {
            out.push_str(",\"failure-details\":[");
            for (i, failure) in policy.failures.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let code = code_of_result_type(&failure.result_type).unwrap_or(205);
                let _ = write!(out, "{{\"c\":{code}");
                for (key, value) in [
                    ("s", &failure.sending_mta_ip),
                    ("n", &failure.receiving_mx_hostname),
                    ("h", &failure.receiving_mx_helo),
                    ("r", &failure.receiving_ip),
                    ("a", &failure.additional_information),
                    ("f", &failure.failure_reason_code),
                ] {
                    if let Some(value) = value {
                        let _ = write!(out, ",\"{key}\": ");
                        push_json_string(&mut out, value);
                    }
                }
                out.push('}');
            }
            out.push(']');
        }
        let _ = write!(
            out,
            ",\"t\":{},\"f\":{}}}",
            policy.failures.len(),
            u8::from(policy.failed)
        );
    }
    if !datagram.policies.is_empty() {
        out.push(']');
    }
    out.push('}');
    out
}

fn push_list(out: &mut String, key: &str, values: &[String]) {
    if values.is_empty() {
        return;
    }
    let _ = write!(out, ",\"{key}\":[");
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_string(out, value);
    }
    out.push(']');
}

fn push_json_string(out: &mut String, value: &str) {
    // serde_json's escaping: a JSON string never fails to serialize.
    match serde_json::to_string(value) {
        Ok(text) => out.push_str(&text),
        Err(_) => out.push_str("\"\""),
    }
}

#[cfg(test)]
mod tests;
