//! Fast-forwarding the checked-out branch: the working tree moves with it, so the tree
//! must be clean (nothing of the user's can be overwritten), and the checkout happens
//! before the ref moves (a crash in between is rolled back by checking out HEAD again).

use git2::{Oid, Repository, build::CheckoutBuilder};

use super::{ApplyError, Journal, Outcome, UndoOutcome};
use crate::proposal::UndoRecord;

/// Why the checked-out branch cannot be fast-forwarded now, if it cannot.
pub fn stale_reason(
    repo: &Repository,
    branch: &str,
    at: &str,
) -> Result<Option<String>, ApplyError> {
    if crate::git::current_branch(repo).as_deref() != Some(branch) {
        return Ok(Some(format!("{branch} is no longer checked out")));
    }
    let tip = repo.refname_to_id(&format!("refs/heads/{branch}")).ok().map(|o| o.to_string());
    if tip.as_deref() != Some(at) {
        return Ok(Some(format!("{branch} moved since the proposal was made")));
    }
    dirty(repo)
}

/// Changed or staged files block a checkout (untracked files are only in the way if the
/// new commit adds the same path; the safe checkout refuses that case).
fn dirty(repo: &Repository) -> Result<Option<String>, ApplyError> {
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(false).include_ignored(false);
    let statuses = repo.statuses(Some(&mut opts))?;
    let changed: Vec<String> =
        statuses.iter().filter_map(|s| s.path().ok().map(str::to_owned)).take(5).collect();
    Ok((!changed.is_empty()).then(|| {
        format!("the working tree has changes ({}); commit or stash them first", changed.join(", "))
    }))
}

pub fn apply(
    repo: &Repository,
    branch: &str,
    old: &str,
    new: &str,
    journal: Journal,
) -> Result<Outcome, ApplyError> {
    let record =
        UndoRecord::WorktreeFastForward { branch: branch.into(), old: old.into(), new: new.into() };
    journal(&record)?;
    move_to(repo, branch, old, new)?;
    Ok(Outcome::Applied(record))
}

pub fn undo(
    repo: &Repository,
    branch: &str,
    old: &str,
    new: &str,
    record: &UndoRecord,
    journal: Journal,
) -> Result<UndoOutcome, ApplyError> {
    if let Some(why) = stale_reason(repo, branch, new)? {
        return Ok(UndoOutcome::Refused(why));
    }
    journal(record)?;
    move_to(repo, branch, new, old)?;
    Ok(UndoOutcome::Undone)
}

fn move_to(repo: &Repository, branch: &str, from: &str, to: &str) -> Result<(), ApplyError> {
    let target = repo.find_commit(Oid::from_str(to)?)?;
    // Safe: a conflict with the user's files stops the checkout before anything is
    // written. Ignored files count as the user's too (libgit2 would overwrite them).
    repo.checkout_tree(
        target.as_object(),
        Some(CheckoutBuilder::new().safe().overwrite_ignored(false)),
    )?;
    repo.reference_matching(
        &format!("refs/heads/{branch}"),
        target.id(),
        true,
        Oid::from_str(from)?,
        "kairos: fast-forward",
    )?;
    Ok(())
}

/// Settles an interrupted move: the ref at its target means done. Otherwise the files
/// the checkout already moved are put back — only those still exactly as the checkout
/// left them; anything else (the user's changes, untracked files in the way) is left
/// alone and named in the log.
pub fn settle(repo: &Repository, branch: &str, target: &str) -> Result<bool, ApplyError> {
    let tip = repo.refname_to_id(&format!("refs/heads/{branch}")).ok().map(|o| o.to_string());
    if tip.as_deref() == Some(target) {
        return Ok(true);
    }
    if crate::git::current_branch(repo).as_deref() != Some(branch) {
        // The user has switched branches since: the working tree is theirs now.
        tracing::warn!(
            "an interrupted fast-forward of {branch} is left as it is: another branch is checked out"
        );
        return Ok(false);
    }
    let (Some(tip), Some(root)) = (tip, repo.workdir().map(std::path::Path::to_path_buf)) else {
        return Ok(false);
    };
    let from = repo.find_commit(Oid::from_str(&tip)?)?;
    let to = repo.find_commit(Oid::from_str(target)?)?;
    let diff = repo.diff_tree_to_tree(Some(&from.tree()?), Some(&to.tree()?), None)?;
    let mut kept = Vec::new();
    for delta in diff.deltas() {
        let Some(rel) = delta.new_file().path().or(delta.old_file().path()) else { continue };
        let full = super::files::safe_path(&root, rel)?;
        let state = |f: git2::DiffFile| {
            (!f.id().is_zero()).then(|| crate::proposal::FileState {
                blob: f.id().to_string(),
                mode: u32::from(f.mode()),
            })
        };
        let (original, moved) = (state(delta.old_file()), state(delta.new_file()));
        let now = super::files::disk_state(&full)?;
        if now == moved && now != original {
            super::files::write_state(repo, &full, moved.as_ref(), original.as_ref())?;
        } else if now != original {
            kept.push(rel.display().to_string());
        }
    }
    // The index follows the branch's tip again (only the index: a reset would move
    // whatever branch HEAD names); the working tree keeps whatever the user changed.
    let mut index = repo.index()?;
    index.read_tree(&from.tree()?)?;
    index.write()?;
    if !kept.is_empty() {
        tracing::warn!(
            "an interrupted fast-forward of {branch} left these files as they are (changed since, \
             or not the checkout's): {}",
            kept.join(", ")
        );
    }
    Ok(false)
}
