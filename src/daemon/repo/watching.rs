//! Keeping the repository's directory watches in step with its tree: the whole tree at
//! start, on health checks, after a rescan or an ignore-rule change, and each directory
//! that appears. A watch that cannot be placed (the kernel's limit) is a problem shown
//! in `kairos status` and logged once, not a reason to stop watching the rest.

use std::collections::HashSet;
use std::path::PathBuf;

use tokio::time::Instant;

use super::{COLLECT, RepoActor};
use crate::store::{LogEntry, LogKind};
use crate::watch::fs::Placed;
use crate::watch::tree::{self, Visit};

/// How a walk treats the watches it finds in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Placement {
    /// A directory that appeared: every watch under it is placed anew, and the files
    /// already inside count as changed.
    Add,
    /// The whole tree, trusting the watches listed under the same identity: new and
    /// replaced directories get a watch and their files count as changed, directories
    /// gone or now ignored lose theirs.
    Sync,
    /// The whole tree, every watch placed again (at start, after lost events).
    Renew,
}

impl RepoActor {
    /// Walks from `start` (the root for a whole-tree placement) and places watches as
    /// `how` says.
    pub(super) async fn place_watches(&mut self, start: PathBuf, how: Placement) {
        let root = self.root.clone();
        let core = self.core.clone();
        let id = self.fs.id;
        let whole = start == root;
        let walked = tokio::task::spawn_blocking(move || {
            let began = std::time::Instant::now();
            let mut problem = None;
            let renew = how != Placement::Sync;
            let mut visit =
                |dir: &std::path::Path, dir_id| match core.fs.place(id, dir, dir_id, renew) {
                    Ok(Placed::New) => Visit::Enter { fresh: true },
                    Ok(Placed::Known) => Visit::Enter { fresh: false },
                    Ok(Placed::Elsewhere) => Visit::Leave,
                    Err(e) => {
                        problem.get_or_insert(e);
                        Visit::Leave
                    }
                };
            let mut git_dirs = None;
            let found = if start.starts_with(&root) {
                let mut found = tree::walk(&root, &start, how != Placement::Renew, &mut visit);
                if whole {
                    // A linked worktree: its HEAD and refs live outside its tree.
                    let outside = tree::outside_git_dirs(&root);
                    core.fs.set_git_dirs(id, outside.clone());
                    for dir in &outside {
                        found.watched.extend(tree::walk_git_dir(dir, &mut visit));
                    }
                    git_dirs = Some(outside);
                }
                found
            } else if start.components().any(|c| c.as_os_str() == "refs") {
                // A refs directory that appeared in an outside git dir.
                tree::TreeDirs {
                    watched: tree::walk_refs(&start, &mut visit),
                    ..Default::default()
                }
            } else {
                tree::TreeDirs::default()
            };
            if whole && problem.is_none() {
                let keep: HashSet<PathBuf> = found.watched.iter().cloned().collect();
                core.fs.retain(id, &keep);
            }
            tracing::debug!(
                repo = %root.display(),
                "{how:?} from {}: {} directories watched, {} not entered ({:?})",
                start.display(),
                found.watched.len(),
                found.skipped.len(),
                began.elapsed()
            );
            let watched = core.fs.watched(id);
            (found, problem, watched, git_dirs)
        })
        .await;
        let Ok((found, problem, watched, git_dirs)) = walked else { return };
        if let Some(git_dirs) = git_dirs {
            self.git_dirs = git_dirs;
        }
        {
            let mut runtime = self.runtime.lock().unwrap_or_else(|e| e.into_inner());
            runtime.watched_dirs = watched;
            let shown = found
                .skipped
                .iter()
                .filter_map(|d| d.strip_prefix(&self.root).ok())
                .map(|d| d.to_string_lossy().into_owned());
            if whole {
                runtime.skipped_dirs = shown.collect();
            } else {
                let entered: HashSet<PathBuf> = found.watched.iter().cloned().collect();
                runtime.skipped_dirs.retain(|d| !entered.contains(&self.root.join(d)));
                runtime.skipped_dirs.extend(shown);
                runtime.skipped_dirs.sort();
                runtime.skipped_dirs.dedup();
            }
        }
        if whole {
            self.kept = found.kept;
        } else {
            self.kept.extend(found.kept);
        }
        match problem {
            Some(e) => self.watch_problem(Some(watch_error(e))),
            None if whole => self.watch_problem(None),
            None => {}
        }
        if !found.fresh_files.is_empty() {
            self.collect_paths(found.fresh_files);
            self.flush_at.get_or_insert_with(|| Instant::now() + COLLECT);
        }
    }

    /// After a commit: a skipped directory may hold committed files now (force-added),
    /// and then it is watched.
    pub(super) async fn recheck_skipped(&mut self) {
        let root = self.root.clone();
        let skipped: Vec<PathBuf> = {
            let runtime = self.runtime.lock().unwrap_or_else(|e| e.into_inner());
            runtime.skipped_dirs.iter().map(|d| root.join(d)).collect()
        };
        if skipped.is_empty() {
            return;
        }
        let now_kept =
            tokio::task::spawn_blocking(move || tree::holding_committed_files(&root, &skipped))
                .await
                .unwrap_or_default();
        for dir in now_kept {
            self.place_watches(dir, Placement::Add).await;
        }
    }

    /// Shows (and logs once) a problem with the watches, or clears it.
    fn watch_problem(&mut self, problem: Option<String>) {
        let mut runtime = self.runtime.lock().unwrap_or_else(|e| e.into_inner());
        if runtime.watch_problem == problem {
            return;
        }
        runtime.watch_problem = problem.clone();
        drop(runtime);
        let entry = match problem {
            Some(why) => LogEntry::new(LogKind::Error, Some(&self.key), why),
            None => {
                LogEntry::new(LogKind::Daemon, Some(&self.key), "every directory is watched again")
            }
        };
        self.core.log(entry);
    }

    /// Stops watching the repository (it is gone or broken), off the async threads:
    /// each removal is a round trip to notify's thread.
    pub(super) async fn drop_watches(&mut self) {
        let core = self.core.clone();
        let id = self.fs.id;
        let _ = tokio::task::spawn_blocking(move || core.fs.unwatch(id)).await;
        self.runtime.lock().unwrap_or_else(|e| e.into_inner()).watched_dirs = 0;
    }
}

fn watch_error(e: notify::Error) -> String {
    let at = e.paths.first().map(|p| format!(" (at {})", p.display())).unwrap_or_default();
    if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) {
        format!(
            "some directories are not watched: the kernel's inotify watch limit is reached{at}; \
             raise it with `sudo sysctl fs.inotify.max_user_watches=524288`, or ignore \
             build and dependency directories in .gitignore"
        )
    } else {
        format!("some directories are not watched: {e}{at}")
    }
}
