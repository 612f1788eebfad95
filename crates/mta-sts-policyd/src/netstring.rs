//! Netstring framing (`<len>:<bytes>,`), the transport of Postfix's socketmap protocol
//! (socketmap_table(5)), as pure functions over a byte buffer.
//!
//! [`decode`] looks at the front of a buffer and says "a whole frame, this long", "not yet"
//! (`Ok(None)`, read more) or "this is not a netstring" (the connection must be closed). It never
//! consumes anything itself, so the connection code owns the buffer and the socket, and the
//! framing can be tested and fuzzed without either.

/// The longest request payload accepted. postfix-mta-sts-resolver closes the connection on
/// requests over 1024 bytes, and a socketmap request is a map name and a domain, so anything
/// longer is not a request we could answer.
pub const MAX_REQUEST: usize = 1024;

/// Why the front of a buffer is not a netstring. Every variant means the peer is not speaking
/// the protocol (or is trying to make us buffer without limit): the connection is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FramingError {
    /// The length has a byte other than an ASCII digit before the `:`.
    #[error("the netstring length has the non-digit byte 0x{found:02x}")]
    BadLength {
        /// The offending byte.
        found: u8,
    },
    /// A `:` with no length digits before it.
    #[error("the netstring has no length before `:`")]
    MissingLength,
    /// A length written with leading zeros (`007:`); only a bare `0` may start with zero, so each
    /// payload has exactly one encoding.
    #[error("the netstring length has leading zeros")]
    LeadingZero,
    /// The length is over the limit ([`MAX_REQUEST`] for requests).
    #[error("the netstring announces more than {limit} bytes")]
    TooLong {
        /// The limit.
        limit: usize,
    },
    /// The byte after the payload is not the terminating `,`.
    #[error("the netstring payload is followed by 0x{found:02x}, not `,`")]
    MissingComma {
        /// The byte found instead.
        found: u8,
    },
}

/// Reads one request netstring at the front of `buffer`.
///
/// Returns `Ok(Some((payload, consumed)))` for a complete frame (`consumed` bytes of `buffer`,
/// including the length, `:` and `,`), `Ok(None)` if `buffer` is a proper prefix of a frame that
/// may still be valid, and an error as soon as it cannot be (a length over [`MAX_REQUEST`] is
/// refused before its payload arrives).
pub fn decode(buffer: &[u8]) -> Result<Option<(&[u8], usize)>, FramingError> {
    decode_with_limit(buffer, MAX_REQUEST)
}

/// [`decode`] with another payload limit: a client reading replies, which may be longer than
/// requests (a `tlsrpt` reply carries the whole policy).
pub fn decode_with_limit(
    buffer: &[u8],
    limit: usize,
) -> Result<Option<(&[u8], usize)>, FramingError> {
    let mut length: usize = 0;
    let mut digits = 0;
    for (at, &byte) in buffer.iter().enumerate() {
        match byte {
            b':' => {
                if digits == 0 {
                    return Err(FramingError::MissingLength);
                }
                let start = at + 1;
                let Some(end) = start.checked_add(length) else {
                    return Err(FramingError::TooLong { limit });
                };
                return match buffer.get(end) {
                    None => Ok(None),
                    Some(b',') => Ok(Some((&buffer[start..end], end + 1))),
                    Some(&found) => Err(FramingError::MissingComma { found }),
                };
            }
            b'0'..=b'9' => {
                if digits == 1 && length == 0 {
                    return Err(FramingError::LeadingZero);
                }
                digits += 1;
                length = length
                    .checked_mul(10)
                    .and_then(|l| l.checked_add(usize::from(byte - b'0')))
                    .filter(|&l| l <= limit)
                    .ok_or(FramingError::TooLong { limit })?;
            }
            found => return Err(FramingError::BadLength { found }),
        }
    }
    Ok(None)
}

/// Frames `payload` as a netstring. Replies are not subject to [`MAX_REQUEST`].
pub fn encode(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 8);
    encode_into(&[payload], &mut out);
    out
}

/// Appends the concatenation of `parts`, framed as one netstring, to `out`: the server frames
/// every reply (`"OK "` and its data) straight into its write buffer, with no allocation per
/// reply.
pub fn encode_into(parts: &[&[u8]], out: &mut Vec<u8>) {
    use std::io::Write as _;
    let length: usize = parts.iter().map(|part| part.len()).sum();
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{length}:");
    for part in parts {
        out.extend_from_slice(part);
    }
    out.push(b',');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn good_frames() {
        let cases: &[(&[u8], &[u8], usize)] = &[
            (b"0:,", b"", 3),
            (b"5:hello,", b"hello", 8),
            (b"5:hello,3:abc,", b"hello", 8), // pipelined: only the first frame
            (b"19:postfix example.com,", b"postfix example.com", 23),
            (b"3:a:,,", b"a:,", 6), // payload bytes are not interpreted
        ];
        for &(input, payload, consumed) in cases {
            assert_eq!(decode(input), Ok(Some((payload, consumed))), "{input:?}");
        }
        let max = encode(&[b'x'; MAX_REQUEST]);
        assert_eq!(decode(&max).map(|f| f.map(|(_, n)| n)), Ok(Some(max.len())));
    }

    #[test]
    fn incomplete_frames() {
        for input in [&b""[..], b"1", b"10", b"5:", b"5:hel", b"5:hello", b"1024"] {
            assert_eq!(decode(input), Ok(None), "{input:?}");
        }
    }

    #[test]
    fn bad_frames() {
        let cases: &[(&[u8], FramingError)] = &[
            // A letter where the length should be (an HTTP or SMTP client on the wrong port).
            (b"GET / HTTP/1.1", FramingError::BadLength { found: b'G' }),
            // A space inside the length.
            (b"5 :hello,", FramingError::BadLength { found: b' ' }),
            // A negative length.
            (b"-1:,", FramingError::BadLength { found: b'-' }),
            // No length at all.
            (b":hello,", FramingError::MissingLength),
            // Leading zeros would give one payload two encodings.
            (b"05:hello,", FramingError::LeadingZero),
            (b"00:,", FramingError::LeadingZero),
            // One byte over the limit, refused before the payload arrives.
            (b"1025:", FramingError::TooLong { limit: MAX_REQUEST }),
            (b"1025", FramingError::TooLong { limit: MAX_REQUEST }),
            (
                b"99999999999999999999999",
                FramingError::TooLong { limit: MAX_REQUEST },
            ),
            // The payload is longer than announced.
            (b"3:hello,", FramingError::MissingComma { found: b'l' }),
            // A newline-terminated "netstring".
            (b"5:hello\n", FramingError::MissingComma { found: b'\n' }),
        ];
        for &(input, error) in cases {
            assert_eq!(decode(input), Err(error), "{input:?}");
        }
    }

    #[test]
    fn replies_may_have_a_higher_limit() {
        let long = encode(&[b'x'; 5000]);
        assert_eq!(
            decode(&long),
            Err(FramingError::TooLong { limit: MAX_REQUEST })
        );
        assert_eq!(
            decode_with_limit(&long, 65_536).map(|f| f.map(|(p, n)| (p.len(), n))),
            Ok(Some((5000, long.len())))
        );
        assert_eq!(
            decode_with_limit(b"99999999999999999999999999:", usize::MAX),
            Err(FramingError::TooLong { limit: usize::MAX })
        );
    }

    #[test]
    fn encodes() {
        assert_eq!(encode(b""), b"0:,");
        assert_eq!(encode(b"NOTFOUND "), b"9:NOTFOUND ,");
    }

    proptest! {
        #[test]
        fn round_trip(payload in proptest::collection::vec(any::<u8>(), 0..=MAX_REQUEST)) {
            let frame = encode(&payload);
            prop_assert_eq!(decode(&frame), Ok(Some((&payload[..], frame.len()))));
        }

        #[test]
        fn every_proper_prefix_is_incomplete(
            payload in proptest::collection::vec(any::<u8>(), 0..=MAX_REQUEST),
            cut in any::<prop::sample::Index>(),
        ) {
            let frame = encode(&payload);
            let prefix = &frame[..cut.index(frame.len())];
            prop_assert_eq!(decode(prefix), Ok(None));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            if let Ok(Some((payload, consumed))) = decode(&bytes) {
                // A decoded frame is exactly the encoding of its payload.
                prop_assert_eq!(&encode(payload)[..], &bytes[..consumed]);
            }
        }

        #[test]
        fn digit_soup_never_panics(text in "[0-9:,]{0,40}") {
            let _ = decode(text.as_bytes());
        }
    }
}
