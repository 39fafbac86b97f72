//! Running a task: under the repository lock and a global permit, recorded, and its
//! drafts taken in by the pipeline; a failure is told once.

use std::time::Duration;

use chrono::Utc;
use tokio::time::Instant;

use super::{CLOCK_CHECK, RepoActor};
use crate::daemon::pipeline::{self, Intake, PipelineError};
use crate::intake::Known;
use crate::llm::LlmError;
use crate::notifier::{Notice, NoticeKind};
use crate::store::{LogEntry, LogKind, RunMark};
use crate::tasks::{self, TaskError, Trigger};

/// Why a run did not happen or did not finish.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Task(#[from] TaskError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error("the repository is disabled: {0}")]
    Disabled(String),
    #[error("the task panicked: {0}")]
    Panicked(String),
    #[error("the daemon is stopping")]
    Stopping,
}

impl RunError {
    /// git's own locks are held: the run is tried again later.
    fn busy(&self) -> bool {
        matches!(self, RunError::Task(TaskError::Busy(_)))
    }
}

/// Where a run asked for from the command line tells its steps; a step that finds the
/// channel full is dropped (the next one says more).
pub type Steps = tokio::sync::mpsc::Sender<String>;

impl RepoActor {
    pub(super) async fn run_task_now(
        &mut self,
        task: &str,
        steps: Option<Steps>,
    ) -> Result<String, RunError> {
        if self.settings(task).is_none() {
            return Err(TaskError::Unknown(task.to_owned()).into());
        }
        if !self.healthy() {
            let state = self.runtime.lock().unwrap_or_else(|e| e.into_inner()).state.clone();
            return Err(RunError::Disabled(format!("{state:?}")));
        }
        self.due.remove(task);
        self.run_task_with(task, Trigger::Manual, steps).await
    }

    /// Applies waiting automatic proposals whose wait is over; looks again each minute
    /// while some still wait.
    pub(super) async fn release_deferred(&mut self) {
        let root = self.root.clone();
        let still =
            self.core.act(&self.root, move |core| pipeline::release_deferred(core, &root)).await;
        if still.unwrap_or(0) > 0 {
            self.release_at = Some(Instant::now() + CLOCK_CHECK);
        }
    }

    /// Runs `task` for an internal trigger; its outcome is logged (and a failure
    /// announced) by `run_task`, so there is nothing more to do with it here.
    pub(super) async fn trigger(&mut self, task: &str, why: Trigger) {
        let _ = self.run_task(task, why).await;
    }

    /// Runs `task` under the repository lock and a global run permit, records the run,
    /// and takes in its drafts.
    pub(super) async fn run_task(
        &mut self,
        task: &str,
        trigger: Trigger,
    ) -> Result<String, RunError> {
        self.run_task_with(task, trigger, None).await
    }

    /// As `run_task`, telling `steps` what the run is doing.
    async fn run_task_with(
        &mut self,
        task: &str,
        trigger: Trigger,
        steps: Option<Steps>,
    ) -> Result<String, RunError> {
        let Some(settings) = self.settings(task) else {
            return Err(TaskError::Unknown(task.to_owned()).into());
        };
        if !settings.enabled {
            return Ok(format!("{task} is disabled in the config"));
        }
        if tasks::needs_model(task) && self.core.llm().is_none() {
            return Ok(format!("{task} needs a model: configure [llm] (see kairos llm test)"));
        }
        if let Some(steps) = steps.as_ref().filter(|_| self.core.runs.available_permits() == 0) {
            let _ = steps.try_send(format!(
                "waiting for a run to finish (at most {} at once: daemon.max_parallel_runs)",
                self.core.config().daemon.max_parallel_runs
            ));
        }
        let Ok(_permit) = self.core.runs.acquire().await else {
            return Err(RunError::Stopping);
        };
        let mut mark = RunMark {
            repo: self.key.clone(),
            task: task.to_owned(),
            started_at: Utc::now(),
            finished_at: None,
            result: None,
        };
        let shown_trigger = trigger.to_string();
        let retry_trigger = trigger.clone();
        let (root, name, key) = (self.root.clone(), task.to_owned(), self.key.clone());
        let scratch = self.core.paths.scratch_dir();
        // Tasks that copy the tree to a scratch space are costly: after a quiet period
        // (or a rescan) with nothing changed since their last run, they are not rerun.
        let costly = settings.command.is_some() || task == tasks::FORMAT;
        let check_unchanged = costly && matches!(trigger, Trigger::FilesQuiet { .. });
        let started = mark.clone();
        let model = self.core.llm();
        let seen_tree = self.seen_tree.clone();
        let result = self
            .core
            .act(&self.root.clone(), move |core| -> Result<(Intake, usize), RunError> {
                let _ = core.store.put_run_mark(&started);
                // The settings are part of it: an edited task reruns.
                let signature = costly
                    .then(|| {
                        crate::git::worktree_signature(&root).map(|s| format!("{s}:{settings:?}"))
                    })
                    .flatten();
                if check_unchanged
                    && signature.is_some()
                    && core.store.run_signature(&key, &name).ok().flatten() == signature
                {
                    return Ok((Intake::default(), 0));
                }
                let asked = trigger.asked_by_user();
                let would_skip = |fingerprint: &str| {
                    let latest = core.store.proposal_by_fingerprint(fingerprint).ok().flatten();
                    let told = core.store.was_told(fingerprint).unwrap_or(false);
                    crate::intake::repeat(Known::of(latest.as_ref(), told), asked, Utc::now())
                        .is_some()
                };
                let model = model.as_deref().map(|m| m as &dyn crate::llm::Model);
                let memory = crate::daemon::memory::DaemonMemory { core, repo: key.clone() };
                let rejected_kinds = crate::daemon::policy::rejected_kinds(core, &key, &name);
                let progress = |step: &str| {
                    tracing::debug!(task = %name, step, "run step");
                    if let Some(steps) = &steps {
                        let _ = steps.try_send(step.to_owned());
                    }
                };
                let lent = tasks::Lent {
                    model,
                    memory: Some(&memory),
                    would_skip: &would_skip,
                    rejected_kinds: &rejected_kinds,
                    seen_tree: Some(&seen_tree),
                    progress: &progress,
                };
                let drafts = tasks::run(&name, &root, &settings, &trigger, &scratch, lent)?;
                if !drafts.is_empty() {
                    progress("deciding what comes of it under the policy");
                }
                let stale = pipeline::refresh_pending(core, &root, &name)?;
                let intake = pipeline::take_in(core, &root, &name, drafts, asked)?;
                if let Some(signature) = signature {
                    let _ = core.store.put_run_signature(&key, &name, &signature);
                }
                Ok((intake, stale))
            })
            .await
            .unwrap_or_else(|panic| Err(RunError::Panicked(panic)));

        let summary = match &result {
            Ok((intake, stale)) => summarize(intake, *stale),
            Err(e) => format!("failed: {e}"),
        };
        mark.finished_at = Some(Utc::now());
        mark.result = Some(summary.clone());
        let _ = self.core.store.put_run_mark(&mark);
        let kind = if result.is_ok() { LogKind::Run } else { LogKind::Error };
        self.core.log(
            LogEntry::new(kind, Some(&self.key), format!("{task} ({shown_trigger}): {summary}"))
                .task(task),
        );
        match result {
            Ok((intake, _)) => {
                if task == tasks::MAINTENANCE {
                    self.prune_keep_refs().await;
                }
                if intake.deferred > 0 {
                    self.release_at.get_or_insert_with(|| Instant::now() + CLOCK_CHECK);
                }
                self.last_failure.remove(task);
                Ok(summary)
            }
            Err(e) if e.busy() => {
                // git's own locks: try again in a few minutes, and say so.
                let at = Instant::now() + Duration::from_secs(300);
                self.retry.insert(task.to_owned(), (at, retry_trigger));
                Err(e)
            }
            Err(RunError::Task(TaskError::Model(LlmError::OverBudget(over)))) => {
                // Told once by the model's service; the run waits for the budget.
                let wait = (over.until - Utc::now()).to_std().unwrap_or_default();
                self.retry.insert(task.to_owned(), (Instant::now() + wait, retry_trigger));
                Err(RunError::Task(TaskError::Model(LlmError::OverBudget(over))))
            }
            // Told once by the model's service, with what to do.
            Err(e @ RunError::Task(TaskError::Model(LlmError::Off(_) | LlmError::Refused(_)))) => {
                Err(e)
            }
            Err(e) => {
                let text = e.to_string();
                if self.last_failure.get(task) != Some(&text) {
                    self.last_failure.insert(task.to_owned(), text.clone());
                    self.core.notifier.send(Notice {
                        repo: self.key.clone(),
                        summary: format!("{task} failed in {}", self.key),
                        body: text,
                        proposal: None,
                        kind: NoticeKind::Failure,
                        risky: true,
                    });
                }
                self.health_at = Instant::now();
                Err(e)
            }
        }
    }
}

fn summarize(intake: &Intake, stale: usize) -> String {
    let mut parts = Vec::new();
    if intake.applied > 0 {
        parts.push(format!("{} applied", intake.applied));
    }
    if intake.queued > 0 {
        parts.push(format!("{} queued", intake.queued));
    }
    if stale > 0 {
        parts.push(format!("{stale} marked stale"));
    }
    if intake.told > 0 {
        parts.push(format!("{} notice", intake.told));
    }
    if parts.is_empty() {
        parts.push("nothing to do".into());
    }
    parts.join(", ")
}
