//! What a policy decides about: one proposal's action, where, and how big.

use serde::{Deserialize, Serialize};

use super::window::LocalTime;
use crate::action::Action;
use crate::proposal::{Change, Proposal, Provenance};

/// The branch a change acts on, when it acts on one.
fn acted_on(change: &Change) -> Option<String> {
    match change {
        Change::BranchDelete { branch, .. } | Change::WorktreeFastForward { branch, .. } => {
            Some(branch.clone())
        }
        Change::Refs { updates } => {
            updates.iter().find_map(|u| u.name.strip_prefix("refs/heads/")).map(str::to_owned)
        }
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    pub action: Action,
    #[serde(default)]
    pub task: Option<String>,
    #[serde(default)]
    pub repo: Option<String>,
    #[serde(default)]
    pub branch: Option<String>,
    /// Every path the proposal touches, relative to the repository.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Lines added plus lines removed.
    #[serde(default)]
    pub lines: u64,
    /// Files touched (defaults to the number of `paths`).
    #[serde(default)]
    pub files: Option<u64>,
    /// "HH:MM" or "Mon HH:MM"; when the decision is made (examples only).
    #[serde(default)]
    pub at: Option<String>,
    /// Where the proposal came from; untrusted ones are capped at propose.
    #[serde(default)]
    pub provenance: Provenance,
}

impl Subject {
    /// What the policy decides about for proposal `p` — the one way the daemon, `kairos
    /// policy explain` and `simulate` build it. `branch` is the branch the action acts on
    /// for actions on a branch (deleting or fast-forwarding it), and the checked-out
    /// branch for everything else.
    pub fn of(p: &Proposal) -> Subject {
        let paths: Vec<String> = match &p.change {
            Change::Patch { files } => files.iter().map(|f| f.path.to_string()).collect(),
            Change::Restore { paths, .. } => paths.iter().map(|f| f.to_string()).collect(),
            _ => vec![],
        };
        let branch =
            if p.action.acts_on_a_branch() { acted_on(&p.change) } else { p.branch.clone() };
        Subject {
            task: Some(p.task.clone()),
            repo: Some(p.repo.clone()),
            branch,
            files: Some(paths.len() as u64),
            paths,
            lines: p.changed_lines,
            provenance: p.provenance.clone(),
            ..Subject::action(p.action.clone())
        }
    }

    pub fn action(action: impl Into<Action>) -> Subject {
        Subject {
            action: action.into(),
            task: None,
            repo: None,
            branch: None,
            paths: vec![],
            lines: 0,
            files: None,
            at: None,
            provenance: Provenance::BUILTIN,
        }
    }

    pub fn file_count(&self) -> u64 {
        self.files.unwrap_or(self.paths.len() as u64)
    }

    /// The moment an example names, or `default`.
    pub fn local_time(&self, default: LocalTime) -> LocalTime {
        let Some(text) = &self.at else { return default };
        let (day, clock) = match text.trim().split_once(' ') {
            Some((d, c)) => (Some(d), c),
            None => (None, text.as_str()),
        };
        let weekday =
            day.and_then(|d| d.parse::<chrono::Weekday>().ok()).unwrap_or(default.weekday);
        let minute = clock
            .split_once(':')
            .and_then(|(h, m)| Some(h.parse::<u32>().ok()? * 60 + m.parse::<u32>().ok()?))
            .unwrap_or(default.minute);
        LocalTime { weekday, minute }
    }
}
