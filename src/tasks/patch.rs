//! Turning a tool's run in scratch space into an `fs.patch` draft.

use git2::Repository;

use super::TaskError;
use super::scratch::Scratch;
use crate::proposal::{Change, Draft, FileChange};

/// The draft for the changes left in `scratch`, or `None` when the tool changed nothing.
pub fn draft(
    repo: &Repository,
    scratch: &Scratch,
    task: &str,
    title: impl FnOnce(usize) -> String,
    why: String,
) -> Result<Option<Draft>, TaskError> {
    let files = scratch.changes(repo)?;
    if files.is_empty() {
        return Ok(None);
    }
    let fingerprint = format!("fs.patch:{task}:{}", digest(&files));
    Ok(Some(Draft {
        action: "fs.patch".into(),
        title: title(files.len()),
        why,
        fingerprint,
        change: Change::Patch { files },
    }))
}

/// A stable digest of a set of file changes: the same change gets the same fingerprint.
fn digest(files: &[FileChange]) -> String {
    let text = serde_json::to_string(files).expect("serialisable");
    git2::Oid::hash_object(git2::ObjectType::Blob, text.as_bytes())
        .map(|o| o.to_string())
        .unwrap_or_default()
}
