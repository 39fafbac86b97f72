//! What a proposal does, by name — `git.snapshot`, `git.branch.delete`, `fs.patch`, … —
//! and, in one place, what each kind of action is: whether it can be undone, whether it
//! writes the user's working tree, and whether it is routine (done quietly, exempt from
//! the limits that hold back other automatic work) or announced.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A kind of change. Written and stored as its dotted name; names kairos does not know
/// (from a newer version, or typed into `kairos policy explain`) are kept as they are and
/// treated with the most caution.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", from = "String")]
pub enum Action {
    /// Uncommitted work to `refs/kairos/snapshots/<branch>`.
    Snapshot,
    BranchDelete,
    /// A branch that is not checked out, moved to its upstream.
    BranchFastForward,
    /// The checked-out branch and the working tree with it.
    WorktreeFastForward,
    /// Remote-tracking refs moved to what a fetch brought.
    Fetch,
    Maintenance(Maintenance),
    /// Files changed as a tool changed them in scratch space.
    Patch,
    /// Files brought back from a snapshot (`kairos restore`).
    Restore,
    /// A lock file refreshed within the manifest's ranges.
    DepsUpdate,
    /// The staged changes committed on the checked-out branch.
    Commit,
    /// Information only.
    Notice,
    Other(String),
}

/// The storage tasks of git maintenance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Maintenance {
    CommitGraph,
    LooseObjects,
    IncrementalRepack,
    PackRefs,
    /// `git gc`: prunes unreachable objects, which cannot be brought back.
    Gc,
}

impl Maintenance {
    pub const ALL: [Maintenance; 5] = [
        Maintenance::CommitGraph,
        Maintenance::LooseObjects,
        Maintenance::IncrementalRepack,
        Maintenance::PackRefs,
        Maintenance::Gc,
    ];

    /// git's name for the task (`git maintenance run --task=NAME`, or `gc`).
    pub fn as_str(self) -> &'static str {
        match self {
            Maintenance::CommitGraph => "commit-graph",
            Maintenance::LooseObjects => "loose-objects",
            Maintenance::IncrementalRepack => "incremental-repack",
            Maintenance::PackRefs => "pack-refs",
            Maintenance::Gc => "gc",
        }
    }

    pub fn parse(name: &str) -> Option<Maintenance> {
        Maintenance::ALL.into_iter().find(|m| m.as_str() == name)
    }
}

impl From<Maintenance> for String {
    fn from(task: Maintenance) -> String {
        task.as_str().to_owned()
    }
}

impl TryFrom<String> for Maintenance {
    type Error = String;

    fn try_from(name: String) -> Result<Maintenance, String> {
        Maintenance::parse(&name).ok_or_else(|| format!("unknown maintenance task {name:?}"))
    }
}

impl fmt::Display for Maintenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Action {
    /// Every action kairos knows, for tables and tests.
    pub fn known() -> Vec<Action> {
        let mut all = vec![
            Action::Snapshot,
            Action::BranchDelete,
            Action::BranchFastForward,
            Action::WorktreeFastForward,
            Action::Fetch,
            Action::Patch,
            Action::Restore,
            Action::DepsUpdate,
            Action::Commit,
            Action::Notice,
        ];
        all.extend(Maintenance::ALL.map(Action::Maintenance));
        all
    }

    pub fn name(&self) -> String {
        match self {
            Action::Snapshot => "git.snapshot".into(),
            Action::BranchDelete => "git.branch.delete".into(),
            Action::BranchFastForward => "git.branch.fast-forward".into(),
            Action::WorktreeFastForward => "git.worktree.fast-forward".into(),
            Action::Fetch => "git.fetch".into(),
            Action::Maintenance(m) => format!("git.maintenance.{}", m.as_str()),
            Action::Patch => "fs.patch".into(),
            Action::Restore => "fs.restore".into(),
            Action::DepsUpdate => "deps.update".into(),
            Action::Commit => "git.commit".into(),
            Action::Notice => "notice".into(),
            Action::Other(name) => name.clone(),
        }
    }

    /// Whether `kairos undo` can put back exactly what the action changed. Only
    /// reversible actions may be automatic; an unknown one is taken as irreversible.
    pub fn reversible(&self) -> bool {
        !matches!(self, Action::Maintenance(Maintenance::Gc) | Action::Other(_))
    }

    /// Whether applying it writes files in the user's working tree.
    pub fn touches_worktree(&self) -> bool {
        matches!(
            self,
            Action::Patch | Action::Restore | Action::DepsUpdate | Action::WorktreeFastForward
        )
    }

    /// Routine work is done quietly: it touches nothing of the user's and protects their
    /// work, so it is not announced and never waits for quiet hours, the hourly cap or a
    /// broken policy file. Only snapshots are routine.
    pub fn routine(&self) -> bool {
        matches!(self, Action::Snapshot)
    }

    /// Whether it acts on a branch other than (or besides) the checked-out one, so that a
    /// policy's `branch` globs are matched against the branch it acts on.
    pub fn acts_on_a_branch(&self) -> bool {
        matches!(
            self,
            Action::BranchDelete | Action::BranchFastForward | Action::WorktreeFastForward
        )
    }
}

impl FromStr for Action {
    type Err = std::convert::Infallible;

    fn from_str(name: &str) -> Result<Action, Self::Err> {
        let known = match name {
            "git.snapshot" => Action::Snapshot,
            "git.branch.delete" => Action::BranchDelete,
            "git.branch.fast-forward" => Action::BranchFastForward,
            "git.worktree.fast-forward" => Action::WorktreeFastForward,
            "git.fetch" => Action::Fetch,
            "fs.patch" => Action::Patch,
            "fs.restore" => Action::Restore,
            "deps.update" => Action::DepsUpdate,
            "git.commit" => Action::Commit,
            "notice" => Action::Notice,
            other => match other.strip_prefix("git.maintenance.").and_then(Maintenance::parse) {
                Some(m) => Action::Maintenance(m),
                None => Action::Other(other.to_owned()),
            },
        };
        Ok(known)
    }
}

impl From<String> for Action {
    fn from(name: String) -> Action {
        let Ok(action) = name.parse();
        action
    }
}

impl From<&str> for Action {
    fn from(name: &str) -> Action {
        let Ok(action) = name.parse();
        action
    }
}

impl From<Action> for String {
    fn from(action: Action) -> String {
        action.name()
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_are_kept() {
        for action in Action::known() {
            assert_eq!(Action::from(action.name()), action, "{action}");
            let json = serde_json::to_string(&action).unwrap();
            assert_eq!(json, format!("\"{action}\""));
            assert_eq!(serde_json::from_str::<Action>(&json).unwrap(), action);
        }
        let odd = Action::from("git.reflog.expire");
        assert_eq!(odd, Action::Other("git.reflog.expire".into()));
        assert_eq!(odd.to_string(), "git.reflog.expire");
    }

    #[test]
    fn what_each_action_is() {
        let irreversible: Vec<Action> =
            Action::known().into_iter().filter(|a| !a.reversible()).collect();
        assert_eq!(irreversible, [Action::Maintenance(Maintenance::Gc)]);
        assert!(!Action::from("git.push.force").reversible(), "unknown means careful");
        let routine: Vec<Action> = Action::known().into_iter().filter(Action::routine).collect();
        assert_eq!(routine, [Action::Snapshot]);
        assert!(Action::Patch.touches_worktree() && !Action::Snapshot.touches_worktree());
        assert!(Action::BranchDelete.acts_on_a_branch() && !Action::Patch.acts_on_a_branch());
    }
}
