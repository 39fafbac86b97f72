//! Scheduled runs: planning the next one, catching up after downtime, waiting for idle.

use chrono::{DateTime, Utc};

use super::RepoActor;
use crate::config::CatchUp;
use crate::protocol::NextRun;
use crate::tasks::{Due, Trigger};
use crate::watch::clock;

impl RepoActor {
    pub(super) fn plan_schedules(&mut self) {
        let config = self.core.config();
        let now = Utc::now();
        self.next_cron.clear();
        let mut next_runs = Vec::new();
        for (name, settings) in config.tasks_for(&self.root) {
            if !settings.enabled {
                continue;
            }
            let jitter = clock::jitter(&self.key, name, settings.jitter);
            if let Some((at, source)) = clock::next_run(settings, now, jitter) {
                self.next_cron.insert(name.clone(), at);
                next_runs.push(NextRun { task: name.clone(), at, schedule: source });
            }
        }
        self.runtime.lock().unwrap_or_else(|e| e.into_inner()).next_runs = next_runs;
    }

    /// Records and settles runs missed while the daemon was down: each task's catch-up
    /// rule decides whether it runs once now or waits; never N times, never silently.
    pub(super) async fn catch_up_after_downtime(&mut self) {
        let config = self.core.config();
        let now = Utc::now();
        let scheduled: Vec<(String, crate::config::TaskSettings)> = config
            .tasks_for(&self.root)
            .iter()
            .filter(|(_, s)| s.enabled && !s.triggers.schedules.is_empty())
            .map(|(n, s)| (n.clone(), s.clone()))
            .collect();
        for (task, settings) in scheduled {
            let last = self.core.store.last_scheduled(&self.key, &task).ok().flatten();
            let _ = self.core.store.put_last_scheduled(&self.key, &task, now);
            let Some(last) = last else { continue };
            let missed = clock::missed_runs(&settings, last, now);
            if missed > 0 {
                self.settle_missed(&task, &settings, missed, last).await;
            }
        }
    }

    pub(super) async fn settle_missed(
        &mut self,
        task: &str,
        settings: &crate::config::TaskSettings,
        missed: usize,
        since: DateTime<Utc>,
    ) {
        let runs = if missed == 1 { "run" } else { "runs" };
        let since = since.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M");
        match settings.catch_up {
            CatchUp::Once => {
                self.event(&format!(
                    "missed {missed} scheduled {runs} of {task} since {since}; catching up once"
                ));
                self.run_scheduled(task, Due::CatchUp).await;
            }
            CatchUp::Skip => {
                self.event(&format!("missed {missed} scheduled {runs} of {task} since {since}; skipped (catch_up = \"skip\")"));
            }
        }
    }

    /// A scheduled run: it waits for the user to be idle when the task asks for that.
    pub(super) async fn run_scheduled(&mut self, task: &str, due: Due) {
        let _ = self.core.store.put_last_scheduled(&self.key, task, Utc::now());
        let when_idle = self.settings(task).and_then(|s| s.when_idle);
        if let (Some(idle), Some(last)) = (when_idle, self.last_fs)
            && last.elapsed() < idle
        {
            self.event(&format!(
                "{task} waits until no file has changed for {}",
                humantime::format_duration(idle)
            ));
            self.postponed.insert(task.to_owned(), last + idle);
            return;
        }
        self.trigger(task, Trigger::Schedule(due)).await;
    }
}
