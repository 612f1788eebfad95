//! The `_mta-sts` record linter never panics, agrees with the reader, and valid records round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mta_sts_core::{StsRecord, sts_record};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lint = sts_record::lint(&text);
    let parsed = StsRecord::parse(&text);
    assert_eq!(lint.valid, parsed.is_ok());
    if let Ok(record) = parsed {
        assert_eq!(StsRecord::parse(&record.to_string()).as_ref(), Ok(&record));
    }
    // The discovery rule over a split record must not panic either.
    let mid = data.len() / 2;
    let _ = sts_record::discover(&[vec![&data[..mid], &data[mid..]], vec![data]]);
});
