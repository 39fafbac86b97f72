//! Applying proposals and undoing them. Every apply checks its preconditions first (the
//! world must be as it was when the proposal was made, else the proposal is stale),
//! hands its plan to the caller's journal before writing anything, and returns the
//! record that undoes it. All functions here are blocking.

mod commit;
mod files;
mod leftovers;
mod maintenance;
mod patch;
mod recover;
mod refs;
mod refs_many;
mod restore;
mod worktree_ff;

use std::path::{Path, PathBuf};

pub use commit::staged_tree;
pub use files::{MODE_LINK, disk_state, safe_path};
pub use leftovers::{INDEX_COPY_PREFIX, clean_repository, release_locks};
pub use recover::{Settled, settle};

use crate::proposal::{Change, UndoRecord};

/// What happened when a proposal was applied.
#[derive(Debug)]
pub enum Outcome {
    Applied(UndoRecord),
    /// The world moved since the proposal was made; nothing was written.
    Stale(String),
    /// The result is already in place (the user made the change); nothing was written.
    AlreadyDone(String),
}

/// What happened when an undo was asked for.
#[derive(Debug)]
pub enum UndoOutcome {
    Undone,
    /// Undoing now would overwrite something the user did since; nothing was written.
    Refused(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("git: {}", describe_git(.0))]
    Git(#[from] git2::Error),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("refused: {0}")]
    Unsafe(String),
    #[error("could not record the intent: {0}")]
    Journal(String),
}

/// libgit2's message, with what to do when it is a lock someone else holds.
fn describe_git(e: &git2::Error) -> String {
    if e.code() == git2::ErrorCode::Locked {
        format!(
            "{}; another git process holds this lock (or was killed holding it): if no git \
             is running in the repository, remove the .lock file",
            e.message()
        )
    } else {
        e.message().to_owned()
    }
}

impl ApplyError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> ApplyError {
        ApplyError::Io { path: path.to_owned(), source }
    }
}

/// Called with the full plan (which is also the undo record) before anything is written,
/// so that a crash at any later moment can be settled on restart.
pub type Journal<'a> = &'a mut dyn FnMut(&UndoRecord) -> Result<(), ApplyError>;

/// Why the proposal could no longer be applied as made, or `None` if it still can.
pub fn stale_reason(root: &Path, change: &Change) -> Result<Option<String>, ApplyError> {
    let repo = crate::git::open(root)?;
    match change {
        Change::Snapshot { reference, old, .. } => refs::snapshot_stale(&repo, reference, old),
        Change::BranchDelete { branch, target, .. } => refs::branch_stale(&repo, branch, target),
        Change::Restore { .. } => Ok(None),
        Change::Patch { files } => patch::stale_reason(root, files),
        Change::Refs { updates } => Ok(refs_many::stale_reason(&repo, updates)),
        Change::WorktreeFastForward { branch, old, .. } => {
            worktree_ff::stale_reason(&repo, branch, old)
        }
        Change::Commit { branch, parent, tree, .. } => {
            commit::stale_reason(&repo, branch, parent, tree)
        }
        Change::Maintenance { .. } | Change::Notice { .. } => Ok(None),
    }
}

/// What shows that the change's result is already in place, or `None` if it is not.
pub fn already_done(root: &Path, change: &Change) -> Result<Option<String>, ApplyError> {
    match change {
        Change::Patch { files } => patch::already_done(root, files),
        Change::BranchDelete { branch, .. } => {
            let repo = crate::git::open(root)?;
            let gone = repo.find_branch(branch, git2::BranchType::Local).is_err();
            Ok(gone.then(|| format!("branch {branch} is deleted already")))
        }
        _ => Ok(None),
    }
}

/// Applies `change` to the repository at `root`.
pub fn apply(root: &Path, change: &Change, journal: Journal) -> Result<Outcome, ApplyError> {
    let repo = crate::git::open(root)?;
    if let Some(what) = already_done(root, change)? {
        return Ok(Outcome::AlreadyDone(what));
    }
    if let Some(why) = stale_reason(root, change)? {
        return Ok(Outcome::Stale(why));
    }
    match change {
        Change::Snapshot { reference, old, new, .. } => {
            refs::apply_snapshot(&repo, reference, old.as_deref(), new, journal)
        }
        Change::BranchDelete { branch, target, upstream } => {
            refs::delete_branch(&repo, branch, target, upstream.clone(), journal)
        }
        Change::Restore { snapshot, paths } => {
            restore::apply(&repo, root, snapshot, paths, journal)
        }
        Change::Patch { files } => patch::apply(&repo, root, files, journal),
        Change::Refs { updates } => refs_many::apply(&repo, updates, journal),
        Change::WorktreeFastForward { branch, old, new } => {
            worktree_ff::apply(&repo, branch, old, new, journal)
        }
        Change::Maintenance { task } => maintenance::apply(&repo, root, *task, journal),
        Change::Commit { branch, parent, tree, message } => {
            commit::apply(&repo, root, branch, parent, tree, message, journal)
        }
        Change::Notice { .. } => {
            let record = UndoRecord::Nothing { why: "a notice changes nothing".into() };
            journal(&record)?;
            Ok(Outcome::Applied(record))
        }
    }
}

/// Undoes an applied change from its record, refusing when the user changed things since.
pub fn undo(root: &Path, record: &UndoRecord, journal: Journal) -> Result<UndoOutcome, ApplyError> {
    let repo = crate::git::open(root)?;
    match record {
        UndoRecord::Reference { reference, old, new } => {
            refs::undo_reference(&repo, reference, old.as_deref(), new, record, journal)
        }
        UndoRecord::RecreateBranch { branch, target, config, .. } => {
            refs::recreate_branch(&repo, branch, target, config, record, journal)
        }
        UndoRecord::Files { files, .. } => files::undo(&repo, root, files, record, journal),
        UndoRecord::Refs { updates } => refs_many::undo(&repo, updates, record, journal),
        UndoRecord::WorktreeFastForward { branch, old, new } => {
            worktree_ff::undo(&repo, branch, old, new, record, journal)
        }
        UndoRecord::Commit { branch, parent, commit } => {
            commit::undo(&repo, branch, parent, commit, record, journal)
        }
        UndoRecord::Nothing { .. } => Ok(UndoOutcome::Undone),
        UndoRecord::Irreversible { why } => Ok(UndoOutcome::Refused(why.clone())),
    }
}
