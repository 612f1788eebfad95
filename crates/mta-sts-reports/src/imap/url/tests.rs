use super::*;

fn parse(text: &str) -> Result<ImapUrl, ImapError> {
    text.parse()
}

#[test]
fn good_urls() {
    let url = parse("imaps://reports@mail.example.com/INBOX").expect("valid");
    assert_eq!(url.security, Security::ImplicitTls);
    assert_eq!(url.user, "reports");
    assert_eq!(url.host, "mail.example.com");
    assert_eq!(url.port, 993);
    assert_eq!(url.mailbox, "INBOX");

    // STARTTLS, a port, an escaped user, a nested mailbox.
    let url = parse("imap://tls%40example.com@127.0.0.1:10143/Reports/TLS").expect("valid");
    assert_eq!(url.security, Security::StartTls);
    assert_eq!(url.user, "tls@example.com");
    assert_eq!(url.port, 10143);
    assert_eq!(url.mailbox, "Reports/TLS");

    // No path: INBOX. An IPv6 literal. The scheme in capitals.
    let url = parse("IMAPS://u@[::1]:993").expect("valid");
    assert_eq!(url.host, "::1");
    assert_eq!(url.mailbox, "INBOX");
    assert_eq!(url.to_string(), "imaps://u@[::1]:993/INBOX");

    let url = parse("imap://u@host").expect("valid");
    assert_eq!(url.port, 143);
}

#[test]
fn bad_urls() {
    for text in [
        // Not IMAP.
        "https://u@host/INBOX",
        // No user.
        "imaps://host/INBOX",
        // Empty user.
        "imaps://@host/INBOX",
        // No host.
        "imaps://u@/INBOX",
        // Port zero, not a number, out of range.
        "imaps://u@host:0/INBOX",
        "imaps://u@host:imap/INBOX",
        "imaps://u@host:70000/INBOX",
        // An unclosed or bogus IPv6 literal.
        "imaps://u@[::1/INBOX",
        "imaps://u@[example.com]/INBOX",
        // RFC 5092 parts that name messages, not a mailbox.
        "imaps://u@host/INBOX;UIDVALIDITY=5",
        "imaps://u@host/INBOX?SUBJECT%20x",
        "imaps://u;AUTH=*@host/INBOX",
        // A malformed escape.
        "imaps://u%zz@host/INBOX",
        "imaps://u@host/IN%+1BOX",
        // A mailbox that would be a LIST wildcard, or not ASCII.
        "imaps://u@host/*",
        "imaps://u@host/Bo%C3%AEte",
    ] {
        assert!(
            matches!(parse(text), Err(ImapError::Setting(_))),
            "{text} should be refused"
        );
    }
}

#[test]
fn a_password_is_refused_and_never_repeated() {
    let Err(ImapError::Setting(message)) = parse("imaps://reports:hunter2@host/INBOX") else {
        panic!("a URL with a password must be refused");
    };
    assert!(message.contains("password"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
    assert!(message.contains("--password-file"), "{message}");
}

proptest::proptest! {
    /// Whatever the text, parsing never panics, and a URL read back from its display is the same.
    #[test]
    fn display_parses_back(text in "imaps?://[a-z%0-9:@\\[\\]./;]{0,40}") {
        if let Ok(url) = parse(&text) {
            proptest::prop_assert_eq!(parse(&url.to_string()).ok(), Some(url));
        }
    }
}
