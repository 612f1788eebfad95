use std::net::Ipv4Addr;

use super::*;
use crate::domain::{MAX_MAIL_DOMAIN_LEN, MAX_NAME_LEN, normalize, normalize_mail_domain};

/// The diagnostic code of a refusal, or the name when accepted.
fn outcome(input: &str) -> Result<String, &'static str> {
    normalize_mail_domain(input).map_err(|e| e.diagnostic().code)
}

/// A valid name of exactly `len` characters ending in `.test`.
fn name_of_len(len: usize) -> String {
    let mut name = "test".to_string();
    while name.len() < len {
        // Characters left for the next label, after its dot.
        let room = len - name.len() - 1;
        let label = if room <= 60 { room } else { 50 };
        name = format!("{}.{name}", "a".repeat(label));
    }
    assert_eq!(name.len(), len);
    name
}

#[test]
fn good_mail_domains() {
    for (input, name) in [
        ("example.com", "example.com"),
        ("Example.COM.", "example.com"),
        ("  example.com  ", "example.com"),
        ("bücher.example", "xn--bcher-kva.example"),
        // Digits are fine anywhere but in the last label.
        ("127.0.0.1.example", "127.0.0.1.example"),
        ("0x7f000001.example", "0x7f000001.example"),
        ("mail.example.123abc", "mail.example.123abc"),
        ("example.0xg", "example.0xg"),
        // Letters ending a hex-looking label make it a name.
        ("example.0x1z", "example.0x1z"),
    ] {
        assert_eq!(outcome(input), Ok(name.to_string()), "{input:?}");
    }
    let longest = name_of_len(MAX_MAIL_DOMAIN_LEN);
    assert_eq!(outcome(&longest), Ok(longest.clone()));
}

#[test]
fn bad_mail_domains_are_refused_with_their_code() {
    let too_long_for_record = name_of_len(MAX_MAIL_DOMAIN_LEN + 1);
    let too_long_for_dns = name_of_len(MAX_NAME_LEN);
    let cases: &[(&str, &str)] = &[
        // The usual spelling of 127.0.0.1.
        ("127.0.0.1", "domain-ip-address"),
        // Two parts: the last fills three bytes (127.0.0.1).
        ("127.1", "domain-ip-address"),
        // One decimal number for all four bytes.
        ("2130706433", "domain-ip-address"),
        // One hex number, either case of the prefix.
        ("0x7f000001", "domain-ip-address"),
        ("0X7F000001", "domain-ip-address"),
        // Octal parts.
        ("0177.0.0.1", "domain-ip-address"),
        // With the root dot, which is ignored.
        ("127.1.", "domain-ip-address"),
        // Full-width digits map to ASCII digits under IDNA.
        ("１２７.１", "domain-ip-address"),
        // An all-numeric last label that is no valid address is still no name.
        ("example.123", "domain-ip-address"),
        ("1.2.3.4.5", "domain-ip-address"),
        ("example.0x", "domain-ip-address"),
        // IPv6, bare or bracketed.
        ("::1", "domain-ip-address"),
        ("[192.0.2.1]", "domain-ip-address"),
        // A zero-width space IDNA would silently drop.
        ("exa\u{200B}mple.com", "domain-invisible-character"),
        // Joiners, word joiner, byte order mark, soft hyphen.
        ("exa\u{200C}mple.com", "domain-invisible-character"),
        ("exa\u{200D}mple.com", "domain-invisible-character"),
        ("exa\u{2060}mple.com", "domain-invisible-character"),
        ("\u{FEFF}example.com", "domain-invisible-character"),
        ("exam\u{00AD}ple.com", "domain-invisible-character"),
        // A variation selector (IDNA `ignored`).
        ("example\u{FE0F}.com", "domain-invisible-character"),
        // A right-to-left override, which reorders what is shown.
        ("example.\u{202E}moc", "domain-invisible-character"),
        // CRLF and a header after it, as a request smuggler would send.
        ("example.com\r\nHost: evil", "domain-control-character"),
        // A line break at the end is not trimmed away either.
        ("example.com\n", "domain-control-character"),
        ("exa\tmple.com", "domain-control-character"),
        ("example.com\0", "domain-control-character"),
        ("example.com\u{7F}", "domain-control-character"),
        // A C1 control.
        ("example.com\u{85}", "domain-control-character"),
        // `_mta-sts.` plus the name would pass 253 octets.
        (&too_long_for_record, "domain-too-long"),
        (&too_long_for_dns, "domain-too-long"),
        // Not a host name at all.
        ("exa_mple.com", "domain-invalid"),
    ];
    for (input, code) in cases {
        assert_eq!(outcome(input), Err(*code), "{input:?}");
    }
}

#[test]
fn host_names_may_be_long_but_never_addresses() {
    // An MX host is not looked up under `_mta-sts.`: only DNS's own limit applies.
    let long_host = name_of_len(MAX_NAME_LEN);
    assert_eq!(normalize(&long_host).as_deref(), Ok(long_host.as_str()));
    for input in ["127.1", "0x7f000001", "mx\u{200B}.example"] {
        assert!(normalize(input).is_err(), "{input:?}");
    }
}

#[test]
fn messages_say_what_was_wrong() {
    let message = |input: &str| {
        normalize_mail_domain(input)
            .expect_err(input)
            .diagnostic()
            .message
            .clone()
    };
    let text = message("0x7f000001");
    assert!(
        text.contains("127.0.0.1") && text.contains("not a mail domain"),
        "{text}"
    );
    let text = message("exa\u{200B}mple.com");
    assert!(
        text.contains("U+200B") && text.contains("zero width space"),
        "{text}"
    );
    let text = message("example.com\r\nHost: evil");
    assert!(
        text.contains("U+000D (carriage return)") && !text.contains("port"),
        "{text}"
    );
    let text = message(&name_of_len(250));
    assert!(text.contains("253") && text.contains("244"), "{text}");
    // A huge input is not echoed in full.
    let text = message(&format!("{}_", "a".repeat(100_000)));
    assert!(text.len() < 400, "{}", text.len());
}

#[test]
fn legacy_ipv4_spellings_decode_like_a_browser() {
    let localhost = Some(Ipv4Addr::LOCALHOST);
    for text in [
        "127.0.0.1",
        "127.1",
        "127.0.1",
        "2130706433",
        "0x7f000001",
        "0x7f.1",
        "0177.0.0.1",
        "0177.0.0.01",
    ] {
        assert_eq!(legacy_ipv4(text), localhost, "{text}");
        assert!(ends_in_a_number(text), "{text}");
    }
    assert_eq!(legacy_ipv4("0x"), Some(Ipv4Addr::UNSPECIFIED));
    assert_eq!(legacy_ipv4("255.255.255.255"), Some(Ipv4Addr::BROADCAST));
    for not_an_address in [
        // A byte over 255 before the last part.
        "256.0.0.1",
        // The last part too large for the bytes left.
        "1.2.65536",
        "4294967296",
        // Five parts.
        "1.2.3.4.5",
        // `8` is no octal digit.
        "08",
        // A name before the number.
        "example.1",
        "",
    ] {
        assert_eq!(legacy_ipv4(not_an_address), None, "{not_an_address}");
    }
    for name in ["example.com", "example.0xg", "1.example", "example.", "x1"] {
        assert!(!ends_in_a_number(name), "{name}");
    }
}

#[test]
fn hidden_characters_are_found_with_their_position() {
    assert_eq!(
        first_hidden_char("exa\u{200B}mple.com"),
        Some(HiddenChar {
            char: '\u{200B}',
            position: 4,
            control: false
        })
    );
    assert_eq!(
        first_hidden_char("a\r\n").map(|h| (h.position, h.control)),
        Some((2, true))
    );
    // Visible non-ASCII letters and the IDNA full stops are not hidden.
    assert_eq!(first_hidden_char("bücher。example"), None);
    assert_eq!(first_hidden_char("example.com"), None);
}
