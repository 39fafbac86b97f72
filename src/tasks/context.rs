//! What a task run knows: why it runs (a typed trigger), its settings, the repository
//! and where scratch copies go. New capabilities (a model, its budget, memory) are new
//! fields here, not new parameters on every task.

use std::path::{Path, PathBuf};

use git2::Repository;

use crate::config::TaskSettings;
use crate::llm::Model;
pub use crate::watch::git::GitChange;

/// Why a task runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// The daemon started watching the repository.
    Start,
    /// Files the task watches changed, and the repository has been quiet for the task's
    /// `quiet` since. `paths` are the changed files (relative to the root), unless
    /// events were lost (`rescanned`): then anything may have changed.
    FilesQuiet {
        paths: Vec<PathBuf>,
        /// Directories whose whole content may have changed: a burst of more files
        /// than are kept one by one, collapsed to the directories they were in.
        dirs: Vec<PathBuf>,
        rescanned: bool,
    },
    Git(GitChange),
    /// The index changed, and has been quiet for the task's `quiet` since.
    Staged,
    /// A cron schedule came due: on time, caught up after downtime, or once the user had
    /// been idle long enough (`when_idle`).
    Schedule(Due),
    /// No file changed for the task's `idle`.
    Idle,
    /// The user asked: `kairos run`.
    Manual,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    OnTime,
    CatchUp,
    OnceIdle,
}

impl Trigger {
    /// A run the user asked for: it always runs, and retries what failed recently.
    pub fn asked_by_user(&self) -> bool {
        *self == Trigger::Manual
    }
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Trigger::Start => "start",
            Trigger::FilesQuiet { .. } => "quiet",
            Trigger::Git(GitChange::HeadMoved) => "git: HEAD moved",
            Trigger::Git(GitChange::RefsChanged) => "git: refs changed",
            Trigger::Staged => "index quiet",
            Trigger::Schedule(Due::OnTime) => "schedule",
            Trigger::Schedule(Due::CatchUp) => "catch-up",
            Trigger::Schedule(Due::OnceIdle) => "schedule, once idle",
            Trigger::Idle => "idle",
            Trigger::Manual => "kairos run",
        })
    }
}

/// What the daemon lends a run besides the repository: the model, the memory, and what
/// it knows of earlier proposals.
pub struct Lent<'a> {
    pub model: Option<&'a dyn Model>,
    pub memory: Option<&'a dyn crate::memory::RepoMemory>,
    pub would_skip: &'a dyn Fn(&str) -> bool,
    /// Kinds of file (`*.md`) the user keeps rejecting this task's changes to, here.
    pub rejected_kinds: &'a [String],
    /// The working tree as the last snapshot saw it, kept by the repository's actor.
    pub seen_tree: Option<&'a crate::git::SeenTree>,
    /// Told each step of a long run ("running `cargo test`"), for `kairos run`.
    pub progress: &'a dyn Fn(&str),
}

/// The kind of file a rejection teaches about: `*.EXT`, or the file's name when it has
/// no extension (`Makefile`).
pub fn file_kind(path: &Path) -> String {
    match path.extension().and_then(|e| e.to_str()) {
        Some(ext) => format!("*.{ext}"),
        None => path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
    }
}

/// Everything one run of a task is given.
pub struct RunContext<'a> {
    /// The task's name (a command task's is the user's).
    pub name: &'a str,
    pub repo: &'a Repository,
    /// The repository's working tree.
    pub root: &'a Path,
    pub settings: &'a TaskSettings,
    pub trigger: &'a Trigger,
    /// Where scratch copies are made.
    pub scratch: &'a Path,
    /// The model, when one is configured.
    pub model: Option<&'a dyn Model>,
    /// What kairos remembers of this repository.
    pub memory: Option<&'a dyn crate::memory::RepoMemory>,
    /// Whether a draft with this fingerprint would be dropped as a repeat (pending,
    /// decided, or failed lately): a task asks before it spends a model call on one.
    pub would_skip: &'a dyn Fn(&str) -> bool,
    /// Kinds of file (`*.md`) the user keeps rejecting this task's changes to, here.
    pub rejected_kinds: &'a [String],
    /// The working tree as the last snapshot saw it, kept by the repository's actor.
    pub seen_tree: Option<&'a crate::git::SeenTree>,
    pub progress: &'a dyn Fn(&str),
}

impl RunContext<'_> {
    /// Says what the run is doing now (shown by `kairos run` on a terminal, and logged
    /// at debug level).
    pub fn step(&self, doing: &str) {
        (self.progress)(doing)
    }

    /// Who asks the model, for its log line: this task, in this repository, and why.
    pub fn caller(&self) -> crate::llm::Caller {
        crate::llm::Caller {
            task: self.name.to_owned(),
            repo: self.memory.map(|m| m.repo_key()).unwrap_or_default(),
            why: self.trigger.to_string(),
        }
    }
}
