//! The domain a visitor typed, checked before any network work.
//!
//! People paste URLs, addresses and `host:port` pairs into checkers. Those are refused with a
//! message that says what to type instead, before [`normalize`] (IDN → A-labels, lowercase, at
//! most 253 octets, no IP literals) has its say.

use std::net::IpAddr;

use mta_sts_core::domain::normalize;

use crate::error::RequestError;

/// Input longer than this is refused unread: a 253-octet name written in U-labels takes at most
/// four UTF-8 bytes a character, so nothing longer can become a valid name.
const MAX_INPUT: usize = 4 * mta_sts_core::domain::MAX_NAME_LEN;

/// The domain to check, normalised to A-labels, or why the input is not one.
pub(crate) fn parse_domain(input: &str) -> Result<String, RequestError> {
    let invalid = |message: String| Err(RequestError::DomainInvalid(message));
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
    normalize(input).map_err(|e| RequestError::DomainInvalid(e.diagnostic().message.clone()))
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
        ];
        for (input, code) in cases {
            let error = parse_domain(input).expect_err(input);
            assert_eq!(error.code(), *code, "{input}");
        }
    }
}
