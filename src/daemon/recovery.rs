//! What the daemon does on start before anything else: settle every apply or undo that
//! a crash interrupted, and note task runs that never finished.

use std::path::Path;

use chrono::Utc;

use super::core::Core;
use crate::apply::{Settled, settle};
use crate::intake::settle::interrupted;
use crate::intake::{Cause, Direction, settlement};
use crate::proposal::{Actor, State, Step};
use crate::store::{LogEntry, LogKind};

/// Settles interrupted applies and undos. Blocking.
pub fn settle_intents(core: &Core) {
    let intents = match core.store.intents() {
        Ok(i) => i,
        Err(e) => {
            core.log(LogEntry::new(
                LogKind::Error,
                None,
                format!("cannot read the intent journal: {e}"),
            ));
            return;
        }
    };
    for intent in intents {
        let Ok(Some(mut proposal)) = core.store.proposal(intent.proposal) else {
            let _ = core.store.clear_intent(intent.proposal);
            continue;
        };
        let root = Path::new(&proposal.repo).to_owned();
        let (direction, what) =
            if intent.forward { (Direction::Apply, "apply") } else { (Direction::Undo, "undo") };
        release_locks(core, &root, &intent, proposal.id);
        let settled = settle(&root, &intent.plan, intent.forward).map_err(|e| e.to_string());
        if intent.forward && settled == Ok(Settled::Completed) {
            proposal.undo = Some(intent.plan.clone());
            // Stores from before the approval was saved first hold it as pending.
            if proposal.state == State::Pending {
                let _ = proposal.advance(Step::Approve, Actor::User, None, Utc::now());
            }
        }
        let by_user = proposal.approved_by_user();
        let s = settlement(direction, &Cause::Crash, settled.clone(), &proposal.action, by_user);
        // A step that does not apply from the recorded state (an apply already recorded
        // as done, a failure already recorded) leaves the proposal as it is.
        if let Some(step) = s.step
            && proposal.state.after(step).is_ok()
        {
            let _ = proposal.advance(step, Actor::Recovery, Some(s.note.clone()), Utc::now());
        }
        let message = match settled {
            Ok(Settled::Completed) => format!(
                "#{}: interrupted {what} had completed; recorded as {}",
                proposal.id, proposal.state
            ),
            Ok(Settled::RolledBack) => {
                format!(
                    "#{}: interrupted {what} rolled back; nothing half-done remains",
                    proposal.id
                )
            }
            Err(_) => format!("#{}: {}", proposal.id, s.note),
        };
        if !s.keep_intent {
            let _ = core.put_proposal(&proposal);
            let _ = core.store.clear_intent(proposal.id);
        }
        core.log(
            LogEntry::new(LogKind::Daemon, Some(&proposal.repo), message).proposal(proposal.id),
        );
    }
    release_unjournaled_approvals(core);
    let _ = core.store.flush_blocking();
}

/// Releases the git locks the interrupted operation held (its plan names the refs it was
/// writing), so that settling it, the user's git and later applies are not refused.
fn release_locks(core: &Core, root: &Path, intent: &crate::store::Intent, id: u64) {
    let Ok(repo) = crate::git::open(root) else { return };
    let started = std::time::SystemTime::from(intent.started_at);
    let before = std::time::SystemTime::from(core.started_at);
    let released = crate::apply::release_locks(&repo, &intent.plan, started, before);
    if !released.is_empty() {
        let names: Vec<String> = released.iter().map(|p| p.display().to_string()).collect();
        core.log(
            LogEntry::new(
                LogKind::Daemon,
                Some(&root.to_string_lossy()),
                format!(
                    "#{id}: released the locks its interrupted apply held: {}",
                    names.join(", ")
                ),
            )
            .proposal(id),
        );
    }
}

/// An approval is saved just before its apply journals a plan; a crash in between
/// leaves an approved proposal with nothing written (every write follows the journal).
/// It goes back to the user (or, for automatic work, fails and is redone by its task).
fn release_unjournaled_approvals(core: &Core) {
    let Ok(approved) = core.store.proposals_in(State::Approved) else { return };
    let journaled: Vec<u64> =
        core.store.intents().unwrap_or_default().iter().map(|i| i.proposal).collect();
    for mut proposal in approved.into_iter().filter(|p| !journaled.contains(&p.id)) {
        let by_user = proposal.approved_by_user();
        let note = "interrupted before anything was written".to_owned();
        let s = interrupted(&proposal.action, by_user, note);
        let (Some(step), note) = (s.step, s.note) else { continue };
        if proposal.advance(step, Actor::Recovery, Some(note.clone()), Utc::now()).is_ok() {
            let _ = core.put_proposal(&proposal);
            core.log(
                LogEntry::new(
                    LogKind::Daemon,
                    Some(&proposal.repo),
                    format!("#{}: {note}", proposal.id),
                )
                .proposal(proposal.id),
            );
        }
    }
}

/// Logs task runs that were in progress when the daemon stopped, and closes them.
pub fn note_interrupted_runs(core: &Core) {
    let Ok(marks) = core.store.run_marks() else {
        return;
    };
    for mut mark in marks {
        if mark.finished_at.is_none() {
            core.log(
                LogEntry::new(
                    LogKind::Daemon,
                    Some(&mark.repo),
                    format!("the {} run started at {} was interrupted", mark.task, mark.started_at),
                )
                .task(&mark.task),
            );
            mark.finished_at = Some(Utc::now());
            mark.result = Some("interrupted".into());
            let _ = core.store.put_run_mark(&mark);
        }
    }
}
