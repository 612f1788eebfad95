//! The TLS-RPT reader and strict lint never panic on any bytes (JSON, gzip or garbage), and a
//! report the strict lint calls valid is one the tolerant reader reads.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mta_sts_core::{report, report_lint};

fuzz_target!(|data: &[u8]| {
    let lint = report_lint::lint(data);
    let read = report::read(data);
    if lint.valid {
        assert!(read.is_ok());
    }
});
