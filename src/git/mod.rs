//! Git operations kairos needs, on top of git2. Everything here is blocking: callers
//! run it in `spawn_blocking`.

mod branches;
mod cli;
mod keep;
mod refs;
mod worktree_tree;

use std::path::{Path, PathBuf};

pub use branches::{default_branch, merged_branches, upstream_of};
pub use cli::{git, held_lock};
pub use keep::keep_objects;
pub use refs::RefState;
pub use worktree_tree::{snapshot_ref, snapshot_tree, write_snapshot_commit};

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
