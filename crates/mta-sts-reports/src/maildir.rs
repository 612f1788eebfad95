//! The messages of a Maildir: the files in its `new/` and `cur/` directories.
//!
//! Maildir keeps one message per file; `tmp/` holds deliveries still being written, so it is
//! never read. Files are listed in name order (delivery names start with the delivery time), so
//! an import is repeatable.

use std::fs;
use std::path::{Path, PathBuf};

use crate::IntakeError;

/// Whether `path` is a Maildir: a directory with a `cur/` or `new/` directory in it.
pub fn is_maildir(path: &Path) -> bool {
    path.join("cur").is_dir() || path.join("new").is_dir()
}

/// The message files of the Maildir at `path`: `new/` first, then `cur/`, each in name order.
/// Dot files (editor and tool droppings) are skipped.
pub fn message_files(path: &Path) -> Result<Vec<PathBuf>, IntakeError> {
    let mut files = Vec::new();
    for sub in ["new", "cur"] {
        let directory = path.join(sub);
        if !directory.is_dir() {
            continue;
        }
        let entries = fs::read_dir(&directory).map_err(|source| IntakeError::Read {
            path: directory.clone(),
            source,
        })?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| IntakeError::Read {
                path: directory.clone(),
                source,
            })?;
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            let is_file = entry.file_type().is_ok_and(|kind| kind.is_file());
            if is_file && !hidden {
                names.push(entry.path());
            }
        }
        names.sort();
        files.extend(names);
    }
    Ok(files)
}
