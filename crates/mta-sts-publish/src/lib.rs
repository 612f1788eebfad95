//! Publishing MTA-STS (RFC 8461 §3): from a domain's live MX set, the policy, the `_mta-sts`
//! TXT record with an id derived from the policy's content, and the `_smtp._tls` record
//! (RFC 8460 §3); and the safe order of steps for changing MX hosts under an enforce policy.
