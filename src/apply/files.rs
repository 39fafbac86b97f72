//! Reading and writing working-tree files safely: paths that escape the repository are
//! refused, and each file is replaced atomically (temporary file, fsync, rename).

use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use git2::{ObjectType, Oid, Repository};

use super::{ApplyError, Journal, UndoOutcome};
use crate::proposal::{FileChange, FileState, UndoRecord};

pub const MODE_FILE: u32 = 0o100644;
pub const MODE_EXEC: u32 = 0o100755;
pub const MODE_LINK: u32 = 0o120000;
const MODE_DIR: u32 = 0o040000;

/// Resolves repository-relative `rel` under `root`, refusing absolute paths, `..`,
/// anything inside a `.git` (at any depth), and parents that are symlinks (which could
/// point outside).
pub fn safe_path(root: &Path, rel: &Path) -> Result<PathBuf, ApplyError> {
    let mut out = root.to_path_buf();
    let mut parts = 0;
    for component in rel.components() {
        match component {
            Component::Normal(part) => {
                // In any component, as git's own path check: `sub/.git/hooks/…` would
                // write into a nested repository's hooks.
                if part.as_encoded_bytes().eq_ignore_ascii_case(b".git") {
                    return Err(ApplyError::Unsafe(format!("{} is inside .git", rel.display())));
                }
                out.push(part);
                parts += 1;
            }
            Component::CurDir => {}
            _ => {
                return Err(ApplyError::Unsafe(format!(
                    "{} escapes the repository",
                    rel.display()
                )));
            }
        }
    }
    if parts == 0 {
        return Err(ApplyError::Unsafe(format!("{:?} names no file", rel)));
    }
    let mut parent = root.to_path_buf();
    let components: Vec<_> = rel.components().collect();
    for component in &components[..components.len() - 1] {
        parent.push(component);
        match fs::symlink_metadata(&parent) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(ApplyError::Unsafe(format!(
                    "{} goes through the symlink {}",
                    rel.display(),
                    parent.display()
                )));
            }
            _ => {}
        }
    }
    Ok(out)
}

/// What the file at `path` holds right now, as a git blob id and mode, hashing the raw
/// bytes (no filters), or `None` when nothing is there.
pub fn disk_state(path: &Path) -> Result<Option<FileState>, ApplyError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ApplyError::io(path, e)),
    };
    let state = if meta.file_type().is_symlink() {
        let target = fs::read_link(path).map_err(|e| ApplyError::io(path, e))?;
        let bytes = target.as_os_str().as_encoded_bytes();
        FileState { blob: Oid::hash_object(ObjectType::Blob, bytes)?.to_string(), mode: MODE_LINK }
    } else if meta.is_dir() {
        FileState { blob: "directory".into(), mode: MODE_DIR }
    } else {
        let exec = meta.permissions().mode() & 0o111 != 0;
        FileState {
            blob: Oid::hash_file(ObjectType::Blob, path)?.to_string(),
            mode: if exec { MODE_EXEC } else { MODE_FILE },
        }
    };
    Ok(Some(state))
}

/// Stores the raw bytes of the file at `path` as a blob, so they can be written back
/// exactly (`git add` would apply filters such as line-ending conversion).
pub fn store_raw(repo: &Repository, path: &Path) -> Result<Option<FileState>, ApplyError> {
    let Some(state) = disk_state(path)? else {
        return Ok(None);
    };
    let bytes = match state.mode {
        MODE_LINK => fs::read_link(path)
            .map_err(|e| ApplyError::io(path, e))?
            .into_os_string()
            .into_encoded_bytes(),
        MODE_DIR => {
            return Err(ApplyError::Unsafe(format!(
                "{} is a directory where a file is expected",
                path.display()
            )));
        }
        _ => fs::read(path).map_err(|e| ApplyError::io(path, e))?,
    };
    let blob = repo.blob(&bytes)?;
    debug_assert_eq!(blob.to_string(), state.blob);
    Ok(Some(state))
}

/// Makes the file at `path` hold `state` (remove it for `None`), atomically.
pub fn write_state(
    repo: &Repository,
    path: &Path,
    state: Option<&FileState>,
) -> Result<(), ApplyError> {
    let Some(state) = state else {
        return match fs::remove_file(path) {
            Ok(()) => sync_parent(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ApplyError::io(path, e)),
        };
    };
    let blob = repo.find_blob(Oid::from_str(&state.blob)?)?;
    let parent = path.parent().ok_or_else(|| ApplyError::Unsafe("no parent".into()))?;
    fs::create_dir_all(parent).map_err(|e| ApplyError::io(parent, e))?;
    if fs::symlink_metadata(path).map(|m| m.is_dir()).unwrap_or(false) {
        return Err(ApplyError::Unsafe(format!("{} is a directory", path.display())));
    }
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = parent.join(format!(".{name}.kairos-{}.tmp", std::process::id()));
    let _ = fs::remove_file(&tmp);
    if state.mode == MODE_LINK {
        let target = std::ffi::OsStr::from_bytes(blob.content());
        std::os::unix::fs::symlink(target, &tmp).map_err(|e| ApplyError::io(&tmp, e))?;
    } else {
        let keep = fs::metadata(path).map(|m| m.permissions().mode() & 0o7777).unwrap_or(0o644);
        let mode = if state.mode == MODE_EXEC { keep | 0o111 } else { keep & !0o111 };
        let mut file = fs::File::create(&tmp).map_err(|e| ApplyError::io(&tmp, e))?;
        file.write_all(blob.content()).map_err(|e| ApplyError::io(&tmp, e))?;
        file.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(|e| ApplyError::io(&tmp, e))?;
        file.sync_all().map_err(|e| ApplyError::io(&tmp, e))?;
    }
    fs::rename(&tmp, path).map_err(|e| ApplyError::io(path, e))?;
    sync_parent(path)
}

/// Writes every file of a plan: to its `after` state (`forward`) or back to `before`.
pub fn write_all(
    repo: &Repository,
    root: &Path,
    files: &[FileChange],
    forward: bool,
) -> Result<(), ApplyError> {
    for file in files {
        let target = if forward { file.after.as_ref() } else { file.before.as_ref() };
        write_state(repo, &safe_path(root, file.path.as_path())?, target)?;
    }
    Ok(())
}

/// Undoes a file apply, refusing (and writing nothing) when any file changed since.
pub fn undo(
    repo: &Repository,
    root: &Path,
    files: &[FileChange],
    record: &UndoRecord,
    journal: Journal,
) -> Result<UndoOutcome, ApplyError> {
    let mut changed = Vec::new();
    for file in files {
        let full = safe_path(root, file.path.as_path())?;
        if disk_state(&full)? != file.after {
            changed.push(file.path.to_string());
        }
    }
    if !changed.is_empty() {
        return Ok(UndoOutcome::Refused(format!(
            "these files changed since: {}; undoing would overwrite that work",
            changed.join(", ")
        )));
    }
    journal(record)?;
    write_all(repo, root, files, false)?;
    Ok(UndoOutcome::Undone)
}

fn sync_parent(path: &Path) -> Result<(), ApplyError> {
    if let Some(parent) = path.parent() {
        let dir = fs::File::open(parent).map_err(|e| ApplyError::io(parent, e))?;
        dir.sync_all().map_err(|e| ApplyError::io(parent, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_paths_are_refused() {
        let root = Path::new("/repo");
        for bad in [
            "../x",
            "/etc/passwd",
            "a/../../x",
            ".git/config",
            ".git",
            "",
            "vendor/x/.git/hooks/post-commit",
            "a/.GIT/config",
        ] {
            assert!(safe_path(root, Path::new(bad)).is_err(), "{bad} was accepted");
        }
        assert_eq!(
            safe_path(root, Path::new("src/main.rs")).unwrap(),
            Path::new("/repo/src/main.rs")
        );
    }

    #[test]
    fn a_symlinked_parent_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/tmp", dir.path().join("out")).unwrap();
        let err = safe_path(dir.path(), Path::new("out/file")).unwrap_err();
        assert!(err.to_string().contains("symlink"), "{err}");
    }
}
