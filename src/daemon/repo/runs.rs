//! Running a task: under the repository lock and a global permit, recorded, its
//! proposals taken in and its notices and failures told.

use std::time::Duration;

use chrono::Utc;
use tokio::time::Instant;

use super::{CLOCK_CHECK, RepoActor};
use crate::daemon::pipeline;
use crate::notifier::{Notice, NoticeKind};
use crate::store::RunMark;
use crate::store::{LogEntry, LogKind};
use crate::tasks;

/// The trigger of a run the user asked for.
const MANUAL: &str = "kairos run";

impl RepoActor {
    pub(super) async fn run_task_now(&mut self, task: &str) -> Result<String, String> {
        if self.settings(task).is_none() {
            return Err(tasks::TaskError::Unknown(task.to_owned()).to_string());
        }
        if !self.healthy() {
            let state = self.runtime.lock().unwrap_or_else(|e| e.into_inner()).state.clone();
            return Err(format!("the repository is disabled: {state:?}"));
        }
        self.due.remove(task);
        self.run_task(task, MANUAL).await
    }

    /// Applies waiting automatic proposals whose wait is over; looks again each minute
    /// while some still wait.
    pub(super) async fn release_deferred(&mut self) {
        let lock = self.core.repo_lock(&self.root);
        let _guard = lock.lock().await;
        let (core, root) = (self.core.clone(), self.root.clone());
        let still = tokio::task::spawn_blocking(move || pipeline::release_deferred(&core, &root))
            .await
            .unwrap_or(0);
        if still > 0 {
            self.release_at = Some(Instant::now() + CLOCK_CHECK);
        }
    }

    /// Runs `task` for an internal trigger; its outcome is logged (and a failure
    /// announced) by `run_task`, so there is nothing more to do with it here.
    pub(super) async fn trigger(&mut self, task: &str, why: &str) {
        let _ = self.run_task(task, why).await;
    }

    /// Runs `task` under the repository lock and a global run permit, records the run,
    /// and takes in its proposals and notices.
    pub(super) async fn run_task(&mut self, task: &str, trigger: &str) -> Result<String, String> {
        let Some(settings) = self.settings(task) else {
            return Err(format!("unknown task {task}"));
        };
        if !settings.enabled {
            return Ok(format!("{task} is disabled in the config"));
        }
        let lock = self.core.repo_lock(&self.root);
        let _guard = lock.lock().await;
        let Ok(_permit) = self.core.runs.acquire().await else {
            return Err("the daemon is stopping".into());
        };
        let mut mark = RunMark {
            repo: self.key.clone(),
            task: task.to_owned(),
            started_at: Utc::now(),
            finished_at: None,
            result: None,
        };
        let _ = self.core.store.put_run_mark(&mark);

        let (core, root, name) = (self.core.clone(), self.root.clone(), task.to_owned());
        let scratch = self.core.paths.scratch_dir();
        // Tasks that copy the tree to a scratch space are costly: after a quiet period
        // (or a rescan) with nothing changed since their last run, they are not rerun.
        let costly = settings.command.is_some() || task == tasks::FORMAT;
        let check_unchanged = costly && trigger == "quiet";
        let asked_by_user = trigger == MANUAL;
        let key = self.key.clone();
        let result = tokio::task::spawn_blocking(move || {
            // The settings are part of it: an edited task reruns.
            let signature = costly
                .then(|| crate::git::worktree_signature(&root).map(|s| format!("{s}:{settings:?}")))
                .flatten();
            if check_unchanged
                && signature.is_some()
                && core.store.run_signature(&key, &name).ok().flatten() == signature
            {
                return Ok((pipeline::Intake::default(), 0, vec![]));
            }
            let output =
                tasks::run(&name, &root, &settings, &scratch).map_err(|e| e.to_string())?;
            let stale = pipeline::refresh_pending(&core, &root, &name)?;
            let intake = pipeline::take_in(&core, &root, &name, output.drafts, asked_by_user)?;
            if let Some(signature) = signature {
                let _ = core.store.put_run_signature(&key, &name, &signature);
            }
            Ok::<_, String>((intake, stale, output.notices))
        })
        .await
        .unwrap_or_else(|e| Err(format!("the task panicked: {e}")));

        let summary = match &result {
            Ok((intake, stale, notices)) => summarize(intake, *stale, notices.len()),
            Err(e) => format!("failed: {e}"),
        };
        mark.finished_at = Some(Utc::now());
        mark.result = Some(summary.clone());
        let _ = self.core.store.put_run_mark(&mark);
        let kind = if result.is_ok() { LogKind::Run } else { LogKind::Error };
        self.core.log(
            LogEntry::new(kind, Some(&self.key), format!("{task} ({trigger}): {summary}"))
                .task(task),
        );
        match result {
            Ok((intake, _, notices)) => {
                if intake.deferred > 0 {
                    self.release_at.get_or_insert_with(|| Instant::now() + CLOCK_CHECK);
                }
                self.last_failure.remove(task);
                for text in notices {
                    self.core.log(
                        LogEntry::new(LogKind::Event, Some(&self.key), format!("{task}: {text}"))
                            .task(task),
                    );
                    self.core.notifier.send(Notice {
                        repo: self.key.clone(),
                        summary: format!("{task} in {}", self.key),
                        body: text,
                        proposal: None,
                        kind: NoticeKind::Info,
                        risky: false,
                    });
                }
                Ok(summary)
            }
            Err(e) if e.starts_with("busy:") => {
                // git's own locks: try again in a few minutes, and say so.
                self.postponed.insert(task.to_owned(), Instant::now() + Duration::from_secs(300));
                Err(e)
            }
            Err(e) => {
                if self.last_failure.get(task) != Some(&e) {
                    self.last_failure.insert(task.to_owned(), e.clone());
                    self.core.notifier.send(Notice {
                        repo: self.key.clone(),
                        summary: format!("{task} failed in {}", self.key),
                        body: e.clone(),
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

fn summarize(intake: &pipeline::Intake, stale: usize, notices: usize) -> String {
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
    if notices > 0 {
        parts.push(format!("{notices} notice"));
    }
    if parts.is_empty() {
        parts.push("nothing to do".into());
    }
    parts.join(", ")
}
