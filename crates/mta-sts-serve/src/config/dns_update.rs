//! The `[[dns_update]]` tables: where the `_mta-sts` TXT id of a hosted domain is updated by
//! RFC 2136 dynamic updates signed with TSIG (RFC 8945), one table per zone. A hosted domain
//! under none of these zones is kept in step by hand: the server logs the record to publish and
//! shows "id not updated yet" until DNS shows it.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use mta_sts_net::{DnsUpdater, TsigAlgorithm, TsigKey, UpdateConfig};
use serde::{Deserialize, Deserializer};

use crate::error::ServeError;

/// The time to live given to the `_mta-sts` record when none is configured: five minutes, so
/// that a sender that looked a moment before a change sees the new id soon (RFC 8461 §3.1: the
/// id is what tells senders to fetch the policy again).
pub const DEFAULT_STS_TTL: u32 = 300;

/// The longest time to live accepted for the `_mta-sts` record: a day. A longer one delays every
/// policy change by as much for senders that cached the record.
const MAX_STS_TTL: u32 = 86_400;

/// The longest time limit of one update exchange.
const MAX_TIMEOUT: Duration = Duration::from_secs(120);

/// One `[[dns_update]]` table: a zone, its primary server, and the TSIG key allowed to update it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsUpdateConfig {
    /// The zone (its SOA owner, `example.com`); the `_mta-sts` records of hosted domains at or
    /// under it are updated here (the longest matching zone wins).
    pub zone: String,
    /// The zone's primary server, `IP[:PORT]` (port 53 by default).
    #[serde(deserialize_with = "server_address")]
    pub server: SocketAddr,
    /// The TSIG key's name, as the server's configuration names it.
    pub key_name: String,
    /// The TSIG algorithm: `hmac-sha256` (default), `hmac-sha384` or `hmac-sha512`.
    #[serde(default, deserialize_with = "algorithm")]
    pub algorithm: TsigAlgorithm,
    /// A file holding the key's base64 secret, alone or as `tsig-keygen`/`keymgr -t` write it.
    pub secret_file: PathBuf,
    /// The time to live of the `_mta-sts` record written, in seconds.
    #[serde(default = "default_ttl")]
    pub ttl: u32,
    /// Seconds one update (connect, send, answer) may take.
    #[serde(default = "default_timeout", deserialize_with = "super::seconds")]
    pub timeout: Duration,
}

fn default_ttl() -> u32 {
    DEFAULT_STS_TTL
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

fn server_address<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(deserializer)?;
    mta_sts_net::dns::parse_upstream(&text).map_err(serde::de::Error::custom)
}

fn algorithm<'de, D: Deserializer<'de>>(deserializer: D) -> Result<TsigAlgorithm, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.parse().map_err(serde::de::Error::custom)
}

impl DnsUpdateConfig {
    /// The update client for this zone: reads the secret file (a missing or unusable file is
    /// an error naming it, so the server does not start without the key it was told to use).
    pub fn updater(&self) -> Result<DnsUpdater, ServeError> {
        let bad = |message: String| ServeError::ConfigValue {
            key: "dns_update".to_string(),
            message: format!("zone {}: {message}", self.zone),
        };
        let key = TsigKey::from_secret_file(&self.key_name, self.algorithm, &self.secret_file)
            .map_err(|e| bad(e.to_string()))?;
        DnsUpdater::new(UpdateConfig {
            server: self.server,
            zone: self.zone.clone(),
            key,
            timeout: self.timeout,
        })
        .map_err(|e| bad(e.to_string()))
    }
}

/// Checks the `[[dns_update]]` tables: each zone a domain name, once; a key name; a TTL and a
/// time limit in range. The secret files are read when the server starts.
pub(super) fn validate(zones: &mut [DnsUpdateConfig]) -> Result<(), ServeError> {
    let bad = |key: &str, message: String| {
        Err(ServeError::ConfigValue {
            key: format!("dns_update.{key}"),
            message,
        })
    };
    let mut seen = BTreeSet::new();
    for zone in zones.iter_mut() {
        let name = zone.zone.trim().trim_end_matches('.').to_ascii_lowercase();
        // A zone is a DNS name like a mail domain (a public suffix may be one too, but a policy
        // domain's records are never updated there).
        match mta_sts_core::domain::normalize_mail_domain(&name) {
            Ok(normal) => zone.zone = normal,
            Err(e) => {
                return bad(
                    "zone",
                    format!("`{}` is not a zone name: {e}", zone.zone.escape_debug()),
                );
            }
        }
        if !seen.insert(zone.zone.clone()) {
            return bad(
                "zone",
                format!(
                    "the zone {} is listed twice; give each zone one [[dns_update]] table",
                    zone.zone
                ),
            );
        }
        let key_name = zone.key_name.trim().trim_end_matches('.');
        if key_name.is_empty()
            || key_name.len() > 253
            || key_name
                .split('.')
                .any(|label| label.is_empty() || label.len() > 63)
            || !key_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return bad(
                "key_name",
                format!(
                    "zone {}: `{}` is not a TSIG key name; write the name the DNS server's \
                     configuration gives the key, such as mta-sts-update",
                    zone.zone,
                    zone.key_name.escape_debug()
                ),
            );
        }
        zone.key_name = key_name.to_ascii_lowercase();
        if zone.server.port() == 0 {
            return bad(
                "server",
                format!(
                    "zone {}: port 0 is not a DNS server's port; write IP or IP:PORT",
                    zone.zone
                ),
            );
        }
        if zone.ttl == 0 || zone.ttl > MAX_STS_TTL {
            return bad(
                "ttl",
                format!(
                    "zone {}: must be from 1 to {MAX_STS_TTL} seconds; a long TTL delays every \
                     policy change for senders that cached the record",
                    zone.zone
                ),
            );
        }
        if zone.timeout.is_zero() || zone.timeout > MAX_TIMEOUT {
            return bad(
                "timeout",
                format!(
                    "zone {}: must be from 1 to {} seconds",
                    zone.zone,
                    MAX_TIMEOUT.as_secs()
                ),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ServeConfig;

    fn parse(tables: &str) -> Result<Vec<DnsUpdateConfig>, ServeError> {
        let mut config = ServeConfig::parse(&format!("domains = [\"example.com\"]\n{tables}"))?;
        validate(&mut config.dns_update)?;
        Ok(config.dns_update)
    }

    #[test]
    fn a_zone_needs_a_server_a_key_name_and_a_secret_file() {
        let zones = parse(
            "[[dns_update]]\nzone = \"Example.COM.\"\nserver = \"192.0.2.53\"\n\
             key_name = \"MTA-STS-Update.\"\nsecret_file = \"/etc/mta-sts/update.key\"\n",
        )
        .expect("a valid table");
        assert_eq!(zones.len(), 1);
        assert_eq!(zones[0].zone, "example.com");
        assert_eq!(zones[0].server, "192.0.2.53:53".parse().expect("address"));
        assert_eq!(zones[0].key_name, "mta-sts-update");
        assert_eq!(zones[0].algorithm, TsigAlgorithm::HmacSha256);
        assert_eq!(zones[0].ttl, DEFAULT_STS_TTL);
        assert_eq!(zones[0].timeout, Duration::from_secs(10));
        // Each of the three is required: a missing one is named.
        for missing in ["server", "key_name", "secret_file"] {
            let table = [
                ("zone", "\"example.com\""),
                ("server", "\"192.0.2.53:5353\""),
                ("key_name", "\"k\""),
                ("secret_file", "\"/k\""),
            ]
            .iter()
            .filter(|(key, _)| *key != missing)
            .map(|(key, value)| format!("{key} = {value}\n"))
            .collect::<String>();
            let error = parse(&format!("[[dns_update]]\n{table}")).expect_err(missing);
            assert!(error.to_string().contains(missing), "{error}");
        }
    }

    #[test]
    fn bad_values_are_refused_with_their_key() {
        let table = |extra: &str| {
            format!(
                "[[dns_update]]\nzone = \"example.com\"\nserver = \"192.0.2.53\"\nkey_name = \
                 \"k\"\nsecret_file = \"/k\"\n{extra}"
            )
        };
        for (extra, key) in [
            ("algorithm = \"hmac-md5\"\n", "algorithm"),
            ("ttl = 0\n", "ttl"),
            ("ttl = 86401\n", "ttl"),
            ("timeout = 0\n", "timeout"),
            ("colour = \"red\"\n", "colour"),
        ] {
            let error = parse(&table(extra)).expect_err(extra);
            let said = error.to_string();
            assert!(said.contains(key), "{extra}: {said}");
        }
        let error = parse(&format!("{}{}", table(""), table(""))).expect_err("twice");
        assert!(error.to_string().contains("twice"));
        let error = parse(
            "[[dns_update]]\nzone = \"example.com\"\nserver = \"ns.example.com\"\nkey_name = \
             \"k\"\nsecret_file = \"/k\"\n",
        )
        .expect_err("a host name is not an address");
        assert!(error.to_string().contains("ns.example.com"));
        let error = parse(
            "[[dns_update]]\nzone = \"example.com\"\nserver = \"192.0.2.53\"\nkey_name = \
             \"a key\"\nsecret_file = \"/k\"\n",
        )
        .expect_err("a key name with a space");
        assert!(error.to_string().contains("key_name"));
    }

    #[test]
    fn a_checked_configuration_checks_again_unchanged() {
        // The serve_config fuzz target's invariant, on its dns_update seed.
        let mut config = ServeConfig::parse(include_str!(
            "../../../../fuzz/seeds/serve_config/dns_update.toml"
        ))
        .expect("the seed parses");
        config.validate().expect("the seed is valid");
        let checked = config.clone();
        config.validate().expect("still valid");
        assert_eq!(config, checked);
        assert_eq!(config.dns_update[1].zone, "mail.example.com");
        assert_eq!(config.dns_update[1].key_name, "other-key");
        assert_eq!(
            config.dns_update[1].server,
            "[2001:db8::53]:5353".parse().expect("address")
        );
        assert_eq!(config.dns_update[1].algorithm, TsigAlgorithm::HmacSha512);
    }

    #[test]
    fn a_missing_secret_file_stops_the_start_with_its_name() {
        let zones = parse(
            "[[dns_update]]\nzone = \"example.com\"\nserver = \"192.0.2.53\"\nkey_name = \"k\"\n\
             secret_file = \"/nonexistent/update.key\"\n",
        )
        .expect("valid until the file is read");
        let error = zones[0].updater().expect_err("no such file");
        let said = error.to_string();
        assert!(said.contains("/nonexistent/update.key"), "{said}");
        assert!(said.contains("example.com"), "{said}");
    }
}
