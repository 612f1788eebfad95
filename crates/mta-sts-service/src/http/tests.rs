use std::collections::VecDeque;
use std::convert::Infallible;

use http_body_util::Full;

use super::*;

/// A body that arrives in chunks and does not announce its length (chunked encoding).
struct Chunks(VecDeque<Bytes>);

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(
            self.get_mut()
                .0
                .pop_front()
                .map(|chunk| Ok(Frame::data(chunk))),
        )
    }
}

fn chunks(sizes: &[usize]) -> Chunks {
    Chunks(sizes.iter().map(|n| Bytes::from(vec![b'x'; *n])).collect())
}

#[tokio::test]
async fn a_body_within_the_cap_is_read_whole() {
    let body = read_body(Full::new(Bytes::from_static(b"hello")), 5)
        .await
        .expect("within the cap");
    assert_eq!(body, Bytes::from_static(b"hello"));
    let body = read_body(chunks(&[3, 3, 4]), 10)
        .await
        .expect("within the cap");
    assert_eq!(body.len(), 10);
}

#[tokio::test]
async fn an_announced_length_over_the_cap_is_refused_before_reading() {
    let error = read_body(Full::new(Bytes::from_static(b"hello!")), 5)
        .await
        .expect_err("over the cap");
    assert!(
        matches!(error, ServiceError::BodyTooLarge { limit: 5 }),
        "{error}"
    );
}

#[tokio::test]
async fn a_chunked_body_over_the_cap_is_refused_while_reading() {
    let error = read_body(chunks(&[4, 4, 4]), 10)
        .await
        .expect_err("over the cap");
    assert!(
        matches!(error, ServiceError::BodyTooLarge { limit: 10 }),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "the request body is larger than the limit of 10 bytes"
    );
}
