//! Tasks: named jobs that inspect one repository and return drafts — changes and notices
//! alike, each with its provenance — for the intake and the policy to decide. A run gets
//! a `RunContext` (why it runs, its settings, where scratch copies go) and is blocking
//! work; the daemon runs it off the async threads, one run per repository at a time.
//! Tasks that change files compute in scratch space (`scratch`), never in the user's
//! working tree.

mod ask;
mod command;
mod commit_message;
mod context;
pub mod digest;
mod dream;
mod fast_forward;
mod fetch;
mod format;
mod lockfile;
mod maintenance;
mod model;
mod notices;
mod patch;
pub mod prompts;
mod prune_branches;
mod review;
pub mod scratch;
mod snapshot;
mod tick;
mod verify;

use std::path::Path;

pub use context::{Due, GitChange, Lent, RunContext, Trigger, file_kind};

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
    /// After a missed schedule: run once (true) or skip (false).
    pub catch_up_once: bool,
    /// Scheduled runs wait for the user to be idle this long (heavy tasks).
    pub when_idle: Option<&'static str>,
}

pub const SNAPSHOT: &str = "snapshot";
pub const PRUNE_BRANCHES: &str = "prune-branches";
pub const FORMAT: &str = "format";
pub const MAINTENANCE: &str = "maintenance";
pub const FETCH: &str = "fetch";
pub const FAST_FORWARD: &str = "fast-forward";
pub const STALE_BRANCHES: &str = "stale-branches";
pub const REMINDERS: &str = "reminders";
pub const LOCKFILE: &str = "lockfile";
pub const COMMIT_MESSAGE: &str = "commit-message";
pub const REVIEW: &str = "review";
pub const ASK: &str = "ask";
pub const TICK: &str = "tick";
pub const DIGEST: &str = "digest";
pub const DREAM: &str = "dream";

/// Every built-in task, in the order they are documented.
pub const BUILTIN: &[TaskInfo] = &[
    TaskInfo {
        name: SNAPSHOT,
        action: "git.snapshot",
        triggers: "file changes, after the repository has been quiet",
        default_quiet: "30s",
        default_schedule: None,
        catch_up_once: false,
        when_idle: None,
    },
    TaskInfo {
        name: PRUNE_BRANCHES,
        action: "git.branch.delete",
        triggers: "branch changes, idle, schedule",
        default_quiet: "2s",
        default_schedule: Some("@hourly"),
        catch_up_once: false,
        when_idle: None,
    },
    TaskInfo {
        name: FORMAT,
        action: "fs.patch",
        triggers: "file changes, after the repository has been quiet",
        default_quiet: "1m",
        default_schedule: None,
        catch_up_once: false,
        when_idle: None,
    },
    TaskInfo {
        name: MAINTENANCE,
        action: "git.maintenance.*",
        triggers: "schedule",
        default_quiet: "2s",
        default_schedule: Some("0 3 * * *"),
        catch_up_once: true,
        when_idle: Some("5m"),
    },
    TaskInfo {
        name: FETCH,
        action: "git.fetch",
        triggers: "schedule",
        default_quiet: "2s",
        default_schedule: Some("@hourly"),
        catch_up_once: true,
        when_idle: None,
    },
    TaskInfo {
        name: FAST_FORWARD,
        action: "git.branch.fast-forward, git.worktree.fast-forward",
        triggers: "branch changes (a fetch), schedule",
        default_quiet: "2s",
        default_schedule: Some("@hourly"),
        catch_up_once: false,
        when_idle: None,
    },
    TaskInfo {
        name: STALE_BRANCHES,
        action: "notice",
        triggers: "schedule",
        default_quiet: "2s",
        default_schedule: Some("0 9 * * 1"),
        catch_up_once: true,
        when_idle: None,
    },
    TaskInfo {
        name: REMINDERS,
        action: "notice",
        triggers: "schedule",
        default_quiet: "2s",
        default_schedule: Some("0 10,16 * * *"),
        catch_up_once: false,
        when_idle: None,
    },
    TaskInfo {
        name: COMMIT_MESSAGE,
        action: "git.commit",
        triggers: "staged changes, after the index has been quiet (with [llm] only)",
        default_quiet: "2m",
        default_schedule: None,
        catch_up_once: false,
        when_idle: None,
    },
    TaskInfo {
        name: REVIEW,
        action: "notice, fs.patch",
        triggers: "new commits of yours on the checked-out branch (with [llm] only)",
        default_quiet: "2s",
        default_schedule: None,
        catch_up_once: false,
        when_idle: None,
    },
    TaskInfo {
        name: ASK,
        action: "fs.patch, notice",
        triggers: "a `kairos:` comment you add, after the file has been quiet (with [llm] only)",
        default_quiet: "5s",
        default_schedule: None,
        catch_up_once: false,
        when_idle: None,
    },
    TaskInfo {
        name: TICK,
        action: "notice, fs.patch",
        triggers: "the repository quiet for `idle` after activity, at most every `min_interval` (with [llm] only)",
        default_quiet: "2s",
        default_schedule: None,
        catch_up_once: false,
        when_idle: None,
    },
    TaskInfo {
        name: DIGEST,
        action: "notice",
        triggers: "schedule",
        default_quiet: "2s",
        default_schedule: Some("0 18 * * *"),
        catch_up_once: true,
        when_idle: None,
    },
    TaskInfo {
        name: DREAM,
        action: "(the notes)",
        triggers: "schedule, once idle (with [llm] only)",
        default_quiet: "2s",
        default_schedule: Some("0 3 * * *"),
        catch_up_once: true,
        when_idle: Some("5m"),
    },
    TaskInfo {
        name: LOCKFILE,
        action: "deps.update",
        triggers: "schedule",
        default_quiet: "2s",
        default_schedule: Some("0 4 * * 1"),
        catch_up_once: true,
        when_idle: Some("5m"),
    },
];

pub fn info(name: &str) -> Option<&'static TaskInfo> {
    BUILTIN.iter().find(|t| t.name == name)
}

#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("unknown task {0:?}; `kairos status` lists the tasks of each repository")]
    Unknown(String),
    #[error("the repository cannot be read: {0}")]
    Git(#[from] git2::Error),
    #[error("{0}")]
    Scratch(#[from] scratch::ScratchError),
    #[error("{0}")]
    Command(String),
    /// Something else holds the repository (git's locks); try again later.
    #[error("busy: {0}; kairos tries again later")]
    Busy(String),
    #[error("{0}")]
    Model(#[from] crate::llm::LlmError),
    #[error("{0}")]
    Prompt(String),
}

/// The tasks that only a model can do: without `[llm]` they are not run at all (no
/// scan, no log line), and asking for one says what to configure.
pub fn needs_model(name: &str) -> bool {
    [COMMIT_MESSAGE, REVIEW, ASK, TICK, DREAM].contains(&name)
}

/// Runs task `name` on the repository at `root` for `trigger`; scratch copies go under
/// `scratch`. Everything a run produces — changes and notices alike — is a draft for the
/// policy to decide.
pub fn run(
    name: &str,
    root: &Path,
    settings: &TaskSettings,
    trigger: &Trigger,
    scratch: &Path,
    lent: Lent,
) -> Result<Vec<Draft>, TaskError> {
    let repo = crate::git::open(root)?;
    let Lent { model, memory, would_skip, rejected_kinds, seen_tree, progress } = lent;
    let ctx = RunContext {
        name,
        repo: &repo,
        root,
        settings,
        trigger,
        scratch,
        model,
        memory,
        would_skip,
        rejected_kinds,
        seen_tree,
        progress,
    };
    match (name, &settings.command) {
        (_, Some(spec)) => command::run(&ctx, spec),
        (SNAPSHOT, None) => Ok(snapshot::run(&ctx)?.into_iter().collect()),
        (PRUNE_BRANCHES, None) => Ok(prune_branches::run(&repo)?),
        (FORMAT, None) => format::run(&ctx),
        (MAINTENANCE, None) => maintenance::run(&repo),
        (FETCH, None) => fetch::run(&repo),
        (FAST_FORWARD, None) => fast_forward::run(&repo),
        (STALE_BRANCHES, None) => notices::stale_branches(&ctx),
        (REMINDERS, None) => notices::reminders(&ctx),
        (LOCKFILE, None) => lockfile::run(&ctx),
        (COMMIT_MESSAGE, None) => commit_message::run(&ctx),
        (REVIEW, None) => review::run(&ctx),
        (ASK, None) => ask::run(&ctx),
        (TICK, None) => tick::run(&ctx),
        (DIGEST, None) => digest::run(&ctx),
        (DREAM, None) => dream::run(&ctx),
        (other, None) => Err(TaskError::Unknown(other.to_owned())),
    }
}
