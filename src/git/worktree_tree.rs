//! Snapshots of the working tree as git objects, built in a private copy of the index
//! so that the user's index, HEAD and branches are never touched.

use std::path::PathBuf;

use git2::{IndexAddOption, Oid, Repository};

/// What a snapshot leaves out, so its message can say so.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LeftOut {
    /// Files larger than the size limit.
    pub too_big: usize,
    /// Untracked directories that are repositories of their own (a `.git` directory or
    /// file inside): their content is theirs, as `git add` sees it.
    pub nested: Vec<String>,
}

/// Writes a tree holding the working tree as `git add -A` would stage it: tracked files
/// with their current content, untracked files that are not ignored, deletions applied.
///
/// The work happens in a copy of `.git/index`: the copy gives libgit2 the stat cache, so
/// unchanged files are not hashed again, and the real index file is never opened for
/// writing.
///
/// Files larger than `max_file_size` are left out (a tracked one keeps the content it
/// has in the index), and so are nested repositories; `LeftOut` lists them.
pub fn snapshot_tree(repo: &Repository, max_file_size: u64) -> Result<(Oid, LeftOut), git2::Error> {
    let workdir = super::workdir(repo)?;
    let scratch = ScratchIndex::new(repo)?;
    let mut index = git2::Index::open(&scratch.path)?;
    // libgit2 adds paths only to an index that belongs to a repository: the copy is lent
    // to `repo` for the walk, and its own index given back after, whatever happens.
    repo.set_index(&mut index)?;
    let _back = OwnIndexBack(repo);
    let mut too_big = std::collections::HashSet::new();
    let mut nested = std::collections::BTreeSet::new();
    // 0 adds the path, a positive value skips it.
    let mut leave_out = |path: &std::path::Path, _: &[u8]| -> i32 {
        match std::fs::symlink_metadata(workdir.join(path)) {
            Ok(meta) if meta.is_file() && meta.len() > max_file_size => {
                too_big.insert(path.to_owned());
                1
            }
            // libgit2 hands over a directory only when it holds a repository of its own
            // (adding it would fail with "invalid path"); git leaves it out too.
            Ok(meta) if meta.is_dir() => {
                let shown = path.to_string_lossy();
                nested.insert(shown.trim_end_matches('/').to_owned());
                1
            }
            _ => 0,
        }
    };
    index.add_all(["*"].iter(), IndexAddOption::DEFAULT, Some(&mut leave_out))?;
    index.update_all(["*"].iter(), Some(&mut leave_out))?;
    let tree = index.write_tree_to(repo)?;
    Ok((tree, LeftOut { too_big: too_big.len(), nested: nested.into_iter().collect() }))
}

/// Points a repository back at its own index (`.git/index`) when dropped.
struct OwnIndexBack<'r>(&'r Repository);

impl Drop for OwnIndexBack<'_> {
    fn drop(&mut self) {
        if let Ok(mut own) = git2::Index::open(&self.0.path().join("index")) {
            let _ = self.0.set_index(&mut own);
        }
    }
}

/// A snapshot commit written (objects only) and the ref move that records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// `refs/kairos/snapshots/<branch>`.
    pub reference: String,
    /// The branch checked out (`detached HEAD` when none).
    pub branch: String,
    /// Where the reference points now (the previous snapshot), if anywhere.
    pub old: Option<String>,
    /// The new snapshot commit.
    pub new: String,
    pub files_changed: usize,
}

/// Writes a snapshot commit of the working tree, parented on the previous snapshot of
/// the branch, without moving any ref; `None` when nothing changed since that snapshot
/// (or since HEAD, for the first).
pub fn take_snapshot(
    repo: &Repository,
    max_file_size: u64,
) -> Result<Option<Snapshot>, git2::Error> {
    let (tree, left_out) = snapshot_tree(repo, max_file_size)?;
    snapshot_of(repo, tree, &left_out, max_file_size)
}

/// Writes a snapshot commit of `tree` (the working tree, written as a tree), as
/// `take_snapshot` does.
pub fn snapshot_of(
    repo: &Repository,
    tree: Oid,
    left_out: &LeftOut,
    max_file_size: u64,
) -> Result<Option<Snapshot>, git2::Error> {
    let branch = super::current_branch(repo);
    let reference = super::snapshot_ref(branch.as_deref());
    let previous = repo.refname_to_id(&reference).ok();
    let head_commit = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let base_tree = match previous {
        Some(prev) => Some(repo.find_commit(prev)?.tree_id()),
        None => head_commit.as_ref().map(|c| c.tree_id()),
    };
    if base_tree == Some(tree) {
        return Ok(None);
    }
    let old_tree = base_tree.map(|t| repo.find_tree(t)).transpose()?;
    let new_tree = repo.find_tree(tree)?;
    let files_changed = files_changed(repo, old_tree.as_ref(), Some(&new_tree))?;

    let branch_name = branch.unwrap_or_else(|| "detached HEAD".into());
    let head_id = head_commit.map(|c| c.id().to_string()).unwrap_or_else(|| "none".into());
    let mut message = format!(
        "kairos snapshot of {branch_name}\n\nHEAD: {head_id}\nFiles changed since the previous snapshot: {files_changed}\n"
    );
    if left_out.too_big > 0 {
        message.push_str(&format!(
            "Files left out, larger than {}: {}\n",
            bytesize::ByteSize::b(max_file_size),
            left_out.too_big
        ));
    }
    if !left_out.nested.is_empty() {
        let shown: Vec<&str> = left_out.nested.iter().take(20).map(String::as_str).collect();
        let more = left_out.nested.len() - shown.len();
        let more = if more > 0 { format!(" and {more} more") } else { String::new() };
        message.push_str(&format!(
            "Left out, repositories of their own: {}{more}\n",
            shown.join(", ")
        ));
    }
    let commit = write_snapshot_commit(repo, tree, previous, &message)?;
    Ok(Some(Snapshot {
        reference,
        branch: branch_name,
        old: previous.map(|o| o.to_string()),
        new: commit.to_string(),
        files_changed,
    }))
}

/// How many files differ between two trees, as `git diff --stat` counts them. Walks
/// only the subtrees that differ and keeps no list: a diff of a 100,000-file burst
/// holds ≈ 11 MiB of deltas just to be counted.
pub fn files_changed(
    repo: &Repository,
    old: Option<&git2::Tree>,
    new: Option<&git2::Tree>,
) -> Result<usize, git2::Error> {
    use std::cmp::Ordering;
    let entries = |tree: Option<&git2::Tree>| -> Vec<(Vec<u8>, Oid, bool)> {
        tree.map(|t| {
            t.iter()
                .map(|e| {
                    (e.name_bytes().to_vec(), e.id(), e.kind() == Some(git2::ObjectType::Tree))
                })
                .collect()
        })
        .unwrap_or_default()
    };
    let subtree = |id: Oid, is_tree: bool| -> Result<Option<git2::Tree>, git2::Error> {
        if is_tree { repo.find_tree(id).map(Some) } else { Ok(None) }
    };
    // One side of an entry: a file counts one, a directory every file in it.
    let side = |id: Oid, is_tree: bool| -> Result<usize, git2::Error> {
        match subtree(id, is_tree)? {
            Some(t) => files_changed(repo, Some(&t), None),
            None => Ok(1),
        }
    };
    let (old, new) = (entries(old), entries(new));
    let (mut i, mut j, mut count) = (0, 0, 0);
    while i < old.len() || j < new.len() {
        let order = match (old.get(i), new.get(j)) {
            (Some(a), Some(b)) => a.0.cmp(&b.0),
            (Some(_), None) => Ordering::Less,
            _ => Ordering::Greater,
        };
        match order {
            Ordering::Less => {
                count += side(old[i].1, old[i].2)?;
                i += 1;
            }
            Ordering::Greater => {
                count += side(new[j].1, new[j].2)?;
                j += 1;
            }
            Ordering::Equal => {
                let ((_, a, a_tree), (_, b, b_tree)) = (&old[i], &new[j]);
                if a != b {
                    count += match (a_tree, b_tree) {
                        (true, true) => files_changed(
                            repo,
                            subtree(*a, true)?.as_ref(),
                            subtree(*b, true)?.as_ref(),
                        )?,
                        (false, false) => 1,
                        _ => side(*a, *a_tree)? + side(*b, *b_tree)?,
                    };
                }
                i += 1;
                j += 1;
            }
        }
    }
    Ok(count)
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
        let name = format!("{}{}-{n}", crate::apply::INDEX_COPY_PREFIX, std::process::id());
        let path = repo.path().join(name);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_with_commit(dir: &std::path::Path) -> Repository {
        let repo = Repository::init(dir).unwrap();
        std::fs::write(dir.join("README.md"), "hello\n").unwrap();
        let mut index = repo.index().unwrap();
        index.add_path(std::path::Path::new("README.md")).unwrap();
        crate::git::commit_index_for_tests(&repo, &mut index);
        drop(index);
        repo
    }

    #[test]
    fn the_repository_has_its_own_index_back_after_a_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let repo = repo_with_commit(dir.path());
        std::fs::write(dir.path().join("new.txt"), "untracked\n").unwrap();
        snapshot_tree(&repo, u64::MAX).unwrap();
        let statuses = repo.statuses(None).unwrap();
        let new = statuses.iter().find(|s| s.path().ok() == Some("new.txt")).unwrap();
        assert_eq!(new.status(), git2::Status::WT_NEW, "the scratch index is still lent");
    }

    #[test]
    fn files_changed_counts_as_the_diff_does() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let repo = repo_with_commit(root);
        let (before, _) = snapshot_tree(&repo, u64::MAX).unwrap();
        for (path, text) in [("a/b/c.txt", "c"), ("a/d.txt", "d"), ("e.txt", "e")] {
            std::fs::create_dir_all(root.join(path).parent().unwrap()).unwrap();
            std::fs::write(root.join(path), text).unwrap();
        }
        std::fs::write(root.join("README.md"), "edited\n").unwrap();
        let (middle, _) = snapshot_tree(&repo, u64::MAX).unwrap();
        // A file that becomes a directory, a directory that becomes a file.
        std::fs::remove_file(root.join("e.txt")).unwrap();
        std::fs::create_dir(root.join("e.txt")).unwrap();
        std::fs::write(root.join("e.txt/inner"), "x").unwrap();
        std::fs::remove_dir_all(root.join("a")).unwrap();
        std::fs::write(root.join("a"), "now a file").unwrap();
        let (after, _) = snapshot_tree(&repo, u64::MAX).unwrap();
        let tree = |id| repo.find_tree(id).unwrap();
        for (old, new) in [(before, middle), (middle, after), (before, after), (after, before)] {
            let (old, new) = (tree(old), tree(new));
            let by_diff =
                repo.diff_tree_to_tree(Some(&old), Some(&new), None).unwrap().deltas().len();
            assert_eq!(files_changed(&repo, Some(&old), Some(&new)).unwrap(), by_diff);
        }
        assert_eq!(files_changed(&repo, None, Some(&tree(middle))).unwrap(), 4);
    }

    #[test]
    fn nested_repositories_are_left_out_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let repo = repo_with_commit(root);
        std::fs::write(root.join("README.md"), "edited\n").unwrap();
        // A clone inside the project (.git directory), and a linked checkout (.git file).
        repo_with_commit(&root.join("vendor/clone"));
        std::fs::create_dir_all(root.join("tools/checkout")).unwrap();
        std::fs::write(root.join("tools/checkout/.git"), "gitdir: /elsewhere\n").unwrap();
        std::fs::write(root.join("tools/checkout/file.txt"), "x\n").unwrap();
        std::fs::write(root.join("tools/own.txt"), "mine\n").unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            root.join("pipe"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();

        let (tree, left_out) = snapshot_tree(&repo, u64::MAX).unwrap();
        let tree = repo.find_tree(tree).unwrap();
        let mut paths = Vec::new();
        tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
            paths.push(format!("{dir}{}", entry.name().unwrap()));
            git2::TreeWalkResult::Ok
        })
        .unwrap();
        assert!(paths.contains(&"tools/own.txt".to_owned()), "{paths:?}");
        assert!(!paths.iter().any(|p| p.starts_with("vendor")), "{paths:?}");
        assert!(!paths.iter().any(|p| p.starts_with("tools/checkout")), "{paths:?}");
        assert_eq!(
            repo.find_blob(tree.get_path("README.md".as_ref()).unwrap().id()).unwrap().content(),
            b"edited\n"
        );
        assert_eq!(left_out.nested, ["tools/checkout", "vendor/clone"]);
        assert!(tree.get_path("pipe".as_ref()).is_err(), "a FIFO is not content");
    }
}
