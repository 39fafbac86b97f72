//! Reading and writing working-tree files safely: paths that escape the repository are
//! refused, and each file is replaced atomically (temporary file, fsync, rename).

use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use git2::{ObjectType, Oid, Repository};
use rustix::fs::RenameFlags;

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
    } else if !meta.is_file() {
        // A FIFO would block the read forever (with the repository lock held).
        return Err(ApplyError::Unsafe(format!(
            "{} is not a regular file (a pipe, socket or device)",
            path.display()
        )));
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
    // The state is what was stored: had the file changed between the hash and the
    // read, the stored bytes are the ones compared from here on.
    let blob = repo.blob(&bytes)?;
    Ok(Some(FileState { blob: blob.to_string(), mode: state.mode }))
}

/// Makes the file at `path` hold `state` (remove it for `None`), atomically, if it
/// still holds `expect` at that moment. The new content is swapped in with
/// `RENAME_EXCHANGE` and what was swapped out is checked: a save the user made since
/// the plan was checked is swapped back, untouched, and the write fails.
pub fn write_state(
    repo: &Repository,
    path: &Path,
    expect: Option<&FileState>,
    state: Option<&FileState>,
) -> Result<(), ApplyError> {
    swap_in(repo, path, expect, state)?;
    sync_parent(path)
}

/// `write_state` without making the rename durable: the caller syncs the directory
/// (once for all the files of a plan in it; a crash before is settled by the journal,
/// which looks at what each file holds).
fn swap_in(
    repo: &Repository,
    path: &Path,
    expect: Option<&FileState>,
    state: Option<&FileState>,
) -> Result<(), ApplyError> {
    let parent = path.parent().ok_or_else(|| ApplyError::Unsafe("no parent".into()))?;
    let Some(state) = state else {
        return remove_if(path, parent, expect);
    };
    let blob = repo.find_blob(Oid::from_str(&state.blob)?)?;
    fs::create_dir_all(parent).map_err(|e| ApplyError::io(parent, e))?;
    if fs::symlink_metadata(path).map(|m| m.is_dir()).unwrap_or(false) {
        return Err(ApplyError::Unsafe(format!("{} is a directory", path.display())));
    }
    let tmp = temp_path(parent);
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
    let swapped = match expect {
        None => rename_with(&tmp, path, RenameFlags::NOREPLACE),
        Some(_) => rename_with(&tmp, path, RenameFlags::EXCHANGE),
    };
    match swapped {
        Ok(()) => {}
        // A file system without these flags: check, then replace (a short window).
        Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => {
            if disk_state(path)?.as_ref() != expect {
                let _ = fs::remove_file(&tmp);
                return Err(changed_meanwhile(path));
            }
            fs::rename(&tmp, path).map_err(|e| ApplyError::io(path, e))?;
            return Ok(());
        }
        // EEXIST: a file appeared where none was; ENOENT: the file went away.
        Err(_) => {
            let _ = fs::remove_file(&tmp);
            return Err(changed_meanwhile(path));
        }
    }
    if expect.is_some() && disk_state(&tmp)?.as_ref() != expect {
        // `tmp` holds what was displaced: the user's newer content. Swap it back.
        rename_with(&tmp, path, RenameFlags::EXCHANGE)
            .map_err(|e| ApplyError::io(path, e.into()))?;
        let _ = fs::remove_file(&tmp);
        return Err(changed_meanwhile(path));
    }
    let _ = fs::remove_file(&tmp);
    Ok(())
}

/// Removes `path` if it holds `expect`: moved aside first, checked, then deleted (or
/// put back when it is not what the plan saw).
fn remove_if(path: &Path, parent: &Path, expect: Option<&FileState>) -> Result<(), ApplyError> {
    let aside = temp_path(parent);
    match fs::rename(path, &aside) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && expect.is_none() => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(changed_meanwhile(path)),
        Err(e) => return Err(ApplyError::io(path, e)),
    }
    if disk_state(&aside)?.as_ref() != expect {
        rename_with(&aside, path, RenameFlags::NOREPLACE)
            .map_err(|e| ApplyError::io(path, e.into()))?;
        return Err(changed_meanwhile(path));
    }
    fs::remove_file(&aside).map_err(|e| ApplyError::io(&aside, e))?;
    Ok(())
}

fn rename_with(from: &Path, to: &Path, flags: RenameFlags) -> Result<(), rustix::io::Errno> {
    rustix::fs::renameat_with(rustix::fs::CWD, from, rustix::fs::CWD, to, flags)
}

fn changed_meanwhile(path: &Path) -> ApplyError {
    ApplyError::Unsafe(format!(
        "{} changed while kairos was writing it; the new content is kept as it is",
        path.display()
    ))
}

/// A fresh temporary name in `dir`, short whatever the file's name (`.kairos-PID-N.tmp`).
fn temp_path(dir: &Path) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    dir.join(format!("{TEMP_PREFIX}{}-{n}.tmp", std::process::id()))
}

/// Removes temporary files a killed kairos left in `dir` (not this process's own).
pub fn remove_stale_temps(dir: &Path) {
    let ours = format!("{TEMP_PREFIX}{}-", std::process::id());
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(TEMP_PREFIX) && name.ends_with(".tmp") && !name.starts_with(&ours) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// How kairos's temporary files start; one left by a killed daemon is removed when its
/// apply is settled.
pub const TEMP_PREFIX: &str = ".kairos-";

/// Writes every file of a plan: to its `after` state (`forward`) or back to `before`.
pub fn write_all(
    repo: &Repository,
    root: &Path,
    files: &[FileChange],
    forward: bool,
) -> Result<(), ApplyError> {
    let ends = |f: &FileChange| {
        if forward {
            (f.before.clone(), f.after.clone())
        } else {
            (f.after.clone(), f.before.clone())
        }
    };
    // Deletions first, emptied directories with them: a plan may delete `a/b` and
    // create a file `a`, which only fits once the directory `a` is gone.
    let (deletions, writes): (Vec<&FileChange>, Vec<&FileChange>) =
        files.iter().partition(|f| ends(f).1.is_none());
    let mut touched = std::collections::BTreeSet::new();
    for file in deletions.into_iter().chain(writes) {
        let (from, to) = ends(file);
        let full = safe_path(root, file.path.as_path())?;
        swap_in(repo, &full, from.as_ref(), to.as_ref())?;
        if to.is_none() {
            remove_empty_parents(root, &full);
        }
        touched.insert(full);
    }
    // One sync per directory rather than per file: each file's content was synced
    // before it was swapped in; this makes the renames durable.
    let dirs: std::collections::BTreeSet<&Path> =
        touched.iter().filter_map(|p| p.parent()).filter(|d| d.exists()).collect();
    for dir in dirs {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Removes the directories above `path` that are now empty, up to `root` (git keeps no
/// empty directories, and one could stand where the plan puts a file).
fn remove_empty_parents(root: &Path, path: &Path) {
    let mut dir = path.parent();
    while let Some(d) = dir.filter(|d| d.starts_with(root) && *d != root) {
        // Fails, and stops, at the first directory that still holds something.
        if fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
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
    match path.parent() {
        Some(parent) => sync_dir(parent),
        None => Ok(()),
    }
}

fn sync_dir(dir: &Path) -> Result<(), ApplyError> {
    let handle = fs::File::open(dir).map_err(|e| ApplyError::io(dir, e))?;
    handle.sync_all().map_err(|e| ApplyError::io(dir, e))
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
    fn a_write_happens_only_over_what_the_plan_saw() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let file = dir.path().join("a.txt");
        let blob = |text: &str| FileState {
            blob: repo.blob(text.as_bytes()).unwrap().to_string(),
            mode: MODE_FILE,
        };
        let no_temps = || {
            let left: Vec<_> = fs::read_dir(dir.path())
                .unwrap()
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(TEMP_PREFIX))
                .collect();
            assert!(left.is_empty(), "{left:?}");
        };
        fs::write(&file, "old\n").unwrap();

        // As planned: replaced.
        write_state(&repo, &file, Some(&blob("old\n")), Some(&blob("new\n"))).unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "new\n");
        // The user saved something else since the plan: swapped back, untouched.
        fs::write(&file, "the user's\n").unwrap();
        let err = write_state(&repo, &file, Some(&blob("new\n")), Some(&blob("x\n")));
        assert!(err.unwrap_err().to_string().contains("changed while"));
        assert_eq!(fs::read_to_string(&file).unwrap(), "the user's\n");
        // A creation where a file appeared, a deletion of a changed file: refused.
        assert!(write_state(&repo, &file, None, Some(&blob("x\n"))).is_err());
        assert!(write_state(&repo, &file, Some(&blob("new\n")), None).is_err());
        assert_eq!(fs::read_to_string(&file).unwrap(), "the user's\n");
        // Deleting what the plan saw works.
        write_state(&repo, &file, Some(&blob("the user's\n")), None).unwrap();
        assert!(!file.exists());
        no_temps();
    }

    #[test]
    fn a_file_can_take_the_place_of_a_directory_the_plan_empties() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let repo = Repository::init(root).unwrap();
        fs::create_dir_all(root.join("a")).unwrap();
        fs::write(root.join("a/b"), "inner\n").unwrap();
        let state = |text: &str| FileState {
            blob: repo.blob(text.as_bytes()).unwrap().to_string(),
            mode: MODE_FILE,
        };
        let files = vec![
            FileChange {
                path: crate::proposal::RepoPath::Text("a".into()),
                before: None,
                after: Some(state("a file\n")),
            },
            FileChange {
                path: crate::proposal::RepoPath::Text("a/b".into()),
                before: Some(state("inner\n")),
                after: None,
            },
        ];
        write_all(&repo, root, &files, true).unwrap();
        assert_eq!(fs::read_to_string(root.join("a")).unwrap(), "a file\n");
        // And back: the file goes, the directory and its file return.
        write_all(&repo, root, &files, false).unwrap();
        assert_eq!(fs::read_to_string(root.join("a/b")).unwrap(), "inner\n");
    }

    #[test]
    fn a_pipe_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success());
        let err = disk_state(&fifo).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }

    #[test]
    fn a_symlinked_parent_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/tmp", dir.path().join("out")).unwrap();
        let err = safe_path(dir.path(), Path::new("out/file")).unwrap_err();
        assert!(err.to_string().contains("symlink"), "{err}");
    }
}
