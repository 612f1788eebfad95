//! Reading what the configuration says to host: the policies written inline or in files
//! (linted; a policy senders would refuse is never served), and the certificate files of the
//! policy hosts. At start a problem stops the server; on SIGHUP what is in use stays.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;

use super::{HostCertificates, HostedPolicy, policy_host};
use crate::config::{PolicySource, ServeConfig, check_policy_text};
use crate::error::ServeError;
use crate::tls;

/// The policies of the `[[hosts]]` written inline or in files, each checked by the core
/// linter; `auto` hosts are left to the updater that generates them.
pub(crate) fn load_policies(config: &ServeConfig) -> Result<Vec<HostedPolicy>, ServeError> {
    let mut policies = Vec::with_capacity(config.hosts.len());
    for host in &config.hosts {
        let text = match host.source() {
            PolicySource::Inline(text) => text.to_string(),
            PolicySource::File(path) => {
                let text = read_policy_file(&host.domain, path)?;
                check_policy_text(&host.domain, &text, &format!("the file {}", path.display()))?;
                text
            }
            PolicySource::Auto(_) => continue,
        };
        policies.push(HostedPolicy::new(&host.domain, &text));
    }
    Ok(policies)
}

fn read_policy_file(domain: &str, path: &std::path::Path) -> Result<String, ServeError> {
    // RFC 8461 §3.3: senders read at most 64 KiB; a larger file is refused by the linter, so
    // reading past the limit would only cost memory.
    let limit = mta_sts_core::policy_lint::MAX_POLICY_SIZE;
    let bytes = std::fs::read(path).map_err(|source| ServeError::Policy {
        domain: domain.to_string(),
        message: format!("cannot read the policy file {}: {source}", path.display()),
    })?;
    if bytes.len() > limit {
        return Err(ServeError::Policy {
            domain: domain.to_string(),
            message: format!(
                "the policy file {} holds {} bytes, more than the {limit} senders read \
                 (RFC 8461 §3.3)",
                path.display(),
                bytes.len()
            ),
        });
    }
    String::from_utf8(bytes).map_err(|_| ServeError::Policy {
        domain: domain.to_string(),
        message: format!(
            "the policy file {} is not UTF-8 text (RFC 8461 §3.2)",
            path.display()
        ),
    })
}

/// Reads the certificate files of every hosted domain from `[hosting] certs` into `table`.
/// A host without files is logged (ACME may issue its certificate; until then its handshakes
/// fail); files that exist but cannot be used are returned, and the certificate in use for
/// that host stays.
pub(crate) fn load_certificates(
    config: &ServeConfig,
    provider: &Arc<CryptoProvider>,
    table: &HostCertificates,
) -> Vec<ServeError> {
    let mut problems = Vec::new();
    for host in &config.hosts {
        let name = policy_host(&host.domain);
        let Some((cert, key)) = config.hosting.certificate_files(&name) else {
            continue;
        };
        if !cert.exists() && !key.exists() {
            if table.get(&name).is_none() {
                tracing::warn!(
                    kind = %"host-certificate-missing",
                    host = %name,
                    "There is no certificate file {} for {name}: handshakes for it fail until \
                     one is there (then send SIGHUP) or ACME issues one.",
                    cert.display()
                );
            }
            continue;
        }
        match tls::read(&cert, &key, provider) {
            Ok(certified) => table.set(&name, Arc::new(certified)),
            Err(error) => problems.push(error),
        }
    }
    problems
}

#[cfg(test)]
mod tests;
