//! Live settings: the config directory is watched, and a changed `config.toml` is
//! loaded again. A broken edit keeps the last good settings in force and shows the
//! error (file:line:col) in `kairos status` and the log.

use std::sync::Arc;
use std::time::Duration;

use super::core::{ConfigState, Core};
use super::repo::Signal;
use crate::config::Config;
use crate::store::{LogEntry, LogKind};
use crate::watch::fs::RawFs;

/// Loads the config file for the first time; a broken file means built-in defaults
/// until it is fixed.
pub fn initial(core_paths: &crate::paths::Paths) -> ConfigState {
    match Config::load(&core_paths.config_file()) {
        Ok(config) => ConfigState { config: Arc::new(config), error: None },
        Err(e) => ConfigState { config: Arc::new(Config::default()), error: Some(e.to_string()) },
    }
}

/// Reloads the config and tells every repository; returns what happened.
pub async fn reload(core: &Arc<Core>) {
    let path = core.paths.config_file();
    let previous = core.config_state();
    match Config::load(&path) {
        Ok(config) => {
            core.set_config(ConfigState { config: Arc::new(config), error: None });
            core.log(LogEntry::new(
                LogKind::Daemon,
                None,
                format!("settings reloaded from {}", path.display()),
            ));
            for handle in core.repos.lock().await.values() {
                let _ = handle.tx.send(Signal::ConfigChanged).await;
            }
        }
        Err(e) => {
            let message = e.to_string();
            if previous.error.as_deref() != Some(message.as_str()) {
                core.log(LogEntry::new(
                    LogKind::Error,
                    None,
                    format!("config not reloaded, the last good settings stay in force: {message}"),
                ));
            }
            core.set_config(ConfigState { config: previous.config, error: Some(message) });
        }
    }
}

/// Watches the config directory and reloads on changes to `config.toml`, and on SIGHUP.
pub async fn watch(core: Arc<Core>) {
    let dir = core.paths.config_dir.clone();
    if let Err(e) = std::fs::create_dir_all(&dir) {
        tracing::warn!("cannot create {}: {e}; settings will not reload live", dir.display());
        return;
    }
    let mut sub = core.fs.add_route(&dir);
    if let Err(e) = core.fs.watch(&dir, false) {
        tracing::warn!("cannot watch {}: {e}; settings will not reload live", dir.display());
    }
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut shutdown = core.shutdown.clone();
    let file = core.paths.config_file();
    loop {
        let changed = tokio::select! {
            _ = shutdown.changed() => return,
            raw = sub.rx.recv() => match raw {
                Some(RawFs::Paths(paths)) => paths.iter().any(|p| p == &file),
                Some(RawFs::Rescan) => true,
                None => return,
            },
            _ = async { match hangup.as_mut() { Some(h) => { h.recv().await; } None => std::future::pending().await } } => true,
        };
        if changed {
            // Editors write in several steps; let them finish, then read once.
            tokio::time::sleep(Duration::from_millis(200)).await;
            while sub.rx.try_recv().is_ok() {}
            reload(&core).await;
        }
    }
}
