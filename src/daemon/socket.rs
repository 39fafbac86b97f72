//! The control socket: a 0700 directory under `$XDG_RUNTIME_DIR`, a 0600 socket, and
//! no second daemon on the same socket.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

use tokio::net::UnixListener;

use crate::paths::Paths;

#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("another kairos daemon is already running (it answers on {0})")]
    InUse(String),
    #[error("{path} belongs to another user; kairos will not put its socket there")]
    NotOurs { path: String },
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SocketError + '_ {
    move |source| SocketError::Io { path: path.display().to_string(), source }
}

/// Fails when a daemon already answers on the socket: checked before anything else is
/// opened, so a second daemon says the plain thing.
pub fn refuse_if_running(paths: &Paths) -> Result<(), SocketError> {
    let socket = paths.socket();
    if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
        return Err(SocketError::InUse(socket.display().to_string()));
    }
    Ok(())
}

/// Creates the runtime directory (0700, ours) and binds the socket (0600).
pub fn bind(paths: &Paths) -> Result<UnixListener, SocketError> {
    let dir = &paths.runtime_dir;
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(io(dir))?;
    // The socket's directory and the one holding it must be ours and not links: in a
    // shared /tmp (no XDG_RUNTIME_DIR) another user could have made either first, or
    // could rename our directory away and put theirs in its place.
    let me = rustix::process::geteuid().as_raw();
    if let Some(base) = dir.parent() {
        let meta = fs::symlink_metadata(base).map_err(io(base))?;
        let shared_sticky = meta.uid() == 0 && meta.mode() & 0o1000 != 0;
        if !meta.is_dir() || !(meta.uid() == me || shared_sticky) {
            return Err(SocketError::NotOurs { path: base.display().to_string() });
        }
        if meta.uid() == me && meta.mode() & 0o022 != 0 {
            fs::set_permissions(base, fs::Permissions::from_mode(0o700)).map_err(io(base))?;
        }
    }
    let meta = fs::symlink_metadata(dir).map_err(io(dir))?;
    if !meta.is_dir() || meta.uid() != me {
        return Err(SocketError::NotOurs { path: dir.display().to_string() });
    }
    if meta.mode() & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io(dir))?;
    }
    let socket = paths.socket();
    if socket.exists() {
        if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
            return Err(SocketError::InUse(socket.display().to_string()));
        }
        // Left behind by a daemon that was killed: nobody answers, so it is safe to replace.
        fs::remove_file(&socket).map_err(io(&socket))?;
    }
    let listener = UnixListener::bind(&socket).map_err(io(&socket))?;
    fs::set_permissions(&socket, fs::Permissions::from_mode(0o600)).map_err(io(&socket))?;
    Ok(listener)
}
