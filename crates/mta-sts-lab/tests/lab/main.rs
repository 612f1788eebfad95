//! Integration tests: real sockets on loopback against a running lab, grouped by server.

mod change;
mod dns;
mod https;
mod lifecycle;
mod smtp;
mod support;
