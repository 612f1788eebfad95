//! The domain a visitor typed, checked before any network work.
//!
//! People paste URLs, addresses and `host:port` pairs into checkers. Those are refused with a
//! message that says what to type instead, before [`normalize_mail_domain`] (IDN → A-labels,
//! lowercase, short enough for its `_mta-sts` record, no IP address in any spelling) has its say.
//! Control and invisible characters are refused first, so a line break is called a line break.

use std::net::IpAddr;

use mta_sts_core::domain::{check_visible_characters, normalize_mail_domain};

use crate::error::RequestError;

/// Input longer than this is refused unread: a 253-octet name written in U-labels takes at most
/// four UTF-8 bytes a character, so nothing longer can become a valid name.
const MAX_INPUT: usize = 4 * mta_sts_core::domain::MAX_NAME_LEN;

/// The domain to check, normalised to A-labels, or why the input is not one.
pub(crate) fn parse_domain(input: &str) -> Result<String, RequestError> {
    let invalid = |message: String| Err(RequestError::DomainInvalid(message));
    let core_refusal =
        |e: mta_sts_core::Error| RequestError::DomainInvalid(sentence(&e.diagnostic().message));
    // Before trimming: a line break at the end is refused too, not quietly cut off.
    check_visible_characters(input).map_err(core_refusal)?;
    let input = input.trim();
    if input.is_empty() {
        return Err(RequestError::DomainMissing);
    }
    if input.len() > MAX_INPUT {
        return invalid(format!(
            "That is {} characters long; a domain name has at most {}.",
            input.chars().count(),
            mta_sts_core::domain::MAX_NAME_LEN
        ));
    }
    // Before the `:` test, so `2001:db8::1` is called an address rather than a port.
    let unbracketed = input
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(input);
    if unbracketed.parse::<IpAddr>().is_ok() {
        return invalid(format!(
            "`{input}` is an IP address. Enter the domain name that receives the mail (the part \
             after the @ in an address)."
        ));
    }
    if let Some((scheme, _)) = input.split_once("://") {
        return invalid(format!(
            "Enter the domain name alone, without `{scheme}://` or a path."
        ));
    }
    if input.contains('@') {
        return invalid(
            "That looks like an email address. Enter only the part after the @.".to_string(),
        );
    }
    if input.contains('/') {
        return invalid("Enter the domain name alone, without a path (`/`).".to_string());
    }
    if input.contains(':') {
        return invalid(
            "Enter the domain name alone, without a port or scheme (`:`): the checker uses the \
             standard ports."
                .to_string(),
        );
    }
    if input.chars().any(char::is_whitespace) {
        return invalid("A domain name cannot contain spaces.".to_string());
    }
    normalize_mail_domain(input).map_err(core_refusal)
}

/// The core's message as a sentence of the page: capital first letter, final full stop.
fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    let first = chars
        .next()
        .map(|c| c.to_uppercase().to_string())
        .unwrap_or_default();
    let rest = chars.as_str();
    if rest.ends_with('.') {
        format!("{first}{rest}")
    } else {
        format!("{first}{rest}.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_inputs_are_normalised() {
        for (input, domain) in [
            ("example.com", "example.com"),
            ("  Example.COM.  ", "example.com"),
            ("bücher.example", "xn--bcher-kva.example"),
            ("healthy-enforce.test", "healthy-enforce.test"),
        ] {
            assert_eq!(parse_domain(input).as_deref(), Ok(domain), "{input}");
        }
    }

    #[test]
    fn bad_inputs_are_refused_with_their_code() {
        let long = "a".repeat(300);
        let huge = "a".repeat(5_000);
        let cases: &[(&str, &str)] = &[
            // Nothing typed.
            ("", "domain-missing"),
            ("   ", "domain-missing"),
            // A URL, not a name.
            ("https://x.com", "domain-invalid"),
            ("mailto:user@a.com", "domain-invalid"),
            // A path.
            ("a.com/path", "domain-invalid"),
            // A port.
            ("a.com:25", "domain-invalid"),
            // IP literals, bracketed or not: MTA-STS names hosts.
            ("192.0.2.1", "domain-invalid"),
            ("2001:db8::1", "domain-invalid"),
            ("[192.0.2.1]", "domain-invalid"),
            // An address.
            ("user@a.com", "domain-invalid"),
            // Whitespace inside.
            ("a b.com", "domain-invalid"),
            ("a\tb.com", "domain-invalid"),
            // Over 253 octets.
            (&long, "domain-invalid"),
            // Far over: refused before normalising.
            (&huge, "domain-invalid"),
            // Not a host name at all.
            ("<script>", "domain-invalid"),
            ("exa_mple.com", "domain-invalid"),
            // Legacy IPv4 spellings of 127.0.0.1.
            ("127.1", "domain-invalid"),
            ("0x7f000001", "domain-invalid"),
            // A zero-width space, which IDNA would drop.
            ("exa\u{200B}mple.com", "domain-invalid"),
            // CRLF, inside and at the end.
            ("example.com\r\nHost: evil", "domain-invalid"),
            ("example.com\r\n", "domain-invalid"),
        ];
        for (input, code) in cases {
            let error = parse_domain(input).expect_err(input);
            assert_eq!(error.code(), *code, "{input}");
        }
    }

    #[test]
    fn refusals_name_the_real_problem() {
        let message = |input: &str| parse_domain(input).expect_err(input).message();
        let crlf = message("example.com\r\nHost: evil");
        assert!(
            crlf.contains("U+000D (carriage return)") && !crlf.contains("port"),
            "{crlf}"
        );
        let hidden = message("exa\u{200B}mple.com");
        assert!(hidden.contains("U+200B"), "{hidden}");
        let legacy = message("2130706433");
        assert!(legacy.contains("127.0.0.1"), "{legacy}");
        assert!(legacy.ends_with('.') && legacy.starts_with('`'), "{legacy}");
    }
}
