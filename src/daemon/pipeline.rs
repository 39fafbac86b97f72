//! From task output to decided proposals, and the journaled apply and undo. All blocking:
//! callers hold the repository's lock and run these in `spawn_blocking`.

use std::path::Path;

use chrono::Utc;

use super::core::Core;
use crate::apply::{self, ApplyError, Outcome, Settled, UndoOutcome, settle};
use crate::notifier::{Notice, NoticeKind};
use crate::policy::{self, Autonomy};
use crate::proposal::{Draft, Proposal, State, Step, UndoRecord};
use crate::store::{Intent, LogEntry, LogKind};

/// What became of a task's drafts.
#[derive(Debug, Default, Clone, Copy)]
pub struct Intake {
    pub queued: usize,
    pub applied: usize,
    pub skipped: usize,
}

/// Turns drafts into proposals, decides them by policy, and applies the automatic ones.
/// A draft whose fingerprint is pending, rejected or undone is dropped.
pub fn take_in(core: &Core, root: &Path, task: &str, drafts: Vec<Draft>) -> Result<Intake, String> {
    let repo = root.to_string_lossy().into_owned();
    let mut intake = Intake::default();
    for draft in drafts {
        let known =
            core.store.proposal_by_fingerprint(&draft.fingerprint).map_err(|e| e.to_string())?;
        if known.as_ref().is_some_and(|p| p.state.blocks_repeat()) {
            intake.skipped += 1;
            continue;
        }
        let now = Utc::now();
        let decision = policy::decide(&draft.action, now);
        match decision.autonomy {
            Autonomy::Off => {
                intake.skipped += 1;
                continue;
            }
            Autonomy::Observe => {
                core.log(
                    LogEntry::new(
                        LogKind::Decision,
                        Some(&repo),
                        format!("observed (not proposed): {}", draft.title),
                    )
                    .task(task),
                );
                intake.skipped += 1;
                continue;
            }
            _ => {}
        }
        let id = core.store.next_proposal_id().map_err(|e| e.to_string())?;
        let mut proposal = Proposal {
            id,
            repo: repo.clone(),
            task: task.to_owned(),
            action: draft.action,
            title: draft.title,
            why: draft.why,
            state: State::Pending,
            created_at: now,
            updated_at: now,
            fingerprint: draft.fingerprint,
            change: draft.change,
            decision: Some(decision.clone()),
            undo: None,
            history: vec![crate::proposal::HistoryEntry {
                at: now,
                state: State::Pending,
                by: task.to_owned(),
                note: None,
            }],
        };
        core.store.put_proposal(&proposal).map_err(|e| e.to_string())?;
        if decision.autonomy == Autonomy::Auto {
            let by = format!("policy ({})", decision.decided_by);
            proposal
                .advance(Step::Approve, &by, Some(format!("autonomy {}", decision.autonomy)), now)
                .map_err(|e| e.to_string())?;
            apply_approved(core, &mut proposal, &by);
            if proposal.state == State::Applied {
                intake.applied += 1;
                // Snapshots are routine; only other automatic changes are announced.
                if proposal.action != "git.snapshot" {
                    core.notifier.send(notice(&proposal, NoticeKind::Applied));
                }
            }
        } else {
            core.log(
                LogEntry::new(
                    LogKind::Decision,
                    Some(&repo),
                    format!(
                        "#{id} queued: {} (autonomy {}, decided by {})",
                        proposal.title, decision.autonomy, decision.decided_by
                    ),
                )
                .task(task)
                .proposal(id),
            );
            core.notifier.send(notice(&proposal, NoticeKind::Waiting));
            intake.queued += 1;
        }
    }
    core.store.flush_blocking().map_err(|e| e.to_string())?;
    Ok(intake)
}

/// Marks pending proposals of `task` in `root` stale when the world moved under them.
pub fn refresh_pending(core: &Core, root: &Path, task: &str) -> Result<usize, String> {
    let repo = root.to_string_lossy();
    let mut marked = 0;
    let pending: Vec<Proposal> = core
        .store
        .proposals_in(State::Pending)
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|p| p.task == task && p.repo == repo)
        .collect();
    for mut p in pending {
        if let Ok(Some(why)) = apply::stale_reason(root, &p.change) {
            p.advance(Step::MarkStale, "kairos", Some(why.clone()), Utc::now())
                .map_err(|e| e.to_string())?;
            core.store.put_proposal(&p).map_err(|e| e.to_string())?;
            core.log(
                LogEntry::new(LogKind::Decision, Some(&repo), format!("#{} is stale: {why}", p.id))
                    .task(task)
                    .proposal(p.id),
            );
            marked += 1;
        }
    }
    Ok(marked)
}

/// Applies an approved proposal through the intent journal and records the outcome.
/// An error after the plan was journaled rolls the apply back before it is reported.
pub fn apply_approved(core: &Core, proposal: &mut Proposal, by: &str) {
    let root = Path::new(&proposal.repo).to_owned();
    let id = proposal.id;
    // The approval is stored first; the journal's flush makes it durable with the plan.
    if let Err(e) = core.store.put_proposal(proposal) {
        tracing::error!("cannot record proposal #{id}: {e}");
    }
    let mut written = None;
    let result =
        apply::apply(&root, &proposal.change, &mut journal_for(core, id, true, &mut written));
    let mut keep_intent = false;
    let (step, note) = match result {
        Ok(Outcome::Applied(record)) => {
            proposal.undo = Some(record);
            (Step::Apply, None)
        }
        Ok(Outcome::Stale(why)) => (Step::MarkStale, Some(why)),
        Err(e) => match written.map(|plan| (settle(&root, &plan, true), plan)) {
            None => (Step::Fail, Some(e.to_string())),
            Some((Ok(Settled::Completed), plan)) => {
                proposal.undo = Some(plan);
                (Step::Apply, Some(format!("completed, though it reported: {e}")))
            }
            Some((Ok(Settled::RolledBack), _)) => {
                (Step::Fail, Some(format!("{e}; rolled back, nothing was changed")))
            }
            Some((Err(undo_error), _)) => {
                keep_intent = true;
                (
                    Step::Fail,
                    Some(format!(
                        "{e}; rolling back failed too ({undo_error}); kairos retries at its next start"
                    )),
                )
            }
        },
    };
    let who = if step == Step::Apply { by } else { "kairos" };
    if let Err(e) = proposal.advance(step, who, note.clone(), Utc::now()) {
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
pub fn undo_applied(core: &Core, proposal: &mut Proposal, by: &str) -> Result<(), String> {
    let Some(record) = proposal.undo.clone() else {
        return Err(format!("#{} has no undo record", proposal.id));
    };
    if proposal.state != State::Applied {
        return Err(format!(
            "#{} is {}; only applied proposals can be undone",
            proposal.id, proposal.state
        ));
    }
    let root = Path::new(&proposal.repo).to_owned();
    let mut written = None;
    let result =
        apply::undo(&root, &record, &mut journal_for(core, proposal.id, false, &mut written));
    let mut keep_intent = false;
    let outcome = match result {
        Ok(UndoOutcome::Undone) => Ok(()),
        Ok(UndoOutcome::Refused(why)) => Err(why),
        Err(e) => match written.map(|plan| settle(&root, &plan, false)) {
            None => Err(format!("undo failed: {e}")),
            Some(Ok(Settled::Completed)) => Ok(()),
            Some(Ok(Settled::RolledBack)) => {
                Err(format!("undo failed ({e}); rolled back, nothing was changed"))
            }
            Some(Err(again)) => {
                keep_intent = true;
                Err(format!(
                    "undo failed ({e}) and could not be rolled back ({again}); kairos retries at its next start"
                ))
            }
        },
    };
    if outcome.is_ok() {
        proposal.advance(Step::Undo, by, None, Utc::now()).map_err(|e| e.to_string())?;
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
        .store
        .put_proposal(proposal)
        .and_then(|_| core.store.flush_blocking())
        .and_then(|_| if keep_intent { Ok(()) } else { core.store.clear_intent(proposal.id) })
        .and_then(|_| core.store.flush_blocking());
    if let Err(e) = result {
        tracing::error!("cannot record proposal #{}: {e}", proposal.id);
    }
}

pub fn notice(p: &Proposal, kind: NoticeKind) -> Notice {
    let repo_name = Path::new(&p.repo)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.repo.clone());
    let summary = match kind {
        NoticeKind::Waiting => format!("{repo_name}: {} (#{})", p.title, p.id),
        NoticeKind::Applied => format!("{repo_name}: applied {} (#{})", p.title, p.id),
        NoticeKind::Failure => format!("{repo_name}: {} failed", p.title),
        NoticeKind::Info => format!("{repo_name}: {}", p.title),
    };
    Notice { repo: p.repo.clone(), summary, body: p.why.clone(), proposal: Some(p.id), kind }
}
