//! The daemon's shared state: the store, the settings in force, the watched
//! repositories, and the locks that serialise work on each repository.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};
use tokio::sync::{Semaphore, broadcast, mpsc, watch};

use crate::config::Config;
use crate::notifier::Notifier;
use crate::paths::Paths;
use crate::protocol::{NextRun, TimedText};
use crate::store::{LogEntry, LogKind, Store};
use crate::watch::fs::FsWatcher;

use super::repo::Signal;

/// The settings in force and the last load error, if the file on disk is broken.
#[derive(Clone)]
pub struct ConfigState {
    pub config: Arc<Config>,
    pub error: Option<String>,
}

/// What `kairos status` shows about one repository.
#[derive(Debug, Clone, Default)]
pub struct RepoRuntime {
    pub state: RepoHealth,
    pub last_event: Option<TimedText>,
    pub next_runs: Vec<NextRun>,
    pub watched_dirs: usize,
    /// Why some directories are not watched (the kernel's watch limit), if so.
    pub watch_problem: Option<String>,
    pub skipped_dirs: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RepoHealth {
    #[default]
    Ok,
    Missing(String),
    Error(String),
}

pub struct RepoHandle {
    pub tx: mpsc::Sender<Signal>,
    pub runtime: Arc<Mutex<RepoRuntime>>,
    pub registered: bool,
    pub task: tokio::task::JoinHandle<()>,
}

pub struct Core {
    pub paths: Paths,
    pub policy: super::policy::PolicyState,
    /// The policy's quiet hours, as the notifier sees them.
    quiet_hours: watch::Sender<Option<crate::policy::Window>>,
    pub store: Store,
    pub notifier: Notifier,
    pub fs: FsWatcher,
    pub started_at: DateTime<Utc>,
    pub shutdown: watch::Receiver<bool>,
    /// Bounds task runs across repositories.
    pub runs: Semaphore,
    config: RwLock<ConfigState>,
    /// Why edits to the settings or policies are not picked up live, if they are not.
    pub reload_problem: Mutex<Option<String>>,
    /// The model, when `[llm]` configures one.
    llm: RwLock<Option<Arc<super::llm::LlmService>>>,
    pub repos: tokio::sync::Mutex<BTreeMap<PathBuf, RepoHandle>>,
    locks: Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>,
    log_tx: broadcast::Sender<LogEntry>,
    /// Woken after log entries are written, so they are flushed soon after a burst.
    log_written: tokio::sync::Notify,
    appended_since_trim: std::sync::atomic::AtomicUsize,
}

/// How many log entries are kept; older ones are trimmed as new ones arrive.
pub const LOG_KEEP: usize = 100_000;

impl Core {
    pub fn new(
        paths: Paths,
        store: Store,
        config: ConfigState,
        notifier: Notifier,
        fs: FsWatcher,
        shutdown: watch::Receiver<bool>,
        quiet_hours: watch::Sender<Option<crate::policy::Window>>,
    ) -> Core {
        let permits = config.config.daemon.max_parallel_runs;
        Core {
            policy: super::policy::PolicyState::load(&paths.policies_dir()),
            quiet_hours,
            paths,
            store,
            notifier,
            fs,
            started_at: Utc::now(),
            shutdown,
            runs: Semaphore::new(permits),
            config: RwLock::new(config),
            reload_problem: Mutex::new(None),
            llm: RwLock::new(None),
            repos: tokio::sync::Mutex::new(BTreeMap::new()),
            locks: Mutex::new(HashMap::new()),
            log_tx: broadcast::channel(1024).0,
            log_written: tokio::sync::Notify::new(),
            appended_since_trim: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// The model in force, if any.
    pub fn llm(&self) -> Option<Arc<super::llm::LlmService>> {
        self.llm.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Sets the model up from the settings in force (none without `[llm]`); called at
    /// start and after each config reload, which also turns a refused model on again.
    pub fn set_up_llm(self: &Arc<Self>) {
        let service = self.config().llm.as_ref().map(|settings| {
            Arc::new(super::llm::LlmService::new(
                settings,
                self.paths.config_dir.join("prompts"),
                self.store.clone(),
                Arc::downgrade(self),
            ))
        });
        *self.llm.write().unwrap_or_else(|e| e.into_inner()) = service;
    }

    /// Tells the notifier the quiet hours of the policy in force.
    pub fn publish_quiet_hours(&self) {
        let _ = self.quiet_hours.send(self.policy.set().defaults.quiet_hours.clone());
    }

    pub fn config(&self) -> Arc<Config> {
        self.config.read().unwrap_or_else(|e| e.into_inner()).config.clone()
    }

    pub fn config_state(&self) -> ConfigState {
        self.config.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set_config(&self, state: ConfigState) {
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = state;
    }

    /// Runs `work` on the repository at `root` under its lock, off the async threads:
    /// the one way anything acts on a repository (task runs, approvals, undos,
    /// restores), so two never overlap there. `Err` carries a panic's message.
    pub async fn act<T: Send + 'static>(
        self: &Arc<Self>,
        root: &Path,
        work: impl FnOnce(&Core) -> T + Send + 'static,
    ) -> Result<T, String> {
        let lock = self.repo_lock(root);
        let _guard = lock.lock().await;
        let core = self.clone();
        tokio::task::spawn_blocking(move || work(&core)).await.map_err(|e| e.to_string())
    }

    /// The lock that serialises runs and applies on one repository.
    pub fn repo_lock(&self, root: &Path) -> Arc<tokio::sync::Mutex<()>> {
        self.locks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(root.to_owned())
            .or_default()
            .clone()
    }

    /// Every repository lock known so far (taken at shutdown to wait for applies).
    pub fn all_repo_locks(&self) -> Vec<Arc<tokio::sync::Mutex<()>>> {
        self.locks.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect()
    }

    /// Stores `proposal`; once it no longer waits, its popups stop saying it does.
    pub fn put_proposal(
        &self,
        proposal: &crate::proposal::Proposal,
    ) -> Result<(), crate::store::StoreError> {
        self.store.put_proposal(proposal)?;
        if proposal.state != crate::proposal::State::Pending {
            self.notifier.settled(proposal.id, proposal.state);
        }
        Ok(())
    }

    /// Records `entry` in the store and shows it to `kairos log --follow` readers.
    pub fn log(&self, entry: LogEntry) {
        match entry.kind {
            LogKind::Error => tracing::warn!(repo = ?entry.repo, "{}", entry.message),
            _ => tracing::info!(repo = ?entry.repo, "{}", entry.message),
        }
        match self.store.append_log(entry) {
            Ok(stored) => {
                let _ = self.log_tx.send(stored);
                self.log_written.notify_one();
                self.appended_since_trim.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Err(e) => tracing::error!("cannot write the log: {e}"),
        }
    }

    /// Flushes the store shortly after log entries were written: one fsync per burst,
    /// and no wake-ups at all while nothing happens.
    pub async fn flush_log_entries(&self) {
        let mut shutdown = self.shutdown.clone();
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = self.log_written.notified() => {}
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            if self.appended_since_trim.load(std::sync::atomic::Ordering::Relaxed) > LOG_KEEP / 10 {
                self.appended_since_trim.store(0, std::sync::atomic::Ordering::Relaxed);
                let store = self.store.clone();
                let _ = tokio::task::spawn_blocking(move || store.trim_log(LOG_KEEP)).await;
            }
            if let Err(e) = self.store.flush().await {
                tracing::error!("cannot flush the store: {e}");
            }
            // Whatever was logged came from work that has just ended.
            crate::rest::work_done();
        }
    }

    pub fn subscribe_log(&self) -> broadcast::Receiver<LogEntry> {
        self.log_tx.subscribe()
    }
}
