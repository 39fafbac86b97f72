//! `kairos restore`: bring files back from a snapshot, as an undoable apply that first
//! snapshots the current state.

use std::path::Path;

use git2::{Oid, Repository};

use super::files::{safe_path, store_raw, write_all};
use super::{ApplyError, Journal, Outcome};
use crate::proposal::{FileChange, FileState, RepoPath, UndoRecord};

pub fn apply(
    repo: &Repository,
    root: &Path,
    snapshot: &str,
    paths: &[RepoPath],
    journal: Journal,
) -> Result<Outcome, ApplyError> {
    let target = repo
        .revparse_single(snapshot)
        .and_then(|o| o.peel_to_commit())
        .map_err(|_| ApplyError::Unsafe(format!("no snapshot or commit named {snapshot:?}")))?;
    for p in paths {
        safe_path(root, p.as_path())?;
    }

    // Save what is there now, so the restore itself can be undone.
    let pre_snapshot = save_current_state(repo)?;
    let current_tree = repo.find_commit(pre_snapshot)?.tree()?;
    let target_tree = target.tree()?;

    let mut opts = git2::DiffOptions::new();
    for p in paths {
        opts.pathspec(p.as_path());
    }
    opts.disable_pathspec_match(true);
    // One delta for a file that became a symlink (or back), not a deletion plus an addition.
    opts.include_typechange(true);
    let diff = repo.diff_tree_to_tree(Some(&current_tree), Some(&target_tree), Some(&mut opts))?;

    let mut files = Vec::new();
    for delta in diff.deltas() {
        let Some(rel) = delta.new_file().path_bytes().or(delta.old_file().path_bytes()) else {
            continue;
        };
        let rel = RepoPath::from_bytes(rel);
        let full = safe_path(root, rel.as_path())?;
        let before = store_raw(repo, &full)?;
        let after = (!delta.new_file().id().is_zero()).then(|| FileState {
            blob: delta.new_file().id().to_string(),
            mode: u32::from(delta.new_file().mode()),
        });
        if before != after {
            files.push(FileChange { path: rel, before, after });
        }
    }
    let record = UndoRecord::Files { pre_snapshot: Some(pre_snapshot.to_string()), files };
    crate::git::keep_objects(repo, &record)?;
    journal(&record)?;
    let UndoRecord::Files { files, .. } = &record else { unreachable!("built above") };
    write_all(repo, root, files, true)?;
    Ok(Outcome::Applied(record))
}

/// Snapshots the working tree to the branch's snapshot ref and returns the commit that
/// holds the current state.
fn save_current_state(repo: &Repository) -> Result<Oid, ApplyError> {
    let max = crate::config::DEFAULT_MAX_FILE_SIZE;
    let Some(snapshot) = crate::git::take_snapshot(repo, max)? else {
        // Unchanged: the last snapshot (or HEAD) already holds the current state.
        let reference = crate::git::snapshot_ref(crate::git::current_branch(repo).as_deref());
        if let Ok(id) = repo.refname_to_id(&reference) {
            return Ok(id);
        }
        return Ok(repo.head()?.peel_to_commit()?.id());
    };
    let new_id = Oid::from_str(&snapshot.new)?;
    super::refs::make_room(repo, &snapshot.reference)?;
    let message = "kairos: snapshot before restore";
    match snapshot.old {
        Some(old) => {
            repo.reference_matching(
                &snapshot.reference,
                new_id,
                true,
                Oid::from_str(&old)?,
                message,
            )?;
        }
        None => {
            repo.reference(&snapshot.reference, new_id, false, message)?;
        }
    }
    Ok(new_id)
}
