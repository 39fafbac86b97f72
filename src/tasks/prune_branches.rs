//! `prune-branches`: proposes deleting local branches that are fully merged into the
//! default branch, not checked out anywhere, and without an upstream still on the
//! remote.

use git2::Repository;

use crate::git;
use crate::proposal::{Change, Draft};

pub fn run(repo: &Repository) -> Result<Vec<Draft>, git2::Error> {
    let Some(default) = git::default_branch(repo) else {
        return Ok(Vec::new());
    };
    let checked_out = git::checked_out_branches(repo);
    let merged = git::merged_branches(repo, &default, &checked_out)?;
    Ok(merged
        .into_iter()
        .map(|(branch, tip)| {
            let summary = repo
                .find_commit(tip)
                .ok()
                .and_then(|c| c.summary().ok().flatten().map(str::to_owned))
                .unwrap_or_default();
            let upstream = git::upstream_of(repo, &branch);
            let gone = match &upstream {
                Some(u) => format!(
                    "; its upstream {}/{} is gone from the remote",
                    u.remote,
                    u.merge.strip_prefix("refs/heads/").unwrap_or(&u.merge)
                ),
                None => String::new(),
            };
            Draft {
                action: crate::action::Action::BranchDelete,
                changed_lines: 0,
                title: format!("delete merged branch {branch}"),
                why: format!(
                    "{branch} ({}: {summary}) is fully merged into {default} and not checked out{gone}",
                    &tip.to_string()[..8]
                ),
                fingerprint: format!("git.branch.delete:{branch}:{tip}"),
                change: Change::BranchDelete {
                    upstream,
                    branch,
                    target: tip.to_string(),
                },
                provenance: crate::proposal::Provenance::BUILTIN,
            }
        })
        .collect())
}
