//! What every mta-sts server shares: serving on an already-bound listener, graceful shutdown
//! that drains in-flight work, SIGTERM and SIGHUP, systemd notify, one Prometheus registry,
//! per-client rate limits and connection caps.
