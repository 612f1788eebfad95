//! `--html OUT`: the scan's summary as one self-contained page (no script, no external style,
//! font or image), so it can be mailed or archived as a single file.
//!
//! The chart is SVG drawn by hand in maud, as the dashboard's charts are
//! (mta-sts-serve's `dashboard/chart.rs`): each bar is a `<g class="bar" data-group="..."
//! data-key="...">` with a `<title>`, readable by tests and screen readers, and every string
//! (finding codes, issuer names, host names come from the scanned internet) goes through
//! maud, so it is escaped as HTML.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::summary::{HostVia, NameCount, Summary, Unchecked};

/// The chart's size, in SVG units (the page scales it to its width).
const WIDTH: f64 = 760.0;
/// The label column left of the bars.
const LABEL_WIDTH: f64 = 250.0;
/// The longest bar; the count is written after it.
const BAR_SPACE: f64 = 430.0;
const ROW: f64 = 22.0;
const HEADING: f64 = 30.0;
/// Finding codes drawn in the chart (all are in the table).
const TOP_CODES: usize = 10;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:60em;\
padding:0 1em;color:#1d1d1f}table{border-collapse:collapse;margin:.5em 0 1.5em}\
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}td.n{text-align:right}\
svg{max-width:100%;height:auto}svg text{font-size:13px;fill:#1d1d1f}\
svg .heading{font-weight:bold}";

/// One bar of the chart.
struct Bar<'a> {
    key: &'a str,
    count: usize,
    colour: &'static str,
}

/// One group of bars under a heading.
struct Group<'a> {
    key: &'static str,
    heading: &'static str,
    bars: Vec<Bar<'a>>,
}

/// The whole page for a finished summary.
pub fn report(summary: &Summary) -> String {
    let groups = chart_groups(summary);
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "mta-sts scan: " (summary.domains) " domains" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { "mta-sts scan: " (summary.domains) " domains" }
                p {
                    (summary.domains) " domains scanned; "
                    (summary.timed_out) " did not finish within the time limit"
                    @if summary.given_up > 0 {
                        "; " (summary.given_up) " were given up after --max-attempts workers \
                        were lost on each"
                    }
                    "."
                }
                (chart(&groups))
                h2 { "Verdicts" }
                (count_table("verdicts", "Verdict", summary.verdicts.iter().map(|(k, v)| (k.as_str(), *v))))
                h2 { "Outcomes" }
                (count_table("outcomes", "Outcome", outcomes(summary)))
                h2 { "Adoption" }
                table id="adoption" {
                    tr { th { "Published" } th { "Domains" } }
                    tr { td { "_mta-sts record" } td.n { (summary.adoption.sts_record) } }
                    tr { td { "_smtp._tls record" } td.n { (summary.adoption.tlsrpt_record) } }
                    @for (mode, n) in &summary.adoption.modes {
                        tr { td { "policy in mode " (mode) } td.n { (n) } }
                    }
                }
                h2 { "Findings" }
                (count_table("findings", "Finding code", summary.findings.iter().map(|c| (c.code.as_str(), c.domains))))
                h2 { "Certificate issuers" }
                h3 { "Policy hosts" }
                (count_table("issuers-policy-host", "Issuer", names(&summary.certificate_issuers.policy_host)))
                h3 { "MX hosts" }
                (count_table("issuers-mx", "Issuer", names(&summary.certificate_issuers.mx)))
                h2 { "Policy hosts" }
                table id="policy-hosts" {
                    tr { th { "Served by" } th { "Found through" } th { "Domains" } }
                    @for host in &summary.policy_hosts {
                        tr {
                            td { (host.host) }
                            td { @match host.via { HostVia::Cname => "CNAME", HostVia::Address => "address" } }
                            td.n { (host.domains) }
                        }
                    }
                }
            }
        }
    };
    page.into_string()
}

/// The outcomes of the reports, then the domains without one (named as the CSV's `outcome`
/// column names them), those only when there are some.
fn outcomes(summary: &Summary) -> impl Iterator<Item = (&str, usize)> {
    let unchecked = [
        (Unchecked::TimedOut, summary.timed_out),
        (Unchecked::GivenUp, summary.given_up),
    ];
    summary
        .outcomes
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .chain(
            unchecked
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .map(|(u, n)| (u.as_str(), n)),
        )
}

fn names(counts: &[NameCount]) -> impl Iterator<Item = (&str, usize)> {
    counts.iter().map(|c| (c.name.as_str(), c.domains))
}

/// A two-column table of names and domain counts.
fn count_table<'a>(
    id: &str,
    heading: &str,
    rows: impl Iterator<Item = (&'a str, usize)>,
) -> Markup {
    html! {
        table id=(id) {
            tr { th { (heading) } th { "Domains" } }
            @for (name, n) in rows {
                tr { td { (name) } td.n { (n) } }
            }
        }
    }
}

/// The chart's groups: verdicts, policy modes and the most frequent finding codes.
fn chart_groups(summary: &Summary) -> Vec<Group<'_>> {
    let verdict_colour = |verdict: &str| match verdict {
        "pass" => "#3a9a5b",
        "warn" => "#d9a21b",
        "fail" => "#c8453b",
        _ => "#8a8a8a",
    };
    vec![
        Group {
            key: "verdicts",
            heading: "Verdicts",
            bars: summary
                .verdicts
                .iter()
                .map(|(key, &count)| Bar {
                    key,
                    count,
                    colour: verdict_colour(key),
                })
                .collect(),
        },
        Group {
            key: "modes",
            heading: "Policy modes",
            bars: summary
                .adoption
                .modes
                .iter()
                .map(|(key, &count)| Bar {
                    key,
                    count,
                    colour: "#4a78b5",
                })
                .collect(),
        },
        Group {
            key: "findings",
            heading: "Most frequent findings",
            bars: summary
                .findings
                .iter()
                .take(TOP_CODES)
                .map(|code| Bar {
                    key: &code.code,
                    count: code.domains,
                    colour: "#8a5ab5",
                })
                .collect(),
        },
    ]
}

/// The groups as one horizontal bar chart, all drawn to one scale (the longest bar of any
/// group is the full length), so bars compare across groups.
fn chart(groups: &[Group<'_>]) -> Markup {
    let full = groups
        .iter()
        .flat_map(|g| g.bars.iter().map(|b| b.count))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let mut y = 0.0;
    let mut placed = Vec::new();
    for group in groups {
        let heading_y = y + HEADING - 10.0;
        y += HEADING;
        let mut bars = Vec::new();
        for bar in &group.bars {
            bars.push((y, bar));
            y += ROW;
        }
        if group.bars.is_empty() {
            y += ROW;
        }
        placed.push((heading_y, group, bars));
    }
    let height = y + 8.0;
    html! {
        svg xmlns="http://www.w3.org/2000/svg" role="img" width=(WIDTH) height=(height)
            viewBox={ "0 0 " (WIDTH) " " (height) } {
            title { "Verdicts, policy modes and the most frequent findings of the scan" }
            @for (heading_y, group, bars) in &placed {
                g class="group" data-group=(group.key) {
                    text class="heading" x="0" y=(heading_y) { (group.heading) }
                    @if bars.is_empty() {
                        text x=(LABEL_WIDTH) y=(heading_y + ROW) { "none" }
                    }
                    @for (bar_y, bar) in bars {
                        @let length = (bar.count as f64 / full * BAR_SPACE).max(1.0);
                        g class="bar" data-group=(group.key) data-key=(bar.key) data-count=(bar.count) {
                            title { (bar.key) ": " (bar.count) " domains" }
                            text x=(LABEL_WIDTH - 8.0) y=(bar_y + 15.0) text-anchor="end" { (bar.key) }
                            rect x=(LABEL_WIDTH) y=(bar_y + 3.0) width=(format!("{length:.1}"))
                                height=(ROW - 6.0) fill=(bar.colour) {}
                            text x=(LABEL_WIDTH + length + 6.0) y=(bar_y + 15.0) { (bar.count) }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_from_the_scan_are_escaped_in_tables_and_chart() {
        let mut summary = Summary::default();
        summary.add(&serde_json::json!({"domain": "a.test", "verdict": "fail",
            "outcome": "complete", "policy": {"mode": "enforce", "fetch": {
                "address": "192.0.2.1:443", "cname_chain": [],
                "certificate": {"chain": [{"issuer": "O=<script>alert(1)</script>"}]}}},
            "findings": [{"code": "x\"><b onclick=y>"}]}));
        let page = report(&summary.finish());
        assert!(!page.contains("<script>"), "{page}");
        assert!(!page.contains("<b "), "{page}");
        assert!(
            page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{page}"
        );
        assert!(
            page.contains("data-key=\"x&quot;&gt;&lt;b onclick=y&gt;\""),
            "{page}"
        );
        assert!(page.contains("data-group=\"verdicts\" data-key=\"fail\" data-count=\"1\""));
        assert!(!page.contains("given up"), "{page}");
        // Self-contained: nothing is fetched from elsewhere.
        for external in ["src=", "href=", "<link", "@import", "url("] {
            assert!(!page.contains(external), "{external} in {page}");
        }
    }

    #[test]
    fn domains_given_up_show_apart_from_time_outs() {
        let mut summary = Summary::default();
        summary.add(&serde_json::json!({"domain": "a.test", "verdict": "pass",
            "outcome": "complete"}));
        summary.add(&serde_json::json!({"domain": "b.test",
            "error": {"code": "scan-worker-lost", "message": "given up"}}));
        let page = report(&summary.finish());
        assert!(
            page.contains("0 did not finish within the time limit; 1 were given up"),
            "{page}"
        );
        assert!(
            page.contains("<td>given-up</td><td class=\"n\">1</td>"),
            "{page}"
        );
        assert!(
            page.contains("<td>complete</td><td class=\"n\">1</td>"),
            "{page}"
        );
        assert!(!page.contains("<td>timed-out</td>"), "{page}");
    }
}
