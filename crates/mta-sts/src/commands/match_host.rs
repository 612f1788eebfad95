//! `mta-sts match PATTERN HOST`: RFC 8461 §4.1 matching, explained.

use mta_sts_core::{MxPattern, domain};
use serde::Serialize;

use super::{CommandError, emit, to_json};
use crate::exit::Status;

#[derive(Serialize)]
struct MatchResult<'a> {
    pattern: &'a str,
    host: &'a str,
    matches: bool,
    reason: String,
}

/// Checks one host against one pattern; exit 0 when it matches, 1 when not.
pub fn run(pattern_text: &str, host_input: &str, json: bool) -> Result<Status, CommandError> {
    let pattern = MxPattern::parse(pattern_text.trim()).map_err(|e| {
        let d = e.diagnostic();
        let hint = d
            .hint
            .as_deref()
            .map(|h| format!(" ({h})"))
            .unwrap_or_default();
        CommandError::Argument(format!("pattern `{pattern_text}`: {}{hint}", d.message))
    })?;
    let host = domain::normalize(host_input)
        .map_err(|e| CommandError::Argument(format!("host: {}", e.diagnostic().message)))?;
    let matches = pattern.matches(&host);
    let reason = explain(&pattern, &host, matches);
    let result = MatchResult {
        pattern: pattern.as_str(),
        host: &host,
        matches,
        reason,
    };
    let text = if json {
        to_json(&result)?
    } else {
        format!(
            "{} {} {}: {}\n",
            result.host,
            if matches { "matches" } else { "does not match" },
            result.pattern,
            result.reason
        )
    };
    emit(&text)?;
    Ok(if matches {
        Status::Valid
    } else {
        Status::Invalid
    })
}

/// Why the answer is what it is, in RFC 8461 §4.1's terms.
fn explain(pattern: &MxPattern, host: &str, matches: bool) -> String {
    let base = pattern.base();
    if !pattern.is_wildcard() {
        return if matches {
            "the names are equal (compared without case or a trailing dot)".into()
        } else {
            format!("an exact pattern matches only `{base}`")
        };
    }
    if matches {
        return format!("`*.` matches the one label before `{base}`");
    }
    if host == base {
        return format!("`*.{base}` matches names one label below `{base}`, not `{base}` itself");
    }
    match host
        .strip_suffix(base)
        .and_then(|prefix| prefix.strip_suffix('.'))
    {
        Some(prefix) => format!(
            "`*.` matches exactly one label, and `{prefix}` has {}",
            prefix.split('.').count()
        ),
        None => format!("`{host}` is not under `{base}`"),
    }
}
