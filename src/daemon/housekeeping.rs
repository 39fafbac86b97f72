//! kairos's own refs in a repository, kept tidy: the objects an undo needs are pinned
//! under `refs/kairos/keep/` while the change is applied and within the retention
//! (`[daemon] keep_undo_for`), and released once it is undone, or older. Blocking.

use std::collections::HashSet;
use std::path::Path;

use chrono::Utc;

use super::core::Core;
use crate::proposal::{State, UndoRecord};

/// Deletes the keep refs of `root` that no applied change within the retention (and no
/// apply still in the journal) needs. Returns how many were deleted.
pub fn prune_keep_refs(core: &Core, root: &Path) -> Result<usize, String> {
    let repo = crate::git::open(root).map_err(|e| e.to_string())?;
    let retention = chrono::TimeDelta::from_std(core.config().daemon.keep_undo_for)
        .unwrap_or(chrono::TimeDelta::MAX);
    let since =
        Utc::now().checked_sub_signed(retention).unwrap_or(chrono::DateTime::<Utc>::MIN_UTC);
    let key = root.to_string_lossy();
    let applied = core.store.proposals_in(State::Applied).map_err(|e| e.to_string())?;
    let mut plans: Vec<UndoRecord> = applied
        .into_iter()
        .filter(|p| p.repo == key && p.updated_at >= since)
        .filter_map(|p| p.undo)
        .collect();
    // An apply or undo still journaled (settling failed) may need its objects yet.
    let intents = core.store.intents().map_err(|e| e.to_string())?;
    for intent in intents {
        if core.store.proposal(intent.proposal).ok().flatten().is_some_and(|p| p.repo == key) {
            plans.push(intent.plan);
        }
    }
    let mut needed = HashSet::new();
    for plan in &plans {
        if let Some(name) = crate::git::keep_ref_of(&repo, plan).map_err(|e| e.to_string())? {
            needed.insert(name);
        }
    }
    crate::git::prune_keep_refs(&repo, &needed).map_err(|e| e.to_string())
}
