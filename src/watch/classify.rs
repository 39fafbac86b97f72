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
    /// The repository root itself (it may have been deleted or moved).
    Root,
    /// Object writes, the index, logs, kairos's own refs: nothing to react to.
    Noise,
}

pub fn classify(root: &Path, path: &Path) -> PathKind {
    let Ok(rel) = path.strip_prefix(root) else {
        return PathKind::Noise;
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
    let inner = parts.as_path();
    let name = inner.to_string_lossy();
    let name = name.trim_end_matches(".lock");
    if name.starts_with("refs/kairos") {
        return PathKind::Noise;
    }
    if name == "HEAD" || name == "packed-refs" || name == "config" || name.starts_with("refs") {
        return PathKind::GitRefs;
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
        let k = |p: &str| classify(root, Path::new(p));
        assert_eq!(k("/r/src/a.rs"), PathKind::Worktree("src/a.rs".into()));
        assert_eq!(k("/r/.git/HEAD"), PathKind::GitRefs);
        assert_eq!(k("/r/.git/HEAD.lock"), PathKind::GitRefs);
        assert_eq!(k("/r/.git/refs/heads/main"), PathKind::GitRefs);
        assert_eq!(k("/r/.git/packed-refs"), PathKind::GitRefs);
        assert_eq!(k("/r/.git/config"), PathKind::GitRefs);
        assert_eq!(k("/r/.git/refs/kairos/snapshots/main"), PathKind::Noise);
        assert_eq!(k("/r/.git/objects/ab/cdef"), PathKind::Noise);
        assert_eq!(k("/r/.git/index"), PathKind::Noise);
        assert_eq!(k("/r/.git/logs/HEAD"), PathKind::Noise);
        assert_eq!(k("/r"), PathKind::Root);
        assert_eq!(k("/elsewhere/x"), PathKind::Noise);
        assert_eq!(k("/r/.gitignore"), PathKind::Worktree(".gitignore".into()));
        assert_eq!(k("/r/src/.a.rs.kairos-42.tmp"), PathKind::Noise);
    }
}
