//! Branch facts: the default branch, which branches are merged into it, upstreams.

use git2::{BranchType, Oid, Repository};

use crate::proposal::Upstream;

/// The repository's default branch: the remote's HEAD when known, else
/// `init.defaultBranch`, else the first of main, master, trunk that exists. A remote HEAD
/// whose branch is gone from the remote (renamed, say) is not trusted: the local branch
/// of that name is a leftover.
pub fn default_branch(repo: &Repository) -> Option<String> {
    let exists = |name: &str| repo.find_branch(name, BranchType::Local).is_ok();
    if let Ok(remote_head) = repo.find_reference("refs/remotes/origin/HEAD")
        && let Ok(Some(target)) = remote_head.symbolic_target()
        && repo.find_reference(target).is_ok()
        && let Some(name) = target.strip_prefix("refs/remotes/origin/")
        && exists(name)
    {
        return Some(name.to_owned());
    }
    if let Ok(config) = repo.config()
        && let Ok(name) = config.get_string("init.defaultBranch")
        && exists(&name)
    {
        return Some(name);
    }
    ["main", "master", "trunk"].into_iter().find(|n| exists(n)).map(str::to_owned)
}

/// Local branches other than `default` whose tip is contained in `default`, with that
/// tip, skipping checked-out branches, branches nobody has committed on yet (a branch
/// just created from the default branch is work about to start, not work done) and
/// branches whose upstream still exists on the remote (a release line such as `3.7.x`
/// is merged and still someone's line of work; a topic whose remote branch was deleted
/// after its pull request merged is done).
pub fn merged_branches(
    repo: &Repository,
    default: &str,
    checked_out: &[String],
) -> Result<Vec<(String, Oid)>, git2::Error> {
    let default_tip = repo
        .find_branch(default, BranchType::Local)?
        .get()
        .target()
        .ok_or_else(|| git2::Error::from_str("the default branch has no commit"))?;
    let mut merged = Vec::new();
    for branch in repo.branches(Some(BranchType::Local))? {
        let (branch, _) = branch?;
        let Ok(Some(name)) = branch.name() else {
            continue;
        };
        if name == default || checked_out.iter().any(|c| c == name) {
            continue;
        }
        let Some(tip) = branch.get().target() else {
            continue;
        };
        let contained = tip == default_tip || repo.graph_descendant_of(default_tip, tip)?;
        if !contained || (tip == default_tip && never_committed_on(repo, name)) {
            continue;
        }
        // `upstream()` finds the remote-tracking branch only while it exists (fetch
        // --prune removes it when the remote branch is deleted; without pruning,
        // kairos's own fetch marks it gone).
        if let Ok(upstream) = branch.upstream()
            && !marked_gone(repo, upstream.get())
        {
            continue;
        }
        merged.push((name.to_owned(), tip));
    }
    merged.sort();
    Ok(merged)
}

/// Where kairos's fetch marks remote-tracking refs it did not find on the remote.
pub const GONE_PREFIX: &str = "refs/kairos/gone/";

/// Whether kairos's last fetch found `tracking` gone from its remote, at its tip as it
/// is now (a branch pushed again since has moved, or lost its mark at the next fetch).
fn marked_gone(repo: &Repository, tracking: &git2::Reference) -> bool {
    let (Ok(name), Some(tip)) = (tracking.name(), tracking.target()) else { return false };
    repo.find_reference(&format!("{GONE_PREFIX}{name}"))
        .is_ok_and(|mark| mark.target() == Some(tip))
}

fn never_committed_on(repo: &Repository, branch: &str) -> bool {
    repo.reflog(&format!("refs/heads/{branch}")).map(|log| log.len() <= 1).unwrap_or(false)
}

/// The upstream configuration of `branch` (`branch.<name>.remote` and `.merge`).
pub fn upstream_of(repo: &Repository, branch: &str) -> Option<Upstream> {
    let config = repo.config().ok()?;
    let remote = config.get_string(&format!("branch.{branch}.remote")).ok()?;
    let merge = config.get_string(&format!("branch.{branch}.merge")).ok()?;
    Some(Upstream { remote, merge })
}
