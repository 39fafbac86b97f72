//! `fs.patch`: every file must still hold the content the proposal was computed from;
//! then each is replaced atomically, all of them under one journaled plan.

use std::path::Path;

use git2::Repository;

use super::files::{disk_state, safe_path, store_raw, write_all};
use super::{ApplyError, Journal, Outcome};
use crate::proposal::{FileChange, UndoRecord};

pub fn stale_reason(root: &Path, files: &[FileChange]) -> Result<Option<String>, ApplyError> {
    let mut changed = Vec::new();
    for file in files {
        let full = safe_path(root, file.path.as_path())?;
        if disk_state(&full)? != file.before {
            changed.push(file.path.to_string());
        }
    }
    Ok((!changed.is_empty()).then(|| {
        let shown: Vec<&str> = changed.iter().take(5).map(String::as_str).collect();
        let more = changed.len().saturating_sub(shown.len());
        let more = if more > 0 { format!(" and {more} more") } else { String::new() };
        format!("changed since the proposal was made: {}{more}", shown.join(", "))
    }))
}

/// "already in place: FILES" when every file is exactly what the patch would make it.
pub fn already_done(root: &Path, files: &[FileChange]) -> Result<Option<String>, ApplyError> {
    for file in files {
        let full = safe_path(root, file.path.as_path())?;
        if disk_state(&full)? != file.after {
            return Ok(None);
        }
    }
    let names: Vec<String> = files.iter().take(5).map(|f| f.path.to_string()).collect();
    let more = files.len().saturating_sub(names.len());
    let more = if more > 0 { format!(" and {more} more") } else { String::new() };
    Ok((!files.is_empty()).then(|| format!("already in place: {}{more}", names.join(", "))))
}

pub fn apply(
    repo: &Repository,
    root: &Path,
    files: &[FileChange],
    journal: Journal,
) -> Result<Outcome, ApplyError> {
    for file in files {
        let full = safe_path(root, file.path.as_path())?;
        // Keep the exact bytes being replaced, so undo can write them back.
        if store_raw(repo, &full)? != file.before {
            return Ok(Outcome::Stale(format!(
                "{} changed while the patch was applied",
                file.path
            )));
        }
    }
    let record = UndoRecord::Files { pre_snapshot: None, files: files.to_vec() };
    crate::git::keep_objects(repo, &record)?;
    journal(&record)?;
    write_all(repo, root, files, true)?;
    Ok(Outcome::Applied(record))
}
