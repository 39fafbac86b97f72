//! From task output to decided proposals, and the journaled apply and undo. All blocking:
//! callers hold the repository's lock and run these in `spawn_blocking`.

use std::path::Path;

use chrono::Utc;

use super::core::Core;
use super::policy;
use crate::apply::{self, ApplyError, Outcome, Settled, UndoOutcome, settle};
use crate::notifier::{Notice, NoticeKind};
use crate::policy::{Autonomy, Decision};
use crate::proposal::{Actor, Draft, Proposal, State, Step, UndoRecord};
use crate::store::{Intent, LogEntry, LogKind};

/// What became of a task's drafts.
#[derive(Debug, Default, Clone, Copy)]
pub struct Intake {
    pub queued: usize,
    pub applied: usize,
    pub skipped: usize,
    /// Automatic proposals waiting for quiet hours or the hourly cap.
    pub deferred: usize,
}

/// Turns drafts into proposals, decides them by policy, and applies the automatic ones.
/// A draft whose fingerprint is pending, rejected or undone is dropped; so is one that
/// failed within the last hour, unless the user asked for this run (`kairos run`).
pub fn take_in(
    core: &Core,
    root: &Path,
    task: &str,
    drafts: Vec<Draft>,
    asked_by_user: bool,
) -> Result<Intake, String> {
    let repo = root.to_string_lossy().into_owned();
    let branch = crate::git::open(root).ok().and_then(|r| crate::git::current_branch(&r));
    let mut intake = Intake::default();
    for draft in drafts {
        let known =
            core.store.proposal_by_fingerprint(&draft.fingerprint).map_err(|e| e.to_string())?;
        let now = Utc::now();
        let retry = asked_by_user && known.as_ref().is_some_and(|p| p.state == State::Failed);
        if !retry && known.as_ref().is_some_and(|p| p.blocks_repeat(now)) {
            intake.skipped += 1;
            continue;
        }
        let mut proposal = Proposal {
            id: 0,
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
            branch: branch.clone(),
            changed_lines: draft.changed_lines,
            decision: None,
            undo: None,
            history: vec![crate::proposal::HistoryEntry {
                at: now,
                state: State::Pending,
                by: Actor::task(task),
                note: None,
            }],
        };
        let evaluation = policy::decide(core, root, &policy::subject_of(&proposal));
        for (rule, would) in &evaluation.shadow {
            core.log(
                LogEntry::new(
                    LogKind::Decision,
                    Some(&repo),
                    format!(
                        "shadow rule {} ({}) would decide {would} for: {}",
                        rule.id,
                        rule.file.display(),
                        proposal.title
                    ),
                )
                .task(task),
            );
        }
        let decided_by = evaluation.decided_by.clone();
        let decision =
            Decision { autonomy: evaluation.autonomy, decided_by: decided_by.clone(), at: now };
        match evaluation.autonomy {
            Autonomy::Off => {
                intake.skipped += 1;
                continue;
            }
            Autonomy::Observe | Autonomy::Notify => {
                // Told once per distinct change, never queued.
                if !core.store.was_told(&proposal.fingerprint).unwrap_or(false) {
                    let _ = core.store.mark_told(&proposal.fingerprint);
                    let verb = if evaluation.autonomy == Autonomy::Notify {
                        "noticed"
                    } else {
                        "observed"
                    };
                    core.log(
                        LogEntry::new(
                            LogKind::Decision,
                            Some(&repo),
                            format!(
                                "{verb} (not proposed, decided by {decided_by}): {}",
                                proposal.title
                            ),
                        )
                        .task(task),
                    );
                    if evaluation.autonomy == Autonomy::Notify {
                        core.notifier.send(Notice {
                            repo: repo.clone(),
                            summary: proposal.title.clone(),
                            body: proposal.why.clone(),
                            proposal: None,
                            kind: NoticeKind::Info,
                            risky: false,
                        });
                    }
                }
                intake.skipped += 1;
                continue;
            }
            Autonomy::Propose | Autonomy::Auto => {}
        }
        proposal.id = core.store.next_proposal_id().map_err(|e| e.to_string())?;
        proposal.decision = Some(decision);
        let id = proposal.id;
        let wait = (evaluation.autonomy == Autonomy::Auto)
            .then(|| policy::auto_must_wait(core, &repo, &proposal.action))
            .flatten();
        if let Some(why) = &wait {
            proposal.history[0].note = Some(why.clone());
        }
        core.store.put_proposal(&proposal).map_err(|e| e.to_string())?;
        if evaluation.autonomy == Autonomy::Auto && wait.is_none() {
            let by = Actor::Policy { decided_by };
            proposal
                .advance(Step::Approve, by.clone(), Some("autonomy auto".into()), now)
                .map_err(|e| e.to_string())?;
            apply_approved(core, &mut proposal, by);
            if proposal.state == State::Applied {
                intake.applied += 1;
                // Snapshots are routine; only other automatic changes are announced.
                if !proposal.action.routine() {
                    core.notifier.send(notice(&proposal, NoticeKind::Applied));
                }
            }
            continue;
        }
        let how = match &wait {
            Some(why) => {
                intake.deferred += 1;
                why.clone()
            }
            None => format!("autonomy {}, decided by {decided_by}", evaluation.autonomy),
        };
        core.log(
            LogEntry::new(
                LogKind::Decision,
                Some(&repo),
                format!("#{id} queued: {} ({how})", proposal.title),
            )
            .task(task)
            .proposal(id),
        );
        core.notifier.send(notice(&proposal, NoticeKind::Waiting));
        intake.queued += 1;
    }
    core.store.flush_blocking().map_err(|e| e.to_string())?;
    Ok(intake)
}

/// Applies automatic proposals that were waiting (quiet hours, the hourly cap) once
/// nothing holds them any more, deciding each again under today's policy. Returns how
/// many still wait.
pub fn release_deferred(core: &Core, root: &Path) -> usize {
    let repo = root.to_string_lossy();
    let waiting: Vec<Proposal> = core
        .store
        .proposals_in(State::Pending)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| {
            p.repo == repo && p.decision.as_ref().is_some_and(|d| d.autonomy == Autonomy::Auto)
        })
        .collect();
    let mut still = 0;
    for mut p in waiting {
        let evaluation = policy::decide(core, root, &policy::subject_of(&p));
        if evaluation.autonomy != Autonomy::Auto {
            continue;
        }
        if policy::auto_must_wait(core, &repo, &p.action).is_some() {
            still += 1;
            continue;
        }
        let by = Actor::Policy { decided_by: evaluation.decided_by };
        let note = Some("released after waiting".into());
        if p.advance(Step::Approve, by.clone(), note, Utc::now()).is_ok() {
            apply_approved(core, &mut p, by);
        }
    }
    still
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
            p.advance(Step::MarkStale, Actor::Kairos, Some(why.clone()), Utc::now())
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
pub fn apply_approved(core: &Core, proposal: &mut Proposal, by: Actor) {
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
    let who = if step == Step::Apply { by.clone() } else { Actor::Kairos };
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
pub fn undo_applied(core: &Core, proposal: &mut Proposal, by: Actor) -> Result<(), String> {
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
        proposal.advance(Step::Undo, by.clone(), None, Utc::now()).map_err(|e| e.to_string())?;
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
    let risky = !p.action.reversible();
    Notice { repo: p.repo.clone(), summary, body: p.why.clone(), proposal: Some(p.id), kind, risky }
}
