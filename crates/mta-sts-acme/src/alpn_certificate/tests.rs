use x509_parser::prelude::{FromDer as _, GeneralName, X509Certificate};

use super::*;

#[test]
fn the_certificate_names_only_the_name_and_carries_the_critical_digest() {
    let digest = [7u8; 32];
    let key = tls_alpn01_certificate("mta-sts.example.com", digest).expect("certificate");
    assert_eq!(key.cert.len(), 1, "self-signed, alone");
    let (_, cert) = X509Certificate::from_der(&key.cert[0]).expect("DER");
    let names: Vec<String> = cert
        .subject_alternative_name()
        .expect("SAN")
        .expect("present")
        .value
        .general_names
        .iter()
        .map(|n| match n {
            GeneralName::DNSName(name) => name.to_string(),
            other => format!("unexpected {other}"),
        })
        .collect();
    assert_eq!(names, ["mta-sts.example.com"]);
    let acme = cert
        .extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == "1.3.6.1.5.5.7.1.31")
        .expect("acmeIdentifier");
    assert!(acme.critical);
    // An OCTET STRING (tag 4) of 32 bytes: the digest.
    assert_eq!(acme.value[..2], [0x04, 32]);
    assert_eq!(acme.value[2..], digest);
}
