//! Reading a POSTed body: under the size cap (the shared [`read_body`], which refuses a body as
//! soon as it passes the cap, announced or seen while reading, so a client cannot make the
//! server hold more than the cap) and a time limit, so a client cannot hold a connection open by
//! sending slowly.

use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use mta_sts_service::{ServiceError, read_body};

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
                limit.as_secs_f64()
            ),
            BodyError::Broken => f.write_str(
                "The request body ended before it was complete; the report is not kept.",
            ),
        }
    }
}

/// Reads `body` whole, refusing it past `cap` bytes or after `limit`.
pub(crate) async fn read_capped(
    body: Body,
    cap: usize,
    limit: Duration,
) -> Result<Bytes, BodyError> {
    match tokio::time::timeout(limit, read_body(body, cap)).await {
        Err(_elapsed) => Err(BodyError::TooSlow { limit }),
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(ServiceError::BodyTooLarge { .. })) => Err(BodyError::TooLarge { cap }),
        Ok(Err(_)) => Err(BodyError::Broken),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn a_body_up_to_the_cap_is_read_whole() {
        let read = read_capped(Body::from(vec![7u8; 100]), 100, LIMIT).await;
        assert_eq!(read, Ok(Bytes::from(vec![7u8; 100])));
    }

    #[tokio::test]
    async fn a_stream_past_the_cap_stops_without_reading_the_rest() {
        // An endless stream: refused once past the cap rather than read to its (absent) end.
        let chunks = futures_util::stream::repeat_with(|| {
            Ok::<_, std::io::Error>(Bytes::from_static(&[b'x'; 1024]))
        });
        let read = read_capped(Body::from_stream(chunks), 64 * 1024, LIMIT).await;
        assert_eq!(read, Err(BodyError::TooLarge { cap: 64 * 1024 }));
    }

    #[tokio::test]
    async fn a_body_that_never_ends_is_cut_at_the_time_limit() {
        let body =
            Body::from_stream(futures_util::stream::pending::<Result<Bytes, std::io::Error>>());
        let limit = Duration::from_millis(50);
        let read = read_capped(body, 100, limit).await;
        assert_eq!(read, Err(BodyError::TooSlow { limit }));
    }

    #[tokio::test]
    async fn a_broken_stream_is_broken() {
        let chunks = futures_util::stream::iter([Err::<Bytes, _>(std::io::Error::other("reset"))]);
        let read = read_capped(Body::from_stream(chunks), 100, LIMIT).await;
        assert_eq!(read, Err(BodyError::Broken));
    }
}
