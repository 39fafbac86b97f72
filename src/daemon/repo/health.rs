//! The repository's health: there, a repository, watched; and what a killed kairos left
//! in it, cleared before anything runs.

use std::time::Duration;

use tokio::time::Instant;

use super::watching::Placement;
use super::{COLLECT, RepoActor};
use crate::daemon::core::RepoHealth;
use crate::store::{LogEntry, LogKind};

impl RepoActor {
    /// Clears what a killed kairos left in the repository (its locks, index copies,
    /// half-written objects) before anything runs here.
    pub(super) async fn clean_leftovers(&self) {
        let root = self.root.clone();
        let before = std::time::SystemTime::from(self.core.started_at);
        let removed = tokio::task::spawn_blocking(move || {
            crate::git::open(&root).map(|repo| crate::apply::clean_repository(&repo, before))
        })
        .await;
        if let Ok(Ok(n)) = removed
            && n > 0
        {
            self.core.log(LogEntry::new(
                LogKind::Daemon,
                Some(&self.key),
                format!("removed {n} files left by an interrupted kairos (locks, temporary files)"),
            ));
        }
        self.prune_keep_refs().await;
    }

    /// Releases the objects kept for undos that were used or are past the retention.
    pub(super) async fn prune_keep_refs(&self) {
        let root = self.root.clone();
        let pruned = self
            .core
            .act(&self.root, move |core| crate::daemon::housekeeping::prune_keep_refs(core, &root))
            .await;
        match pruned {
            Ok(Ok(0)) | Err(_) => {}
            Ok(Ok(n)) => self.core.log(LogEntry::new(
                LogKind::Daemon,
                Some(&self.key),
                format!("released the objects kept for {n} undos that were used or are past keep_undo_for"),
            )),
            Ok(Err(e)) => tracing::debug!("cannot prune refs/kairos/keep in {}: {e}", self.key),
        }
    }

    pub(super) async fn check_health(&mut self) {
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
            (RepoHealth::Ok, RepoHealth::Ok) if self.watching => {
                self.place_watches(self.root.clone(), Placement::Sync).await
            }
            (_, RepoHealth::Ok) => {
                self.place_watches(self.root.clone(), Placement::Renew).await;
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
                    self.drop_watches().await;
                    self.watching = false;
                    self.due.clear();
                    self.idle_due.clear();
                    self.git_at = None;
                    self.core.log(LogEntry::new(
                        LogKind::Error,
                        Some(&self.key),
                        format!("repository disabled: {why}"),
                    ));
                }
            }
        }
    }
}
