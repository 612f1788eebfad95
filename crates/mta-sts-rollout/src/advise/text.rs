//! The advisor's words: counts with their nouns, days as people say them (`Dec 3–5`), lists,
//! and the sentence naming a group of failures.

use std::fmt::Write as _;

use mta_sts_core::time::UtcDate;
use mta_sts_net::CertVerdict;

use crate::advice::FailureEvidence;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Text from a stranger (a report's organisation name, MX host name or result type, a
/// certificate's names) as it may appear in a sentence: control characters (line breaks,
/// terminal escapes) and bidirectional overrides written as `\u{1b}`, so a message stays one
/// line that says what it seems to say, in a terminal, a log or a mail.
pub(crate) fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// [`clean`] over a list.
pub(crate) fn clean_all(items: &[String]) -> Vec<String> {
    items.iter().map(|item| clean(item)).collect()
}

/// `1 day`, `3 days`.
pub(crate) fn count_noun(count: u64, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

/// (year, month 1–12, day) of a date, from its RFC 3339 `full-date`.
fn parts(day: UtcDate) -> (String, usize, u32) {
    let text = day.to_string();
    let mut fields = text.splitn(3, '-');
    let year = fields.next().unwrap_or_default().to_string();
    let month = fields.next().and_then(|m| m.parse().ok()).unwrap_or(1);
    let date = fields.next().and_then(|d| d.parse().ok()).unwrap_or(1);
    (year, month, date)
}

fn month(number: usize) -> &'static str {
    MONTHS[number.clamp(1, 12) - 1]
}

/// `Dec 3`.
pub(crate) fn day(day: UtcDate) -> String {
    let (_, m, d) = parts(day);
    format!("{} {d}", month(m))
}

/// `Dec 3`, `Dec 3–5`, `Nov 30–Dec 2`, `Dec 30, 2026–Jan 2, 2027`: a range of days as the issue
/// words it, the years named only when the range crosses one.
pub(crate) fn day_range(first: UtcDate, last: UtcDate) -> String {
    if first == last {
        return day(first);
    }
    let (fy, fm, fd) = parts(first);
    let (ly, lm, ld) = parts(last);
    if fy != ly {
        format!("{} {fd}, {fy}–{} {ld}, {ly}", month(fm), month(lm))
    } else if fm == lm {
        format!("{} {fd}–{ld}", month(fm))
    } else {
        format!("{} {fd}–{} {ld}", month(fm), month(lm))
    }
}

/// Days as runs: `Dec 1–3, Dec 5, Dec 7`.
pub(crate) fn day_list(days: &[UtcDate]) -> String {
    let mut runs: Vec<(UtcDate, UtcDate)> = Vec::new();
    for &d in days {
        match runs.last_mut() {
            Some((_, last)) if last.day_number() + 1 == d.day_number() => *last = d,
            _ => runs.push((d, d)),
        }
    }
    runs.into_iter()
        .map(|(first, last)| day_range(first, last))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `a`, `a and b`, `a, b and c`; `none` for nothing.
pub(crate) fn list(items: &[String]) -> String {
    match items {
        [] => "none".to_string(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// `0.25 %` from 0.0025.
pub(crate) fn percent(rate: f64) -> String {
    let value = rate * 100.0;
    if value >= 10.0 || value == value.trunc() {
        format!("{value:.0} %")
    } else {
        format!("{value:.2} %")
    }
}

/// `mx2.example.com failed `certificate-host-mismatch` in 31 sessions from 2 reporters on Dec
/// 3–5`: the words of the issue.
pub(crate) fn failure(group: &FailureEvidence) -> String {
    let who = group.receiving_mx_hostname.as_deref().map_or_else(
        || "an MX the reports did not name".to_string(),
        |h| clean(h.trim_end_matches('.')),
    );
    format!(
        "{who} failed `{}` in {} from {} ({}) on {}",
        clean(&group.result_type),
        count_noun(group.sessions, "session", "sessions"),
        count_noun(group.organizations.len() as u64, "reporter", "reporters"),
        clean_all(&group.organizations).join(", "),
        day_range(group.first_day, group.last_day)
    )
}

/// Why a sender refuses a certificate: `its certificate names mail.example.net`.
pub(crate) fn certificate_fault(cert: &CertVerdict, host: &str) -> String {
    let names = cert
        .chain
        .first()
        .map(|leaf| leaf.dns_names.clone())
        .unwrap_or_default();
    let mut faults = Vec::new();
    if !cert.name_matches {
        faults.push(if names.is_empty() {
            format!("its certificate names no DNS name, not {host}")
        } else {
            format!("its certificate names {}", list(&clean_all(&names)))
        });
    }
    if cert.expired {
        faults.push("its certificate has expired".to_string());
    }
    if cert.not_yet_valid {
        faults.push("its certificate is not yet valid".to_string());
    }
    if !cert.trusted {
        faults.push(match &cert.trust_error {
            Some(why) => format!("its certificate is not trusted ({why})"),
            None => "its certificate chains to no trusted root".to_string(),
        });
    }
    if faults.is_empty() {
        faults.push("its certificate is valid".to_string());
    }
    list(&faults)
}

/// What makes a certificate acceptable.
pub(crate) fn certificate_fix(cert: &CertVerdict, host: &str) -> String {
    if !cert.name_matches || !cert.trusted {
        format!("install on {host} a certificate for {host} from a public CA")
    } else {
        format!("renew the certificate of {host}, and automate renewal")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> UtcDate {
        UtcDate::parse(text).expect("a date")
    }

    #[test]
    fn ranges_read_as_people_say_them() {
        assert_eq!(day_range(date("2026-12-03"), date("2026-12-03")), "Dec 3");
        assert_eq!(day_range(date("2026-12-03"), date("2026-12-05")), "Dec 3–5");
        assert_eq!(
            day_range(date("2026-11-30"), date("2026-12-02")),
            "Nov 30–Dec 2"
        );
        assert_eq!(
            day_range(date("2026-12-30"), date("2027-01-02")),
            "Dec 30, 2026–Jan 2, 2027"
        );
        let days = [
            "2026-12-01",
            "2026-12-02",
            "2026-12-03",
            "2026-12-05",
            "2026-12-07",
        ]
        .map(date);
        assert_eq!(day_list(&days), "Dec 1–3, Dec 5, Dec 7");
    }

    #[test]
    fn strangers_text_stays_one_honest_line() {
        assert_eq!(clean("Google Inc."), "Google Inc.");
        assert_eq!(
            clean("Evil\n\u{1b}[2JCorp\u{202e}moc"),
            "Evil\\u{a}\\u{1b}[2JCorp\\u{202e}moc"
        );
        let group = FailureEvidence {
            policy_type: "sts".to_string(),
            result_type: "x\ry".to_string(),
            receiving_mx_hostname: Some("mx\n.example.com".to_string()),
            sessions: 2,
            organizations: vec!["A\tB".to_string()],
            first_day: date("2026-12-05"),
            last_day: date("2026-12-05"),
        };
        let sentence = failure(&group);
        assert!(!sentence.chars().any(char::is_control), "{sentence}");
        assert_eq!(
            sentence,
            "mx\\u{a}.example.com failed `x\\u{d}y` in 2 sessions from 1 reporter (A\\u{9}B) on Dec 5"
        );
    }

    #[test]
    fn lists_and_counts() {
        assert_eq!(list(&[]), "none");
        assert_eq!(list(&["a".to_string()]), "a");
        assert_eq!(
            list(&["a".to_string(), "b".to_string(), "c".to_string()]),
            "a, b and c"
        );
        assert_eq!(count_noun(1, "day", "days"), "1 day");
        assert_eq!(count_noun(0, "day", "days"), "0 days");
        assert_eq!(percent(0.0025), "0.25 %");
        assert_eq!(percent(0.5), "50 %");
        assert_eq!(percent(0.0), "0 %");
    }

    #[test]
    fn a_failure_group_reads_like_the_issue() {
        let group = FailureEvidence {
            policy_type: "sts".to_string(),
            result_type: "certificate-host-mismatch".to_string(),
            receiving_mx_hostname: Some("mx2.example.com".to_string()),
            sessions: 31,
            organizations: vec![
                "Google LLC".to_string(),
                "Microsoft Corporation".to_string(),
            ],
            first_day: date("2026-12-03"),
            last_day: date("2026-12-05"),
        };
        assert_eq!(
            failure(&group),
            "mx2.example.com failed `certificate-host-mismatch` in 31 sessions from 2 reporters \
             (Google LLC, Microsoft Corporation) on Dec 3–5"
        );
        let unnamed = FailureEvidence {
            receiving_mx_hostname: None,
            sessions: 1,
            organizations: vec!["Mail.Ru".to_string()],
            first_day: date("2026-12-05"),
            ..group
        };
        assert_eq!(
            failure(&unnamed),
            "an MX the reports did not name failed `certificate-host-mismatch` in 1 session from \
             1 reporter (Mail.Ru) on Dec 5"
        );
    }
}
