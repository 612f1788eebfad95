//! Group commit: the reports POSTed at about the same time are stored in one transaction, so
//! that concurrent reporters share one durable write (one fsync on SQLite, one commit on
//! PostgreSQL) instead of queueing for one each. Each POST is still answered only once its own
//! report is durably stored (RFC 8460 §5.3: 2xx means delivered).
//!
//! A batch is whatever is waiting when a committer is free, up to [`MAX_BATCH`]: a lone report
//! is written at once, never held back to wait for company. [`COMMITTERS`] batches may be in
//! flight at once, so that PostgreSQL, which commits transactions on several connections in
//! parallel, is not held to one at a time (SQLite takes one writer at a time whatever we do;
//! the others' batches grow meanwhile).

use mta_sts_reports::examine::Examined;
use mta_sts_reports::{Intake, IntakeError, Outcome, Source};
use std::sync::Arc;

use tokio::sync::{Mutex, mpsc, oneshot};

/// The most reports written in one transaction.
const MAX_BATCH: usize = 64;

/// Batches in flight at once, each its own transaction.
const COMMITTERS: usize = 4;

/// Reports waiting for the committer, at most; a POST beyond waits for room (its client is
/// already limited by the per-client caps).
const QUEUE: usize = 1024;

/// Why a report was not stored.
#[derive(Debug)]
pub(crate) enum CommitError {
    /// The store is unavailable for now: the reporter should retry (503); already logged.
    Unavailable,
    /// Anything else (500); already logged.
    Failed,
}

struct Pending {
    examined: Examined,
    reply: oneshot::Sender<Result<Outcome, CommitError>>,
}

/// Hands reports to the committer tasks. Cheap to clone; the tasks end when every clone is
/// dropped and the reports it holds are answered.
#[derive(Debug, Clone)]
pub(crate) struct Committer {
    sender: mpsc::Sender<Pending>,
}

impl Committer {
    /// Starts the committer tasks on `intake`.
    pub(crate) fn start(intake: Intake) -> Committer {
        let (sender, receiver) = mpsc::channel(QUEUE);
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..COMMITTERS {
            tokio::spawn(run(intake.clone(), receiver.clone()));
        }
        Committer { sender }
    }

    /// Stores `examined` (a rejected report is only counted) and returns its outcome once the
    /// transaction holding it is committed.
    pub(crate) async fn take(&self, examined: Examined) -> Result<Outcome, CommitError> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Pending { examined, reply })
            .await
            .map_err(|_| CommitError::Failed)?;
        answer.await.unwrap_or(Err(CommitError::Failed))
    }
}

/// One committer: takes what is waiting (the queue is held only while taking), stores it,
/// and goes back for more; ends when the queue is closed and empty.
async fn run(intake: Intake, receiver: Arc<Mutex<mpsc::Receiver<Pending>>>) {
    loop {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        let taken = receiver.lock().await.recv_many(&mut batch, MAX_BATCH).await;
        if taken == 0 {
            return;
        }
        commit(&intake, batch).await;
    }
}

/// Stores one batch and answers each of its POSTs. When the batch fails for another reason
/// than an unavailable store (a value one report holds that the store cannot keep), each
/// report is tried alone, so that one bad report does not fail the others.
async fn commit(intake: &Intake, pending: Vec<Pending>) {
    let (examined, replies): (Vec<Examined>, Vec<_>) =
        pending.into_iter().map(|p| (p.examined, p.reply)).unzip();
    let alone = (examined.len() > 1).then(|| examined.clone());
    let batch = examined.into_iter().map(|e| (e, Source::Https)).collect();
    match intake.take(batch).await {
        Ok(outcomes) if outcomes.len() == replies.len() => {
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                let _ = reply.send(Ok(outcome));
            }
        }
        Ok(_) => {
            tracing::error!(
                kind = %"intake-failed",
                "The intake answered for a different number of reports than it was given; \
                 they are answered 500 and the reporters retry."
            );
            for reply in replies {
                let _ = reply.send(Err(CommitError::Failed));
            }
        }
        Err(error) if error.is_unavailable() => {
            tracing::warn!(
                kind = %"store-unavailable",
                "{error}; the reporters of {} reports are asked to retry.",
                replies.len()
            );
            for reply in replies {
                let _ = reply.send(Err(CommitError::Unavailable));
            }
        }
        Err(error) => match alone {
            Some(examined) => {
                for (examined, reply) in examined.into_iter().zip(replies) {
                    let result = intake.take(vec![(examined, Source::Https)]).await;
                    let _ = reply.send(single(result));
                }
            }
            None => {
                tracing::error!(kind = %"intake-failed", "{error}");
                for reply in replies {
                    let _ = reply.send(Err(CommitError::Failed));
                }
            }
        },
    }
}

fn single(result: Result<Vec<Outcome>, IntakeError>) -> Result<Outcome, CommitError> {
    match result {
        Ok(mut outcomes) if outcomes.len() == 1 => outcomes.pop().ok_or(CommitError::Failed),
        Ok(_) => Err(CommitError::Failed),
        Err(error) if error.is_unavailable() => {
            tracing::warn!(kind = %"store-unavailable", "{error}; the reporter is asked to retry.");
            Err(CommitError::Unavailable)
        }
        Err(error) => {
            tracing::error!(kind = %"intake-failed", "{error}");
            Err(CommitError::Failed)
        }
    }
}
