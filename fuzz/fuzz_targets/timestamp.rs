//! Reading an RFC 3339 date-time (or full-date) never panics, and what it accepts is one instant
//! that writes back as `YYYY-MM-DDTHH:MM:SSZ` and reads back as the same instant, with its zone
//! noted; a date names the day its instant starts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mta_sts_core::time::{Timestamp, UtcDate, Zone};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok((timestamp, _)) = Timestamp::parse_noting_zone(&text) {
        let written = timestamp.to_string();
        assert_eq!(written.len(), 20);
        assert_eq!(
            Timestamp::parse_noting_zone(&written),
            Ok((timestamp, Zone::Written))
        );
        assert_eq!(timestamp.start_of_day(), timestamp.utc_date().start());
    }
    if let Ok(date) = UtcDate::parse(&text) {
        assert_eq!(date.to_string(), text);
        assert_eq!(date.start().utc_date(), date);
    }
});
