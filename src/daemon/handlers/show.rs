use std::path::Path;
use std::sync::Arc;

use crate::daemon::core::Core;
use crate::diff;
use crate::proposal::{Change, FileChange, FileState, Proposal, ProposalId, UndoRecord};
use crate::protocol::{ErrorCode, Response};

pub async fn handle(core: &Arc<Core>, id: ProposalId) -> Response {
    let proposal = match super::find(core, id) {
        Ok(p) => p,
        Err(outcome) => return Response::error(ErrorCode::NotFound, outcome.message, None),
    };
    let for_diff = proposal.clone();
    let diff = tokio::task::spawn_blocking(move || render_diff(&for_diff)).await.ok().flatten();
    Response::Proposal { proposal: Box::new(proposal), diff }
}

/// The unified diff of a proposal that changes files, the diff stat of a commit, or
/// `None` for other ref changes.
fn render_diff(p: &Proposal) -> Option<String> {
    if let Change::Commit { parent, tree, .. } = &p.change {
        return crate::git::diff_stat(
            &crate::git::open(Path::new(&p.repo)).ok()?,
            parent.as_deref(),
            tree,
        )
        .ok();
    }
    let files: &[FileChange] = match (&p.change, &p.undo) {
        (_, Some(UndoRecord::Files { files, .. })) => files,
        (Change::Patch { files }, _) => files,
        _ => return None,
    };
    let root = Path::new(&p.repo);
    let repo = crate::git::open(root).ok()?;
    let mut out = String::new();
    for file in files {
        let path = file.path.to_string();
        let side = |state: &Option<FileState>| content(&repo, root, file, state);
        out.push_str(&diff::render(&path, &side(&file.before), &side(&file.after)));
    }
    Some(out)
}

/// The bytes of a file state: from the repository's objects, or (before an apply has
/// stored them) from the working tree when it still holds exactly that content.
fn content(
    repo: &git2::Repository,
    root: &Path,
    file: &FileChange,
    state: &Option<FileState>,
) -> diff::Side {
    let state = state.as_ref()?;
    if let Ok(blob) = git2::Oid::from_str(&state.blob).and_then(|id| repo.find_blob(id)) {
        return Some((blob.content().to_vec(), state.mode));
    }
    let full = crate::apply::safe_path(root, file.path.as_path()).ok()?;
    if crate::apply::disk_state(&full).ok()?.as_ref() == Some(state) {
        let bytes = if state.mode == crate::apply::MODE_LINK {
            std::fs::read_link(&full).ok()?.into_os_string().into_encoded_bytes()
        } else {
            crate::read::read_regular(&full, 64 << 20).ok()?
        };
        return Some((bytes, state.mode));
    }
    Some((b"(this content is no longer available: the file changed since)\n".to_vec(), state.mode))
}
