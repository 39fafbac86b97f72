use std::path::PathBuf;
use std::sync::Arc;

use crate::daemon::core::Core;
use crate::daemon::repo;
use crate::protocol::{Outcome, Response};
use crate::registry::{Registry, resolve_repo};
use crate::store::{LogEntry, LogKind};

fn outcome(target: &std::path::Path, ok: bool, message: String) -> Outcome {
    Outcome { target: target.display().to_string(), ok, id: None, state: None, message }
}

pub async fn watch(core: &Arc<Core>, paths: Vec<PathBuf>) -> Response {
    let mut outcomes = Vec::new();
    for path in paths {
        let root = match resolve_repo(&path) {
            Ok(root) => root,
            Err(e) => {
                outcomes.push(outcome(&path, false, e));
                continue;
            }
        };
        let file = core.paths.repos_file();
        let added = match Registry::update(&file, |r| r.add(&root)) {
            Ok(added) => added,
            Err(e) => {
                outcomes.push(outcome(&root, false, e.to_string()));
                continue;
            }
        };
        let mut repos = core.repos.lock().await;
        let watching = match repos.get_mut(&root) {
            Some(handle) => {
                handle.registered = true;
                None
            }
            None => {
                let (handle, watching) = repo::spawn(core.clone(), root.clone(), true);
                repos.insert(root.clone(), handle);
                Some(watching)
            }
        };
        drop(repos);
        // Answer once the watches are in place, so edits right after are seen.
        if let Some(watching) = watching {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(60), watching).await;
        }
        let message = if added { "now watched" } else { "already watched" };
        core.log(LogEntry::new(LogKind::Daemon, Some(&root.to_string_lossy()), message));
        outcomes.push(outcome(&root, true, format!("{}: {message}", root.display())));
    }
    Response::Watched { outcomes }
}

pub async fn unwatch(core: &Arc<Core>, paths: Vec<PathBuf>) -> Response {
    let mut outcomes = Vec::new();
    for path in paths {
        // A repository that was deleted cannot be resolved any more: match it as typed.
        let root = resolve_repo(&path)
            .or_else(|_| std::path::absolute(&path).map_err(|e| e.to_string()))
            .unwrap_or(path.clone());
        let removed = match Registry::update(&core.paths.repos_file(), |r| r.remove(&root)) {
            Ok(removed) => removed,
            Err(e) => {
                outcomes.push(outcome(&root, false, e.to_string()));
                continue;
            }
        };
        // Dropping the handle closes the actor's channel; it stops after its current run.
        let stopped = core.repos.lock().await.remove(&root).is_some();
        if removed || stopped {
            core.log(LogEntry::new(
                LogKind::Daemon,
                Some(&root.to_string_lossy()),
                "no longer watched",
            ));
            outcomes.push(outcome(&root, true, format!("{}: no longer watched", root.display())));
        } else {
            outcomes.push(outcome(&root, false, format!("{} was not watched", root.display())));
        }
    }
    Response::Watched { outcomes }
}
