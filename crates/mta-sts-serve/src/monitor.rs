//! The monitor of `mta-sts serve`.

mod gauges;
mod schedule;
