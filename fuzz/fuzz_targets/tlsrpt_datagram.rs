//! The libtlsrpt datagram reader never panics, and what it reads, written back as libtlsrpt
//! writes it, reads back the same (the notes aside: the writer writes a consistent datagram).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mta_sts_core::tlsrpt_datagram;

fuzz_target!(|data: &[u8]| {
    if let Ok(datagram) = tlsrpt_datagram::parse(data) {
        let written = tlsrpt_datagram::write(&datagram);
        let again = tlsrpt_datagram::parse(written.as_bytes()).expect("written datagrams read back");
        assert_eq!(again.domain, datagram.domain);
        assert_eq!(again.tlsrpt_record, datagram.tlsrpt_record);
        assert_eq!(again.policies, datagram.policies);
        assert!(again.notes.is_empty());
    }
});
