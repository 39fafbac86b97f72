//! Sorting changed paths into what matters: working-tree files that git does not
//! ignore, and the parts of `.git` that say a ref moved. Everything else is noise.

use std::path::{Path, PathBuf};

/// What a changed path means for its repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathKind {
    /// A working-tree path (relative); still to be checked against ignore rules.
    Worktree(PathBuf),
    /// HEAD, a ref, packed-refs or the config (upstreams) changed.
    GitRefs,
    /// The index: something was staged or unstaged.
    GitIndex,
    /// The repository root itself (it may have been deleted or moved).
    Root,
    /// Object writes, logs, kairos's own refs and index copies: nothing to react to.
    Noise,
}

/// Sorts `path` for the repository at `root`, whose git directories outside it (a
/// linked worktree's) are `git_dirs`.
pub fn classify(root: &Path, git_dirs: &[PathBuf], path: &Path) -> PathKind {
    let Ok(rel) = path.strip_prefix(root) else {
        // The innermost git directory first: a worktree's own lies inside the common one.
        // Only its own holds its index; the common one's is the main working tree's.
        let own = git_dirs.iter().max_by_key(|g| g.as_os_str().len());
        return git_dirs
            .iter()
            .filter_map(|g| path.strip_prefix(g).ok().map(|inner| (g, inner)))
            .min_by_key(|(_, inner)| inner.as_os_str().len())
            .map_or(PathKind::Noise, |(g, inner)| inside_git(inner, Some(g) == own));
    };
    let mut parts = rel.components();
    let Some(first) = parts.next() else {
        return PathKind::Root;
    };
    if first.as_os_str() != ".git" {
        if is_own_temp_file(rel) {
            return PathKind::Noise;
        }
        return PathKind::Worktree(rel.to_owned());
    }
    inside_git(parts.as_path(), true)
}

/// What a path inside a git directory (relative to it) means; `own`: the directory is
/// the working tree's own (not the common one of a linked worktree).
fn inside_git(inner: &Path, own: bool) -> PathKind {
    let name = inner.to_string_lossy();
    let name = name.trim_end_matches(".lock");
    if name.starts_with("refs/kairos") {
        return PathKind::Noise;
    }
    if name == "HEAD" || name == "packed-refs" || name == "config" || name.starts_with("refs") {
        return PathKind::GitRefs;
    }
    if name == "index" && own {
        return PathKind::GitIndex;
    }
    PathKind::Noise
}

/// The temporary files kairos's own atomic writes create (`.name.kairos-PID.tmp`).
fn is_own_temp_file(rel: &Path) -> bool {
    rel.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.') && n.contains(".kairos-") && n.ends_with(".tmp"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_sorted_by_meaning() {
        let root = Path::new("/r");
        let k = |p: &str| classify(root, &[], Path::new(p));
        assert_eq!(k("/r/src/a.rs"), PathKind::Worktree("src/a.rs".into()));
        assert_eq!(k("/r/.git/HEAD"), PathKind::GitRefs);
        assert_eq!(k("/r/.git/HEAD.lock"), PathKind::GitRefs);
        assert_eq!(k("/r/.git/refs/heads/main"), PathKind::GitRefs);
        assert_eq!(k("/r/.git/packed-refs"), PathKind::GitRefs);
        assert_eq!(k("/r/.git/config"), PathKind::GitRefs);
        assert_eq!(k("/r/.git/refs/kairos/snapshots/main"), PathKind::Noise);
        assert_eq!(k("/r/.git/objects/ab/cdef"), PathKind::Noise);
        assert_eq!(k("/r/.git/index"), PathKind::GitIndex);
        assert_eq!(k("/r/.git/index.lock"), PathKind::GitIndex);
        assert_eq!(k("/r/.git/kairos-index-42-0"), PathKind::Noise);
        assert_eq!(k("/r/.git/logs/HEAD"), PathKind::Noise);
        assert_eq!(k("/r"), PathKind::Root);
        assert_eq!(k("/elsewhere/x"), PathKind::Noise);
        assert_eq!(k("/r/.gitignore"), PathKind::Worktree(".gitignore".into()));
        assert_eq!(k("/r/src/.a.rs.kairos-42.tmp"), PathKind::Noise);
        assert_eq!(k("/r/src/.kairos-42-7.tmp"), PathKind::Noise);
    }

    #[test]
    fn a_linked_worktrees_git_dirs_are_its_own() {
        let git_dirs = [PathBuf::from("/main/.git"), PathBuf::from("/main/.git/worktrees/wt")];
        let k = |p: &str| classify(Path::new("/wt"), &git_dirs, Path::new(p));
        assert_eq!(k("/main/.git/worktrees/wt/HEAD"), PathKind::GitRefs);
        assert_eq!(k("/main/.git/refs/heads/feature"), PathKind::GitRefs);
        assert_eq!(k("/main/.git/worktrees/wt/index"), PathKind::GitIndex);
        assert_eq!(k("/main/.git/index"), PathKind::Noise, "the main working tree's index");
        assert_eq!(k("/main/src/a.rs"), PathKind::Noise);
        assert_eq!(k("/wt/src/a.rs"), PathKind::Worktree("src/a.rs".into()));
    }
}
