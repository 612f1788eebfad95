//! The domain owner's server, `mta-sts serve`: it takes in TLS-RPT reports over HTTPS (RFC 8460
//! §3); later it also hosts policies, shows the dashboard and watches the domains.
