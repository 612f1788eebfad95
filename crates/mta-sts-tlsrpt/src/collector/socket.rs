//! The unix datagram socket libtlsrpt writes to: bound where tlsrpt-collectd's was, a stale
//! socket file replaced, owner, group and mode set as tlsrpt-collectd's `socketuser`,
//! `socketgroup` and `socketmode` set them.

use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
use std::os::unix::net::UnixDatagram;
use std::path::Path;

use nix::unistd::{Group, User};

use super::CollectSettings;
use crate::TlsRptError;

fn socket_error(path: &Path, action: &'static str) -> impl Fn(std::io::Error) -> TlsRptError {
    let path = path.to_path_buf();
    move |source| TlsRptError::Socket {
        path: path.clone(),
        action,
        source,
    }
}

/// A numeric id as written, or the id of the user or group called `name`, looked up through
/// the system's user database as chown(1) does.
fn resolve_id(
    name: &str,
    kind: &'static str,
    by_name: impl FnOnce(&str) -> nix::Result<Option<u32>>,
) -> Result<u32, TlsRptError> {
    if let Ok(id) = name.parse::<u32>() {
        return Ok(id);
    }
    match by_name(name) {
        Ok(Some(id)) => Ok(id),
        Ok(None) => Err(TlsRptError::UnknownOwner {
            kind,
            name: name.to_string(),
        }),
        Err(errno) => Err(TlsRptError::UnknownOwner {
            kind,
            name: format!("{name} ({})", errno.desc()),
        }),
    }
}

/// Binds the collector's socket at `settings.socket`.
///
/// A socket file nobody has bound any more (a collector that was killed) is replaced; a socket
/// another process still receives on, or a file that is not a socket, is an error and left
/// alone. tlsrpt-collectd removes whatever is at the path; this is stricter, so a second
/// collector started by mistake cannot steal the first one's datagrams.
pub(super) fn bind(settings: &CollectSettings) -> Result<UnixDatagram, TlsRptError> {
    let path = settings.socket.as_path();
    let owner = settings
        .socket_user
        .as_deref()
        .map(|name| {
            resolve_id(name, "user", |name| {
                Ok(User::from_name(name)?.map(|user| user.uid.as_raw()))
            })
        })
        .transpose()?;
    let group = settings
        .socket_group
        .as_deref()
        .map(|name| {
            resolve_id(name, "group", |name| {
                Ok(Group::from_name(name)?.map(|group| group.gid.as_raw()))
            })
        })
        .transpose()?;
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(socket_error(path, "binding")(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "a file that is not a socket is in the way",
            )));
        }
        let probe = UnixDatagram::unbound().map_err(socket_error(path, "probing"))?;
        if probe.connect(path).is_ok() {
            return Err(socket_error(path, "binding")(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                "another process receives on it",
            )));
        }
        std::fs::remove_file(path).map_err(socket_error(path, "removing the stale socket"))?;
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.exists()
    {
        std::fs::create_dir_all(parent).map_err(socket_error(path, "creating its directory"))?;
    }
    let socket = UnixDatagram::bind(path).map_err(socket_error(path, "binding"))?;
    let applied = (|| {
        // Ownership first, so the mode is never granted to the wrong group, even briefly.
        if owner.is_some() || group.is_some() {
            std::os::unix::fs::chown(path, owner, group)?;
        }
        if let Some(mode) = settings.socket_mode {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
        }
        Ok(())
    })();
    if let Err(error) = applied {
        let _ = std::fs::remove_file(path);
        return Err(socket_error(path, "setting its owner and mode")(error));
    }
    // A larger receive buffer rides out a burst while the receiving thread is busy; the kernel
    // caps it at net.core.rmem_max (more with CAP_NET_ADMIN's SO_RCVBUFFORCE, not used here).
    if settings.receive_buffer > 0 {
        let _ = socket2::SockRef::from(&socket).set_recv_buffer_size(settings.receive_buffer);
    }
    Ok(socket)
}

/// Removes the socket file at shutdown, as tlsrpt-collectd does.
pub(super) fn remove(path: &Path) {
    if std::fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_socket()) {
        let _ = std::fs::remove_file(path);
    }
}
