//! `--summary-json`: what a whole scan found, counted from its JSON lines (so a resumed scan's
//! earlier lines count the same as this run's).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

/// Counts over every line of a scan.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    /// Lines counted (one per domain).
    pub domains: usize,
    /// Domains whose check did not finish within `--check-timeout`.
    pub timed_out: usize,
    /// Domains by verdict (`pass`, `warn`, `fail`).
    pub verdicts: BTreeMap<String, usize>,
    /// Domains by outcome (`complete`, `incomplete`, `no-such-domain`).
    pub outcomes: BTreeMap<String, usize>,
    /// How many publish MTA-STS and TLS-RPT, and in which mode.
    pub adoption: Adoption,
    /// Each finding code with the number of domains that have it, most frequent first.
    pub findings: Vec<CodeCount>,
    #[serde(skip)]
    codes: BTreeMap<String, usize>,
}

/// Adoption counts.
#[derive(Debug, Default, Serialize)]
pub struct Adoption {
    /// Domains with a usable `_mta-sts` record.
    pub sts_record: usize,
    /// Domains with a usable `_smtp._tls` record.
    pub tlsrpt_record: usize,
    /// Domains whose fetched policy is valid, by mode.
    pub modes: BTreeMap<String, usize>,
}

/// A finding code and the number of domains that have it.
#[derive(Debug, Serialize)]
pub struct CodeCount {
    /// The finding's stable code.
    pub code: String,
    /// Domains with at least one finding of this code.
    pub domains: usize,
}

impl Summary {
    /// Counts one line of the scan's output.
    pub fn add(&mut self, line: &Value) {
        self.domains += 1;
        if line.get("error").is_some() {
            self.timed_out += 1;
            return;
        }
        let count = |map: &mut BTreeMap<String, usize>, value: &Value| {
            if let Some(text) = value.as_str() {
                *map.entry(text.to_string()).or_default() += 1;
            }
        };
        count(&mut self.verdicts, &line["verdict"]);
        count(&mut self.outcomes, &line["outcome"]);
        count(&mut self.adoption.modes, &line["policy"]["mode"]);
        self.adoption.sts_record += usize::from(!line["sts_record"].is_null());
        self.adoption.tlsrpt_record += usize::from(!line["tlsrpt_record"].is_null());
        let mut codes: Vec<&str> = line["findings"]
            .as_array()
            .map(|findings| findings.iter().filter_map(|f| f["code"].as_str()).collect())
            .unwrap_or_default();
        // A domain counts once per code, however many hosts share the finding.
        codes.sort_unstable();
        codes.dedup();
        for code in codes {
            *self.codes.entry(code.to_string()).or_default() += 1;
        }
    }

    /// The summary with the finding codes ranked (most domains first, then by code).
    pub fn finish(mut self) -> Summary {
        let mut ranked: Vec<CodeCount> = std::mem::take(&mut self.codes)
            .into_iter()
            .map(|(code, domains)| CodeCount { code, domains })
            .collect();
        ranked.sort_by(|a, b| b.domains.cmp(&a.domains).then_with(|| a.code.cmp(&b.code)));
        self.findings = ranked;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_verdicts_modes_and_ranks_codes_once_per_domain() {
        let lines = [
            serde_json::json!({"domain": "a.test", "verdict": "fail", "outcome": "complete",
                "sts_record": {"id": "1"}, "tlsrpt_record": null, "policy": {"mode": "enforce"},
                "findings": [{"code": "mx-cert-expired"}, {"code": "mx-cert-expired"},
                             {"code": "tlsrpt-missing"}]}),
            serde_json::json!({"domain": "b.test", "verdict": "warn", "outcome": "complete",
                "sts_record": {"id": "2"}, "tlsrpt_record": {"rua": []},
                "policy": {"mode": "testing"}, "findings": [{"code": "tlsrpt-missing"}]}),
            serde_json::json!({"domain": "c.test", "error": {"code": "scan-check-timeout"}}),
        ];
        let mut summary = Summary::default();
        for line in &lines {
            summary.add(line);
        }
        let summary = summary.finish();
        assert_eq!((summary.domains, summary.timed_out), (3, 1));
        assert_eq!(summary.verdicts["fail"], 1);
        assert_eq!(summary.verdicts["warn"], 1);
        assert_eq!(summary.adoption.sts_record, 2);
        assert_eq!(summary.adoption.tlsrpt_record, 1);
        assert_eq!(summary.adoption.modes["enforce"], 1);
        let ranked: Vec<(&str, usize)> = summary
            .findings
            .iter()
            .map(|c| (c.code.as_str(), c.domains))
            .collect();
        assert_eq!(ranked, vec![("tlsrpt-missing", 2), ("mx-cert-expired", 1)]);
    }
}
