//! The daemon's framing and request parsing never panic on what a client sends: netstring
//! decoding consumes what it reports, re-encoding a decoded payload gives the same frame, and any
//! request parses and normalises its key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mta_sts_policyd::netstring;
use mta_sts_policyd::socketmap::{Request, normalize_key};

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Some((payload, used))) = netstring::decode(rest) {
        assert!(used <= rest.len() && used > payload.len());
        assert_eq!(netstring::encode(payload), &rest[..used]);
        let request = Request::parse(payload);
        let _ = normalize_key(&request.key);
        rest = &rest[used..];
    }
});
