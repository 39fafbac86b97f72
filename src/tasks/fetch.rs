//! `fetch`: updates the remote-tracking refs of every remote. The fetch itself lands in
//! kairos's own namespace (`refs/kairos/fetch/<remote>/*`); the proposal moves
//! `refs/remotes/<remote>/*` to match, so it can be undone like any ref change.

use std::time::Duration;

use git2::Repository;

use super::TaskError;
use crate::proposal::{Change, Draft, RefUpdate};

const TIMEOUT: Duration = Duration::from_secs(120);

pub fn run(repo: &Repository) -> Result<Vec<Draft>, TaskError> {
    let root = crate::git::workdir(repo)?;
    let mut updates = Vec::new();
    let mut failures = Vec::new();
    for remote in repo.remotes()?.iter().filter_map(|r| r.ok().flatten()) {
        let staging = format!("refs/kairos/fetch/{remote}");
        let refspec = format!("+refs/heads/*:{staging}/*");
        if let Err(e) = crate::git::git(
            &root,
            &[
                // A fetch must not start git's own gc (it prunes: never without the user).
                "-c",
                "gc.auto=0",
                "-c",
                "maintenance.auto=false",
                "fetch",
                "--no-recurse-submodules",
                "--quiet",
                "--prune",
                "--no-tags",
                "--no-write-fetch-head",
                // Without it git would also move refs/remotes/<remote>/* itself: that
                // move is the proposal's to make (and undo).
                "--refmap=",
                remote,
                &refspec,
            ],
            TIMEOUT,
        ) {
            failures.push(format!("{remote}: {e}"));
            continue;
        }
        updates.extend(diff_namespace(repo, &staging, &format!("refs/remotes/{remote}"))?);
    }
    if !failures.is_empty() && updates.is_empty() {
        return Err(TaskError::Command(failures.join("; ")));
    }
    if updates.is_empty() {
        return Ok(vec![]);
    }
    updates.sort_by(|a, b| a.name.cmp(&b.name));
    let names: Vec<&str> =
        updates.iter().map(|u| u.name.trim_start_matches("refs/remotes/")).collect();
    let fingerprint = format!(
        "git.fetch:{}",
        updates
            .iter()
            .map(|u| format!("{}={}", u.name, u.new.as_deref().unwrap_or("-")))
            .collect::<Vec<_>>()
            .join(",")
    );
    Ok(vec![Draft {
        action: "git.fetch".into(),
        changed_lines: 0,
        title: format!(
            "fetch: {} remote-tracking {} updated",
            updates.len(),
            if updates.len() == 1 { "ref" } else { "refs" }
        ),
        why: format!("the remotes have moved: {}", names.join(", ")),
        fingerprint,
        change: Change::Refs { updates },
    }])
}

/// The updates that make every ref under `to` match the refs under `from`.
fn diff_namespace(repo: &Repository, from: &str, to: &str) -> Result<Vec<RefUpdate>, git2::Error> {
    let read = |prefix: &str| -> Result<std::collections::BTreeMap<String, String>, git2::Error> {
        let mut out = std::collections::BTreeMap::new();
        for r in repo.references_glob(&format!("{prefix}/*"))? {
            let r = r?;
            if let (Ok(name), Some(id)) = (r.name(), r.target())
                && let Some(short) = name.strip_prefix(&format!("{prefix}/"))
                && short != "HEAD"
            {
                out.insert(short.to_owned(), id.to_string());
            }
        }
        Ok(out)
    };
    let (fetched, tracking) = (read(from)?, read(to)?);
    let mut updates = Vec::new();
    for (name, id) in &fetched {
        if tracking.get(name) != Some(id) {
            updates.push(RefUpdate {
                name: format!("{to}/{name}"),
                old: tracking.get(name).cloned(),
                new: Some(id.clone()),
            });
        }
    }
    for (name, id) in &tracking {
        if !fetched.contains_key(name) {
            updates.push(RefUpdate {
                name: format!("{to}/{name}"),
                old: Some(id.clone()),
                new: None,
            });
        }
    }
    Ok(updates)
}
