use rcgen::{CertificateParams, KeyPair};

use super::*;

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix_seconds(seconds).expect("in range")
}

/// A self-signed certificate for `names` and its key, PEM.
fn certificate(names: &[&str]) -> (String, String) {
    let key = KeyPair::generate().expect("key");
    let params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
        .expect("params");
    let cert = params.self_signed(&key).expect("certificate");
    (cert.pem(), key.serialize_pem())
}

fn stored(name: &str, chain_pem: String, key_pem: String) -> StoredCertificate {
    StoredCertificate {
        name: name.to_string(),
        chain_pem,
        key_pem,
        not_before: at(0),
        not_after: at(0),
        issued_at: at(0),
    }
}

fn reason(result: Result<IssuedCertificate, AcmeError>) -> String {
    match result {
        Err(AcmeError::BadCertificate { reason, .. }) => reason,
        other => panic!("expected a bad certificate, got {other:?}"),
    }
}

#[test]
fn a_good_certificate_takes_its_validity_from_the_leaf() {
    let (chain, key) = certificate(&["mta-sts.example.com"]);
    let issued =
        IssuedCertificate::from_stored(stored("mta-sts.example.com", chain, key)).expect("good");
    assert!(issued.not_after() > issued.not_before());
    assert_eq!(issued.stored().not_after, issued.not_after());
    assert_eq!(issued.certified_key().cert.len(), 1);
}

#[test]
fn a_certificate_that_cannot_be_served_for_its_name_is_refused_with_the_reason() {
    let (chain, key) = certificate(&["mta-sts.example.com"]);
    let (_, other_key) = certificate(&["mta-sts.example.com"]);
    assert!(
        reason(IssuedCertificate::from_stored(stored(
            "mta-sts.example.net",
            chain.clone(),
            key.clone()
        )))
        .contains("does not name mta-sts.example.net")
    );
    assert!(
        reason(IssuedCertificate::from_stored(stored(
            "mta-sts.example.com",
            chain.clone(),
            other_key
        )))
        .contains("does not match")
    );
    assert!(
        reason(IssuedCertificate::from_stored(stored(
            "mta-sts.example.com",
            String::new(),
            key.clone()
        )))
        .contains("no certificate")
    );
    assert!(
        reason(IssuedCertificate::from_stored(stored(
            "mta-sts.example.com",
            chain,
            "not a key".into()
        )))
        .contains("not a PEM private key")
    );
}
