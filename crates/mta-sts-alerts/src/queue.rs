//! Delivery that never blocks the caller: each channel (the webhook, mail) has its own bounded
//! queue and its own task, so a receiver that is down only delays its own channel, and raising
//! an alert only puts it in the queues (when one is full, the alert is dropped for that channel
//! with a log line: the watcher, and intake behind it, never wait for a receiver).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mta_sts_core::Clock;
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::Alert;
use crate::error::AlertError;
use crate::mail::{MailSettings, Mailer};
use crate::retry::RetryPolicy;
use crate::webhook::{Webhook, WebhookSettings};

/// What the alerts deliver to; with neither a webhook nor mail, alerts are off.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverySettings {
    /// Alerts waiting per channel at most; beyond, new ones are dropped with a log line.
    #[serde(default = "default_queue")]
    pub queue: usize,
    /// The webhook, if any.
    #[serde(default)]
    pub webhook: Option<WebhookSettings>,
    /// Mail, if any.
    #[serde(default)]
    pub mail: Option<MailSettings>,
}

fn default_queue() -> usize {
    256
}

impl Default for DeliverySettings {
    fn default() -> DeliverySettings {
        DeliverySettings {
            queue: default_queue(),
            webhook: None,
            mail: None,
        }
    }
}

impl DeliverySettings {
    /// Whether any channel is configured.
    pub fn is_enabled(&self) -> bool {
        self.webhook.is_some() || self.mail.is_some()
    }
}

/// What became of an alert handed to the [`Dispatcher`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Queued {
    /// In every channel's queue.
    Queued,
    /// Already raised for this condition and period (by this server or another sharing the
    /// store): not sent again.
    AlreadyRaised,
    /// At least one channel's queue was full; the alert was dropped there (and logged).
    Dropped {
        /// How many channels dropped it.
        channels: usize,
    },
}

/// A kind of channel, as metrics label it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChannelKind {
    /// The webhook.
    Webhook,
    /// Mail.
    Mail,
}

impl ChannelKind {
    /// `webhook` or `mail`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Webhook => "webhook",
            ChannelKind::Mail => "mail",
        }
    }
}

/// What became of an alert on one channel, as metrics count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// The receiver took it.
    Delivered,
    /// Given up: the attempts ran out, or the receiver refused it for good.
    GaveUp,
    /// Not queued: the channel's queue was full.
    Dropped,
}

impl Outcome {
    /// `delivered`, `gave_up` or `dropped`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::GaveUp => "gave_up",
            Outcome::Dropped => "dropped",
        }
    }
}

/// Told each [`Outcome`] (for metrics); it must not block.
pub type OutcomeHook = Arc<dyn Fn(ChannelKind, Outcome) + Send + Sync>;

#[derive(Debug, Clone)]
enum Channel {
    Webhook(Webhook),
    Mail(Mailer),
}

impl Channel {
    fn kind(&self) -> ChannelKind {
        match self {
            Channel::Webhook(_) => ChannelKind::Webhook,
            Channel::Mail(_) => ChannelKind::Mail,
        }
    }

    fn describe(&self) -> String {
        match self {
            Channel::Webhook(webhook) => format!("the webhook {}", webhook.url()),
            Channel::Mail(mailer) => format!("mail through {}", mailer.relay()),
        }
    }

    async fn deliver(&self, alert: &Alert, clock: &dyn Clock) -> Result<(), AlertError> {
        match self {
            Channel::Webhook(webhook) => webhook.deliver(alert, clock.now()).await,
            Channel::Mail(mailer) => mailer.deliver(alert).await,
        }
    }
}

/// Hands alerts to the delivery tasks. Cheap to clone; the tasks end when the last clone is
/// dropped and their queues are empty.
#[derive(Clone)]
pub struct Dispatcher {
    queues: Arc<[Queue]>,
    hook: OutcomeHook,
    workers: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    /// Alerts queued or being delivered, over every channel.
    pending: Arc<AtomicUsize>,
}

struct Queue {
    kind: ChannelKind,
    name: String,
    sender: mpsc::Sender<Arc<Alert>>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let channels: Vec<&str> = self.queues.iter().map(|q| q.name.as_str()).collect();
        f.debug_struct("Dispatcher")
            .field("channels", &channels)
            .finish_non_exhaustive()
    }
}

impl Dispatcher {
    /// Checks the settings (reads secrets and CA files) and starts one delivery task per
    /// channel on the current tokio runtime. `clock` signs the webhook's requests.
    pub fn start(
        settings: &DeliverySettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Dispatcher, AlertError> {
        Dispatcher::start_observed(settings, clock, Arc::new(|_, _| {}))
    }

    /// [`start`](Self::start), telling `hook` what becomes of each alert on each channel.
    pub fn start_observed(
        settings: &DeliverySettings,
        clock: Arc<dyn Clock>,
        hook: OutcomeHook,
    ) -> Result<Dispatcher, AlertError> {
        if settings.queue == 0 {
            return Err(AlertError::Setting {
                key: "alerts.queue",
                message: "0 would drop every alert; give at least 1".into(),
            });
        }
        let mut channels = Vec::new();
        if let Some(webhook) = &settings.webhook {
            check_retry("alerts.webhook.retry", &webhook.retry)?;
            channels.push((Channel::Webhook(Webhook::new(webhook)?), webhook.retry));
        }
        if let Some(mail) = &settings.mail {
            check_retry("alerts.mail.retry", &mail.retry)?;
            channels.push((Channel::Mail(Mailer::new(mail)?), mail.retry));
        }
        let mut queues = Vec::new();
        let mut workers = Vec::new();
        let pending = Arc::new(AtomicUsize::new(0));
        for (channel, retry) in channels {
            let (sender, receiver) = mpsc::channel(settings.queue);
            queues.push(Queue {
                kind: channel.kind(),
                name: channel.describe(),
                sender,
            });
            workers.push(tokio::spawn(run(
                channel,
                retry,
                receiver,
                clock.clone(),
                hook.clone(),
                pending.clone(),
            )));
        }
        Ok(Dispatcher {
            queues: queues.into(),
            hook,
            workers: Arc::new(std::sync::Mutex::new(workers)),
            pending,
        })
    }

    /// Stops taking alerts and gives the queued ones up to `limit` to be delivered (a server
    /// stopping: an alert already claimed in the store is not raised again, so one left in a
    /// queue would be lost). Call it on the last clone: the channels close when every clone
    /// is gone. Returns how many alerts were still waiting when `limit` ran out (logged).
    pub async fn finish(self, limit: std::time::Duration) -> usize {
        let workers = std::mem::take(
            &mut *self
                .workers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        let pending = self.pending.clone();
        // The channels close with the last sender: the workers deliver what is queued, then end.
        drop(self);
        let all = async {
            for worker in workers {
                // A worker that panicked has nothing left to deliver.
                let _ = worker.await;
            }
        };
        if tokio::time::timeout(limit, all).await.is_ok() {
            return 0;
        }
        let waiting = pending.load(Ordering::SeqCst);
        tracing::warn!(
            kind = %"alerts-unsent",
            waiting,
            "Stopping: {waiting} alerts were still waiting after {} seconds and are not sent (a \
             receiver is down or slow); the one being delivered is cut short.",
            limit.as_secs()
        );
        waiting
    }

    /// Puts `alert` in every channel's queue without waiting.
    pub fn enqueue(&self, alert: Alert) -> Queued {
        let alert = Arc::new(alert);
        let mut dropped = 0;
        for queue in self.queues.iter() {
            // Counted before it is queued: the worker may finish it before try_send returns.
            self.pending.fetch_add(1, Ordering::SeqCst);
            if queue.sender.try_send(alert.clone()).is_err() {
                self.pending.fetch_sub(1, Ordering::SeqCst);
                dropped += 1;
                (self.hook)(queue.kind, Outcome::Dropped);
                let channel = &queue.name;
                tracing::warn!(
                    kind = %"alert-dropped",
                    alert = %alert.id(),
                    "The alert \"{}\" was dropped for {channel}: its queue is full (the receiver \
                     is down or slow); raise alerts.queue if this repeats.",
                    alert.summary()
                );
            }
        }
        if dropped == 0 {
            Queued::Queued
        } else {
            Queued::Dropped { channels: dropped }
        }
    }
}

fn check_retry(key: &'static str, retry: &RetryPolicy) -> Result<(), AlertError> {
    if retry.attempts == 0 {
        return Err(AlertError::Setting {
            key,
            message: "attempts = 0 would never deliver; give at least 1".into(),
        });
    }
    if retry.initial_backoff_ms == 0 || retry.max_backoff_ms < retry.initial_backoff_ms {
        return Err(AlertError::Setting {
            key,
            message: "initial_backoff_ms must be at least 1 and at most max_backoff_ms".into(),
        });
    }
    Ok(())
}

/// One channel's task: delivers its queue in order, retrying each alert by `retry`.
async fn run(
    channel: Channel,
    retry: RetryPolicy,
    mut queue: mpsc::Receiver<Arc<Alert>>,
    clock: Arc<dyn Clock>,
    hook: OutcomeHook,
    pending: Arc<AtomicUsize>,
) {
    let name = channel.describe();
    let kind = channel.kind();
    while let Some(alert) = queue.recv().await {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let error = match channel.deliver(&alert, clock.as_ref()).await {
                Ok(()) => {
                    hook(kind, Outcome::Delivered);
                    tracing::info!(
                        kind = %"alert-delivered",
                        alert = %alert.id(),
                        attempt,
                        "The alert \"{}\" was delivered by {name} (attempt {attempt}).",
                        alert.summary()
                    );
                    break;
                }
                Err(error) => error,
            };
            if error.is_permanent() || attempt >= retry.attempts {
                hook(kind, Outcome::GaveUp);
                tracing::error!(
                    kind = %"alert-given-up",
                    alert = %alert.id(),
                    attempt,
                    "The alert \"{}\" was given up for {name} after {attempt} {}: {error}.",
                    alert.summary(),
                    if attempt == 1 { "attempt" } else { "attempts" },
                );
                break;
            }
            let retry_after = match &error {
                AlertError::WebhookStatus { retry_after, .. } => {
                    retry_after.map(std::time::Duration::from_secs)
                }
                _ => None,
            };
            let wait = retry.jittered_delay(attempt, retry_after);
            tracing::warn!(
                kind = %"alert-attempt-failed",
                alert = %alert.id(),
                attempt,
                "Delivering the alert {} by {name} failed (attempt {attempt} of {}): {error}; \
                 the next attempt in {} ms.",
                alert.id(),
                retry.attempts,
                wait.as_millis()
            );
            tokio::time::sleep(wait).await;
        }
        pending.fetch_sub(1, Ordering::SeqCst);
    }
}
