//! `--csv OUT`: one row per domain, for a spreadsheet, written as each result is.
//!
//! The quoting of RFC 4180 is written by hand: it is four rules, and the `csv` crate is neither
//! in the dependency tree nor in the list of proven dependencies.

use std::io::Write;

use serde_json::Value;

use super::summary::{Unchecked, policy_host_issuer};

/// The header row, in column order.
const HEADER: [&str; 10] = [
    "domain",
    "verdict",
    "outcome",
    "mode",
    "sts_id",
    "max_age",
    "mx_count",
    "findings",
    "policy_host_issuer",
    "error",
];

/// The CSV file of a scan.
pub struct CsvOut {
    file: std::io::BufWriter<std::fs::File>,
}

impl CsvOut {
    /// Creates (or empties) the file and writes the header: a resumed scan rewrites every row
    /// from the JSON lines it keeps, so rows are never written twice.
    pub fn create(path: &std::path::Path) -> std::io::Result<CsvOut> {
        let mut out = CsvOut {
            file: std::io::BufWriter::new(std::fs::File::create(path)?),
        };
        out.write_row(&HEADER.map(String::from))?;
        Ok(out)
    }

    /// Writes the row of one scan line (a `check --json` report or a time-out line).
    pub fn add(&mut self, line: &Value) -> std::io::Result<()> {
        self.write_row(&row(line))
    }

    fn write_row(&mut self, fields: &[String]) -> std::io::Result<()> {
        let mut text = fields
            .iter()
            .map(|field| quote(field))
            .collect::<Vec<_>>()
            .join(",");
        // RFC 4180 §2 (1): each record ends in CRLF.
        text.push_str("\r\n");
        self.file.write_all(text.as_bytes())?;
        // Flushed per row, as the JSON lines are, so an interrupted scan leaves whole rows.
        self.file.flush()
    }
}

/// The fields of one line, in [`HEADER`]'s order; a field the line does not have is empty.
fn row(line: &Value) -> [String; 10] {
    let text = |value: &Value| value.as_str().unwrap_or_default().to_string();
    let number = |value: &Value| value.as_u64().map(|n| n.to_string()).unwrap_or_default();
    let mut codes: Vec<&str> = line["findings"]
        .as_array()
        .map(|findings| findings.iter().filter_map(|f| f["code"].as_str()).collect())
        .unwrap_or_default();
    codes.sort_unstable();
    codes.dedup();
    // A time-out line's message, else why the check could not learn everything.
    let error = line["error"]["message"]
        .as_str()
        .or_else(|| line["incomplete"].as_str())
        .unwrap_or_default()
        .to_string();
    [
        text(&line["domain"]),
        text(&line["verdict"]),
        // An error line's outcome says why there is no report: `timed-out` or `given-up`.
        Unchecked::of(line).map_or_else(|| text(&line["outcome"]), |u| u.as_str().to_string()),
        text(&line["policy"]["mode"]),
        text(&line["sts_record"]["id"]),
        number(&line["policy"]["max_age"]),
        line["mx"]["hosts"]
            .as_array()
            .map(|hosts| hosts.len().to_string())
            .unwrap_or_default(),
        codes.join(" "),
        policy_host_issuer(line).unwrap_or_default(),
        error,
    ]
}

/// A field as RFC 4180 §2 (6, 7) writes it: in double quotes when it holds a comma, a quote or
/// a line break, with each quote doubled.
fn quote(field: &str) -> String {
    if field.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_with_commas_quotes_or_breaks_are_quoted() {
        assert_eq!(quote("plain.test"), "plain.test");
        assert_eq!(quote("a, b"), "\"a, b\"");
        assert_eq!(quote("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(quote("two\nlines"), "\"two\nlines\"");
        assert_eq!(quote(""), "");
    }

    #[test]
    fn a_report_and_a_time_out_make_rows_in_header_order() {
        let report = serde_json::json!({"domain": "a.test", "verdict": "fail",
            "outcome": "complete", "sts_record": {"id": "20260101"},
            "policy": {"mode": "enforce", "max_age": 604800,
                "fetch": {"certificate": {"chain": [{"issuer": "C=US, O=Let's Encrypt, CN=R11"}]}}},
            "mx": {"hosts": [[10, "mx1.a.test"], [20, "mx2.a.test"]]},
            "findings": [{"code": "mx-not-in-policy"}, {"code": "mx-cert-expired"},
                         {"code": "mx-not-in-policy"}]});
        assert_eq!(
            row(&report),
            [
                "a.test",
                "fail",
                "complete",
                "enforce",
                "20260101",
                "604800",
                "2",
                "mx-cert-expired mx-not-in-policy",
                "Let's Encrypt",
                ""
            ]
            .map(String::from)
        );
        let timed_out = serde_json::json!({"domain": "b.test",
            "error": {"code": "scan-check-timeout", "message": "The check of b.test, slow."}});
        let fields = row(&timed_out);
        assert_eq!(fields[0], "b.test");
        assert_eq!(fields[2], "timed-out");
        assert!(fields[1].is_empty(), "{fields:?}");
        assert!(fields[3..9].iter().all(String::is_empty), "{fields:?}");
        assert_eq!(fields[9], "The check of b.test, slow.");
        let given_up = serde_json::json!({"domain": "c.test",
            "error": {"code": "scan-worker-lost", "message": "Started 3 times."}});
        let fields = row(&given_up);
        assert_eq!(
            (fields[2].as_str(), fields[9].as_str()),
            ("given-up", "Started 3 times.")
        );
    }
}
