//! The server's life: start (certificates read, store opened, addresses bound, in that order,
//! so that nothing listens with a setting that does not work), serve until told to stop, then
//! finish the POSTs in progress; a [`Reloader`] applies a new configuration (the CLI's SIGHUP).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use mta_sts_acme::{AcmeIssuer, keep_certificates};
use mta_sts_net::SystemClock;
use mta_sts_reports::{DomainFilter, Intake};
use mta_sts_service::{
    CloseReason, Connection, ConnectionMetrics, HttpOptions, MetricsRegistry, Peer,
    Server as AcceptLoop, Shutdown, serve_connection_http, serve_connection_http2,
};
use mta_sts_store::StoreUrl;
use mta_sts_store::reports::ReportStore;
use rustls::crypto::CryptoProvider;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::commit::Committer;
use crate::config::ServeConfig;
use crate::dashboard::Dashboard;
use crate::error::ServeError;
use crate::hosting::in_step::{InStep, InStepMetrics, InStepSettings};
use crate::hosting::{
    self, AcmeSink, CertificateExpiry, FetchLog, HostRouter, Hosting, Organizations, Scheme,
};
use crate::metrics::ServeMetrics;
use crate::monitor::MonitorTask;
use crate::retention::{self, RetentionSettings};
use crate::routes::{AppState, LiveSettings, router};
use crate::tls::{self, CertificateFiles};
use crate::watch::Watcher;

/// A started server: its addresses are bound and its store is open; [`Server::serve`] serves.
pub struct Server {
    config: ServeConfig,
    https: Option<TcpListener>,
    /// The default certificate (`cert`/`key`), for names other than the policy hosts'.
    certificates: Option<Arc<CertificateFiles>>,
    provider: Arc<CryptoProvider>,
    http: Option<TcpListener>,
    state: AppState,
    retention: Arc<RwLock<RetentionSettings>>,
    connections: ConnectionMetrics,
    watcher: Option<Watcher>,
    /// The monitor's task, with `[monitor]` on.
    monitor: Option<MonitorTask>,
    fetches: FetchLog,
    /// The task keeping `_mta-sts` ids in step with the policies, and its settings' sender.
    in_step: (InStep, Arc<watch::Sender<Arc<InStepSettings>>>),
    /// The ACME issuer of the policy hosts' certificates, with `[acme]`, and its gauge.
    acme: Option<(Arc<AcmeIssuer>, CertificateExpiry)>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("https", &self.https_addr())
            .field("http", &self.http_addr())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Reads the certificate, opens the store and binds the addresses of a checked `config`.
    pub async fn start(config: ServeConfig) -> Result<Server, ServeError> {
        let certificates = match (&config.cert, &config.key) {
            (Some(cert), Some(key)) => Some(Arc::new(CertificateFiles::load(cert, key)?)),
            _ => None,
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let hosting = Hosting::default();
        hosting
            .configured
            .replace(config.hosts.iter().map(|host| host.domain.clone()));
        for policy in hosting::load_policies(&config)? {
            hosting.policies.set(policy);
        }
        if let Some(problem) = hosting::load_certificates(&config, &provider, &hosting.certificates)
            .into_iter()
            .next()
        {
            return Err(problem);
        }
        let in_step_settings = InStepSettings::from_config(&config)?;
        let url: StoreUrl = config
            .store
            .parse()
            .map_err(|e: mta_sts_store::StoreError| ServeError::ConfigValue {
                key: "store".into(),
                message: e.to_string(),
            })?;
        let store = ReportStore::open(&url)
            .await
            .map_err(|source| ServeError::Store {
                url: url.to_string(),
                source: Box::new(source),
            })?;
        let registry = MetricsRegistry::new();
        let domains = domain_filter(&config)?;
        let intake = registry.register(|registry| Intake::new(store, domains, registry));
        let watcher = registry.register(|registry| {
            let clock = Arc::new(mta_sts_net::SystemClock);
            Watcher::start(&config, intake.clone(), clock, registry)
        })?;
        let monitor = registry.register(|registry| {
            MonitorTask::new(
                &config,
                intake.clone(),
                Arc::clone(&hosting.configured),
                Arc::new(SystemClock),
                registry,
            )
        })?;
        let metrics = registry.register(ServeMetrics::register);
        let fetches = registry.register(FetchLog::register);
        let in_step_metrics = registry.register(InStepMetrics::register);
        let connections = registry.register(|registry| {
            ConnectionMetrics::register(
                registry.sub_registry_with_prefix("mta_sts_serve"),
                "HTTP",
                &CloseReason::HTTP,
            )
        });
        let dashboard = Dashboard::new(&config, intake.store().clone(), Arc::new(SystemClock))?;
        // Certificates are ordered for the configured policy hosts only, never for a name a
        // client asks for.
        let acme = config.acme.as_ref().map(|acme| {
            let expiry = registry.register(CertificateExpiry::register);
            let issuer = Arc::new(AcmeIssuer::new(
                acme.settings(),
                config
                    .hosts
                    .iter()
                    .map(|host| hosting::policy_host(&host.domain)),
                intake.store().clone(),
                Arc::clone(&hosting.challenges),
                Arc::new(SystemClock),
            ));
            (issuer, expiry)
        });
        let state = AppState {
            dashboard,
            live: Arc::new(RwLock::new(Arc::new(LiveSettings::new(&config, None)))),
            committer: Committer::start(intake.clone()),
            hosting,
            intake,
            metrics,
            registry,
        };
        let (settings_sender, settings) = watch::channel(Arc::new(in_step_settings));
        let in_step = InStep::new(
            state.hosting.policies.clone(),
            state.dashboard.ids.clone(),
            settings,
            Arc::new(SystemClock),
            in_step_metrics,
        );
        let https = match config.https {
            Some(address) => Some(bind(address).await?),
            None => None,
        };
        let http = match config.listen {
            Some(address) => Some(bind(address).await?),
            None => None,
        };
        let retention = Arc::new(RwLock::new(RetentionSettings {
            keep: config.retention(),
            interval: config.prune_interval,
        }));
        Ok(Server {
            config,
            https,
            certificates,
            provider,
            http,
            state,
            retention,
            connections,
            watcher,
            monitor,
            fetches,
            in_step: (in_step, Arc::new(settings_sender)),
            acme,
        })
    }

    /// The bound HTTPS address, if HTTPS is served.
    pub fn https_addr(&self) -> Option<SocketAddr> {
        self.https
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
    }

    /// The bound plain-HTTP address, if plain HTTP is served.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
    }

    /// What applies a new configuration to this server while it serves.
    pub fn reloader(&self) -> Reloader {
        Reloader {
            running: Mutex::new(self.config.clone()),
            certificates: self.certificates.clone(),
            provider: self.provider.clone(),
            state: self.state.clone(),
            retention: self.retention.clone(),
            in_step: self.in_step.1.clone(),
            acme: self.acme.as_ref().map(|(issuer, _)| Arc::clone(issuer)),
        }
    }

    /// Serves until `stop` completes, then stops accepting and finishes the requests in
    /// progress (up to `shutdown_timeout`); with retention on, prunes meanwhile.
    pub async fn serve(self, stop: impl Future<Output = ()> + Send) {
        let shutdown = Shutdown::new();
        let Server {
            config,
            https,
            certificates,
            provider,
            http,
            state,
            retention,
            connections,
            watcher,
            monitor,
            fetches,
            in_step: (in_step, _in_step_settings),
            acme,
        } = self;
        let options = HttpOptions {
            header_read_timeout: config.header_timeout,
        };
        let app = router(&config, state.clone());
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(retention::run(
            state.intake.store().clone(),
            retention,
            state.metrics.clone(),
            shutdown.stopping(),
        ));
        tasks.spawn(fetches.clone().run(
            Arc::new(organizations(&config)),
            state.intake.store().clone(),
            config.hosting.fetch_log_interval,
            shutdown.stopping(),
        ));
        if let Some((issuer, expiry)) = acme {
            let sink = AcmeSink {
                certificates: Arc::clone(&state.hosting.certificates),
                expiry,
                alerter: watcher.as_ref().map(Watcher::alerter),
                clock: Arc::new(SystemClock),
            };
            let stopping = shutdown.triggered();
            tasks.spawn(async move {
                tracing::info!(
                    kind = %"acme-started",
                    "Certificates for {} are kept by ACME from {}.",
                    issuer.names().join(", "),
                    issuer.settings().directory
                );
                keep_certificates(&issuer, &SystemClock, &sink, stopping).await;
            });
        }
        if let Some(mut monitor) = monitor {
            if let Some(watcher) = &watcher {
                monitor.alert_through(watcher.counted_alerter());
            }
            tasks.spawn(monitor.run(shutdown.stopping(), config.shutdown_timeout));
        }
        if let Some(watcher) = watcher {
            tasks.spawn(watcher.run(shutdown.stopping(), config.shutdown_timeout));
        }
        tasks.spawn(in_step.run(shutdown.stopping()));
        if let Some(listener) = https {
            log_listening("https", &listener, &config);
            log_hosted(&state.hosting);
            let tls = match tls::server_config(provider, certificates, &state.hosting) {
                Ok(tls) => TlsAcceptor::from(Arc::new(tls)),
                Err(error) => {
                    tracing::error!(kind = %"tls-failed", "{error}; HTTPS is not served.");
                    return;
                }
            };
            let app = HostRouter::new(
                Scheme::Https,
                state.hosting.clone(),
                fetches.clone(),
                app.clone(),
            );
            let handshake_timeout = config.header_timeout;
            let accept_loop = accept_loop(listener, &config, connections.clone());
            let stopping = shutdown.triggered();
            tasks.spawn(async move {
                accept_loop
                    .serve(stopping, move |stream, peer, connection| {
                        https_connection(
                            stream,
                            peer,
                            connection,
                            tls.clone(),
                            handshake_timeout,
                            options,
                            app.clone(),
                        )
                    })
                    .await;
            });
        }
        if let Some(listener) = http {
            log_listening("http", &listener, &config);
            let accept_loop = accept_loop(listener, &config, connections);
            let stopping = shutdown.triggered();
            tasks.spawn(async move {
                let app = HostRouter::new(Scheme::Http, state.hosting.clone(), fetches, app);
                accept_loop.serve_http(options, app, stopping).await;
            });
        }
        let mut stop = std::pin::pin!(stop);
        let mut stopped = false;
        loop {
            tokio::select! {
                () = &mut stop, if !stopped => {
                    stopped = true;
                    shutdown.trigger();
                }
                joined = tasks.join_next() => {
                    if joined.is_none() {
                        break;
                    }
                }
            }
        }
    }
}

/// The organisations of policy fetchers, named through the `[check]` resolver.
fn organizations(config: &ServeConfig) -> Organizations {
    let dns = mta_sts_net::Dns::new(&mta_sts_net::DnsConfig {
        upstream: config.check.resolver,
        timeout: config.check.timeout,
        ..mta_sts_net::DnsConfig::default()
    });
    match dns {
        Ok(dns) => Organizations::new(Some(dns)),
        Err(error) => {
            tracing::warn!(
                kind = %"fetcher-names-off",
                "{error}; policy fetchers are not named (every one is counted as unknown)."
            );
            Organizations::new(None)
        }
    }
}

fn accept_loop(
    listener: TcpListener,
    config: &ServeConfig,
    connections: ConnectionMetrics,
) -> AcceptLoop<TcpListener> {
    let limit = config.max_connections;
    AcceptLoop::new(listener)
        .max_connections(limit)
        .drain_timeout(config.shutdown_timeout)
        .metrics(connections)
        .on_cap_reached(move |notice| {
            tracing::warn!(
                kind = %"connection-cap-reached",
                "{limit} connections are open, the max_connections cap: the connection idle \
                 longest is closed for each new one ({} closed since the last message of this \
                 kind, which comes at most once a minute); if these clients are legitimate, \
                 raise max_connections.",
                notice.evicted
            );
        })
}

/// One HTTPS connection: the TLS handshake (under the header time limit, and given up if the
/// connection is evicted or the server stops), then HTTP/2 or HTTP/1.1 as ALPN chose; a
/// TLS-ALPN-01 validation (ALPN `acme-tls/1`) is closed once the handshake has shown the
/// challenge certificate (RFC 8737 §3).
async fn https_connection(
    stream: TcpStream,
    peer: Peer,
    mut connection: Connection,
    tls: TlsAcceptor,
    handshake_timeout: Duration,
    options: HttpOptions,
    app: HostRouter,
) -> CloseReason {
    let handshake = tokio::time::timeout(handshake_timeout, tls.accept(stream));
    let tls_stream = tokio::select! {
        result = handshake => match result {
            Ok(Ok(tls_stream)) => tls_stream,
            // Not TLS, or a handshake rustls refused (no common version or cipher).
            Ok(Err(_)) => return CloseReason::BadRequest,
            Err(_) => return CloseReason::HeaderTimeout,
        },
        () = connection.slot.evicted() => return CloseReason::Evicted,
        () = connection.stopping.wait() => return CloseReason::Shutdown,
    };
    match tls_stream.get_ref().1.alpn_protocol() {
        Some(b"h2") => serve_connection_http2(tls_stream, peer, connection, options, app).await,
        Some(mta_sts_acme::ACME_TLS_ALPN) => CloseReason::ClientClosed,
        _ => serve_connection_http(tls_stream, peer, connection, options, app).await,
    }
}

async fn bind(address: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| ServeError::Bind { address, source })
}

fn domain_filter(config: &ServeConfig) -> Result<DomainFilter, ServeError> {
    DomainFilter::from_names(config.domains.iter().map(String::as_str)).map_err(|e| {
        ServeError::ConfigValue {
            key: "domains".into(),
            message: e.to_string(),
        }
    })
}

fn log_listening(scheme: &str, listener: &TcpListener, config: &ServeConfig) {
    let Ok(address) = listener.local_addr() else {
        return;
    };
    tracing::info!(
        kind = %"listening",
        scheme,
        address = %address,
        domains = %config.domains.join(" "),
        "listening on {scheme}://{address}{}: reports for {} are taken; publish \
         rua=https://YOUR-HOST{} in their _smtp._tls records.",
        config.intake_path,
        config.domains.join(", "),
        config.intake_path,
    );
}

/// One line per hosted policy: where it is served and the record that announces it.
fn log_hosted(hosting: &Hosting) {
    for domain in hosting.policies.domains() {
        let Some(policy) = hosting.policies.get(&domain) else {
            continue;
        };
        let host = hosting::policy_host(&domain);
        let certificate = if hosting.certificates.get(&host).is_some() {
            "with its certificate"
        } else {
            "without a certificate yet"
        };
        tracing::info!(
            kind = %"hosting",
            domain = %domain,
            id = %policy.id,
            "The policy of {domain} is served at https://{host}/.well-known/mta-sts.txt \
             {certificate}; it is announced by _mta-sts.{domain}. TXT \"v=STSv1; id={}\".",
            policy.id
        );
    }
}

/// Applies a new configuration to a serving [`Server`] (the CLI's SIGHUP): the certificate
/// files are read again, and what can change live changes at once.
pub struct Reloader {
    running: Mutex<ServeConfig>,
    certificates: Option<Arc<CertificateFiles>>,
    provider: Arc<CryptoProvider>,
    state: AppState,
    retention: Arc<RwLock<RetentionSettings>>,
    in_step: Arc<watch::Sender<Arc<InStepSettings>>>,
    /// The ACME issuer, whose names follow the hosted domains.
    acme: Option<Arc<AcmeIssuer>>,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader").finish_non_exhaustive()
    }
}

impl Reloader {
    /// Reads the hosted policies and the policy hosts' certificate files again. A policy file
    /// that cannot be read or is refused by the linter keeps every policy served as it was; a
    /// certificate that cannot be read keeps the one in use.
    fn reload_hosting(&self, fresh: &ServeConfig) {
        let hosting = &self.state.hosting;
        hosting
            .configured
            .replace(fresh.hosts.iter().map(|host| host.domain.clone()));
        match hosting::load_policies(fresh) {
            Ok(policies) => {
                for policy in policies {
                    let (domain, id) = (policy.domain.clone(), policy.id.clone());
                    let replaced = hosting.policies.set(policy);
                    if replaced.as_ref().is_none_or(|old| old.id != id) {
                        tracing::info!(
                            kind = %"policy-changed",
                            domain = %domain,
                            id = %id,
                            "The policy of {domain} changed and is served from now on; its \
                             _mta-sts id is {id}."
                        );
                    }
                }
                for domain in hosting.policies.domains() {
                    if !fresh.hosts.iter().any(|host| host.domain == domain) {
                        hosting.policies.remove(&domain);
                        tracing::info!(
                            kind = %"policy-removed",
                            domain = %domain,
                            "{domain} is no longer hosted: its policy is not served any more."
                        );
                    }
                }
            }
            Err(error) => tracing::warn!(
                kind = %"policy-reload-failed",
                "{error}; every policy served stays as it was."
            ),
        }
        for problem in hosting::load_certificates(fresh, &self.provider, &hosting.certificates) {
            tracing::warn!(
                kind = %"certificate-reload-failed",
                "{problem}; the certificate in use stays."
            );
        }
        for name in hosting.certificates.names() {
            if !fresh
                .hosts
                .iter()
                .any(|host| hosting::policy_host(&host.domain) == name)
            {
                hosting.certificates.remove(&name);
            }
        }
    }

    /// Reads the certificate files again, then applies `fresh` (the configuration read again
    /// and checked; when it is an error, the running settings stay). Returns one sentence on
    /// what was done, for the log; the details are logged as they happen.
    pub fn reload(&self, fresh: Result<ServeConfig, ServeError>) -> String {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(certificates) = &self.certificates {
            match certificates.reload() {
                Ok(()) => tracing::info!(
                    kind = %"certificate-reloaded",
                    "The certificate {} was read again; new connections get it.",
                    certificates.cert_path().display()
                ),
                Err(error) => tracing::warn!(
                    kind = %"certificate-reload-failed",
                    "{error}; the certificate in use stays."
                ),
            }
        }
        let fresh = match fresh {
            Ok(fresh) => fresh,
            Err(error) => {
                tracing::warn!(
                    kind = %"reload-failed",
                    "{error}; the running settings stay."
                );
                return format!(
                    "the configuration was not applied ({error}); the running settings stay"
                );
            }
        };
        self.reload_hosting(&fresh);
        // After the policies: the in-step task wakes now, sees any changed policy already
        // served, and only then updates its id.
        match InStepSettings::from_config(&fresh) {
            Ok(settings) => {
                self.in_step.send_replace(Arc::new(settings));
            }
            Err(error) => {
                tracing::warn!(
                    kind = %"reload-failed",
                    "{error}; the running DNS update settings stay."
                );
                self.in_step.send_modify(|_| {});
            }
        }
        let restart_only = [
            ("https", running.https != fresh.https),
            ("listen", running.listen != fresh.listen),
            ("cert", running.cert != fresh.cert),
            ("key", running.key != fresh.key),
            ("store", running.store != fresh.store),
            ("intake_path", running.intake_path != fresh.intake_path),
            (
                "max_connections",
                running.max_connections != fresh.max_connections,
            ),
            (
                "header_timeout",
                running.header_timeout != fresh.header_timeout,
            ),
            (
                "shutdown_timeout",
                running.shutdown_timeout != fresh.shutdown_timeout,
            ),
            ("metrics", running.metrics != fresh.metrics),
            ("healthz", running.healthz != fresh.healthz),
            ("alerts", running.alerts != fresh.alerts),
            (
                "hosting.fetch_log_seconds",
                running.hosting.fetch_log_interval != fresh.hosting.fetch_log_interval,
            ),
            ("acme", running.acme != fresh.acme),
            ("monitor", running.monitor != fresh.monitor),
        ];
        for (key, changed) in restart_only {
            if changed {
                tracing::warn!(
                    kind = %"restart-needed",
                    key,
                    "The setting `{key}` changed; it takes effect at the next restart."
                );
            }
        }
        // ACME follows the hosted domains (the rest of [acme] changes at the next restart):
        // a new policy host's certificate is ordered now, a dropped one's no more.
        if let Some(issuer) = &self.acme
            && issuer.set_names(
                fresh
                    .hosts
                    .iter()
                    .map(|host| hosting::policy_host(&host.domain)),
            )
        {
            tracing::info!(
                kind = %"acme-names-changed",
                "ACME now keeps the certificates of {}.",
                issuer.names().join(", ")
            );
        }
        let domains = match domain_filter(&fresh) {
            Ok(domains) => domains,
            Err(error) => {
                tracing::warn!(kind = %"reload-failed", "{error}; the running settings stay.");
                return format!(
                    "the configuration was not applied ({error}); the running settings stay"
                );
            }
        };
        self.state.intake.set_domains(domains);
        if let Err(error) = self.state.dashboard.reload(&fresh) {
            tracing::warn!(kind = %"reload-failed", "{error}; the dashboard keeps its users and tokens.");
        }
        let live = LiveSettings::new(&fresh, Some(&self.state.live()));
        *self
            .state
            .live
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(live);
        *self
            .retention
            .write()
            .unwrap_or_else(PoisonError::into_inner) = RetentionSettings {
            keep: fresh.retention(),
            interval: fresh.prune_interval,
        };
        let said = format!(
            "the configuration was read again: reports for {} are taken, bodies up to {} bytes, \
             {} reports a minute per client, {}",
            fresh.domains.join(", "),
            fresh.max_body,
            fresh.reports_per_minute,
            match fresh.keep_days {
                0 => "kept forever".to_string(),
                days => format!("kept {days} days"),
            }
        );
        tracing::info!(kind = %"reloaded", domains = %fresh.domains.join(" "), "{said}.");
        *running = fresh;
        said
    }
}
