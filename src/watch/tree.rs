//! Which directories of a repository get a watch. inotify watches one directory at a
//! time, so kairos walks the tree itself rather than letting notify watch everything:
//! directories git ignores as a whole (`target/`, `node_modules/`) are never entered,
//! which spares the kernel's watch budget and keeps a build's writes from ever reaching
//! the daemon; symbolic links are not followed out of the repository; nested
//! repositories are left to their own watch. Inside `.git` only what says a ref moved
//! is watched: the directory itself (HEAD, packed-refs, config) and `refs/`.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::fs::DirId;

/// The outcome of a walk.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TreeDirs {
    /// Directories entered (and watched).
    pub watched: Vec<PathBuf>,
    /// Directories left unwatched because git ignores everything in them.
    pub skipped: Vec<PathBuf>,
    /// Directories git ignores as a whole that are watched all the same because
    /// committed files live in them: events inside are not to be dropped as ignored.
    pub kept: Vec<PathBuf>,
    /// With `list_fresh`: the files directly inside directories whose watch is new,
    /// which may have changed before anything was listening.
    pub fresh_files: Vec<PathBuf>,
}

/// What the walker is told about each directory, before it reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visit {
    /// Enter it; `fresh` when its watch was only placed now.
    Enter { fresh: bool },
    /// Do not enter it (not ours to watch, gone, or it could not be watched).
    Leave,
}

#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Watch,
    Skip,
    /// Not the repository's business (object store, logs, a nested repository).
    Leave,
}

/// Walks `start` (the repository `root` or a directory that just appeared in it).
/// `visit` is called for each directory to watch before the walk reads it, so that it
/// can place the directory's watch first: whatever is created inside after the read is
/// reported by the watch, whatever was there before is seen by the read.
pub fn walk(
    root: &Path,
    start: &Path,
    list_fresh: bool,
    mut visit: impl FnMut(&Path, DirId) -> Visit,
) -> TreeDirs {
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
            let Ok(meta) = dir.symlink_metadata() else { continue };
            if !meta.is_dir() {
                continue;
            }
            let Visit::Enter { fresh } = visit(&dir, DirId { dev: meta.dev(), ino: meta.ino() })
            else {
                continue;
            };
            let entries = std::fs::read_dir(&dir);
            found.watched.push(dir);
            for entry in entries.into_iter().flatten().flatten() {
                // `file_type` does not follow links: a link to a directory is a file here.
                if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                    if fresh && list_fresh {
                        found.fresh_files.push(entry.path());
                    }
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
        // A file committed inside an ignored directory (force-added) keeps it watched.
        let committed = holding_committed_files(root, &ignored);
        for dir in ignored.drain(..) {
            if committed.contains(&dir) {
                found.kept.push(dir.clone());
                to_walk.push(dir);
            } else {
                found.skipped.push(dir);
            }
        }
        if to_walk.is_empty() {
            break;
        }
    }
    found.watched.sort();
    found.skipped.sort();
    found.kept.sort();
    found
}

/// A linked worktree's git directories, which lie outside its tree: its own (HEAD) and
/// the common one it shares with the main working tree (refs, packed-refs). Empty for
/// an ordinary repository, whose `.git` is inside.
pub fn outside_git_dirs(root: &Path) -> Vec<PathBuf> {
    if !root.join(".git").is_file() {
        return vec![];
    }
    let Ok(repo) = crate::git::open(root) else { return vec![] };
    let mut dirs: Vec<PathBuf> = [repo.path(), repo.commondir()]
        .iter()
        .filter_map(|d| d.canonicalize().ok())
        .filter(|d| !d.starts_with(root))
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

/// Walks a git directory as the watcher needs it: the directory itself (HEAD,
/// packed-refs, config) and its `refs/`. Returns the directories entered.
pub fn walk_git_dir(dir: &Path, visit: &mut impl FnMut(&Path, DirId) -> Visit) -> Vec<PathBuf> {
    let mut watched = Vec::new();
    if let Ok(meta) = dir.symlink_metadata()
        && meta.is_dir()
        && visit(dir, DirId { dev: meta.dev(), ino: meta.ino() }) != Visit::Leave
    {
        watched.push(dir.to_owned());
        let refs = dir.join("refs");
        if refs.is_dir() {
            watched.extend(walk_refs(&refs, visit));
        }
    }
    watched
}

/// Walks `start` and every directory below it, as refs directories are watched:
/// all of them but kairos's own (`refs/kairos`).
pub fn walk_refs(start: &Path, visit: &mut impl FnMut(&Path, DirId) -> Visit) -> Vec<PathBuf> {
    let mut watched = Vec::new();
    let mut to_walk = vec![start.to_owned()];
    while let Some(dir) = to_walk.pop() {
        if dir.ends_with("refs/kairos") {
            continue;
        }
        let Ok(meta) = dir.symlink_metadata() else { continue };
        if !meta.is_dir() || visit(&dir, DirId { dev: meta.dev(), ino: meta.ino() }) == Visit::Leave
        {
            continue;
        }
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                to_walk.push(entry.path());
            }
        }
        watched.push(dir);
    }
    watched
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
    // A nested repository (or one being cloned here: its `.git` may come first).
    if dir.file_name().is_some_and(|n| n == ".git") || dir.join(".git").exists() {
        return Verdict::Leave;
    }
    let Some(repo) = repo else { return Verdict::Watch };
    // Both the directory and anything inside it must be ignored: `logs/*` with a
    // `!logs/keep.txt` exception leaves `logs/` worth watching.
    let wholly_ignored = repo.is_path_ignored(rel).unwrap_or(false)
        && repo.is_path_ignored(rel.join(".kairos-probe")).unwrap_or(false);
    if wholly_ignored { Verdict::Skip } else { Verdict::Watch }
}

/// Which of `dirs` hold committed files (are trees in HEAD). Asked of `git ls-tree`,
/// whose answer is one short line per such directory, rather than by loading the index
/// here: a large index read in the daemon would stay in its heap for good.
pub fn holding_committed_files(root: &Path, dirs: &[PathBuf]) -> HashSet<PathBuf> {
    let rels: Vec<String> = dirs
        .iter()
        .filter_map(|d| d.strip_prefix(root).ok())
        .map(|r| r.to_string_lossy().into_owned())
        .collect();
    let mut holding = HashSet::new();
    for chunk in rels.chunks(256) {
        let mut args =
            vec!["--literal-pathspecs", "ls-tree", "-d", "-z", "--name-only", "HEAD", "--"];
        args.extend(chunk.iter().map(String::as_str));
        // An unborn HEAD has no trees: nothing is committed anywhere.
        let Ok(listed) = crate::git::git(root, &args, LS_TREE_TIMEOUT) else { continue };
        holding.extend(listed.split('\0').filter(|d| !d.is_empty()).map(|d| root.join(d)));
    }
    holding
}

const LS_TREE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(root: &Path, dirs: &[PathBuf]) -> Vec<String> {
        dirs.iter().map(|d| d.strip_prefix(root).unwrap().to_string_lossy().into_owned()).collect()
    }

    /// Walks as if every watch were placed just now.
    fn all(root: &Path, start: &Path) -> TreeDirs {
        walk(root, start, true, |_, _| Visit::Enter { fresh: true })
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
            "vendor/other",
            "nested/.git",
            "outside",
        ] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::os::unix::fs::symlink(root.join("outside"), root.join("src/link")).unwrap();
        // A file committed inside an ignored directory keeps that directory watched.
        std::fs::write(root.join("vendor/kept/lib.rs"), "").unwrap();
        let mut index = repo.index().unwrap();
        index.add_path(Path::new("vendor/kept/lib.rs")).unwrap();
        index.write().unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let sig = git2::Signature::now("t", "t@t").unwrap();
        repo.commit(Some("HEAD"), &sig, &sig, "vendor", &tree, &[]).unwrap();

        let found = all(root, root);
        let mut watched = rel(root, &found.watched);
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
        assert_eq!(rel(root, &found.skipped), ["target", "vendor/other", "web/node_modules"]);
        assert_eq!(rel(root, &found.kept), ["vendor", "vendor/kept"]);
        assert!(rel(root, &found.fresh_files).contains(&"vendor/kept/lib.rs".to_owned()));
    }

    #[test]
    fn a_new_directory_is_judged_before_it_is_walked() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git2::Repository::init(root).unwrap();
        std::fs::write(root.join(".gitignore"), "build/\n").unwrap();
        std::fs::create_dir_all(root.join("build/out")).unwrap();
        std::fs::create_dir_all(root.join("src/a/b")).unwrap();
        std::fs::write(root.join("src/a/b/f.rs"), "").unwrap();
        std::fs::create_dir_all(root.join(".git/refs/heads/feature")).unwrap();

        let build = all(root, &root.join("build"));
        assert_eq!((build.watched.len(), rel(root, &build.skipped)), (0, vec!["build".into()]));
        let src = all(root, &root.join("src/a"));
        assert_eq!(rel(root, &src.watched), ["src/a", "src/a/b"]);
        assert_eq!(rel(root, &src.fresh_files), ["src/a/b/f.rs"]);
        let refs = all(root, &root.join(".git/refs/heads/feature"));
        assert_eq!(rel(root, &refs.watched), [".git/refs/heads/feature"]);
        assert_eq!(all(root, &root.join(".git/objects")), TreeDirs::default());
    }

    #[test]
    fn a_linked_worktree_watches_its_git_dirs_outside_its_tree() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().canonicalize().unwrap().join("main");
        let wt = dir.path().canonicalize().unwrap().join("wt");
        let git = |cwd: &Path, args: &[&str]| {
            let ok = std::process::Command::new("git")
                .current_dir(cwd)
                .args(["-c", "user.name=t", "-c", "user.email=t@t"])
                .args(args)
                .output()
                .unwrap();
            assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
        };
        std::fs::create_dir_all(&main).unwrap();
        git(&main, &["init", "-q", "-b", "main"]);
        git(&main, &["commit", "-q", "--allow-empty", "-m", "c"]);
        git(&main, &["worktree", "add", "-q", "-b", "feature", wt.to_str().unwrap()]);
        std::fs::create_dir_all(main.join(".git/refs/kairos/snapshots")).unwrap();

        let git_dirs = outside_git_dirs(&wt);
        assert_eq!(git_dirs, [main.join(".git"), main.join(".git/worktrees/wt")]);
        assert!(outside_git_dirs(&main).is_empty());
        let mut all = |_: &Path, _: DirId| Visit::Enter { fresh: true };
        let watched = walk_git_dir(&git_dirs[0], &mut all);
        assert!(watched.contains(&main.join(".git/refs/heads")), "{watched:?}");
        assert!(!watched.iter().any(|d| d.starts_with(main.join(".git/refs/kairos"))));
        assert!(!watched.contains(&main.join(".git/objects")));
    }

    #[test]
    fn what_the_visitor_leaves_or_already_knew_is_not_listed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git2::Repository::init(root).unwrap();
        std::fs::create_dir_all(root.join("known/inner")).unwrap();
        std::fs::create_dir_all(root.join("other/inner")).unwrap();
        std::fs::write(root.join("known/a.txt"), "").unwrap();
        std::fs::write(root.join("other/b.txt"), "").unwrap();
        let found = walk(root, root, true, |dir, _| {
            if dir.ends_with("other") {
                Visit::Leave
            } else {
                Visit::Enter { fresh: !dir.ends_with("known") }
            }
        });
        let watched = rel(root, &found.watched);
        assert!(watched.contains(&"known/inner".to_owned()), "{watched:?}");
        assert!(!watched.iter().any(|d| d.starts_with("other")), "{watched:?}");
        let listed = rel(root, &found.fresh_files);
        assert!(!listed.iter().any(|f| f.ends_with(".txt")), "{listed:?}");
    }
}
