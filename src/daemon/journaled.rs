//! The journaled apply and undo: the plan is made durable before the first write, the
//! outcome is recorded after, and an operation that reports an error once its plan is
//! journaled is settled (finished or rolled back) before it is reported. Blocking.

use std::path::Path;

use chrono::Utc;

use super::core::Core;
use crate::apply::{self, ApplyError, Outcome, Settled, UndoOutcome, settle};
use crate::intake::{Cause, Direction, settlement};
use crate::proposal::{Actor, Proposal, State, Step, UndoRecord};
use crate::store::{Intent, LogEntry, LogKind};

/// Why an undo did not happen.
#[derive(Debug, thiserror::Error)]
pub enum UndoError {
    #[error("#{0} has no undo record")]
    NoRecord(u64),
    #[error("#{id} is {state}; only applied proposals can be undone")]
    NotApplied { id: u64, state: State },
    /// Undoing now would overwrite what the user did since, or the undo failed and was
    /// rolled back: nothing was written.
    #[error("{0}")]
    Refused(String),
}

/// Applies an approved proposal through the intent journal and records the outcome.
pub fn apply_approved(core: &Core, proposal: &mut Proposal, by: Actor) {
    let root = Path::new(&proposal.repo).to_owned();
    let id = proposal.id;
    // The approval is stored first; the journal's flush makes it durable with the plan.
    if let Err(e) = core.put_proposal(proposal) {
        tracing::error!("cannot record proposal #{id}: {e}");
    }
    let mut written = None;
    let result =
        apply::apply(&root, &proposal.change, &mut journal_for(core, id, true, &mut written));
    let (step, note, keep_intent) = match result {
        Ok(Outcome::Applied(record)) => {
            proposal.undo = Some(record);
            (Some(Step::Apply), None, false)
        }
        Ok(Outcome::Stale(why)) => (Some(Step::MarkStale), Some(why), false),
        Ok(Outcome::AlreadyDone(what)) => (Some(Step::FindDone), Some(what), false),
        Err(e) => match written {
            None => (Some(Step::Fail), Some(e.to_string()), false),
            Some(plan) => {
                let settled = settle(&root, &plan, true).map_err(|e| e.to_string());
                if settled == Ok(Settled::Completed) {
                    proposal.undo = Some(plan);
                }
                let by_user = by == Actor::User;
                let cause = Cause::Error(e.to_string());
                let s = settlement(Direction::Apply, &cause, settled, &proposal.action, by_user);
                (s.step, Some(s.note), s.keep_intent)
            }
        },
    };
    let who = if step == Some(Step::Apply) { by.clone() } else { Actor::Kairos };
    if let Some(step) = step
        && let Err(e) = proposal.advance(step, who, note.clone(), Utc::now())
    {
        tracing::error!("proposal #{id}: {e}");
    }
    finish(core, proposal, keep_intent);
    let message = match (&proposal.state, note) {
        (State::Applied, _) => format!("#{id} applied by {by}: {}", proposal.title),
        (state, Some(why)) => format!("#{id} {state}: {why}"),
        (state, None) => format!("#{id} {state}"),
    };
    let kind = if proposal.state == State::Failed { LogKind::Error } else { LogKind::Decision };
    core.log(LogEntry::new(kind, Some(&proposal.repo), message).task(&proposal.task).proposal(id));
}

/// Undoes an applied proposal through the intent journal; the error says why not.
pub fn undo_applied(core: &Core, proposal: &mut Proposal, by: Actor) -> Result<(), UndoError> {
    let Some(record) = proposal.undo.clone() else {
        return Err(UndoError::NoRecord(proposal.id));
    };
    if proposal.state != State::Applied {
        return Err(UndoError::NotApplied { id: proposal.id, state: proposal.state });
    }
    let root = Path::new(&proposal.repo).to_owned();
    let mut written = None;
    let result =
        apply::undo(&root, &record, &mut journal_for(core, proposal.id, false, &mut written));
    let mut keep_intent = false;
    let outcome = match result {
        Ok(UndoOutcome::Undone) => Ok(()),
        Ok(UndoOutcome::Refused(why)) => Err(UndoError::Refused(why)),
        Err(e) => match written {
            None => Err(UndoError::Refused(format!("undo failed: {e}"))),
            Some(plan) => {
                let settled = settle(&root, &plan, false).map_err(|e| e.to_string());
                let cause = Cause::Error(e.to_string());
                let s = settlement(Direction::Undo, &cause, settled, &proposal.action, true);
                keep_intent = s.keep_intent;
                if s.step == Some(Step::Undo) { Ok(()) } else { Err(UndoError::Refused(s.note)) }
            }
        },
    };
    if outcome.is_ok()
        && let Err(e) = proposal.advance(Step::Undo, by.clone(), None, Utc::now())
    {
        tracing::error!("proposal #{}: {e}", proposal.id);
    }
    finish(core, proposal, keep_intent);
    let message = match &outcome {
        Ok(()) => format!("#{} undone by {by}: {}", proposal.id, proposal.title),
        Err(why) => format!("#{} not undone: {why}", proposal.id),
    };
    core.log(
        LogEntry::new(LogKind::Decision, Some(&proposal.repo), message)
            .task(&proposal.task)
            .proposal(proposal.id),
    );
    outcome
}

/// A journal that durably records the plan before the first write, and remembers it.
fn journal_for<'a>(
    core: &'a Core,
    id: u64,
    forward: bool,
    written: &'a mut Option<UndoRecord>,
) -> impl FnMut(&UndoRecord) -> Result<(), ApplyError> + 'a {
    move |plan: &UndoRecord| {
        let intent = Intent { proposal: id, forward, plan: plan.clone(), started_at: Utc::now() };
        core.store.put_intent(&intent).map_err(|e| ApplyError::Journal(e.to_string()))?;
        core.store.flush_blocking().map_err(|e| ApplyError::Journal(e.to_string()))?;
        *written = Some(plan.clone());
        Ok(())
    }
}

/// Stores the proposal's new state, then clears its intent: in that order, so a crash
/// in between leaves an intent that recovery settles to the same state.
fn finish(core: &Core, proposal: &Proposal, keep_intent: bool) {
    let result = core
        .put_proposal(proposal)
        .and_then(|_| core.store.flush_blocking())
        .and_then(|_| if keep_intent { Ok(()) } else { core.store.clear_intent(proposal.id) })
        .and_then(|_| core.store.flush_blocking());
    if let Err(e) = result {
        tracing::error!("cannot record proposal #{}: {e}", proposal.id);
    }
}
