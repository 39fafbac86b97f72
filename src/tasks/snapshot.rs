//! `snapshot`: commits the working tree to `refs/kairos/snapshots/<branch>` after the
//! repository has been quiet, so uncommitted work can always be brought back.

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
    let max = ctx.settings.max_file_size;
    let seen = ctx.seen_tree.and_then(|s| s.take(max));
    let (tree, left_out) = match (seen, ctx.trigger) {
        (Some(seen), Trigger::FilesQuiet { paths, dirs, rescanned: false }) => {
            match git::tree_since(ctx.repo, seen, paths, dirs, max) {
                Ok(built) => {
                    tracing::debug!(
                        "snapshot read {} changed paths and {} directories, not the whole tree",
                        paths.len(),
                        dirs.len()
                    );
                    built
                }
                Err(why) => {
                    tracing::debug!("snapshot walks the whole tree: {why}");
                    git::snapshot_tree(ctx.repo, max)?
                }
            }
        }
        _ => {
            tracing::debug!("snapshot walks the whole tree");
            git::snapshot_tree(ctx.repo, max)?
        }
    };
    if let Some(seen) = ctx.seen_tree {
        seen.put(tree, max);
    }
    Ok(git::snapshot_of(ctx.repo, tree, &left_out, max)?.map(|s| draft_of(s, &why)))
}

/// The proposal that points the snapshot ref at the new snapshot commit (written now, as
/// objects only).
fn draft_of(snapshot: git::Snapshot, why: &str) -> Draft {
    let git::Snapshot { reference, branch, old, new, files_changed } = snapshot;
    Draft {
        action: crate::action::Action::Snapshot,
        changed_lines: 0,
        title: format!("snapshot of {branch} ({files_changed} files changed)"),
        why: why.to_owned(),
        fingerprint: format!("git.snapshot:{reference}:{new}"),
        change: Change::Snapshot { reference, branch, old, new, files_changed },
        provenance: crate::proposal::Provenance::BUILTIN,
    }
}
