//! Scratch space: a private copy of the user's current state (HEAD plus uncommitted
//! changes: tracked files and untracked files git does not ignore), where tasks run
//! their tools. The user's working tree is only read. Afterwards the copy is compared
//! with what was copied, file by file, into the changes a proposal carries.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use git2::Repository;

use crate::apply::disk_state;
use crate::proposal::{FileChange, FileState, RepoPath};

/// Ignored directories that tools need to run (prettier from `node_modules`, a Python
/// virtualenv); they are linked into the scratch copy, not copied.
const LINKED_DIRS: &[&str] = &["node_modules", ".venv", "venv"];

pub struct Scratch {
    pub dir: PathBuf,
    baseline: BTreeMap<PathBuf, FileState>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScratchError {
    #[error("scratch copy: {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("scratch copy: {0}")]
    Git(#[from] git2::Error),
    #[error("scratch copy: {0}")]
    Apply(#[from] crate::apply::ApplyError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ScratchError + '_ {
    move |source| ScratchError::Io { path: path.to_owned(), source }
}

impl Scratch {
    /// Copies the repository's current state into a new directory under `base`.
    pub fn create(
        repo: &Repository,
        base: &Path,
        max_file_size: u64,
    ) -> Result<Scratch, ScratchError> {
        let root = crate::git::workdir(repo)?;
        fs::create_dir_all(base).map_err(io(base))?;
        let dir = unique_dir(base)?;
        let mut scratch = Scratch { dir, baseline: BTreeMap::new() };
        for rel in current_files(repo)? {
            let from = root.join(&rel);
            let Ok(meta) = fs::symlink_metadata(&from) else { continue };
            if meta.is_dir() || (meta.is_file() && meta.len() > max_file_size) {
                continue;
            }
            let to = scratch.dir.join(&rel);
            if let Some(parent) = to.parent() {
                fs::create_dir_all(parent).map_err(io(parent))?;
            }
            if meta.file_type().is_symlink() {
                let target = fs::read_link(&from).map_err(io(&from))?;
                // A link that leads out of the copy would let a tool write into the real
                // tree (or anywhere): such links are left out of the scratch copy.
                if !stays_inside(&rel, &target) {
                    continue;
                }
                std::os::unix::fs::symlink(target, &to).map_err(io(&to))?;
            } else {
                fs::copy(&from, &to).map_err(io(&from))?;
            }
            // The copy's own hash: exactly what the tool sees, so a user's edit racing
            // the copy shows up later as a stale precondition, never as a lost edit.
            if let Some(state) = disk_state(&to)? {
                scratch.baseline.insert(rel, state);
            }
        }
        for name in LINKED_DIRS {
            let real = root.join(name);
            if real.is_dir() && !scratch.dir.join(name).exists() {
                std::os::unix::fs::symlink(&real, scratch.dir.join(name)).map_err(io(&real))?;
            }
        }
        Ok(scratch)
    }

    /// How many files were copied.
    pub fn len(&self) -> usize {
        self.baseline.len()
    }

    pub fn is_empty(&self) -> bool {
        self.baseline.is_empty()
    }

    /// The files the tool created, changed, deleted or re-moded, with the new content
    /// stored as blobs in `repo`. New files git would ignore (caches) are left out.
    pub fn changes(&self, repo: &Repository) -> Result<Vec<FileChange>, ScratchError> {
        let mut seen = Vec::new();
        self.walk(&self.dir, &mut seen)?;
        let mut changes = Vec::new();
        for rel in &seen {
            let full = self.dir.join(rel);
            let Some(after) = disk_state(&full)? else { continue };
            let before = self.baseline.get(rel);
            if before == Some(&after) {
                continue;
            }
            if before.is_none() && repo.is_path_ignored(rel).unwrap_or(false) {
                continue;
            }
            store_blob(repo, &full, &after)?;
            changes.push(FileChange {
                path: RepoPath::from_path(rel),
                before: before.cloned(),
                after: Some(after),
            });
        }
        for (rel, before) in &self.baseline {
            if self.dir.join(rel).symlink_metadata().is_err() {
                changes.push(FileChange {
                    path: RepoPath::from_path(rel),
                    before: Some(before.clone()),
                    after: None,
                });
            }
        }
        changes.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(changes)
    }

    fn walk(&self, dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), ScratchError> {
        for entry in fs::read_dir(dir).map_err(io(dir))? {
            let entry = entry.map_err(io(dir))?;
            let path = entry.path();
            let rel = path.strip_prefix(&self.dir).expect("inside the scratch dir").to_owned();
            let kind = entry.file_type().map_err(io(&path))?;
            if dir == self.dir
                && (rel == Path::new(".git") || LINKED_DIRS.iter().any(|d| rel == Path::new(d)))
            {
                continue;
            }
            if kind.is_dir() {
                self.walk(&path, out)?;
            } else {
                out.push(rel);
            }
        }
        Ok(())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Whether a symlink at `rel` pointing to `target` resolves inside the copy.
fn stays_inside(rel: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut depth = rel.components().count() as i64 - 1;
    for component in target.components() {
        match component {
            std::path::Component::ParentDir => depth -= 1,
            std::path::Component::Normal(_) => depth += 1,
            std::path::Component::CurDir => {}
            _ => return false,
        }
        if depth < 0 {
            return false;
        }
    }
    true
}

/// Removes scratch copies a crash left behind.
pub fn clean_leftovers(base: &Path) {
    if let Ok(entries) = fs::read_dir(base) {
        for entry in entries.flatten() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

fn unique_dir(base: &Path) -> Result<PathBuf, ScratchError> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = base.join(format!("{}-{n}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir(&dir).map_err(io(&dir))?;
    Ok(dir)
}

/// Tracked files present in the index plus untracked files that are not ignored.
fn current_files(repo: &Repository) -> Result<Vec<PathBuf>, git2::Error> {
    let mut files: Vec<PathBuf> = Vec::new();
    let index = repo.index()?;
    for entry in index.iter() {
        // Gitlinks (submodules) are directories of their own repository.
        if entry.mode == 0o160000 {
            continue;
        }
        files.push(RepoPath::from_bytes(&entry.path).as_path().to_owned());
    }
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true).recurse_untracked_dirs(true).include_ignored(false);
    for status in repo.statuses(Some(&mut opts))?.iter() {
        if status.status().contains(git2::Status::WT_NEW) {
            files.push(RepoPath::from_bytes(status.path_bytes()).as_path().to_owned());
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

/// Writes the file's raw bytes (or a symlink's target) as a blob matching `state`.
fn store_blob(repo: &Repository, path: &Path, state: &FileState) -> Result<(), ScratchError> {
    let bytes = if state.mode == crate::apply::MODE_LINK {
        fs::read_link(path).map_err(io(path))?.into_os_string().into_encoded_bytes()
    } else {
        fs::read(path).map_err(io(path))?
    };
    repo.blob(&bytes)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_that_leave_the_copy_are_recognised() {
        assert!(stays_inside(Path::new("a/link"), Path::new("../b/file")));
        assert!(stays_inside(Path::new("link"), Path::new("src/lib.rs")));
        assert!(!stays_inside(Path::new("link"), Path::new("../outside")));
        assert!(!stays_inside(Path::new("a/link"), Path::new("../../outside")));
        assert!(!stays_inside(Path::new("link"), Path::new("/etc/passwd")));
    }
}
