//! Turning a tool's run in scratch space into an `fs.patch` draft.

use git2::Repository;

use super::TaskError;
use super::scratch::Scratch;
use std::path::Path;

use crate::action::Action;
use crate::proposal::{Change, Draft, FileChange, FileState, Provenance};

/// The draft for the changes left in `scratch`, or `None` when the tool changed nothing.
pub fn draft(
    repo: &Repository,
    scratch: &Scratch,
    task: &str,
    title: impl FnOnce(usize) -> String,
    why: String,
    provenance: Provenance,
) -> Result<Option<Draft>, TaskError> {
    Ok(draft_from(repo, scratch.changes(repo)?, task, title, why, provenance))
}

/// The draft for `files` (some of a scratch copy's changes), or `None` when there are none.
pub fn draft_from(
    repo: &Repository,
    files: Vec<FileChange>,
    task: &str,
    title: impl FnOnce(usize) -> String,
    why: String,
    provenance: Provenance,
) -> Option<Draft> {
    if files.is_empty() {
        return None;
    }
    let fingerprint = fingerprint(task, &files);
    Some(Draft {
        action: Action::Patch,
        changed_lines: changed_lines(repo, &files),
        title: title(files.len()),
        why,
        fingerprint,
        change: Change::Patch { files },
        provenance,
    })
}

/// Lines added plus removed across text files: the old content is the user's file (it
/// still holds exactly what was copied), the new one the blob the tool produced.
pub fn changed_lines(repo: &Repository, files: &[FileChange]) -> u64 {
    let root = repo.workdir().map(Path::to_path_buf).unwrap_or_default();
    let read_blob = |state: &Option<FileState>| -> Vec<u8> {
        state
            .as_ref()
            .and_then(|s| git2::Oid::from_str(&s.blob).ok())
            .and_then(|id| repo.find_blob(id).ok())
            .map(|b| b.content().to_vec())
            .unwrap_or_default()
    };
    let mut total = 0u64;
    for file in files {
        let old = match &file.before {
            // Bounded and never a pipe: the file may have been swapped since it was copied.
            Some(_) => crate::read::read_regular(&root.join(file.path.as_path()), 64 << 20)
                .unwrap_or_default(),
            None => Vec::new(),
        };
        let new = read_blob(&file.after);
        let (Ok(old), Ok(new)) = (std::str::from_utf8(&old), std::str::from_utf8(&new)) else {
            continue;
        };
        let diff = similar::TextDiff::from_lines(old, new);
        total +=
            diff.iter_all_changes().filter(|c| c.tag() != similar::ChangeTag::Equal).count() as u64;
    }
    total
}

/// A stable digest of a set of file changes: the same change gets the same fingerprint.
/// What tells a file change of `task` from any other: the same files made the same way.
pub fn fingerprint(task: &str, files: &[FileChange]) -> String {
    format!("fs.patch:{task}:{}", digest(files))
}

fn digest(files: &[FileChange]) -> String {
    let text = serde_json::to_string(files).expect("serialisable");
    git2::Oid::hash_object(git2::ObjectType::Blob, text.as_bytes())
        .map(|o| o.to_string())
        .unwrap_or_default()
}
