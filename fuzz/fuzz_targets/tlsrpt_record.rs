//! The `_smtp._tls` record linter never panics, agrees with the reader, and valid records round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mta_sts_core::{TlsRptRecord, tlsrpt_record};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lint = tlsrpt_record::lint(&text);
    let parsed = TlsRptRecord::parse(&text);
    assert_eq!(lint.valid, parsed.is_ok());
    if let Ok(record) = parsed {
        assert_eq!(TlsRptRecord::parse(&record.to_string()).as_ref(), Ok(&record));
    }
    let _ = tlsrpt_record::discover(&[vec![data]]);
});
