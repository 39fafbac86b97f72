//! Following the repository's refs: after inotify says a ref file changed, read them
//! (`watch::git`), log what moved, and run the tasks that follow git.

use super::RepoActor;
use crate::store::{LogEntry, LogKind};
use crate::tasks::{GitChange, Trigger};
use crate::watch::git::RefState;

impl RepoActor {
    /// Reads the refs, logs how they changed, and runs the tasks that follow refs.
    pub(super) async fn refresh_git(&mut self, react: bool) {
        let root = self.root.clone();
        let Ok(read) = tokio::task::spawn_blocking(move || {
            crate::git::open(&root).and_then(|r| RefState::read(&r))
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
        let before: Option<RefState> = self.core.store.ref_state(&self.key).ok().flatten();
        let changes = before.as_ref().map(|b| b.changes_to(&now)).unwrap_or_default();
        let moved = before.as_ref().and_then(|b| b.change_to(&now));
        let new_commit = moved == Some(GitChange::HeadMoved);
        if before.as_ref() != Some(&now) {
            let _ = self.core.store.put_ref_state(&self.key, &now);
        }
        for change in &changes {
            self.event(change);
        }
        if react && !changes.is_empty() {
            // A commit or a branch is activity too: the idle timers start again.
            self.restart_idle();
        }
        if new_commit {
            self.recheck_skipped().await;
        }
        let Some(change) = moved.filter(|_| react && !changes.is_empty()) else { return };
        for task in
            self.tasks_where(|t| t.triggers.git_refs || (new_commit && t.triggers.git_commit))
        {
            self.trigger(&task, Trigger::Git(change)).await;
        }
    }
}
