//! Reading a POSTed body under a size cap and a time limit: the body is refused as soon as it
//! passes the cap (announced by `Content-Length` or seen while reading), so a client cannot make
//! the server hold more than the cap in memory, nor hold a connection open by sending slowly.

use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::HeaderMap;
use http_body_util::{BodyExt, LengthLimitError, Limited};

/// Why a body was not read whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// Longer than the cap (413).
    TooLarge {
        /// The cap, in bytes.
        cap: usize,
    },
    /// Not all there by the time limit (408).
    TooSlow {
        /// The limit.
        limit: Duration,
    },
    /// The connection broke, or the framing was wrong, before the end (400).
    Broken,
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::TooLarge { cap } => write!(
                f,
                "The report is larger than this server's cap of {cap} bytes; it was not read \
                 further and is not kept."
            ),
            BodyError::TooSlow { limit } => write!(
                f,
                "The report did not arrive whole within {} seconds; it is not kept.",
                limit.as_secs()
            ),
            BodyError::Broken => f.write_str(
                "The request body ended before it was complete; the report is not kept.",
            ),
        }
    }
}

/// Reads `body` whole, refusing it past `cap` bytes or after `limit`.
pub(crate) async fn read_capped(
    headers: &HeaderMap,
    body: Body,
    cap: usize,
    limit: Duration,
) -> Result<Bytes, BodyError> {
    // A declared length over the cap is refused before a byte of the body is read.
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > cap as u64) {
        return Err(BodyError::TooLarge { cap });
    }
    let collected = tokio::time::timeout(limit, Limited::new(body, cap).collect()).await;
    match collected {
        Err(_elapsed) => Err(BodyError::TooSlow { limit }),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) if is_length_limit(&*error) => Err(BodyError::TooLarge { cap }),
        Ok(Err(_)) => Err(BodyError::Broken),
    }
}

/// Whether `error` (or what caused it) is [`Limited`]'s "over the cap".
fn is_length_limit(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if error.is::<LengthLimitError>() {
            return true;
        }
        current = error.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(length: Option<usize>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(length) = length {
            headers.insert(http::header::CONTENT_LENGTH, length.into());
        }
        headers
    }

    const LIMIT: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn a_body_up_to_the_cap_is_read_whole() {
        let read = read_capped(&headers(None), Body::from(vec![7u8; 100]), 100, LIMIT).await;
        assert_eq!(read, Ok(Bytes::from(vec![7u8; 100])));
    }

    #[tokio::test]
    async fn one_byte_over_the_cap_is_refused_declared_or_not() {
        let read = read_capped(&headers(None), Body::from(vec![7u8; 101]), 100, LIMIT).await;
        assert_eq!(read, Err(BodyError::TooLarge { cap: 100 }));
        let read = read_capped(&headers(Some(101)), Body::from(vec![7u8; 1]), 100, LIMIT).await;
        assert_eq!(read, Err(BodyError::TooLarge { cap: 100 }));
    }

    #[tokio::test]
    async fn a_stream_past_the_cap_stops_without_reading_the_rest() {
        // An endless stream: refused once past the cap rather than read to its (absent) end.
        let chunks = futures_util::stream::repeat_with(|| {
            Ok::<_, std::io::Error>(Bytes::from_static(&[b'x'; 1024]))
        });
        let body = Body::from_stream(chunks);
        let read = read_capped(&headers(None), body, 64 * 1024, LIMIT).await;
        assert_eq!(read, Err(BodyError::TooLarge { cap: 64 * 1024 }));
    }

    #[tokio::test]
    async fn a_body_that_never_ends_is_cut_at_the_time_limit() {
        let body =
            Body::from_stream(futures_util::stream::pending::<Result<Bytes, std::io::Error>>());
        let limit = Duration::from_millis(50);
        let read = read_capped(&headers(None), body, 100, limit).await;
        assert_eq!(read, Err(BodyError::TooSlow { limit }));
    }

    #[tokio::test]
    async fn a_broken_stream_is_broken() {
        let chunks = futures_util::stream::iter([Err::<Bytes, _>(std::io::Error::other("reset"))]);
        let read = read_capped(&headers(None), Body::from_stream(chunks), 100, LIMIT).await;
        assert_eq!(read, Err(BodyError::Broken));
    }
}
