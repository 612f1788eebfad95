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
