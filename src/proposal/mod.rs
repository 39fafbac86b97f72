//! Proposals: typed, replayable changes with their preconditions, and the pure rules
//! for how their state may move.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

mod actor;
mod change;
mod provenance;

pub use actor::Actor;
pub use change::{Change, FileChange, FileState, RefUpdate, RepoPath, UndoRecord, Upstream};
pub use provenance::{Origin, Provenance};

use crate::action::Action;
use crate::policy::Decision;

pub type ProposalId = u64;

/// Where a proposal is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Pending,
    Approved,
    Applied,
    Undone,
    Rejected,
    Stale,
    Expired,
    Failed,
    /// Its result was already in place (the user made the same change): nothing to do.
    Done,
    /// A notice told to the user (autonomy `notify`), never queued: kept so that it can
    /// be rejected as not worth telling, which teaches as any rejection does.
    Told,
}

impl State {
    pub const ALL: [State; 10] = [
        State::Pending,
        State::Approved,
        State::Applied,
        State::Undone,
        State::Rejected,
        State::Stale,
        State::Expired,
        State::Failed,
        State::Done,
        State::Told,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Approved => "approved",
            State::Applied => "applied",
            State::Undone => "undone",
            State::Rejected => "rejected",
            State::Stale => "stale",
            State::Expired => "expired",
            State::Failed => "failed",
            State::Done => "done",
            State::Told => "told",
        }
    }

    /// Whether a new proposal with the same fingerprint must not be created while one
    /// in this state exists: the user still has to decide, or has decided against it.
    pub fn blocks_repeat(self) -> bool {
        matches!(
            self,
            State::Pending | State::Approved | State::Rejected | State::Undone | State::Told
        )
    }

    /// The state after `step`, or why the step is not allowed from here.
    pub fn after(self, step: Step) -> Result<State, InvalidStep> {
        use State::*;
        let next = match (self, step) {
            (Pending, Step::Approve) => Approved,
            (Pending, Step::Reject) => Rejected,
            (Pending | Approved, Step::MarkStale) => Stale,
            (Pending, Step::Expire) => Expired,
            (Pending | Approved, Step::FindDone) => Done,
            (Approved, Step::Apply) => Applied,
            // An apply that failed and could not be rolled back, found complete when it
            // was settled at the next start: it is applied, and can be undone.
            (Failed, Step::Apply) => Applied,
            (Approved, Step::Fail) => Failed,
            // An apply interrupted by a crash is rolled back and waits for the user again.
            (Approved, Step::Interrupt) => Pending,
            (Applied, Step::Undo) => Undone,
            (Pending, Step::Tell) => Told,
            (Told, Step::Reject) => Rejected,
            _ => return Err(InvalidStep { from: self, step }),
        };
        Ok(next)
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What can happen to a proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Approve,
    Reject,
    Apply,
    Fail,
    MarkStale,
    Expire,
    Interrupt,
    Undo,
    FindDone,
    Tell,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a proposal that is {from} cannot be {}", step_past(*.step))]
pub struct InvalidStep {
    pub from: State,
    pub step: Step,
}

fn step_past(step: Step) -> &'static str {
    match step {
        Step::Approve => "approved",
        Step::Reject => "rejected",
        Step::Apply => "applied",
        Step::Fail => "marked failed",
        Step::MarkStale => "marked stale",
        Step::Expire => "expired",
        Step::Interrupt => "interrupted",
        Step::Undo => "undone",
        Step::FindDone => "found done",
        Step::Tell => "told",
    }
}

/// One entry in a proposal's history: a state it reached, when, and who moved it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: DateTime<Utc>,
    pub state: State,
    pub by: Actor,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A proposed (or applied) change, as stored and as shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    pub id: ProposalId,
    pub repo: String,
    pub task: String,
    pub action: Action,
    pub title: String,
    pub why: String,
    pub state: State,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub fingerprint: String,
    pub change: Change,
    /// The branch checked out when it was proposed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Lines added plus removed, for file changes.
    #[serde(default)]
    pub changed_lines: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undo: Option<UndoRecord>,
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
    /// Where it came from (stores of kairos 0.1.0 hold only built-in proposals).
    #[serde(default)]
    pub provenance: Provenance,
}

/// How long a proposal whose apply failed keeps its change from being proposed again:
/// what made it fail (a lock, a permission) rarely passes within seconds, and proposing
/// it at every run would make a loop of failures.
pub const RETRY_FAILED_AFTER: chrono::TimeDelta = chrono::TimeDelta::hours(1);

impl Proposal {
    /// Whether a new proposal with the same fingerprint must not be made now: the user
    /// has it to decide or has decided against it, or it failed a short while ago.
    pub fn blocks_repeat(&self, now: DateTime<Utc>) -> bool {
        self.state.blocks_repeat()
            || (self.state == State::Failed && now - self.updated_at < RETRY_FAILED_AFTER)
    }

    /// The proposal `draft` becomes in `repo` (on `branch`), pending and not yet decided;
    /// its id is given when it is stored.
    pub fn from_draft(
        draft: Draft,
        repo: &str,
        task: &str,
        branch: Option<String>,
        now: DateTime<Utc>,
    ) -> Proposal {
        Proposal {
            id: 0,
            repo: repo.to_owned(),
            task: task.to_owned(),
            action: draft.action,
            title: draft.title,
            why: draft.why,
            state: State::Pending,
            created_at: now,
            updated_at: now,
            fingerprint: draft.fingerprint,
            change: draft.change,
            branch,
            changed_lines: draft.changed_lines,
            decision: None,
            undo: None,
            provenance: draft.provenance,
            history: vec![HistoryEntry {
                at: now,
                state: State::Pending,
                by: Actor::task(task),
                note: None,
            }],
        }
    }

    /// Whether the approval being carried out is the user's own.
    pub fn approved_by_user(&self) -> bool {
        self.history
            .iter()
            .rev()
            .find(|h| h.state == State::Approved)
            .is_some_and(|h| h.by == Actor::User)
    }

    /// Moves the proposal by `step`, recording who did it and why.
    pub fn advance(
        &mut self,
        step: Step,
        by: Actor,
        note: Option<String>,
        at: DateTime<Utc>,
    ) -> Result<(), InvalidStep> {
        self.state = self.state.after(step)?;
        self.updated_at = at;
        self.history.push(HistoryEntry { at, state: self.state, by, note });
        Ok(())
    }
}

/// What a task returns: a proposal before it has an id, a state and a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub action: Action,
    /// Lines added plus removed (file changes), for policies with `max_changed_lines`.
    pub changed_lines: u64,
    pub title: String,
    pub why: String,
    pub fingerprint: String,
    pub change: Change,
    pub provenance: Provenance,
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_STATES: [State; 10] = State::ALL;
    const ALL_STEPS: [Step; 10] = [
        Step::Tell,
        Step::FindDone,
        Step::Approve,
        Step::Reject,
        Step::Apply,
        Step::Fail,
        Step::MarkStale,
        Step::Expire,
        Step::Interrupt,
        Step::Undo,
    ];

    #[test]
    fn a_told_notice_can_only_be_rejected() {
        let told = State::Pending.after(Step::Tell).unwrap();
        for step in ALL_STEPS {
            assert_eq!(told.after(step).is_ok(), step == Step::Reject, "{step:?}");
        }
        assert!(told.blocks_repeat(), "a told notice is told once");
    }

    #[test]
    fn the_happy_path_reaches_undone() {
        let s = State::Pending.after(Step::Approve).unwrap();
        let s = s.after(Step::Apply).unwrap();
        assert_eq!(s.after(Step::Undo).unwrap(), State::Undone);
    }

    #[test]
    fn final_states_accept_no_step() {
        for state in [State::Undone, State::Rejected, State::Stale, State::Expired, State::Done] {
            for step in ALL_STEPS {
                assert!(state.after(step).is_err(), "{state} accepted {step:?}");
            }
        }
        // A failed apply only becomes applied, when recovery finds it had completed.
        for step in ALL_STEPS {
            assert_eq!(State::Failed.after(step).is_ok(), step == Step::Apply, "{step:?}");
        }
    }

    #[test]
    fn only_applied_proposals_can_be_undone() {
        for state in ALL_STATES {
            assert_eq!(state.after(Step::Undo).is_ok(), state == State::Applied);
        }
    }

    #[test]
    fn nothing_is_applied_without_approval_first() {
        for state in ALL_STATES {
            let approved_once = matches!(state, State::Approved | State::Failed);
            assert_eq!(state.after(Step::Apply).is_ok(), approved_once, "{state}");
        }
    }

    #[test]
    fn only_what_waits_or_is_about_to_be_applied_can_be_found_done() {
        for state in ALL_STATES {
            let open = matches!(state, State::Pending | State::Approved);
            assert_eq!(state.after(Step::FindDone).is_ok(), open, "{state}");
        }
    }

    #[test]
    fn the_error_reads_as_a_sentence() {
        let err = State::Rejected.after(Step::Approve).unwrap_err();
        assert_eq!(err.to_string(), "a proposal that is rejected cannot be approved");
    }

    fn proposal(state: State, at: DateTime<Utc>) -> Proposal {
        Proposal {
            id: 1,
            repo: "/r".into(),
            task: "prune-branches".into(),
            action: Action::BranchDelete,
            title: "t".into(),
            why: "w".into(),
            state,
            created_at: at,
            updated_at: at,
            fingerprint: "f".into(),
            change: Change::Restore { snapshot: "x".into(), paths: vec![] },
            decision: None,
            branch: None,
            changed_lines: 0,
            undo: None,
            history: vec![],
            provenance: Provenance::BUILTIN,
        }
    }

    #[test]
    fn a_failed_change_waits_an_hour_before_it_is_proposed_again() {
        let now = Utc::now();
        let failed = proposal(State::Failed, now - chrono::TimeDelta::minutes(5));
        assert!(failed.blocks_repeat(now));
        assert!(!failed.blocks_repeat(now + RETRY_FAILED_AFTER));
        for state in ALL_STATES {
            let long_ago = proposal(state, now - chrono::TimeDelta::days(30));
            assert_eq!(long_ago.blocks_repeat(now), state.blocks_repeat(), "{state}");
        }
    }

    #[test]
    fn advance_records_history() {
        let now = Utc::now();
        let mut p = proposal(State::Pending, now);
        p.advance(Step::Reject, Actor::User, Some("not now".into()), now).unwrap();
        assert_eq!(p.state, State::Rejected);
        assert_eq!(p.history.len(), 1);
        assert_eq!(p.history[0].by, Actor::User);
        assert!(p.advance(Step::Approve, Actor::User, None, now).is_err());
        assert_eq!(p.history.len(), 1);
    }
}
