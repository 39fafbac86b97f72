//! `fast-forward`: local branches strictly behind their upstream. A branch that is not
//! checked out moves as a plain ref update (`git.branch.fast-forward`); the checked-out
//! one moves the working tree too (`git.worktree.fast-forward`), only when it is clean.

use git2::{BranchType, Repository};

use super::TaskError;
use crate::action::Action;
use crate::proposal::{Change, Draft, Provenance, RefUpdate};

pub fn run(repo: &Repository) -> Result<Vec<Draft>, TaskError> {
    let checked_out = crate::git::checked_out_branches(repo);
    let head_branch = crate::git::current_branch(repo);
    let mut drafts = Vec::new();
    for branch in repo.branches(Some(BranchType::Local))? {
        let (branch, _) = branch?;
        let Ok(Some(name)) = branch.name() else { continue };
        let name = name.to_owned();
        let (Some(local), Ok(upstream)) = (branch.get().target(), branch.upstream()) else {
            continue;
        };
        let Some(remote) = upstream.get().target() else { continue };
        if local == remote || !repo.graph_descendant_of(remote, local)? {
            continue;
        }
        let (ahead, behind) = repo.graph_ahead_behind(remote, local)?;
        let _ = behind;
        let (old, new) = (local.to_string(), remote.to_string());
        let title_tail = format!("{ahead} new {}", if ahead == 1 { "commit" } else { "commits" });
        if head_branch.as_deref() == Some(name.as_str()) {
            drafts.push(Draft {
                action: Action::WorktreeFastForward,
                changed_lines: 0,
                title: format!("fast-forward {name} (checked out) by {title_tail}"),
                why: format!(
                    "{name} is strictly behind its upstream; your working tree moves with it"
                ),
                fingerprint: format!("git.worktree.fast-forward:{name}:{old}:{new}"),
                change: Change::WorktreeFastForward { branch: name, old, new },
                provenance: Provenance::BUILTIN,
            });
        } else if !checked_out.contains(&name) {
            drafts.push(Draft {
                action: Action::BranchFastForward,
                changed_lines: 0,
                title: format!("fast-forward {name} by {title_tail}"),
                why: format!("{name} is strictly behind its upstream and not checked out"),
                fingerprint: format!("git.branch.fast-forward:{name}:{old}:{new}"),
                change: Change::Refs {
                    updates: vec![RefUpdate {
                        name: format!("refs/heads/{name}"),
                        old: Some(old),
                        new: Some(new),
                    }],
                },
                provenance: Provenance::BUILTIN,
            });
        }
    }
    Ok(drafts)
}
