use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{TimeZone, Utc};

use crate::daemon::core::Core;
use crate::protocol::{Response, SnapshotInfo};

/// How far back each branch's snapshot chain is listed.
const PER_BRANCH: usize = 50;

pub async fn handle(core: &Arc<Core>, repo: Option<PathBuf>) -> Response {
    let roots: Vec<PathBuf> = match repo {
        Some(r) => vec![std::fs::canonicalize(&r).unwrap_or(r)],
        None => core.repos.lock().await.keys().cloned().collect(),
    };
    let listed = tokio::task::spawn_blocking(move || {
        let mut all = Vec::new();
        for root in roots {
            all.extend(list(&root).map_err(|e| format!("{}: {e}", root.display()))?);
        }
        all.sort_by_key(|s: &SnapshotInfo| std::cmp::Reverse(s.at));
        Ok::<_, String>(all)
    })
    .await
    .unwrap_or_else(|e| Err(e.to_string()));
    match listed {
        Ok(snapshots) => Response::Snapshots { snapshots },
        Err(e) => super::internal(e),
    }
}

fn list(root: &Path) -> Result<Vec<SnapshotInfo>, git2::Error> {
    let repo = crate::git::open(root)?;
    let mut out = Vec::new();
    let live = repo.references_glob(&format!("{}*", crate::git::SNAPSHOTS))?;
    let archived = repo.references_glob(&format!("{}*", crate::git::ARCHIVE))?;
    for reference in live.chain(archived) {
        let reference = reference?;
        let name = reference.name().unwrap_or("?");
        let branch = match name.strip_prefix(crate::git::SNAPSHOTS) {
            Some(branch) => branch.to_owned(),
            None => format!(
                "{} (archived: the branch is gone)",
                name.strip_prefix(crate::git::ARCHIVE).unwrap_or(name)
            ),
        };
        let mut next = reference.target();
        while let Some(id) = next {
            if out.len() >= PER_BRANCH * 16 {
                break;
            }
            let commit = repo.find_commit(id)?;
            let summary = commit
                .message()
                .ok()
                .and_then(|m| m.lines().find(|l| l.starts_with("Files changed")))
                .map(|l| l.replace("Files changed since the previous snapshot:", "files changed:"))
                .unwrap_or_default();
            out.push(SnapshotInfo {
                repo: root.to_owned(),
                branch: branch.clone(),
                commit: id.to_string(),
                at: Utc.timestamp_opt(commit.time().seconds(), 0).single().unwrap_or_default(),
                summary,
            });
            next = commit.parent_id(0).ok();
            if out.iter().filter(|s| s.branch == branch).count() >= PER_BRANCH {
                break;
            }
        }
    }
    Ok(out)
}
