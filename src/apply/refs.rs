//! Applies that move refs: snapshot refs and branch deletion, each a single atomic ref
//! update guarded by the value the ref had when the proposal was made.

use git2::{BranchType, Oid, Repository};

use super::{ApplyError, Journal, Outcome, UndoOutcome};
use crate::proposal::{UndoRecord, Upstream};

/// Every `branch.<name>.*` setting (upstream, rebase, pushRemote, description…).
fn branch_config(repo: &Repository, branch: &str) -> Result<Vec<(String, String)>, ApplyError> {
    let prefix = format!("branch.{branch}.");
    let config = repo.config()?.snapshot()?;
    let mut out = Vec::new();
    let mut entries = config.entries(None)?;
    while let Some(entry) = entries.next() {
        let entry = entry?;
        if let (Ok(name), Ok(value)) = (entry.name(), entry.value())
            && name.starts_with(&prefix)
            && entry.level() == git2::ConfigLevel::Local
        {
            out.push((name.to_owned(), value.to_owned()));
        }
    }
    Ok(out)
}

fn current(repo: &Repository, reference: &str) -> Option<String> {
    repo.refname_to_id(reference).ok().map(|o| o.to_string())
}

pub fn snapshot_stale(
    repo: &Repository,
    reference: &str,
    old: &Option<String>,
) -> Result<Option<String>, ApplyError> {
    let now = current(repo, reference);
    Ok((now != *old).then(|| format!("{reference} moved since the snapshot was taken")))
}

pub fn branch_stale(
    repo: &Repository,
    branch: &str,
    target: &str,
) -> Result<Option<String>, ApplyError> {
    let Ok(b) = repo.find_branch(branch, BranchType::Local) else {
        return Ok(Some(format!("branch {branch} no longer exists")));
    };
    let tip = b.get().target().map(|o| o.to_string());
    if tip.as_deref() != Some(target) {
        return Ok(Some(format!(
            "branch {branch} moved to {} since the proposal was made",
            tip.as_deref().map_or("nothing", |t| &t[..8])
        )));
    }
    if crate::git::checked_out_branches(repo).iter().any(|c| c == branch) {
        return Ok(Some(format!("branch {branch} is checked out now")));
    }
    Ok(None)
}

pub fn apply_snapshot(
    repo: &Repository,
    reference: &str,
    old: Option<&str>,
    new: &str,
    journal: Journal,
) -> Result<Outcome, ApplyError> {
    let record = UndoRecord::Reference {
        reference: reference.to_owned(),
        old: old.map(str::to_owned),
        new: new.to_owned(),
    };
    journal(&record)?;
    make_room(repo, reference)?;
    if !set_reference(repo, reference, old, Some(new), "kairos: snapshot")? {
        return Ok(Outcome::Stale(format!("{reference} moved while the snapshot was applied")));
    }
    Ok(Outcome::Applied(record))
}

/// Archives the snapshot chains of gone branches whose names clash with `reference`.
pub fn make_room(repo: &Repository, reference: &str) -> Result<(), ApplyError> {
    for moved in crate::git::archive_clashing(repo, reference)? {
        tracing::info!(
            "{moved} (a branch that no longer exists) stood in the way of {reference}; \
             moved to {}",
            crate::git::ARCHIVE
        );
    }
    Ok(())
}

/// Moves `reference` from `from` to `to` (absent when `None`) only if it is still at
/// `from`; returns false when it was not.
pub fn set_reference(
    repo: &Repository,
    reference: &str,
    from: Option<&str>,
    to: Option<&str>,
    message: &str,
) -> Result<bool, ApplyError> {
    if current(repo, reference).as_deref() != from {
        return Ok(false);
    }
    match (from, to) {
        (Some(from), Some(to)) => {
            let (from, to) = (Oid::from_str(from)?, Oid::from_str(to)?);
            match repo.reference_matching(reference, to, true, from, message) {
                Ok(_) => Ok(true),
                Err(e) if e.code() == git2::ErrorCode::Modified => Ok(false),
                Err(e) => Err(e.into()),
            }
        }
        (None, Some(to)) => match repo.reference(reference, Oid::from_str(to)?, false, message) {
            Ok(_) => Ok(true),
            Err(e) if e.code() == git2::ErrorCode::Exists => Ok(false),
            Err(e) => Err(e.into()),
        },
        (Some(_), None) => {
            repo.find_reference(reference)?.delete()?;
            Ok(true)
        }
        (None, None) => Ok(true),
    }
}

pub fn undo_reference(
    repo: &Repository,
    reference: &str,
    old: Option<&str>,
    new: &str,
    record: &UndoRecord,
    journal: Journal,
) -> Result<UndoOutcome, ApplyError> {
    if current(repo, reference).as_deref() != Some(new) {
        return Ok(UndoOutcome::Refused(format!(
            "{reference} has moved since; undoing would lose what came after"
        )));
    }
    journal(record)?;
    if set_reference(repo, reference, Some(new), old, "kairos: undo")? {
        Ok(UndoOutcome::Undone)
    } else {
        Ok(UndoOutcome::Refused(format!("{reference} moved while undoing")))
    }
}

pub fn delete_branch(
    repo: &Repository,
    branch: &str,
    target: &str,
    upstream: Option<Upstream>,
    journal: Journal,
) -> Result<Outcome, ApplyError> {
    let record = UndoRecord::RecreateBranch {
        branch: branch.to_owned(),
        target: target.to_owned(),
        upstream,
        config: branch_config(repo, branch)?,
    };
    journal(&record)?;
    let reference = format!("refs/heads/{branch}");
    let r = repo.find_reference(&reference)?;
    if r.target().map(|o| o.to_string()).as_deref() != Some(target) {
        return Ok(Outcome::Stale(format!("branch {branch} moved while it was being deleted")));
    }
    // Deleting through the branch API also removes its config section, as git does, and
    // refuses a branch checked out in any worktree (checked out since the proposal).
    git2::Branch::wrap(r).delete()?;
    Ok(Outcome::Applied(record))
}

pub fn recreate_branch(
    repo: &Repository,
    branch: &str,
    target: &str,
    config: &[(String, String)],
    record: &UndoRecord,
    journal: Journal,
) -> Result<UndoOutcome, ApplyError> {
    if let Ok(existing) = repo.find_branch(branch, BranchType::Local) {
        let tip = existing.get().target().map(|o| o.to_string());
        return Ok(UndoOutcome::Refused(format!(
            "a branch named {branch} exists again (at {}); delete or rename it first",
            tip.as_deref().map_or("nothing", |t| &t[..8])
        )));
    }
    let commit = repo
        .find_commit(Oid::from_str(target)?)
        .map_err(|_| ApplyError::Unsafe(format!("commit {target} is gone from the repository")))?;
    journal(record)?;
    // Configuration first: a crash before the ref exists leaves harmless settings, and
    // recovery (which looks at the ref) sees the undo as not done.
    let mut settings = repo.config()?;
    for (key, value) in config {
        settings.set_str(key, value)?;
    }
    repo.branch(branch, &commit, false)?;
    Ok(UndoOutcome::Undone)
}
