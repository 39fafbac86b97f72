//! Keeping the objects an undo needs reachable, so `git gc` never prunes them: the raw
//! bytes a patch or restore replaced, and the content it wrote.

use git2::{FileMode, Oid, Repository};

use crate::proposal::UndoRecord;

/// Where the objects undo needs are kept.
const KEEP: &str = "refs/kairos/keep/";

/// Points `refs/kairos/keep/<digest>` at a commit whose tree holds every blob of a file
/// plan (named by their ids). Ref-only plans need nothing kept.
pub fn keep_objects(repo: &Repository, record: &UndoRecord) -> Result<(), git2::Error> {
    let Some(tree) = kept_tree(repo, record)? else { return Ok(()) };
    let tree = repo.find_tree(tree)?;
    let sig = super::signature()?;
    let commit = repo.commit(None, &sig, &sig, "kairos: objects kept for undo", &tree, &[])?;
    repo.reference(&format!("{KEEP}{}", tree.id()), commit, true, "kairos: keep for undo")?;
    Ok(())
}

/// The ref that keeps `record`'s objects, if it needs one.
pub fn keep_ref_of(repo: &Repository, record: &UndoRecord) -> Result<Option<String>, git2::Error> {
    Ok(kept_tree(repo, record)?.map(|tree| format!("{KEEP}{tree}")))
}

/// Deletes the keep refs not in `needed` (their undo was used, or is past retention):
/// `git gc` may then prune those objects. Returns how many were deleted.
pub fn prune_keep_refs(
    repo: &Repository,
    needed: &std::collections::HashSet<String>,
) -> Result<usize, git2::Error> {
    let mut pruned = 0;
    for reference in repo.references_glob(&format!("{KEEP}*"))? {
        let mut reference = reference?;
        let Ok(name) = reference.name().map(str::to_owned) else { continue };
        if !needed.contains(&name) {
            reference.delete()?;
            pruned += 1;
        }
    }
    Ok(pruned)
}

/// The tree naming every blob of a file plan (written, if it is not there yet).
fn kept_tree(repo: &Repository, record: &UndoRecord) -> Result<Option<Oid>, git2::Error> {
    let UndoRecord::Files { files, .. } = record else { return Ok(None) };
    let mut blobs: Vec<(&str, u32)> = files
        .iter()
        .flat_map(|f| [f.before.as_ref(), f.after.as_ref()])
        .flatten()
        .map(|s| (s.blob.as_str(), s.mode))
        .collect();
    blobs.sort();
    blobs.dedup_by_key(|(id, _)| *id);
    if blobs.is_empty() {
        return Ok(None);
    }
    let mut tree = repo.treebuilder(None)?;
    for (id, mode) in &blobs {
        let mode =
            if *mode == i32::from(FileMode::Link) as u32 { FileMode::Link } else { FileMode::Blob };
        tree.insert(*id, Oid::from_str(id)?, mode.into())?;
    }
    tree.write().map(Some)
}
