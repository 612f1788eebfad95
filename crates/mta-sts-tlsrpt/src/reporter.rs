//! The reporter, the counterpart of tlsrpt-reportd: once a day's collection is complete, its
//! reports are built, put in the outbox and delivered, failures retried until given up.

pub mod metrics;
