//! What a proposal changes, exactly enough to check, apply and undo it: the change
//! itself, the files and refs it touches, and the record that puts them back.

use serde::{Deserialize, Serialize};

use crate::action::Maintenance;

/// A file's content as git stores it: blob id and mode (`None` when the file is absent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileState {
    pub blob: String,
    pub mode: u32,
}

/// A repository-relative path, kept byte-exact: text when it is UTF-8, bytes otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RepoPath {
    Text(String),
    Bytes(Vec<u8>),
}

impl RepoPath {
    pub fn from_bytes(bytes: &[u8]) -> RepoPath {
        match std::str::from_utf8(bytes) {
            Ok(text) => RepoPath::Text(text.to_owned()),
            Err(_) => RepoPath::Bytes(bytes.to_vec()),
        }
    }

    pub fn from_path(path: &std::path::Path) -> RepoPath {
        RepoPath::from_bytes(path.as_os_str().as_encoded_bytes())
    }

    pub fn as_path(&self) -> &std::path::Path {
        use std::os::unix::ffi::OsStrExt;
        match self {
            RepoPath::Text(t) => std::path::Path::new(t),
            RepoPath::Bytes(b) => std::path::Path::new(std::ffi::OsStr::from_bytes(b)),
        }
    }
}

impl std::fmt::Display for RepoPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.as_path().to_string_lossy())
    }
}

/// One path touched by a file apply: what it held before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChange {
    pub path: RepoPath,
    pub before: Option<FileState>,
    pub after: Option<FileState>,
}

/// The concrete change a proposal makes; enough to check, apply and undo it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// Move `reference` from `old` (absent when `None`) to the snapshot commit `new`.
    Snapshot {
        reference: String,
        branch: String,
        old: Option<String>,
        new: String,
        files_changed: usize,
    },
    /// Delete local `branch`, which must still point at `target`.
    BranchDelete { branch: String, target: String, upstream: Option<Upstream> },
    /// Make each file hold `after`; every file must still hold `before`.
    Patch { files: Vec<FileChange> },
    /// Move refs (remote-tracking refs after a fetch, a branch fast-forwarded), all or
    /// nothing; each must still be at `old`.
    Refs { updates: Vec<RefUpdate> },
    /// Fast-forward the checked-out branch and the working tree with it; the tree must
    /// be clean and the branch still at `old`.
    WorktreeFastForward { branch: String, old: String, new: String },
    /// Run a storage task of git maintenance (`commit-graph`, `loose-objects`,
    /// `incremental-repack`, `pack-refs`, `gc`); contents stay the same.
    Maintenance { task: Maintenance },
    /// Information only.
    Notice { text: String },
    /// Bring the working tree back to `snapshot` (for `paths`, or everything when empty).
    Restore { snapshot: String, paths: Vec<RepoPath> },
    /// Commit the staged tree `tree` with `message` on `branch`, which must still be at
    /// `parent` (absent: an unborn branch) with exactly that tree staged.
    Commit { branch: String, parent: Option<String>, tree: String, message: String },
}

/// One ref moving from `old` to `new` (`None`: absent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefUpdate {
    pub name: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// A branch's upstream configuration, kept so that undoing a deletion restores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upstream {
    pub remote: String,
    pub merge: String,
}

/// What an apply did, so that `kairos undo` can put it back exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum UndoRecord {
    /// Set `reference` back to `old` (delete it when `None`), if it still points at `new`.
    Reference { reference: String, old: Option<String>, new: String },
    /// Recreate `branch` at `target` with its upstream.
    RecreateBranch {
        branch: String,
        target: String,
        upstream: Option<Upstream>,
        /// Every `branch.<name>.*` setting it had, restored before the ref.
        #[serde(default)]
        config: Vec<(String, String)>,
    },
    /// Write every file back to its `before` state, if it still holds its `after` state.
    Files {
        /// The snapshot taken before a restore (none for patches).
        #[serde(default)]
        pre_snapshot: Option<String>,
        files: Vec<FileChange>,
    },
    /// Move every ref back from `new` to `old`, if each is still at `new`.
    Refs { updates: Vec<RefUpdate> },
    /// Check out `old` again and move `branch` back, if the tree is clean and at `new`.
    WorktreeFastForward { branch: String, old: String, new: String },
    /// Move `branch` back from `commit` to `parent` (absent: unborn again), if it is still
    /// at `commit`; the index and the working tree stay as they are.
    Commit { branch: String, parent: Option<String>, commit: String },
    /// Nothing observable changed (storage was reorganised); nothing to put back.
    Nothing { why: String },
    /// What was done cannot be undone (`git gc` pruned objects); undo says so.
    Irreversible { why: String },
}
