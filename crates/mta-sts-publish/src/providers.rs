//! Mail providers whose MX host names change under a suffix they own, so a policy names the
//! suffix with one `*.` pattern rather than today's hosts.
//!
//! A provider may move a domain to another of its hosts (Microsoft assigns each tenant its own
//! `<tenant>.mail.protection.outlook.com`, Google adds and retires `altN.aspmx.l.google.com`);
//! a policy listing today's hosts in `enforce` mode would then block mail until the owner
//! noticed. Each suffix below is one whose hosts share the provider's certificate and whose
//! documentation names the wildcard.
//!
//! RFC 8461 §4.1: `*.suffix` matches exactly one more label, never the suffix itself nor two
//! labels below it: a host equal to a suffix (Google's `aspmx.l.google.com`) keeps its own line,
//! and a host two labels below is not collapsed.

use serde::Serialize;

/// One provider's suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ProviderSuffix {
    /// The provider, as people call it.
    pub provider: &'static str,
    /// The domain one label above the MX hosts; the pattern is `*.` followed by it.
    pub suffix: &'static str,
}

/// The table. Kept small: only suffixes whose every host is the provider's inbound MX.
pub const PROVIDERS: &[ProviderSuffix] = &[
    // <tenant>.mail.protection.outlook.com, one per tenant.
    ProviderSuffix {
        provider: "Microsoft 365",
        suffix: "mail.protection.outlook.com",
    },
    // aspmx.l.google.com (its own line) and alt1 to alt4 below it.
    ProviderSuffix {
        provider: "Google Workspace",
        suffix: "aspmx.l.google.com",
    },
    // aspmx2 to aspmx5.googlemail.com, Google's older secondary set.
    ProviderSuffix {
        provider: "Google Workspace",
        suffix: "googlemail.com",
    },
    // in1-smtp and in2-smtp.messagingengine.com.
    ProviderSuffix {
        provider: "Fastmail",
        suffix: "messagingengine.com",
    },
    // mail.protonmail.ch and mailsec.protonmail.ch.
    ProviderSuffix {
        provider: "Proton Mail",
        suffix: "protonmail.ch",
    },
    // <region>-smtp-inbound-N.mimecast.com.
    ProviderSuffix {
        provider: "Mimecast",
        suffix: "mimecast.com",
    },
];

/// The provider suffix `host` is exactly one label below, if any (`host` lowercase, no
/// trailing dot).
pub fn provider_of(host: &str) -> Option<&'static ProviderSuffix> {
    let (label, parent) = host.split_once('.')?;
    if label.is_empty() {
        return None;
    }
    PROVIDERS.iter().find(|p| p.suffix == parent)
}

#[cfg(test)]
mod tests {
    use mta_sts_core::MxPattern;

    use super::*;

    #[test]
    fn hosts_one_label_below_a_suffix_belong_to_the_provider() {
        let microsoft = provider_of("contoso-com.mail.protection.outlook.com").expect("M365");
        assert_eq!(microsoft.provider, "Microsoft 365");
        let google = provider_of("alt1.aspmx.l.google.com").expect("Google");
        assert_eq!(google.suffix, "aspmx.l.google.com");
        assert_eq!(
            provider_of("aspmx3.googlemail.com").map(|p| p.provider),
            Some("Google Workspace")
        );
    }

    #[test]
    fn the_suffix_itself_and_deeper_hosts_do_not() {
        // RFC 8461 §4.1: `*.aspmx.l.google.com` does not match `aspmx.l.google.com`.
        assert_eq!(provider_of("aspmx.l.google.com"), None);
        assert_eq!(provider_of("a.b.mail.protection.outlook.com"), None);
        assert_eq!(provider_of("mail.protection.outlook.com"), None);
        assert_eq!(provider_of("mx.example.org"), None);
    }

    #[test]
    fn every_suffix_makes_a_valid_pattern_that_is_not_too_broad() {
        for provider in PROVIDERS {
            let pattern = MxPattern::lint(&format!("*.{}", provider.suffix));
            assert!(pattern.pattern.is_some(), "{}", provider.suffix);
            assert!(pattern.diagnostics.is_empty(), "{}", provider.suffix);
        }
    }
}
