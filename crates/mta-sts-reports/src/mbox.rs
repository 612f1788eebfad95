//! An mbox mailbox split into its messages.
//!
//! Each message starts with a `From ` line (the "From_" line, not part of the message); lines of
//! the body that began with `From ` were written with a `>` before them, so one `>` is taken off
//! every line that matches `>+From ` (the mboxrd reading, which also undoes mboxo's quoting).
//! Written by hand rather than with mail-parser's mbox reader because that reader keeps a message
//! of any size in memory; this one stops at a cap and says so.

use std::io::{self, BufRead, Read};

/// One message of a mailbox, or why it was not kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MboxEntry {
    /// The message's bytes, unquoted.
    Message(Vec<u8>),
    /// The message is larger than the cap; its bytes were skipped.
    TooLarge {
        /// The message's number in the mailbox, from 1.
        number: usize,
    },
}

/// The messages of an mbox read from `reader`, one at a time, each at most `max_message` bytes.
pub struct MboxMessages<R> {
    reader: R,
    max_message: usize,
    /// The message being read has started (its From_ line was seen).
    started: bool,
    /// The message being read has passed the cap.
    oversized: bool,
    current: Vec<u8>,
    number: usize,
    line: Vec<u8>,
    done: bool,
}

impl<R: BufRead> MboxMessages<R> {
    /// Reads the mailbox from `reader`; a message over `max_message` bytes is skipped and
    /// reported as [`MboxEntry::TooLarge`]. Text before the first `From ` line is ignored.
    pub fn new(reader: R, max_message: usize) -> Self {
        MboxMessages {
            reader,
            max_message,
            started: false,
            oversized: false,
            current: Vec::new(),
            number: 0,
            line: Vec::new(),
            done: false,
        }
    }

    /// The message just finished, if one was being read.
    fn finish(&mut self) -> Option<MboxEntry> {
        if !self.started {
            return None;
        }
        let entry = if self.oversized {
            MboxEntry::TooLarge {
                number: self.number,
            }
        } else {
            MboxEntry::Message(std::mem::take(&mut self.current))
        };
        self.current.clear();
        self.oversized = false;
        Some(entry)
    }
}

impl<R: BufRead> Iterator for MboxMessages<R> {
    type Item = io::Result<MboxEntry>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            self.line.clear();
            // A line is read whole; a single line longer than the cap is still bounded by it,
            // as the reader is limited to one byte past the cap.
            let limit = self.max_message.saturating_add(1) as u64;
            match Read::take(&mut self.reader, limit).read_until(b'\n', &mut self.line) {
                Ok(0) => {
                    self.done = true;
                    return self.finish().map(Ok);
                }
                Ok(_) => {}
                Err(error) => {
                    self.done = true;
                    return Some(Err(error));
                }
            }
            if self.line.starts_with(b"From ") {
                let finished = self.finish();
                self.started = true;
                self.number += 1;
                if let Some(entry) = finished {
                    return Some(Ok(entry));
                }
                continue;
            }
            if !self.started || self.oversized {
                continue;
            }
            let unquoted = unquote(&self.line);
            if self.current.len() + unquoted.len() > self.max_message {
                self.oversized = true;
                self.current = Vec::new();
                continue;
            }
            self.current.extend_from_slice(unquoted);
        }
    }
}

/// The line with one `>` taken off when it reads `>+From `.
fn unquote(line: &[u8]) -> &[u8] {
    let quotes = line.iter().take_while(|byte| **byte == b'>').count();
    match line.get(quotes..) {
        Some(rest) if quotes > 0 && rest.starts_with(b"From ") => line.get(1..).unwrap_or(line),
        _ => line,
    }
}

#[cfg(test)]
mod tests;
