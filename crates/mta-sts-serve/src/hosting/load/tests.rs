use mta_sts_store::test_support::TempDir;

use super::*;
use crate::config::HostConfig;

const POLICY: &str = "version: STSv1\nmode: testing\nmx: mail.example.com\nmax_age: 86400\n";

fn config(dir: &TempDir, hosts: Vec<HostConfig>) -> ServeConfig {
    let mut config = ServeConfig {
        https: Some("127.0.0.1:0".parse().expect("address")),
        hosts,
        ..ServeConfig::default()
    };
    config.hosting.certs = Some(dir.path().to_path_buf());
    config
}

fn write_certificate(dir: &TempDir, host: &str) -> Vec<u8> {
    let key = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(vec![host.to_string()]).expect("params");
    let certificate = params.self_signed(&key).expect("certificate");
    std::fs::write(dir.file(&format!("{host}.pem")), certificate.pem()).expect("write");
    std::fs::write(dir.file(&format!("{host}.key")), key.serialize_pem()).expect("write");
    certificate.der().to_vec()
}

#[test]
fn files_and_inline_policies_are_read_and_auto_hosts_left_to_the_updater() {
    let dir = TempDir::new("serve-load-policies");
    std::fs::write(dir.file("example.net.txt"), POLICY).expect("write");
    let mut inline = HostConfig::auto("example.com");
    inline.auto = false;
    inline.policy = Some(POLICY.replace("testing", "enforce"));
    let config = config(
        &dir,
        vec![
            inline,
            HostConfig::from_file("example.net", &dir.file("example.net.txt")),
            HostConfig::auto("example.org"),
        ],
    );
    let policies = load_policies(&config).expect("valid policies");
    let domains: Vec<&str> = policies.iter().map(|p| p.domain.as_str()).collect();
    assert_eq!(domains, ["example.com", "example.net"]);
    assert_eq!(&*policies[1].text, POLICY);
    assert_eq!(policies[1].id, mta_sts_core::sts_record::content_id(POLICY));
}

#[test]
fn a_missing_unreadable_or_refused_policy_file_is_an_error_naming_the_domain() {
    let dir = TempDir::new("serve-load-refused");
    std::fs::write(dir.file("bad.txt"), "version: STSv1\nmode: enforce\n").expect("write");
    std::fs::write(dir.file("binary.txt"), [0xff, 0xfe, 0x00]).expect("write");
    std::fs::write(dir.file("large.txt"), "x".repeat(70_000)).expect("write");
    for file in ["missing.txt", "bad.txt", "binary.txt", "large.txt"] {
        let config = config(
            &dir,
            vec![HostConfig::from_file("example.com", &dir.file(file))],
        );
        match load_policies(&config) {
            Err(ServeError::Policy { domain, message }) => {
                assert_eq!(domain, "example.com");
                assert!(message.contains(file), "{message}");
            }
            other => panic!("{file}: expected a policy error, got {other:?}"),
        }
    }
}

#[test]
fn certificates_are_read_per_policy_host_and_a_broken_file_keeps_the_one_in_use() {
    let dir = TempDir::new("serve-load-certificates");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = config(
        &dir,
        vec![
            HostConfig::auto("example.com"),
            HostConfig::auto("example.net"),
        ],
    );
    let table = HostCertificates::default();
    let first = write_certificate(&dir, "mta-sts.example.com");
    // example.net has no files: logged, not an error (ACME may issue its certificate).
    assert!(load_certificates(&config, &provider, &table).is_empty());
    let served = |name: &str| table.get(name).map(|c| c.cert[0].to_vec());
    assert_eq!(served("mta-sts.example.com"), Some(first.clone()));
    assert_eq!(served("mta-sts.example.net"), None);
    std::fs::write(dir.file("mta-sts.example.com.key"), "not a key").expect("spoil");
    let problems = load_certificates(&config, &provider, &table);
    assert_eq!(problems.len(), 1);
    assert!(matches!(problems[0], ServeError::Certificate(_)));
    assert_eq!(served("mta-sts.example.com"), Some(first));
}
