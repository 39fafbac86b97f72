//! Keeping the objects an undo needs reachable, so `git gc` never prunes them: the raw
//! bytes a patch or restore replaced, and the content it wrote.

use git2::{FileMode, Oid, Repository};

use crate::proposal::UndoRecord;

/// Points `refs/kairos/keep/<digest>` at a commit whose tree holds every blob of a file
/// plan (named by their ids). Ref-only plans need nothing kept.
pub fn keep_objects(repo: &Repository, record: &UndoRecord) -> Result<(), git2::Error> {
    let UndoRecord::Files { files, .. } = record else { return Ok(()) };
    let mut blobs: Vec<(&str, u32)> = files
        .iter()
        .flat_map(|f| [f.before.as_ref(), f.after.as_ref()])
        .flatten()
        .map(|s| (s.blob.as_str(), s.mode))
        .collect();
    blobs.sort();
    blobs.dedup_by_key(|(id, _)| *id);
    if blobs.is_empty() {
        return Ok(());
    }
    let mut tree = repo.treebuilder(None)?;
    for (id, mode) in &blobs {
        let mode =
            if *mode == i32::from(FileMode::Link) as u32 { FileMode::Link } else { FileMode::Blob };
        tree.insert(*id, Oid::from_str(id)?, mode.into())?;
    }
    let tree = repo.find_tree(tree.write()?)?;
    let sig = super::signature()?;
    let commit = repo.commit(None, &sig, &sig, "kairos: objects kept for undo", &tree, &[])?;
    repo.reference(
        &format!("refs/kairos/keep/{}", tree.id()),
        commit,
        true,
        "kairos: keep for undo",
    )?;
    Ok(())
}
