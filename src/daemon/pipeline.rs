//! From a task's drafts to decided proposals: gathers what the intake decides on (what
//! the store knows of each draft, the policy's evaluation, the limits in force) and
//! carries out the effect it returns. All blocking: callers hold the repository's lock
//! and run these in `spawn_blocking`.

use std::path::{Path, PathBuf};

use chrono::Utc;

use super::core::Core;
use super::journaled::apply_approved;
use super::policy;
use crate::intake::{self, Effect, Known, Release, Wait};
use crate::notifier::{Notice, NoticeKind};
use crate::policy::Subject;
use crate::policy::{Autonomy, Decision, Evaluation};
use crate::proposal::{Actor, Change, Draft, InvalidStep, Proposal, ProposalId, State, Step};
use crate::store::{LogEntry, LogKind, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Step(#[from] InvalidStep),
}

/// What became of a task's drafts.
#[derive(Debug, Default, Clone, Copy)]
pub struct Intake {
    pub queued: usize,
    pub applied: usize,
    /// Told (observe, notify), not queued.
    pub told: usize,
    pub skipped: usize,
    /// Automatic proposals waiting for quiet hours or the hourly cap.
    pub deferred: usize,
}

/// Takes in the drafts of one run of `task` in `root`: each is decided by the intake
/// and its effect carried out. `asked_by_user`: the run was `kairos run`.
pub fn take_in(
    core: &Core,
    root: &Path,
    task: &str,
    drafts: Vec<Draft>,
    asked_by_user: bool,
) -> Result<Intake, PipelineError> {
    let repo = root.to_string_lossy().into_owned();
    let branch = crate::git::open(root).ok().and_then(|r| crate::git::current_branch(&r));
    let mut limits = policy::limits(core, &repo);
    let mut intake = Intake::default();
    for draft in drafts {
        let latest = core.store.proposal_by_fingerprint(&draft.fingerprint)?;
        let known = Known::of(latest.as_ref(), core.store.was_told(&draft.fingerprint)?);
        let now = Utc::now();
        let mut proposal = Proposal::from_draft(draft, &repo, task, branch.clone(), now);
        let evaluation = policy::decide(core, root, &Subject::of(&proposal));
        log_shadow_rules(core, &proposal, &evaluation);
        let effect = intake::take_in(
            &proposal.action,
            known,
            evaluation.autonomy,
            &limits,
            asked_by_user,
            now,
        );
        proposal.decision = Some(Decision {
            autonomy: evaluation.autonomy,
            decided_by: evaluation.decided_by.clone(),
            at: now,
        });
        match effect {
            Effect::Skip(_) => intake.skipped += 1,
            Effect::Tell { notify } => {
                tell(core, &mut proposal, &evaluation, notify)?;
                intake.told += 1;
            }
            Effect::Queue => {
                queue(core, &mut proposal, &evaluation, None)?;
                intake.queued += 1;
            }
            Effect::Defer(why) => {
                queue(core, &mut proposal, &evaluation, Some(why))?;
                intake.deferred += 1;
                intake.queued += 1;
            }
            Effect::ApplyNow => {
                proposal.id = core.store.next_proposal_id()?;
                core.put_proposal(&proposal)?;
                let by = Actor::Policy { decided_by: evaluation.decided_by };
                proposal.advance(Step::Approve, by.clone(), Some("autonomy auto".into()), now)?;
                apply_approved(core, &mut proposal, by);
                if proposal.state == State::Applied {
                    intake.applied += 1;
                    if !proposal.action.routine() {
                        limits.applied_last_hour += 1;
                        core.notifier.send(notice(&proposal, NoticeKind::Applied));
                    }
                }
            }
        }
    }
    core.store.flush_blocking()?;
    Ok(intake)
}

fn log_shadow_rules(core: &Core, proposal: &Proposal, evaluation: &Evaluation) {
    for (rule, would) in &evaluation.shadow {
        let message = format!(
            "shadow rule {} ({}) would decide {would} for: {}",
            rule.id,
            rule.file.display(),
            proposal.title
        );
        core.log(
            LogEntry::new(LogKind::Decision, Some(&proposal.repo), message).task(&proposal.task),
        );
    }
}

/// Observe and notify: told once per distinct change (logged; notified at `notify`).
/// What is notified is kept as a `told` proposal, so the user can reject it as not worth
/// telling (`kairos reject ID`, or the popup's button) and the task learns from that as
/// from any rejection.
fn tell(
    core: &Core,
    proposal: &mut Proposal,
    evaluation: &Evaluation,
    notify: bool,
) -> Result<(), PipelineError> {
    core.store.mark_told(&proposal.fingerprint)?;
    let mut told = None;
    if notify {
        proposal.id = core.store.next_proposal_id()?;
        let by = Actor::Policy { decided_by: evaluation.decided_by.clone() };
        proposal.advance(Step::Tell, by, None, Utc::now())?;
        core.put_proposal(proposal)?;
        told = Some(proposal.id);
    }
    let verb = if notify { format!("noticed as #{}", proposal.id) } else { "observed".into() };
    let message = format!(
        "{verb} (not proposed, decided by {}): {}\n{}",
        evaluation.decided_by, proposal.title, proposal.why
    );
    let entry =
        LogEntry::new(LogKind::Decision, Some(&proposal.repo), message).task(&proposal.task);
    core.log(match told {
        Some(id) => entry.proposal(id),
        None => entry,
    });
    if notify {
        core.notifier.send(Notice {
            repo: proposal.repo.clone(),
            summary: proposal.title.clone(),
            body: proposal.why.clone(),
            proposal: told,
            kind: NoticeKind::Info,
            risky: false,
        });
    }
    Ok(())
}

/// Stores the proposal as pending, for the user (or, when `waiting`, for the limits to
/// lift), logs why and notifies.
fn queue(
    core: &Core,
    proposal: &mut Proposal,
    evaluation: &Evaluation,
    waiting: Option<Wait>,
) -> Result<(), PipelineError> {
    proposal.id = core.store.next_proposal_id()?;
    let how = match &waiting {
        Some(why) => why.to_string(),
        None => format!("autonomy {}, decided by {}", evaluation.autonomy, evaluation.decided_by),
    };
    if waiting.is_some() {
        proposal.history[0].note = Some(how.clone());
    }
    core.put_proposal(proposal)?;
    let message = format!("#{} queued: {} ({how})", proposal.id, proposal.title);
    core.log(
        LogEntry::new(LogKind::Decision, Some(&proposal.repo), message)
            .task(&proposal.task)
            .proposal(proposal.id),
    );
    core.notifier.send(notice(proposal, NoticeKind::Waiting));
    Ok(())
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
    let mut limits = policy::limits(core, &repo);
    let mut still = 0;
    for mut p in waiting {
        let evaluation = policy::decide(core, root, &Subject::of(&p));
        match intake::release(&p.action, evaluation.autonomy, &limits) {
            Release::ForTheUser => {}
            Release::StillWaits(_) => still += 1,
            Release::Apply => {
                let by = Actor::Policy { decided_by: evaluation.decided_by };
                let note = Some("released after waiting".into());
                if p.advance(Step::Approve, by.clone(), note, Utc::now()).is_ok() {
                    apply_approved(core, &mut p, by);
                    if p.state == State::Applied && !p.action.routine() {
                        limits.applied_last_hour += 1;
                    }
                }
            }
        }
    }
    still
}

/// Settles the pending proposals of `task` in `root` whose world moved under them (see
/// `recheck`); returns how many became stale.
pub fn refresh_pending(core: &Core, root: &Path, task: &str) -> Result<usize, PipelineError> {
    recheck(core, root, |p| p.task == task)
}

/// The pending file changes in `root` that touch one of `paths` (relative to it).
pub fn touching(core: &Core, root: &Path, paths: &[PathBuf]) -> Vec<Proposal> {
    let repo = root.to_string_lossy();
    let touches = |p: &Proposal| match &p.change {
        Change::Patch { files } => {
            files.iter().any(|f| paths.iter().any(|t| f.path.as_path() == t))
        }
        _ => false,
    };
    let pending = core.store.proposals_in(State::Pending).unwrap_or_default();
    pending.into_iter().filter(|p| p.repo == repo && touches(p)).collect()
}

/// After the user edited `paths`: the pending file changes that touch them are settled
/// (see `recheck`) at once, so no popup goes on offering what is done or cannot be done.
pub fn recheck_touched(
    core: &Core,
    root: &Path,
    paths: &[PathBuf],
) -> Result<usize, PipelineError> {
    let ids: Vec<ProposalId> = touching(core, root, paths).iter().map(|p| p.id).collect();
    recheck(core, root, |p| ids.contains(&p.id))
}

/// Settles the pending proposals of `root` that `concerned` selects: one whose result is
/// already in place (the user made the same change) is done, one that can no longer be
/// applied as made is stale. Returns how many became stale.
fn recheck(
    core: &Core,
    root: &Path,
    concerned: impl Fn(&Proposal) -> bool,
) -> Result<usize, PipelineError> {
    let repo = root.to_string_lossy();
    let mut marked = 0;
    let pending: Vec<Proposal> = core
        .store
        .proposals_in(State::Pending)?
        .into_iter()
        .filter(|p| p.repo == repo && concerned(p))
        .collect();
    for mut p in pending {
        let (step, became, why) =
            if let Ok(Some(what)) = crate::apply::already_done(root, &p.change) {
                (Step::FindDone, "done already", what)
            } else if let Ok(Some(why)) = crate::apply::stale_reason(root, &p.change) {
                marked += 1;
                (Step::MarkStale, "stale", why)
            } else {
                continue;
            };
        let said = format!("#{} is {became}: {why}", p.id);
        p.advance(step, Actor::Kairos, Some(why), Utc::now())?;
        core.put_proposal(&p)?;
        core.log(LogEntry::new(LogKind::Decision, Some(&repo), said).task(&p.task).proposal(p.id));
    }
    Ok(marked)
}

/// The notification for proposal `p`.
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
