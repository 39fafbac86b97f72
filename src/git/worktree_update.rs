//! The working tree as a git tree, built from an earlier picture of it and the paths the
//! file watcher saw change since: the cost follows the change, not the size of the tree.
//!
//! The full walk (`snapshot_tree`) stats every file and reads the whole index; on a
//! 50,000-file tree that is half a second and ≈ 13 MiB of memory for one edited file.
//! Here only the changed paths are read, and only the trees above them are rewritten.

use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use git2::{FileMode, Oid, Repository};

use super::worktree_tree::LeftOut;

/// The working tree as the last snapshot run saw it: a tree written then, and the size
/// limit it was written under. The next run starts from it when the daemon knows every
/// path that changed since; anything else (a restart, lost events, a staged change)
/// clears it, and the next run walks the whole tree.
#[derive(Debug, Default)]
pub struct SeenTree(Mutex<Option<(Oid, u64)>>);

impl SeenTree {
    /// Takes the picture out: a run that fails leaves none behind.
    pub fn take(&self, max_file_size: u64) -> Option<Oid> {
        let seen = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        seen.filter(|(_, limit)| *limit == max_file_size).map(|(tree, _)| tree)
    }

    pub fn put(&self, tree: Oid, max_file_size: u64) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some((tree, max_file_size));
    }

    /// Something changed that the watcher does not report as paths.
    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

/// Why a tree could not be built from the earlier one; the caller walks the whole tree.
#[derive(Debug, thiserror::Error)]
pub enum NotIncremental {
    #[error("the ignore rules changed ({0})")]
    IgnoreRules(String),
    #[error(transparent)]
    Git(#[from] git2::Error),
}

/// The tree `base` (the working tree as it was) with `changed` (paths relative to the
/// root, files or directories, present or gone) and everything under `dirs` brought up
/// to date, as `git add -A` would stage them: ignored paths that were not in `base`
/// stay out, files in nested repositories stay out, files over `max_file_size` keep
/// what `base` had. A directory in `dirs` is read whole and written one directory at a
/// time, so a burst of 100,000 new files costs the memory of its largest directory.
pub fn tree_since(
    repo: &Repository,
    base: Oid,
    changed: &[PathBuf],
    dirs: &[PathBuf],
    max_file_size: u64,
) -> Result<(Oid, LeftOut), NotIncremental> {
    let workdir = super::workdir(repo)?;
    if let Some(rules) = changed.iter().find(|p| p.file_name().is_some_and(|n| n == ".gitignore")) {
        return Err(NotIncremental::IgnoreRules(rules.display().to_string()));
    }
    let base_tree = repo.find_tree(base)?;
    let in_base = |path: &Path| base_tree.get_path(path).ok();
    let file_mode_matters = repo.config()?.get_bool("core.filemode").unwrap_or(true);
    // Removals first, in a pass of their own: libgit2 will not turn a file into a
    // directory (or back) in one update.
    let mut removals = git2::build::TreeUpdateBuilder::new();
    let mut update = git2::build::TreeUpdateBuilder::new();
    let mut removed_any = false;
    let mut remove = |path: &Path| {
        removals.remove(path);
        removed_any = true;
    };
    let mut left_out = LeftOut::default();
    let mut dirs: Vec<&PathBuf> = dirs.iter().collect();
    dirs.sort();
    dirs.dedup();
    for dir in &dirs {
        let was = in_base(dir);
        let exists = workdir.join(dir).symlink_metadata().is_ok_and(|m| m.is_dir());
        let base_dir =
            was.as_ref().and_then(|e| e.to_object(repo).ok()).and_then(|o| o.into_tree().ok());
        let written = match exists && !inside_nested_repository(&workdir, &dir.join("x")) {
            true => {
                write_dir(repo, &workdir, dir, base_dir.as_ref(), max_file_size, &mut left_out)?
            }
            false => None,
        };
        match written {
            Some(tree) => {
                if was.as_ref().is_some_and(|e| e.kind() != Some(git2::ObjectType::Tree)) {
                    remove(dir);
                }
                update.upsert(dir, tree, FileMode::Tree);
            }
            None if was.is_some() => remove(dir),
            None => {}
        }
    }
    let mut changed: Vec<&PathBuf> =
        changed.iter().filter(|p| !dirs.iter().any(|d| p.starts_with(d))).collect();
    changed.sort();
    changed.dedup();
    // Paths removed whole: what was under them goes with them.
    let mut gone: Vec<&Path> = Vec::new();
    for path in changed {
        if gone.iter().any(|dir| path.starts_with(dir)) {
            continue;
        }
        let was = in_base(path);
        let meta = match std::fs::symlink_metadata(workdir.join(path)) {
            Ok(meta) => meta,
            // Gone, or a directory above it is a file now.
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
                if was.is_some() {
                    remove(path);
                    gone.push(path);
                }
                continue;
            }
            Err(e) => return Err(git2::Error::from_str(&format!("{}: {e}", path.display())).into()),
        };
        // Directories are listed file by file by the watcher; a file that became a
        // directory loses its entry, and what is inside arrives as paths of its own.
        if meta.is_dir() {
            if was.as_ref().is_some_and(|e| e.kind() != Some(git2::ObjectType::Tree)) {
                remove(path);
            }
            continue;
        }
        if inside_nested_repository(&workdir, path) {
            continue;
        }
        if was.is_none() && repo.is_path_ignored(path).unwrap_or(false) {
            continue;
        }
        let (blob, mode) = if meta.file_type().is_symlink() {
            let target = std::fs::read_link(workdir.join(path))
                .map_err(|e| git2::Error::from_str(&format!("{}: {e}", path.display())))?;
            let bytes = target.as_os_str().as_encoded_bytes();
            (repo.blob(bytes)?, FileMode::Link)
        } else if meta.is_file() {
            if meta.len() > max_file_size {
                left_out.too_big += 1;
                continue;
            }
            let executable = if file_mode_matters {
                std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111 != 0
            } else {
                was.as_ref().is_some_and(|e| e.filemode() == i32::from(FileMode::BlobExecutable))
            };
            let mode = if executable { FileMode::BlobExecutable } else { FileMode::Blob };
            (write_blob(repo, &workdir, path)?, mode)
        } else {
            // Sockets and pipes: git leaves them out too.
            continue;
        };
        if was.as_ref().is_some_and(|e| e.kind() == Some(git2::ObjectType::Tree)) {
            // A directory that became a file: nothing under it is left.
            remove(path);
            gone.push(path);
        }
        update.upsert(path, blob, mode);
    }
    let base_tree = match removed_any {
        true => repo.find_tree(removals.create_updated(repo, &base_tree)?)?,
        false => base_tree,
    };
    Ok((update.create_updated(repo, &base_tree)?, left_out))
}

/// Directory `dir` of the working tree written as a tree, as `git add -A` would stage
/// it (`base`: the tree it had); `None` when nothing in it is kept.
fn write_dir(
    repo: &Repository,
    workdir: &Path,
    dir: &Path,
    base: Option<&git2::Tree>,
    max_file_size: u64,
    left_out: &mut LeftOut,
) -> Result<Option<Oid>, git2::Error> {
    let io = |e: std::io::Error| git2::Error::from_str(&format!("{}: {e}", dir.display()));
    let file_mode_matters = repo.config()?.get_bool("core.filemode").unwrap_or(true);
    let mut builder = repo.treebuilder(None)?;
    for entry in std::fs::read_dir(workdir.join(dir)).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name();
        if name == ".git" {
            continue;
        }
        let path = dir.join(&name);
        let was =
            base.and_then(|t| t.get_name_bytes(name.as_encoded_bytes())).map(|e| e.to_owned());
        let Ok(meta) = entry.path().symlink_metadata() else { continue };
        if was.is_none() && repo.is_path_ignored(&path).unwrap_or(false) {
            continue;
        }
        let (id, mode) = if meta.is_dir() {
            if entry.path().join(".git").symlink_metadata().is_ok() {
                continue; // a repository of its own
            }
            let inner =
                was.as_ref().and_then(|e| e.to_object(repo).ok()).and_then(|o| o.into_tree().ok());
            match write_dir(repo, workdir, &path, inner.as_ref(), max_file_size, left_out)? {
                Some(tree) => (tree, i32::from(FileMode::Tree)),
                None => continue,
            }
        } else if meta.file_type().is_symlink() {
            let target = std::fs::read_link(entry.path()).map_err(io)?;
            (repo.blob(target.as_os_str().as_encoded_bytes())?, i32::from(FileMode::Link))
        } else if meta.is_file() {
            if meta.len() > max_file_size {
                left_out.too_big += 1;
                match &was {
                    Some(e) => (e.id(), e.filemode()),
                    None => continue,
                }
            } else {
                let executable = if file_mode_matters {
                    std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111 != 0
                } else {
                    was.as_ref()
                        .is_some_and(|e| e.filemode() == i32::from(FileMode::BlobExecutable))
                };
                let mode = if executable { FileMode::BlobExecutable } else { FileMode::Blob };
                (write_blob(repo, workdir, &path)?, i32::from(mode))
            }
        } else {
            continue;
        };
        builder.insert(Path::new(&name), id, mode)?;
    }
    match builder.len() {
        0 => Ok(None),
        _ => builder.write().map(Some),
    }
}

/// The file's content as a blob, through the repository's filters (line endings, LFS)
/// as `git add` would write it.
fn write_blob(repo: &Repository, workdir: &Path, path: &Path) -> Result<Oid, git2::Error> {
    let mut file = std::fs::File::open(workdir.join(path))
        .map_err(|e| git2::Error::from_str(&format!("{}: {e}", path.display())))?;
    let mut writer = repo.blob_writer(Some(path))?;
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let n = file
            .read(&mut buffer)
            .map_err(|e| git2::Error::from_str(&format!("{}: {e}", path.display())))?;
        if n == 0 {
            break;
        }
        std::io::Write::write_all(&mut writer, &buffer[..n])
            .map_err(|e| git2::Error::from_str(&format!("{}: {e}", path.display())))?;
    }
    writer.commit()
}

/// Whether a directory between the root and `path` is a repository of its own (a
/// `.git` directory or file inside): its files are its own, as `git add` sees it.
fn inside_nested_repository(workdir: &Path, path: &Path) -> bool {
    path.ancestors()
        .skip(1)
        .take_while(|dir| !dir.as_os_str().is_empty())
        .any(|dir| workdir.join(dir).join(".git").symlink_metadata().is_ok())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::git::snapshot_tree;

    /// A repository with a few committed files, one of them in an ignored directory.
    fn project(root: &Path) -> Repository {
        let repo = Repository::init(root).unwrap();
        for (path, text) in [
            ("README.md", "hello\n"),
            ("src/main.rs", "fn main() {}\n"),
            ("src/lib/a.rs", "a\n"),
            ("src/lib/b.rs", "b\n"),
            ("doc/guide.md", "guide\n"),
            (".gitignore", "build/\n*.log\n"),
        ] {
            std::fs::create_dir_all(root.join(path).parent().unwrap()).unwrap();
            std::fs::write(root.join(path), text).unwrap();
        }
        std::fs::create_dir_all(root.join("build")).unwrap();
        std::fs::write(root.join("build/kept.txt"), "tracked though ignored\n").unwrap();
        let mut index = repo.index().unwrap();
        index.add_all(["*"].iter(), git2::IndexAddOption::DEFAULT, None).unwrap();
        index.add_path(Path::new("build/kept.txt")).unwrap();
        crate::git::commit_index_for_tests(&repo, &mut index);
        drop(index);
        repo
    }

    /// Every edit below, then the tree built from the earlier picture and the changed
    /// paths must be the tree the full walk writes.
    fn same_as_full_walk(edit: impl FnOnce(&Path) -> Vec<&'static str>) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let repo = project(root);
        let (before, _) = snapshot_tree(&repo, 1000).unwrap();
        let changed: Vec<PathBuf> = edit(root).into_iter().map(PathBuf::from).collect();
        let (built, _) = tree_since(&repo, before, &changed, &[], 1000).unwrap();
        let (walked, _) = snapshot_tree(&repo, 1000).unwrap();
        let listing = |tree: Oid| {
            let mut paths = Vec::new();
            repo.find_tree(tree)
                .unwrap()
                .walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
                    paths.push(format!(
                        "{dir}{} {:o} {}",
                        entry.name().unwrap(),
                        entry.filemode(),
                        entry.id()
                    ));
                    git2::TreeWalkResult::Ok
                })
                .unwrap();
            paths
        };
        assert_eq!(listing(built), listing(walked));
        assert_ne!(built, before, "the edit changed nothing");
    }

    #[test]
    fn edits_creations_and_deletions() {
        same_as_full_walk(|root| {
            std::fs::write(root.join("README.md"), "edited\n").unwrap();
            std::fs::write(root.join("src/new.rs"), "new\n").unwrap();
            std::fs::create_dir_all(root.join("tests/deep")).unwrap();
            std::fs::write(root.join("tests/deep/t.rs"), "t\n").unwrap();
            std::fs::remove_file(root.join("doc/guide.md")).unwrap();
            vec!["README.md", "src/new.rs", "tests/deep", "tests/deep/t.rs", "doc/guide.md"]
        });
    }

    #[test]
    fn a_directory_removed_whole_with_its_files_listed_too() {
        same_as_full_walk(|root| {
            std::fs::remove_dir_all(root.join("src/lib")).unwrap();
            vec!["src/lib/a.rs", "src/lib/b.rs", "src/lib"]
        });
    }

    #[test]
    fn a_directory_moved_away_is_one_path() {
        same_as_full_walk(|root| {
            let away = tempfile::tempdir().unwrap();
            std::fs::rename(root.join("src"), away.path().join("src")).unwrap();
            vec!["src"]
        });
    }

    #[test]
    fn ignored_files_stay_out_unless_tracked() {
        same_as_full_walk(|root| {
            std::fs::write(root.join("debug.log"), "noise\n").unwrap();
            std::fs::write(root.join("build/out.o"), "noise\n").unwrap();
            std::fs::write(root.join("build/kept.txt"), "edited\n").unwrap();
            vec!["debug.log", "build/out.o", "build/kept.txt"]
        });
    }

    #[test]
    fn modes_symlinks_and_type_changes() {
        same_as_full_walk(|root| {
            let script = root.join("src/main.rs");
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
            std::os::unix::fs::symlink("src/main.rs", root.join("link")).unwrap();
            // A file that became a directory, and a directory that became a file.
            std::fs::remove_file(root.join("README.md")).unwrap();
            std::fs::create_dir(root.join("README.md")).unwrap();
            std::fs::write(root.join("README.md/inside.txt"), "x\n").unwrap();
            std::fs::remove_dir_all(root.join("doc")).unwrap();
            std::fs::write(root.join("doc"), "now a file\n").unwrap();
            vec!["src/main.rs", "link", "README.md", "README.md/inside.txt", "doc/guide.md", "doc"]
        });
    }

    #[test]
    fn nested_repositories_and_big_files_are_left_out() {
        same_as_full_walk(|root| {
            Repository::init(root.join("vendor/clone")).unwrap();
            std::fs::write(root.join("vendor/clone/file.txt"), "theirs\n").unwrap();
            std::fs::write(root.join("big.bin"), vec![b'x'; 2000]).unwrap();
            std::fs::write(root.join("small.txt"), "mine\n").unwrap();
            vec!["vendor/clone/file.txt", "big.bin", "small.txt"]
        });
    }

    #[test]
    fn directories_read_whole_hold_what_the_full_walk_holds() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let repo = project(root);
        let (before, _) = snapshot_tree(&repo, 1000).unwrap();
        // A burst under src/ (new files, deeper directories, an ignored log, a big
        // file, a clone inside), one file gone, and doc/ removed.
        for i in 0..50 {
            std::fs::create_dir_all(root.join(format!("src/gen/{}", i % 5))).unwrap();
            std::fs::write(root.join(format!("src/gen/{}/{i}.rs", i % 5)), format!("{i}\n"))
                .unwrap();
        }
        std::fs::write(root.join("src/gen/debug.log"), "ignored\n").unwrap();
        std::fs::write(root.join("src/gen/big.bin"), vec![b'x'; 2000]).unwrap();
        Repository::init(root.join("src/vendored")).unwrap();
        std::fs::write(root.join("src/vendored/theirs.rs"), "x\n").unwrap();
        std::fs::remove_file(root.join("src/lib/a.rs")).unwrap();
        std::fs::remove_dir_all(root.join("doc")).unwrap();
        std::fs::write(root.join("README.md"), "and one file on its own\n").unwrap();
        let dirs = [PathBuf::from("src"), PathBuf::from("doc")];
        let changed = [PathBuf::from("README.md"), PathBuf::from("src/lib/a.rs")];
        let (built, left_out) = tree_since(&repo, before, &changed, &dirs, 1000).unwrap();
        assert_eq!(built, snapshot_tree(&repo, 1000).unwrap().0);
        assert_eq!(left_out.too_big, 1);
        // Emptied whole, a directory leaves the tree.
        std::fs::remove_dir_all(root.join("src")).unwrap();
        std::fs::create_dir(root.join("src")).unwrap();
        let (emptied, _) = tree_since(&repo, built, &[], &[PathBuf::from("src")], 1000).unwrap();
        assert_eq!(emptied, snapshot_tree(&repo, 1000).unwrap().0);
    }

    #[test]
    fn names_that_are_not_utf8() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let repo = project(root);
        let (before, _) = snapshot_tree(&repo, 1000).unwrap();
        let name = PathBuf::from(std::ffi::OsStr::from_bytes(b"caf\xe9.txt"));
        std::fs::write(root.join(&name), "latin-1\n").unwrap();
        let (built, _) = tree_since(&repo, before, &[name], &[], 1000).unwrap();
        assert_eq!(built, snapshot_tree(&repo, 1000).unwrap().0);
    }

    #[test]
    fn a_changed_ignore_file_asks_for_the_whole_walk() {
        let dir = tempfile::tempdir().unwrap();
        let repo = project(dir.path());
        let (before, _) = snapshot_tree(&repo, 1000).unwrap();
        std::fs::write(dir.path().join(".gitignore"), "").unwrap();
        let changed = [PathBuf::from(".gitignore")];
        let refused = tree_since(&repo, before, &changed, &[], 1000).unwrap_err();
        assert!(matches!(refused, NotIncremental::IgnoreRules(_)), "{refused}");
    }

    #[test]
    fn the_picture_is_taken_once_and_only_under_the_same_limit() {
        let seen = SeenTree::default();
        let tree = Oid::from_str("4b825dc642cb6eb9a060e54bf8d69288fbee4904").unwrap();
        seen.put(tree, 10);
        assert_eq!(seen.take(10), Some(tree));
        assert_eq!(seen.take(10), None);
        seen.put(tree, 10);
        assert_eq!(seen.take(20), None);
        seen.put(tree, 10);
        seen.clear();
        assert_eq!(seen.take(10), None);
    }
}
