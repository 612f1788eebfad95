use std::io::Write;

use flate2::Compression;
use flate2::write::{DeflateEncoder, GzEncoder};

use super::*;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

/// A zip archive with one entry, as PKWARE APPNOTE 4.3.7 lays out a local header.
fn zip(name: &str, content: &[u8], deflate: bool) -> Vec<u8> {
    let data = if deflate {
        let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(content).expect("deflate");
        encoder.finish().expect("deflate")
    } else {
        content.to_vec()
    };
    let mut out = Vec::new();
    out.extend_from_slice(b"PK\x03\x04");
    out.extend_from_slice(&20u16.to_le_bytes()); // version
    out.extend_from_slice(&0u16.to_le_bytes()); // flags
    out.extend_from_slice(&(if deflate { 8u16 } else { 0 }).to_le_bytes());
    out.extend_from_slice(&[0; 8]); // time, date, crc
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&(content.len() as u32).to_le_bytes());
    out.extend_from_slice(&(name.len() as u16).to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(&data);
    out
}

#[test]
fn sniffs_by_content_not_name() {
    assert_eq!(sniff(b"{\"a\":1}"), PayloadKind::Json);
    assert_eq!(sniff(b"\xEF\xBB\xBF \n{"), PayloadKind::Json);
    assert_eq!(sniff(&gzip(b"{}")), PayloadKind::Gzip);
    assert_eq!(sniff(&zip("r.json", b"{}", true)), PayloadKind::Zip);
    assert_eq!(
        sniff(b"From MAILER-DAEMON Mon Dec  7 00:00:00 2026\n"),
        PayloadKind::Mbox
    );
    assert_eq!(
        sniff(b"Return-Path: <a@b>\r\nSubject: x\r\n\r\n"),
        PayloadKind::Message
    );
    // "From:" is a header field, "From " a mailbox separator.
    assert_eq!(sniff(b"From: a@b\n\nbody"), PayloadKind::Message);
    assert_eq!(sniff(b""), PayloadKind::Unknown);
    assert_eq!(sniff(b"   \n"), PayloadKind::Unknown);
    assert_eq!(sniff(b"hello world"), PayloadKind::Unknown);
    // A colon after a space is not a header field name.
    assert_eq!(sniff(b"a b: c"), PayloadKind::Unknown);
}

#[test]
fn unzips_stored_and_deflated_entries() {
    let report = br#"{"organization-name":"x"}"#;
    assert_eq!(
        unzip_first(&zip("r.json", report, true)),
        Ok(report.to_vec())
    );
    assert_eq!(
        unzip_first(&zip("r.json", report, false)),
        Ok(report.to_vec())
    );
}

#[test]
fn refuses_broken_zip_with_a_reason() {
    let whole = zip("r.json", b"{}", false);
    // Cut inside the header.
    assert_eq!(unzip_first(&whole[..20]), Err(ZipError::Header));
    let mut encrypted = whole.clone();
    encrypted[6] = 1;
    assert_eq!(unzip_first(&encrypted), Err(ZipError::Encrypted));
    let mut bzip2 = whole;
    bzip2[8] = 12;
    assert_eq!(unzip_first(&bzip2), Err(ZipError::Method(12)));
}

#[test]
fn a_zip_bomb_stops_at_the_cap() {
    let bomb = zip("bomb.json", &vec![b' '; MAX_REPORT_SIZE + 10], true);
    assert!(bomb.len() < 100_000, "the bomb is small: {}", bomb.len());
    assert_eq!(unzip_first(&bomb), Err(ZipError::TooLarge));
}
