//! The report extraction never panics on any bytes: sniffing, a mail message's attachments, an
//! mbox split, a zip entry, and the whole examination of a message and of a report. And what it
//! finds keeps its promises: no attachment or mbox message past its cap, and every accepted
//! report is one the core's reader reads from the bytes kept for it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mta_sts_core::report::{self, MAX_REPORT_SIZE};
use mta_sts_reports::examine::{self, Examined};
use mta_sts_reports::mbox::{MboxEntry, MboxMessages};
use mta_sts_reports::{DomainFilter, message, payload};

/// A small cap, so the fuzzer reaches the oversized path.
const MBOX_CAP: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let _ = payload::sniff(data);
    if let Ok(entry) = payload::unzip_first(data) {
        assert!(entry.len() <= MAX_REPORT_SIZE);
    }
    if let Ok(found) = message::report_attachments(data) {
        assert!(found.attachments.len() <= message::MAX_ATTACHMENTS);
    }
    for entry in MboxMessages::new(data, MBOX_CAP) {
        if let Ok(MboxEntry::Message(bytes)) = entry {
            assert!(bytes.len() <= MBOX_CAP);
        }
    }
    let filter = DomainFilter::Any;
    let examined = examine::examine_message(data, &filter)
        .into_iter()
        .chain([examine::examine_report(data, &filter, Some("example.com"))]);
    for result in examined {
        if let Examined::Accepted(accepted) = result {
            assert!(report::parse(&accepted.json).is_ok());
        }
    }
});
