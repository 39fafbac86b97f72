//! Settling an apply or undo that a crash interrupted: each is either finished or
//! rolled back, never left half done.

use std::path::Path;

use super::ApplyError;
use super::files::{disk_state, safe_path, write_state};
use crate::proposal::UndoRecord;

/// How an interrupted operation was settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// The operation had completed; only its bookkeeping was missing.
    Completed,
    /// The operation had not completed; everything it touched is as it was before.
    RolledBack,
}

/// Settles an interrupted operation whose plan is `record`. `forward` tells whether it
/// was the apply (moving from the state before to the state after) or the undo.
pub fn settle(root: &Path, record: &UndoRecord, forward: bool) -> Result<Settled, ApplyError> {
    let repo = crate::git::open(root)?;
    match record {
        UndoRecord::Reference { reference, old, new } => {
            let now = repo.refname_to_id(reference).ok().map(|o| o.to_string());
            let done = if forward { now.as_ref() == Some(new) } else { now == *old };
            Ok(if done { Settled::Completed } else { Settled::RolledBack })
        }
        UndoRecord::RecreateBranch { branch, target, .. } => {
            let tip = repo
                .find_branch(branch, git2::BranchType::Local)
                .ok()
                .and_then(|b| b.get().target())
                .map(|o| o.to_string());
            // The apply deletes the branch; the undo recreates it at `target`.
            let done = if forward { tip.is_none() } else { tip.as_deref() == Some(target) };
            Ok(if done { Settled::Completed } else { Settled::RolledBack })
        }
        UndoRecord::Refs { updates } => {
            let done = super::refs_many::settle(&repo, updates, forward)?;
            Ok(if done { Settled::Completed } else { Settled::RolledBack })
        }
        UndoRecord::WorktreeFastForward { branch, old, new } => {
            let target = if forward { new } else { old };
            let done = super::worktree_ff::settle(&repo, branch, target)?;
            Ok(if done { Settled::Completed } else { Settled::RolledBack })
        }
        UndoRecord::Commit { branch, parent, commit } => {
            let done = super::commit::settle(&repo, branch, parent, commit, forward);
            Ok(if done { Settled::Completed } else { Settled::RolledBack })
        }
        // Storage maintenance either ran or did not; either way the contents are the same.
        UndoRecord::Nothing { .. } | UndoRecord::Irreversible { .. } => Ok(Settled::Completed),
        UndoRecord::Files { files, .. } => {
            let parents: std::collections::BTreeSet<std::path::PathBuf> = files
                .iter()
                .filter_map(|f| safe_path(root, f.path.as_path()).ok())
                .filter_map(|p| p.parent().map(std::path::Path::to_path_buf))
                .collect();
            for dir in parents {
                super::files::remove_stale_temps(&dir);
            }
            // (state it started from, state it was moving to)
            let ends = |f: &crate::proposal::FileChange| {
                if forward {
                    (f.before.clone(), f.after.clone())
                } else {
                    (f.after.clone(), f.before.clone())
                }
            };
            let mut all_done = true;
            for file in files {
                let full = safe_path(root, file.path.as_path())?;
                if disk_state(&full)? != ends(file).1 {
                    all_done = false;
                }
            }
            if all_done {
                return Ok(Settled::Completed);
            }
            for file in files {
                let full = safe_path(root, file.path.as_path())?;
                let (from, to) = ends(file);
                if disk_state(&full)? == to {
                    write_state(&repo, &full, to.as_ref(), from.as_ref())?;
                }
            }
            Ok(Settled::RolledBack)
        }
    }
}
