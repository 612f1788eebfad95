//! What to publish next: the exact policy file and the `_mta-sts` record announcing it.

use mta_sts_check::CheckReport;
use mta_sts_core::{Mode, MxPattern, Policy, StsRecord};

use super::mx_names;
use crate::advice::{Next, Stage};

/// max_age of a first testing policy: a day, so a mistake is corrected within a day (RFC 8461
/// §3.2 asks for weeks only once the policy is stable).
const TESTING_MAX_AGE: u32 = 86_400;
/// The least max_age of an enforce policy: a week, the lower end of what RFC 8461 §3.2 calls
/// "weeks or greater".
const ENFORCE_MAX_AGE: u32 = 604_800;

/// The policy and record to publish at `stage`, given whether the domain is `ready`:
/// - `none`, ready: a testing policy listing the MX hosts;
/// - `testing` or `enforce` with an MX host no pattern matches: the same mode, with that host
///   added (now: an enforcing sender refuses it, a testing one reports it);
/// - `testing`, ready: the enforce policy;
/// - otherwise nothing.
pub(super) fn next(check: &CheckReport, stage: Stage, ready: bool) -> Option<Next> {
    let hosts = mx_names(check);
    if hosts.is_empty() {
        return None;
    }
    let current = check.policy.as_ref().and_then(|p| p.parsed.as_ref());
    let uncovered: Vec<&String> = hosts
        .iter()
        .filter(|host| current.is_some_and(|policy| !policy.matches_mx(host)))
        .collect();
    let policy = match stage {
        Stage::None if ready => Policy {
            mode: Mode::Testing,
            max_age: TESTING_MAX_AGE,
            mx: patterns(hosts.iter()),
            extensions: Vec::new(),
        },
        Stage::Testing | Stage::Enforce if !uncovered.is_empty() => {
            let current = current?;
            let mut policy = current.clone();
            policy.mx.extend(patterns(uncovered.into_iter()));
            policy
        }
        Stage::Testing if ready => {
            let current = current?;
            Policy {
                mode: Mode::Enforce,
                max_age: current.max_age.max(ENFORCE_MAX_AGE),
                ..current.clone()
            }
        }
        _ => return None,
    };
    let text = policy.to_string();
    // RFC 8461 §3.1: the id changes whenever the policy does; one derived from the text does.
    let record = StsRecord::for_policy(&text);
    Some(Next {
        sts_record: format!("_mta-sts.{}. IN TXT \"{record}\"", check.domain),
        policy: text,
    })
}

/// The MX host names as `mx` patterns (each an exact host).
fn patterns<'h>(hosts: impl Iterator<Item = &'h String>) -> Vec<MxPattern> {
    hosts
        .filter_map(|host| MxPattern::parse(host).ok())
        .collect()
}
