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
    repo.checkout_tree(target.as_object(), Some(CheckoutBuilder::new().safe()))?;
    repo.reference_matching(
        &format!("refs/heads/{branch}"),
        target.id(),
        true,
        Oid::from_str(from)?,
        "kairos: fast-forward",
    )?;
    Ok(())
}

/// Settles an interrupted move: the ref at its target means done; otherwise the working
/// tree (clean before, so nothing of the user's) is checked out from HEAD again.
pub fn settle(repo: &Repository, branch: &str, target: &str) -> Result<bool, ApplyError> {
    let tip = repo.refname_to_id(&format!("refs/heads/{branch}")).ok().map(|o| o.to_string());
    if tip.as_deref() == Some(target) {
        return Ok(true);
    }
    repo.checkout_head(Some(CheckoutBuilder::new().force()))?;
    Ok(false)
}
