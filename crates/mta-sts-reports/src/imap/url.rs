//! The mailbox to fetch from, named by an IMAP URL (RFC 5092): `imaps://user@host[:port]/MAILBOX`.
//!
//! Written by hand: only the server part of RFC 5092 is needed (no `;UID=`, `;SECTION=`,
//! `;AUTH=`), and the general URL crates accept a password in the user information, which this
//! reader must refuse with a sentence rather than pass on.

use std::fmt;

use super::ImapError;

/// How the connection is protected. Both verify the server's certificate; there is no plain
/// mode, since the password would cross the network in the clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// `imaps://`: TLS from the first byte (RFC 8314 §3.3, port 993 by default).
    ImplicitTls,
    /// `imap://`: STARTTLS, required (RFC 3501 §6.2.1, port 143 by default); a server that
    /// does not offer it is refused, never used in the clear.
    StartTls,
}

/// A parsed `imaps://` or `imap://` URL: where to connect, as whom, and which mailbox to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapUrl {
    /// TLS from the start or STARTTLS.
    pub security: Security,
    /// The login name, percent-decoded (`user%40example.com` is `user@example.com`).
    pub user: String,
    /// The host name or IP address (without the brackets of an IPv6 literal).
    pub host: String,
    /// The port: given, or 993 / 143 by scheme.
    pub port: u16,
    /// The mailbox to read, percent-decoded; `INBOX` when the URL has no path.
    pub mailbox: String,
}

impl std::str::FromStr for ImapUrl {
    type Err = ImapError;

    fn from_str(text: &str) -> Result<ImapUrl, ImapError> {
        let bad = |why: &str| ImapError::Setting(format!("the IMAP URL {} {why}", redact(text)));
        let (security, rest) = if let Some(rest) = strip_prefix_ignore_case(text, "imaps://") {
            (Security::ImplicitTls, rest)
        } else if let Some(rest) = strip_prefix_ignore_case(text, "imap://") {
            (Security::StartTls, rest)
        } else {
            return Err(bad("does not start with imaps:// or imap://"));
        };
        let (authority, path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], &rest[slash + 1..]),
            None => (rest, ""),
        };
        let Some((userinfo, hostport)) = authority.rsplit_once('@') else {
            return Err(bad("names no user (imaps://user@host/INBOX)"));
        };
        if userinfo.contains(':') {
            return Err(ImapError::Setting(format!(
                "the IMAP URL {} holds a password; a password on the command line is visible to \
                 every user of this machine, so give it with --password-file or the environment \
                 variable MTA_STS_IMAP_PASSWORD instead",
                redact(text)
            )));
        }
        if userinfo.contains(';') {
            return Err(bad(
                "asks for an authentication mechanism (;AUTH=), which is not supported",
            ));
        }
        let user =
            percent_decode(userinfo).ok_or_else(|| bad("has a malformed %-escape in the user"))?;
        if user.is_empty() {
            return Err(bad("names an empty user"));
        }
        let (host, port_text) = if let Some(inside) = hostport.strip_prefix('[') {
            let Some((host, after)) = inside.split_once(']') else {
                return Err(bad("has an IPv6 address without its closing bracket"));
            };
            if host.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(bad("has a bracketed host that is not an IPv6 address"));
            }
            match after {
                "" => (host, None),
                _ => match after.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None => return Err(bad("has text after the IPv6 address")),
                },
            }
        } else {
            match hostport.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (hostport, None),
            }
        };
        if host.is_empty()
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._:".contains(&b))
        {
            return Err(bad("has no usable host name"));
        }
        let port = match port_text {
            None | Some("") => match security {
                Security::ImplicitTls => 993,
                Security::StartTls => 143,
            },
            Some(port) => match port.parse::<u16>() {
                Ok(port) if port != 0 => port,
                _ => return Err(bad("has a port that is not a number from 1 to 65535")),
            },
        };
        // RFC 5092 §6: `;UIDVALIDITY=`, `?search` and `/;UID=` name parts of a mailbox, not a
        // mailbox to read.
        if path.contains([';', '?', '#']) {
            return Err(bad(
                "names more than a mailbox (;UID, ;UIDVALIDITY, ?search)",
            ));
        }
        let mailbox = match percent_decode(path.trim_end_matches('/')) {
            Some(name) if name.is_empty() => "INBOX".to_string(),
            Some(name) => name,
            None => return Err(bad("has a malformed %-escape in the mailbox")),
        };
        check_mailbox_name(&mailbox)?;
        Ok(ImapUrl {
            security,
            user,
            host: host.to_ascii_lowercase(),
            port,
            mailbox,
        })
    }
}

impl fmt::Display for ImapUrl {
    /// The URL, escaped so that it reads back the same (it never holds a password).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.security {
            Security::ImplicitTls => "imaps",
            Security::StartTls => "imap",
        };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        write!(
            f,
            "{scheme}://{}@{host}:{}/{}",
            percent_encode(&self.user, b""),
            self.port,
            percent_encode(&self.mailbox, b"/")
        )
    }
}

/// Refuses a mailbox name this client cannot send safely: wildcards would make `LIST` match other
/// mailboxes, and non-ASCII names need modified UTF-7 (RFC 3501 §5.1.3), which is not written.
pub fn check_mailbox_name(name: &str) -> Result<(), ImapError> {
    let usable = !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('/')
        && !name.ends_with('/')
        && name
            .bytes()
            .all(|b| (0x20..0x7f).contains(&b) && !b"*%\"\\&".contains(&b));
    if usable {
        Ok(())
    } else {
        Err(ImapError::Setting(format!(
            "the mailbox name \"{}\" is not usable: it must be 1 to 200 printable ASCII \
             characters without * % \" \\ or &, not starting or ending with /",
            name.escape_default()
        )))
    }
}

/// The URL as it may be shown: the user information replaced when it holds a password.
fn redact(text: &str) -> String {
    let Some(scheme_end) = text.find("://") else {
        return text.escape_default().to_string();
    };
    let rest = &text[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!(
                "{}{user}:***@{host}{}",
                &text[..scheme_end + 3],
                &rest[authority_end..]
            )
            .escape_default()
            .to_string()
        }
        _ => text.escape_default().to_string(),
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// Escapes every byte but letters, digits, `-._~` and those in `keep`.
fn percent_encode(text: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) || keep.contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes; `None` for a malformed escape or a result that is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests;
