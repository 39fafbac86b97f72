//! Raw file events into batches: collected, taken together after a short gap (at most
//! `COLLECT` after the first), classified (refs, index, working tree), filtered by git's
//! ignore rules, logged, and handed to the tasks that follow files.

use std::path::{Path, PathBuf};

use tokio::time::Instant;

use super::watching::Placement;
use super::{COLLECT, COLLECT_GAP, GIT_SETTLE, MAX_PENDING, RepoActor};
use crate::store::{LogEntry, LogKind};
use crate::watch::classify::{PathKind, classify};
use crate::watch::fs::RawFs;

impl RepoActor {
    pub(super) async fn collect(&mut self, raw: RawFs) {
        match raw {
            RawFs::Paths(paths) => self.collect_paths(paths),
            RawFs::NewDir(dir) => self.place_watches(dir, Placement::Add).await,
            RawFs::Rescan => self.pending_rescan = true,
        }
        self.arm_flush();
    }

    /// An event arrived: look at what was collected after a short gap, never later than
    /// `COLLECT` after the batch's first event.
    pub(super) fn arm_flush(&mut self) {
        let now = Instant::now();
        let first = *self.collecting_since.get_or_insert(now);
        self.flush_at = Some((now + COLLECT_GAP).min(first + COLLECT));
    }

    pub(super) fn collect_paths(&mut self, paths: Vec<PathBuf>) {
        if self.pending.len() + paths.len() > MAX_PENDING {
            self.pending.clear();
            self.pending_rescan = true;
        } else if !self.pending_rescan {
            self.pending.extend(paths);
        }
    }

    /// Looks at the collected paths: ref changes, the root vanishing, or working-tree
    /// changes that git does not ignore.
    pub(super) async fn flush(&mut self) {
        let paths: Vec<PathBuf> = self.pending.drain().collect();
        let rescan = std::mem::take(&mut self.pending_rescan);
        let now = Instant::now();
        if rescan {
            self.event("rescan: file events were lost or too many to list; looking at everything");
            // Directories may have appeared unseen: their watches are placed now.
            self.place_watches(self.root.clone(), Placement::Renew).await;
            self.git_at = Some(now + GIT_SETTLE);
            self.worktree_changed(None);
            return;
        }
        let mut worktree = Vec::new();
        for path in &paths {
            match classify(&self.root, &self.git_dirs, path) {
                PathKind::Worktree(rel) => worktree.push(rel),
                PathKind::GitRefs => self.git_at = Some(now + GIT_SETTLE),
                PathKind::GitIndex => self.index_changed(),
                PathKind::Root => self.health_at = now,
                PathKind::Noise => {}
            }
        }
        if worktree.is_empty() {
            return;
        }
        let root = self.root.clone();
        let kept: Vec<PathBuf> = self
            .kept
            .iter()
            .filter_map(|d| d.strip_prefix(&self.root).ok())
            .map(Into::into)
            .collect();
        let relevant = tokio::task::spawn_blocking(move || not_ignored(&root, worktree, &kept))
            .await
            .unwrap_or_default();
        if relevant.iter().any(|p| p.file_name().is_some_and(|n| n == ".gitignore")) {
            // The ignore rules changed: which directories are worth watching may have too.
            self.place_watches(self.root.clone(), Placement::Sync).await;
        }
        if relevant.is_empty() {
            return;
        }
        if !self.root.exists() {
            self.health_at = now;
        }
        let text = describe_changes(&relevant);
        self.show_event(&text);
        self.core.log(LogEntry::new(LogKind::Event, Some(&self.key), text).paths(&relevant));
        self.recheck_touched(&relevant);
        self.worktree_changed(Some(&relevant));
    }

    /// Settles the pending file changes the user's edit touched (done already, or stale)
    /// under the repository's lock, off this loop.
    fn recheck_touched(&self, paths: &[PathBuf]) {
        if crate::daemon::pipeline::touching(&self.core, &self.root, paths).is_empty() {
            return;
        }
        let (core, root, paths) = (self.core.clone(), self.root.clone(), paths.to_vec());
        tokio::spawn(async move {
            let at = root.clone();
            let settled = core.act(&at, move |core| {
                crate::daemon::pipeline::recheck_touched(core, &root, &paths)
            });
            if let Ok(Err(e)) = settled.await {
                tracing::warn!("pending changes not checked again: {e}");
            }
        });
    }
}

/// The working-tree paths among `paths` that git does not ignore, or that lie in `kept`
/// (ignored directories holding committed files: ignore rules do not apply to those).
/// Directories that exist are left out: git tracks files, and what is inside a new
/// directory is listed on its own.
fn not_ignored(root: &Path, paths: Vec<PathBuf>, kept: &[PathBuf]) -> Vec<PathBuf> {
    let Ok(repo) = crate::git::open(root) else { return paths };
    let is_dir = |p: &Path| root.join(p).symlink_metadata().is_ok_and(|m| m.is_dir());
    let wanted = |p: &Path| {
        kept.iter().any(|d| p.starts_with(d)) || !repo.is_path_ignored(p).unwrap_or(false)
    };
    let mut relevant: Vec<PathBuf> =
        paths.into_iter().filter(|p| !is_dir(p) && wanted(p)).collect();
    relevant.sort();
    relevant
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
