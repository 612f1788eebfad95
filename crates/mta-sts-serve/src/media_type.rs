//! The two media types a TLS-RPT report is POSTed with (RFC 8460 §5.3, §6.4, §6.5).

/// How a POSTed report is encoded, as its `Content-Type` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportMediaType {
    /// `application/tlsrpt+gzip`: gzip-compressed JSON.
    Gzip,
    /// `application/tlsrpt+json`: plain JSON.
    Json,
}

impl ReportMediaType {
    /// Reads a `Content-Type` header value. The type and subtype are compared without regard
    /// to case and parameters (`; charset=utf-8`) are ignored (RFC 9110 §8.3.1); anything else,
    /// or no header at all, is `None` (answered 415).
    pub fn from_content_type(value: &[u8]) -> Option<ReportMediaType> {
        let text = std::str::from_utf8(value).ok()?;
        let essence = text.split(';').next().unwrap_or_default().trim();
        // RFC 8460 §5.3: "application/tlsrpt+json" or "application/tlsrpt+gzip".
        if essence.eq_ignore_ascii_case("application/tlsrpt+gzip") {
            Some(ReportMediaType::Gzip)
        } else if essence.eq_ignore_ascii_case("application/tlsrpt+json") {
            Some(ReportMediaType::Json)
        } else {
            None
        }
    }

    /// The media type as registered.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportMediaType::Gzip => "application/tlsrpt+gzip",
            ReportMediaType::Json => "application/tlsrpt+json",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_types_with_any_case_and_parameters() {
        let good = [
            ("application/tlsrpt+gzip", ReportMediaType::Gzip),
            ("Application/TLSRPT+GZIP", ReportMediaType::Gzip),
            (" application/tlsrpt+gzip ; foo=bar", ReportMediaType::Gzip),
            ("application/tlsrpt+json", ReportMediaType::Json),
            (
                "application/tlsrpt+json; charset=utf-8",
                ReportMediaType::Json,
            ),
        ];
        for (value, expected) in good {
            assert_eq!(
                ReportMediaType::from_content_type(value.as_bytes()),
                Some(expected),
                "{value}"
            );
        }
    }

    #[test]
    fn other_types_are_refused() {
        let bad = [
            "",                             // no type at all
            "application/json",             // plain JSON is not the registered type
            "application/gzip",             // nor plain gzip
            "application/tlsrpt",           // the bare type some mail senders use, not for POST
            "text/plain",                   // a form or a probe
            "application/tlsrpt+gzipx",     // a longer subtype
            "application/tlsrpt+json\u{0}", // a control character
        ];
        for value in bad {
            assert_eq!(
                ReportMediaType::from_content_type(value.as_bytes()),
                None,
                "{value:?}"
            );
        }
        assert_eq!(ReportMediaType::from_content_type(&[0xff, 0xfe]), None);
    }
}
