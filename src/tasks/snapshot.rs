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

/// The proposal that points the snapshot ref at a new snapshot commit (written now, as
/// objects only); `None` when the working tree is unchanged since the last snapshot.
pub fn draft(
    repo: &Repository,
    why: &str,
    max_file_size: u64,
) -> Result<Option<Draft>, git2::Error> {
    let Some(snapshot) = git::take_snapshot(repo, max_file_size)? else { return Ok(None) };
    let git::Snapshot { reference, branch, old, new, files_changed } = snapshot;
    Ok(Some(Draft {
        action: crate::action::Action::Snapshot,
        changed_lines: 0,
        title: format!("snapshot of {branch} ({files_changed} files changed)"),
        why: why.to_owned(),
        fingerprint: format!("git.snapshot:{reference}:{new}"),
        change: Change::Snapshot { reference, branch, old, new, files_changed },
        provenance: crate::proposal::Provenance::BUILTIN,
    }))
}
