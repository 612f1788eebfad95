//! Keeping every configured name's certificate current: installed from the store at start,
//! renewed at its renewal time, retried with backoff when an order fails, and an alert when a
//! certificate nears its end without a renewal.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use mta_sts_core::time::{Clock, Timestamp};

use crate::schedule::{backoff, jitter};
use crate::{AcmeIssuer, IssuedCertificate, Obtained};

/// Where the keeper hands its results: the server's certificate table and its alerts.
pub trait CertificateSink: Send + Sync {
    /// Serve `certificate` for its name from now on.
    fn install(&self, certificate: &IssuedCertificate);

    /// A certificate nears its end and was not renewed: tell a person.
    fn expiring(&self, warning: &ExpiryWarning);
}

/// A certificate past its warning time (a sixth of its lifetime left) that is not renewed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiryWarning {
    /// The name.
    pub name: String,
    /// When it expires.
    pub not_after: Timestamp,
    /// Why renewing it failed, when it did.
    pub last_error: Option<String>,
}

impl fmt::Display for ExpiryWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "The certificate for {} expires at {} and has not been renewed",
            self.name, self.not_after
        )?;
        match &self.last_error {
            Some(error) => write!(f, "; the last attempt failed: {error}")?,
            None => f.write_str("; renewal is still being attempted")?,
        }
        f.write_str(
            ". Once it expires, senders cannot fetch the MTA-STS policy of its domain over HTTPS.",
        )
    }
}

#[derive(Debug, Default)]
struct NameState {
    current: Option<IssuedCertificate>,
    next_attempt: Option<Timestamp>,
    failures: u32,
    last_error: Option<String>,
    warned_for: Option<Timestamp>,
}

/// Keeps the certificates of `issuer`'s names until `stop` completes: each one is obtained at
/// once (from the store when it holds a good one), handed to `sink`, and obtained again at its
/// renewal time; failures are retried with exponential backoff and jitter, and a certificate
/// past its warning time is reported to `sink` once. Names added by
/// [`AcmeIssuer::set_names`] are obtained at once.
pub async fn keep_certificates(
    issuer: &AcmeIssuer,
    clock: &dyn Clock,
    sink: &dyn CertificateSink,
    stop: impl Future<Output = ()>,
) {
    let mut states: BTreeMap<String, NameState> = BTreeMap::new();
    tokio::pin!(stop);
    loop {
        // The names may have changed on a reload: new ones are obtained at once, dropped ones
        // are no longer kept.
        let names = issuer.names();
        states.retain(|name, _| names.contains(name));
        for name in names {
            states.entry(name).or_default();
        }
        let now = clock.now();
        for (name, state) in &mut states {
            if state.next_attempt.is_none_or(|at| at <= now) {
                attempt(issuer, name, state, now, sink).await;
            }
            if let Some(current) = &state.current
                && now >= issuer.warning_time(current)
                && state.warned_for != Some(current.not_after())
            {
                let warning = ExpiryWarning {
                    name: name.clone(),
                    not_after: current.not_after(),
                    last_error: state.last_error.clone(),
                };
                tracing::warn!(kind = %"certificate-expiring", host = %name, "{warning}");
                sink.expiring(&warning);
                state.warned_for = Some(current.not_after());
            }
        }
        let wake = states
            .values()
            .flat_map(|state| {
                let warning = state
                    .current
                    .as_ref()
                    .filter(|c| state.warned_for != Some(c.not_after()))
                    .map(|c| issuer.warning_time(c));
                state.next_attempt.into_iter().chain(warning)
            })
            .min();
        // No names: nothing to do until some are configured.
        let wait = wake.map(|wake| {
            wake.duration_since(clock.now())
                .max(Duration::from_millis(1))
        });
        tokio::select! {
            () = &mut stop => return,
            () = issuer.names_changed() => {}
            () = async {
                match wait {
                    Some(wait) => tokio::time::sleep(wait).await,
                    None => std::future::pending().await,
                }
            } => {}
        }
    }
}

async fn attempt(
    issuer: &AcmeIssuer,
    name: &str,
    state: &mut NameState,
    now: Timestamp,
    sink: &dyn CertificateSink,
) {
    let settings = issuer.settings();
    match issuer.obtain(name).await {
        Ok(Obtained::Stored(certificate) | Obtained::Issued(certificate)) => {
            let changed = state
                .current
                .as_ref()
                .is_none_or(|c| c.stored() != certificate.stored());
            if changed {
                sink.install(&certificate);
            }
            state.next_attempt = Some(issuer.renewal_time(&certificate));
            state.current = Some(certificate);
            state.failures = 0;
            state.last_error = None;
        }
        Ok(Obtained::Busy) => {
            // Another server is ordering it: its certificate is in the store when it is done.
            state.next_attempt = Some(now.saturating_add(settings.retry_first));
            install_stored(issuer, name, state, now, sink).await;
        }
        Err(error) => {
            state.failures = state.failures.saturating_add(1);
            let wait = backoff(
                state.failures,
                settings.retry_first,
                settings.retry_max,
                jitter(),
            );
            let retry = now.saturating_add(wait);
            tracing::warn!(
                kind = %"certificate-order-failed",
                host = %name,
                "Obtaining a certificate for {name} failed (attempt {}): {error}; retrying at \
                 {retry}.",
                state.failures
            );
            state.last_error = Some(error.to_string());
            state.next_attempt = Some(retry);
            install_stored(issuer, name, state, now, sink).await;
        }
    }
}

/// Until a renewal succeeds, the certificate in the store is served while it is valid
/// (another server may have issued it, or it is this one's own, due but not yet renewed).
async fn install_stored(
    issuer: &AcmeIssuer,
    name: &str,
    state: &mut NameState,
    now: Timestamp,
    sink: &dyn CertificateSink,
) {
    let stored = match issuer.stored(name).await {
        Ok(Some(stored)) if stored.not_after() > now => stored,
        Ok(_) => return,
        Err(e) => {
            tracing::warn!(
                kind = %"certificate-unreadable",
                host = %name,
                "The certificate kept in the store for {name} cannot be read: {e}."
            );
            return;
        }
    };
    if state
        .current
        .as_ref()
        .is_none_or(|c| c.stored() != stored.stored())
    {
        sink.install(&stored);
        state.current = Some(stored);
    }
}
