//! Applies that reorganise git's storage with `git maintenance run` (commit-graph,
//! loose-objects, incremental-repack, pack-refs) or `git gc`. Objects and refs stay what
//! they were, so there is nothing to undo — except gc, which prunes unreachable objects
//! and is therefore never automatic.

use std::path::Path;
use std::time::Duration;

use super::{ApplyError, Journal, Outcome};
use crate::action::Maintenance;
use crate::proposal::UndoRecord;

pub fn apply(
    repo: &git2::Repository,
    root: &Path,
    task: Maintenance,
    journal: Journal,
) -> Result<Outcome, ApplyError> {
    if let Some(lock) = crate::git::held_lock(repo) {
        return Ok(Outcome::Stale(format!("git's lock {lock} is held; kairos tries again later")));
    }
    let record = if task == Maintenance::Gc {
        UndoRecord::Irreversible {
            why: "git gc pruned unreachable objects; that cannot be undone".into(),
        }
    } else {
        UndoRecord::Nothing {
            why: format!(
                "{task} only reorganised git's storage; every object and ref is as before"
            ),
        }
    };
    journal(&record)?;
    let args: Vec<&str> = if task == Maintenance::Gc {
        vec!["gc", "--quiet"]
    } else {
        vec!["maintenance", "run", "--quiet", "--task", task.as_str()]
    };
    crate::git::git(root, &args, Duration::from_secs(30 * 60)).map_err(ApplyError::Unsafe)?;
    Ok(Outcome::Applied(record))
}
