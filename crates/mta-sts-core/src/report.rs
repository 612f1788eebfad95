//! The TLS-RPT aggregate report (RFC 8460 §4), read tolerantly.
//!
//! Reports come from many senders and few follow RFC 8460 to the letter: Microsoft writes
//! datetimes without a zone, mail.ru leaves out `policy-string`, Stalwart-based senders write
//! `contact-info: null`, Postfix's tlsrpt-reporter leaves out `policy-domain` for
//! `no-policy-found`, and the RFC's own example writes `mx-host` as one string. [`parse`] is the
//! reader a receiving domain needs: it takes what every one of those reports means, and refuses
//! only input that leaves nothing to read (not JSON, a required field missing or of the wrong
//! type, a session count that is not a non-negative integer). It does not say what it forgave;
//! [`crate::report_lint::lint`] lists every departure from the RFC, and shows this reader's
//! result beside them.
//!
//! [`decode`] undoes gzip, which is detected by content because the media types reports arrive
//! with are unreliable, and caps the decompressed size at [`MAX_REPORT_SIZE`].

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::{ErrorKind, Read};

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::Error;
use crate::diagnostic::{Diagnostic, Severity, column_of, width_of};
use crate::report_lint::ReportCode;
use crate::time::Zone;
pub use crate::time::{Timestamp, TimestampError};

/// The largest report, once decompressed, that [`decode`], [`parse`] and the lint accept (16 MiB).
///
/// A day of reports for a large domain is a few hundred kilobytes; the cap is there so a gzip
/// bomb cannot make a receiver allocate without bound.
pub const MAX_REPORT_SIZE: usize = 16 * 1024 * 1024;

/// The first two bytes of every gzip member (RFC 1952 §2.3.1: ID1, ID2).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// How much decompressed data is read at a time: a buffer on the stack, small enough that
/// clearing it costs little next to a typical report of a few kilobytes (a 64 KiB heap buffer,
/// allocated and zeroed per report, was a visible share of bulk intake).
const CHUNK_SIZE: usize = 8 * 1024;

/// The UTF-8 byte order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// An aggregate report (RFC 8460 §4.4), as the tolerant reader takes it. Serializes to the
/// RFC's JSON, with empty optional parts left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Report {
    /// `organization-name`: who produced the report.
    pub organization_name: String,
    /// `date-range`: the period the report covers.
    pub date_range: DateRange,
    /// `contact-info`: whom to ask about the report; `None` when it is missing or `null`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_info: Option<String>,
    /// `report-id`: the sender's identifier; with the organization name it identifies a report,
    /// which is what a receiver deduplicates on.
    pub report_id: String,
    /// `policies`: the sessions counted under each policy the sender applied. The same sessions
    /// may be counted under several policies (Microsoft counts them under both `sts` and `tlsa`),
    /// so counts are never summed across entries.
    pub policies: Vec<PolicyResult>,
}

/// `date-range`: the start and end of a report's period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DateRange {
    /// `start-datetime`.
    #[serde(rename = "start-datetime")]
    pub start: Timestamp,
    /// `end-datetime`.
    #[serde(rename = "end-datetime")]
    pub end: Timestamp,
}

/// One entry of `policies`: a policy and the sessions counted under it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct PolicyResult {
    /// `policy`: the policy the sender applied.
    pub policy: AppliedPolicy,
    /// `summary`: the session counts.
    pub summary: Summary,
    /// `failure-details`: the failed sessions grouped by result; empty when missing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failure_details: Vec<FailureDetail>,
}

/// `policy`: the policy a sender applied to the sessions of one [`PolicyResult`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct AppliedPolicy {
    /// `policy-type`.
    pub policy_type: PolicyType,
    /// `policy-string`: the policy as the sender saw it (MTA-STS policy lines, or TLSA records),
    /// kept exactly as given, even when a sender JSON-encoded all TLSA records into one string.
    /// Empty when missing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policy_string: Vec<String>,
    /// `policy-domain`: the domain the policy belongs to; `None` when missing (Postfix's
    /// tlsrpt-reporter leaves it out for `no-policy-found`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_domain: Option<String>,
    /// `mx-host`: the MTA-STS `mx` patterns; a single string is read as a one-element list, and a
    /// missing field as an empty one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mx_host: Vec<String>,
}

/// `summary`: how many sessions succeeded and failed under one policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Summary {
    /// `total-successful-session-count`.
    pub total_successful_session_count: u64,
    /// `total-failure-session-count`.
    pub total_failure_session_count: u64,
}

/// One entry of `failure-details`: sessions that failed the same way between the same hosts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct FailureDetail {
    /// `result-type`: why the sessions failed.
    pub result_type: ResultType,
    /// `sending-mta-ip`, as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sending_mta_ip: Option<String>,
    /// `receiving-mx-hostname`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receiving_mx_hostname: Option<String>,
    /// `receiving-mx-helo`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receiving_mx_helo: Option<String>,
    /// `receiving-ip`, as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receiving_ip: Option<String>,
    /// `failed-session-count`.
    pub failed_session_count: u64,
    /// `additional-information`: a URI with more detail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_information: Option<String>,
    /// `failure-reason-code`: free text, e.g. an OpenSSL error name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason_code: Option<String>,
}

/// `policy-type` (RFC 8460 §4).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PolicyType {
    /// `sts`: an MTA-STS policy (RFC 8461).
    Sts,
    /// `tlsa`: DANE TLSA records (RFC 7672).
    Tlsa,
    /// `no-policy-found`: the recipient domain had neither.
    NoPolicyFound,
    /// Any other value, kept as written.
    Other(String),
}

impl PolicyType {
    /// Reads a `policy-type` value; values the RFC does not define are kept as [`PolicyType::Other`].
    pub fn from_wire(text: &str) -> Self {
        match text {
            "sts" => PolicyType::Sts,
            "tlsa" => PolicyType::Tlsa,
            "no-policy-found" => PolicyType::NoPolicyFound,
            other => PolicyType::Other(other.to_owned()),
        }
    }

    /// The value as written in a report.
    pub fn as_str(&self) -> &str {
        match self {
            PolicyType::Sts => "sts",
            PolicyType::Tlsa => "tlsa",
            PolicyType::NoPolicyFound => "no-policy-found",
            PolicyType::Other(text) => text,
        }
    }
}

/// Writes the wire value (`sts`, `tlsa`, `no-policy-found`, or the unknown text).
impl fmt::Display for PolicyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for PolicyType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// `result-type`: why sessions failed (RFC 8460 §4.3, and the IANA "STARTTLS Validation Result
/// Types" registry, which grows: values this crate does not know are kept as text).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ResultType {
    /// `starttls-not-supported`: the MX did not offer STARTTLS (§4.3.1).
    StarttlsNotSupported,
    /// `certificate-host-mismatch`: the certificate does not name the MX (§4.3.1).
    CertificateHostMismatch,
    /// `certificate-expired`: the certificate has expired (§4.3.1).
    CertificateExpired,
    /// `certificate-not-trusted`: the certificate does not chain to a trusted root (§4.3.1).
    CertificateNotTrusted,
    /// `validation-failure`: any other failure to validate the session (§4.3.1, §4.3.3).
    ValidationFailure,
    /// `tlsa-invalid`: the TLSA records were invalid (§4.3.2.1).
    TlsaInvalid,
    /// `dnssec-invalid`: the DNSSEC chain did not validate (§4.3.2.1).
    DnssecInvalid,
    /// `dane-required`: DANE was required but the records were unusable (§4.3.2.1).
    DaneRequired,
    /// `sts-policy-fetch-error`: the MTA-STS policy could not be fetched (§4.3.2.2).
    StsPolicyFetchError,
    /// `sts-policy-invalid`: the MTA-STS policy did not parse (§4.3.2.2).
    StsPolicyInvalid,
    /// `sts-webpki-invalid`: the policy host's certificate did not validate (§4.3.2.2).
    StsWebpkiInvalid,
    /// Any other value, kept as written.
    Other(String),
}

impl ResultType {
    /// Reads a `result-type` value; unregistered values are kept as [`ResultType::Other`].
    pub fn from_wire(text: &str) -> Self {
        match text {
            "starttls-not-supported" => ResultType::StarttlsNotSupported,
            "certificate-host-mismatch" => ResultType::CertificateHostMismatch,
            "certificate-expired" => ResultType::CertificateExpired,
            "certificate-not-trusted" => ResultType::CertificateNotTrusted,
            "validation-failure" => ResultType::ValidationFailure,
            "tlsa-invalid" => ResultType::TlsaInvalid,
            "dnssec-invalid" => ResultType::DnssecInvalid,
            "dane-required" => ResultType::DaneRequired,
            "sts-policy-fetch-error" => ResultType::StsPolicyFetchError,
            "sts-policy-invalid" => ResultType::StsPolicyInvalid,
            "sts-webpki-invalid" => ResultType::StsWebpkiInvalid,
            other => ResultType::Other(other.to_owned()),
        }
    }

    /// The value as written in a report.
    pub fn as_str(&self) -> &str {
        match self {
            ResultType::StarttlsNotSupported => "starttls-not-supported",
            ResultType::CertificateHostMismatch => "certificate-host-mismatch",
            ResultType::CertificateExpired => "certificate-expired",
            ResultType::CertificateNotTrusted => "certificate-not-trusted",
            ResultType::ValidationFailure => "validation-failure",
            ResultType::TlsaInvalid => "tlsa-invalid",
            ResultType::DnssecInvalid => "dnssec-invalid",
            ResultType::DaneRequired => "dane-required",
            ResultType::StsPolicyFetchError => "sts-policy-fetch-error",
            ResultType::StsPolicyInvalid => "sts-policy-invalid",
            ResultType::StsWebpkiInvalid => "sts-webpki-invalid",
            ResultType::Other(text) => text,
        }
    }
}

/// Writes the wire value (`certificate-expired`, ..., or the unknown text).
impl fmt::Display for ResultType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ResultType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding and reading

/// Undoes gzip when the bytes start with the gzip magic number (1f 8b), whatever the media type
/// said; other bytes are returned as they are. Either way the result is at most
/// [`MAX_REPORT_SIZE`] bytes: decompression stops with `report-too-large` as soon as the output
/// would pass it, without allocating past it.
pub fn decode(bytes: &[u8]) -> Result<Vec<u8>, Error> {
    decoded(bytes).map(Cow::into_owned)
}

/// [`decode`] without copying input that is not gzip.
pub(crate) fn decoded(bytes: &[u8]) -> Result<Cow<'_, [u8]>, Error> {
    // RFC 8460 §5 delivers reports as application/tlsrpt+json or application/tlsrpt+gzip, but
    // senders also label them application/gzip, application/octet-stream or bare
    // application/tlsrpt, so the content decides.
    if bytes.len() > MAX_REPORT_SIZE {
        // Gzip this large decompresses to about as much at least (stored deflate blocks add a few
        // bytes per 64 KiB), far past any real report; and input cut at the limit by a bounded
        // reader must be called too large, not broken gzip.
        return Err(too_large());
    }
    if bytes.starts_with(&GZIP_MAGIC) {
        return gunzip(bytes).map(Cow::Owned);
    }
    Ok(Cow::Borrowed(bytes))
}

fn gunzip(compressed: &[u8]) -> Result<Vec<u8>, Error> {
    // The last member's ISIZE (RFC 1952 §2.3.1) says how large the output is likely to be: one
    // allocation for most reports. Only a hint (it may lie), so bounded by the cap and by the
    // most deflate can expand its input (about 1032:1).
    let mut output = Vec::with_capacity(
        size_hint(compressed)
            .min(compressed.len().saturating_mul(1032))
            .min(MAX_REPORT_SIZE),
    );
    GUNZIP
        .with_borrow_mut(|gunzip| {
            let decompressed = gunzip.decompress(compressed, &mut output);
            if compressed.len() > KEPT_INPUT {
                // A thread keeps its decoder and a copy of the last input: not a large one.
                *gunzip = Gunzip::default();
            }
            decompressed
        })
        .map_err(|error| match error {
            GunzipError::TooLarge => too_large(),
            GunzipError::Invalid(error) => Error::InvalidReport(
                Diagnostic::error(
                    ReportCode::GzipInvalid.as_str(),
                    format!("the report starts like gzip but does not decompress: {error}"),
                )
                .with_hint("the data may be cut short: take the whole .json.gz attachment"),
            ),
        })?;
    Ok(output)
}

thread_local! {
    /// One gzip decoder per thread, reset for each report: a fresh one allocates and clears
    /// its inflate state and window (tens of KiB), which cost more than inflating a typical
    /// report of a few kilobytes and was the largest single share of bulk intake.
    static GUNZIP: std::cell::RefCell<Gunzip> = std::cell::RefCell::new(Gunzip::default());
}

/// A reusable gzip decoder: flate2's decoder over an owned copy of the input (a compressed
/// report is small; the copy costs far less than a new decoder), reset between inputs and
/// between the members of one input.
#[derive(Default)]
struct Gunzip {
    decoder: Option<flate2::bufread::GzDecoder<std::io::Cursor<Vec<u8>>>>,
    /// The input buffer not in use, kept for the next input.
    spare: Vec<u8>,
}

/// The largest compressed input whose copy a thread's [`Gunzip`] keeps after use (a typical
/// report is a few kilobytes); after a larger one the decoder is dropped, so an idle thread
/// holds no more than this.
const KEPT_INPUT: usize = 64 * 1024;

enum GunzipError {
    TooLarge,
    Invalid(std::io::Error),
}

impl Gunzip {
    /// Appends the decompressed `compressed` to `output`: every member, one after the other
    /// (several gzip members in a row are one gzip file, RFC 1952 §2.2).
    fn decompress(&mut self, compressed: &[u8], output: &mut Vec<u8>) -> Result<(), GunzipError> {
        let mut position = 0;
        let mut chunk = [0u8; CHUNK_SIZE];
        while let Some(rest) = compressed.get(position..).filter(|rest| !rest.is_empty()) {
            let decoder = self.start(rest);
            loop {
                let read = match decoder.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(read) => read,
                    Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                    Err(error) => return Err(GunzipError::Invalid(error)),
                };
                append_capped(output, chunk.get(..read).unwrap_or_default())
                    .map_err(|_| GunzipError::TooLarge)?;
            }
            // The bufread decoder stops at the end of its member's trailer, leaving the rest
            // (the next member) unread.
            let consumed = usize::try_from(decoder.get_ref().position()).unwrap_or(usize::MAX);
            if consumed == 0 {
                return Err(GunzipError::Invalid(std::io::Error::new(
                    ErrorKind::InvalidData,
                    "a gzip member ended before it began",
                )));
            }
            position = position.saturating_add(consumed);
        }
        Ok(())
    }

    /// The decoder, reset to read `rest` (copied into the reused input buffer).
    fn start(&mut self, rest: &[u8]) -> &mut flate2::bufread::GzDecoder<std::io::Cursor<Vec<u8>>> {
        let Gunzip { decoder, spare } = self;
        let mut buffer = std::mem::take(spare);
        buffer.clear();
        buffer.extend_from_slice(rest);
        let input = std::io::Cursor::new(buffer);
        match decoder {
            Some(decoder) => {
                *spare = decoder.reset(input).into_inner();
                decoder
            }
            None => decoder.insert(flate2::bufread::GzDecoder::new(input)),
        }
    }
}

/// The uncompressed size the gzip trailer (ISIZE, the last four bytes) states.
fn size_hint(compressed: &[u8]) -> usize {
    match compressed
        .len()
        .checked_sub(4)
        .and_then(|at| compressed.get(at..))
    {
        Some(&[a, b, c, d]) => usize::try_from(u32::from_le_bytes([a, b, c, d])).unwrap_or(0),
        _ => 0,
    }
}

/// Appends `piece`, refusing with `report-too-large` once the output would pass
/// [`MAX_REPORT_SIZE`].
fn append_capped(output: &mut Vec<u8>, piece: &[u8]) -> Result<(), Error> {
    let needed = output.len().saturating_add(piece.len());
    if needed > MAX_REPORT_SIZE {
        return Err(too_large());
    }
    if needed > output.capacity() {
        // Grow by doubling, as Vec would, but never past the cap: output that stops just short
        // of it must not cost up to twice the cap in memory.
        let target = needed
            .max(output.capacity().saturating_mul(2))
            .min(MAX_REPORT_SIZE);
        output.reserve_exact(target - output.len());
    }
    output.extend_from_slice(piece);
    Ok(())
}

fn too_large() -> Error {
    Error::InvalidReport(Diagnostic::error(
        ReportCode::TooLarge.as_str(),
        format!(
            "the report is larger than {} MiB once decompressed; no real report comes close",
            MAX_REPORT_SIZE / (1024 * 1024)
        ),
    ))
}

/// Reads a report from JSON bytes (not gzip: see [`read`]), tolerantly: see the module
/// documentation for what is forgiven. A leading UTF-8 byte order mark is ignored, as RFC 8259
/// §8.1 allows a parser to.
pub fn parse(json: &[u8]) -> Result<Report, Error> {
    if json.len() > MAX_REPORT_SIZE {
        return Err(too_large());
    }
    let (json, _) = strip_bom(json);
    let text = json_text(json).map_err(Error::InvalidReport)?;
    let value = json_value(text).map_err(Error::InvalidReport)?;
    from_value(&value).map_err(|finding| Error::InvalidReport(place_one(text, finding)))
}

/// Reads a report from the bytes of an attachment or HTTPS body: [`decode`], then [`parse`].
pub fn read(bytes: &[u8]) -> Result<Report, Error> {
    parse(&decode(bytes)?)
}

/// The tolerant reading of [`Report`]: a report is deserialized as a JSON value and read the way
/// [`parse`] reads it. Errors carry [`parse`]'s message, without its code or position.
impl<'de> Deserialize<'de> for Report {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        from_value(&value).map_err(|finding| D::Error::custom(finding.message))
    }
}

/// Splits off a leading UTF-8 byte order mark, saying whether there was one.
pub(crate) fn strip_bom(json: &[u8]) -> (&[u8], bool) {
    match json.strip_prefix(BOM) {
        Some(rest) => (rest, true),
        None => (json, false),
    }
}

/// The bytes as text; JSON exchanged between systems is UTF-8 (RFC 8259 §8.1).
pub(crate) fn json_text(json: &[u8]) -> Result<&str, Diagnostic> {
    std::str::from_utf8(json).map_err(|error| {
        let valid = json.get(..error.valid_up_to()).unwrap_or_default();
        let line_start = valid
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |newline| newline + 1);
        let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
        let prefix = String::from_utf8_lossy(valid.get(line_start..).unwrap_or_default());
        let diagnostic = Diagnostic::error(
            ReportCode::NotJson.as_str(),
            format!(
                "the report is not JSON: invalid UTF-8 at byte {}",
                error.valid_up_to()
            ),
        )
        .on_line(line)
        .at_column(prefix.chars().count() + 1, 1);
        if json.starts_with(&GZIP_MAGIC) {
            diagnostic.with_hint("this is gzip: decompress it first (report::read does)")
        } else {
            diagnostic
        }
    })
}

/// Parses the text as JSON, placing a syntax error where serde_json found it.
pub(crate) fn json_value(text: &str) -> Result<Value, Diagnostic> {
    serde_json::from_str(text).map_err(|error| {
        let (line, byte_column) = (error.line(), error.column());
        let full = error.to_string();
        let suffix = format!(" at line {line} column {byte_column}");
        let reason = full.strip_suffix(&suffix).unwrap_or(&full);
        let mut diagnostic = Diagnostic::error(
            ReportCode::NotJson.as_str(),
            format!("the report is not JSON: {reason}"),
        );
        if line > 0 {
            // serde_json counts bytes; diagnostics count characters.
            let line_text = text.split('\n').nth(line - 1).unwrap_or_default();
            let column = column_of(line_text, byte_column.saturating_sub(1));
            diagnostic = diagnostic.on_line(line).at_column(column, 1);
        }
        if text.starts_with("PK\u{3}\u{4}") {
            diagnostic = diagnostic.with_hint("this is a zip archive: extract the report from it");
        }
        diagnostic
    })
}

/// A finding about one place in the JSON tree, named by its path, before the source text is
/// searched for its line and column.
#[derive(Debug)]
pub(crate) struct Finding {
    pub(crate) code: ReportCode,
    pub(crate) message: String,
    pub(crate) hint: Option<String>,
    pub(crate) path: String,
    pub(crate) target: Target,
}

/// Which part of a member a finding points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// The member's name (unknown fields).
    Key,
    /// The member's value.
    Value,
    /// Nothing: the member is missing, so it has no position.
    Nowhere,
}

impl Finding {
    /// A finding; its code decides its severity.
    pub(crate) fn new(
        code: ReportCode,
        path: impl Into<String>,
        target: Target,
        message: impl Into<String>,
    ) -> Self {
        Finding {
            code,
            message: message.into(),
            hint: None,
            path: path.into(),
            target,
        }
    }

    /// Adds a fix hint.
    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Whether the finding is an error (see [`ReportCode::severity`]).
    pub(crate) fn is_error(&self) -> bool {
        self.code.severity() == Severity::Error
    }
}

/// The path of member `key` of the object at `parent` (`policies[0].summary`).
pub(crate) fn child(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// The path of element `index` of the array at `parent` (`policies[0]`).
pub(crate) fn item(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

/// How a path is named in a message: the root has the empty path.
fn shown(path: &str) -> &str {
    if path.is_empty() { "the report" } else { path }
}

/// The JSON type of a value, for messages.
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `report-field-missing` for a required member.
pub(crate) fn missing(path: &str) -> Finding {
    Finding::new(
        ReportCode::FieldMissing,
        path,
        Target::Nowhere,
        format!("{path} is missing"),
    )
}

/// `report-field-type` for a member of the wrong JSON type.
pub(crate) fn type_error(path: &str, expected: &str, found: &Value) -> Finding {
    Finding::new(
        ReportCode::FieldType,
        path,
        Target::Value,
        format!(
            "{} must be {expected}, not {}",
            shown(path),
            json_type(found)
        ),
    )
}

/// A session count: RFC 8460 §4.4 gives every count as an integer encoded as a JSON number.
pub(crate) fn count(value: &Value, path: &str) -> Result<u64, Finding> {
    match value {
        Value::Number(number) => number.as_u64().ok_or_else(|| {
            Finding::new(
                ReportCode::CountInvalid,
                path,
                Target::Value,
                format!("{path} is {number}; a session count must be a non-negative integer"),
            )
        }),
        other => Err(type_error(
            path,
            "a non-negative integer (a JSON number)",
            other,
        )),
    }
}

/// A `date-time` member (RFC 8460 §4.4 refers to RFC 3339).
pub(crate) fn timestamp(value: &Value, path: &str) -> Result<Timestamp, Finding> {
    timestamp_noting_zone(value, path).map(|(timestamp, _)| timestamp)
}

/// As [`timestamp`], also saying whether the text carried its zone (the lint reports it).
pub(crate) fn timestamp_noting_zone(
    value: &Value,
    path: &str,
) -> Result<(Timestamp, Zone), Finding> {
    let Value::String(text) = value else {
        return Err(type_error(path, "an RFC 3339 date-time string", value));
    };
    Timestamp::parse_noting_zone(text).map_err(|error| {
        Finding::new(
            ReportCode::DatetimeInvalid,
            path,
            Target::Value,
            format!("{path} is \"{text}\": {error}"),
        )
        .with_hint("write an RFC 3339 UTC date-time, such as 2023-01-10T00:00:00Z")
    })
}

/// The member `key` of the object at `parent`, which must be there.
fn required<'a>(
    object: &'a Map<String, Value>,
    parent: &str,
    key: &str,
) -> Result<&'a Value, Finding> {
    object.get(key).ok_or_else(|| missing(&child(parent, key)))
}

fn required_object<'a>(
    object: &'a Map<String, Value>,
    parent: &str,
    key: &str,
) -> Result<&'a Map<String, Value>, Finding> {
    let value = required(object, parent, key)?;
    value
        .as_object()
        .ok_or_else(|| type_error(&child(parent, key), "an object", value))
}

fn required_string(
    object: &Map<String, Value>,
    parent: &str,
    key: &str,
) -> Result<String, Finding> {
    match required(object, parent, key)? {
        Value::String(text) => Ok(text.clone()),
        other => Err(type_error(&child(parent, key), "a string", other)),
    }
}

fn required_count(object: &Map<String, Value>, parent: &str, key: &str) -> Result<u64, Finding> {
    count(required(object, parent, key)?, &child(parent, key))
}

fn required_timestamp(
    object: &Map<String, Value>,
    parent: &str,
    key: &str,
) -> Result<Timestamp, Finding> {
    timestamp(required(object, parent, key)?, &child(parent, key))
}

/// An optional string member: missing and `null` both read as `None`.
fn optional_string(
    object: &Map<String, Value>,
    parent: &str,
    key: &str,
) -> Result<Option<String>, Finding> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(other) => Err(type_error(&child(parent, key), "a string", other)),
    }
}

/// A list of strings, tolerantly: missing or `null` is empty, and one string is a list of one
/// (the RFC's own example writes `mx-host` that way, Microsoft `policy-string` for TLSA).
fn string_list(
    object: &Map<String, Value>,
    parent: &str,
    key: &str,
) -> Result<Vec<String>, Finding> {
    let path = child(parent, key);
    match object.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(text)) => Ok(vec![text.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(index, element)| match element {
                Value::String(text) => Ok(text.clone()),
                other => Err(type_error(&item(&path, index), "a string", other)),
            })
            .collect(),
        Some(other) => Err(type_error(&path, "an array of strings", other)),
    }
}

/// The tolerant reading of a parsed JSON value. Members are read in the RFC's order, and the
/// first problem that leaves nothing to read is the error.
pub(crate) fn from_value(value: &Value) -> Result<Report, Finding> {
    let root = value
        .as_object()
        .ok_or_else(|| type_error("", "a JSON object", value))?;
    let organization_name = required_string(root, "", "organization-name")?;
    let date_range = required_object(root, "", "date-range")?;
    let start = required_timestamp(date_range, "date-range", "start-datetime")?;
    let end = required_timestamp(date_range, "date-range", "end-datetime")?;
    let contact_info = optional_string(root, "", "contact-info")?;
    let report_id = required_string(root, "", "report-id")?;
    let policies = match required(root, "", "policies")? {
        // RFC 8460 §4.4: "policies" MUST be an array, even for one policy.
        Value::Array(entries) => entries
            .iter()
            .enumerate()
            .map(|(index, entry)| policy_result(entry, &item("policies", index)))
            .collect::<Result<Vec<_>, _>>()?,
        other => return Err(type_error("policies", "an array", other)),
    };
    Ok(Report {
        organization_name,
        date_range: DateRange { start, end },
        contact_info,
        report_id,
        policies,
    })
}

fn policy_result(value: &Value, path: &str) -> Result<PolicyResult, Finding> {
    let entry = value
        .as_object()
        .ok_or_else(|| type_error(path, "an object", value))?;

    let policy_path = child(path, "policy");
    let policy = required_object(entry, path, "policy")?;
    let policy_type = match required(policy, &policy_path, "policy-type")? {
        Value::String(text) => PolicyType::from_wire(text),
        other => {
            return Err(type_error(
                &child(&policy_path, "policy-type"),
                "a string",
                other,
            ));
        }
    };
    let policy = AppliedPolicy {
        policy_type,
        policy_string: string_list(policy, &policy_path, "policy-string")?,
        policy_domain: optional_string(policy, &policy_path, "policy-domain")?,
        mx_host: string_list(policy, &policy_path, "mx-host")?,
    };

    let summary_path = child(path, "summary");
    let summary = required_object(entry, path, "summary")?;
    let summary = Summary {
        total_successful_session_count: required_count(
            summary,
            &summary_path,
            "total-successful-session-count",
        )?,
        total_failure_session_count: required_count(
            summary,
            &summary_path,
            "total-failure-session-count",
        )?,
    };

    let details_path = child(path, "failure-details");
    let failure_details = match entry.get("failure-details") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(details)) => details
            .iter()
            .enumerate()
            .map(|(index, detail)| failure_detail(detail, &item(&details_path, index)))
            .collect::<Result<Vec<_>, _>>()?,
        Some(other) => return Err(type_error(&details_path, "an array", other)),
    };
    Ok(PolicyResult {
        policy,
        summary,
        failure_details,
    })
}

fn failure_detail(value: &Value, path: &str) -> Result<FailureDetail, Finding> {
    let detail = value
        .as_object()
        .ok_or_else(|| type_error(path, "an object", value))?;
    let result_type = match required(detail, path, "result-type")? {
        Value::String(text) => ResultType::from_wire(text),
        other => return Err(type_error(&child(path, "result-type"), "a string", other)),
    };
    Ok(FailureDetail {
        result_type,
        sending_mta_ip: optional_string(detail, path, "sending-mta-ip")?,
        receiving_mx_hostname: optional_string(detail, path, "receiving-mx-hostname")?,
        receiving_mx_helo: optional_string(detail, path, "receiving-mx-helo")?,
        receiving_ip: optional_string(detail, path, "receiving-ip")?,
        failed_session_count: required_count(detail, path, "failed-session-count")?,
        additional_information: optional_string(detail, path, "additional-information")?,
        failure_reason_code: optional_string(detail, path, "failure-reason-code")?,
    })
}

// ---------------------------------------------------------------------------------------------
// Placing findings in the source text

/// A position in the source text: 1-based line, 1-based column in characters, width in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Spot {
    line: usize,
    column: usize,
    width: usize,
}

/// Where a member's name and value start.
#[derive(Debug, Clone, Copy, Default)]
struct Located {
    key: Option<Spot>,
    value: Option<Spot>,
}

/// An open object or array while scanning, with the path it sits at; `None` when no wanted path
/// lies inside it, so the paths of its members are never built.
enum Container {
    Object {
        path: Option<String>,
        key: Option<String>,
        awaiting_key: bool,
    },
    Array {
        path: Option<String>,
        index: usize,
    },
}

/// Turns findings into diagnostics, giving each the line and column of its path in `text`.
/// Findings about missing members keep no position.
pub(crate) fn place(text: &str, findings: Vec<Finding>) -> Vec<Diagnostic> {
    let wanted: HashSet<&str> = findings
        .iter()
        .filter(|finding| finding.target != Target::Nowhere)
        .map(|finding| finding.path.as_str())
        .collect();
    let spots = if wanted.is_empty() {
        HashMap::new()
    } else {
        locate(text, &wanted)
    };
    findings
        .into_iter()
        .map(|finding| position(finding, &spots))
        .collect()
}

/// [`place`] for the one finding of a refused report.
fn place_one(text: &str, finding: Finding) -> Diagnostic {
    let spots = if finding.target == Target::Nowhere {
        HashMap::new()
    } else {
        locate(text, &HashSet::from([finding.path.as_str()]))
    };
    position(finding, &spots)
}

fn position(finding: Finding, spots: &HashMap<String, Located>) -> Diagnostic {
    let spot = spots
        .get(&finding.path)
        .and_then(|located| match finding.target {
            Target::Key => located.key.or(located.value),
            Target::Value => located.value.or(located.key),
            Target::Nowhere => None,
        });
    let mut diagnostic = Diagnostic::new(
        finding.code.severity(),
        finding.code.as_str(),
        finding.message,
    );
    if let Some(hint) = finding.hint {
        diagnostic = diagnostic.with_hint(hint);
    }
    match spot {
        Some(spot) => diagnostic
            .on_line(spot.line)
            .at_column(spot.column, spot.width),
        None => diagnostic,
    }
}

/// The path of the value that starts next, given the open containers; `None` inside a container
/// no wanted path lies in.
fn value_path(stack: &[Container]) -> Option<String> {
    match stack.last() {
        None => Some(String::new()),
        Some(Container::Object {
            path: Some(path),
            key,
            ..
        }) => Some(match key {
            Some(key) => child(path, key),
            None => path.clone(),
        }),
        Some(Container::Array {
            path: Some(path),
            index,
        }) => Some(item(path, *index)),
        Some(Container::Object { path: None, .. } | Container::Array { path: None, .. }) => None,
    }
}

/// The containers a wanted path may lie in: the root and each prefix of a wanted path that ends
/// before a `.` or `[`. Without this, every value of a large array under a long member name would
/// build its own copy of the path (quadratic). The checker reaches findings only through the
/// schema's member names and indices, so the prefixes that matter are short; prefixes past
/// [`LONGEST_ANCESTOR`] bytes (dots inside an unknown member's name) are left out, which keeps
/// this linear.
fn ancestors<'a>(wanted: &HashSet<&'a str>) -> HashSet<&'a str> {
    let mut out = HashSet::new();
    for path in wanted.iter().filter(|path| !path.is_empty()) {
        out.insert("");
        for (at, byte) in path.bytes().enumerate().take(LONGEST_ANCESTOR + 1) {
            if at > 0 && (byte == b'.' || byte == b'[') {
                out.extend(path.get(..at));
            }
        }
    }
    out
}

/// The longest path [`ancestors`] keeps (`policies[123].failure-details[4567]` is 36 bytes).
const LONGEST_ANCESTOR: usize = 256;

/// Scans JSON text (already known to parse) once, recording where each wanted path's name and
/// value start. Iterative, so nesting depth costs heap, not stack.
fn locate(text: &str, wanted: &HashSet<&str>) -> HashMap<String, Located> {
    let bytes = text.as_bytes();
    let ancestors = ancestors(wanted);
    let inside = |path: Option<String>| path.filter(|path| ancestors.contains(path.as_str()));
    let mut found: HashMap<String, Located> = HashMap::new();
    let mut stack: Vec<Container> = Vec::new();
    let mut line = 1;
    let mut column = 1;
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        let spot = Spot {
            line,
            column,
            width: 1,
        };
        let mut advance = 1;
        let mut width = 1;
        match byte {
            b'\n' => {
                line += 1;
                column = 1;
                at += 1;
                continue;
            }
            b' ' | b'\t' | b'\r' => {}
            b':' => {
                if let Some(Container::Object { awaiting_key, .. }) = stack.last_mut() {
                    *awaiting_key = false;
                }
            }
            b',' => match stack.last_mut() {
                Some(Container::Object {
                    awaiting_key, key, ..
                }) => {
                    *awaiting_key = true;
                    *key = None;
                }
                Some(Container::Array { index, .. }) => *index += 1,
                None => {}
            },
            b'}' | b']' => {
                stack.pop();
            }
            b'{' | b'[' => {
                let path = value_path(&stack);
                if let Some(path) = path.as_deref()
                    && wanted.contains(path)
                {
                    found.entry(path.to_owned()).or_default().value = Some(spot);
                }
                let path = inside(path);
                stack.push(if byte == b'{' {
                    Container::Object {
                        path,
                        key: None,
                        awaiting_key: true,
                    }
                } else {
                    Container::Array { path, index: 0 }
                });
            }
            b'"' => {
                let end = string_end(bytes, at);
                let raw = text.get(at..=end).unwrap_or_default();
                advance = end + 1 - at;
                width = width_of(raw);
                let spot = Spot { width, ..spot };
                match stack.last_mut() {
                    Some(Container::Object {
                        path: Some(path),
                        key,
                        awaiting_key: true,
                    }) => {
                        let name: String = serde_json::from_str(raw).unwrap_or_default();
                        let member = child(path, &name);
                        if wanted.contains(member.as_str()) {
                            found.entry(member).or_default().key = Some(spot);
                        }
                        *key = Some(name);
                    }
                    Some(Container::Object {
                        awaiting_key: true, ..
                    }) => {}
                    _ => {
                        if let Some(path) = value_path(&stack)
                            && wanted.contains(path.as_str())
                        {
                            found.entry(path).or_default().value = Some(spot);
                        }
                    }
                }
            }
            _ => {
                // A number or literal runs to the next delimiter; all of it is ASCII.
                let length = bytes
                    .get(at..)
                    .unwrap_or_default()
                    .iter()
                    .take_while(|b| !matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n'))
                    .count()
                    .max(1);
                advance = length;
                width = length;
                if let Some(path) = value_path(&stack)
                    && wanted.contains(path.as_str())
                {
                    found.entry(path).or_default().value = Some(Spot { width, ..spot });
                }
            }
        }
        at += advance;
        column += width;
    }
    found
}

/// The index of the quote closing the string that opens at `start` (or the last byte).
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut at = start + 1;
    while let Some(&byte) = bytes.get(at) {
        match byte {
            b'\\' => at += 2,
            b'"' => return at,
            _ => at += 1,
        }
    }
    bytes.len().saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;
    use proptest::prelude::*;

    use super::*;

    const RFC_EXAMPLE: &[u8] = include_bytes!("../tests/fixtures/reports/rfc8460-example.json");
    const GOOGLE: &[u8] = include_bytes!("../tests/fixtures/reports/google.json");
    const MICROSOFT: &[u8] = include_bytes!("../tests/fixtures/reports/microsoft.json");
    const MAILRU: &[u8] = include_bytes!("../tests/fixtures/reports/mailru.json");
    const STALWART: &[u8] = include_bytes!("../tests/fixtures/reports/stalwart.json");
    const POSTFIX: &[u8] = include_bytes!("../tests/fixtures/reports/postfix-tlsrpt-reporter.json");

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(data).expect("writing to a Vec");
        encoder.finish().expect("finishing gzip")
    }

    fn error_code(result: Result<impl fmt::Debug, Error>) -> &'static str {
        match result {
            Ok(value) => panic!("expected an error, read {value:?}"),
            Err(error) => error.diagnostic().code,
        }
    }

    /// A minimal conforming report with `policy` spliced in as the one policy entry.
    fn with_policy(policy: &str) -> String {
        format!(
            r#"{{"organization-name": "Example", "report-id": "r1",
                "contact-info": "tlsrpt@example.org",
                "date-range": {{"start-datetime": "2024-01-01T00:00:00Z",
                                "end-datetime": "2024-01-01T23:59:59Z"}},
                "policies": [{policy}]}}"#
        )
    }

    #[test]
    fn rfc_example_is_read() {
        let report = parse(RFC_EXAMPLE).expect("the RFC example reads");
        assert_eq!(report.organization_name, "Company-X");
        assert_eq!(report.report_id, "5065427c-23d3-47ca-b6e0-946ea0e8c4be");
        assert_eq!(
            report.contact_info.as_deref(),
            Some("sts-reporting@company-x.example")
        );
        assert_eq!(report.date_range.start.to_string(), "2016-04-01T00:00:00Z");
        assert_eq!(report.date_range.end.to_string(), "2016-04-01T23:59:59Z");
        let [policy] = report.policies.as_slice() else {
            panic!("one policy expected");
        };
        assert_eq!(policy.policy.policy_type, PolicyType::Sts);
        assert_eq!(policy.policy.policy_string.len(), 4);
        assert_eq!(
            policy.policy.policy_domain.as_deref(),
            Some("company-y.example")
        );
        // The RFC example writes mx-host as one string.
        assert_eq!(policy.policy.mx_host, ["*.mail.company-y.example"]);
        assert_eq!(policy.summary.total_successful_session_count, 5326);
        assert_eq!(policy.summary.total_failure_session_count, 303);
        let types: Vec<_> = policy
            .failure_details
            .iter()
            .map(|d| d.result_type.clone())
            .collect();
        assert_eq!(
            types,
            [
                ResultType::CertificateExpired,
                ResultType::StarttlsNotSupported,
                ResultType::ValidationFailure
            ]
        );
        let last = &policy.failure_details[2];
        assert_eq!(last.sending_mta_ip.as_deref(), Some("198.51.100.62"));
        assert_eq!(last.receiving_ip.as_deref(), Some("203.0.113.58"));
        assert_eq!(
            last.failure_reason_code.as_deref(),
            Some("X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED")
        );
        assert_eq!(last.failed_session_count, 3);
        assert!(policy.failure_details[1].additional_information.is_some());
    }

    #[test]
    fn google_style_is_read() {
        let report = parse(GOOGLE).expect("reads");
        assert_eq!(report.organization_name, "Google Inc.");
        assert_eq!(
            report.date_range.end.unix_seconds() - report.date_range.start.unix_seconds(),
            86_399
        );
        let [policy] = report.policies.as_slice() else {
            panic!("one policy expected");
        };
        assert_eq!(policy.policy.policy_type, PolicyType::NoPolicyFound);
        assert_eq!(policy.policy.policy_domain.as_deref(), Some("example.com"));
        assert!(policy.policy.policy_string.is_empty());
        assert!(policy.policy.mx_host.is_empty());
        assert!(policy.failure_details.is_empty());
        assert_eq!(policy.summary.total_successful_session_count, 37);
    }

    #[test]
    fn microsoft_style_is_read() {
        let report = parse(MICROSOFT).expect("reads");
        // Zone-less datetimes are read as UTC: 2023-01-10T00:00:00Z is 1673308800.
        assert_eq!(report.date_range.start.unix_seconds(), 1_673_308_800);
        assert_eq!(report.date_range.end.unix_seconds(), 1_673_395_199);
        // The zone's absence is the lint's business; the instant equals the zoned one.
        assert_eq!(
            Some(report.date_range.start),
            Timestamp::parse("2023-01-10T00:00:00Z").ok()
        );
        let [sts, tlsa] = report.policies.as_slice() else {
            panic!("two policies expected");
        };
        assert_eq!(sts.policy.policy_type, PolicyType::Sts);
        assert!(sts.policy.mx_host.is_empty());
        assert_eq!(tlsa.policy.policy_type, PolicyType::Tlsa);
        // The TLSA records, JSON-encoded into one string, are kept as given.
        assert_eq!(tlsa.policy.policy_string.len(), 1);
        assert!(tlsa.policy.policy_string[0].starts_with("[\"3 1 1 "));
        // The same sessions are counted under both policies.
        assert_eq!(sts.summary, tlsa.summary);
        let detail = &sts.failure_details[0];
        assert_eq!(detail.sending_mta_ip, None);
        assert_eq!(detail.receiving_ip, None);
        assert_eq!(detail.receiving_mx_hostname, None);
        assert_eq!(detail.failed_session_count, 1);
    }

    #[test]
    fn mailru_style_is_read() {
        let report = parse(MAILRU).expect("reads");
        let policy = &report.policies[0];
        assert!(policy.policy.policy_string.is_empty());
        assert_eq!(policy.summary.total_failure_session_count, 5);
        let details: u64 = policy
            .failure_details
            .iter()
            .map(|d| d.failed_session_count)
            .sum();
        assert_eq!(details, 3);
        assert_eq!(
            report.date_range.end.unix_seconds() - report.date_range.start.unix_seconds(),
            86_400
        );
    }

    #[test]
    fn stalwart_style_is_read() {
        let report = parse(STALWART).expect("reads");
        assert_eq!(report.contact_info, None);
        let policy = &report.policies[0];
        assert!(policy.policy.mx_host.is_empty());
        assert!(policy.failure_details.is_empty());
        assert_eq!(
            policy.summary,
            Summary {
                total_successful_session_count: 0,
                total_failure_session_count: 0
            }
        );
    }

    #[test]
    fn postfix_style_is_read() {
        let report = parse(POSTFIX).expect("reads");
        let policy = &report.policies[0];
        assert_eq!(policy.policy.policy_type, PolicyType::NoPolicyFound);
        assert_eq!(policy.policy.policy_domain, None);
        assert_eq!(policy.summary.total_successful_session_count, 1);
    }

    #[test]
    fn mx_host_as_string_array_or_missing() {
        let cases: [(&str, &[&str]); 5] = [
            (r#""mx-host": "mx.example.org","#, &["mx.example.org"]),
            (
                r#""mx-host": ["a.example.org", "*.b.example.org"],"#,
                &["a.example.org", "*.b.example.org"],
            ),
            (r#""mx-host": [],"#, &[]),
            (r#""mx-host": null,"#, &[]),
            ("", &[]),
        ];
        for (member, expected) in cases {
            let json = with_policy(&format!(
                r#"{{"policy": {{"policy-type": "sts", {member} "policy-domain": "example.org"}},
                    "summary": {{"total-successful-session-count": 1, "total-failure-session-count": 0}}}}"#
            ));
            let report = parse(json.as_bytes()).unwrap_or_else(|e| panic!("{member}: {e}"));
            assert_eq!(report.policies[0].policy.mx_host, expected, "{member}");
        }
    }

    #[test]
    fn tlsa_policy_string_as_one_bare_string_is_kept() {
        let json = with_policy(
            r#"{"policy": {"policy-type": "tlsa", "policy-domain": "example.org",
                           "policy-string": "[\"3 1 1 ABCD\",\"3 1 1 EF01\"]"},
                "summary": {"total-successful-session-count": 1, "total-failure-session-count": 0}}"#,
        );
        let report = parse(json.as_bytes()).expect("reads");
        assert_eq!(
            report.policies[0].policy.policy_string,
            [r#"["3 1 1 ABCD","3 1 1 EF01"]"#]
        );
    }

    #[test]
    fn negative_count_is_refused_with_its_path() {
        let json = with_policy(
            r#"{"policy": {"policy-type": "no-policy-found"},
                "summary": {"total-successful-session-count": 4, "total-failure-session-count": -3}}"#,
        );
        let error = parse(json.as_bytes()).expect_err("negative count");
        let diagnostic = error.diagnostic();
        assert_eq!(diagnostic.code, ReportCode::CountInvalid.as_str());
        assert!(
            diagnostic
                .message
                .contains("policies[0].summary.total-failure-session-count is -3"),
            "{}",
            diagnostic.message
        );
        // The value sits on the report's sixth line.
        assert_eq!(diagnostic.line, Some(6));
    }

    #[test]
    fn fractional_and_textual_counts_are_refused() {
        for (count, code) in [
            ("1.5", ReportCode::CountInvalid),
            ("1e30", ReportCode::CountInvalid),
            ("\"7\"", ReportCode::FieldType),
            ("null", ReportCode::FieldType),
        ] {
            let json = with_policy(&format!(
                r#"{{"policy": {{"policy-type": "no-policy-found"}},
                    "summary": {{"total-successful-session-count": {count}, "total-failure-session-count": 0}}}}"#
            ));
            assert_eq!(error_code(parse(json.as_bytes())), code.as_str(), "{count}");
        }
    }

    #[test]
    fn missing_required_fields_are_refused() {
        let json =
            br#"{"organization-name": "X", "date-range": {"start-datetime": "2024-01-01T00:00:00Z",
            "end-datetime": "2024-01-01T23:59:59Z"}, "policies": []}"#;
        let error = parse(json).expect_err("no report-id");
        assert_eq!(error.diagnostic().code, "report-field-missing");
        assert_eq!(error.diagnostic().message, "report-id is missing");
        assert_eq!(error.diagnostic().line, None);

        let no_type = with_policy(
            r#"{"policy": {}, "summary": {"total-successful-session-count": 1, "total-failure-session-count": 0}}"#,
        );
        let error = parse(no_type.as_bytes()).expect_err("no policy-type");
        assert_eq!(
            error.diagnostic().message,
            "policies[0].policy.policy-type is missing"
        );
    }

    #[test]
    fn wrong_types_are_refused() {
        assert_eq!(error_code(parse(b"[]")), "report-field-type");
        let json = br#"{"organization-name": 7}"#;
        assert_eq!(error_code(parse(json)), "report-field-type");
        let policies_object = br#"{"organization-name": "X", "report-id": "r", "policies": {},
            "date-range": {"start-datetime": "2024-01-01T00:00:00Z", "end-datetime": "2024-01-01T23:59:59Z"}}"#;
        assert_eq!(error_code(parse(policies_object)), "report-field-type");
    }

    #[test]
    fn invalid_datetime_is_refused() {
        let json = br#"{"organization-name": "X", "report-id": "r", "policies": [],
            "date-range": {"start-datetime": "2024-13-01T00:00:00Z", "end-datetime": "2024-01-01T23:59:59Z"}}"#;
        let error = parse(json).expect_err("month 13");
        assert_eq!(error.diagnostic().code, "report-datetime-invalid");
        assert!(
            error
                .diagnostic()
                .message
                .contains("month 13 is out of range")
        );
    }

    #[test]
    fn unknown_types_are_kept_as_text() {
        let json = with_policy(
            r#"{"policy": {"policy-type": "dane-sts-hybrid", "policy-domain": "example.org"},
                "summary": {"total-successful-session-count": 1, "total-failure-session-count": 2},
                "failure-details": [{"result-type": "tls-version-too-old", "failed-session-count": 2}]}"#,
        );
        let report = parse(json.as_bytes()).expect("reads");
        let policy = &report.policies[0];
        assert_eq!(
            policy.policy.policy_type,
            PolicyType::Other("dane-sts-hybrid".into())
        );
        assert_eq!(
            policy.failure_details[0].result_type,
            ResultType::Other("tls-version-too-old".into())
        );
        assert_eq!(
            policy.failure_details[0].result_type.as_str(),
            "tls-version-too-old"
        );
    }

    #[test]
    fn wire_names_round_trip() {
        for text in [
            "starttls-not-supported",
            "certificate-host-mismatch",
            "certificate-expired",
            "certificate-not-trusted",
            "validation-failure",
            "tlsa-invalid",
            "dnssec-invalid",
            "dane-required",
            "sts-policy-fetch-error",
            "sts-policy-invalid",
            "sts-webpki-invalid",
        ] {
            let result_type = ResultType::from_wire(text);
            assert!(!matches!(result_type, ResultType::Other(_)), "{text}");
            assert_eq!(result_type.as_str(), text);
            assert_eq!(result_type.to_string(), text);
        }
        for text in ["sts", "tlsa", "no-policy-found"] {
            let policy_type = PolicyType::from_wire(text);
            assert!(!matches!(policy_type, PolicyType::Other(_)), "{text}");
            assert_eq!(policy_type.as_str(), text);
            assert_eq!(policy_type.to_string(), text);
        }
    }

    #[test]
    fn serializes_with_the_rfc_names() {
        let report = parse(MICROSOFT).expect("reads");
        let json: Value = serde_json::to_value(&report).expect("serializes");
        assert_eq!(json["organization-name"], "Microsoft Corporation");
        // Zone-less input is written back as RFC 3339 UTC.
        assert_eq!(json["date-range"]["start-datetime"], "2023-01-10T00:00:00Z");
        assert_eq!(json["date-range"]["end-datetime"], "2023-01-10T23:59:59Z");
        let tlsa = &json["policies"][1];
        assert_eq!(tlsa["policy"]["policy-type"], "tlsa");
        assert_eq!(
            tlsa["summary"]["total-successful-session-count"],
            Value::from(12)
        );
        assert_eq!(
            tlsa["failure-details"][0]["result-type"],
            "certificate-expired"
        );
        // Absent optional parts stay absent rather than becoming null.
        assert!(tlsa["failure-details"][0].get("sending-mta-ip").is_none());
        assert!(json["policies"][0]["policy"].get("mx-host").is_none());
    }

    #[test]
    fn serialized_report_reads_back_the_same() {
        for fixture in [RFC_EXAMPLE, GOOGLE, MAILRU, STALWART, POSTFIX] {
            let report = parse(fixture).expect("reads");
            let json = serde_json::to_vec(&report).expect("serializes");
            assert_eq!(parse(&json).expect("reads back"), report);
        }
    }

    #[test]
    fn serde_deserialize_is_the_tolerant_reader() {
        let report: Report = serde_json::from_slice(MICROSOFT).expect("deserializes");
        assert_eq!(report, parse(MICROSOFT).expect("reads"));
        let error = serde_json::from_str::<Report>(r#"{"organization-name": "X"}"#)
            .expect_err("incomplete");
        assert!(error.to_string().contains("is missing"), "{error}");
    }

    #[test]
    fn plain_input_is_returned_as_is() {
        assert_eq!(decode(GOOGLE).expect("plain"), GOOGLE);
        assert_eq!(decode(b"").expect("empty"), b"");
    }

    #[test]
    fn gzip_is_detected_and_decompressed() {
        let compressed = gzip(RFC_EXAMPLE);
        assert_eq!(decode(&compressed).expect("gunzips"), RFC_EXAMPLE);
        assert_eq!(
            read(&compressed).expect("reads"),
            parse(RFC_EXAMPLE).expect("reads")
        );
    }

    #[test]
    fn concatenated_gzip_members_are_one_file() {
        let (first, second) = RFC_EXAMPLE.split_at(100);
        let mut compressed = gzip(first);
        compressed.extend(gzip(second));
        assert_eq!(decode(&compressed).expect("gunzips"), RFC_EXAMPLE);
    }

    #[test]
    fn gzip_bomb_is_refused() {
        let bomb = gzip(&vec![0u8; 20 * 1024 * 1024]);
        assert!(bomb.len() < 1024 * 1024, "the bomb is small compressed");
        assert_eq!(error_code(decode(&bomb)), "report-too-large");
        assert_eq!(error_code(read(&bomb)), "report-too-large");
    }

    #[test]
    fn output_at_the_cap_is_accepted() {
        let exact = gzip(&vec![b' '; MAX_REPORT_SIZE]);
        let decoded = decode(&exact).expect("exactly at the cap is accepted");
        assert_eq!(decoded.len(), MAX_REPORT_SIZE);
        let over = gzip(&vec![b' '; MAX_REPORT_SIZE + 1]);
        assert_eq!(error_code(decode(&over)), "report-too-large");
    }

    #[test]
    fn growth_never_allocates_past_the_cap() {
        // Uneven pieces, so plain doubling (100, 200, ... bytes) would overshoot the cap.
        let mut output = Vec::new();
        append_capped(&mut output, &[b' '; 100]).expect("small");
        let chunk = vec![b' '; CHUNK_SIZE];
        while output.len() + CHUNK_SIZE <= MAX_REPORT_SIZE {
            append_capped(&mut output, &chunk).expect("under the cap");
            assert!(
                output.capacity() <= MAX_REPORT_SIZE,
                "{}",
                output.capacity()
            );
        }
        let rest = MAX_REPORT_SIZE - output.len();
        append_capped(&mut output, &chunk[..rest]).expect("up to the cap");
        assert_eq!(output.len(), MAX_REPORT_SIZE);
        assert!(
            output.capacity() <= MAX_REPORT_SIZE,
            "{}",
            output.capacity()
        );
        assert_eq!(
            error_code(append_capped(&mut output, b" ")),
            "report-too-large"
        );
        assert_eq!(
            output.len(),
            MAX_REPORT_SIZE,
            "nothing appended past the cap"
        );
    }

    #[test]
    fn plain_input_over_the_cap_is_refused() {
        let big = vec![b' '; MAX_REPORT_SIZE + 1];
        assert_eq!(error_code(decode(&big)), "report-too-large");
        assert_eq!(error_code(parse(&big)), "report-too-large");
    }

    #[test]
    fn gzip_input_over_the_cap_is_too_large_not_broken() {
        // What a reader that stops one byte past the cap hands over: cut gzip.
        let mut cut = GZIP_MAGIC.to_vec();
        cut.resize(MAX_REPORT_SIZE + 1, 0);
        assert_eq!(error_code(decode(&cut)), "report-too-large");
    }

    #[test]
    fn truncated_gzip_is_refused() {
        let compressed = gzip(RFC_EXAMPLE);
        for cut in [2, 10, compressed.len() / 2, compressed.len() - 4] {
            let truncated = &compressed[..cut];
            assert_eq!(
                error_code(decode(truncated)),
                "report-gzip-invalid",
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn not_json_is_placed_at_its_line_and_column() {
        let error = parse(b"{\n  \"organization-name\": Company-X\n}").expect_err("not JSON");
        let diagnostic = error.diagnostic();
        assert_eq!(diagnostic.code, "report-not-json");
        assert_eq!((diagnostic.line, diagnostic.column), (Some(2), Some(24)));
        assert!(
            !diagnostic.message.contains("at line"),
            "{}",
            diagnostic.message
        );

        // Columns count characters, not bytes: "é" is two bytes.
        let error = parse("{\"é\": x}".as_bytes()).expect_err("not JSON");
        assert_eq!(error.diagnostic().column, Some(7));

        let error = parse(b"PK\x03\x04\x14\x00").expect_err("zip");
        assert!(error.diagnostic().hint.is_some());
        let error = parse(&gzip(GOOGLE)).expect_err("gzip is not JSON");
        assert_eq!(error.diagnostic().code, "report-not-json");
        assert!(
            error
                .diagnostic()
                .hint
                .as_deref()
                .is_some_and(|h| h.contains("gzip"))
        );
        assert_eq!(error_code(parse(b"")), "report-not-json");
    }

    #[test]
    fn invalid_utf8_is_not_json() {
        let error = parse(b"{\n \"a\": \"\xff\"}").expect_err("not UTF-8");
        assert_eq!(error.diagnostic().code, "report-not-json");
        assert_eq!(error.diagnostic().line, Some(2));
        assert_eq!(error.diagnostic().column, Some(8));
    }

    #[test]
    fn byte_order_mark_is_ignored() {
        let mut json = BOM.to_vec();
        json.extend_from_slice(GOOGLE);
        assert_eq!(parse(&json).expect("reads"), parse(GOOGLE).expect("reads"));
    }

    proptest! {
        #[test]
        fn read_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = read(&bytes);
        }
    }
}
