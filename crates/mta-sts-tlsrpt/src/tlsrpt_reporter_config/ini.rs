//! INI files as Python's `configparser.ConfigParser()` reads them, with its defaults, which is
//! how tlsrpt-reporter reads `/etc/tlsrpt/*.cfg`.
//!
//! Written by hand because the INI crates each read a different dialect, and a file that works
//! with tlsrpt-reporter must mean the same here: `=` or `:` between key and value (the first of
//! either), keys lowercased, values trimmed, whole-line comments with `#` or `;` (a `#` later in
//! the line is part of the value), continuation lines indented deeper than their key, a
//! `[DEFAULT]` section whose keys every section sees, duplicate sections or keys refused
//! (`strict`), and `%`-interpolation (`%%` is `%`, `%(key)s` is another key's value) applied when
//! a section is read.

use std::collections::BTreeMap;

/// configparser's `MAX_INTERPOLATION_DEPTH`.
const MAX_INTERPOLATION_DEPTH: usize = 10;

/// Why a text is not an INI file configparser would read (with the 1-based line, when there is
/// one). The sentence names what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IniError {
    /// The line, when the problem is on one.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

/// The sections of a file, in the order written, each key lowercased with its raw value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ini {
    defaults: BTreeMap<String, String>,
    sections: Vec<(String, BTreeMap<String, String>)>,
}

impl Ini {
    /// Reads INI text.
    pub fn parse(text: &str) -> Result<Ini, IniError> {
        let mut ini = Ini::default();
        // The section being filled: None before the first header, Some(None) for DEFAULT.
        let mut current: Option<Option<usize>> = None;
        // The key a continuation line would extend, with its indentation.
        let mut open_key: Option<(String, usize)> = None;
        for (index, raw) in text.lines().enumerate() {
            let number = index + 1;
            let error = |message: String| IniError {
                line: Some(number),
                message,
            };
            let trimmed = raw.trim();
            let indent = raw.len() - raw.trim_start().len();
            if trimmed.starts_with('#') || trimmed.starts_with(';') {
                continue;
            }
            if trimmed.is_empty() {
                // A blank line inside a multi-line value stays part of it (configparser's
                // empty_lines_in_values); its trailing blank lines are trimmed at the end.
                if let (Some((key, _)), Some(section)) = (&open_key, current) {
                    ini.table(section).entry(key.clone()).and_modify(|v| {
                        if !v.is_empty() {
                            v.push('\n');
                        }
                    });
                }
                continue;
            }
            if let (Some((key, key_indent)), Some(section)) = (&open_key, current)
                && indent > *key_indent
            {
                let value = ini.table(section).entry(key.clone()).or_default();
                if !value.is_empty() {
                    value.push('\n');
                }
                value.push_str(trimmed);
                continue;
            }
            if let Some(name) = trimmed
                .strip_prefix('[')
                .and_then(|rest| rest.rfind(']').map(|end| &rest[..end]))
            {
                open_key = None;
                if name.is_empty() {
                    return Err(error("\"[]\" names no section".into()));
                }
                if name == "DEFAULT" {
                    current = Some(None);
                    continue;
                }
                if ini.sections.iter().any(|(existing, _)| existing == name) {
                    return Err(error(format!(
                        "section [{name}] appears twice (configparser refuses that too)"
                    )));
                }
                ini.sections.push((name.to_string(), BTreeMap::new()));
                current = Some(Some(ini.sections.len() - 1));
                continue;
            }
            let Some(section) = current else {
                return Err(error(
                    "a key comes before any [section] header; configparser refuses such a file"
                        .into(),
                ));
            };
            let Some(split) = trimmed.find(['=', ':']) else {
                return Err(error(format!(
                    "\"{trimmed}\" is neither a [section], a comment nor key = value"
                )));
            };
            let key = trimmed[..split].trim().to_lowercase();
            if key.is_empty() {
                return Err(error(format!("\"{trimmed}\" has a value but no key")));
            }
            let value = trimmed[split + 1..].trim().to_string();
            let table = ini.table(section);
            if table.contains_key(&key) {
                return Err(error(format!(
                    "the key {key} appears twice in one section (configparser refuses that too)"
                )));
            }
            table.insert(key.clone(), value);
            open_key = Some((key, indent));
        }
        for table in std::iter::once(&mut ini.defaults)
            .chain(ini.sections.iter_mut().map(|(_, table)| table))
        {
            for value in table.values_mut() {
                let kept = value.trim_end().len();
                value.truncate(kept);
            }
        }
        Ok(ini)
    }

    fn table(&mut self, section: Option<usize>) -> &mut BTreeMap<String, String> {
        match section {
            Some(index) => &mut self.sections[index].1,
            None => &mut self.defaults,
        }
    }

    /// The section names, in file order (`DEFAULT` is not one).
    pub fn section_names(&self) -> impl Iterator<Item = &str> {
        self.sections.iter().map(|(name, _)| name.as_str())
    }

    /// A section's keys and values, `[DEFAULT]`'s included, interpolated as configparser's
    /// `items(section)` gives them; `None` when the file has no such section.
    pub fn section(&self, name: &str) -> Option<Result<BTreeMap<String, String>, IniError>> {
        let (_, own) = self
            .sections
            .iter()
            .find(|(existing, _)| existing == name)?;
        let mut raw = self.defaults.clone();
        raw.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
        let interpolated = raw
            .iter()
            .map(|(key, value)| interpolate(&raw, key, value, 1).map(|value| (key.clone(), value)))
            .collect();
        Some(interpolated)
    }
}

/// configparser's `BasicInterpolation`.
fn interpolate(
    raw: &BTreeMap<String, String>,
    key: &str,
    value: &str,
    depth: usize,
) -> Result<String, IniError> {
    let error = |message: String| IniError {
        line: None,
        message,
    };
    if depth > MAX_INTERPOLATION_DEPTH {
        return Err(error(format!(
            "the value of {key} refers to other keys more than {MAX_INTERPOLATION_DEPTH} deep \
             (a loop?)"
        )));
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('%') {
            out.push('%');
            rest = tail;
        } else if let Some(reference) = after.strip_prefix('(')
            && let Some(close) = reference.find(")s")
        {
            let name = reference[..close].to_lowercase();
            let Some(target) = raw.get(&name) else {
                return Err(error(format!(
                    "the value of {key} refers to %({name})s, which is not a key of its section"
                )));
            };
            out.push_str(&interpolate(raw, &name, target, depth + 1)?);
            rest = &reference[close + 2..];
        } else {
            return Err(error(format!(
                "the value of {key} has a lone %; configparser needs %% for a percent sign"
            )));
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests;
