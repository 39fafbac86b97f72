//! What a policy decides about: one proposal's action, where, and how big.

use serde::{Deserialize, Serialize};

use super::window::LocalTime;
use crate::action::Action;
use crate::proposal::Provenance;

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
