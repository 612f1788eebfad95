//! What every listening command does first: raise the open-file limit to the hard limit, and
//! keep its connection cap below it.

use mta_sts_service::open_files;

/// A sentence about the open-file limit for the log, said once the server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LimitNote {
    /// The log's `kind` field.
    kind: &'static str,
    /// Whether the administrator should act on it.
    warning: bool,
    text: String,
}

impl LimitNote {
    /// Writes it to the log.
    pub(super) fn log(&self) {
        if self.warning {
            tracing::warn!(kind = %self.kind, "{}", self.text);
        } else {
            tracing::info!(kind = %self.kind, "{}", self.text);
        }
    }
}

/// The soft open-file limit raised to the hard limit, and `wanted` connections lowered if
/// needed so that `reserved` descriptors stay free for everything else the server opens.
/// Returns the cap to use and what to log (what the limit is, and why the cap was lowered, if it
/// was); `setting` names the cap as the user sets it.
pub(super) fn fit_connections(
    wanted: usize,
    reserved: usize,
    setting: &str,
) -> (usize, Vec<LimitNote>) {
    let mut notes = Vec::new();
    let soft = match open_files::raise_soft_limit() {
        Ok(limit) => {
            notes.push(LimitNote {
                kind: "open-file-limit",
                warning: false,
                text: format!("{limit}."),
            });
            Some(limit.now)
        }
        Err(error) => {
            notes.push(LimitNote {
                kind: "open-file-limit",
                warning: true,
                text: format!("{error}; serving within the current limit."),
            });
            error.soft_limit()
        }
    };
    let Some(soft) = soft else {
        return (wanted, notes);
    };
    let cap = open_files::connections_within(soft, wanted, reserved);
    if cap < wanted {
        notes.push(LimitNote {
            kind: "connections-lowered",
            warning: true,
            text: format!(
                "{setting} is lowered from {wanted} to {cap} so that {reserved} of the {soft} \
                 open files stay free for everything else; raise the hard open-file limit \
                 (LimitNOFILE= in a systemd unit) to serve more connections."
            ),
        });
    }
    (cap, notes)
}
