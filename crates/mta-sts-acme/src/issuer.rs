//! Ordering a certificate for one configured name (RFC 8555 §7.4), with the account and the
//! result kept in the store so that every server sharing it uses the same ones.

use std::collections::BTreeSet;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use instant_acme::{
    Account, AccountBuilder, AccountCredentials, AuthorizationStatus, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};
use mta_sts_core::time::{Clock, Timestamp};
use mta_sts_store::reports::{ReportStore, StoredCertificate};
use tokio::sync::{Notify, OnceCell};

use crate::alpn_certificate::tls_alpn01_certificate;
use crate::schedule::{jitter, point_in_lifetime};
use crate::{AcmeError, AcmeSettings, ChallengeKind, Challenges, IssuedCertificate};

/// What [`AcmeIssuer::obtain`] came back with.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Obtained {
    /// The certificate in the store is good until its renewal time: nothing was ordered.
    Stored(IssuedCertificate),
    /// A new certificate was ordered, issued and kept in the store.
    Issued(IssuedCertificate),
    /// Another server sharing the store is ordering this name now: ask again later (its
    /// certificate will then be in the store).
    Busy,
}

/// Orders certificates for the configured names, and only for those.
pub struct AcmeIssuer {
    settings: AcmeSettings,
    names: RwLock<BTreeSet<String>>,
    names_changed: Notify,
    store: ReportStore,
    challenges: Arc<Challenges>,
    clock: Arc<dyn Clock>,
    holder: String,
    account: OnceCell<Account>,
}

impl std::fmt::Debug for AcmeIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The account holds a private key: it is not shown.
        f.debug_struct("AcmeIssuer")
            .field("settings", &self.settings)
            .field("names", &self.names)
            .field("holder", &self.holder)
            .finish_non_exhaustive()
    }
}

/// Names as compared: ASCII lowercase, without a final dot.
fn normalized(names: impl IntoIterator<Item = String>) -> BTreeSet<String> {
    names
        .into_iter()
        .map(|name| name.trim_end_matches('.').to_ascii_lowercase())
        .collect()
}

/// Withdraws the challenge answers published for an order when the order is done or failed.
struct PublishedAnswers<'a> {
    challenges: &'a Challenges,
    http01: Vec<String>,
    tls_alpn01: Vec<String>,
}

impl Drop for PublishedAnswers<'_> {
    fn drop(&mut self) {
        for token in &self.http01 {
            self.challenges.remove_http01(token);
        }
        for name in &self.tls_alpn01 {
            self.challenges.remove_tls_alpn01(name);
        }
    }
}

impl AcmeIssuer {
    /// An issuer for `names` (e.g. `mta-sts.example.com` of every hosted domain; compared
    /// ASCII-case-insensitively), answering challenges through `challenges` (which the
    /// server's listeners read), keeping its account and certificates in `store`.
    pub fn new(
        settings: AcmeSettings,
        names: impl IntoIterator<Item = String>,
        store: ReportStore,
        challenges: Arc<Challenges>,
        clock: Arc<dyn Clock>,
    ) -> AcmeIssuer {
        AcmeIssuer {
            settings,
            names: RwLock::new(normalized(names)),
            names_changed: Notify::new(),
            store,
            challenges,
            clock,
            // Whose issuance lease it is: this process, told apart from others on the same
            // host by a random part.
            holder: format!(
                "pid-{}-{:013x}",
                std::process::id(),
                (jitter() * (1u64 << 52) as f64) as u64
            ),
            account: OnceCell::new(),
        }
    }

    /// The configured names, lowercase, sorted.
    pub fn names(&self) -> Vec<String> {
        self.names
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    /// Replaces the configured names (the hosted domains changed on a reload): certificates
    /// are ordered for the new ones from now on and for the dropped ones no more; the
    /// [`keep_certificates`](crate::keep_certificates) loop is woken to follow. Returns
    /// whether they changed.
    pub fn set_names(&self, names: impl IntoIterator<Item = String>) -> bool {
        let names = normalized(names);
        let mut current = self.names.write().unwrap_or_else(PoisonError::into_inner);
        if *current == names {
            return false;
        }
        *current = names;
        // A permit is kept if the loop is not waiting right now: it sees the change next.
        self.names_changed.notify_one();
        true
    }

    /// Completes when [`AcmeIssuer::set_names`] changed the names.
    pub(crate) async fn names_changed(&self) {
        self.names_changed.notified().await;
    }

    /// The settings.
    pub fn settings(&self) -> &AcmeSettings {
        &self.settings
    }

    /// When `certificate` is renewed: [`AcmeSettings::renew_at`] into its lifetime.
    pub fn renewal_time(&self, certificate: &IssuedCertificate) -> Timestamp {
        point_in_lifetime(
            certificate.not_before(),
            certificate.not_after(),
            self.settings.renew_at,
        )
    }

    /// When `certificate`, not yet renewed, becomes an alert: [`AcmeSettings::warn_at`] into
    /// its lifetime.
    pub fn warning_time(&self, certificate: &IssuedCertificate) -> Timestamp {
        point_in_lifetime(
            certificate.not_before(),
            certificate.not_after(),
            self.settings.warn_at,
        )
    }

    /// The certificate kept in the store for `name` (a configured name), whether or not it is
    /// due for renewal; `None` when there is none.
    pub async fn stored(&self, name: &str) -> Result<Option<IssuedCertificate>, AcmeError> {
        let name = self.configured(name)?;
        self.store
            .acme_certificate(&name)
            .await?
            .map(IssuedCertificate::from_stored)
            .transpose()
    }

    /// A certificate for `name` (a configured name): the one in the store while its renewal
    /// time has not come, else a new one ordered now (unless another server holds the
    /// issuance lease: [`Obtained::Busy`]).
    pub async fn obtain(&self, name: &str) -> Result<Obtained, AcmeError> {
        let name = self.configured(name)?;
        let now = self.clock.now();
        if let Some(stored) = self.stored(&name).await?
            && now < self.renewal_time(&stored)
        {
            return Ok(Obtained::Stored(stored));
        }
        // The lease outlasts an order given up at its limit, so it is never taken from a live
        // order.
        let lease = self.order_limit() + Duration::from_secs(60);
        if !self
            .store
            .claim_acme_lease(&name, &self.holder, now, now.saturating_add(lease))
            .await?
        {
            return Ok(Obtained::Busy);
        }
        // Another server may have renewed it between the read and the lease.
        let issued = match self.stored(&name).await? {
            Some(stored) if now < self.renewal_time(&stored) => Ok(Obtained::Stored(stored)),
            // The ACME client sets no time limits of its own: a CA that stops answering must
            // not hold the name (and its lease) forever.
            _ => match tokio::time::timeout(self.order_limit(), self.issue(&name)).await {
                Ok(issued) => issued.map(Obtained::Issued),
                Err(_) => Err(AcmeError::Timeout {
                    directory: self.settings.directory.clone(),
                    name: name.clone(),
                    seconds: self.order_limit().as_secs(),
                }),
            },
        };
        // A lease left behind by a failed release expires by itself.
        if let Err(e) = self.store.release_acme_lease(&name, &self.holder).await {
            tracing::warn!(
                kind = %"acme-lease-not-released",
                "The issuance lease of {name} could not be released ({e}); it expires by itself."
            );
        }
        issued
    }

    /// How long one order may take in all: the wait for validation and for the certificate
    /// are each bounded by `order_timeout`.
    fn order_limit(&self) -> Duration {
        self.settings.order_timeout.saturating_mul(2)
    }

    /// `name` as configured, or the refusal to order for it.
    fn configured(&self, name: &str) -> Result<String, AcmeError> {
        let key = name.trim_end_matches('.').to_ascii_lowercase();
        let configured = self.names.read().unwrap_or_else(PoisonError::into_inner);
        if configured.contains(&key) {
            Ok(key)
        } else {
            Err(AcmeError::NotConfigured {
                name: name.to_string(),
                configured: configured.iter().cloned().collect::<Vec<_>>().join(", "),
            })
        }
    }

    fn protocol(
        &self,
        name: &str,
        step: &'static str,
    ) -> impl Fn(instant_acme::Error) -> AcmeError {
        let directory = self.settings.directory.clone();
        let name = name.to_string();
        move |source| AcmeError::Protocol {
            directory: directory.clone(),
            name: name.clone(),
            step,
            source: Box::new(source),
        }
    }

    fn builder(&self) -> Result<AccountBuilder, AcmeError> {
        match &self.settings.ca_file {
            Some(path) => Account::builder_with_root(path).map_err(|e| AcmeError::CaFile {
                path: path.clone(),
                reason: e.to_string(),
            }),
            None => Account::builder().map_err(self.protocol("the account", "setting up TLS")),
        }
    }

    /// The account: the one kept in the store for this directory, or a new one (kept, unless
    /// another server kept one first: then that one).
    async fn account(&self) -> Result<&Account, AcmeError> {
        self.account
            .get_or_try_init(|| async {
                let directory = &self.settings.directory;
                let read = |json: &str| {
                    serde_json::from_str::<AccountCredentials>(json).map_err(|source| {
                        AcmeError::Credentials {
                            directory: directory.clone(),
                            source,
                        }
                    })
                };
                if let Some(json) = self.store.acme_account(directory).await? {
                    return self
                        .builder()?
                        .from_credentials(read(&json)?)
                        .await
                        .map_err(self.protocol("the account", "restoring the account"));
                }
                let contact: Vec<&str> = self.settings.contact.iter().map(String::as_str).collect();
                let (account, credentials) = self
                    .builder()?
                    .create(
                        &NewAccount {
                            contact: &contact,
                            terms_of_service_agreed: true,
                            only_return_existing: false,
                        },
                        directory.clone(),
                        None,
                    )
                    .await
                    .map_err(self.protocol("the account", "creating the account"))?;
                let json = serde_json::to_string(&credentials).map_err(|source| {
                    AcmeError::Credentials {
                        directory: directory.clone(),
                        source,
                    }
                })?;
                let kept = self
                    .store
                    .keep_acme_account(directory, &json, self.clock.now())
                    .await?;
                if kept == json {
                    tracing::info!(
                        kind = %"acme-account-created",
                        "A new ACME account was made at {directory} and kept in the store."
                    );
                    return Ok(account);
                }
                // Another server made one at the same time and kept it first: use that one,
                // so that every server orders with the same account.
                self.builder()?
                    .from_credentials(read(&kept)?)
                    .await
                    .map_err(self.protocol("the account", "restoring the account"))
            })
            .await
    }

    /// Orders, validates and fetches a certificate for `name`, and keeps it in the store.
    async fn issue(&self, name: &str) -> Result<IssuedCertificate, AcmeError> {
        let account = self.account().await?;
        let kind = self.settings.challenge;
        tracing::info!(
            kind = %"certificate-ordering",
            host = %name,
            "Ordering a certificate for {name} from {} ({} challenge).",
            self.settings.directory,
            kind.as_str()
        );
        let identifiers = [Identifier::Dns(name.to_string())];
        let mut order = account
            .new_order(&NewOrder::new(&identifiers))
            .await
            .map_err(self.protocol(name, "creating the order"))?;
        let mut answers = PublishedAnswers {
            challenges: &self.challenges,
            http01: Vec::new(),
            tls_alpn01: Vec::new(),
        };
        {
            let mut authorizations = order.authorizations();
            while let Some(authorization) = authorizations.next().await {
                let mut authorization =
                    authorization.map_err(self.protocol(name, "reading the authorizations"))?;
                // RFC 8555 §7.1.4: an authorization the account already holds needs no
                // challenge.
                if authorization.status == AuthorizationStatus::Valid {
                    continue;
                }
                let Some(mut challenge) = authorization.challenge(kind.acme_type()) else {
                    return Err(AcmeError::NoSuchChallenge {
                        directory: self.settings.directory.clone(),
                        name: name.to_string(),
                        challenge: kind.as_str(),
                    });
                };
                let key_authorization = challenge.key_authorization();
                match kind {
                    ChallengeKind::Http01 => {
                        // RFC 8555 §8.3: the body is the key authorization itself.
                        self.challenges
                            .insert_http01(&challenge.token, key_authorization.as_str());
                        answers.http01.push(challenge.token.clone());
                    }
                    ChallengeKind::TlsAlpn01 => {
                        let mut digest = [0u8; 32];
                        digest.copy_from_slice(key_authorization.digest().as_ref());
                        let certificate = tls_alpn01_certificate(name, digest)?;
                        self.challenges.insert_tls_alpn01(name, certificate);
                        answers.tls_alpn01.push(name.to_string());
                    }
                }
                challenge
                    .set_ready()
                    .await
                    .map_err(self.protocol(name, "announcing the challenge answer"))?;
            }
        }
        let retries = RetryPolicy::new()
            .initial_delay(Duration::from_millis(100))
            .backoff(1.5)
            .timeout(self.settings.order_timeout);
        let status = order
            .poll_ready(&retries)
            .await
            .map_err(|source| self.challenge_failed(name, source))?;
        if status != OrderStatus::Ready {
            return Err(AcmeError::ChallengeFailed {
                directory: self.settings.directory.clone(),
                name: name.to_string(),
                challenge: kind.as_str(),
                reason: "the order became invalid".into(),
            });
        }
        // The key is made here, never sent: only the CSR it signs is.
        let key_pem = order
            .finalize()
            .await
            .map_err(self.protocol(name, "finalizing the order"))?;
        let chain_pem = order
            .poll_certificate(&retries)
            .await
            .map_err(self.protocol(name, "downloading the certificate"))?;
        drop(answers);
        let now = self.clock.now();
        let issued = IssuedCertificate::from_stored(StoredCertificate {
            name: name.to_string(),
            chain_pem,
            key_pem,
            // Read from the leaf by from_stored.
            not_before: now,
            not_after: now,
            issued_at: now,
        })?;
        self.store.keep_acme_certificate(issued.stored()).await?;
        tracing::info!(
            kind = %"certificate-issued",
            host = %name,
            "A certificate for {name} was issued by {}, valid until {}, and kept in the store.",
            self.settings.directory,
            issued.not_after()
        );
        Ok(issued)
    }

    fn challenge_failed(&self, name: &str, source: instant_acme::Error) -> AcmeError {
        match source {
            instant_acme::Error::Api(problem) => AcmeError::ChallengeFailed {
                directory: self.settings.directory.clone(),
                name: name.to_string(),
                challenge: self.settings.challenge.as_str(),
                reason: problem.to_string(),
            },
            source => (self.protocol(name, "waiting for the challenge to be validated"))(source),
        }
    }
}
