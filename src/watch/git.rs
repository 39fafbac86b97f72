//! Git as an event source: the observable state of a repository's refs (HEAD, branches,
//! upstreams, remote-tracking refs), read after inotify says a ref file changed, and the
//! events that separate two observations.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What moved in git between two looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GitChange {
    /// HEAD points at another commit.
    HeadMoved,
    /// A branch, an upstream or a remote-tracking ref changed; HEAD's commit did not.
    RefsChanged,
}

/// What kairos remembers about a repository's refs between two looks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefState {
    /// Where HEAD points: `refs/heads/x` when on a branch, a commit id when detached.
    pub head: Option<String>,
    /// The commit HEAD resolves to.
    pub head_commit: Option<String>,
    /// Local branch → commit id.
    pub branches: BTreeMap<String, String>,
    /// Local branch → upstream (e.g. `origin/main`).
    pub upstreams: BTreeMap<String, String>,
    /// Remote-tracking branch (e.g. `origin/main`) → commit id.
    #[serde(default)]
    pub remotes: BTreeMap<String, String>,
}

impl RefState {
    /// Reads the current state of `repo`.
    pub fn read(repo: &git2::Repository) -> Result<RefState, git2::Error> {
        let mut state = RefState::default();
        if let Ok(head) = repo.find_reference("HEAD") {
            state.head = match head.symbolic_target() {
                Ok(Some(target)) => Some(target.to_owned()),
                _ => head.target().map(|o| o.to_string()),
            };
            state.head_commit = head.resolve().ok().and_then(|r| r.target()).map(|o| o.to_string());
        }
        for branch in repo.branches(Some(git2::BranchType::Local))? {
            let (branch, _) = branch?;
            let Ok(Some(name)) = branch.name() else {
                continue;
            };
            let name = name.to_owned();
            if let Some(target) = branch.get().target() {
                state.branches.insert(name.clone(), target.to_string());
            }
            if let Ok(upstream) = branch.upstream()
                && let Ok(Some(up)) = upstream.name()
            {
                state.upstreams.insert(name, up.to_owned());
            }
        }
        for branch in repo.branches(Some(git2::BranchType::Remote))? {
            let (branch, _) = branch?;
            let Ok(Some(name)) = branch.name() else { continue };
            if let Some(target) = branch.get().target() {
                state.remotes.insert(name.to_owned(), target.to_string());
            }
        }
        Ok(state)
    }

    /// What moved between `self` and `now`, for the tasks that follow git: `None` when
    /// nothing did.
    pub fn change_to(&self, now: &RefState) -> Option<GitChange> {
        if self == now {
            return None;
        }
        Some(if self.head_commit != now.head_commit && now.head_commit.is_some() {
            GitChange::HeadMoved
        } else {
            GitChange::RefsChanged
        })
    }

    /// Human-readable events describing how `self` became `now`.
    pub fn changes_to(&self, now: &RefState) -> Vec<String> {
        let mut events = Vec::new();
        if self.head != now.head || self.head_commit != now.head_commit {
            events.push(format!(
                "HEAD moved: {} → {}",
                describe_head(&self.head, &self.head_commit),
                describe_head(&now.head, &now.head_commit)
            ));
        }
        for (name, target) in &now.branches {
            match self.branches.get(name) {
                None => events.push(format!("branch {name} created at {}", short(target))),
                Some(old) if old != target => {
                    events.push(format!("branch {name} moved {} → {}", short(old), short(target)))
                }
                _ => {}
            }
        }
        for (name, target) in &self.branches {
            if !now.branches.contains_key(name) {
                events.push(format!("branch {name} deleted (was {})", short(target)));
            }
        }
        for (name, target) in &now.remotes {
            match self.remotes.get(name) {
                None => events.push(format!("remote branch {name} appeared at {}", short(target))),
                Some(old) if old != target => events.push(format!(
                    "remote branch {name} moved {} → {}",
                    short(old),
                    short(target)
                )),
                _ => {}
            }
        }
        for (name, target) in &self.remotes {
            if !now.remotes.contains_key(name) {
                events.push(format!("remote branch {name} is gone (was {})", short(target)));
            }
        }
        for name in now.branches.keys() {
            let (old, new) = (self.upstreams.get(name), now.upstreams.get(name));
            if old != new && self.branches.contains_key(name) {
                events.push(format!(
                    "upstream of {name} changed: {} → {}",
                    old.map_or("none", String::as_str),
                    new.map_or("none", String::as_str)
                ));
            }
        }
        events
    }
}

fn describe_head(head: &Option<String>, commit: &Option<String>) -> String {
    match (head, commit) {
        (Some(h), Some(c)) if h.starts_with("refs/") => {
            format!("{} ({})", h.trim_start_matches("refs/heads/"), short(c))
        }
        (Some(h), None) => format!("{} (unborn)", h.trim_start_matches("refs/heads/")),
        (_, Some(c)) => format!("detached at {}", short(c)),
        _ => "nothing".into(),
    }
}

fn short(id: &str) -> &str {
    &id[..id.len().min(8)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(branches: &[(&str, &str)]) -> RefState {
        RefState {
            head: Some("refs/heads/main".into()),
            head_commit: Some("aaaaaaaaaa".into()),
            branches: branches.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(),
            upstreams: BTreeMap::new(),
            remotes: BTreeMap::new(),
        }
    }

    #[test]
    fn branch_lifecycle_is_described() {
        let before =
            state(&[("main", "aaaaaaaaaa"), ("old", "bbbbbbbbbb"), ("moving", "cccccccccc")]);
        let after =
            state(&[("main", "aaaaaaaaaa"), ("new", "dddddddddd"), ("moving", "eeeeeeeeee")]);
        let events = before.changes_to(&after);
        assert!(events.contains(&"branch new created at dddddddd".to_string()), "{events:?}");
        assert!(
            events.contains(&"branch moving moved cccccccc → eeeeeeee".to_string()),
            "{events:?}"
        );
        assert!(events.contains(&"branch old deleted (was bbbbbbbb)".to_string()), "{events:?}");
        assert_eq!(events.len(), 3);
    }

    #[test]
    fn head_and_upstream_changes_are_described() {
        let before = state(&[("main", "aaaaaaaaaa")]);
        let mut after = before.clone();
        after.head = Some("ffffffffff".into());
        after.head_commit = Some("ffffffffff".into());
        after.upstreams.insert("main".into(), "origin/main".into());
        let events = before.changes_to(&after);
        assert_eq!(
            events,
            vec![
                "HEAD moved: main (aaaaaaaa) → detached at ffffffff".to_string(),
                "upstream of main changed: none → origin/main".to_string()
            ]
        );
        assert!(after.changes_to(&after).is_empty());
    }
}
