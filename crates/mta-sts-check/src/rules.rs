//! The rules: from what DNS, the policy fetch and the probes returned, to findings.

use mta_sts_core::txt_discovery::Discovery;
use mta_sts_core::{FindingCode, Section};
use mta_sts_core::{Mode, Policy, StsRecord, TlsRptRecord, policy_lint, sts_record, tlsrpt_record};
use mta_sts_net::dns::MxSet;
use mta_sts_net::policy_fetch::{FetchError, Phase};
use mta_sts_net::smtp_probe::{MxProbe, ProbeError, Step};
use mta_sts_net::{CertVerdict, DnsError, PolicyFetch};
use sha2::{Digest, Sha256};

use crate::publish::fresh_id;
use crate::{EXPIRY_WARNING_DAYS, Finding, NotLearnt, PolicyReport};

/// What a check found so far, and what it could not learn.
#[derive(Debug, Clone, Default)]
pub(crate) struct Findings {
    found: Vec<Finding>,
    not_learnt: Vec<NotLearnt>,
    /// Whether the resolver gave a definite answer (records, NXDOMAIN or NODATA) to one of the
    /// check's lookups: then it works, and a SERVFAIL for one of the domain's names is the
    /// domain's own fault.
    resolver_answers: bool,
}

impl Findings {
    /// An empty set, for a check whose resolver answered (`resolver_answers`) or did not.
    pub(crate) fn new(resolver_answers: bool) -> Findings {
        Findings {
            resolver_answers,
            ..Findings::default()
        }
    }

    pub(crate) fn add(
        &mut self,
        code: FindingCode,
        message: impl Into<String>,
        remediation: impl Into<String>,
    ) {
        self.add_in(code.section(), code, message, remediation);
    }

    pub(crate) fn add_in(
        &mut self,
        section: Section,
        code: FindingCode,
        message: impl Into<String>,
        remediation: impl Into<String>,
    ) {
        let message = message.into();
        // One finding per code and message: two MX hosts with the same fault get one line each,
        // but the same fault found twice is said once.
        if !self
            .found
            .iter()
            .any(|f| f.code == code && f.message == message)
        {
            self.found.push(Finding {
                section,
                code,
                severity: code.severity(),
                message,
                remediation: remediation.into(),
            });
        }
    }

    pub(crate) fn has(&self, code: FindingCode) -> bool {
        self.found.iter().any(|f| f.code == code)
    }

    /// Whether a failed lookup says something about the domain: a negative answer does, and so
    /// does a SERVFAIL or REFUSED from a resolver that answered the check's other lookups. No
    /// answer at all (a timeout, an unreachable resolver), or failures of every lookup, say
    /// nothing: the resolver, or the path to the domain's name servers, may be what is broken.
    pub(crate) fn blames_domain(&self, error: &DnsError) -> bool {
        error.is_negative()
            || (self.resolver_answers && matches!(error, DnsError::ServFail | DnsError::Refused(_)))
    }

    /// Records that `what` (`the MX records of example.com`) could not be learnt, because of
    /// `error`.
    pub(crate) fn not_learnt(&mut self, section: Section, what: String, error: &DnsError) {
        self.not_learnt.push(NotLearnt {
            section,
            what,
            why: why_unanswered(error),
        });
    }

    /// The findings (errors first within each section) and what could not be learnt.
    pub(crate) fn into_parts(mut self) -> (Vec<Finding>, Vec<NotLearnt>) {
        self.found.sort_by_key(|f| (f.section, f.severity));
        (self.found, self.not_learnt)
    }
}

/// Why a lookup got no usable answer, as the end of a sentence.
fn why_unanswered(error: &DnsError) -> String {
    match error {
        DnsError::Timeout => "the resolver did not answer in time".to_string(),
        DnsError::Transport(reason) => format!("the resolver could not be reached ({reason})"),
        DnsError::ServFail => "the resolver answered SERVFAIL (it got no usable answer from the \
            domain's name servers, or could not reach them)"
            .to_string(),
        DnsError::Refused(code) => format!("the resolver answered {code}"),
        other => other.to_string(),
    }
}

pub(crate) fn check_sts_record(
    findings: &mut Findings,
    name: &str,
    txt: Result<Vec<Vec<Vec<u8>>>, DnsError>,
) -> Option<StsRecord> {
    let publish = format!("publish `{name}. IN TXT \"v=STSv1; id={}\"`", fresh_id());
    let records = match txt {
        Ok(records) => records,
        Err(e) if e.is_negative() => Vec::new(),
        Err(e) if findings.blames_domain(&e) => {
            findings.add(
                FindingCode::StsRecordLookupFailed,
                format!("the TXT lookup of {name} failed ({e}) while the resolver answered the domain's other names: senders cannot learn the policy either"),
                "fix the domain's DNS so the name answers (a broken delegation or DNSSEC often causes SERVFAIL)",
            );
            return None;
        }
        Err(e) => {
            findings.not_learnt(Section::Records, format!("the TXT records at {name}"), &e);
            return None;
        }
    };
    // RFC 8461 §3.1: exactly one record beginning `v=STSv1;`.
    match sts_record::discover(&records) {
        Discovery::Found { lint, .. } => lint.parsed,
        Discovery::Absent { near_misses } => {
            let message = match near_misses.first() {
                Some(miss) => format!(
                    "no TXT record at {name} begins with `v=STSv1;` (found `{miss}`, which senders ignore)"
                ),
                None => format!("no MTA-STS TXT record at {name}"),
            };
            findings.add(FindingCode::StsRecordMissing, message, publish);
            None
        }
        Discovery::Multiple { records } => {
            findings.add(
                FindingCode::StsRecordMultiple,
                format!(
                    "{} TXT records at {name} begin with `v=STSv1`; senders then use none ({})",
                    records.len(),
                    records.join(" | ")
                ),
                format!("keep exactly one: {publish}"),
            );
            None
        }
        Discovery::Invalid { record, lint } => {
            let problems: Vec<String> = lint.errors().map(|d| d.message.clone()).collect();
            findings.add(
                FindingCode::StsRecordInvalid,
                format!(
                    "the TXT record `{record}` at {name} is invalid: {}",
                    problems.join("; ")
                ),
                publish,
            );
            None
        }
    }
}

pub(crate) fn check_tlsrpt_record(
    findings: &mut Findings,
    name: &str,
    txt: Result<Vec<Vec<Vec<u8>>>, DnsError>,
) -> Option<TlsRptRecord> {
    let domain = name.trim_start_matches("_smtp._tls.");
    let publish = format!("publish `{name}. IN TXT \"v=TLSRPTv1; rua=mailto:tlsrpt@{domain}\"`");
    let records = match txt {
        Ok(records) => records,
        Err(e) if e.is_negative() => Vec::new(),
        Err(e) => {
            // No code says "the TLS-RPT lookup failed": whatever the cause, what the record is
            // was not learnt, and a record to publish would be a guess.
            findings.not_learnt(Section::TlsRpt, format!("the TXT records at {name}"), &e);
            return None;
        }
    };
    match tlsrpt_record::discover(&records) {
        Discovery::Found { lint, .. } => lint.parsed,
        Discovery::Absent { .. } => {
            findings.add(
                FindingCode::TlsrptMissing,
                format!("no TLS-RPT record at {name}: senders cannot report TLS failures, so testing mode is blind"),
                publish,
            );
            None
        }
        Discovery::Multiple { records } => {
            findings.add(
                FindingCode::TlsrptMultiple,
                format!(
                    "{} TXT records at {name} begin with `v=TLSRPTv1`; reporters then use none",
                    records.len()
                ),
                format!("keep exactly one: {publish}"),
            );
            None
        }
        Discovery::Invalid { record, lint } => {
            let first = lint.first_error();
            let remediation = first
                .and_then(|d| d.hint.clone())
                .map_or(publish, |hint| format!("{hint} (in `{record}`)"));
            findings.add(
                FindingCode::TlsrptInvalid,
                format!(
                    "the TLS-RPT record `{record}` is invalid: {}",
                    first.map_or_else(String::new, |d| d.message.clone())
                ),
                remediation,
            );
            None
        }
    }
}

pub(crate) fn report_fetch_error(findings: &mut Findings, domain: &str, error: &FetchError) {
    let host = format!("mta-sts.{domain}");
    let serve = format!(
        "serve the policy at https://{host}/.well-known/mta-sts.txt with status 200, Content-Type text/plain, and a certificate for {host} from a public CA"
    );
    match error {
        FetchError::Dns { error } if error.is_negative() => findings.add(
            FindingCode::PolicyHostUnresolvable,
            format!("{host} has no address ({error})"),
            format!("publish an A/AAAA (or CNAME) record for {host} pointing at the server that hosts the policy"),
        ),
        FetchError::Dns { error } if !findings.blames_domain(error) => {
            findings.not_learnt(Section::Policy, format!("the address of the policy host {host}"), error);
        }
        // The fetch's own deadline fired during the address lookup: no answer, as a timeout.
        FetchError::Timeout { phase: Phase::Dns } => {
            findings.not_learnt(Section::Policy, format!("the address of the policy host {host}"), &DnsError::Timeout);
        }
        FetchError::CertUntrusted { verdict } | FetchError::CertExpired { verdict } | FetchError::CertNameMismatch { verdict, .. } => {
            check_certificate(findings, verdict, &host, POLICY_CERT_CODES);
        }
        FetchError::Redirect { status, location } => findings.add(
            FindingCode::PolicyRedirect,
            format!("https://{host}/.well-known/mta-sts.txt redirects ({status}) to {}; senders do not follow redirects (RFC 8461 §3.3)", location.as_deref().unwrap_or("nowhere")),
            serve,
        ),
        FetchError::HttpStatus { status } => findings.add(
            FindingCode::PolicyHttpStatus,
            format!("https://{host}/.well-known/mta-sts.txt answers HTTP {status}; only 200 counts"),
            serve,
        ),
        FetchError::MediaType { content_type, .. } => findings.add(
            FindingCode::PolicyContentType,
            format!("the policy is served as {}, not text/plain", content_type.as_deref().unwrap_or("no Content-Type")),
            "serve /.well-known/mta-sts.txt with `Content-Type: text/plain`",
        ),
        FetchError::TooLarge { limit } => findings.add(
            FindingCode::PolicyTooLarge,
            format!("the policy body is over {limit} bytes; senders stop reading at 64 KiB"),
            serve,
        ),
        FetchError::NotUtf8 => findings.add(
            FindingCode::PolicyInvalid,
            "the policy body is not UTF-8 text",
            "save the policy as plain ASCII text",
        ),
        FetchError::Blocked { address, class } => findings.add(
            FindingCode::PolicyHostPrivate,
            format!("{host} resolves to {address}, a {} address that senders on the internet cannot reach; this checker does not connect to such addresses", class_name(*class)),
            format!("point {host} at a public address serving the policy over HTTPS"),
        ),
        other => findings.add(FindingCode::PolicyFetchFailed, format!("fetching the policy from {host} failed: {other}"), serve),
    }
}

pub(crate) fn check_policy(
    findings: &mut Findings,
    fetch: PolicyFetch,
    announced: bool,
) -> PolicyReport {
    let lint = policy_lint::lint(&fetch.body);
    let text = String::from_utf8_lossy(&fetch.body).into_owned();
    let sha256 = Sha256::digest(&fetch.body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if announced {
        let errors: Vec<String> = lint
            .errors()
            .map(|d| match d.line {
                Some(line) => format!("line {line}: {}", d.message),
                None => d.message.clone(),
            })
            .collect();
        if !errors.is_empty() {
            let hints: Vec<String> = lint.errors().filter_map(|d| d.hint.clone()).collect();
            findings.add(
                FindingCode::PolicyInvalid,
                format!("senders reject the policy: {}", errors.join("; ")),
                if hints.is_empty() {
                    "fix the policy (run `mta-sts lint policy`)".to_string()
                } else {
                    hints.join("; ")
                },
            );
        }
        if let Some(policy) = &lint.parsed {
            // RFC 8461 §4.1: patterns match MX host names. A dotted quad is a valid `Domain`, so
            // the policy stands (`mta-sts daemon` uses it and leaves the address out of its
            // replies), but the line matches no MX host, and senders whose plugin hands it to
            // OpenSSL as a name to match then require the address in every MX certificate and
            // fail delivery (postfix-tlspol#70): an error for the owner to fix.
            for pattern in policy.mx.iter().filter(|p| p.is_address_shaped()) {
                findings.add(
                    FindingCode::MxIpAddress,
                    format!(
                        "the policy's `mx: {pattern}` is an IP address; patterns match MX host names, so it matches no MX host, and senders that pass it to their TLS library require that address in the MX certificate"
                    ),
                    "replace it with the host name your MX record points to, then change the TXT id",
                );
            }
            if policy.mode != Mode::None && policy.max_age < 86_400 {
                findings.add(
                    FindingCode::PolicyMaxAgeLow,
                    format!("max_age is {} seconds, under a day", policy.max_age),
                    "use `max_age: 604800` (a week) or more once the policy is stable",
                );
            }
            match policy.mode {
                Mode::Testing => findings.add(
                    FindingCode::PolicyModeTesting,
                    "mode testing: senders report failures but still deliver over them",
                    "read the TLS-RPT reports; when they are clean, publish `mode: enforce` and change the TXT id",
                ),
                Mode::None => findings.add(
                    FindingCode::PolicyModeNone,
                    "mode none: senders treat the domain as having no MTA-STS policy",
                    "publish `mode: testing` (then enforce) to protect inbound mail",
                ),
                Mode::Enforce => {}
            }
        }
        let host = fetch
            .url
            .trim_start_matches("https://")
            .split(['/', ':'])
            .next()
            .unwrap_or_default();
        check_certificate_expiry(
            findings,
            Section::Policy,
            &format!("the policy host {host}"),
            fetch.certificate.days_left,
            fetch.certificate.expired,
        );
    }
    if announced && let Some(target) = fetch.cname_chain.last() {
        let host = fetch
            .url
            .trim_start_matches("https://")
            .split(['/', ':'])
            .next()
            .unwrap_or_default();
        findings.add(
            FindingCode::PolicyHostCname,
            format!("{host} is an alias of {target}; its certificate must still name {host}"),
            "nothing to change",
        );
    }
    let parsed = lint.parsed;
    PolicyReport {
        url: fetch.url.clone(),
        text,
        sha256,
        mode: parsed.as_ref().map(|p| p.mode),
        max_age: parsed.as_ref().map(|p| p.max_age),
        mx: parsed
            .as_ref()
            .map(|p| p.mx.iter().map(|m| m.as_str().to_string()).collect())
            .unwrap_or_default(),
        parsed,
        fetch,
    }
}

/// The codes for an untrusted, wrong-name and expired certificate of one kind of host.
struct CertCodes {
    untrusted: FindingCode,
    hostname: FindingCode,
    expired: FindingCode,
}

const POLICY_CERT_CODES: CertCodes = CertCodes {
    untrusted: FindingCode::PolicyCertUntrusted,
    hostname: FindingCode::PolicyCertHostname,
    expired: FindingCode::PolicyCertExpired,
};

const MX_CERT_CODES: CertCodes = CertCodes {
    untrusted: FindingCode::MxCertUntrusted,
    hostname: FindingCode::MxCertHostname,
    expired: FindingCode::MxCertExpired,
};

/// Every count a certificate fails on, each its own finding (RFC 8461 §3.3 for the policy host,
/// §4.2 for MX hosts: trusted root, valid for the name, not expired).
fn check_certificate(findings: &mut Findings, verdict: &CertVerdict, host: &str, codes: CertCodes) {
    if !verdict.trusted {
        findings.add(
            codes.untrusted,
            format!(
                "the certificate of {host} is not trusted: {}",
                verdict.trust_error.as_deref().unwrap_or("unknown issuer")
            ),
            format!(
                "install a certificate for {host} from a public CA (e.g. one issued over ACME)"
            ),
        );
    }
    if !verdict.name_matches {
        let names = verdict
            .chain
            .first()
            .map(|c| c.dns_names.join(", "))
            .unwrap_or_default();
        findings.add(
            codes.hostname,
            format!(
                "the certificate of {host} is for {}, not {host}",
                if names.is_empty() {
                    "no DNS name"
                } else {
                    &names
                }
            ),
            format!("install a certificate whose subjectAltName includes {host}"),
        );
    }
    if verdict.expired || verdict.not_yet_valid {
        findings.add(
            codes.expired,
            format!(
                "the certificate of {host} is {}",
                if verdict.expired {
                    "expired"
                } else {
                    "not yet valid"
                }
            ),
            format!("renew the certificate of {host}, and automate its renewal"),
        );
    }
}

fn check_certificate_expiry(
    findings: &mut Findings,
    section: Section,
    what: &str,
    days_left: Option<i64>,
    expired: bool,
) {
    if let Some(days) = days_left
        && !expired
        && days < EXPIRY_WARNING_DAYS
    {
        findings.add_in(
            section,
            FindingCode::CertExpiringSoon,
            format!(
                "the certificate of {what} expires in {days} day{}",
                if days == 1 { "" } else { "s" }
            ),
            "renew it now, and automate renewal",
        );
    }
}

pub(crate) fn check_mx_set(
    findings: &mut Findings,
    domain: &str,
    mx: Result<MxSet, DnsError>,
    policy_exists: bool,
) -> Option<MxSet> {
    match mx {
        Ok(set) if set.null_mx || set.hosts.is_empty() => {
            if policy_exists {
                findings.add(
                    FindingCode::MxNone,
                    format!("{domain} publishes {}, yet has an MTA-STS policy", if set.null_mx { "a null MX (accepts no mail)" } else { "no MX hosts" }),
                    "publish the MX records of the hosts that receive mail, or retire the policy with `mode: none`",
                );
            }
            Some(set)
        }
        Ok(set) => Some(set),
        Err(e) if e.is_negative() => {
            if policy_exists {
                findings.add(
                    FindingCode::MxNone,
                    format!("{domain} has no MX records, yet has an MTA-STS policy"),
                    "publish the MX records of the hosts that receive mail",
                );
            }
            None
        }
        Err(e) if findings.blames_domain(&e) => {
            findings.add(
                FindingCode::MxLookupFailed,
                format!("the MX lookup of {domain} failed ({e}) while the resolver answered the domain's other names: senders cannot find its mail servers either"),
                "fix the domain's DNS so its MX records answer (a broken delegation or DNSSEC often causes SERVFAIL)",
            );
            None
        }
        Err(e) => {
            findings.not_learnt(Section::MxHosts, format!("the MX records of {domain}"), &e);
            None
        }
    }
}

/// RFC 8461 §4.1, both ways: every MX must match a pattern, and every pattern should match an MX.
pub(crate) fn check_alignment(findings: &mut Findings, policy: &Policy, mx: &MxSet) {
    if policy.mode == Mode::None || mx.hosts.is_empty() {
        return;
    }
    let suggested: Vec<String> = mx
        .hosts
        .iter()
        .map(|(_, host)| format!("mx: {host}"))
        .collect();
    for (_, host) in &mx.hosts {
        if !policy.matches_mx(host) {
            findings.add(
                FindingCode::MxNotInPolicy,
                format!("the MX host {host} matches no `mx` pattern of the policy: enforcing senders will not deliver to it"),
                format!("list every MX host in the policy ({}), then change the TXT id", suggested.join(", ")),
            );
        }
    }
    // An address-shaped pattern is reported once, as `mx-ip-address`.
    for pattern in policy.mx.iter().filter(|p| !p.is_address_shaped()) {
        if !mx.hosts.iter().any(|(_, host)| pattern.matches(host)) {
            findings.add(
                FindingCode::MxPatternUnused,
                format!("the policy's `mx: {pattern}` matches none of the MX hosts"),
                format!(
                    "remove stale patterns; the MX hosts are: {}",
                    suggested.join(", ")
                ),
            );
        }
    }
}

/// Judges one MX probe; `port` is the SMTP port it dialled (25 but in a lab).
pub(crate) fn check_probe(findings: &mut Findings, probe: &MxProbe, port: u16) {
    let host = &probe.host;
    match &probe.error {
        Some(ProbeError::Dns { error }) if !findings.blames_domain(error) => {
            return findings.not_learnt(
                Section::MxHosts,
                format!("the address of the MX host {host}"),
                error,
            );
        }
        Some(ProbeError::Dns { error }) => {
            return findings.add(
                FindingCode::MxUnresolvable,
                format!("the MX host {host} has no address ({error})"),
                format!("publish an A/AAAA record for {host}, or remove it from the MX set"),
            );
        }
        Some(ProbeError::Blocked { address, class }) => {
            return findings.add(
                FindingCode::MxHostPrivate,
                format!("the MX host {host} resolves to {address}, a {} address that senders on the internet cannot reach; this checker does not connect to such addresses", class_name(*class)),
                format!("point {host} at a public address"),
            );
        }
        Some(
            error @ (ProbeError::Connect { .. }
            | ProbeError::Timeout {
                step: Step::Connect | Step::Greeting,
            }
            | ProbeError::Closed {
                step: Step::Greeting,
            }),
        ) => {
            return findings.add(
                FindingCode::MxUnreachable,
                format!("could not talk to {host} on port {port}: {error} (the test could not run; this is not proof of a fault)"),
                format!("check from another network; make sure the host accepts connections on port {port}"),
            );
        }
        Some(
            error @ ProbeError::Refused {
                step: Step::Greeting,
                ..
            },
        ) => {
            return findings.add(
                FindingCode::MxUnreachable,
                format!("{host} refused the session: {error}"),
                "make sure the host accepts mail sessions from the internet",
            );
        }
        _ => {}
    }
    if probe.address.is_some()
        && probe.banner.is_some()
        && !probe.starttls_offered
        && probe.error.is_none()
    {
        return findings.add(
            FindingCode::MxStarttlsMissing,
            format!("{host} does not offer STARTTLS"),
            format!("enable STARTTLS on {host} with a certificate for {host} from a public CA"),
        );
    }
    if let Some(error) = &probe.error
        && probe.tls.is_none()
    {
        return findings.add(
            FindingCode::MxTlsFailed,
            format!("STARTTLS on {host} failed: {error}"),
            format!(
                "fix the TLS configuration of {host} (protocol versions, ciphers, certificate)"
            ),
        );
    }
    if let Some(tls) = &probe.tls {
        let verdict = &tls.certificate;
        check_certificate(findings, verdict, host, MX_CERT_CODES);
        check_certificate_expiry(
            findings,
            Section::MxHosts,
            &format!("the MX host {host}"),
            verdict.days_left,
            verdict.expired,
        );
    }
}

/// DANE is reported, not judged: where an MX publishes DNSSEC-validated TLSA records, DANE
/// senders use them and MTA-STS must not override DANE (RFC 8461 §2). Each host is named as
/// [`mta_sts_net::dane::MxHostTlsa::label`] gives it, with the expanded name its records came
/// from (RFC 7672 §2.2.2).
pub(crate) fn check_dane(findings: &mut Findings, dane: &[(String, mta_sts_net::dns::Tlsa)]) {
    for (host, tlsa) in dane {
        let message = if tlsa.authenticated {
            format!(
                "{host} publishes {} TLSA record{} validated with DNSSEC: DANE senders use them, and MTA-STS does not override DANE (RFC 8461 §2)",
                tlsa.records.len(),
                if tlsa.records.len() == 1 { "" } else { "s" }
            )
        } else {
            format!(
                "{host} publishes TLSA records, but the resolver did not validate them with DNSSEC (no AD bit): DANE senders ignore unvalidated TLSA"
            )
        };
        findings.add(
            FindingCode::MxDane,
            message,
            "nothing to change for MTA-STS; keep TLSA records in step with certificate renewals",
        );
    }
}

/// How an address class reads in a sentence.
fn class_name(class: mta_sts_net::address_guard::AddressClass) -> &'static str {
    use mta_sts_net::address_guard::AddressClass;
    match class {
        AddressClass::Unspecified => "unspecified",
        AddressClass::Loopback => "loopback",
        AddressClass::Private => "private (RFC 1918)",
        AddressClass::SharedCgnat => "carrier-grade NAT (RFC 6598)",
        AddressClass::LinkLocal => "link-local",
        AddressClass::UniqueLocal => "unique-local (RFC 4193)",
        AddressClass::Multicast => "multicast",
        _ => "reserved",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mta_sts_net::dns::Tlsa;

    #[test]
    fn a_servfail_among_answers_is_the_domains_fault_and_no_answer_is_not_learnt() {
        let lookups = |findings: &mut Findings, error: DnsError| {
            check_sts_record(findings, "_mta-sts.a.test", Err(error.clone()));
            check_tlsrpt_record(findings, "_smtp._tls.a.test", Err(error.clone()));
            check_mx_set(findings, "a.test", Err(error), true);
        };
        // The resolver answered the check's other names: the domain's own names fail.
        let mut working = Findings::new(true);
        lookups(&mut working, DnsError::ServFail);
        let (found, not_learnt) = working.into_parts();
        let codes: Vec<FindingCode> = found.iter().map(|f| f.code).collect();
        assert_eq!(
            codes,
            [
                FindingCode::StsRecordLookupFailed,
                FindingCode::MxLookupFailed
            ]
        );
        // No code says a TLS-RPT lookup failed, so none is guessed (no record to publish).
        assert_eq!(not_learnt.len(), 1);
        assert_eq!(not_learnt[0].section, Section::TlsRpt);

        // SERVFAIL for every name, or no answer at all, says nothing about the domain.
        for (answers, error) in [
            (false, DnsError::ServFail),
            (false, DnsError::Timeout),
            (true, DnsError::Timeout),
            (true, DnsError::Transport("connection refused".into())),
        ] {
            let mut findings = Findings::new(answers);
            lookups(&mut findings, error.clone());
            let (found, not_learnt) = findings.into_parts();
            assert!(found.is_empty(), "{error:?}: {found:#?}");
            let sections: Vec<Section> = not_learnt.iter().map(|n| n.section).collect();
            assert_eq!(
                sections,
                [Section::Records, Section::TlsRpt, Section::MxHosts],
                "{error:?}"
            );
            assert_eq!(
                not_learnt[2].to_string(),
                format!(
                    "could not learn the MX records of a.test: {}",
                    why_unanswered(&error)
                )
            );
        }
    }

    #[test]
    fn dane_is_described_with_its_validation_state() {
        let mut findings = Findings::default();
        let tlsa = |authenticated| Tlsa {
            records: vec!["3 1 1 AB".into()],
            authenticated,
        };
        check_dane(
            &mut findings,
            &[
                ("a.example".into(), tlsa(true)),
                ("b.example".into(), tlsa(false)),
                ("c.example (via mx1.provider.example)".into(), tlsa(true)),
            ],
        );
        let (findings, _) = findings.into_parts();
        assert_eq!(findings.len(), 3);
        assert!(
            findings.iter().all(
                |f| f.code == FindingCode::MxDane && f.severity == mta_sts_core::Severity::Info
            )
        );
        assert!(findings[0].message.contains("validated with DNSSEC"));
        assert!(findings[1].message.contains("did not validate"));
        assert!(findings[2].message.starts_with(
            "c.example (via mx1.provider.example) publishes 1 TLSA record validated with DNSSEC"
        ));
    }
}
