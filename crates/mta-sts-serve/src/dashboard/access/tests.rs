use std::net::IpAddr;

use super::*;

fn config_with(users: &[(&str, &str)], tokens: &[(&str, &str)], per_minute: u32) -> ServeConfig {
    let mut config = ServeConfig::default();
    config.dashboard.logins_per_minute = per_minute;
    config.users = users
        .iter()
        .map(|(name, password)| UserConfig {
            name: (*name).into(),
            password_hash: hash_password(password).expect("hash"),
        })
        .collect();
    config.tokens = tokens
        .iter()
        .map(|(name, token)| TokenConfig {
            name: (*name).into(),
            token_hash: hex(ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref()),
        })
        .collect();
    config
}

const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

#[test]
fn a_hash_is_an_argon2id_phc_string_that_verifies_only_its_password() {
    let hash = hash_password("correct horse").expect("hash");
    assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
    let parsed = PasswordHash::new(&hash).expect("parse");
    assert!(
        Argon2::default()
            .verify_password(b"correct horse", &parsed)
            .is_ok()
    );
    assert!(
        Argon2::default()
            .verify_password(b"correct hors", &parsed)
            .is_err()
    );
    // A fresh salt each time.
    assert_ne!(hash, hash_password("correct horse").expect("hash"));
}

#[tokio::test]
async fn login_opens_a_session_and_logout_ends_it() {
    let access = Access::new(&config_with(&[("owner", "s3cret")], &[], 5)).expect("access");
    let now = Instant::now();
    let (id, session) = access
        .login(CLIENT, "owner", "s3cret", now)
        .await
        .expect("login");
    assert_eq!(id.len(), 64, "256 bits in hex");
    assert_eq!(session.csrf.len(), 64);
    assert_ne!(id, session.csrf);
    assert_eq!(
        access.session(&id, now).map(|s| s.user),
        Some("owner".into())
    );
    assert!(access.session("not-a-session", now).is_none());
    // Expired after its lifetime.
    assert!(access.session(&id, now + access.lifetime()).is_none());
    let (id, _) = access
        .login(CLIENT, "owner", "s3cret", now)
        .await
        .expect("login");
    access.end_session(&id);
    assert!(access.session(&id, now).is_none());
}

#[tokio::test]
async fn wrong_names_and_passwords_are_refused_alike() {
    let access = Access::new(&config_with(&[("owner", "s3cret")], &[], 10)).expect("access");
    let now = Instant::now();
    for (name, password) in [("owner", "wrong"), ("nobody", "s3cret"), ("", "")] {
        assert_eq!(
            access.login(CLIENT, name, password, now).await.err(),
            Some(LoginRefusal::Wrong),
            "{name}"
        );
    }
}

#[tokio::test]
async fn login_attempts_are_limited_per_client_and_per_user() {
    let access = Access::new(&config_with(&[("owner", "s3cret")], &[], 2)).expect("access");
    let now = Instant::now();
    for _ in 0..2 {
        assert_eq!(
            access.login(CLIENT, "owner", "guess", now).await.err(),
            Some(LoginRefusal::Wrong)
        );
    }
    // The third attempt from this client is refused before the password is looked at, even
    // the right one.
    assert!(matches!(
        access.login(CLIENT, "owner", "s3cret", now).await,
        Err(LoginRefusal::TooMany(_))
    ));
    // Another client, same user: the user's own limit is spent too.
    let other = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));
    assert!(matches!(
        access.login(other, "owner", "s3cret", now).await,
        Err(LoginRefusal::TooMany(_))
    ));
    // A minute later the allowance is back.
    let later = now + Duration::from_secs(60);
    assert!(access.login(other, "owner", "s3cret", later).await.is_ok());
}

#[tokio::test]
async fn nobody_logs_in_without_users() {
    let access = Access::new(&config_with(&[], &[], 5)).expect("access");
    assert!(!access.has_users());
    assert_eq!(
        access
            .login(CLIENT, "owner", "x", Instant::now())
            .await
            .err(),
        Some(LoginRefusal::NoUsers)
    );
}

#[test]
fn tokens_are_matched_by_their_sha256() {
    let access = Access::new(&config_with(&[], &[("grafana", "tok-123")], 5)).expect("access");
    assert_eq!(access.token("tok-123"), Some("grafana".into()));
    assert_eq!(access.token("tok-124"), None);
    assert_eq!(access.token(""), None);
}

#[test]
fn bad_hashes_are_named_in_the_configuration_error() {
    let user = UserConfig {
        name: "owner".into(),
        password_hash: "hunter2".into(),
    };
    assert!(
        matches!(parse_password_hash(&user), Err(ServeError::ConfigValue { key, .. }) if key == "users.password_hash")
    );
    let token = TokenConfig {
        name: "grafana".into(),
        token_hash: "abc".into(),
    };
    assert!(
        matches!(parse_token_hash(&token), Err(ServeError::ConfigValue { key, .. }) if key == "tokens.token_hash")
    );
    let token = TokenConfig {
        name: "grafana".into(),
        token_hash: "A".repeat(64),
    };
    assert_eq!(parse_token_hash(&token).ok(), Some([0xaa; 32]));
}
