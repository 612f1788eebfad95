use super::*;

fn write_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf, Vec<u8>) {
    let key = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    let certificate = params.self_signed(&key).expect("certificate");
    let cert_path = dir.join(format!("{name}.crt"));
    let key_path = dir.join(format!("{name}.key"));
    std::fs::write(&cert_path, certificate.pem()).expect("write cert");
    std::fs::write(&key_path, key.serialize_pem()).expect("write key");
    (cert_path, key_path, certificate.der().to_vec())
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mta-sts-serve-tls-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn served(files: &CertificateFiles) -> Vec<u8> {
    files.current.read().expect("lock").cert[0].to_vec()
}

#[test]
fn a_reload_serves_the_new_certificate_and_a_failed_one_keeps_the_old() {
    let dir = temp_dir("reload");
    let (cert, key, first) = write_pair(&dir, "a");
    let files = CertificateFiles::load(&cert, &key).expect("load");
    assert_eq!(served(&files), first);
    let (new_cert, new_key, second) = write_pair(&dir, "b");
    std::fs::rename(&new_cert, &cert).expect("rename");
    std::fs::rename(&new_key, &key).expect("rename");
    files.reload().expect("reload");
    assert_eq!(served(&files), second);
    std::fs::write(&key, "not a key").expect("spoil");
    assert!(matches!(files.reload(), Err(ServeError::Certificate(_))));
    assert_eq!(served(&files), second);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_key_of_another_certificate_is_refused() {
    let dir = temp_dir("mismatch");
    let (cert, _, _) = write_pair(&dir, "a");
    let (_, other_key, _) = write_pair(&dir, "b");
    let error = CertificateFiles::load(&cert, &other_key).expect_err("mismatch");
    assert!(error.to_string().contains("cannot be used with"), "{error}");
    let empty = dir.join("empty.pem");
    std::fs::write(&empty, "").expect("write");
    assert!(CertificateFiles::load(&empty, &other_key).is_err());
    let _ = std::fs::remove_dir_all(dir);
}

fn certified(name: &str) -> Arc<CertifiedKey> {
    let key = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(vec![name.to_string()]).expect("params");
    let certificate = params.self_signed(&key).expect("certificate");
    let private = PrivateKeyDer::try_from(key.serialize_der()).expect("key der");
    let provider = rustls::crypto::ring::default_provider();
    Arc::new(
        CertifiedKey::from_der(vec![certificate.der().clone()], private, &provider)
            .expect("certified key"),
    )
}

fn sni_resolver(default: bool) -> (SniResolver, PathBuf) {
    let dir = temp_dir(&format!("sni-{default}"));
    let default = default.then(|| {
        let (cert, key, _) = write_pair(&dir, "default");
        Arc::new(CertificateFiles::load(&cert, &key).expect("load"))
    });
    let hosts = Arc::new(HostCertificates::default());
    hosts.set("mta-sts.example.com", certified("mta-sts.example.com"));
    let resolver = SniResolver {
        default,
        hosts,
        challenges: Arc::new(Challenges::default()),
    };
    (resolver, dir)
}

fn chosen(resolver: &SniResolver, name: Option<&str>, alpn: &[&[u8]]) -> Option<Vec<u8>> {
    let alpn = (!alpn.is_empty()).then(|| alpn.iter().copied());
    resolver
        .choose(name, alpn)
        .map(|certificate| certificate.cert[0].to_vec())
}

#[test]
fn the_policy_host_gets_its_certificate_and_other_names_the_default_or_nothing() {
    let (resolver, dir) = sni_resolver(false);
    let host = resolver.hosts.get("mta-sts.example.com").expect("set");
    let host = Some(host.cert[0].to_vec());
    for name in [
        "mta-sts.example.com",
        "MTA-STS.Example.com",
        "mta-sts.example.com.",
    ] {
        assert_eq!(
            chosen(&resolver, Some(name), &[b"h2", b"http/1.1"]),
            host,
            "{name}"
        );
    }
    assert_eq!(chosen(&resolver, Some("mta-sts.example.com"), &[]), host);
    // No default certificate: an unknown name, or no name at all, is refused.
    assert_eq!(chosen(&resolver, Some("mta-sts.example.org"), &[]), None);
    assert_eq!(chosen(&resolver, None, &[b"http/1.1"]), None);
    let _ = std::fs::remove_dir_all(dir);
    let (resolver, dir) = sni_resolver(true);
    let default = Some(resolver.default.as_ref().expect("default").current().cert[0].to_vec());
    assert_eq!(chosen(&resolver, Some("reports.example.com"), &[]), default);
    assert_eq!(chosen(&resolver, None, &[]), default);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn acme_tls_alpn_gets_only_a_pending_challenge_certificate() {
    let (resolver, dir) = sni_resolver(true);
    let name = "mta-sts.example.com";
    // RFC 8737 §3: nothing but a pending challenge's certificate, not even the default.
    assert_eq!(chosen(&resolver, Some(name), &[ACME_TLS_ALPN]), None);
    assert_eq!(chosen(&resolver, None, &[ACME_TLS_ALPN]), None);
    let challenge = certified(name);
    resolver
        .challenges
        .insert_tls_alpn01(name, challenge.clone());
    let expected = Some(challenge.cert[0].to_vec());
    assert_eq!(chosen(&resolver, Some(name), &[ACME_TLS_ALPN]), expected);
    assert_eq!(
        chosen(&resolver, Some("other.example.com"), &[ACME_TLS_ALPN]),
        None
    );
    // A client offering acme-tls/1 among others is an ordinary client.
    let host = resolver.hosts.get(name).map(|c| c.cert[0].to_vec());
    assert_eq!(chosen(&resolver, Some(name), &[b"h2", ACME_TLS_ALPN]), host);
    let _ = std::fs::remove_dir_all(dir);
}
