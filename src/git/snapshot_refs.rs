//! Where snapshots live: `refs/kairos/snapshots/<branch>`, one chain per branch. Refs
//! are paths, so a chain for `feature` and one for `feature/x` cannot both exist (git
//! cannot hold both branches either, so one of them belongs to a branch that is gone).
//! Such a chain is moved aside to `refs/kairos/archive/snapshots/<branch>@<time>`, where
//! names end in `@<time>` and therefore never clash, and stays listed and restorable.

use git2::Repository;

/// The namespace of live snapshot chains.
pub const SNAPSHOTS: &str = "refs/kairos/snapshots/";
/// The namespace of chains moved aside.
pub const ARCHIVE: &str = "refs/kairos/archive/snapshots/";

/// The ref under which snapshots of `branch` are kept (`None`: detached HEAD).
pub fn snapshot_ref(branch: Option<&str>) -> String {
    // git refuses a branch named HEAD, so it cannot clash with a real branch.
    format!("{SNAPSHOTS}{}", branch.unwrap_or("HEAD"))
}

/// Moves the snapshot chains that stand in the way of `reference` into the archive and
/// returns their old names. The archive ref is written before the old one is deleted,
/// so an interruption leaves a chain under two names, never under none.
pub fn archive_clashing(repo: &Repository, reference: &str) -> Result<Vec<String>, git2::Error> {
    let Some(name) = reference.strip_prefix(SNAPSHOTS) else { return Ok(vec![]) };
    let mut clashing: Vec<String> = Vec::new();
    // Above: `feature` stands in the way of `feature/x`.
    let mut prefix = String::from(SNAPSHOTS);
    let parts: Vec<&str> = name.split('/').collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        prefix.push_str(part);
        if repo.find_reference(&prefix).is_ok() {
            clashing.push(prefix.clone());
        }
        prefix.push('/');
    }
    // Below: `feature/x` stands in the way of `feature`.
    for below in repo.references_glob(&format!("{reference}/*"))? {
        if let Ok(below) = below?.name() {
            clashing.push(below.to_owned());
        }
    }
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    for old in &clashing {
        let target = repo.refname_to_id(old)?;
        let archived = format!("{ARCHIVE}{}@{stamp}", &old[SNAPSHOTS.len()..]);
        match repo.reference(&archived, target, false, "kairos: archive a snapshot chain") {
            Ok(_) => {}
            // Already archived by an interrupted earlier run.
            Err(e)
                if e.code() == git2::ErrorCode::Exists
                    && repo.refname_to_id(&archived).ok() == Some(target) => {}
            Err(e) => return Err(e),
        }
        repo.find_reference(old)?.delete()?;
    }
    Ok(clashing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_in_the_way_are_archived_both_ways_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let sig = git2::Signature::now("t", "t@t").unwrap();
        let tree = repo.treebuilder(None).unwrap().write().unwrap();
        let tree = repo.find_tree(tree).unwrap();
        let commit = repo.commit(None, &sig, &sig, "c", &tree, &[]).unwrap();
        repo.reference("refs/kairos/snapshots/feature", commit, false, "").unwrap();

        let moved = archive_clashing(&repo, "refs/kairos/snapshots/feature/x").unwrap();
        assert_eq!(moved, ["refs/kairos/snapshots/feature"]);
        repo.reference("refs/kairos/snapshots/feature/x", commit, false, "").unwrap();

        let moved = archive_clashing(&repo, "refs/kairos/snapshots/feature").unwrap();
        assert_eq!(moved, ["refs/kairos/snapshots/feature/x"]);
        repo.reference("refs/kairos/snapshots/feature", commit, false, "").unwrap();

        let archived: Vec<String> = repo
            .references_glob("refs/kairos/archive/snapshots/*")
            .unwrap()
            .map(|r| r.unwrap().name().unwrap().to_owned())
            .collect();
        assert_eq!(archived.len(), 2, "{archived:?}");
        assert!(archived.iter().any(|n| n.contains("/feature@")), "{archived:?}");
        assert!(archived.iter().any(|n| n.contains("/feature/x@")), "{archived:?}");
        assert!(archive_clashing(&repo, "refs/kairos/snapshots/main").unwrap().is_empty());
    }
}
