use super::*;

#[test]
fn retry_after_is_whole_seconds_rounded_up() {
    let response = retry_after(
        sentence(StatusCode::TOO_MANY_REQUESTS, "wait"),
        Duration::from_millis(1500),
    );
    assert_eq!(response.headers()[header::RETRY_AFTER], "2");
    let response = retry_after(
        sentence(StatusCode::TOO_MANY_REQUESTS, "wait"),
        Duration::ZERO,
    );
    assert_eq!(response.headers()[header::RETRY_AFTER], "1");
}
