//! The webhook's signature: HMAC-SHA256 (RFC 2104, FIPS 180-4) with the shared secret over
//! `TIMESTAMP.BODY`, where TIMESTAMP is the `Mta-Sts-Timestamp` header (Unix seconds) sent with
//! it. Signing the time with the body lets a receiver refuse a replayed request: it recomputes
//! the MAC, compares in constant time, and refuses a timestamp more than a few minutes old.

use ring::hmac;

/// The header carrying the Unix time the request was signed at.
pub const TIMESTAMP_HEADER: &str = "mta-sts-timestamp";
/// The header carrying `v1=` and the lowercase hex HMAC-SHA256 of `TIMESTAMP.BODY`.
pub const SIGNATURE_HEADER: &str = "mta-sts-signature";

/// The shared secret of a webhook.
#[derive(Clone)]
pub struct SigningKey(hmac::Key);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.write_str("SigningKey(..)")
    }
}

impl SigningKey {
    /// A key from the secret's bytes.
    pub fn new(secret: &[u8]) -> SigningKey {
        SigningKey(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    /// The value of the signature header for `body` sent at `timestamp` (Unix seconds).
    pub fn sign(&self, timestamp: i64, body: &[u8]) -> String {
        let mut context = hmac::Context::with_key(&self.0);
        context.update(timestamp.to_string().as_bytes());
        context.update(b".");
        context.update(body);
        let tag = context.sign();
        let mut value = String::with_capacity(3 + 64);
        value.push_str("v1=");
        for byte in tag.as_ref() {
            value.push(char::from(HEX[usize::from(byte >> 4)]));
            value.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
        value
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_an_independent_hmac_sha256() {
        // Computed with Python's hmac module over b"1765000000.{\"a\":1}" with key b"Jefe".
        let key = SigningKey::new(b"Jefe");
        assert_eq!(
            key.sign(1_765_000_000, b"{\"a\":1}"),
            "v1=6bb3cb1699279da80009a27df666cb60e96ff2b17ba0bd46bf75653d2f22889a"
        );
    }

    #[test]
    fn the_time_is_part_of_what_is_signed() {
        let key = SigningKey::new(b"secret");
        assert_ne!(key.sign(1, b"body"), key.sign(2, b"body"));
        assert_ne!(key.sign(1, b"body"), key.sign(1, b"bodz"));
    }

    #[test]
    fn the_secret_is_never_printed() {
        assert_eq!(
            format!("{:?}", SigningKey::new(b"hunter2")),
            "SigningKey(..)"
        );
    }
}
