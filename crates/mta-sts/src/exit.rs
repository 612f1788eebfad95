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
    /// 65 (`EX_DATAERR`, sysexits): the input is not what the command takes (not a TLS-RPT
    /// report, an unreadable one, one about a domain that is not ours); an MTA returns the mail.
    DataError,
    /// 66 (`EX_NOINPUT`): an input file does not exist or cannot be read.
    NoInput,
    /// 75 (`EX_TEMPFAIL`): the command could not finish now (the store is unavailable); an MTA
    /// keeps the mail and tries again later, so nothing is lost.
    TempFail,
}

impl From<Status> for ExitCode {
    fn from(status: Status) -> ExitCode {
        ExitCode::from(match status {
            Status::Valid => 0,
            Status::Invalid => 1,
            Status::Trouble => 2,
            Status::Incomplete => 3,
            Status::DataError => 65,
            Status::NoInput => 66,
            Status::TempFail => 75,
        })
    }
}
