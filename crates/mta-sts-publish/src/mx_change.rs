//! The safe order for changing the MX hosts of a domain that has a policy, with the earliest
//! time of each step. Pure: the current policy and the time come in, the plan goes out.
//!
//! Under `enforce`, a sender delivers only to MX hosts its cached policy names, and it may keep
//! a policy for `max_age` seconds after fetching it (RFC 8461 §3.2). Pointing the MX records at
//! a new host first would stop mail from every sender still holding the old policy. So:
//! 1. publish a policy naming the old and the new hosts, with a new id (the policy served
//!    before the id changes, RFC 8461 §8.1);
//! 2. wait the old policy's `max_age`, until no sender can still hold it;
//! 3. switch the MX records;
//! 4. once the old MX records have expired from caches, drop the old hosts with a new id.

use std::collections::BTreeSet;
use std::time::Duration;

use mta_sts_core::{Mode, MxPattern, Policy, StsRecord, Timestamp};
use serde::Serialize;

use crate::PublishError;
use crate::patterns::{PolicyPattern, mx_patterns};

/// A day: the longest MX record TTL in common use, the default wait between switching the MX
/// records and dropping the old hosts from the policy.
pub const DEFAULT_MX_TTL: u32 = 86_400;

/// What the owner chooses for the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MxChangeOptions {
    /// Collapse new MX hosts sharing a parent domain into one `*.parent` pattern.
    pub wildcard: bool,
    /// The TTL of the MX records, in seconds: how long resolvers may keep returning the old MX
    /// hosts after the switch.
    pub mx_ttl: u32,
}

impl Default for MxChangeOptions {
    fn default() -> Self {
        MxChangeOptions {
            wildcard: false,
            mx_ttl: DEFAULT_MX_TTL,
        }
    }
}

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepKind {
    /// Serve a policy naming old and new MX hosts, then publish its id.
    PublishTransition,
    /// Wait until no sender can still hold the old policy.
    WaitOldMaxAge,
    /// Point the MX records at the new hosts.
    SwitchMx,
    /// Serve the policy naming only the new hosts, then publish its id.
    PublishFinal,
}

/// One step of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// What it does.
    pub kind: StepKind,
    /// The earliest time it may be done (for a wait, when it begins).
    pub earliest: Timestamp,
    /// For a wait, when it ends: the earliest time of the next step.
    pub until: Option<Timestamp>,
    /// The step as a sentence.
    pub action: String,
    /// The policy to serve at this step, if it publishes one.
    pub policy: Option<String>,
    /// The `_mta-sts` record to publish after the policy is served, if the step publishes one.
    pub sts_record: Option<String>,
}

/// The plan for one domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MxChangePlan {
    /// The domain.
    pub domain: String,
    /// The current policy's mode (kept through the change).
    pub mode: Mode,
    /// The current policy's `max_age` (kept through the change).
    pub max_age: u32,
    /// The current policy's `mx` patterns.
    pub old_patterns: Vec<String>,
    /// The patterns for the new MX hosts.
    pub new_patterns: Vec<PolicyPattern>,
    /// Whether the current policy already names every new host (no transition policy needed).
    pub already_covered: bool,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// Plans the change of `domain`'s MX hosts to `new_mx`, given its current policy `current` (the
/// body as served) at time `now`.
pub fn plan_mx_change(
    domain: &str,
    current: &[u8],
    new_mx: &[String],
    options: &MxChangeOptions,
    now: Timestamp,
) -> Result<MxChangePlan, PublishError> {
    if new_mx.is_empty() {
        return Err(PublishError::NoNewMx {
            domain: domain.to_string(),
        });
    }
    let current = Policy::parse(current).map_err(|e| PublishError::CurrentPolicyInvalid {
        domain: domain.to_string(),
        diagnostic: Box::new(e.diagnostic().clone()),
    })?;
    let new_patterns = mx_patterns(domain, new_mx, options.wildcard)?;
    let old_patterns: Vec<String> = current.mx.iter().map(|p| p.as_str().to_string()).collect();
    let already_covered = new_patterns
        .iter()
        .flat_map(|p| &p.covers)
        .all(|host| current.matches_mx(host));

    let new_texts: BTreeSet<String> = new_patterns.iter().map(|p| p.pattern.clone()).collect();
    let both: BTreeSet<String> = old_patterns
        .iter()
        .cloned()
        .chain(new_texts.clone())
        .collect();
    let transition = policy_with(&current, &both, domain)?;
    let last = policy_with(&current, &new_texts, domain)?;
    let unchanged = old_patterns.iter().cloned().collect::<BTreeSet<_>>() == new_texts;

    let mut steps = Vec::new();
    let switch_at = if already_covered {
        now
    } else {
        steps.push(Step {
            kind: StepKind::PublishTransition,
            earliest: now,
            action: format!(
                "Serve this policy naming both the old and the new MX hosts at https://mta-sts.{domain}/.well-known/mta-sts.txt, then (RFC 8461 §8.1: the policy first, the id second) publish this _mta-sts.{domain} record with its new id."
            ),
            until: None,
            sts_record: Some(StsRecord::for_policy(&transition).to_string()),
            policy: Some(transition),
        });
        // RFC 8461 §3.2: senders may cache a policy for up to max_age after fetching it; one
        // fetched just before step 1 does not name the new hosts until then.
        let switch_at = now.saturating_add(Duration::from_secs(u64::from(current.max_age)));
        steps.push(Step {
            kind: StepKind::WaitOldMaxAge,
            earliest: now,
            until: Some(switch_at),
            action: format!(
                "Wait the old policy's max_age, {}: a sender that fetched it just before step 1 may use it until then, and would refuse the new MX hosts{}.",
                seconds(current.max_age),
                if current.mode == Mode::Enforce { "" } else { " (in mode testing it would only report them)" }
            ),
            policy: None,
            sts_record: None,
        });
        switch_at
    };
    steps.push(Step {
        kind: StepKind::SwitchMx,
        earliest: switch_at,
        until: None,
        action: format!(
            "Point the MX records of {domain} at {}{}.",
            new_patterns
                .iter()
                .flat_map(|p| &p.covers)
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
            if unchanged {
                String::new()
            } else {
                format!(
                    "; keep the old MX hosts accepting mail until step {}",
                    steps.len() + 2
                )
            }
        ),
        policy: None,
        sts_record: None,
    });
    if !unchanged {
        let drop_at = switch_at.saturating_add(Duration::from_secs(u64::from(options.mx_ttl)));
        steps.push(Step {
            kind: StepKind::PublishFinal,
            earliest: drop_at,
            until: None,
            action: format!(
                "Once the old MX records have expired from resolvers' caches (their TTL: {} after the switch), serve this policy without the old MX hosts, then publish this _mta-sts.{domain} record with its new id.",
                seconds(options.mx_ttl)
            ),
            sts_record: Some(StsRecord::for_policy(&last).to_string()),
            policy: Some(last),
        });
    }
    Ok(MxChangePlan {
        domain: domain.to_string(),
        mode: current.mode,
        max_age: current.max_age,
        old_patterns,
        new_patterns,
        already_covered,
        steps,
    })
}

/// `current` with its `mx` lines replaced by `patterns` (sorted), mode, max_age and extensions
/// kept.
fn policy_with(
    current: &Policy,
    patterns: &BTreeSet<String>,
    domain: &str,
) -> Result<String, PublishError> {
    let mx = patterns
        .iter()
        .map(|p| {
            MxPattern::parse(p).map_err(|e| PublishError::LintRefused {
                domain: domain.to_string(),
                what: "policy",
                diagnostic: Box::new(e.diagnostic().clone()),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let text = Policy {
        mx,
        ..current.clone()
    }
    .to_string();
    Ok(text)
}

/// A duration in seconds as people read it: `7 days (604800 seconds)`.
fn seconds(value: u32) -> String {
    let days = value / 86_400;
    let hours = value / 3600;
    if value >= 86_400 && value.is_multiple_of(86_400) {
        format!(
            "{days} day{} ({value} seconds)",
            if days == 1 { "" } else { "s" }
        )
    } else if value >= 3600 && value.is_multiple_of(3600) {
        format!(
            "{hours} hour{} ({value} seconds)",
            if hours == 1 { "" } else { "s" }
        )
    } else {
        format!("{value} seconds")
    }
}

#[cfg(test)]
#[path = "mx_change/tests.rs"]
mod tests;
