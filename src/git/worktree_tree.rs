//! Snapshots of the working tree as git objects, built in a private copy of the index
//! so that the user's index, HEAD and branches are never touched.

use std::path::PathBuf;

use git2::{IndexAddOption, Oid, Repository};

/// Writes a tree holding the working tree as `git add -A` would stage it: tracked files
/// with their current content, untracked files that are not ignored, deletions applied.
///
/// The work happens in a copy of `.git/index`: the copy gives libgit2 the stat cache, so
/// unchanged files are not hashed again, and the real index file is never opened for
/// writing.
///
/// Files larger than `max_file_size` are left out (a tracked one keeps the content it
/// has in the index); the second value counts them.
pub fn snapshot_tree(repo: &Repository, max_file_size: u64) -> Result<(Oid, usize), git2::Error> {
    let workdir = super::workdir(repo)?;
    let scratch = ScratchIndex::new(repo)?;
    let mut index = git2::Index::open(&scratch.path)?;
    repo.set_index(&mut index)?;
    let mut too_big = std::collections::HashSet::new();
    // 0 adds the path, a positive value skips it.
    let mut skip_huge = |path: &std::path::Path, _: &[u8]| -> i32 {
        match std::fs::symlink_metadata(workdir.join(path)) {
            Ok(meta) if meta.is_file() && meta.len() > max_file_size => {
                too_big.insert(path.to_owned());
                1
            }
            _ => 0,
        }
    };
    index.add_all(["*"].iter(), IndexAddOption::DEFAULT, Some(&mut skip_huge))?;
    index.update_all(["*"].iter(), Some(&mut skip_huge))?;
    Ok((index.write_tree_to(repo)?, too_big.len()))
}

/// Creates the snapshot commit without moving any ref; the apply moves the ref.
pub fn write_snapshot_commit(
    repo: &Repository,
    tree: Oid,
    parent: Option<Oid>,
    message: &str,
) -> Result<Oid, git2::Error> {
    let sig = super::signature()?;
    let tree = repo.find_tree(tree)?;
    let parent = parent.map(|p| repo.find_commit(p)).transpose()?;
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    repo.commit(None, &sig, &sig, message, &tree, &parents)
}

/// A private copy of the repository's index, removed when dropped.
struct ScratchIndex {
    path: PathBuf,
}

impl ScratchIndex {
    fn new(repo: &Repository) -> Result<ScratchIndex, git2::Error> {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Inside .git: private to the repository's owner, unlike a shared /tmp.
        let path = repo.path().join(format!("kairos-index-{}-{n}", std::process::id()));
        let real = repo.path().join("index");
        match std::fs::copy(&real, &path) {
            Ok(_) => {}
            // A repository without commits may have no index yet: start empty.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(git2::Error::from_str(&format!("copying the index: {e}"))),
        }
        Ok(ScratchIndex { path })
    }
}

impl Drop for ScratchIndex {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
