//! What the daemon does on start before anything else: settle every apply or undo that
//! a crash interrupted, and note task runs that never finished.

use std::path::Path;

use chrono::Utc;

use super::core::Core;
use crate::apply::{Settled, settle};
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
        let what = if intent.forward { "apply" } else { "undo" };
        release_locks(core, &root, &intent, proposal.id);
        let message = match settle(&root, &intent.plan, intent.forward) {
            Ok(Settled::Completed) => {
                let step = if intent.forward { Step::Apply } else { Step::Undo };
                if intent.forward {
                    proposal.undo = Some(intent.plan.clone());
                    // Stores from before the approval was saved first hold it as pending.
                    if proposal.state == State::Pending {
                        let _ = proposal.advance(Step::Approve, Actor::User, None, Utc::now());
                    }
                }
                let _ = proposal.advance(
                    step,
                    Actor::Recovery,
                    Some(format!("the {what} had completed before a crash")),
                    Utc::now(),
                );
                format!(
                    "#{}: interrupted {what} had completed; recorded as {}",
                    proposal.id, proposal.state
                )
            }
            Ok(Settled::RolledBack) => {
                if intent.forward && proposal.state == State::Approved {
                    let note = format!("the {what} was interrupted by a crash and rolled back");
                    let (step, note) = interrupted(&proposal, note);
                    let _ = proposal.advance(step, Actor::Recovery, Some(note), Utc::now());
                }
                format!(
                    "#{}: interrupted {what} rolled back; nothing half-done remains",
                    proposal.id
                )
            }
            Err(e) => format!(
                "#{}: cannot settle the interrupted {what}: {e}; left in the journal",
                proposal.id
            ),
        };
        let settled = !message.contains("left in the journal");
        if settled {
            let _ = core.store.put_proposal(&proposal);
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
        let (step, note) = interrupted(&proposal, "interrupted before anything was written".into());
        if proposal.advance(step, Actor::Recovery, Some(note.clone()), Utc::now()).is_ok() {
            let _ = core.store.put_proposal(&proposal);
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

/// What an approved proposal whose apply a crash cut off (and rolled back) becomes. A
/// queue proposal the user approved waits for them again. A restore the user ran is not
/// a queue item: it fails, and says to run it again. Automatic work fails and its task
/// does it anew.
fn interrupted(proposal: &crate::proposal::Proposal, note: String) -> (Step, String) {
    let user_decided = proposal.history.last().is_some_and(|h| h.by == Actor::User);
    if proposal.task == "restore" {
        (Step::Fail, format!("{note}; run `kairos restore` again"))
    } else if user_decided {
        (Step::Interrupt, note)
    } else {
        (Step::Fail, note)
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
