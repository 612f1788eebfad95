use super::*;

#[test]
fn sqlite_urls_name_a_file() {
    let url: StoreUrl = "sqlite:/var/lib/x.db".parse().expect("sqlite");
    assert_eq!(url, StoreUrl::Sqlite(PathBuf::from("/var/lib/x.db")));
    assert_eq!(url.to_string(), "sqlite:/var/lib/x.db");
    let url: StoreUrl = "sqlite:///var/lib/x.db".parse().expect("sqlite://");
    assert_eq!(url, StoreUrl::Sqlite(PathBuf::from("/var/lib/x.db")));
    let url: StoreUrl = "sqlite:reports.db".parse().expect("relative");
    assert_eq!(url, StoreUrl::Sqlite(PathBuf::from("reports.db")));
    assert_eq!(
        StoreUrl::default(),
        StoreUrl::Sqlite(PathBuf::from(DEFAULT_SQLITE_PATH))
    );
}

#[test]
fn postgres_urls_print_without_their_password() {
    for (text, shown) in [
        (
            "postgres://mta:s3cret@db.example:5432/mta_sts",
            "postgres://mta:***@db.example:5432/mta_sts",
        ),
        (
            "postgresql://mta@db.example/mta_sts?password=s3cret&sslmode=disable",
            "postgresql://mta@db.example/mta_sts?password=***&sslmode=disable",
        ),
        (
            "postgres://db.example/mta_sts",
            "postgres://db.example/mta_sts",
        ),
        ("postgres://u:p%40ss@h", "postgres://u:***@h"),
    ] {
        let url: StoreUrl = text.parse().expect(text);
        assert_eq!(url, StoreUrl::Postgres(text.to_string()));
        assert_eq!(url.to_string(), shown);
        assert!(!format!("{url:?}").contains("s3cret"), "{url:?}");
    }
}

#[test]
fn anything_else_is_refused_with_a_sentence() {
    for text in [
        "",
        "sqlite:",
        "mysql://u:s3cret@h/db",
        "/var/lib/x.db",
        "redis://h",
        "postgres://u:s3cret@h:notaport/db",
    ] {
        let error = text.parse::<StoreUrl>().expect_err(text);
        assert!(matches!(error, StoreError::InvalidUrl { .. }), "{error:?}");
        let message = error.to_string();
        assert!(!message.contains("s3cret"), "{message}");
        assert!(
            message.contains("sqlite:") || message.contains("postgres://"),
            "{message}"
        );
    }
}

proptest::proptest! {
    /// Whatever the password holds, neither the URL nor an error about it prints it.
    #[test]
    fn a_password_is_never_printed(
        password in "Zq[a-zA-Z0-9/:@#%?&=._~-]{4,24}",
        scheme in proptest::sample::select(vec!["postgres", "postgresql"]),
        in_query in proptest::bool::ANY,
    ) {
        let text = if in_query {
            format!("{scheme}://mta@db.example:5432/mta_sts?password={password}")
        } else {
            format!("{scheme}://mta:{password}@db.example:5432/mta_sts")
        };
        let shown = match text.parse::<StoreUrl>() {
            Ok(url) => format!("{url} {url:?}"),
            Err(error) => error.to_string(),
        };
        proptest::prop_assert!(!shown.contains(&password), "{}", shown);
    }

    /// Any text is read or refused with an error, never a panic.
    #[test]
    fn any_text_is_read_or_refused(text in "\\PC{0,80}") {
        let _ = text.parse::<StoreUrl>().map(|url| url.to_string());
    }
}
