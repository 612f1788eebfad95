//! The HTML page, rendered with maud: every value from a report (policy bodies, TXT records,
//! certificate names, messages) is attacker-controlled and goes through maud's escaping. The
//! only unescaped strings are this module's own constant tags, which open an element in one
//! streamed chunk and close it in a later one.
//!
//! A result page is sent in three parts as the check proceeds: [`result_head`] at once, then
//! [`first_stage`] when the records and the policy are known, then [`second_stage`] (the MX
//! hosts, what to publish, the verdict) and [`document_end`]. The verdict is needed last but
//! shown first: the stylesheet moves it up (a flex column with `order`), with no script.

use std::time::Duration;

use maud::{DOCTYPE, Markup, PreEscaped, html};
use mta_sts_check::{CheckReport, Finding, FindingCode, NotLearnt, Outcome, Section, Verdict};
use mta_sts_net::{CertVerdict, MxProbe};

use crate::assets;

/// The form, with what was typed and why it was refused, if it was.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Form<'a> {
    /// The input's value.
    pub(crate) value: &'a str,
    /// The message shown under the input.
    pub(crate) error: Option<&'a str>,
}

/// The document up to and including the form; `<html>`, `<body>` and `<main>` stay open.
pub(crate) fn document_start(title: &str, form: Form<'_>) -> Markup {
    html! {
        (DOCTYPE)
        (PreEscaped("<html lang=\"en\">"))
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) }
            link rel="stylesheet" href=(assets::CSS.url());
            script src=(assets::JS.url()) defer {}
        }
        (PreEscaped("<body>"))
        header {
            h1 { a href="/" { "MTA-STS check" } }
            p.lede {
                "Checks a domain's MTA-STS (RFC 8461) and TLS reporting (RFC 8460) setup the way a \
                 sending mail server sees it."
            }
        }
        (PreEscaped("<main>"))
        form method="get" action="/" {
            label for="domain" { "Domain to check" }
            input #domain name="domain" type="text" value=(form.value) placeholder="example.com"
                autocomplete="off" autocapitalize="off" spellcheck="false" inputmode="url"
                required aria-invalid=[form.error.map(|_| "true")]
                aria-describedby=[form.error.map(|_| "domain-error")];
            button type="submit" { "Check" }
            @if let Some(error) = form.error {
                p #domain-error .form-error role="alert" { (error) }
            }
        }
    }
}

/// Closes what [`document_start`] opened.
pub(crate) fn document_end() -> Markup {
    html! {
        (PreEscaped("</main>"))
        footer {
            p {
                "Findings have stable codes. The same check as JSON: "
                code { "/api/v1/check?domain=" } " ("
                a href="/api/v1/openapi.json" { "OpenAPI description" } ")."
            }
        }
        (PreEscaped("</body></html>"))
    }
}

/// The page with only the form (and an explanation of the check).
pub(crate) fn form_page(form: Form<'_>) -> String {
    let body = html! {
        (document_start("MTA-STS check", form))
        @if form.error.is_none() {
            section.panel aria-labelledby="about" {
                h2 #about { "What is checked" }
                ul {
                    li { "the " code { "_mta-sts" } " TXT record and the policy it announces, fetched over HTTPS as senders do;" }
                    li { "each MX host: STARTTLS, TLS version, and whether its certificate is valid for its name;" }
                    li { "that the policy's " code { "mx" } " patterns match the real MX hosts;" }
                    li { "the " code { "_smtp._tls" } " TLS reporting record." }
                }
                p { "Every problem comes with what to change, and records to publish where they can be derived." }
            }
        }
        (document_end())
    };
    body.into_string()
}

/// A page with only a message (404).
pub(crate) fn message_page(title: &str, message: &str) -> String {
    html! {
        (document_start(title, Form::default()))
        section.panel aria-labelledby="message" {
            h2 #message { (title) }
            p { (message) }
            p { a href="/" { "Check a domain" } }
        }
        (document_end())
    }
    .into_string()
}

/// The permalink of a check.
fn permalink(domain: &str) -> String {
    // A normalised domain is letters, digits, `-` and `.`: nothing to percent-encode.
    format!("/?domain={domain}")
}

fn title(domain: &str) -> String {
    format!("{domain}: MTA-STS check")
}

/// The first part of a result page: the document head, the form, and the opened result area
/// with a status line while the check runs.
pub(crate) fn result_head(domain: &str, running: bool) -> Markup {
    html! {
        (document_start(&title(domain), Form { value: domain, error: None }))
        (PreEscaped("<div class=\"result\">"))
        p.subject {
            "Results for " strong { (domain) } " · "
            a href=(permalink(domain)) { "permalink" } " · "
            a href={ "/api/v1/check?domain=" (domain) } { "JSON" }
            // The verdict comes last in the document, for screen readers too.
            a.skip href="#verdict" { " · skip to the verdict" }
        }
        @if running {
            p.status role="status" { "Checking " (domain) ": looking up its records and fetching its policy…" }
        }
    }
}

/// Closes the result area and the document.
pub(crate) fn result_end() -> Markup {
    html! {
        (PreEscaped("</div>"))
        (document_end())
    }
}

/// The sections known after [`mta_sts_check::Checker::start`]: the MTA-STS record, the policy
/// and TLS reporting. With `probing`, a status line for the MX probes that follow.
pub(crate) fn first_stage(report: &CheckReport, probing: bool) -> Markup {
    let hosts = report.mx.as_ref().map_or(0, |mx| mx.hosts.len());
    if report.outcome == Outcome::NoSuchDomain {
        // Nothing exists to show section by section; the verdict says why.
        return html! {};
    }
    html! {
        (section(report, Section::Records, records_seen(report)))
        (section(report, Section::Policy, policy_seen(report)))
        (section(report, Section::TlsRpt, tlsrpt_seen(report)))
        @if probing && hosts > 0 {
            p.status role="status" {
                "Checking " (hosts) " MX host" @if hosts != 1 { "s" } ": STARTTLS and certificates…"
            }
        }
    }
}

/// The parts known after [`mta_sts_check::Checker::finish`]: the MX hosts, what to publish,
/// the limits of the check, and the verdict banner (last in the document, first on screen).
/// `age` is set for a report served from the cache.
pub(crate) fn second_stage(report: &CheckReport, age: Option<Duration>) -> Markup {
    html! {
        @if report.outcome != Outcome::NoSuchDomain {
            (section(report, Section::MxHosts, mx_seen(report)))
        }
        (publish(report))
        section.panel #limits aria-labelledby="limits-title" {
            h2 #limits-title { "Limits of this check" }
            p { (mta_sts_check::CANNOT_PROVE) }
        }
        (verdict(report, age))
    }
}

/// What the page shows when the time limit cut the check off.
pub(crate) fn timed_out(limit: Duration) -> Markup {
    html! {
        section #check-error .panel .check-error role="alert" aria-labelledby="check-error-title" {
            h2 #check-error-title { "The check did not finish" }
            p {
                "It was stopped after " (crate::error::whole_seconds(limit)) " s: a host answered \
                 too slowly or not at all. What is shown above was found before the limit. This \
                 says nothing certain about the domain; try again later."
            }
        }
    }
}

/// The whole result page for a finished report, in one piece (a cached answer).
pub(crate) fn complete(report: &CheckReport, age: Option<Duration>) -> String {
    html! {
        (result_head(&report.domain, false))
        (first_stage(report, false))
        (second_stage(report, age))
        (result_end())
    }
    .into_string()
}

fn section_id(section: Section) -> &'static str {
    match section {
        Section::Records => "records",
        Section::Policy => "policy",
        Section::MxHosts => "mx-hosts",
        Section::TlsRpt => "tls-reporting",
    }
}

fn section(report: &CheckReport, section: Section, seen: Markup) -> Markup {
    let view = report.section(section);
    let findings = view.findings;
    let mark = view.status.as_str();
    let id = section_id(section);
    // MX findings that name a host are shown with that host; the others with the section.
    let hosts: Vec<&str> = if section == Section::MxHosts {
        report
            .mx
            .iter()
            .flat_map(|mx| mx.hosts.iter().map(|(_, host)| host.as_str()))
            .collect()
    } else {
        Vec::new()
    };
    let general: Vec<&Finding> = findings
        .iter()
        .copied()
        .filter(|f| host_of(&f.message, &hosts).is_none())
        .collect();
    let not_learnt: Vec<&NotLearnt> = view
        .not_learnt
        .iter()
        .copied()
        .filter(|n| host_of(&n.what, &hosts).is_none())
        .collect();
    html! {
        section.check id=(id) data-mark=(mark) aria-labelledby=(format!("{id}-title")) {
            h2 id=(format!("{id}-title")) {
                (section.title()) " " span class=(format!("mark mark-{mark}")) { (mark) }
            }
            (seen)
            (not_learnt_list(&not_learnt))
            @if section == Section::MxHosts {
                (mx_hosts(report, &findings, &view.not_learnt, &hosts))
            }
            (finding_list(&general))
        }
    }
}

/// What could not be learnt, said as such: no finding, no fix.
fn not_learnt_list(items: &[&NotLearnt]) -> Markup {
    html! {
        @if !items.is_empty() {
            ul.not-learnt {
                @for item in items {
                    li { "Could not learn " (inline_code(&item.what)) ": " (item.why) "." }
                }
            }
        }
    }
}

/// The MX host a sentence names, if any.
fn host_of<'h>(text: &str, hosts: &[&'h str]) -> Option<&'h str> {
    hosts
        .iter()
        .copied()
        .filter(|host| names(text, host))
        .max_by_key(|host| host.len())
}

/// Whether `text` contains `name` as a whole name: `mx.a.test` is not named by
/// `mail.mx.a.test` or `mx.a.test.example`, but is by "… mx.a.test." at the end of a sentence.
fn names(text: &str, name: &str) -> bool {
    let name_char = |c: char| c.is_ascii_alphanumeric() || c == '-';
    text.match_indices(name).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let mut after = text[at + name.len()..].chars();
        let starts = before.is_none_or(|c| !name_char(c) && c != '.');
        let ends = match after.next() {
            None => true,
            Some('.') => after.next().is_none_or(|c| !name_char(c)),
            Some(c) => !name_char(c),
        };
        starts && ends
    })
}

fn finding_list(findings: &[&Finding]) -> Markup {
    html! {
        @if !findings.is_empty() {
            ul.findings {
                @for finding in findings {
                    li class=(format!("finding sev-{}", finding.severity.as_str())) data-code=(finding.code) {
                        p {
                            span.sev { (finding.severity.as_str()) } " "
                            code.code { (finding.code) } ": "
                            (inline_code(&finding.message))
                        }
                        p.fix { strong { "Fix:" } " " (inline_code(&finding.remediation)) }
                    }
                }
            }
        }
    }
}

/// Text in which `backquoted` parts are code, as the checker writes its messages.
fn inline_code(text: &str) -> Markup {
    html! {
        @for (i, part) in text.split('`').enumerate() {
            @if i % 2 == 1 { code { (part) } } @else { (part) }
        }
    }
}

fn records_seen(report: &CheckReport) -> Markup {
    // What was not learnt is said instead of "no usable record".
    if !report.section(Section::Records).not_learnt.is_empty() {
        return html! {};
    }
    html! {
        dl.seen {
            dt { code { "_mta-sts." (report.domain) } }
            dd {
                @match &report.sts_record {
                    Some(record) => { code { (record) } },
                    None => { "no usable record" },
                }
            }
        }
    }
}

fn tlsrpt_seen(report: &CheckReport) -> Markup {
    // What was not learnt is said instead of "no usable record".
    if !report.section(Section::TlsRpt).not_learnt.is_empty() {
        return html! {};
    }
    html! {
        dl.seen {
            dt { code { "_smtp._tls." (report.domain) } }
            dd {
                @match &report.tlsrpt_record {
                    Some(record) => { code { (record) } },
                    None => { "no usable record" },
                }
            }
        }
    }
}

fn policy_seen(report: &CheckReport) -> Markup {
    // What was not learnt is said instead of "not fetched".
    if !report.section(Section::Policy).not_learnt.is_empty() {
        return html! {};
    }
    let id = report.sts_record.as_ref().map(|r| r.id.as_str());
    html! {
        @match (&report.policy, &report.policy_error) {
            (Some(policy), _) => {
                @let fetch = &policy.fetch;
                dl.seen {
                    dt { "URL" } dd { code { (policy.url) } }
                    dt { "Served by" }
                    dd { (fetch.address) ", " (fetch.tls_version) ", " code { (fetch.content_type) } }
                    @if !fetch.cname_chain.is_empty() {
                        dt { "CNAMEs" } dd { (fetch.cname_chain.join(" → ")) }
                    }
                    dt { "Certificate" } dd { (certificate(&fetch.certificate)) }
                    @if let (Some(mode), Some(max_age)) = (policy.mode, policy.max_age) {
                        dt { "Mode" } dd { strong { (mode) } }
                        dt { "max_age" } dd { (max_age) " s (" (days(max_age)) ")" }
                        dt { "mx" } dd {
                            @for (i, pattern) in policy.mx.iter().enumerate() {
                                @if i > 0 { ", " } code { (pattern) }
                            }
                        }
                    } @else {
                        dt { "Mode" } dd { "none: the policy is invalid" }
                    }
                    dt { "sha256" }
                    dd {
                        code.hash { (policy.sha256) } " beside TXT id "
                        code { (id.unwrap_or("none")) }
                        ": change the id whenever this hash changes."
                    }
                }
                h3 { "The policy as served" }
                pre.copy.policy-body { (policy.text) }
            },
            (None, Some(error)) => { p.seen { "Not fetched: " (error) } },
            (None, None) => { p.seen { "Not fetched." } },
        }
    }
}

fn days(seconds: u32) -> String {
    let days = seconds / 86_400;
    match days {
        0 => "less than a day".to_string(),
        1 => "1 day".to_string(),
        n => format!("{n} days"),
    }
}

fn certificate(verdict: &CertVerdict) -> Markup {
    let mut faults = Vec::new();
    if !verdict.trusted {
        faults.push("not trusted");
    }
    if !verdict.name_matches {
        faults.push("not for this name");
    }
    if verdict.expired {
        faults.push("expired");
    }
    if verdict.not_yet_valid {
        faults.push("not yet valid");
    }
    let names = verdict
        .chain
        .first()
        .map(|leaf| leaf.dns_names.join(", "))
        .unwrap_or_default();
    html! {
        @if faults.is_empty() { "valid" } @else { strong { "invalid" } " (" (faults.join(", ")) ")" }
        @if let Some(days) = verdict.days_left { ", " (days) " days left" }
        @if !names.is_empty() { ", for " code { (names) } }
    }
}

fn mx_seen(report: &CheckReport) -> Markup {
    html! {
        @match &report.mx {
            Some(mx) if mx.null_mx => { p.seen { "Null MX: the domain accepts no mail." } },
            Some(mx) if mx.hosts.is_empty() => { p.seen { "No MX hosts." } },
            Some(_) => {},
            // What was not learnt, or the failed lookup, is said by the section itself.
            None if !report.section(Section::MxHosts).not_learnt.is_empty()
                || report.has(FindingCode::MxLookupFailed) => {},
            None => { p.seen { "No MX records." } },
        }
    }
}

fn mx_hosts(
    report: &CheckReport,
    findings: &[&Finding],
    not_learnt: &[&NotLearnt],
    hosts: &[&str],
) -> Markup {
    let Some(mx) = &report.mx else {
        return html! {};
    };
    html! {
        @for (preference, host) in &mx.hosts {
            @let probe = report.mx_hosts.iter().find(|p| &p.host == host);
            @let own: Vec<&Finding> = findings.iter().copied()
                .filter(|f| host_of(&f.message, hosts) == Some(host.as_str())).collect();
            @let unknown: Vec<&NotLearnt> = not_learnt.iter().copied()
                .filter(|n| host_of(&n.what, hosts) == Some(host.as_str())).collect();
            @let mark = Verdict::judge(own.iter().copied(), !unknown.is_empty()).as_str();
            article.mx {
                h3 { code { (host) } " " span class=(format!("mark mark-{mark}")) { (mark) } }
                dl.seen {
                    dt { "Preference" } dd { (preference) }
                    @match probe {
                        Some(probe) => { (probe_details(probe)) },
                        None => { dt { "Probe" } dd { "not probed" } },
                    }
                }
                (not_learnt_list(&unknown))
                (finding_list(&own))
            }
        }
    }
}

fn probe_details(probe: &MxProbe) -> Markup {
    html! {
        dt { "Address" }
        dd {
            @match probe.address {
                Some(address) => { (address.ip()) },
                None => {
                    @if probe.addresses.is_empty() { "none" } @else {
                        (probe.addresses.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))
                        " (none connected)"
                    }
                },
            }
        }
        dt { "STARTTLS" } dd { @if probe.starttls_offered { "offered" } @else { "not offered" } }
        @if let Some(tls) = &probe.tls {
            dt { "TLS" } dd { (tls.version) ", " (tls.cipher) }
            dt { "Certificate" } dd { (certificate(&tls.certificate)) }
        }
        @if let Some(error) = &probe.error {
            dt { "Stopped" } dd { (error) }
        }
    }
}

fn publish(report: &CheckReport) -> Markup {
    let publish = &report.publish;
    html! {
        @if publish.sts_record.is_some() || publish.policy.is_some() || publish.tlsrpt_record.is_some() {
            section.panel #publish aria-labelledby="publish-title" {
                h2 #publish-title { "To publish" }
                p { "These clear the errors above. Any change of the policy needs a new TXT id, so the record below has a fresh one." }
                @if let Some(record) = &publish.sts_record {
                    h3 { "MTA-STS TXT record" }
                    pre.copy { (record) }
                }
                @if let Some(policy) = &publish.policy {
                    h3 { "Policy file" }
                    p {
                        "Serve at " code { "https://mta-sts." (report.domain) "/.well-known/mta-sts.txt" }
                        " with " code { "Content-Type: text/plain" } ":"
                    }
                    pre.copy { (policy) }
                }
                @if let Some(record) = &publish.tlsrpt_record {
                    h3 { "TLS-RPT TXT record" }
                    pre.copy { (record) }
                }
            }
        }
    }
}

fn verdict(report: &CheckReport, age: Option<Duration>) -> Markup {
    let verdict = report.verdict.as_str();
    let summary = report.summary();
    let policy = report.policy.as_ref().filter(|p| p.mode.is_some());
    html! {
        section #verdict class=(format!("verdict verdict-{verdict}")) data-verdict=(verdict)
            aria-labelledby="verdict-title" {
            h2 #verdict-title {
                span class=(format!("mark mark-{verdict}")) { (verdict) } " "
                (report.domain) ": " (summary)
            }
            @if let Some(reason) = &report.incomplete {
                p.incomplete {
                    strong { "The check could not be completed: " } (inline_code(reason)) "."
                }
            }
            @if let Some(policy) = policy {
                p {
                    "Policy mode " strong { (policy.mode.map(|m| m.to_string()).unwrap_or_default()) }
                    ", max_age " (policy.max_age.unwrap_or(0)) " s (" (days(policy.max_age.unwrap_or(0))) ")."
                }
            }
            p {
                "Checked in " (report.timings_ms.total) " ms"
                @if let Some(age) = age { ", " (age.as_secs()) " s ago (from the cache)" }
                ". " a href=(permalink(&report.domain)) { "Permalink" }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_is_named_only_as_a_whole_name() {
        for (text, named) in [
            ("the certificate of mx.a.test is for x", true),
            ("cannot connect to mx.a.test.", true),
            ("mx.a.test", true),
            ("(mx.a.test)", true),
            ("`mx: mail.mx.a.test` matches none", false),
            ("mx.a.test.example answers", false),
            ("mx.a.test-2 answers", false),
            ("*.mx.a.test", false),
        ] {
            assert_eq!(names(text, "mx.a.test"), named, "{text}");
        }
    }
}
