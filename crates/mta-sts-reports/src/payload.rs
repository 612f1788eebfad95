//! What a run of bytes is, decided by its content: a report (JSON or gzip), a zip archive, a
//! mail message, or an mbox mailbox.
//!
//! Reports arrive under unreliable names and media types (RFC 8460 §5 says `.json.gz` and
//! `application/tlsrpt+gzip`; senders write `application/octet-stream`, `.gz`, `.zip`, or
//! nothing), so nothing here looks at a name: the first bytes decide.

use std::io::Read;

use flate2::read::DeflateDecoder;
use mta_sts_core::report::MAX_REPORT_SIZE;

/// The first two bytes of a gzip member (RFC 1952 §2.3.1).
const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];

/// The signature of a zip local file header (PKWARE APPNOTE 4.3.7).
const ZIP_LOCAL_HEADER: &[u8] = b"PK\x03\x04";

/// The UTF-8 byte order mark, which some senders put before the JSON.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// What a run of bytes holds, judged by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadKind {
    /// gzip-compressed data: a `.json.gz` report (or anything else compressed, which the report
    /// reader will call not JSON).
    Gzip,
    /// A zip archive: some senders zip the report.
    Zip,
    /// A JSON object: a plain report.
    Json,
    /// An mbox mailbox: messages separated by `From ` lines.
    Mbox,
    /// An RFC 5322 message: starts with a header field.
    Message,
    /// None of the above.
    Unknown,
}

impl PayloadKind {
    /// Whether this kind is a report by itself (JSON, gzip or zip), as opposed to mail.
    pub fn is_report(self) -> bool {
        matches!(
            self,
            PayloadKind::Gzip | PayloadKind::Zip | PayloadKind::Json
        )
    }
}

/// Says what `bytes` are by their first bytes; [`PayloadKind::Unknown`] for empty input.
pub fn sniff(bytes: &[u8]) -> PayloadKind {
    if bytes.starts_with(GZIP_MAGIC) {
        return PayloadKind::Gzip;
    }
    if bytes.starts_with(ZIP_LOCAL_HEADER) {
        return PayloadKind::Zip;
    }
    let text = bytes.strip_prefix(BOM).unwrap_or(bytes);
    let first = text.iter().position(|byte| !byte.is_ascii_whitespace());
    match first.and_then(|at| text.get(at)) {
        Some(b'{') => return PayloadKind::Json,
        None => return PayloadKind::Unknown,
        Some(_) => {}
    }
    if bytes.starts_with(b"From ") {
        return PayloadKind::Mbox;
    }
    if starts_with_header_field(bytes) {
        return PayloadKind::Message;
    }
    PayloadKind::Unknown
}

/// Whether the first line is an RFC 5322 §2.2 header field: a name of printable characters other
/// than the colon, then a colon.
fn starts_with_header_field(bytes: &[u8]) -> bool {
    let line_end = bytes
        .iter()
        .position(|byte| *byte == b'\n')
        .unwrap_or(bytes.len());
    let line = bytes.get(..line_end).unwrap_or_default();
    match line.iter().position(|byte| *byte == b':') {
        Some(0) | None => false,
        Some(colon) => line
            .get(..colon)
            .unwrap_or_default()
            .iter()
            .all(|byte| (33..=126).contains(byte)),
    }
}

/// Why a zip archive gave no report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ZipError {
    /// The archive's first entry header is cut short or malformed.
    #[error("the zip archive's first entry header is cut short or malformed")]
    Header,
    /// The first entry uses a compression method other than stored (0) or deflate (8).
    #[error(
        "the zip archive's first entry uses compression method {0}; only stored and deflate are read"
    )]
    Method(u16),
    /// The first entry does not decompress.
    #[error("the zip archive's first entry does not decompress: {0}")]
    Deflate(String),
    /// The first entry is larger than the report size cap once decompressed.
    #[error("the zip archive's first entry is larger than {} MiB once decompressed", MAX_REPORT_SIZE / (1024 * 1024))]
    TooLarge,
    /// The first entry is encrypted.
    #[error("the zip archive's first entry is encrypted")]
    Encrypted,
}

/// The first entry of a zip archive, decompressed and capped at [`MAX_REPORT_SIZE`].
///
/// Written by hand because a report zip holds one `.json` file, and reading one local entry
/// (stored or deflate) takes a few lines over flate2; a zip crate would bring a large tree for it.
/// The local header is read, not the central directory, so an archive cut short after its first
/// entry still gives the report.
pub fn unzip_first(bytes: &[u8]) -> Result<Vec<u8>, ZipError> {
    // PKWARE APPNOTE 4.3.7: the local file header is 30 bytes, then the name and the extra field.
    let header = bytes.get(..30).ok_or(ZipError::Header)?;
    if !header.starts_with(ZIP_LOCAL_HEADER) {
        return Err(ZipError::Header);
    }
    let u16_at = |at: usize| u16::from_le_bytes([header[at], header[at + 1]]);
    let u32_at = |at: usize| {
        u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
    };
    let flags = u16_at(6);
    let method = u16_at(8);
    let compressed_size = u32_at(18) as usize;
    let name_length = usize::from(u16_at(26));
    let extra_length = usize::from(u16_at(28));
    if flags & 1 != 0 {
        return Err(ZipError::Encrypted);
    }
    let data = bytes
        .get(30 + name_length + extra_length..)
        .ok_or(ZipError::Header)?;
    // With a data descriptor (flag bit 3) the sizes in the local header are zero: the deflate
    // stream ends by itself, and a stored entry cannot be delimited.
    let has_descriptor = flags & 8 != 0;
    match method {
        0 => {
            if has_descriptor {
                return Err(ZipError::Header);
            }
            let entry = data.get(..compressed_size).ok_or(ZipError::Header)?;
            if entry.len() > MAX_REPORT_SIZE {
                return Err(ZipError::TooLarge);
            }
            Ok(entry.to_vec())
        }
        8 => {
            let entry = if has_descriptor {
                data
            } else {
                data.get(..compressed_size).unwrap_or(data)
            };
            let mut output = Vec::new();
            // One byte over the cap is enough to know the entry is too large.
            DeflateDecoder::new(entry)
                .take(MAX_REPORT_SIZE as u64 + 1)
                .read_to_end(&mut output)
                .map_err(|error| ZipError::Deflate(error.to_string()))?;
            if output.len() > MAX_REPORT_SIZE {
                return Err(ZipError::TooLarge);
            }
            Ok(output)
        }
        other => Err(ZipError::Method(other)),
    }
}

#[cfg(test)]
mod tests;
