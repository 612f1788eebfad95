//! SMTP reply framing (RFC 5321 §4.2), apart from the socket: parse from a byte buffer, answer
//! "incomplete" on short input.

/// One SMTP reply: a three-digit code and its text lines (without the code and separator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The reply code, 200..=599.
    pub code: u16,
    /// Each line's text after `NNN-` / `NNN `.
    pub lines: Vec<String>,
}

impl Reply {
    /// 2xx.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// The text of all lines joined by a space.
    pub fn text(&self) -> String {
        self.lines.join(" ")
    }
}

/// The longest reply accepted; RFC 5321 §4.5.3.1.5 limits a line to 512 octets, and no EHLO
/// answer needs more than a few dozen lines.
pub const MAX_REPLY: usize = 64 * 1024;

/// Parses one reply from the start of `buffer`. `Ok(None)`: more bytes are needed.
/// `Ok(Some((reply, used)))`: a complete reply and how many bytes it took.
pub fn parse(buffer: &[u8]) -> Result<Option<(Reply, usize)>, String> {
    let mut lines = Vec::new();
    let mut code = None;
    let mut offset = 0;
    loop {
        let Some(end) = buffer[offset..].iter().position(|b| *b == b'\n') else {
            if buffer.len() > MAX_REPLY {
                return Err(format!("reply longer than {MAX_REPLY} bytes"));
            }
            return Ok(None);
        };
        let raw = &buffer[offset..offset + end];
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        offset += end + 1;
        // RFC 5321 §4.2: Reply-line = *( Reply-code "-" [ textstring ] CRLF ) Reply-code [ SP textstring ] CRLF
        if line.len() < 3 || !line[..3].iter().all(u8::is_ascii_digit) {
            return Err(format!(
                "not an SMTP reply line: {:?}",
                String::from_utf8_lossy(line)
            ));
        }
        let this_code = u16::from(line[0] - b'0') * 100
            + u16::from(line[1] - b'0') * 10
            + u16::from(line[2] - b'0');
        if !(200..600).contains(&this_code) {
            return Err(format!("reply code {this_code} is out of range"));
        }
        if code.is_some_and(|c| c != this_code) {
            return Err(format!(
                "a multi-line reply changes its code to {this_code}"
            ));
        }
        code = Some(this_code);
        let separator = line.get(3).copied();
        let text = String::from_utf8_lossy(line.get(4..).unwrap_or_default()).into_owned();
        lines.push(text);
        match separator {
            Some(b'-') => continue,
            None | Some(b' ') => {
                return Ok(Some((
                    Reply {
                        code: this_code,
                        lines,
                    },
                    offset,
                )));
            }
            Some(other) => {
                return Err(format!(
                    "unexpected `{}` after the reply code",
                    char::from(other)
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_line() {
        let (reply, used) = parse(b"220 mx.example.com ESMTP\r\nrest")
            .expect("ok")
            .expect("complete");
        assert_eq!(reply.code, 220);
        assert_eq!(reply.lines, ["mx.example.com ESMTP"]);
        assert_eq!(used, 26);
        assert!(reply.is_positive());
    }

    #[test]
    fn multi_line_ehlo() {
        let input = b"250-mx.example.com\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n";
        let (reply, used) = parse(input).expect("ok").expect("complete");
        assert_eq!(
            reply.lines,
            ["mx.example.com", "PIPELINING", "STARTTLS", "8BITMIME"]
        );
        assert_eq!(used, input.len());
    }

    #[test]
    fn incomplete_input_asks_for_more() {
        assert_eq!(parse(b""), Ok(None));
        assert_eq!(parse(b"250-mx\r\n250-PIPE"), Ok(None));
        assert_eq!(parse(b"220 partial"), Ok(None));
    }

    #[test]
    fn bare_lf_and_code_only_lines() {
        let (reply, _) = parse(b"250\n").expect("ok").expect("complete");
        assert_eq!((reply.code, reply.lines.len()), (250, 1));
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse(b"HTTP/1.1 400 Bad Request\r\n").is_err());
        assert!(parse(b"25\r\n").is_err());
        assert!(parse(b"999 nope\r\n").is_err());
        assert!(parse(b"250-a\r\n220 b\r\n").is_err());
        assert!(parse(b"250xa\r\n").is_err());
        assert!(parse(&vec![b'2'; MAX_REPLY + 1]).is_err());
    }

    #[test]
    fn error_replies() {
        let (reply, _) = parse(b"421 4.3.2 Service not available\r\n")
            .expect("ok")
            .expect("complete");
        assert_eq!(reply.code, 421);
        assert!(!reply.is_positive());
    }
}
