use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Utc;

use crate::daemon::core::Core;
use crate::daemon::journaled;
use crate::policy::{Autonomy, DecidedBy, Decision};
use crate::proposal::{Actor, Change, HistoryEntry, Proposal, RepoPath, State, Step};
use crate::protocol::{ErrorCode, Response};

pub async fn handle(
    core: &Arc<Core>,
    repo: PathBuf,
    snapshot: String,
    paths: Vec<PathBuf>,
) -> Response {
    let root = match crate::registry::resolve_repo(&repo) {
        Ok(root) => root,
        Err(e) => return Response::error(ErrorCode::BadRequest, e, None),
    };
    let mut relative = Vec::new();
    for path in &paths {
        match relative_to(&root, path) {
            Ok(rel) => relative.push(rel),
            Err(e) => return Response::error(ErrorCode::BadRequest, e, None),
        }
    }
    let result = core
        .act(&root.clone(), move |core| restore(core, &root, snapshot, relative))
        .await
        .unwrap_or_else(|e| Err(format!("the restore panicked: {e}")));
    match result {
        Ok(p) if p.state == State::Applied => {
            let n = match &p.undo {
                Some(crate::proposal::UndoRecord::Files { files, .. }) => files.len(),
                _ => 0,
            };
            let message = format!(
                "#{}: restored {n} files from {}; `kairos undo {}` puts them back",
                p.id,
                short(&p),
                p.id
            );
            Response::Outcomes { outcomes: vec![super::success(&p, message)] }
        }
        Ok(p) => Response::error(
            ErrorCode::Failed,
            format!(
                "#{} {}: {}",
                p.id,
                p.state,
                p.history.last().and_then(|h| h.note.clone()).unwrap_or_default()
            ),
            None,
        ),
        Err(e) => Response::error(ErrorCode::Failed, e, None),
    }
}

fn short(p: &Proposal) -> String {
    match &p.change {
        Change::Restore { snapshot, .. } => shown(snapshot),
        _ => String::new(),
    }
}

/// How a snapshot is named to the user: a commit id shortened, a ref name in full.
fn shown(snapshot: &str) -> String {
    if snapshot.len() > 10 && snapshot.bytes().all(|b| b.is_ascii_hexdigit()) {
        snapshot[..10].to_owned()
    } else {
        snapshot.to_owned()
    }
}

/// Turns a path the user typed (absolute, as the CLI sends it) into one relative to the
/// repository, refusing paths outside it.
fn relative_to(root: &Path, path: &Path) -> Result<RepoPath, String> {
    let abs = std::path::absolute(path).map_err(|e| e.to_string())?;
    let rel = abs
        .strip_prefix(root)
        .map_err(|_| format!("{} is outside the repository {}", path.display(), root.display()))?;
    crate::apply::safe_path(root, rel).map_err(|e| e.to_string())?;
    Ok(RepoPath::from_path(rel))
}

fn restore(
    core: &Core,
    root: &Path,
    snapshot: String,
    paths: Vec<RepoPath>,
) -> Result<Proposal, String> {
    let now = Utc::now();
    let id = core.store.next_proposal_id().map_err(|e| e.to_string())?;
    let scope = if paths.is_empty() {
        "every file".to_owned()
    } else {
        paths.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", ")
    };
    let mut p = Proposal {
        id,
        repo: root.to_string_lossy().into_owned(),
        task: "restore".into(),
        action: crate::action::Action::Restore,
        title: format!("restore {scope} from snapshot {}", shown(&snapshot)),
        why: "asked for with `kairos restore`".into(),
        state: State::Pending,
        created_at: now,
        updated_at: now,
        fingerprint: format!("fs.restore:{id}"),
        change: Change::Restore { snapshot, paths },
        decision: Some(Decision { autonomy: Autonomy::Auto, decided_by: DecidedBy::User, at: now }),
        branch: None,
        changed_lines: 0,
        undo: None,
        history: vec![HistoryEntry { at: now, state: State::Pending, by: Actor::User, note: None }],
        provenance: crate::proposal::Provenance::BUILTIN,
    };
    p.advance(Step::Approve, Actor::User, None, now).map_err(|e| e.to_string())?;
    core.put_proposal(&p).map_err(|e| e.to_string())?;
    journaled::apply_approved(core, &mut p, Actor::User);
    Ok(p)
}

#[cfg(test)]
mod tests {
    #[test]
    fn snapshot_names_are_shown_whole_and_ids_short() {
        assert_eq!(super::shown("refs/kairos/snapshots/main"), "refs/kairos/snapshots/main");
        assert_eq!(super::shown("0123456789abcdef0123456789abcdef01234567"), "0123456789");
        assert_eq!(super::shown("main@{2}"), "main@{2}");
    }
}
