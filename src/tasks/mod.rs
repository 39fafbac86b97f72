//! Tasks: named jobs that inspect one repository and return proposals. A run is
//! blocking git work; the daemon runs it in `spawn_blocking`, one run per repository
//! at a time.

mod prune_branches;
mod snapshot;

use std::path::Path;

use crate::config::TaskSettings;
use crate::proposal::Draft;

/// A built-in task and its defaults.
#[derive(Debug, Clone, Copy)]
pub struct TaskInfo {
    pub name: &'static str,
    pub action: &'static str,
    /// What makes it run besides its schedule.
    pub triggers: &'static str,
    pub default_quiet: &'static str,
    pub default_schedule: Option<&'static str>,
}

pub const SNAPSHOT: &str = "snapshot";
pub const PRUNE_BRANCHES: &str = "prune-branches";

/// Every built-in task, in the order they are documented.
pub const BUILTIN: &[TaskInfo] = &[
    TaskInfo {
        name: SNAPSHOT,
        action: "git.snapshot",
        triggers: "file changes, after the repository has been quiet",
        default_quiet: "30s",
        default_schedule: None,
    },
    TaskInfo {
        name: PRUNE_BRANCHES,
        action: "git.branch.delete",
        triggers: "branch changes, idle, schedule",
        default_quiet: "2s",
        default_schedule: Some("@hourly"),
    },
];

pub fn info(name: &str) -> Option<&'static TaskInfo> {
    BUILTIN.iter().find(|t| t.name == name)
}

#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("unknown task {0:?}; known tasks: snapshot, prune-branches")]
    Unknown(String),
    #[error("the repository cannot be read: {0}")]
    Git(#[from] git2::Error),
}

/// Runs task `name` on the repository at `root`.
pub fn run(name: &str, root: &Path, settings: &TaskSettings) -> Result<Vec<Draft>, TaskError> {
    let repo = crate::git::open(root)?;
    match name {
        SNAPSHOT => Ok(snapshot::run(&repo, settings)?.into_iter().collect()),
        PRUNE_BRANCHES => Ok(prune_branches::run(&repo)?),
        other => Err(TaskError::Unknown(other.to_owned())),
    }
}

/// Takes a snapshot now, whatever the quiet period (used before a restore).
pub fn snapshot_now(repo: &git2::Repository, why: &str) -> Result<Option<Draft>, git2::Error> {
    snapshot::draft(repo, why, crate::config::DEFAULT_MAX_FILE_SIZE)
}
