//! One actor per watched repository. It owns the repository's timers — collecting raw
//! file events, each task's quiet period and idle trigger, cron schedules, health
//! checks — and runs its tasks one at a time. Timers are deadlines in one `select!`, so
//! an idle repository costs no CPU; a disabled (missing, broken) one only re-checks its
//! health.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

mod changed;
mod events;
mod health;
mod refs;
mod runs;
mod schedules;
mod watching;

pub use runs::{RunError, Steps};

use super::core::{Core, RepoHandle, RepoHealth, RepoRuntime};
use crate::config::{FsTrigger, TaskSettings};
use crate::protocol::TimedText;
use crate::store::{LogEntry, LogKind};
use crate::tasks::{Due, SNAPSHOT, Trigger};
use crate::watch::fs::Subscription;
use crate::watch::{clock, wall_clock};
use changed::Changed;

/// Requests other components make of a repository actor.
pub enum Signal {
    /// Run a task now and report what it did, and, to `steps`, what it is doing.
    RunNow { task: String, reply: oneshot::Sender<Result<String, RunError>>, steps: Option<Steps> },
    /// The settings or the policy changed: recompute schedules, decide waiting work again.
    ConfigChanged,
}

/// Raw events are looked at together once none came for `COLLECT_GAP` (an editor's save
/// is a few events within a millisecond or two), and at the latest `COLLECT` after the
/// first, so a storm is still taken in batches.
const COLLECT_GAP: Duration = Duration::from_millis(15);
const COLLECT: Duration = Duration::from_millis(100);
/// How long after a ref change before refs are read (git writes several files).
const GIT_SETTLE: Duration = Duration::from_millis(300);
/// Past this many distinct paths in one batch, treat the batch as a rescan.
const MAX_PENDING: usize = 10_000;
/// The longest the actor sleeps before re-reading the wall clock for schedules, so a
/// suspended machine does not delay a schedule by the length of its sleep.
const CLOCK_CHECK: Duration = Duration::from_secs(60);

/// Starts the actor; the receiver fires once its watches are in place (or it found the
/// repository missing), so "watching" means no later edit goes unseen.
pub fn spawn(
    core: Arc<Core>,
    root: PathBuf,
    registered: bool,
) -> (RepoHandle, oneshot::Receiver<()>) {
    let (tx, rx) = mpsc::channel(64);
    let (ready_tx, ready_rx) = oneshot::channel();
    let runtime = Arc::new(Mutex::new(RepoRuntime::default()));
    let fs = core.fs.add_route(&root);
    let actor = RepoActor {
        core,
        key: root.to_string_lossy().into_owned(),
        root,
        rx,
        fs,
        fs_open: true,
        ready: Some(ready_tx),
        watching: false,
        runtime: runtime.clone(),
        pending: HashSet::new(),
        pending_rescan: false,
        flush_at: None,
        collecting_since: None,
        git_at: None,
        due: BTreeMap::new(),
        changed: BTreeMap::new(),
        staged_due: BTreeMap::new(),
        idle_due: BTreeMap::new(),
        health_at: Instant::now(),
        last_fs: None,
        postponed: BTreeMap::new(),
        retry: BTreeMap::new(),
        // Automatic work that waited (quiet hours, the hourly cap) before a restart.
        release_at: Some(Instant::now() + Duration::from_secs(1)),
        next_cron: BTreeMap::new(),
        last_failure: BTreeMap::new(),
        kept: Vec::new(),
        git_dirs: Vec::new(),
        seen_tree: Arc::default(),
    };
    let task = tokio::spawn(actor.run());
    (RepoHandle { tx, runtime, registered, task }, ready_rx)
}

struct RepoActor {
    core: Arc<Core>,
    root: PathBuf,
    key: String,
    rx: mpsc::Receiver<Signal>,
    fs: Subscription,
    fs_open: bool,
    /// Told once the first health check has set up the watches.
    ready: Option<oneshot::Sender<()>>,
    /// Whether inotify watches are in place for the root.
    watching: bool,
    runtime: Arc<Mutex<RepoRuntime>>,
    pending: HashSet<PathBuf>,
    pending_rescan: bool,
    flush_at: Option<Instant>,
    /// When the first event of the batch being collected arrived.
    collecting_since: Option<Instant>,
    git_at: Option<Instant>,
    /// Task → when it runs, after the quiet period following matching file changes.
    due: BTreeMap<String, Instant>,
    /// Task → the files changed since its last run for them.
    changed: BTreeMap<String, Changed>,
    /// Task → when it runs, after the index has been quiet for its `quiet`.
    staged_due: BTreeMap<String, Instant>,
    /// Task → when the repository will have been idle long enough for it.
    idle_due: BTreeMap<String, Instant>,
    health_at: Instant,
    /// When a working-tree file last changed.
    last_fs: Option<Instant>,
    /// Scheduled runs waiting for the user to be idle, or for git's locks to be released.
    postponed: BTreeMap<String, Instant>,
    /// Runs to try again later with the same trigger: git's locks were held, or the
    /// model's budget was spent.
    retry: BTreeMap<String, (Instant, Trigger)>,
    /// When to look again at automatic proposals that are waiting.
    release_at: Option<Instant>,
    next_cron: BTreeMap<String, DateTime<Utc>>,
    /// The last failure announced per task, so a failing task is announced once.
    last_failure: BTreeMap<String, String>,
    /// Ignored directories watched because they hold committed files.
    kept: Vec<PathBuf>,
    /// A linked worktree's git directories, outside its tree.
    git_dirs: Vec<PathBuf>,
    /// The working tree as the last snapshot saw it: the next snapshot starts from it
    /// and the paths changed since, instead of walking the whole tree.
    seen_tree: Arc<crate::git::SeenTree>,
}

impl RepoActor {
    async fn run(mut self) {
        let mut shutdown = self.core.shutdown.clone();
        self.clean_leftovers().await;
        // Planned first, so `kairos status` shows the next runs from the start.
        self.plan_schedules();
        self.check_health().await;
        if let Some(ready) = self.ready.take() {
            let _ = ready.send(());
        }
        if self.healthy() {
            self.refresh_git(false).await;
            for task in self.tasks_where(|t| t.triggers.git_refs) {
                self.trigger(&task, Trigger::Start).await;
            }
            // The review takes what is there as seen (once), and reviews what was
            // committed while the daemon was down.
            if self.settings(crate::tasks::REVIEW).is_some_and(|s| s.enabled) {
                self.trigger(crate::tasks::REVIEW, Trigger::Start).await;
            }
            // Anything edited while the daemon was down is snapshotted after the quiet period.
            if let Some(settings) = self.settings(SNAPSHOT).filter(|s| s.enabled) {
                self.due.insert(SNAPSHOT.into(), Instant::now() + settings.quiet);
            }
            // And anything staged meanwhile is looked at once the index is quiet.
            self.index_changed();
        }
        if self.healthy() {
            self.catch_up_after_downtime().await;
        }
        self.plan_schedules();
        crate::rest::work_done();
        loop {
            let deadline = self.next_deadline();
            // Schedules follow the wall clock (suspend included), not tokio's timers.
            let next_cron = self.next_cron.values().min().copied().filter(|_| self.healthy());
            tokio::select! {
                _ = shutdown.changed() => break,
                raw = self.fs.rx.recv(), if self.fs_open => match raw {
                    Some(raw) => self.collect(raw).await,
                    None => self.fs_open = false,
                },
                signal = self.rx.recv() => match signal {
                    None => break,
                    Some(Signal::RunNow { task, reply, steps }) => {
                        let result = self.run_task_now(&task, steps).await;
                        let _ = reply.send(result);
                    }
                    Some(Signal::ConfigChanged) => {
                        self.plan_schedules();
                        self.release_at = Some(Instant::now());
                    }
                },
                _ = wall_clock::sleep_until_instant(deadline) => self.on_timers().await,
                _ = wall_clock::sleep_until(next_cron.unwrap_or_default()), if next_cron.is_some() => {
                    self.on_timers().await
                }
            }
            if self.fs.overflow.swap(false, std::sync::atomic::Ordering::SeqCst) {
                self.pending_rescan = true;
                self.flush_at.get_or_insert_with(|| Instant::now() + COLLECT);
            }
            // Whatever woke the actor (events, a run, a walk, a timer) is done.
            crate::rest::work_done();
        }
        let (core, id) = (self.core.clone(), self.fs.id);
        let _ = tokio::task::spawn_blocking(move || core.fs.remove(id)).await;
    }

    fn healthy(&self) -> bool {
        self.runtime.lock().unwrap_or_else(|e| e.into_inner()).state == RepoHealth::Ok
    }

    fn settings(&self, task: &str) -> Option<TaskSettings> {
        self.core.config().task_for(&self.root, task).cloned()
    }

    /// Enabled tasks of this repository whose settings satisfy `wanted`.
    fn tasks_where(&self, wanted: impl Fn(&TaskSettings) -> bool) -> Vec<String> {
        let config = self.core.config();
        config
            .tasks_for(&self.root)
            .iter()
            .filter(|(_, s)| s.enabled && wanted(s))
            .map(|(name, _)| name.clone())
            .collect()
    }

    fn next_deadline(&self) -> Instant {
        let now = Instant::now();
        if !self.healthy() {
            // A disabled repository only waits for its next health check.
            return [self.flush_at, Some(self.health_at)]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(now);
        }
        [
            self.flush_at,
            self.git_at,
            self.due.values().min().copied(),
            self.staged_due.values().min().copied(),
            self.idle_due.values().min().copied(),
            self.postponed.values().min().copied(),
            self.retry.values().map(|(at, _)| *at).min(),
            self.release_at,
            Some(self.health_at),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(now + CLOCK_CHECK)
    }

    async fn on_timers(&mut self) {
        let now = Instant::now();
        if self.flush_at.is_some_and(|t| t <= now) {
            self.flush_at = None;
            self.collecting_since = None;
            self.flush().await;
        }
        if self.health_at <= now {
            self.check_health().await;
        }
        if !self.healthy() {
            self.git_at = None;
            self.due.clear();
            self.staged_due.clear();
            self.idle_due.clear();
            return;
        }
        if self.git_at.is_some_and(|t| t <= now) {
            self.git_at = None;
            self.refresh_git(true).await;
        }
        if self.release_at.is_some_and(|t| t <= now) {
            self.release_at = None;
            self.release_deferred().await;
        }
        for task in take_due(&mut self.due, now) {
            let changed = self.changed.remove(&task).unwrap_or_default();
            let trigger = Trigger::FilesQuiet {
                paths: changed.paths.into_iter().collect(),
                dirs: changed.dirs.into_iter().collect(),
                rescanned: changed.rescanned,
            };
            self.trigger(&task, trigger).await;
        }
        for task in take_due(&mut self.staged_due, now) {
            self.trigger(&task, Trigger::Staged).await;
        }
        let idle: Vec<String> = take_due(&mut self.idle_due, now);
        if !idle.is_empty() {
            self.event(crate::store::IDLE_EVENT);
            for task in idle {
                self.trigger(&task, Trigger::Idle).await;
            }
        }
        let again: Vec<String> =
            self.retry.iter().filter(|(_, (at, _))| *at <= now).map(|(t, _)| t.clone()).collect();
        for task in again {
            if let Some((_, trigger)) = self.retry.remove(&task) {
                self.trigger(&task, trigger).await;
            }
        }
        for task in take_due(&mut self.postponed, now) {
            let idle = self.settings(&task).and_then(|s| s.when_idle).unwrap_or_default();
            match self.last_fs {
                Some(last) if last.elapsed() < idle => {
                    self.postponed.insert(task, last + idle);
                }
                _ => self.trigger(&task, Trigger::Schedule(Due::OnceIdle)).await,
            }
        }
        let wall = Utc::now();
        let fired: Vec<(String, DateTime<Utc>)> = self
            .next_cron
            .iter()
            .filter(|(_, at)| **at <= wall)
            .map(|(t, at)| (t.clone(), *at))
            .collect();
        for (task, at) in &fired {
            let late = (wall - *at).to_std().unwrap_or_default();
            let Some(settings) = self.settings(task) else { continue };
            if late > clock::GRACE {
                // The machine slept through it: every miss is recorded, and the task's
                // catch-up rule decides.
                let missed =
                    clock::missed_runs(&settings, *at - chrono::Duration::seconds(1), wall);
                self.settle_missed(task, &settings, missed.max(1), *at).await;
            } else {
                self.event(&format!("schedule fired for {task}"));
                self.run_scheduled(task, Due::OnTime).await;
            }
        }
        if !fired.is_empty() {
            self.plan_schedules();
        }
    }

    /// Starts the quiet period of every task whose file trigger matches one of `paths`
    /// (all of them on a rescan), and the idle timers.
    fn worktree_changed(&mut self, paths: Option<&[PathBuf]>) {
        let now = Instant::now();
        self.last_fs = Some(now);
        let config = self.core.config();
        for (name, settings) in config.tasks_for(&self.root) {
            if !settings.enabled {
                continue;
            }
            let matched = match (&settings.triggers.fs, paths) {
                (None, _) => false,
                (Some(_), None) | (Some(FsTrigger::Any), _) => true,
                (Some(fs), Some(paths)) => paths.iter().any(|p| fs.matches(p)),
            };
            if matched {
                self.due.insert(name.clone(), now + settings.quiet);
                self.changed.entry(name.clone()).or_default().add(paths);
            }
        }
        self.restart_idle();
    }

    /// Something happened: the tasks that run once the repository is idle wait again.
    fn restart_idle(&mut self) {
        let now = Instant::now();
        let config = self.core.config();
        for (name, settings) in config.tasks_for(&self.root) {
            if let Some(idle) = settings.triggers.idle.filter(|_| settings.enabled) {
                self.idle_due.insert(name.clone(), now + idle);
            }
        }
    }

    /// Starts the quiet period of every task that follows the index.
    fn index_changed(&mut self) {
        // A file staged by force is in the next snapshot though it is ignored, and no
        // file event says so: the next snapshot walks the whole tree.
        self.seen_tree.clear();
        let now = Instant::now();
        let config = self.core.config();
        for (name, settings) in config.tasks_for(&self.root) {
            if settings.enabled && settings.triggers.git_index {
                self.staged_due.insert(name.clone(), now + settings.quiet);
            }
        }
    }

    fn event(&self, text: &str) {
        self.show_event(text);
        self.core.log(LogEntry::new(LogKind::Event, Some(&self.key), text));
    }

    /// Shows `text` as the last event in `kairos status`.
    fn show_event(&self, text: &str) {
        self.runtime.lock().unwrap_or_else(|e| e.into_inner()).last_event =
            Some(TimedText { at: Utc::now(), text: text.to_owned() });
    }
}

/// Removes and returns the entries of `deadlines` that are due.
fn take_due(deadlines: &mut BTreeMap<String, Instant>, now: Instant) -> Vec<String> {
    let due: Vec<String> =
        deadlines.iter().filter(|(_, at)| **at <= now).map(|(t, _)| t.clone()).collect();
    for task in &due {
        deadlines.remove(task);
    }
    due
}
