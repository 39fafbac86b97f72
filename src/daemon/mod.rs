//! The daemon: opens the store, settles what a crash interrupted (`recovery`), starts an
//! actor per repository (`repo`: its timers, watches and task runs), serves the control
//! socket (`server`, one `handlers` file per request), and stops cleanly on SIGTERM or
//! SIGINT. The intake's decisions are carried out by `pipeline`, applies and undos by
//! `journaled`; whatever acts on a repository does it through `Core::act`, under the
//! repository's lock.

mod actions;
mod core;
mod handlers;
mod housekeeping;
mod journaled;
mod llm;
mod memory;
mod pipeline;
mod policy;
mod recovery;
mod reload;
mod repo;
mod server;
mod socket;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use self::core::Core;
use crate::notifier::{Notifier, NotifierConfig, WebhookConfig, read_token};
use crate::paths::Paths;
use crate::registry::Registry;
use crate::store::{LogEntry, LogKind, Store};

pub use socket::SocketError;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    Socket(#[from] SocketError),
    #[error("cannot start the file watcher: {0}")]
    Watcher(#[from] notify::Error),
    #[error("{0}")]
    Registry(#[from] crate::registry::RegistryError),
    #[error("cannot create {path}: {source}")]
    Dir { path: PathBuf, source: std::io::Error },
}

/// Runs the daemon until SIGTERM or SIGINT.
pub async fn run(paths: Paths) -> Result<(), DaemonError> {
    for dir in [&paths.data_dir, &paths.config_dir] {
        std::fs::create_dir_all(dir)
            .map_err(|source| DaemonError::Dir { path: dir.clone(), source })?;
    }
    socket::refuse_if_running(&paths)?;
    let store = Store::open(&paths.store_dir())?;
    let listener = socket::bind(&paths)?;
    let config = reload::initial(&paths);
    let (stop_tx, stop_rx) = watch::channel(false);
    let (quiet_tx, quiet_rx) = watch::channel(None);
    let (actions_tx, actions_rx) = tokio::sync::mpsc::channel(16);
    let notifier = Notifier::start(
        notifier_config(&config.config),
        quiet_rx,
        actions_tx,
        Arc::new(store.clone()),
    );
    let fs = crate::watch::fs::FsWatcher::new()?;
    let core =
        Arc::new(Core::new(paths.clone(), store, config.clone(), notifier, fs, stop_rx, quiet_tx));
    core.publish_quiet_hours();
    core.set_up_llm();
    tokio::spawn(actions::serve(core.clone(), actions_rx));

    core.log(LogEntry::new(
        LogKind::Daemon,
        None,
        format!("kairos {} started (pid {})", crate::VERSION, std::process::id()),
    ));
    if let Some(error) = &config.error {
        core.log(LogEntry::new(
            LogKind::Error,
            None,
            format!("config not loaded, running on built-in defaults: {error}"),
        ));
    }
    {
        let core = core.clone();
        tokio::task::spawn_blocking(move || {
            crate::tasks::scratch::clean_leftovers(&core.paths.scratch_dir());
            recovery::settle_intents(&core);
            recovery::note_interrupted_runs(&core);
            if let Ok(n) = core.store.trim_log(self::core::LOG_KEEP)
                && n > 0
            {
                tracing::info!("trimmed {n} old log entries");
            }
        })
        .await
        .ok();
    }

    {
        let core = core.clone();
        tokio::spawn(async move { core.flush_log_entries().await });
    }
    tokio::spawn(crate::rest::settle_after_work(core.shutdown.clone()));
    start_repositories(&core).await?;
    tokio::spawn(reload::watch(core.clone()));
    let server = tokio::spawn(server::serve(core.clone(), listener));

    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
    let watchdog = start_watchdog();

    wait_for_signal().await;
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    core.log(LogEntry::new(LogKind::Daemon, None, "stopping"));
    let _ = stop_tx.send(true);
    if let Some(w) = watchdog {
        w.abort();
    }
    let _ = server.await;
    // Wait for applies and runs in flight: each holds its repository's lock.
    let waiting = async {
        for lock in core.all_repo_locks() {
            let _ = lock.lock().await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(20), waiting).await.is_err() {
        tracing::warn!(
            "work still in flight after 20 s; its intent is journaled and will be settled on restart"
        );
    }
    let handles: Vec<_> = std::mem::take(&mut *core.repos.lock().await).into_values().collect();
    for handle in handles {
        let _ = tokio::time::timeout(Duration::from_secs(5), handle.task).await;
    }
    core.log(LogEntry::new(LogKind::Daemon, None, "stopped"));
    core.store.flush().await?;
    let _ = std::fs::remove_file(paths.socket());
    Ok(())
}

/// The notifier's settings; a webhook token that cannot be read is reported, and the
/// webhook left off.
pub(super) fn notifier_config(config: &crate::config::Config) -> NotifierConfig {
    let n = &config.notify;
    // The webhook's token is kairos's secret: tools and command tasks never see it.
    crate::process::hide_from_children(
        n.webhook.iter().filter_map(|w| w.token_env.clone()).collect(),
    );
    let webhook = n.webhook.as_ref().and_then(|w| {
        match read_token(w.token_env.as_deref(), w.token_file.as_ref()) {
            Ok(token) => Some(WebhookConfig { url: w.url.clone(), token }),
            Err(e) => {
                tracing::error!("webhook off: {e}");
                None
            }
        }
    });
    NotifierConfig {
        desktop: n.desktop,
        batch: n.batch,
        max_per_hour: n.max_per_hour,
        reconnect: n.reconnect,
        webhook,
    }
}

/// Starts a worker for every registered repository; with none registered, watches the
/// repository the daemon was started in, if any.
async fn start_repositories(core: &Arc<Core>) -> Result<(), DaemonError> {
    let registry = Registry::load(&core.paths.repos_file())?;
    let mut ready = Vec::new();
    let mut repos = core.repos.lock().await;
    for root in registry.repos {
        let (handle, watching) = repo::spawn(core.clone(), root.clone(), true);
        repos.insert(root, handle);
        ready.push(watching);
    }
    if repos.is_empty()
        && let Ok(cwd) = std::env::current_dir()
        && let Ok(root) = crate::registry::resolve_repo(&cwd)
    {
        core.log(LogEntry::new(
            LogKind::Daemon,
            Some(&root.to_string_lossy()),
            "no repositories registered; watching the one the daemon started in (register with `kairos watch`)",
        ));
        let (handle, watching) = repo::spawn(core.clone(), root.clone(), false);
        repos.insert(root, handle);
        ready.push(watching);
    }
    if repos.is_empty() {
        core.log(LogEntry::new(
            LogKind::Daemon,
            None,
            "no repositories to watch yet; add one with `kairos watch PATH`",
        ));
    }
    drop(repos);
    // Ready means watching: no edit made after `kairos status` answers goes unseen.
    let all = futures_util::future::join_all(ready);
    if tokio::time::timeout(Duration::from_secs(60), all).await.is_err() {
        tracing::warn!("some repositories took over a minute to set up their watches");
    }
    Ok(())
}

/// Pings systemd's watchdog at half its interval, when the unit asks for one.
fn start_watchdog() -> Option<tokio::task::JoinHandle<()>> {
    let mut usec = 0;
    if !sd_notify::watchdog_enabled(false, &mut usec) {
        return None;
    }
    let period = Duration::from_micros(usec / 2);
    Some(tokio::spawn(async move {
        loop {
            let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
            crate::watch::wall_clock::sleep_until_instant(tokio::time::Instant::now() + period)
                .await;
        }
    }))
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
}
