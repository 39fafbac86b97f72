//! Log entries: events, task runs, decisions and daemon notes, as `kairos log` shows them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::proposal::ProposalId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum LogKind {
    /// Something observed: files changed, a branch moved, a schedule fired.
    Event,
    /// A task ran, with its result.
    Run,
    /// A proposal was decided, applied, rejected, undone…, and by whom.
    Decision,
    /// The daemon started, stopped, reloaded its config, lost a repository.
    Daemon,
    /// Something went wrong and was reported.
    Error,
}

impl LogKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LogKind::Event => "event",
            LogKind::Run => "run",
            LogKind::Decision => "decision",
            LogKind::Daemon => "daemon",
            LogKind::Error => "error",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub kind: LogKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposal: Option<ProposalId>,
    pub message: String,
    /// For file changes: the paths (relative to the repository), the first
    /// `MAX_LOGGED_PATHS` of them; the message says how many there were.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
}

/// The event logged when a repository goes quiet: kairos's bookkeeping, not news.
pub const IDLE_EVENT: &str = "idle: no file changes for a while";

/// How many changed paths one log entry keeps.
pub const MAX_LOGGED_PATHS: usize = 100;

impl LogEntry {
    /// Whether the entry is news about the repository or its user — a change seen, a
    /// decision, a failure — rather than kairos's own bookkeeping: a run that found
    /// nothing, a schedule firing, a note remembered. The model tasks look at news only,
    /// so their own runs never make them run again.
    pub fn is_news(&self) -> bool {
        match self.kind {
            LogKind::Event => {
                !self.message.starts_with("schedule fired")
                    && !self.message.starts_with("remembered")
                    && !self.message.starts_with(IDLE_EVENT)
            }
            LogKind::Decision | LogKind::Error => true,
            LogKind::Run => self.message.contains("failed"),
            LogKind::Daemon => false,
        }
    }

    pub fn new(kind: LogKind, repo: Option<&str>, message: impl Into<String>) -> LogEntry {
        LogEntry {
            seq: 0,
            at: Utc::now(),
            kind,
            repo: repo.map(str::to_owned),
            task: None,
            proposal: None,
            message: message.into(),
            paths: vec![],
        }
    }

    pub fn paths(mut self, paths: &[std::path::PathBuf]) -> LogEntry {
        self.paths =
            paths.iter().take(MAX_LOGGED_PATHS).map(|p| p.to_string_lossy().into_owned()).collect();
        self
    }

    pub fn task(mut self, task: &str) -> LogEntry {
        self.task = Some(task.to_owned());
        self
    }

    pub fn proposal(mut self, id: ProposalId) -> LogEntry {
        self.proposal = Some(id);
        self
    }
}

/// Which entries `kairos log` shows (`--repo`, `--task`, `--kind`, `--since`); empty
/// shows all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogFilter {
    /// The repository's root, as the entries name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// Any of these kinds (none: every kind).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<LogKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
}

impl LogFilter {
    pub fn is_empty(&self) -> bool {
        *self == LogFilter::default()
    }

    pub fn matches(&self, entry: &LogEntry) -> bool {
        self.repo.as_ref().is_none_or(|r| entry.repo.as_ref() == Some(r))
            && self.task.as_ref().is_none_or(|t| entry.task.as_ref() == Some(t))
            && (self.kinds.is_empty() || self.kinds.contains(&entry.kind))
            && self.since.is_none_or(|since| entry.at >= since)
    }
}
