//! Which organisation a policy fetcher belongs to: the forward-confirmed PTR name of its
//! address (the PTR's name must resolve back to the address, or anyone controlling a reverse
//! zone could claim to be Google), matched against a table of the large mail senders, else the
//! name's parent domain, else "unknown". Answers are cached per address, in a bounded table.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use mta_sts_net::dns::Dns;

/// The organisation of a fetcher whose address has no confirmed name.
pub(crate) const UNKNOWN: &str = "unknown";

/// Name suffixes of the senders whose fetches owners most want to see, and their names.
/// The PTR names of their outbound mail and policy fetchers fall under these (Google's under
/// google.com and 1e100.net; Microsoft 365's under outlook.com and protection.outlook.com).
const KNOWN_SENDERS: [(&str, &str); 22] = [
    ("google.com", "Google"),
    ("googlemail.com", "Google"),
    ("1e100.net", "Google"),
    ("outlook.com", "Microsoft"),
    ("protection.outlook.com", "Microsoft"),
    ("microsoft.com", "Microsoft"),
    ("yahoo.com", "Yahoo"),
    ("yahoodns.net", "Yahoo"),
    ("mail.ru", "Mail.ru"),
    ("comcast.net", "Comcast"),
    ("yandex.net", "Yandex"),
    ("yandex.ru", "Yandex"),
    ("protonmail.ch", "Proton"),
    ("proton.me", "Proton"),
    ("amazonses.com", "Amazon SES"),
    ("icloud.com", "Apple"),
    ("apple.com", "Apple"),
    ("gmx.net", "GMX"),
    ("web.de", "WEB.DE"),
    ("t-online.de", "Telekom"),
    ("zoho.com", "Zoho"),
    ("messagingengine.com", "Fastmail"),
];

/// Addresses whose organisation is remembered at once; past this the table starts afresh
/// (a flood of addresses cannot grow it without bound).
const MAX_CACHED: usize = 10_000;

/// How long an address's organisation is remembered.
const CACHE_TTL: Duration = Duration::from_secs(6 * 3600);

/// PTR names tried per address: a reverse zone may list many; the first few are enough.
const MAX_NAMES_TRIED: usize = 3;

/// The organisation a confirmed PTR name belongs to.
pub(crate) fn organization_of(name: &str) -> String {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    for (suffix, organization) in KNOWN_SENDERS {
        if name == suffix
            || name
                .strip_suffix(suffix)
                .is_some_and(|head| head.ends_with('.'))
        {
            return organization.to_string();
        }
    }
    // mx1.mail.example.org → mail.example.org; a two-label name stays as it is.
    match name.split_once('.') {
        Some((_, parent)) if parent.contains('.') => parent.to_string(),
        _ if name.is_empty() => UNKNOWN.to_string(),
        _ => name,
    }
}

/// Finds and remembers the organisation of fetcher addresses.
#[derive(Debug)]
pub(crate) struct Organizations {
    dns: Option<Dns>,
    cache: Mutex<HashMap<IpAddr, (String, Instant)>>,
}

impl Organizations {
    /// Looks names up through `dns`; without it every fetcher is "unknown".
    pub(crate) fn new(dns: Option<Dns>) -> Organizations {
        Organizations {
            dns,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The organisation of the fetcher at `ip`.
    pub(crate) async fn of(&self, ip: IpAddr) -> String {
        let now = Instant::now();
        if let Some((organization, at)) = self
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&ip)
            && now.duration_since(*at) < CACHE_TTL
        {
            return organization.clone();
        }
        let organization = match &self.dns {
            Some(dns) if !ip.is_unspecified() => confirmed(dns, ip).await,
            _ => UNKNOWN.to_string(),
        };
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(ip, (organization.clone(), now));
        organization
    }
}

/// The organisation of the first PTR name of `ip` that resolves back to `ip`.
async fn confirmed(dns: &Dns, ip: IpAddr) -> String {
    let Ok(names) = dns.ptr(ip).await else {
        return UNKNOWN.to_string();
    };
    for name in names.iter().take(MAX_NAMES_TRIED) {
        if let Ok(addresses) = dns.addresses(name).await
            && addresses.ips.contains(&ip)
        {
            return organization_of(name);
        }
    }
    UNKNOWN.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_senders_by_suffix_else_the_parent_domain() {
        for (name, organization) in [
            ("mail-wr1-f54.google.com", "Google"),
            ("google.com.", "Google"),
            ("ab-in-f27.1e100.net", "Google"),
            (
                "mail-db8eur05on2071.outbound.protection.outlook.com",
                "Microsoft",
            ),
            ("sonic301-2.consmr.mail.bf2.yahoo.com", "Yahoo"),
            ("MX1.Mail.Example.ORG", "mail.example.org"),
            ("example.org", "example.org"),
            // Only whole labels match: notgoogle.com is not Google.
            ("mx.notgoogle.com", "notgoogle.com"),
            ("", UNKNOWN),
        ] {
            assert_eq!(organization_of(name), organization, "{name}");
        }
    }

    #[tokio::test]
    async fn without_dns_every_fetcher_is_unknown() {
        let organizations = Organizations::new(None);
        assert_eq!(organizations.of([192, 0, 2, 1].into()).await, UNKNOWN);
    }
}
