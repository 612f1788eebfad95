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
