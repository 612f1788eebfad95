//! The policy daemon against the lab's real DNS and HTTPS servers on loopback, with an injected
//! clock: replies per mode, the cache rules of RFC 8461 §3.3 and §5.1, single-flight, restarts,
//! the socketmap server over TCP and a unix socket, clients that hold connections open, and a
//! Redis cache shared by several daemons.

mod crash;
mod damage;
mod dane;
mod hostile;
mod lookups;
mod postfix_forms;
mod server;
mod shared_redis;
mod support;
