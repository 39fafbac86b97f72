//! What a killed kairos leaves in a repository, cleared at the next start: the git lock
//! files its interrupted apply held (a `refs/heads/b.lock` makes git and libgit2 refuse
//! to touch `b` until it is gone), kairos's own locks and temporary index copies, and
//! libgit2's half-written objects.
//!
//! A lock is removed only when everything says it is ours and nobody holds it: it is one
//! the interrupted apply's plan could take, it appeared while that apply ran and before
//! this daemon started, and no process has it open. A lock held by the user's git is
//! never touched.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use git2::Repository;

use crate::proposal::UndoRecord;

/// File times are coarse on some file systems: a lock made just after the journal was
/// written may carry a time a little before it.
const CLOCK_SLACK: Duration = Duration::from_secs(2);

/// The lock files an apply or undo of `record` may take.
fn locks_of(repo: &Repository, record: &UndoRecord) -> Vec<PathBuf> {
    let common = repo.commondir().to_path_buf();
    let own = repo.path().to_path_buf();
    let lock = |dir: &Path, name: &str| dir.join(format!("{name}.lock"));
    let mut refs: Vec<String> = Vec::new();
    let mut extra = Vec::new();
    match record {
        UndoRecord::Reference { reference, .. } => refs.push(reference.clone()),
        UndoRecord::RecreateBranch { branch, .. } => {
            refs.push(format!("refs/heads/{branch}"));
            // Deleting a branch drops its config section; recreating it writes it back.
            extra.push(lock(&common, "config"));
        }
        UndoRecord::Refs { updates } => refs.extend(updates.iter().map(|u| u.name.clone())),
        UndoRecord::WorktreeFastForward { branch, .. } => {
            refs.push(format!("refs/heads/{branch}"));
            extra.push(lock(&own, "index"));
        }
        UndoRecord::Commit { branch, .. } => refs.push(format!("refs/heads/{branch}")),
        UndoRecord::Files { .. } | UndoRecord::Nothing { .. } | UndoRecord::Irreversible { .. } => {
            return Vec::new();
        }
    }
    let mut locks: Vec<PathBuf> = refs.iter().map(|r| lock(&common, r)).collect();
    // A ref that lives in packed-refs is deleted or updated by rewriting that file.
    locks.push(lock(&common, "packed-refs"));
    locks.extend(extra);
    locks
}

/// Removes the locks that an interrupted apply or undo of `record`, begun at
/// `started`, left behind; `before` is when this daemon started. Returns those removed.
pub fn release_locks(
    repo: &Repository,
    record: &UndoRecord,
    started: SystemTime,
    before: SystemTime,
) -> Vec<PathBuf> {
    let since = started.checked_sub(CLOCK_SLACK).unwrap_or(started);
    let open = open_files();
    locks_of(repo, record)
        .into_iter()
        .filter(|lock| made_between(lock, since, before) && !open.contains(lock))
        .filter(|lock| std::fs::remove_file(lock).is_ok())
        .collect()
}

/// Clears what a killed kairos may have left in the repository outside any plan: lock
/// files in its own ref namespace (nobody else writes `refs/kairos/`), its private index
/// copies, and the temporary objects of a snapshot cut off while writing. Only what is
/// older than `before` (this daemon's start) and open in no process. Returns how many
/// files were removed.
pub fn clean_repository(repo: &Repository, before: SystemTime) -> usize {
    let open = open_files();
    let stale =
        |path: &Path| made_between(path, SystemTime::UNIX_EPOCH, before) && !open.contains(path);
    let mut removed = 0;
    let mut remove = |path: PathBuf| {
        if stale(&path) && std::fs::remove_file(&path).is_ok() {
            tracing::info!("removed {}, left by an interrupted kairos", path.display());
            removed += 1;
        }
    };
    let mut dirs = vec![repo.commondir().join("refs/kairos")];
    while let Some(dir) = dirs.pop() {
        for entry in read_dir(&dir) {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => dirs.push(path),
                Ok(t) if t.is_file() && path.extension().is_some_and(|x| x == "lock") => {
                    remove(path)
                }
                _ => {}
            }
        }
    }
    let ours = format!("{INDEX_COPY_PREFIX}{}-", std::process::id());
    for entry in read_dir(repo.path()) {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(INDEX_COPY_PREFIX) && !name.starts_with(&ours) {
            remove(entry.path());
        }
    }
    // libgit2 writes a loose object under objects/ and renames it into its fan-out
    // directory; either may hold one cut off.
    let objects = repo.commondir().join("objects");
    let fanouts = read_dir(&objects).filter(|d| d.file_name().len() == 2).map(|d| d.path());
    for dir in std::iter::once(objects.clone()).chain(fanouts) {
        for entry in read_dir(&dir) {
            if entry.file_name().to_string_lossy().starts_with("tmp_object_git2_") {
                remove(entry.path());
            }
        }
    }
    removed
}

/// How kairos names its private copies of a repository's index (`<gitdir>/NAME-PID-N`).
pub const INDEX_COPY_PREFIX: &str = "kairos-index-";

fn read_dir(dir: &Path) -> impl Iterator<Item = std::fs::DirEntry> {
    std::fs::read_dir(dir).into_iter().flatten().flatten()
}

fn made_between(path: &Path, since: SystemTime, before: SystemTime) -> bool {
    std::fs::symlink_metadata(path)
        .and_then(|m| m.modified())
        .is_ok_and(|t| t >= since && t < before)
}

/// Every file some process of ours (or, as root, of anyone) has open now, read from
/// `/proc/*/fd`. A lock its owner still holds is open in the owner.
fn open_files() -> std::collections::HashSet<PathBuf> {
    let mut open = std::collections::HashSet::new();
    for process in read_dir(Path::new("/proc")) {
        if !process.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        for fd in read_dir(&process.path().join("fd")) {
            if let Ok(target) = std::fs::read_link(fd.path()) {
                open.insert(target);
            }
        }
    }
    open
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> (tempfile::TempDir, Repository) {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        (dir, repo)
    }

    fn delete_plan(branch: &str) -> UndoRecord {
        UndoRecord::RecreateBranch {
            branch: branch.into(),
            target: "0".repeat(40),
            upstream: None,
            config: vec![],
        }
    }

    #[test]
    fn only_the_plans_locks_made_while_it_ran_are_released() {
        let (_dir, repo) = repo();
        let heads = repo.path().join("refs/heads");
        std::fs::create_dir_all(heads.join("topic")).unwrap();
        let started = SystemTime::now();
        let ours = heads.join("topic/b.lock");
        let other = heads.join("unrelated.lock");
        let config = repo.path().join("config.lock");
        for lock in [&ours, &other, &config] {
            std::fs::write(lock, "").unwrap();
        }
        let after_start = SystemTime::now() + Duration::from_secs(1);
        let released = release_locks(&repo, &delete_plan("topic/b"), started, after_start);
        assert_eq!(released, [ours.clone(), config.clone()]);
        assert!(!ours.exists() && !config.exists());
        assert!(other.exists(), "a lock outside the plan was removed");

        // A lock from before the apply began is not the apply's.
        std::fs::write(&ours, "").unwrap();
        let later = SystemTime::now() + Duration::from_secs(60);
        assert!(release_locks(&repo, &delete_plan("topic/b"), later, later).is_empty());
        // Nor is one made after this daemon started.
        assert!(release_locks(&repo, &delete_plan("topic/b"), started, started).is_empty());
        assert!(ours.exists());
    }

    #[test]
    fn a_lock_someone_holds_open_is_left_alone() {
        let (_dir, repo) = repo();
        std::fs::create_dir_all(repo.path().join("refs/heads")).unwrap();
        let lock = repo.path().join("refs/heads/b.lock");
        let started = SystemTime::now();
        let held = std::fs::File::create(&lock).unwrap();
        let now = SystemTime::now() + Duration::from_secs(1);
        assert!(release_locks(&repo, &delete_plan("b"), started, now).is_empty());
        drop(held);
        assert_eq!(release_locks(&repo, &delete_plan("b"), started, now), [lock]);
    }

    #[test]
    fn kairos_leftovers_are_cleared_and_nothing_else() {
        let (_dir, repo) = repo();
        let keep = repo.path().join("refs/kairos/snapshots");
        std::fs::create_dir_all(&keep).unwrap();
        std::fs::create_dir_all(repo.path().join("objects/ab")).unwrap();
        std::fs::create_dir_all(repo.path().join("refs/heads")).unwrap();
        let leftovers = [
            keep.join("main.lock"),
            repo.path().join("kairos-index-1-0"),
            repo.path().join("objects/ab/tmp_object_git2_x1y2"),
            repo.path().join("objects/tmp_object_git2_z3"),
        ];
        let users = repo.path().join("refs/heads/main.lock");
        let mine = repo.path().join(format!("kairos-index-{}-7", std::process::id()));
        for f in leftovers.iter().chain([&users, &mine]) {
            std::fs::write(f, "").unwrap();
        }
        let now = SystemTime::now() + Duration::from_secs(1);
        assert_eq!(clean_repository(&repo, now), 4);
        assert!(leftovers.iter().all(|f| !f.exists()));
        assert!(users.exists(), "a lock in the user's refs is not kairos's to clear");
        assert!(mine.exists(), "this process's own index copy is in use");
    }
}
