//! Lists of domains to check in bulk (`mta-sts scan`): one domain a line, read tolerantly.
//!
//! A list comes from a person or an export (customers, a zone, a top list), so it is read as a
//! sender reads: blank lines and `#` comments are skipped, a top list's `rank,domain` is read as
//! the domain, each domain is normalised exactly as
//! `mta-sts check` normalises it ([`domain::normalize_mail_domain`]), a domain listed again (in
//! another case, with a trailing dot, as Unicode or as A-labels) is kept once, and every line
//! that is not a domain is reported with its line number and skipped, never guessed at.

use std::collections::HashMap;

use crate::{Diagnostic, domain};

/// A domain of the list, in the form every check compares (lowercase A-labels, no trailing dot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedDomain {
    /// The normalised domain.
    pub domain: String,
    /// The line (counted from 1) it was first listed on.
    pub line: usize,
}

/// What a list holds: the domains to check, in list order, and what was said about other lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomainList {
    /// Each distinct domain once, in the order first listed.
    pub domains: Vec<ListedDomain>,
    /// One diagnostic per skipped line, each with its line number: errors for lines that are
    /// not a domain, notes (`Severity::Info`) for repeated domains.
    pub problems: Vec<Diagnostic>,
}

/// Reads a list of domains; never fails, every line not kept is named in `problems`.
pub fn read(text: &str) -> DomainList {
    let mut list = DomainList::default();
    let mut first_line: HashMap<String, usize> = HashMap::new();
    // A byte order mark (lists saved by some Windows editors) is not part of the first domain.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let entry = without_comment(raw).trim();
        if entry.is_empty() {
            continue;
        }
        match read_entry(entry) {
            Ok(name) => {
                if let Some(first) = first_line.get(&name) {
                    list.problems.push(
                        Diagnostic::info(
                            "list-duplicate",
                            format!(
                                "{name} was already listed on line {first}; it is checked once"
                            ),
                        )
                        .on_line(line),
                    );
                } else {
                    first_line.insert(name.clone(), line);
                    list.domains.push(ListedDomain { domain: name, line });
                }
            }
            Err(problem) => list.problems.push(problem.on_line(line)),
        }
    }
    list
}

/// The line without a `#` comment: one starting the line, or after a space or tab.
fn without_comment(line: &str) -> &str {
    let mut previous_blank = true;
    for (i, c) in line.char_indices() {
        if c == '#' && previous_blank {
            return &line[..i];
        }
        previous_blank = c == ' ' || c == '\t';
    }
    line
}

/// One entry as a domain, or why it is not one.
fn read_entry(entry: &str) -> Result<String, Diagnostic> {
    // Top lists (Tranco, Umbrella) are `rank,domain`: the rank is dropped.
    let entry = match entry.split_once(',') {
        Some((rank, name)) if !rank.is_empty() && rank.bytes().all(|b| b.is_ascii_digit()) => {
            name.trim()
        }
        _ => entry,
    };
    // A URL or an address names a domain, but which part the author meant is a guess: say so.
    if entry.contains("://") {
        return Err(Diagnostic::error(
            "list-url",
            format!(
                "{} is a URL, not a domain; list the mail domain alone (as `example.com`)",
                shown(entry)
            ),
        ));
    }
    if entry.contains('@') {
        return Err(Diagnostic::error(
            "list-email-address",
            format!(
                "{} is an e-mail address, not a domain; list the part after the `@` alone",
                shown(entry)
            ),
        ));
    }
    if entry.contains(char::is_whitespace) {
        return Err(Diagnostic::error(
            "list-several-words",
            format!(
                "{} has more than one word; list one domain a line",
                shown(entry)
            ),
        ));
    }
    domain::normalize_mail_domain(entry).map_err(|e| e.diagnostic().clone())
}

/// An entry echoed in a message, cut short when long (a pasted paragraph is not repeated whole).
fn shown(entry: &str) -> String {
    const ECHO_CHARS: usize = 80;
    let count = entry.chars().count();
    if count <= ECHO_CHARS {
        format!("`{entry}`")
    } else {
        let start: String = entry.chars().take(ECHO_CHARS - 16).collect();
        format!("`{start}…` ({count} characters)")
    }
}

#[cfg(test)]
mod tests;
