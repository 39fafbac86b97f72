//! Keeping the repository's directory watches in step with its tree: the whole set after
//! start, a rescan or an ignore-rule change, and one new directory at a time as they appear.

use std::path::PathBuf;

use super::RepoActor;
use crate::store::{LogEntry, LogKind};
use crate::watch::fs::Placement;
use crate::watch::tree::dirs_to_watch;

impl RepoActor {
    /// Walks the whole tree and watches exactly the directories worth watching.
    pub(super) async fn refresh_watches(&mut self, how: Placement) -> Result<(), String> {
        let root = self.root.clone();
        let core = self.core.clone();
        let id = self.fs.id;
        let walked = tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let found = dirs_to_watch(&root, &root);
            core.fs.watch_dirs(id, &found.watch, how)?;
            tracing::debug!(
                repo = %root.display(),
                "watching {} directories, {} not entered ({:?})",
                found.watch.len(),
                found.skipped.len(),
                started.elapsed()
            );
            Ok(found)
        })
        .await
        .map_err(|e| e.to_string())?;
        match walked {
            Ok(found) => {
                self.runtime.lock().unwrap_or_else(|e| e.into_inner()).watched_dirs =
                    found.watch.len();
                self.show_skipped(found.skipped, true);
                Ok(())
            }
            Err(e) => Err(watch_error(e)),
        }
    }

    /// Refreshes the watches, logging (not failing on) a problem: the next health check
    /// tries again.
    pub(super) async fn rewatch(&mut self, how: Placement) {
        if let Err(why) = self.refresh_watches(how).await {
            self.core.log(LogEntry::new(LogKind::Error, Some(&self.key), why));
        }
    }

    /// Watches a directory that just appeared (if git does not ignore it), then lists
    /// what is already inside: files written before its watch was in place are changes too.
    pub(super) async fn watch_new_dir(&mut self, dir: PathBuf) {
        let root = self.root.clone();
        let core = self.core.clone();
        let id = self.fs.id;
        let walked = tokio::task::spawn_blocking(move || {
            let found = dirs_to_watch(&root, &dir);
            core.fs.watch_dirs(id, &found.watch, Placement::Add)?;
            Ok::<_, notify::Error>((contents(&found.watch), found))
        })
        .await;
        match walked {
            Ok(Ok((inside, found))) => {
                self.runtime.lock().unwrap_or_else(|e| e.into_inner()).watched_dirs +=
                    found.watch.len();
                self.show_skipped(found.skipped, false);
                self.collect_paths(inside);
            }
            Ok(Err(e)) => {
                self.core.log(LogEntry::new(LogKind::Error, Some(&self.key), watch_error(e)));
                // What went unwatched is still looked at, once.
                self.pending_rescan = true;
            }
            Err(_) => self.pending_rescan = true,
        }
    }

    /// Shows the directories left unwatched in `kairos status`.
    fn show_skipped(&mut self, skipped: Vec<PathBuf>, replace: bool) {
        let shown = skipped
            .iter()
            .filter_map(|d| d.strip_prefix(&self.root).ok())
            .map(|d| d.to_string_lossy().into_owned());
        let mut runtime = self.runtime.lock().unwrap_or_else(|e| e.into_inner());
        if replace {
            runtime.skipped_dirs.clear();
        }
        runtime.skipped_dirs.extend(shown);
        runtime.skipped_dirs.sort();
        runtime.skipped_dirs.dedup();
    }
}

/// Every entry directly inside `dirs` that is not itself a directory (those are in `dirs`).
fn contents(dirs: &[PathBuf]) -> Vec<PathBuf> {
    dirs.iter()
        .filter_map(|dir| std::fs::read_dir(dir).ok())
        .flat_map(|entries| entries.flatten())
        .filter(|e| !e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect()
}

fn watch_error(e: notify::Error) -> String {
    if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) {
        let at = e.paths.first().map(|p| format!(" (at {})", p.display())).unwrap_or_default();
        format!(
            "cannot watch every directory: the kernel's inotify watch limit is reached{at}; \
             raise it with `sudo sysctl fs.inotify.max_user_watches=524288`, or ignore \
             build and dependency directories in .gitignore"
        )
    } else {
        format!("cannot watch: {e}")
    }
}
