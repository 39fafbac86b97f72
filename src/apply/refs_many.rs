//! Applies that move several refs at once (a fetch, a fast-forward): each ref must still
//! be where the proposal saw it, and a failure part-way puts back the ones already moved.

use git2::Repository;

use super::refs::set_reference;
use super::{ApplyError, Journal, Outcome, UndoOutcome};
use crate::proposal::{RefUpdate, UndoRecord};

fn current(repo: &Repository, name: &str) -> Option<String> {
    repo.refname_to_id(name).ok().map(|o| o.to_string())
}

/// A branch that is checked out must not move under its working tree as a bare ref
/// update (that is `git.worktree.fast-forward`'s job, with its checks).
fn checked_out(repo: &Repository, updates: &[RefUpdate]) -> Option<String> {
    let busy = crate::git::checked_out_branches(repo);
    updates
        .iter()
        .filter_map(|u| u.name.strip_prefix("refs/heads/"))
        .find(|b| busy.iter().any(|c| c == b))
        .map(|b| format!("{b} is checked out now; moving it would leave the working tree behind"))
}

pub fn stale_reason(repo: &Repository, updates: &[RefUpdate]) -> Option<String> {
    if let Some(why) = checked_out(repo, updates) {
        return Some(why);
    }
    let moved: Vec<&str> = updates
        .iter()
        .filter(|u| current(repo, &u.name) != u.old)
        .map(|u| u.name.as_str())
        .collect();
    (!moved.is_empty()).then(|| format!("moved since the proposal was made: {}", moved.join(", ")))
}

pub fn apply(
    repo: &Repository,
    updates: &[RefUpdate],
    journal: Journal,
) -> Result<Outcome, ApplyError> {
    let record = UndoRecord::Refs { updates: updates.to_vec() };
    journal(&record)?;
    if let Err(why) = move_all(repo, updates, true)? {
        return Ok(Outcome::Stale(why));
    }
    Ok(Outcome::Applied(record))
}

pub fn undo(
    repo: &Repository,
    updates: &[RefUpdate],
    record: &UndoRecord,
    journal: Journal,
) -> Result<UndoOutcome, ApplyError> {
    if let Some(why) = checked_out(repo, updates) {
        return Ok(UndoOutcome::Refused(why));
    }
    let moved: Vec<&str> = updates
        .iter()
        .filter(|u| current(repo, &u.name) != u.new)
        .map(|u| u.name.as_str())
        .collect();
    if !moved.is_empty() {
        return Ok(UndoOutcome::Refused(format!(
            "these refs moved since: {}; undoing would lose what came after",
            moved.join(", ")
        )));
    }
    journal(record)?;
    match move_all(repo, updates, false)? {
        Ok(()) => Ok(UndoOutcome::Undone),
        Err(why) => Ok(UndoOutcome::Refused(why)),
    }
}

/// Moves every ref (forward: old → new; back: new → old). If one has moved meanwhile,
/// the ones already moved are put back and the reason is returned.
fn move_all(
    repo: &Repository,
    updates: &[RefUpdate],
    forward: bool,
) -> Result<Result<(), String>, ApplyError> {
    let ends = |u: &RefUpdate| {
        if forward { (u.old.clone(), u.new.clone()) } else { (u.new.clone(), u.old.clone()) }
    };
    for (done, update) in updates.iter().enumerate() {
        let (from, to) = ends(update);
        if !set_reference(repo, &update.name, from.as_deref(), to.as_deref(), "kairos")? {
            for earlier in updates[..done].iter().rev() {
                let (from, to) = ends(earlier);
                set_reference(
                    repo,
                    &earlier.name,
                    to.as_deref(),
                    from.as_deref(),
                    "kairos: roll back",
                )?;
            }
            return Ok(Err(format!(
                "{} moved while it was being updated; nothing changed",
                update.name
            )));
        }
    }
    Ok(Ok(()))
}

/// Settles an interrupted move: all at their target means done; else the moved ones go back.
pub fn settle(repo: &Repository, updates: &[RefUpdate], forward: bool) -> Result<bool, ApplyError> {
    let ends = |u: &RefUpdate| {
        if forward { (u.old.clone(), u.new.clone()) } else { (u.new.clone(), u.old.clone()) }
    };
    if updates.iter().all(|u| current(repo, &u.name) == ends(u).1) {
        return Ok(true);
    }
    for update in updates {
        let (from, to) = ends(update);
        if current(repo, &update.name) == to {
            set_reference(repo, &update.name, to.as_deref(), from.as_deref(), "kairos: roll back")?;
        }
    }
    Ok(false)
}
