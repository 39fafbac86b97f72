//! Which directories of a repository get a watch. inotify watches one directory at a
//! time, so kairos walks the tree itself rather than letting notify watch everything:
//! directories git ignores as a whole (`target/`, `node_modules/`) are never entered,
//! which spares the kernel's watch budget and keeps a build's writes from ever reaching
//! the daemon; symbolic links are not followed out of the repository; nested
//! repositories are left to their own watch. Inside `.git` only what says a ref moved
//! is watched: the directory itself (HEAD, packed-refs, config) and `refs/`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The outcome of a walk.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TreeDirs {
    /// Directories to watch, each on its own (non-recursively).
    pub watch: Vec<PathBuf>,
    /// Directories left unwatched because git ignores everything in them.
    pub skipped: Vec<PathBuf>,
}

#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Watch,
    Skip,
    /// Not the repository's business (object store, logs, a nested repository).
    Leave,
}

/// Walks `start` (the repository `root` or a directory that just appeared in it) and
/// sorts its directories into those to watch and those git ignores as a whole.
pub fn dirs_to_watch(root: &Path, start: &Path) -> TreeDirs {
    let repo = crate::git::open(root).ok();
    let judge = |dir: &Path| verdict(root, dir, repo.as_ref());
    let mut found = TreeDirs::default();
    let mut to_walk = Vec::new();
    let mut ignored = Vec::new();
    match if start == root { Verdict::Watch } else { judge(start) } {
        Verdict::Watch => to_walk.push(start.to_owned()),
        Verdict::Skip => ignored.push(start.to_owned()),
        Verdict::Leave => return found,
    }
    loop {
        while let Some(dir) = to_walk.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            found.watch.push(dir);
            for entry in entries.flatten() {
                // `file_type` does not follow links: a link to a directory is a file here.
                if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                    continue;
                }
                let path = entry.path();
                match judge(&path) {
                    Verdict::Watch => to_walk.push(path),
                    Verdict::Skip => ignored.push(path),
                    Verdict::Leave => {}
                }
            }
        }
        if ignored.is_empty() {
            break;
        }
        // A file tracked inside an ignored directory (force-added) keeps it watched.
        let tracked = holding_tracked_files(root, &ignored);
        for dir in ignored.drain(..) {
            if tracked.contains(&dir) {
                to_walk.push(dir);
            } else {
                found.skipped.push(dir);
            }
        }
        if to_walk.is_empty() {
            break;
        }
    }
    found.watch.sort();
    found.skipped.sort();
    found
}

fn verdict(root: &Path, dir: &Path, repo: Option<&git2::Repository>) -> Verdict {
    let Ok(rel) = dir.strip_prefix(root) else { return Verdict::Leave };
    let mut parts = rel.components();
    let Some(first) = parts.next() else { return Verdict::Watch };
    if first.as_os_str() == ".git" {
        let inner = parts.as_path();
        return if inner.as_os_str().is_empty()
            || (inner.starts_with("refs") && !inner.starts_with("refs/kairos"))
        {
            Verdict::Watch
        } else {
            Verdict::Leave
        };
    }
    if dir.join(".git").exists() {
        return Verdict::Leave;
    }
    let Some(repo) = repo else { return Verdict::Watch };
    // Both the directory and anything inside it must be ignored: `logs/*` with a
    // `!logs/keep.txt` exception leaves `logs/` worth watching.
    let wholly_ignored = repo.is_path_ignored(rel).unwrap_or(false)
        && repo.is_path_ignored(rel.join(".kairos-probe")).unwrap_or(false);
    if wholly_ignored { Verdict::Skip } else { Verdict::Watch }
}

/// Which of `dirs` hold a tracked file. Asked of `git ls-files` rather than by loading
/// the index here: a large index read in the daemon would stay in its heap for good.
fn holding_tracked_files(root: &Path, dirs: &[PathBuf]) -> HashSet<PathBuf> {
    let mut holding = HashSet::new();
    let rels: Vec<String> = dirs
        .iter()
        .filter_map(|d| d.strip_prefix(root).ok())
        .map(|r| r.to_string_lossy().into_owned())
        .collect();
    for chunk in rels.chunks(256) {
        let mut args = vec!["--literal-pathspecs", "ls-files", "-z", "--"];
        args.extend(chunk.iter().map(String::as_str));
        let Ok(listed) = crate::git::git(root, &args, LS_FILES_TIMEOUT) else { continue };
        for rel in chunk {
            let inside = format!("{rel}/");
            if listed.split('\0').any(|file| file.starts_with(&inside)) {
                holding.insert(root.join(rel));
            }
        }
    }
    holding
}

const LS_FILES_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(root: &Path, dirs: &[PathBuf]) -> Vec<String> {
        dirs.iter().map(|d| d.strip_prefix(root).unwrap().to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn ignored_directories_links_and_git_internals_are_not_entered() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let repo = git2::Repository::init(root).unwrap();
        std::fs::write(
            root.join(".gitignore"),
            "target/\nnode_modules\nlogs/*\n!logs/keep.txt\nvendor/\n",
        )
        .unwrap();
        for d in [
            "target/debug",
            "src/deep/er",
            "web/node_modules/pkg",
            "logs",
            "vendor/kept",
            "nested/.git",
            "outside",
        ] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::os::unix::fs::symlink(root.join("outside"), root.join("src/link")).unwrap();
        // A file tracked inside an ignored directory keeps that directory watched.
        std::fs::write(root.join("vendor/kept/lib.rs"), "").unwrap();
        let mut index = repo.index().unwrap();
        index.add_path(Path::new("vendor/kept/lib.rs")).unwrap();
        index.write().unwrap();

        let found = dirs_to_watch(root, root);
        let mut watched = rel(root, &found.watch);
        watched.retain(|d| !d.starts_with(".git/refs/"));
        assert_eq!(
            watched,
            [
                "",
                ".git",
                ".git/refs",
                "logs",
                "outside",
                "src",
                "src/deep",
                "src/deep/er",
                "vendor",
                "vendor/kept",
                "web"
            ]
        );
        assert_eq!(rel(root, &found.skipped), ["target", "web/node_modules"]);
    }

    #[test]
    fn a_new_directory_is_judged_before_it_is_walked() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git2::Repository::init(root).unwrap();
        std::fs::write(root.join(".gitignore"), "build/\n").unwrap();
        std::fs::create_dir_all(root.join("build/out")).unwrap();
        std::fs::create_dir_all(root.join("src/a/b")).unwrap();
        std::fs::create_dir_all(root.join(".git/refs/heads/feature")).unwrap();

        let build = dirs_to_watch(root, &root.join("build"));
        assert_eq!((build.watch.len(), rel(root, &build.skipped)), (0, vec!["build".into()]));
        let src = dirs_to_watch(root, &root.join("src/a"));
        assert_eq!(rel(root, &src.watch), ["src/a", "src/a/b"]);
        let refs = dirs_to_watch(root, &root.join(".git/refs/heads/feature"));
        assert_eq!(rel(root, &refs.watch), [".git/refs/heads/feature"]);
        assert_eq!(dirs_to_watch(root, &root.join(".git/objects")), TreeDirs::default());
    }
}
