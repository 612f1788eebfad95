//! Exit statuses: a contract scripts rely on, the same for every command.

use std::process::ExitCode;

/// What a command's exit status means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// 0: the input is valid (a sender would use it), or the host matches.
    Valid,
    /// 1: the input is invalid, or the host does not match.
    Invalid,
    /// 2: the command could not run: bad usage, unreadable input (clap also exits 2 on usage errors).
    Trouble,
    /// 3: `check` ran but could not be completed: a lookup got no usable answer, or the domain
    /// does not exist; no error was found in what could be learnt.
    Incomplete,
}

impl From<Status> for ExitCode {
    fn from(status: Status) -> ExitCode {
        ExitCode::from(match status {
            Status::Valid => 0,
            Status::Invalid => 1,
            Status::Trouble => 2,
            Status::Incomplete => 3,
        })
    }
}
