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
            core.notifier.reconfigure(super::notifier_config(&config)).await;
            core.set_config(ConfigState { config: Arc::new(config), error: None });
            core.set_up_llm();
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

/// Reloads the user's policy files; a broken edit keeps the last good policy in force.
pub async fn reload_policies(core: &Core) {
    let before = core.policy.errors();
    let errors = core.policy.reload(&core.paths.policies_dir());
    if errors.is_empty() {
        core.log(LogEntry::new(LogKind::Daemon, None, "policies reloaded"));
        core.publish_quiet_hours();
        // Automatic work that was waiting is decided again under the new policy.
        for handle in core.repos.lock().await.values() {
            let _ = handle.tx.send(Signal::ConfigChanged).await;
        }
    } else if errors != before {
        for e in errors {
            core.log(LogEntry::new(
                LogKind::Error,
                None,
                format!("policy not reloaded, the last good one stays in force: {e}"),
            ));
        }
    }
}

/// Watches the config directory and the policies in it, one directory each (never
/// recursively: a link in there could lead anywhere); a watch that cannot be placed is
/// shown in `kairos status`. `policies/` is watched again when it appears.
fn place_watches(core: &Core) {
    let dir = &core.paths.config_dir;
    let policies = core.paths.policies_dir();
    let _ = std::fs::create_dir_all(&policies);
    let problem = [dir, &policies].into_iter().find_map(|d| {
        core.fs.watch(d, false).err().map(|e| {
            format!(
                "cannot watch {}: {e}; edits to the settings and policies take effect at the \
                 next restart (or `kill -HUP`)",
                d.display()
            )
        })
    });
    let mut shown = core.reload_problem.lock().unwrap_or_else(|e| e.into_inner());
    if *shown != problem {
        if let Some(problem) = &problem {
            core.log(LogEntry::new(LogKind::Error, None, problem.clone()));
        }
        *shown = problem;
    }
}

/// Watches the config directory (settings and policies) and reloads what changed, and
/// everything on SIGHUP.
pub async fn watch(core: Arc<Core>) {
    let dir = core.paths.config_dir.clone();
    let mut sub = core.fs.add_route(&dir);
    place_watches(&core);
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut shutdown = core.shutdown.clone();
    let file = core.paths.config_file();
    let policies = core.paths.policies_dir();
    let is_policy = |p: &std::path::Path| {
        p.starts_with(&policies) && p.extension().is_some_and(|x| x == "toml")
    };
    loop {
        let (config, policy) = tokio::select! {
            _ = shutdown.changed() => return,
            raw = sub.rx.recv() => match raw {
                Some(RawFs::Paths(paths)) => {
                    (paths.iter().any(|p| p == &file), paths.iter().any(|p| is_policy(p)))
                }
                // A directory that appears (policies/) may hold files written before
                // notify watched it: read everything.
                Some(RawFs::Rescan | RawFs::NewDir(_)) => (true, true),
                None => return,
            },
            _ = async { match hangup.as_mut() { Some(h) => { h.recv().await; } None => std::future::pending().await } } => (true, true),
        };
        if !config && !policy {
            continue;
        }
        if config && policy {
            // A directory appeared, events were lost, or SIGHUP: policies/ may be new.
            place_watches(&core);
        }
        // Editors write in several steps; let them finish, then read once.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (mut config, mut policy) = (config, policy);
        while let Ok(raw) = sub.rx.try_recv() {
            match raw {
                RawFs::Paths(paths) => {
                    config |= paths.iter().any(|p| p == &file);
                    policy |= paths.iter().any(|p| is_policy(p));
                }
                RawFs::Rescan | RawFs::NewDir(_) => (config, policy) = (true, true),
            }
        }
        if config {
            reload(&core).await;
        }
        if policy {
            reload_policies(&core).await;
        }
    }
}
