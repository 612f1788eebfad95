//! The checker's finding codes: one typed list shared by the checker, the lab's scenarios and
//! every renderer. Each code's name is stable (never renamed: scripts and the JSON API match on
//! it); its severity and the section of the report it belongs to are properties of the code.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Severity;

/// The part of a domain's setup a finding is about; reports group findings by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Section {
    /// The `_mta-sts` TXT record.
    Records,
    /// The policy host and the policy file.
    Policy,
    /// The MX set and each MX host.
    MxHosts,
    /// The `_smtp._tls` record.
    TlsRpt,
}

impl Section {
    /// Every section, in report order.
    pub const ALL: [Section; 4] = [
        Section::Records,
        Section::Policy,
        Section::MxHosts,
        Section::TlsRpt,
    ];

    /// The heading a report shows.
    pub fn title(self) -> &'static str {
        match self {
            Section::Records => "MTA-STS record",
            Section::Policy => "Policy",
            Section::MxHosts => "MX hosts",
            Section::TlsRpt => "TLS reporting",
        }
    }
}

/// A finding code of the checker. Serialized as its stable kebab-case name
/// (`mx-not-in-policy`), which [`FindingCode::as_str`] and [`fmt::Display`] also give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum FindingCode {
    /// No `v=STSv1` TXT record at `_mta-sts.<domain>`.
    StsRecordMissing,
    /// More than one `v=STSv1` TXT record: senders use none (RFC 8461 §3.1).
    StsRecordMultiple,
    /// The one `v=STSv1` record breaks RFC 8461 §3.1.
    StsRecordInvalid,
    /// The TXT lookup failed (SERVFAIL) while the resolver answered the domain's other names.
    StsRecordLookupFailed,
    /// `mta-sts.<domain>` has no address.
    PolicyHostUnresolvable,
    /// Connection refused, timeout, TLS handshake failure, HTTPS refused.
    PolicyFetchFailed,
    /// With the address guard on: the policy host resolves only to non-public addresses.
    PolicyHostPrivate,
    /// The policy host's certificate does not chain to a trusted root.
    PolicyCertUntrusted,
    /// The policy host's certificate is not for `mta-sts.<domain>`.
    PolicyCertHostname,
    /// The policy host's certificate is expired or not yet valid.
    PolicyCertExpired,
    /// The policy URL answers another status than 200.
    PolicyHttpStatus,
    /// The policy URL redirects (senders do not follow, RFC 8461 §3.3).
    PolicyRedirect,
    /// The policy is not served as `text/plain`.
    PolicyContentType,
    /// The policy body is over 64 KiB.
    PolicyTooLarge,
    /// Senders reject the policy.
    PolicyInvalid,
    /// `max_age` under a day.
    PolicyMaxAgeLow,
    /// `mode: testing`.
    PolicyModeTesting,
    /// `mode: none`.
    PolicyModeNone,
    /// A null MX or no MX records, yet a policy.
    MxNone,
    /// The MX lookup failed (SERVFAIL) while the resolver answered the domain's other names.
    MxLookupFailed,
    /// An MX host matches no `mx` pattern of the policy.
    MxNotInPolicy,
    /// An `mx` pattern matches no MX host.
    MxPatternUnused,
    /// An `mx` pattern is an IPv4 address: it matches no MX host name, and senders whose plugin
    /// passes it on demand that address in the MX certificate.
    MxIpAddress,
    /// An MX host has no address.
    MxUnresolvable,
    /// An MX host could not be reached (not proof of a fault).
    MxUnreachable,
    /// With the address guard on: an MX host resolves only to non-public addresses.
    MxHostPrivate,
    /// An MX host does not offer STARTTLS.
    MxStarttlsMissing,
    /// STARTTLS on an MX host failed.
    MxTlsFailed,
    /// An MX host's certificate does not chain to a trusted root.
    MxCertUntrusted,
    /// An MX host's certificate is not for its name.
    MxCertHostname,
    /// An MX host's certificate is expired or not yet valid.
    MxCertExpired,
    /// A certificate (policy host or MX host) expires within two weeks.
    CertExpiringSoon,
    /// No `_smtp._tls` record.
    TlsrptMissing,
    /// More than one `v=TLSRPTv1` record.
    TlsrptMultiple,
    /// The `_smtp._tls` record breaks RFC 8460 §3.
    TlsrptInvalid,
    /// The policy host is an alias (CNAME); described, not judged.
    PolicyHostCname,
    /// An MX host publishes TLSA records (DANE); described, not judged.
    MxDane,
}

impl FindingCode {
    /// Every code, in the order reports have always listed them.
    pub const ALL: [FindingCode; 37] = [
        FindingCode::StsRecordMissing,
        FindingCode::StsRecordMultiple,
        FindingCode::StsRecordInvalid,
        FindingCode::StsRecordLookupFailed,
        FindingCode::PolicyHostUnresolvable,
        FindingCode::PolicyFetchFailed,
        FindingCode::PolicyHostPrivate,
        FindingCode::PolicyCertUntrusted,
        FindingCode::PolicyCertHostname,
        FindingCode::PolicyCertExpired,
        FindingCode::PolicyHttpStatus,
        FindingCode::PolicyRedirect,
        FindingCode::PolicyContentType,
        FindingCode::PolicyTooLarge,
        FindingCode::PolicyInvalid,
        FindingCode::PolicyMaxAgeLow,
        FindingCode::PolicyModeTesting,
        FindingCode::PolicyModeNone,
        FindingCode::MxNone,
        FindingCode::MxLookupFailed,
        FindingCode::MxNotInPolicy,
        FindingCode::MxPatternUnused,
        FindingCode::MxIpAddress,
        FindingCode::MxUnresolvable,
        FindingCode::MxUnreachable,
        FindingCode::MxHostPrivate,
        FindingCode::MxStarttlsMissing,
        FindingCode::MxTlsFailed,
        FindingCode::MxCertUntrusted,
        FindingCode::MxCertHostname,
        FindingCode::MxCertExpired,
        FindingCode::CertExpiringSoon,
        FindingCode::TlsrptMissing,
        FindingCode::TlsrptMultiple,
        FindingCode::TlsrptInvalid,
        FindingCode::PolicyHostCname,
        FindingCode::MxDane,
    ];

    /// The stable name, e.g. `mx-not-in-policy`.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingCode::StsRecordMissing => "sts-record-missing",
            FindingCode::StsRecordMultiple => "sts-record-multiple",
            FindingCode::StsRecordInvalid => "sts-record-invalid",
            FindingCode::StsRecordLookupFailed => "sts-record-lookup-failed",
            FindingCode::PolicyHostUnresolvable => "policy-host-unresolvable",
            FindingCode::PolicyFetchFailed => "policy-fetch-failed",
            FindingCode::PolicyHostPrivate => "policy-host-private",
            FindingCode::PolicyCertUntrusted => "policy-cert-untrusted",
            FindingCode::PolicyCertHostname => "policy-cert-hostname",
            FindingCode::PolicyCertExpired => "policy-cert-expired",
            FindingCode::PolicyHttpStatus => "policy-http-status",
            FindingCode::PolicyRedirect => "policy-redirect",
            FindingCode::PolicyContentType => "policy-content-type",
            FindingCode::PolicyTooLarge => "policy-too-large",
            FindingCode::PolicyInvalid => "policy-invalid",
            FindingCode::PolicyMaxAgeLow => "policy-max-age-low",
            FindingCode::PolicyModeTesting => "policy-mode-testing",
            FindingCode::PolicyModeNone => "policy-mode-none",
            FindingCode::MxNone => "mx-none",
            FindingCode::MxLookupFailed => "mx-lookup-failed",
            FindingCode::MxNotInPolicy => "mx-not-in-policy",
            FindingCode::MxPatternUnused => "mx-pattern-unused",
            FindingCode::MxIpAddress => "mx-ip-address",
            FindingCode::MxUnresolvable => "mx-unresolvable",
            FindingCode::MxUnreachable => "mx-unreachable",
            FindingCode::MxHostPrivate => "mx-host-private",
            FindingCode::MxStarttlsMissing => "mx-starttls-missing",
            FindingCode::MxTlsFailed => "mx-tls-failed",
            FindingCode::MxCertUntrusted => "mx-cert-untrusted",
            FindingCode::MxCertHostname => "mx-cert-hostname",
            FindingCode::MxCertExpired => "mx-cert-expired",
            FindingCode::CertExpiringSoon => "cert-expiring-soon",
            FindingCode::TlsrptMissing => "tlsrpt-missing",
            FindingCode::TlsrptMultiple => "tlsrpt-multiple",
            FindingCode::TlsrptInvalid => "tlsrpt-invalid",
            FindingCode::PolicyHostCname => "policy-host-cname",
            FindingCode::MxDane => "mx-dane",
        }
    }

    /// How much a finding with this code matters: errors stop senders from using the policy or
    /// delivering securely, warnings weaken it, infos describe without judging.
    pub fn severity(self) -> Severity {
        match self {
            FindingCode::PolicyMaxAgeLow
            | FindingCode::PolicyModeTesting
            | FindingCode::PolicyModeNone
            | FindingCode::MxPatternUnused
            | FindingCode::MxUnreachable
            | FindingCode::CertExpiringSoon
            | FindingCode::TlsrptMissing => Severity::Warning,
            FindingCode::PolicyHostCname | FindingCode::MxDane => Severity::Info,
            _ => Severity::Error,
        }
    }

    /// The section of the report the code belongs to. `cert-expiring-soon` is about either kind
    /// of host: MX hosts here, and the checker places the policy host's under
    /// [`Section::Policy`].
    pub fn section(self) -> Section {
        match self {
            FindingCode::StsRecordMissing
            | FindingCode::StsRecordMultiple
            | FindingCode::StsRecordInvalid
            | FindingCode::StsRecordLookupFailed => Section::Records,
            FindingCode::PolicyHostUnresolvable
            | FindingCode::PolicyFetchFailed
            | FindingCode::PolicyHostPrivate
            | FindingCode::PolicyCertUntrusted
            | FindingCode::PolicyCertHostname
            | FindingCode::PolicyCertExpired
            | FindingCode::PolicyHttpStatus
            | FindingCode::PolicyRedirect
            | FindingCode::PolicyContentType
            | FindingCode::PolicyTooLarge
            | FindingCode::PolicyInvalid
            | FindingCode::PolicyMaxAgeLow
            | FindingCode::PolicyModeTesting
            | FindingCode::PolicyModeNone
            | FindingCode::PolicyHostCname => Section::Policy,
            FindingCode::TlsrptMissing
            | FindingCode::TlsrptMultiple
            | FindingCode::TlsrptInvalid => Section::TlsRpt,
            _ => Section::MxHosts,
        }
    }
}

impl fmt::Display for FindingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not a finding code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a finding code")]
pub struct UnknownFindingCode(pub String);

impl FromStr for FindingCode {
    type Err = UnknownFindingCode;

    fn from_str(name: &str) -> Result<FindingCode, UnknownFindingCode> {
        FindingCode::ALL
            .into_iter()
            .find(|code| code.as_str() == name)
            .ok_or_else(|| UnknownFindingCode(name.to_string()))
    }
}

#[cfg(test)]
mod tests;
