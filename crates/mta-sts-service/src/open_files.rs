//! The open-file limit of a server process: raised from the soft limit to the hard limit at
//! start, and the connection cap kept below it.
//!
//! Each connection is a descriptor. The usual soft limit (1,024) is far below what a server is
//! allowed (the hard limit is often 524,288 under systemd); staying at the soft limit makes a
//! few hundred slow clients enough to exhaust it, after which `accept` fails for everyone. A
//! process may raise its own soft limit up to the hard limit without privileges.

use std::fmt;

use nix::sys::resource::{Resource, getrlimit, rlim_t, setrlimit};

/// Where the soft `RLIMIT_NOFILE` stands after [`raise_soft_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFileLimit {
    /// The soft limit before.
    pub before: u64,
    /// The soft limit now: the descriptors the process may hold.
    pub now: u64,
    /// The hard limit, the most the soft limit could be raised to.
    pub hard: u64,
}

/// Why the soft limit could not be read or raised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenFileError {
    /// `getrlimit` failed; the limit is unknown and unchanged.
    #[error("cannot read the open-file limit: {0}")]
    Read(nix::Error),
    /// `setrlimit` refused the raise; the soft limit stays at `soft`.
    #[error("cannot raise the open-file limit from {soft} to {wanted}: {error}")]
    Raise {
        /// The soft limit, unchanged.
        soft: u64,
        /// What it was to be raised to.
        wanted: u64,
        /// What the system said.
        error: nix::Error,
    },
}

impl OpenFileError {
    /// The soft limit in force after the failure, if known.
    pub fn soft_limit(&self) -> Option<u64> {
        match self {
            OpenFileError::Read(_) => None,
            OpenFileError::Raise { soft, .. } => Some(*soft),
        }
    }
}

impl OpenFileLimit {
    /// Whether the soft limit went up.
    pub fn raised(&self) -> bool {
        self.now > self.before
    }
}

impl fmt::Display for OpenFileLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.raised() {
            write!(
                f,
                "the open-file limit was raised from {} to {} (the hard limit)",
                self.before, self.now
            )
        } else if self.now >= self.hard {
            write!(
                f,
                "the open-file limit is {}, already the hard limit",
                self.now
            )
        } else {
            write!(
                f,
                "the open-file limit stays at {} (the hard limit is {})",
                self.now, self.hard
            )
        }
    }
}

/// The connections a server may hold open under an open-file `limit`: `wanted`, lowered if
/// needed so that `reserved` descriptors stay free for everything else (listeners, cache files,
/// outgoing DNS, HTTPS and SMTP connections, log files). At least 1.
pub fn connections_within(limit: u64, wanted: usize, reserved: usize) -> usize {
    let room = limit.saturating_sub(u64::try_from(reserved).unwrap_or(u64::MAX));
    usize::try_from(room)
        .unwrap_or(usize::MAX)
        .clamp(1, wanted.max(1))
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit. An unlimited hard limit is taken as the
/// kernel's ceiling (`/proc/sys/fs/nr_open`, which Linux refuses to go past).
pub fn raise_soft_limit() -> Result<OpenFileLimit, OpenFileError> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(OpenFileError::Read)?;
    let ceiling = if hard == nix::sys::resource::RLIM_INFINITY {
        kernel_ceiling().unwrap_or(soft)
    } else {
        hard
    };
    let target = ceiling.max(soft);
    if target > soft {
        setrlimit(Resource::RLIMIT_NOFILE, target, hard).map_err(|error| OpenFileError::Raise {
            soft: as_u64(soft),
            wanted: as_u64(target),
            error,
        })?;
    }
    Ok(OpenFileLimit {
        before: as_u64(soft),
        now: as_u64(target),
        hard: as_u64(ceiling),
    })
}

/// The most descriptors a Linux process can be allowed, if the system says.
fn kernel_ceiling() -> Option<rlim_t> {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[allow(clippy::useless_conversion)] // rlim_t is u64 on Linux, but not on every target.
fn as_u64(limit: rlim_t) -> u64 {
    u64::from(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_stays_below_the_limit() {
        // Plenty of room: the cap as configured.
        assert_eq!(connections_within(524_288, 1024, 128), 1024);
        // The usual soft limit of 1,024 with 128 kept free.
        assert_eq!(connections_within(1024, 1024, 128), 896);
        // Nothing left over: still one connection, never zero.
        assert_eq!(connections_within(100, 1024, 128), 1);
        assert_eq!(connections_within(u64::MAX, usize::MAX, 0), usize::MAX);
    }

    #[test]
    fn raising_twice_changes_nothing_the_second_time() {
        // The test process may raise its own soft limit up to the hard limit, which is what
        // the first call does; the second finds it there.
        let first = raise_soft_limit().expect("raise");
        assert!(first.now >= first.before);
        assert!(first.now <= first.hard);
        let second = raise_soft_limit().expect("raise again");
        assert_eq!(second.before, first.now);
        assert_eq!(second.now, first.now);
        assert!(!second.raised());
        let (soft, _) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
        assert_eq!(as_u64(soft), first.now);
    }

    #[test]
    fn the_limit_reads_as_a_sentence() {
        let raised = OpenFileLimit {
            before: 1024,
            now: 524_288,
            hard: 524_288,
        };
        assert_eq!(
            raised.to_string(),
            "the open-file limit was raised from 1024 to 524288 (the hard limit)"
        );
        let at_hard = OpenFileLimit {
            before: 20_000,
            now: 20_000,
            hard: 20_000,
        };
        assert_eq!(
            at_hard.to_string(),
            "the open-file limit is 20000, already the hard limit"
        );
    }
}
