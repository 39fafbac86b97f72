//! Git operations kairos needs, on top of git2. Everything here is blocking: callers
//! run it in `spawn_blocking`.

mod branches;
mod cli;
mod keep;
mod snapshot_refs;
mod worktree_tree;
mod worktree_update;

use std::path::{Path, PathBuf};

pub use branches::{GONE_PREFIX, default_branch, merged_branches, upstream_of};
pub use cli::{git, held_lock};
pub use keep::{keep_objects, keep_ref_of, prune_keep_refs};
pub use snapshot_refs::{ARCHIVE, SNAPSHOTS, archive_clashing, snapshot_ref};
pub use worktree_tree::{
    LeftOut, Snapshot, snapshot_of, snapshot_tree, take_snapshot, write_snapshot_commit,
};
pub use worktree_update::{NotIncremental, SeenTree, tree_since};

/// Commits what `index` holds as the repository's first commit (tests set up
/// repositories with it).
#[cfg(test)]
pub(crate) fn commit_index_for_tests(repo: &git2::Repository, index: &mut git2::Index) {
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = git2::Signature::now("t", "t@t").unwrap();
    repo.commit(Some("HEAD"), &sig, &sig, "initial", &tree, &[]).unwrap();
}

/// The signature kairos commits snapshots with, so they are easy to tell apart.
pub fn signature() -> Result<git2::Signature<'static>, git2::Error> {
    git2::Signature::now("kairos", "kairos@localhost")
}

/// Opens the repository whose working tree is exactly `root`.
pub fn open(root: &Path) -> Result<git2::Repository, git2::Error> {
    git2::Repository::open_ext(
        root,
        git2::RepositoryOpenFlags::NO_SEARCH,
        std::iter::empty::<&std::ffi::OsStr>(),
    )
}

/// The working tree of `repo` (kairos only works on repositories that have one).
pub fn workdir(repo: &git2::Repository) -> Result<PathBuf, git2::Error> {
    repo.workdir()
        .map(Path::to_path_buf)
        .ok_or_else(|| git2::Error::from_str("a bare repository has no working tree"))
}

/// A cheap fingerprint of the uncommitted state: HEAD plus every changed or new file's
/// path, size and modification time. Equal fingerprints mean nothing was edited since.
pub fn worktree_signature(root: &Path) -> Option<String> {
    let repo = open(root).ok()?;
    let head = repo.head().ok().and_then(|h| h.target()).map(|o| o.to_string()).unwrap_or_default();
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true).recurse_untracked_dirs(true).include_ignored(false);
    let mut text = head;
    for entry in repo.statuses(Some(&mut opts)).ok()?.iter() {
        let rel = crate::proposal::RepoPath::from_bytes(entry.path_bytes());
        let meta = std::fs::symlink_metadata(root.join(rel.as_path())).ok();
        let stamp = meta
            .map(|m| {
                let modified =
                    m.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
                format!("{}:{}", m.len(), modified.map_or(0, |d| d.as_nanos()))
            })
            .unwrap_or_else(|| "gone".into());
        text.push_str(&format!("\n{rel}\t{:?}\t{stamp}", entry.status()));
    }
    git2::Oid::hash_object(git2::ObjectType::Blob, text.as_bytes()).ok().map(|o| o.to_string())
}

/// Finds the working-tree root of the repository containing `path`.
pub fn discover_root(path: &Path) -> Result<PathBuf, String> {
    let repo = git2::Repository::discover(path)
        .map_err(|_| format!("{} is not inside a git repository", path.display()))?;
    let root = repo.workdir().ok_or_else(|| {
        format!(
            "{} is a bare repository; kairos watches repositories with a working tree",
            path.display()
        )
    })?;
    let root = root.canonicalize().map_err(|e| format!("{}: {e}", root.display()))?;
    Ok(root)
}

/// The short name of the branch HEAD points at, or `None` when HEAD is detached.
pub fn current_branch(repo: &git2::Repository) -> Option<String> {
    let head = repo.find_reference("HEAD").ok()?;
    let target = head.symbolic_target().ok()??;
    target.strip_prefix("refs/heads/").map(str::to_owned)
}

/// Every branch checked out in the main working tree or a linked worktree.
pub fn checked_out_branches(repo: &git2::Repository) -> Vec<String> {
    let mut out: Vec<String> = current_branch(repo).into_iter().collect();
    // From a linked worktree, `worktrees()` lists the linked ones only: the main
    // working tree's HEAD lives in the common directory.
    if repo.is_worktree()
        && let Ok(main) = git2::Repository::open(repo.commondir())
        && let Some(b) = current_branch(&main)
    {
        out.push(b);
    }
    if let Ok(names) = repo.worktrees() {
        for name in names.iter().filter_map(|n| n.ok().flatten()) {
            if let Ok(wt) = repo.find_worktree(name)
                && let Ok(wt_repo) = git2::Repository::open_from_worktree(&wt)
                && let Some(b) = current_branch(&wt_repo)
            {
                out.push(b);
            }
        }
    }
    out
}

/// `git diff --stat` from commit `parent` (nothing: the empty tree) to `tree`.
pub fn diff_stat(
    repo: &git2::Repository,
    parent: Option<&str>,
    tree: &str,
) -> Result<String, git2::Error> {
    let old = match parent {
        Some(id) => Some(repo.find_commit(git2::Oid::from_str(id)?)?.tree()?),
        None => None,
    };
    let new = repo.find_tree(git2::Oid::from_str(tree)?)?;
    let diff = repo.diff_tree_to_tree(old.as_ref(), Some(&new), None)?;
    let stats = diff.stats()?.to_buf(git2::DiffStatsFormat::FULL, 80)?;
    Ok(String::from_utf8_lossy(&stats).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worktree_signature_changes_only_with_the_work() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git2::Repository::init(root).unwrap();
        std::fs::write(root.join("a.txt"), "one").unwrap();
        let first = worktree_signature(root).unwrap();
        assert_eq!(worktree_signature(root).unwrap(), first, "nothing changed");
        std::fs::write(root.join("a.txt"), "two, longer").unwrap();
        let second = worktree_signature(root).unwrap();
        assert_ne!(second, first, "an edit changes it");
        std::fs::write(root.join("b.txt"), "new").unwrap();
        assert_ne!(worktree_signature(root).unwrap(), second, "a new file changes it");
    }
}
