//! One actor per watched repository. It owns the repository's timers — collecting raw
//! file events, the quiet period before a snapshot, the idle trigger, cron schedules,
//! health checks — and runs its tasks one at a time. Timers are deadlines in a single
//! `select!`, so an idle repository costs no CPU.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::core::{Core, RepoHandle, RepoHealth, RepoRuntime};
use super::pipeline;
use super::recovery::{RunMark, run_key};
use crate::git::RefState;
use crate::notifier::{Notice, NoticeKind};
use crate::protocol::{NextRun, TimedText};
use crate::store::{LogEntry, LogKind};
use crate::tasks::{self, PRUNE_BRANCHES, SNAPSHOT};
use crate::watch::classify::{PathKind, classify};
use crate::watch::fs::{RawFs, Subscription};

/// Requests other components make of a repository actor.
pub enum Signal {
    /// Run a task now and report what it did.
    RunNow { task: String, reply: oneshot::Sender<Result<String, String>> },
    /// The settings changed: recompute schedules.
    ConfigChanged,
}

/// How long raw events are collected before they are looked at together.
const COLLECT: Duration = Duration::from_millis(100);
/// How long after a ref change before refs are read (git writes several files).
const GIT_SETTLE: Duration = Duration::from_millis(300);
/// Past this many distinct paths in one batch, treat the batch as a rescan.
const MAX_PENDING: usize = 10_000;
/// The longest the actor sleeps before re-reading the wall clock for schedules, so a
/// suspended machine does not delay a schedule by the length of its sleep.
const CLOCK_CHECK: Duration = Duration::from_secs(60);

pub fn spawn(core: Arc<Core>, root: PathBuf, registered: bool) -> RepoHandle {
    let (tx, rx) = mpsc::channel(64);
    let runtime = Arc::new(Mutex::new(RepoRuntime::default()));
    let fs = core.fs.add_route(&root);
    let actor = RepoActor {
        core,
        key: root.to_string_lossy().into_owned(),
        root,
        rx,
        fs,
        fs_open: true,
        watching: false,
        runtime: runtime.clone(),
        pending: HashSet::new(),
        pending_rescan: false,
        flush_at: None,
        snapshot_at: None,
        git_at: None,
        idle_at: None,
        health_at: Instant::now(),
        next_cron: BTreeMap::new(),
        last_failure: BTreeMap::new(),
    };
    let task = tokio::spawn(actor.run());
    RepoHandle { tx, runtime, registered, task }
}

struct RepoActor {
    core: Arc<Core>,
    root: PathBuf,
    key: String,
    rx: mpsc::Receiver<Signal>,
    fs: Subscription,
    fs_open: bool,
    /// Whether inotify watches are in place for the root.
    watching: bool,
    runtime: Arc<Mutex<RepoRuntime>>,
    pending: HashSet<PathBuf>,
    pending_rescan: bool,
    flush_at: Option<Instant>,
    snapshot_at: Option<Instant>,
    git_at: Option<Instant>,
    idle_at: Option<Instant>,
    health_at: Instant,
    next_cron: BTreeMap<&'static str, DateTime<Utc>>,
    /// The last failure announced per task, so a failing task is announced once.
    last_failure: BTreeMap<String, String>,
}

impl RepoActor {
    async fn run(mut self) {
        let mut shutdown = self.core.shutdown.clone();
        self.check_health().await;
        if self.healthy() {
            self.refresh_git(false).await;
            self.trigger(PRUNE_BRANCHES, "start").await;
            // Anything edited while the daemon was down is snapshotted after the quiet period.
            self.snapshot_at = Some(Instant::now() + self.quiet());
        }
        self.plan_schedules();
        loop {
            let deadline = self.next_deadline();
            tokio::select! {
                _ = shutdown.changed() => break,
                raw = self.fs.rx.recv(), if self.fs_open => match raw {
                    Some(raw) => self.collect(raw),
                    None => self.fs_open = false,
                },
                signal = self.rx.recv() => match signal {
                    None => break,
                    Some(Signal::RunNow { task, reply }) => {
                        let result = self.run_task_now(&task).await;
                        let _ = reply.send(result);
                    }
                    Some(Signal::ConfigChanged) => self.plan_schedules(),
                },
                _ = tokio::time::sleep_until(deadline) => self.on_timers().await,
            }
            if self.fs.overflow.swap(false, std::sync::atomic::Ordering::SeqCst) {
                self.pending_rescan = true;
                self.flush_at.get_or_insert_with(|| Instant::now() + COLLECT);
            }
        }
        self.core.fs.remove(&self.root);
    }

    fn healthy(&self) -> bool {
        self.runtime.lock().unwrap_or_else(|e| e.into_inner()).state == RepoHealth::Ok
    }

    fn quiet(&self) -> Duration {
        self.core.config().task(SNAPSHOT).map(|t| t.quiet).unwrap_or(Duration::from_secs(30))
    }

    fn collect(&mut self, raw: RawFs) {
        match raw {
            RawFs::Paths(paths) => {
                if self.pending.len() + paths.len() > MAX_PENDING {
                    self.pending.clear();
                    self.pending_rescan = true;
                } else if !self.pending_rescan {
                    self.pending.extend(paths);
                }
            }
            RawFs::Rescan => self.pending_rescan = true,
        }
        self.flush_at.get_or_insert_with(|| Instant::now() + COLLECT);
    }

    fn next_deadline(&self) -> Instant {
        let now = Instant::now();
        let cron = self
            .next_cron
            .values()
            .min()
            .map(|at| now + (*at - Utc::now()).to_std().unwrap_or_default().min(CLOCK_CHECK));
        [self.flush_at, self.snapshot_at, self.git_at, self.idle_at, cron, Some(self.health_at)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(now + CLOCK_CHECK)
    }

    async fn on_timers(&mut self) {
        let now = Instant::now();
        let due = |t: &mut Option<Instant>| {
            if t.is_some_and(|t| t <= now) {
                *t = None;
                true
            } else {
                false
            }
        };
        if due(&mut self.flush_at) {
            self.flush().await;
        }
        if self.health_at <= now {
            self.check_health().await;
        }
        if !self.healthy() {
            return;
        }
        if due(&mut self.git_at) {
            self.refresh_git(true).await;
        }
        if due(&mut self.snapshot_at) {
            self.trigger(SNAPSHOT, "quiet").await;
        }
        if due(&mut self.idle_at) {
            self.event("idle: no file changes for a while");
            self.trigger(PRUNE_BRANCHES, "idle").await;
        }
        let wall = Utc::now();
        let fired: Vec<&'static str> =
            self.next_cron.iter().filter(|(_, at)| **at <= wall).map(|(t, _)| *t).collect();
        for task in fired {
            self.event(&format!("schedule fired for {task}"));
            self.trigger(task, "schedule").await;
        }
        if !self.next_cron.is_empty() {
            self.plan_schedules();
        }
    }

    /// Looks at the collected paths: ref changes, the root vanishing, or working-tree
    /// changes that git does not ignore.
    async fn flush(&mut self) {
        let paths: Vec<PathBuf> = self.pending.drain().collect();
        let rescan = std::mem::take(&mut self.pending_rescan);
        let now = Instant::now();
        if rescan {
            self.event("rescan: file events were lost or too many to list; looking at everything");
            self.git_at = Some(now + GIT_SETTLE);
            self.worktree_changed();
            return;
        }
        let mut worktree = Vec::new();
        for path in &paths {
            match classify(&self.root, path) {
                PathKind::Worktree(rel) => worktree.push(rel),
                PathKind::GitRefs => self.git_at = Some(now + GIT_SETTLE),
                PathKind::Root => self.health_at = now,
                PathKind::Noise => {}
            }
        }
        if worktree.is_empty() {
            return;
        }
        let root = self.root.clone();
        let relevant = tokio::task::spawn_blocking(move || not_ignored(&root, worktree))
            .await
            .unwrap_or_default();
        if relevant.is_empty() {
            return;
        }
        if !self.root.exists() {
            self.health_at = now;
        }
        self.event(&describe_changes(&relevant));
        self.worktree_changed();
    }

    fn worktree_changed(&mut self) {
        let now = Instant::now();
        self.snapshot_at = Some(now + self.quiet());
        self.idle_at = Some(now + self.core.config().daemon.idle);
    }

    fn event(&self, text: &str) {
        self.runtime.lock().unwrap_or_else(|e| e.into_inner()).last_event =
            Some(TimedText { at: Utc::now(), text: text.to_owned() });
        self.core.log(LogEntry::new(LogKind::Event, Some(&self.key), text));
    }

    /// Reads the refs, logs how they changed, and re-runs branch tasks when they did.
    async fn refresh_git(&mut self, react: bool) {
        let root = self.root.clone();
        let Ok(read) = tokio::task::spawn_blocking(move || {
            crate::git::open(&root).and_then(|repo| RefState::read(&repo))
        })
        .await
        else {
            return;
        };
        let now = match read {
            Ok(state) => state,
            Err(e) => {
                self.core.log(LogEntry::new(
                    LogKind::Error,
                    Some(&self.key),
                    format!("cannot read refs: {e}"),
                ));
                return;
            }
        };
        let key = format!("refs:{}", self.key);
        let before: Option<RefState> = self.core.store.recall(&key).ok().flatten();
        let changes = before.as_ref().map(|b| b.changes_to(&now)).unwrap_or_default();
        if before.as_ref() != Some(&now) {
            let _ = self.core.store.remember(&key, &now);
        }
        for change in &changes {
            self.event(change);
        }
        if react && !changes.is_empty() {
            self.trigger(PRUNE_BRANCHES, "branches changed").await;
        }
    }

    async fn check_health(&mut self) {
        let root = self.root.clone();
        let health = tokio::task::spawn_blocking(move || {
            if !root.is_dir() {
                return RepoHealth::Missing(format!(
                    "{} no longer exists (deleted or moved)",
                    root.display()
                ));
            }
            match crate::git::open(&root) {
                Ok(repo) if repo.workdir().is_some() => RepoHealth::Ok,
                Ok(_) => RepoHealth::Error("it is now a bare repository".into()),
                Err(e) => {
                    RepoHealth::Error(format!("not a git repository any more: {}", e.message()))
                }
            }
        })
        .await
        .unwrap_or_else(|e| RepoHealth::Error(e.to_string()));
        let was = std::mem::replace(
            &mut self.runtime.lock().unwrap_or_else(|e| e.into_inner()).state,
            health.clone(),
        );
        let now = Instant::now();
        self.health_at = now
            + if health == RepoHealth::Ok {
                Duration::from_secs(300)
            } else {
                Duration::from_secs(10)
            };
        match (&was, &health) {
            (RepoHealth::Ok, RepoHealth::Ok) if self.watching => {}
            (_, RepoHealth::Ok) => {
                if let Err(e) = self.core.fs.watch(&self.root, true) {
                    let why = format!("cannot watch: {e}");
                    self.core.log(LogEntry::new(LogKind::Error, Some(&self.key), why.clone()));
                    self.runtime.lock().unwrap_or_else(|e| e.into_inner()).state =
                        RepoHealth::Error(why);
                    return;
                }
                self.watching = true;
                if was != RepoHealth::Ok {
                    self.core.log(LogEntry::new(
                        LogKind::Daemon,
                        Some(&self.key),
                        "repository is back; watching again",
                    ));
                    self.pending_rescan = true;
                    self.flush_at = Some(now + COLLECT);
                }
            }
            (_, RepoHealth::Missing(why) | RepoHealth::Error(why)) => {
                if was != health {
                    self.core.fs.unwatch(&self.root);
                    self.watching = false;
                    self.snapshot_at = None;
                    self.idle_at = None;
                    self.core.log(LogEntry::new(
                        LogKind::Error,
                        Some(&self.key),
                        format!("repository disabled: {why}"),
                    ));
                }
            }
        }
    }

    fn plan_schedules(&mut self) {
        let config = self.core.config();
        let now = Utc::now();
        self.next_cron.clear();
        let mut next_runs = Vec::new();
        for info in tasks::BUILTIN {
            let Some(settings) = config.task(info.name).filter(|s| s.enabled) else {
                continue;
            };
            let Some(schedule) = &settings.schedule else {
                continue;
            };
            if let Some(at) = schedule.next_after(now) {
                self.next_cron.insert(info.name, at);
                next_runs.push(NextRun {
                    task: info.name.into(),
                    at,
                    schedule: schedule.source().into(),
                });
            }
        }
        self.runtime.lock().unwrap_or_else(|e| e.into_inner()).next_runs = next_runs;
    }

    async fn run_task_now(&mut self, task: &str) -> Result<String, String> {
        let Some(info) = tasks::info(task) else {
            return Err(tasks::TaskError::Unknown(task.to_owned()).to_string());
        };
        if !self.healthy() {
            let state = self.runtime.lock().unwrap_or_else(|e| e.into_inner()).state.clone();
            return Err(format!("the repository is disabled: {state:?}"));
        }
        if info.name == SNAPSHOT {
            self.snapshot_at = None;
        }
        self.run_task(info.name, "kairos run").await
    }

    /// Runs `task` for an internal trigger; its outcome is logged (and a failure
    /// announced) by `run_task`, so there is nothing more to do with it here.
    async fn trigger(&mut self, task: &str, why: &str) {
        let _ = self.run_task(task, why).await;
    }

    /// Runs `task` under the repository lock and a global run permit, records the run,
    /// and takes in its proposals.
    async fn run_task(&mut self, task: &str, trigger: &str) -> Result<String, String> {
        let config = self.core.config();
        let Some(settings) = config.task(task).cloned() else {
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
        let mark_key = run_key(&self.key, task);
        let mut mark = RunMark {
            repo: self.key.clone(),
            task: task.to_owned(),
            started_at: Utc::now(),
            finished_at: None,
            result: None,
        };
        let _ = self.core.store.remember(&mark_key, &mark);

        let (core, root, name) = (self.core.clone(), self.root.clone(), task.to_owned());
        let result = tokio::task::spawn_blocking(move || {
            let drafts = tasks::run(&name, &root, &settings).map_err(|e| e.to_string())?;
            let stale = pipeline::refresh_pending(&core, &root, &name)?;
            let intake = pipeline::take_in(&core, &root, &name, drafts)?;
            Ok::<_, String>((intake, stale))
        })
        .await
        .unwrap_or_else(|e| Err(format!("the task panicked: {e}")));

        let summary = match &result {
            Ok((intake, stale)) => {
                let mut parts = Vec::new();
                if intake.applied > 0 {
                    parts.push(format!("{} applied", intake.applied));
                }
                if intake.queued > 0 {
                    parts.push(format!("{} queued", intake.queued));
                }
                if *stale > 0 {
                    parts.push(format!("{stale} marked stale"));
                }
                if parts.is_empty() {
                    parts.push("nothing to do".into());
                }
                parts.join(", ")
            }
            Err(e) => format!("failed: {e}"),
        };
        mark.finished_at = Some(Utc::now());
        mark.result = Some(summary.clone());
        let _ = self.core.store.remember(&mark_key, &mark);
        let kind = if result.is_ok() { LogKind::Run } else { LogKind::Error };
        self.core.log(
            LogEntry::new(kind, Some(&self.key), format!("{task} ({trigger}): {summary}"))
                .task(task),
        );
        match result {
            Ok(_) => {
                self.last_failure.remove(task);
                Ok(summary)
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
                    });
                }
                self.health_at = Instant::now();
                Err(e)
            }
        }
    }
}

/// The working-tree paths among `paths` that git does not ignore.
fn not_ignored(root: &Path, paths: Vec<PathBuf>) -> Vec<PathBuf> {
    let Ok(repo) = crate::git::open(root) else {
        return paths;
    };
    let mut out: Vec<PathBuf> =
        paths.into_iter().filter(|p| !repo.is_path_ignored(p).unwrap_or(false)).collect();
    out.sort();
    out
}

fn describe_changes(paths: &[PathBuf]) -> String {
    let shown: Vec<String> =
        paths.iter().take(3).map(|p| p.to_string_lossy().into_owned()).collect();
    let more = paths.len().saturating_sub(shown.len());
    let noun = if paths.len() == 1 { "file" } else { "files" };
    let mut text = format!("{} {noun} changed: {}", paths.len(), shown.join(", "));
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    text
}
