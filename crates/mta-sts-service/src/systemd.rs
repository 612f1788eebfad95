//! systemd's notify protocol (sd_notify(3)): a `Type=notify` (or `notify-reload`) unit hears
//! when the service is ready, reloading and stopping, and a status line for `systemctl status`.
//!
//! Written by hand: the protocol is one datagram of `KEY=value` lines to the unix socket named
//! by `$NOTIFY_SOCKET` (a path, or `@name` for a Linux abstract socket), a few lines that the
//! crates offering it would wrap in a dependency and a C-library binding.

use std::ffi::OsStr;
use std::os::unix::net::{SocketAddr, UnixDatagram};

use crate::error::ServiceError;

/// One state told to systemd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotifyState<'a> {
    /// `READY=1`: start-up is done (the service listens), or a reload is done.
    Ready,
    /// `RELOADING=1` with `MONOTONIC_USEC=`, which `Type=notify-reload` requires: a reload has
    /// begun; [`NotifyState::Ready`] says when it is done.
    Reloading,
    /// `STOPPING=1`: the service is shutting down.
    Stopping,
    /// `STATUS=text`: one line for `systemctl status` (line breaks are sent as spaces).
    Status(&'a str),
}

/// Where systemd listens for this service's notifications.
#[derive(Debug)]
pub struct Notifier {
    address: SocketAddr,
    /// Shown in errors.
    name: String,
}

impl Notifier {
    /// The socket named by `$NOTIFY_SOCKET`; `None` when the variable is unset or empty (not
    /// started by systemd, or not as a notify unit).
    pub fn from_env() -> Result<Option<Notifier>, ServiceError> {
        match std::env::var_os("NOTIFY_SOCKET") {
            Some(address) if !address.is_empty() => Notifier::new(&address).map(Some),
            _ => Ok(None),
        }
    }

    /// The socket named `address`: a path, or `@name` for a Linux abstract socket.
    pub fn new(address: &OsStr) -> Result<Notifier, ServiceError> {
        let name = address.to_string_lossy().into_owned();
        let parsed = match address.as_encoded_bytes().strip_prefix(b"@") {
            Some(abstract_name) => {
                use std::os::linux::net::SocketAddrExt as _;
                SocketAddr::from_abstract_name(abstract_name)
            }
            None => SocketAddr::from_pathname(address),
        };
        let address = parsed.map_err(|source| ServiceError::NotifyAddress {
            address: name.clone(),
            source,
        })?;
        Ok(Notifier { address, name })
    }

    /// Sends `states` in one datagram, one line each, in order.
    pub fn notify(&self, states: &[NotifyState<'_>]) -> Result<(), ServiceError> {
        let message = states
            .iter()
            .map(|state| state.line())
            .collect::<Vec<_>>()
            .join("\n");
        let sent = UnixDatagram::unbound()
            .and_then(|socket| socket.send_to_addr(message.as_bytes(), &self.address));
        match sent {
            Ok(_) => Ok(()),
            Err(source) => Err(ServiceError::Notify {
                state: format!("{message} (at {})", self.name),
                source,
            }),
        }
    }

    /// `READY=1`.
    pub fn ready(&self) -> Result<(), ServiceError> {
        self.notify(&[NotifyState::Ready])
    }

    /// `RELOADING=1` (with `MONOTONIC_USEC=`).
    pub fn reloading(&self) -> Result<(), ServiceError> {
        self.notify(&[NotifyState::Reloading])
    }

    /// `STOPPING=1`.
    pub fn stopping(&self) -> Result<(), ServiceError> {
        self.notify(&[NotifyState::Stopping])
    }

    /// `STATUS=text`.
    pub fn status(&self, text: &str) -> Result<(), ServiceError> {
        self.notify(&[NotifyState::Status(text)])
    }
}

impl NotifyState<'_> {
    fn line(&self) -> String {
        match self {
            NotifyState::Ready => "READY=1".to_string(),
            NotifyState::Reloading => match monotonic_usec() {
                // systemd matches the reload to this time on CLOCK_MONOTONIC (sd_notify(3)).
                Some(usec) => format!("RELOADING=1\nMONOTONIC_USEC={usec}"),
                None => "RELOADING=1".to_string(),
            },
            NotifyState::Stopping => "STOPPING=1".to_string(),
            NotifyState::Status(text) => format!("STATUS={}", text.replace(['\n', '\r'], " ")),
        }
    }
}

/// Microseconds on CLOCK_MONOTONIC, if the clock can be read.
fn monotonic_usec() -> Option<u128> {
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).ok()?;
    Some(std::time::Duration::from(now).as_micros())
}

#[cfg(test)]
mod tests;
