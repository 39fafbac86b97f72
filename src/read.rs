//! Reading small files kairos is told to trust as settings (config, policies, tokens,
//! a project's manifest) without letting them take the daemon down: only regular files
//! (or links to one) are read, never pipes or devices, which would block the read or
//! never end, and never more than a size limit.

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// The most a config or policy file may hold.
pub const SETTINGS_LIMIT: u64 = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("no such file")]
    NotFound,
    #[error("it is {0}, not a regular file; kairos reads only regular files here")]
    NotRegular(&'static str),
    #[error(
        "it holds {}, more than the {} kairos reads here",
        bytesize::ByteSize::b(*size),
        bytesize::ByteSize::b(*limit)
    )]
    TooLarge { size: u64, limit: u64 },
    #[error("{0}")]
    Io(std::io::Error),
}

impl ReadError {
    fn from_io(e: std::io::Error) -> ReadError {
        match e.kind() {
            std::io::ErrorKind::NotFound => ReadError::NotFound,
            _ => ReadError::Io(e),
        }
    }
}

/// Reads the regular file at `path` (links followed), refusing anything else and
/// anything over `limit` bytes. Never blocks: the file is opened non-blocking, and what
/// was opened is checked again (the path may have been swapped between the two looks).
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let meta = std::fs::metadata(path).map_err(ReadError::from_io)?;
    check(&meta.file_type(), meta.len(), limit)?;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(ReadError::from_io)?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    check(&meta.file_type(), meta.len(), limit)?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // A file that grows while it is read is still cut at the limit.
    (&mut file).take(limit + 1).read_to_end(&mut bytes).map_err(ReadError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge { size: bytes.len() as u64, limit });
    }
    Ok(bytes)
}

/// Like `read_regular`, as UTF-8 text.
pub fn read_text(path: &Path, limit: u64) -> Result<String, ReadError> {
    let bytes = read_regular(path, limit)?;
    String::from_utf8(bytes).map_err(|e| {
        ReadError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("it is not valid UTF-8 ({e}); save it as UTF-8"),
        ))
    })
}

fn check(kind: &std::fs::FileType, size: u64, limit: u64) -> Result<(), ReadError> {
    if !kind.is_file() {
        return Err(ReadError::NotRegular(describe(kind)));
    }
    if size > limit {
        return Err(ReadError::TooLarge { size, limit });
    }
    Ok(())
}

fn describe(kind: &std::fs::FileType) -> &'static str {
    if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a named pipe (FIFO)"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else {
        "not a regular file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipes_devices_and_big_files_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo.toml");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        assert!(matches!(read_regular(&fifo, 10), Err(ReadError::NotRegular(_))));
        let link = dir.path().join("zero.toml");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        let err = read_regular(&link, 10).unwrap_err();
        assert_eq!(
            err.to_string(),
            "it is a device, not a regular file; kairos reads only regular files here"
        );
        let big = dir.path().join("big.toml");
        std::fs::write(&big, vec![b'#'; 11]).unwrap();
        assert!(matches!(read_regular(&big, 10), Err(ReadError::TooLarge { size: 11, limit: 10 })));
        std::fs::write(&big, b"ok").unwrap();
        assert_eq!(read_regular(&big, 10).unwrap(), b"ok");
        let to_file = dir.path().join("link.toml");
        std::os::unix::fs::symlink(&big, &to_file).unwrap();
        assert_eq!(read_text(&to_file, 10).unwrap(), "ok");
        assert!(matches!(read_regular(&dir.path().join("none"), 10), Err(ReadError::NotFound)));
    }
}
