use super::*;

const RSA_PKCS8: &str = include_str!("../../../testdata/dkim-rsa-pkcs8.pem");
const RSA_PKCS1: &str = include_str!("../../../testdata/dkim-rsa-pkcs1.pem");
const ED25519: &str = include_str!("../../../testdata/dkim-ed25519.pem");
/// The public keys as openssl wrote them, not as this code does.
const RSA_PUBLIC: &str = include_str!("../../../testdata/dkim-rsa.pub.b64");
const ED25519_PUBLIC: &str = include_str!("../../../testdata/dkim-ed25519.pub.b64");

/// 2026-12-07T00:00:00Z.
fn when() -> Timestamp {
    Timestamp::from_unix_seconds(1_796_601_600).expect("in range")
}

const MESSAGE: &[u8] = b"From: TLS reports <tlsrpt@example.org>\r\n\
To: reports@example.net\r\n\
Subject: Report Domain: example.net\r\n Submitter: example.org\r\n Report-ID: <1@example.org>\r\n\
Date: Mon, 07 Dec 2026 00:00:00 +0000\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain\r\n\
\r\n\
Hello  \t world \r\n\
\r\n\
\r\n";

#[test]
fn the_key_record_carries_openssls_public_key_and_the_tlsrpt_service_type() {
    let rsa = DkimSigner::from_pem(RSA_PKCS8.as_bytes(), "s1", "Example.ORG").expect("rsa key");
    assert_eq!(rsa.algorithm(), DkimAlgorithm::RsaSha256);
    assert_eq!(rsa.domain(), "example.org");
    assert_eq!(rsa.record_name(), "s1._domainkey.example.org");
    assert_eq!(
        rsa.dns_record(),
        format!("v=DKIM1; k=rsa; s=tlsrpt; p={RSA_PUBLIC}")
    );
    let pkcs1 = DkimSigner::from_pem(RSA_PKCS1.as_bytes(), "s1", "example.org").expect("pkcs1");
    assert_eq!(pkcs1.dns_record(), rsa.dns_record());
    let ed = DkimSigner::from_pem(ED25519.as_bytes(), "s2", "example.org").expect("ed25519");
    assert_eq!(ed.algorithm(), DkimAlgorithm::Ed25519Sha256);
    assert_eq!(
        ed.dns_record(),
        format!("v=DKIM1; k=ed25519; s=tlsrpt; p={ED25519_PUBLIC}")
    );
}

#[test]
fn bad_keys_and_tags_are_refused_with_a_reason() {
    let refused =
        |pem: &[u8], selector: &str| match DkimSigner::from_pem(pem, selector, "example.org") {
            Err(TlsRptError::DeliverySetting { key, .. }) => key,
            other => panic!("expected a refusal, got {other:?}"),
        };
    assert_eq!(refused(b"not pem", "s1"), "dkim.key_file");
    assert_eq!(refused(RSA_PKCS8.as_bytes(), "s1;x"), "dkim.selector");
    assert_eq!(refused(RSA_PKCS8.as_bytes(), ""), "dkim.selector");
    let ec = rcgen::KeyPair::generate()
        .expect("p-256 key")
        .serialize_pem();
    assert_eq!(refused(ec.as_bytes(), "s1"), "dkim.key_file");
}

/// The signature dkimpy (tests/dkim_verify.py, `tlsrpt="strict"`) verified for [`MESSAGE`] signed with the RSA test key at [`when`]
/// (RSA PKCS#1 v1.5 is deterministic, so it is the same on every run).
const KNOWN_GOOD_RSA: &str = concat!(
    "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=s1;\r\n",
    "\tt=1796601600; h=from:from:to:subject:\r\n",
    "\t  date:message-id:mime-version:content-type:\r\n",
    "\t  tls-report-domain:tls-report-submitter:tls-required:auto-submitted;\r\n",
    "\tbh=yGIXoM91E1DiKjvCBcC8NlWyw54TdfMQ08sdtwtOO4I=;\r\n",
    "\tb=ZVeXAMxN8lFdYszdVUTfMtuHlbolbn7mB9HobSgmN1vU2u0xo4dPDMQC1kVxOTdReDjh6+L7\r\n",
    "\tFh0GTBQjNq2EaCrrIpdJfqvmJYTTd+8el8EBD9GbVzZRg3Gg+IsLD0e79NpYiwumLXLCcHHw\r\n",
    "\t3/RZAa1hSyZ+HfNl/mxWJK95tAmWLEDO88V9Uf+Z5isUR2/IybrwjPpjY852nPX1O5C36fvt\r\n",
    "\tRg67U1TtJR+A7Xe97EgqPCEImPV+Z0/JMcb0/p7/zNlkpBsn4uTR6GAXFrEOc1yEJFfHjTT7\r\n",
    "\twiLFCqzhwyUKcN7TFOM7hD59oSYFpPgpn1mFnue/Tn9AfV6Av33n4Q==\r\n",
);

#[test]
fn rsa_signature_is_the_one_dkimpy_verified() {
    let signer = DkimSigner::from_pem(RSA_PKCS8.as_bytes(), "s1", "example.org").expect("key");
    let header = signer.sign(MESSAGE, when()).expect("signed");
    if std::env::var_os("DKIM_PRINT").is_some() {
        eprintln!("{header}");
    }
    assert_eq!(header, KNOWN_GOOD_RSA);
}

#[test]
fn the_signature_header_is_well_formed() {
    let signer = DkimSigner::from_pem(ED25519.as_bytes(), "s2", "example.org").expect("key");
    let header = signer.sign(MESSAGE, when()).expect("signed");
    assert!(header.starts_with(
        "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.org; s=s2;"
    ));
    assert!(header.contains("t=1796601600;"));
    assert!(header.contains(
        "h=from:from:to:subject:\r\n\t  date:message-id:mime-version:content-type:\r\n\t  tls-report-domain:tls-report-submitter:tls-required:auto-submitted;"
    ));
    // RFC 8460 §3: never l=.
    assert!(!header.contains("l="));
    assert!(header.ends_with("\r\n"));
    assert!(
        header.split("\r\n").all(|line| line.len() <= 78),
        "{header}"
    );
    // Ed25519 is deterministic too.
    assert_eq!(header, signer.sign(MESSAGE, when()).expect("signed again"));
}

#[test]
fn relaxed_body_canonicalization_follows_rfc_6376_3_4_4() {
    assert_eq!(relaxed_body(b""), b"");
    assert_eq!(relaxed_body(b"\r\n\r\n"), b"");
    assert_eq!(relaxed_body(b" C \r\nD \t E\r\n\r\n\r\n"), b" C\r\nD E\r\n");
    assert_eq!(relaxed_body(b"no final line end"), b"no final line end\r\n");
}

#[test]
fn relaxed_header_canonicalization_follows_rfc_6376_3_4_2() {
    assert_eq!(
        relaxed_header("SubJect ", " AbC\r\n\tdef  "),
        "subject:AbC def"
    );
    assert_eq!(relaxed_header("A", ""), "a:");
}

#[test]
fn spki_lengths_use_long_form_when_needed() {
    let mut out = Vec::new();
    der_length(&mut out, 0x7f);
    der_length(&mut out, 0x80);
    der_length(&mut out, 0x10e);
    assert_eq!(out, [0x7f, 0x81, 0x80, 0x82, 0x01, 0x0e]);
}

proptest::proptest! {
    /// Canonicalizing twice changes nothing (RFC 6376 §3.4: the forms are fixed points).
    #[test]
    fn relaxed_forms_are_fixed_points(body in proptest::collection::vec(
        proptest::sample::select(vec![b'a', b' ', b'\t', b'\r', b'\n', b'.']), 0..80)) {
        let once = relaxed_body(&body);
        proptest::prop_assert_eq!(relaxed_body(&once), once.clone());
        // A header value holds CRLF only as folding (CRLF then whitespace).
        let text = String::from_utf8(body)
            .expect("ASCII")
            .replace(['\r', '\n'], "")
            .replace('.', "\r\n ");
        let header = relaxed_header("X-Name", &text);
        let value = header.split_once(':').expect("a colon").1;
        proptest::prop_assert_eq!(relaxed_header("x-name", value), header.clone());
    }
}
