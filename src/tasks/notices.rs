//! Tasks that only tell: `stale-branches` (branches untouched for a long time) and
//! `reminders` (uncommitted work, unpushed commits and stashes getting old).

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use git2::{BranchType, Repository};

use super::{RunContext, TaskError};
use crate::action::Action;
use crate::proposal::{Change, Draft, Provenance};

fn notice(task: &str, fingerprint: String, title: String, text: String) -> Draft {
    Draft {
        action: Action::Notice,
        changed_lines: 0,
        title,
        why: text.clone(),
        fingerprint: format!("notice:{task}:{fingerprint}"),
        change: Change::Notice { text },
        provenance: Provenance::BUILTIN,
    }
}

fn commit_time(repo: &Repository, id: git2::Oid) -> Option<DateTime<Utc>> {
    let c = repo.find_commit(id).ok()?;
    Utc.timestamp_opt(c.time().seconds(), 0).single()
}

fn age(d: Duration) -> String {
    let days = d.as_secs() / 86_400;
    if days >= 2 { format!("{days} days") } else { format!("{} hours", d.as_secs() / 3600) }
}

pub fn stale_branches(ctx: &RunContext) -> Result<Vec<Draft>, TaskError> {
    let repo = ctx.repo;
    let limit = ctx.settings.ages.stale_after;
    let now = Utc::now();
    let mut drafts = Vec::new();
    for branch in repo.branches(Some(BranchType::Local))? {
        let (branch, _) = branch?;
        let (Ok(Some(name)), Some(tip)) = (branch.name(), branch.get().target()) else { continue };
        let Some(when) = commit_time(repo, tip) else { continue };
        let Ok(untouched) = (now - when).to_std() else { continue };
        if untouched > limit {
            drafts.push(notice(
                "stale-branches",
                format!("{name}:{tip}"),
                format!("branch {name} untouched for {}", age(untouched)),
                format!(
                    "{name} has had no commit for {}; merge it, delete it, or keep it on purpose",
                    age(untouched)
                ),
            ));
        }
    }
    Ok(drafts)
}

pub fn reminders(ctx: &RunContext) -> Result<Vec<Draft>, TaskError> {
    let repo = ctx.repo;
    let ages = &ctx.settings.ages;
    let now = Utc::now();
    let mut drafts = Vec::new();
    let root = crate::git::workdir(repo)?;

    // Uncommitted work: the oldest modification among changed and new files.
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true).recurse_untracked_dirs(true).include_ignored(false);
    let mut oldest: Option<std::time::SystemTime> = None;
    let mut count = 0;
    for entry in repo.statuses(Some(&mut opts))?.iter() {
        let rel = crate::proposal::RepoPath::from_bytes(entry.path_bytes());
        if let Ok(modified) = std::fs::metadata(root.join(rel.as_path())).and_then(|m| m.modified())
        {
            count += 1;
            oldest = Some(oldest.map_or(modified, |o| o.min(modified)));
        }
    }
    if let Some(since) = oldest
        && let Ok(waiting) = since.elapsed()
        && waiting > ages.uncommitted_after
    {
        let since: DateTime<Utc> = since.into();
        drafts.push(notice(
            "reminders",
            format!("uncommitted:{}", since.timestamp()),
            format!("uncommitted work for {}", age(waiting)),
            format!("{count} files have changes older than {}; commit them (kairos keeps snapshots meanwhile)", age(waiting)),
        ));
    }

    // Unpushed commits: the oldest commit a branch has that its upstream has not.
    for branch in repo.branches(Some(BranchType::Local))? {
        let (branch, _) = branch?;
        let (Ok(Some(name)), Some(local)) = (branch.name(), branch.get().target()) else {
            continue;
        };
        let Ok(upstream) = branch.upstream() else { continue };
        let Some(remote) = upstream.get().target() else { continue };
        let mut walk = repo.revwalk()?;
        walk.push(local)?;
        walk.hide(remote)?;
        let unpushed: Vec<git2::Oid> = walk.filter_map(Result::ok).collect();
        let Some(first) = unpushed.iter().filter_map(|id| commit_time(repo, *id)).min() else {
            continue;
        };
        if let Ok(waiting) = (now - first).to_std()
            && waiting > ages.unpushed_after
        {
            drafts.push(notice(
                "reminders",
                format!("unpushed:{name}:{local}"),
                format!("{} unpushed commits on {name}", unpushed.len()),
                format!(
                    "{name} has {} commits its upstream lacks, the oldest from {} ago; push them",
                    unpushed.len(),
                    age(waiting)
                ),
            ));
        }
    }

    // Old stashes.
    if let Ok(log) = repo.reflog("refs/stash") {
        for (i, entry) in log.iter().enumerate() {
            let when = Utc.timestamp_opt(entry.committer().when().seconds(), 0).single();
            if let Some(when) = when
                && let Ok(waiting) = (now - when).to_std()
                && waiting > ages.stash_after
            {
                drafts.push(notice(
                    "reminders",
                    format!("stash:{}", entry.id_new()),
                    format!("stash@{{{i}}} is {} old", age(waiting)),
                    format!(
                        "stash@{{{i}}} ({}) has waited {}; apply or drop it",
                        entry.message().ok().flatten().unwrap_or(""),
                        age(waiting)
                    ),
                ));
            }
        }
    }
    Ok(drafts)
}
