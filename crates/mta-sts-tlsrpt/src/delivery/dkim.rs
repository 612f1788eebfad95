//! DKIM signing (RFC 6376) of the report mail: RFC 8460 §3 says reports sent by mail SHOULD
//! carry a valid DKIM signature of the reporting domain, and that a receiver SHOULD ignore
//! reports without one.
//!
//! Written here on ring, which the tree already has, because neither crate fits: lettre's
//! `dkim` feature brings the `rsa` crate (RUSTSEC-2023-0071, a timing side channel) and
//! ed25519-dalek, and mail-auth's releases that build on rustc 1.95 bring a second
//! hickory-resolver (0.24) and a second mail-parser (0.10). Signing is the small half of DKIM:
//! relaxed canonicalization, two SHA-256 hashes and one signature.
//!
//! The service type of tlsrpt-reporter's issue #7: `s=tlsrpt` belongs in the key's DNS record
//! (RFC 8460 §3: "The DKIM TXT record SHOULD contain the appropriate service type declaration,
//! `s=tlsrpt`"), not in the signature; [`DkimSigner::dns_record`] writes such a record.

use std::path::Path;

use mta_sts_core::Timestamp;
use ring::digest::{SHA256, digest};
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject as _;

use crate::TlsRptError;

/// The header fields signed, in this order: those RFC 6376 §5.4.1 recommends that the report
/// mail has, and RFC 8460 §5.3's own (`TLS-Report-Domain`, `TLS-Report-Submitter`) with the
/// marks that keep the mail from being reported on (`TLS-Required`, `Auto-Submitted`).
/// `From` is listed twice (RFC 6376 §8.15: a second, absent instance is signed as empty, so
/// no second `From` can be added without breaking the signature).
pub const SIGNED_HEADERS: [&str; 12] = [
    "from",
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "tls-report-domain",
    "tls-report-submitter",
    "tls-required",
    "auto-submitted",
];

/// The signing algorithm, chosen by the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DkimAlgorithm {
    /// `rsa-sha256` (RFC 6376 §3.3.1).
    RsaSha256,
    /// `ed25519-sha256` (RFC 8463).
    Ed25519Sha256,
}

impl DkimAlgorithm {
    /// The `a=` value.
    pub fn as_str(self) -> &'static str {
        match self {
            DkimAlgorithm::RsaSha256 => "rsa-sha256",
            DkimAlgorithm::Ed25519Sha256 => "ed25519-sha256",
        }
    }
}

enum SigningKey {
    Rsa(RsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A loaded key with its selector and signing domain.
pub struct DkimSigner {
    key: SigningKey,
    selector: String,
    domain: String,
    rng: SystemRandom,
}

impl std::fmt::Debug for DkimSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DkimSigner")
            .field("algorithm", &self.algorithm())
            .field("selector", &self.selector)
            .field("domain", &self.domain)
            .finish_non_exhaustive()
    }
}

impl DkimSigner {
    /// Reads a PEM private key file: RSA (PKCS#1 `RSA PRIVATE KEY` or PKCS#8 `PRIVATE KEY`,
    /// 2048 to 8192 bits, what ring signs with; RFC 8301 §3.2 asks for at least 1024 and
    /// recommends 2048) or Ed25519 (PKCS#8).
    pub fn from_pem_file(
        path: &Path,
        selector: &str,
        domain: &str,
    ) -> Result<DkimSigner, TlsRptError> {
        let pem = std::fs::read(path).map_err(|source| TlsRptError::DeliveryFile {
            what: "the DKIM private key",
            path: path.to_path_buf(),
            source,
        })?;
        DkimSigner::from_pem(&pem, selector, domain).map_err(|e| match e {
            TlsRptError::DeliverySetting { key, message } => TlsRptError::DeliverySetting {
                key,
                message: format!("{}: {message}", path.display()),
            },
            other => other,
        })
    }

    /// As [`from_pem_file`](Self::from_pem_file), from the PEM text.
    pub fn from_pem(pem: &[u8], selector: &str, domain: &str) -> Result<DkimSigner, TlsRptError> {
        let bad = |message: String| TlsRptError::DeliverySetting {
            key: "dkim.key_file",
            message,
        };
        check_tag_value("dkim.selector", selector)?;
        check_tag_value("dkim.domain", domain)?;
        let der = PrivateKeyDer::from_pem_slice(pem)
            .map_err(|e| bad(format!("no PEM private key could be read ({e})")))?;
        let key = match &der {
            PrivateKeyDer::Pkcs1(pkcs1) => RsaKeyPair::from_der(pkcs1.secret_pkcs1_der())
                .map(SigningKey::Rsa)
                .map_err(|e| {
                    bad(format!(
                        "the RSA key is not usable: {e} (2048 to 8192 bits are)"
                    ))
                })?,
            PrivateKeyDer::Pkcs8(pkcs8) => {
                let bytes = pkcs8.secret_pkcs8_der();
                match Ed25519KeyPair::from_pkcs8_maybe_unchecked(bytes) {
                    Ok(pair) => SigningKey::Ed25519(pair),
                    Err(_) => RsaKeyPair::from_pkcs8(bytes).map(SigningKey::Rsa).map_err(|e| {
                        bad(format!(
                            "the PKCS#8 key is neither Ed25519 nor a usable RSA key: {e} (RSA keys of 2048 to 8192 bits are)"
                        ))
                    })?,
                }
            }
            _ => {
                return Err(bad(
                    "the key is an EC (SEC1) key; DKIM signs with RSA or Ed25519 (RFC 6376, RFC 8463)"
                        .into(),
                ));
            }
        };
        Ok(DkimSigner {
            key,
            selector: selector.to_string(),
            domain: domain.to_ascii_lowercase(),
            rng: SystemRandom::new(),
        })
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> DkimAlgorithm {
        match self.key {
            SigningKey::Rsa(_) => DkimAlgorithm::RsaSha256,
            SigningKey::Ed25519(_) => DkimAlgorithm::Ed25519Sha256,
        }
    }

    /// The signing domain (`d=`).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The name the key record is published at: `SELECTOR._domainkey.DOMAIN`.
    pub fn record_name(&self) -> String {
        format!("{}._domainkey.{}", self.selector, self.domain)
    }

    /// The key's TXT record, with the service type RFC 8460 §3 asks for:
    /// `v=DKIM1; k=rsa; s=tlsrpt; p=...` (`p=` the SubjectPublicKeyInfo for RSA, RFC 6376
    /// §3.6.1; the raw 32-byte key for Ed25519, RFC 8463 §4).
    pub fn dns_record(&self) -> String {
        let (k, public) = match &self.key {
            SigningKey::Rsa(pair) => ("rsa", rsa_spki(pair.public_key().as_ref())),
            SigningKey::Ed25519(pair) => ("ed25519", pair.public_key().as_ref().to_vec()),
        };
        format!(
            "v=DKIM1; k={k}; s=tlsrpt; p={}",
            data_encoding::BASE64.encode(&public)
        )
    }

    /// Signs `message` (header and body separated by an empty line, CRLF line ends) at `now`
    /// and returns the `DKIM-Signature:` header field, folded, ending in CRLF, to put in front.
    pub fn sign(&self, message: &[u8], now: Timestamp) -> Result<String, TlsRptError> {
        let (header, body) = split_message(message);
        let body_hash = data_encoding::BASE64.encode(digest(&SHA256, &relaxed_body(body)).as_ref());
        let fields = header_fields(header);
        let mut signed = Vec::new();
        // RFC 6376 §5.4.2: several instances of a name are taken from the bottom up; an
        // instance not there is signed as nothing.
        let mut used: Vec<usize> = Vec::new();
        for name in SIGNED_HEADERS {
            let found = fields
                .iter()
                .enumerate()
                .rev()
                .find(|(index, (field_name, _))| {
                    field_name.eq_ignore_ascii_case(name) && !used.contains(index)
                });
            if let Some((index, (field_name, value))) = found {
                used.push(index);
                signed.extend_from_slice(relaxed_header(field_name, value).as_bytes());
                signed.extend_from_slice(b"\r\n");
            }
        }
        // RFC 8460 §3: DKIM signatures MUST NOT use the "l=" attribute (none is written).
        let value = format!(
            " v=1; a={}; c=relaxed/relaxed; d={}; s={};\r\n\tt={}; h={};\r\n\tbh={};\r\n\tb=",
            self.algorithm().as_str(),
            self.domain,
            self.selector,
            now.unix_seconds(),
            // RFC 6376 §3.5: folding whitespace may stand around the colons of h=.
            SIGNED_HEADERS
                .chunks(4)
                .map(|names| names.join(":"))
                .collect::<Vec<_>>()
                .join(":\r\n\t  "),
            body_hash
        );
        // RFC 6376 §3.7: the signature header itself, b= empty, canonicalized, no final CRLF.
        signed.extend_from_slice(relaxed_header("DKIM-Signature", &value).as_bytes());
        let signature = match &self.key {
            SigningKey::Rsa(pair) => {
                let mut out = vec![0; pair.public().modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &self.rng, &signed, &mut out)
                    .map_err(|_| TlsRptError::DeliverySetting {
                        key: "dkim.key_file",
                        message: "ring refused to sign with the RSA key".into(),
                    })?;
                out
            }
            // RFC 8463 §3: Ed25519 signs the SHA-256 hash of the data, not the data itself.
            SigningKey::Ed25519(pair) => pair
                .sign(digest(&SHA256, &signed).as_ref())
                .as_ref()
                .to_vec(),
        };
        let b = data_encoding::BASE64.encode(&signature);
        Ok(format!("DKIM-Signature:{value}{}\r\n", fold_base64(&b)))
    }
}

/// Tag values must be plain (RFC 6376 §3.2: no `;`, no whitespace, no control characters).
fn check_tag_value(key: &'static str, value: &str) -> Result<(), TlsRptError> {
    if value.is_empty()
        || !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
    {
        return Err(TlsRptError::DeliverySetting {
            key,
            message: format!(
                "`{value}` is not a DKIM selector or domain (letters, digits, `.`, `-`, `_`)"
            ),
        });
    }
    Ok(())
}

/// The signature's base64 folded in lines of 72 characters so no line passes 78.
fn fold_base64(b: &str) -> String {
    let mut folded = String::with_capacity(b.len() + b.len() / 36);
    for (index, chunk) in b.as_bytes().chunks(72).enumerate() {
        if index > 0 {
            folded.push_str("\r\n\t");
        }
        folded.push_str(std::str::from_utf8(chunk).unwrap_or_default());
    }
    folded
}

/// The header block (up to and including the CRLF of its last field) and the body.
fn split_message(message: &[u8]) -> (&[u8], &[u8]) {
    match message.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(at) => (&message[..at + 2], &message[at + 4..]),
        None => (message, &[]),
    }
}

/// The header fields in order, each as (name, raw value after the colon, folding kept).
fn header_fields(header: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(header);
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.split("\r\n") {
        if line.is_empty() {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push_str("\r\n");
                value.push_str(line);
            }
        } else if let Some((name, value)) = line.split_once(':') {
            fields.push((name.to_string(), value.to_string()));
        }
    }
    fields
}

/// RFC 6376 §3.4.2: name lowercased, unfolded, runs of whitespace made one space, whitespace
/// at the end of the value and around the colon removed.
fn relaxed_header(name: &str, value: &str) -> String {
    let unfolded = value.replace("\r\n", "");
    let mut collapsed = String::with_capacity(unfolded.len());
    let mut in_space = false;
    for c in unfolded.chars() {
        if c == ' ' || c == '\t' {
            in_space = true;
        } else {
            if in_space && !collapsed.is_empty() {
                collapsed.push(' ');
            }
            in_space = false;
            collapsed.push(c);
        }
    }
    format!("{}:{}", name.trim_end().to_ascii_lowercase(), collapsed)
}

/// RFC 6376 §3.4.4: whitespace at line ends removed, runs of whitespace made one space, empty
/// lines at the end removed, and a non-empty body ending in one CRLF.
fn relaxed_body(body: &[u8]) -> Vec<u8> {
    // Lines end in CRLF (RFC 5322 §2.3); a lone CR or LF is part of a line's text.
    let mut raw_lines: Vec<&[u8]> = Vec::new();
    let mut rest = body;
    while let Some(at) = rest.windows(2).position(|w| w == b"\r\n") {
        raw_lines.push(&rest[..at]);
        rest = &rest[at + 2..];
    }
    if !rest.is_empty() {
        raw_lines.push(rest);
    }
    let mut lines: Vec<Vec<u8>> = Vec::with_capacity(raw_lines.len());
    for line in raw_lines {
        let mut out = Vec::with_capacity(line.len());
        let mut in_space = false;
        for &b in line {
            if b == b' ' || b == b'\t' {
                in_space = true;
            } else {
                if in_space {
                    out.push(b' ');
                }
                in_space = false;
                out.push(b);
            }
        }
        lines.push(out);
    }
    while lines.last().is_some_and(|line| line.is_empty()) {
        lines.pop();
    }
    let mut canonical = Vec::with_capacity(body.len());
    for line in lines {
        canonical.extend_from_slice(&line);
        canonical.extend_from_slice(b"\r\n");
    }
    canonical
}

/// An RSAPublicKey (PKCS#1, what ring gives) wrapped as a SubjectPublicKeyInfo, the form
/// `p=` is read as (RFC 6376 §3.6.1): DER written by hand, a fixed prefix and two lengths.
fn rsa_spki(rsa_public_key: &[u8]) -> Vec<u8> {
    // AlgorithmIdentifier { rsaEncryption (1.2.840.113549.1.1.1), NULL }.
    const ALGORITHM: [u8; 15] = [
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut bit_string = vec![0x03];
    der_length(&mut bit_string, rsa_public_key.len() + 1);
    bit_string.push(0x00);
    bit_string.extend_from_slice(rsa_public_key);
    let mut spki = vec![0x30];
    der_length(&mut spki, ALGORITHM.len() + bit_string.len());
    spki.extend_from_slice(&ALGORITHM);
    spki.extend_from_slice(&bit_string);
    spki
}

fn der_length(out: &mut Vec<u8>, length: usize) {
    if length < 0x80 {
        out.push(length as u8);
    } else {
        let bytes = length.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

#[cfg(test)]
mod tests;
