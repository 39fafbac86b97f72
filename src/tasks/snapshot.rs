//! `snapshot`: commits the working tree to `refs/kairos/snapshots/<branch>` after the
//! repository has been quiet, so uncommitted work can always be brought back.

use git2::Repository;

use super::{RunContext, Trigger};
use crate::git;
use crate::proposal::{Change, Draft};

pub fn run(ctx: &RunContext) -> Result<Option<Draft>, git2::Error> {
    let why = match ctx.trigger {
        Trigger::Manual => "uncommitted work, saved because you asked".to_owned(),
        _ => format!(
            "uncommitted work, saved after {} without file changes",
            humantime::format_duration(ctx.settings.quiet)
        ),
    };
    draft(ctx.repo, &why, ctx.settings.max_file_size)
}

/// Builds the snapshot commit (objects only) and the proposal that points the ref at it;
/// `None` when the working tree is unchanged since the last snapshot.
pub fn draft(
    repo: &Repository,
    why: &str,
    max_file_size: u64,
) -> Result<Option<Draft>, git2::Error> {
    let branch = git::current_branch(repo);
    let reference = git::snapshot_ref(branch.as_deref());
    let previous = repo.refname_to_id(&reference).ok();
    let head_commit = repo.head().ok().and_then(|h| h.peel_to_commit().ok());

    let (tree, left_out) = git::snapshot_tree(repo, max_file_size)?;
    let base_tree = match previous {
        Some(prev) => Some(repo.find_commit(prev)?.tree_id()),
        None => head_commit.as_ref().map(|c| c.tree_id()),
    };
    if base_tree == Some(tree) {
        return Ok(None);
    }
    let old_tree = base_tree.map(|t| repo.find_tree(t)).transpose()?;
    let new_tree = repo.find_tree(tree)?;
    let files_changed =
        repo.diff_tree_to_tree(old_tree.as_ref(), Some(&new_tree), None)?.deltas().len();

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
    let commit = git::write_snapshot_commit(repo, tree, previous, &message)?;
    Ok(Some(Draft {
        action: crate::action::Action::Snapshot,
        changed_lines: 0,
        title: format!("snapshot of {branch_name} ({files_changed} files changed)"),
        why: why.to_owned(),
        fingerprint: format!("git.snapshot:{reference}:{commit}"),
        change: Change::Snapshot {
            reference,
            branch: branch_name,
            old: previous.map(|o| o.to_string()),
            new: commit.to_string(),
            files_changed,
        },
        provenance: crate::proposal::Provenance::BUILTIN,
    }))
}
