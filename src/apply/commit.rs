//! Committing the staged changes a proposal saw: exactly that tree, with that message, on
//! the checked-out branch, only while the branch and the index are as they were. The
//! commit object is made by `git commit-tree` (the user's identity, and their signing
//! settings); the branch then moves by one guarded ref update. Undo moves it back and
//! leaves the index and the working tree alone: the changes are staged again.

use std::path::Path;
use std::time::Duration;

use git2::Repository;

use super::refs::set_reference;
use super::{ApplyError, Journal, Outcome, UndoOutcome};
use crate::proposal::UndoRecord;

fn tip(repo: &Repository, branch: &str) -> Option<String> {
    repo.refname_to_id(&format!("refs/heads/{branch}")).ok().map(|o| o.to_string())
}

/// The tree the index holds now (as `git write-tree` would write it), or why it has none.
pub fn staged_tree(repo: &Repository) -> Result<Result<git2::Oid, String>, git2::Error> {
    let mut index = repo.index()?;
    index.read(true)?;
    if index.has_conflicts() {
        return Ok(Err("the index has unresolved conflicts".into()));
    }
    Ok(Ok(index.write_tree()?))
}

pub fn stale_reason(
    repo: &Repository,
    branch: &str,
    parent: &Option<String>,
    tree: &str,
) -> Result<Option<String>, ApplyError> {
    if crate::git::current_branch(repo).as_deref() != Some(branch) {
        return Ok(Some(format!("{branch} is no longer checked out")));
    }
    if tip(repo, branch) != *parent {
        return Ok(Some(format!("{branch} moved since the message was drafted")));
    }
    match staged_tree(repo)? {
        Err(why) => Ok(Some(why)),
        Ok(now) if now.to_string() != tree => {
            Ok(Some("the staged changes changed since the message was drafted".into()))
        }
        Ok(_) => Ok(None),
    }
}

pub fn apply(
    repo: &Repository,
    root: &Path,
    branch: &str,
    parent: &Option<String>,
    tree: &str,
    message: &str,
    journal: Journal,
) -> Result<Outcome, ApplyError> {
    let (subject, body) = message.split_once("\n\n").unwrap_or((message, ""));
    let mut args = vec!["commit-tree", tree];
    if let Some(parent) = parent {
        args.extend(["-p", parent]);
    }
    args.extend(["-m", subject.trim()]);
    if !body.trim().is_empty() {
        args.extend(["-m", body.trim()]);
    }
    let commit =
        crate::git::git(root, &args, Duration::from_secs(60)).map_err(ApplyError::Unsafe)?;
    let commit = commit.trim().to_owned();
    let record = UndoRecord::Commit {
        branch: branch.to_owned(),
        parent: parent.clone(),
        commit: commit.clone(),
    };
    journal(&record)?;
    let reflog = format!("commit (kairos): {}", subject.trim());
    let reference = format!("refs/heads/{branch}");
    if !set_reference(repo, &reference, parent.as_deref(), Some(&commit), &reflog)? {
        return Ok(Outcome::Stale(format!("{branch} moved while the commit was made")));
    }
    Ok(Outcome::Applied(record))
}

pub fn undo(
    repo: &Repository,
    branch: &str,
    parent: &Option<String>,
    commit: &str,
    record: &UndoRecord,
    journal: Journal,
) -> Result<UndoOutcome, ApplyError> {
    if tip(repo, branch).as_deref() != Some(commit) {
        return Ok(UndoOutcome::Refused(format!(
            "{branch} has moved on from the commit; undoing would lose what came after"
        )));
    }
    if crate::git::current_branch(repo).as_deref() != Some(branch) {
        return Ok(UndoOutcome::Refused(format!("check out {branch} first")));
    }
    journal(record)?;
    let reference = format!("refs/heads/{branch}");
    if set_reference(repo, &reference, Some(commit), parent.as_deref(), "kairos: undo commit")? {
        Ok(UndoOutcome::Undone)
    } else {
        Ok(UndoOutcome::Refused(format!("{branch} moved while undoing")))
    }
}

/// Whether an interrupted commit (or its undo) reached its end: the branch at the commit
/// (or back at the parent). The ref moves in one update, so there is nothing half done.
pub fn settle(
    repo: &Repository,
    branch: &str,
    parent: &Option<String>,
    commit: &str,
    forward: bool,
) -> bool {
    let now = tip(repo, branch);
    if forward { now.as_deref() == Some(commit) } else { now == *parent }
}
