//! What every listening command does first: raise the open-file limit to the hard limit, and
//! keep its connection cap below it.

use mta_sts_net::open_files;

/// The soft open-file limit raised to the hard limit, and `wanted` connections lowered if
/// needed so that `reserved` descriptors stay free for everything else the server opens.
/// Returns the cap to use and sentences for the log (what the limit is, and why the cap was
/// lowered, if it was); `setting` names the cap as the user sets it.
pub(super) fn fit_connections(
    wanted: usize,
    reserved: usize,
    setting: &str,
) -> (usize, Vec<String>) {
    let mut lines = Vec::new();
    let soft = match open_files::raise_soft_limit() {
        Ok(limit) => {
            lines.push(format!("{limit}."));
            Some(limit.now)
        }
        Err(error) => {
            lines.push(format!("{error}; serving within the current limit."));
            error.soft_limit()
        }
    };
    let Some(soft) = soft else {
        return (wanted, lines);
    };
    let cap = open_files::connections_within(soft, wanted, reserved);
    if cap < wanted {
        lines.push(format!(
            "{setting} is lowered from {wanted} to {cap} so that {reserved} of the {soft} open \
             files stay free for everything else; raise the hard open-file limit \
             (LimitNOFILE= in a systemd unit) to serve more connections."
        ));
    }
    (cap, lines)
}
