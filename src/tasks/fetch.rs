//! `fetch`: updates the remote-tracking refs of every remote, as `git fetch` would with
//! the remote's own refspecs (a single-branch clone stays single-branch) and prune
//! setting. The fetch itself lands in kairos's own namespace
//! (`refs/kairos/fetch/<remote>/<destination>`); the proposal moves the real
//! destinations to match, so it can be undone like any ref change.

use std::collections::BTreeMap;
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
        let specs = fetch_refspecs(repo, remote)?;
        if !specs.iter().any(|s| matches!(s, Spec::Map { .. })) {
            continue;
        }
        let staging = format!("refs/kairos/fetch/{remote}/");
        let mut args = vec![
            // A fetch must not start git's own gc (it prunes: never without the user).
            "-c".to_owned(),
            "gc.auto=0".to_owned(),
            "-c".to_owned(),
            "maintenance.auto=false".to_owned(),
            "fetch".to_owned(),
            "--no-recurse-submodules".to_owned(),
            "--quiet".to_owned(),
            // Pruning the staging area only: whether the real refs lose what the
            // remote dropped is the user's `fetch.prune` setting, below.
            "--prune".to_owned(),
            "--no-tags".to_owned(),
            "--no-write-fetch-head".to_owned(),
            // Without it git would also move the real destinations itself: that move
            // is the proposal's to make (and undo).
            "--refmap=".to_owned(),
            remote.to_owned(),
        ];
        args.extend(specs.iter().map(|s| s.staged(&staging)));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        if let Err(e) = crate::git::git(&root, &args, TIMEOUT) {
            failures.push(format!("{remote}: {e}"));
            continue;
        }
        updates.extend(diff(repo, &staging, &specs, prunes(repo, remote))?);
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
        action: crate::action::Action::Fetch,
        changed_lines: 0,
        title: format!(
            "fetch: {} remote-tracking {} updated",
            updates.len(),
            if updates.len() == 1 { "ref" } else { "refs" }
        ),
        why: format!("the remotes have moved: {}", names.join(", ")),
        fingerprint,
        change: Change::Refs { updates },
        provenance: crate::proposal::Provenance::BUILTIN,
    }])
}

/// One `remote.<name>.fetch` line.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Spec {
    /// `[+]src:dst`, where each side may hold one `*`.
    Map { force: bool, src: String, dst: String },
    /// `^src`: a negative refspec, passed on as it is.
    Exclude(String),
}

impl Spec {
    /// The refspec that fetches into `staging` instead of the real destination.
    fn staged(&self, staging: &str) -> String {
        match self {
            Spec::Map { force, src, dst } => {
                format!("{}{src}:{staging}{dst}", if *force { "+" } else { "" })
            }
            Spec::Exclude(src) => format!("^{src}"),
        }
    }

    /// The remote ref that this refspec writes to `name`, if `name` is one of its
    /// destinations.
    fn source_of(&self, name: &str) -> Option<String> {
        let Spec::Map { src, dst, .. } = self else { return None };
        match dst.split_once('*') {
            Some((before, after)) => {
                let middle = name.strip_prefix(before)?.strip_suffix(after)?;
                Some(src.replacen('*', middle, 1))
            }
            None => (name == dst).then(|| src.clone()),
        }
    }

    /// Whether this negative refspec leaves out the remote ref `source`.
    fn excludes(&self, source: &str) -> bool {
        let Spec::Exclude(pattern) = self else { return false };
        match pattern.split_once('*') {
            Some((before, after)) => {
                source.len() >= before.len() + after.len()
                    && source.starts_with(before)
                    && source.ends_with(after)
            }
            None => source == pattern,
        }
    }
}

/// Whether `name` is a destination of `specs` for a remote ref they do not exclude.
/// kairos's own refs are never a destination, whatever a refspec says.
fn covered(specs: &[Spec], name: &str) -> bool {
    !name.starts_with("refs/kairos/")
        && specs
            .iter()
            .filter_map(|s| s.source_of(name))
            .any(|source| !specs.iter().any(|s| s.excludes(&source)))
}

/// The remote's fetch refspecs that write refs (those without a destination only fill
/// FETCH_HEAD, which kairos leaves alone).
fn fetch_refspecs(repo: &Repository, remote: &str) -> Result<Vec<Spec>, git2::Error> {
    let lines = repo.find_remote(remote)?.fetch_refspecs()?;
    Ok(lines.iter().flatten().flatten().filter_map(parse_refspec).collect())
}

fn parse_refspec(line: &str) -> Option<Spec> {
    if let Some(src) = line.strip_prefix('^') {
        return Some(Spec::Exclude(src.to_owned()));
    }
    let (force, spec) = match line.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    let (src, dst) = spec.split_once(':')?;
    (!dst.is_empty() && dst.starts_with("refs/")).then(|| Spec::Map {
        force,
        src: src.to_owned(),
        dst: dst.to_owned(),
    })
}

/// Whether refs the remote no longer has are removed: `remote.<name>.prune`, else
/// `fetch.prune`, else git's default (no).
fn prunes(repo: &Repository, remote: &str) -> bool {
    let Ok(config) = repo.config() else { return false };
    config
        .get_bool(&format!("remote.{remote}.prune"))
        .or_else(|_| config.get_bool("fetch.prune"))
        .unwrap_or(false)
}

/// The updates that make the destinations of `specs` match what was fetched into
/// `staging`.
fn diff(
    repo: &Repository,
    staging: &str,
    specs: &[Spec],
    prune: bool,
) -> Result<Vec<RefUpdate>, git2::Error> {
    let covered = |name: &str| covered(specs, name);
    let mut fetched = BTreeMap::new();
    let mut tracking = BTreeMap::new();
    let mut leftovers = Vec::new();
    for r in repo.references()? {
        let r = r?;
        // Symbolic refs (refs/remotes/origin/HEAD) have no direct target: left alone.
        let (Ok(name), Some(id)) = (r.name(), r.target()) else { continue };
        match name.strip_prefix(staging) {
            Some(real) if covered(real) => {
                fetched.insert(real.to_owned(), id.to_string());
            }
            // Staged under a refspec the remote no longer has: it would only pin objects.
            // (What follows a remote `a`'s prefix without `refs/` is remote `a/b`'s.)
            Some(real) if real.starts_with("refs/") => leftovers.push(name.to_owned()),
            Some(_) => {}
            None if covered(name) => {
                tracking.insert(name.to_owned(), id.to_string());
            }
            None => {}
        }
    }
    for name in leftovers {
        repo.find_reference(&name)?.delete()?;
    }
    let mut updates: Vec<RefUpdate> = fetched
        .iter()
        .filter(|(name, id)| tracking.get(*name) != Some(*id))
        .map(|(name, id)| RefUpdate {
            name: name.clone(),
            old: tracking.get(name).cloned(),
            new: Some(id.clone()),
        })
        .collect();
    if prune {
        updates.extend(
            tracking.iter().filter(|(name, _)| !fetched.contains_key(*name)).map(|(name, id)| {
                RefUpdate { name: name.clone(), old: Some(id.clone()), new: None }
            }),
        );
    } else {
        mark_gone(repo, &tracking, &fetched)?;
    }
    Ok(updates)
}

/// Without pruning, a remote-tracking ref outlives its branch on the remote, and git
/// cannot tell it from one still there. This fetch just saw the remote: each tracking
/// ref it did not find is marked gone (`refs/kairos/gone/<ref>`, at the tip it had), so
/// `prune-branches` can tell a merged topic whose pull request is done from a line of
/// work still on the remote. A ref found again loses its mark.
fn mark_gone(
    repo: &Repository,
    tracking: &BTreeMap<String, String>,
    fetched: &BTreeMap<String, String>,
) -> Result<(), git2::Error> {
    for (name, id) in tracking {
        let mark = format!("{}{name}", crate::git::GONE_PREFIX);
        let present = repo.find_reference(&mark).ok();
        if fetched.contains_key(name) {
            if let Some(mut present) = present {
                present.delete()?;
            }
        } else if present.and_then(|r| r.target()).map(|t| t.to_string()).as_ref() != Some(id) {
            let oid = git2::Oid::from_str(id)?;
            repo.reference(&mark, oid, true, "kairos: gone from the remote at the last fetch")?;
        }
    }
    // Marks of tracking refs that no longer exist at all only pin objects.
    let stray: Vec<String> = repo
        .references_glob(&format!("{}*", crate::git::GONE_PREFIX))?
        .filter_map(|r| r.ok()?.name().ok().map(str::to_owned))
        .filter(|mark| {
            let real = &mark[crate::git::GONE_PREFIX.len()..];
            !tracking.contains_key(real) && repo.find_reference(real).is_err()
        })
        .collect();
    for mark in stray {
        repo.find_reference(&mark)?.delete()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refspecs_are_read_staged_and_matched_as_git_does() {
        let all = parse_refspec("+refs/heads/*:refs/remotes/origin/*").unwrap();
        assert_eq!(
            all.staged("refs/kairos/fetch/origin/"),
            "+refs/heads/*:refs/kairos/fetch/origin/refs/remotes/origin/*"
        );
        assert_eq!(
            all.source_of("refs/remotes/origin/feature/x").as_deref(),
            Some("refs/heads/feature/x")
        );
        assert_eq!(all.source_of("refs/remotes/upstream/main"), None);

        let one = parse_refspec("refs/heads/main:refs/remotes/origin/main").unwrap();
        assert_eq!(
            one.staged("refs/kairos/fetch/origin/"),
            "refs/heads/main:refs/kairos/fetch/origin/refs/remotes/origin/main"
        );
        assert_eq!(one.source_of("refs/remotes/origin/main").as_deref(), Some("refs/heads/main"));
        assert_eq!(one.source_of("refs/remotes/origin/main2"), None);

        let middle = parse_refspec("+refs/heads/*:refs/remotes/origin/team-*-head").unwrap();
        assert_eq!(
            middle.source_of("refs/remotes/origin/team-a-head").as_deref(),
            Some("refs/heads/a")
        );
        assert_eq!(middle.source_of("refs/remotes/origin/team-a"), None);

        assert_eq!(parse_refspec("^refs/heads/wip"), Some(Spec::Exclude("refs/heads/wip".into())));
        let specs = [all.clone(), parse_refspec("^refs/heads/wip/*").unwrap()];
        assert!(covered(&specs, "refs/remotes/origin/main"));
        assert!(!covered(&specs, "refs/remotes/origin/wip/1"), "excluded: never pruned");
        let everything = [parse_refspec("+refs/*:refs/*").unwrap()];
        assert!(covered(&everything, "refs/remotes/origin/main"));
        assert!(!covered(&everything, "refs/kairos/snapshots/main"), "kairos's own refs");
        assert_eq!(parse_refspec("refs/heads/main"), None, "FETCH_HEAD only");
        assert_eq!(parse_refspec("refs/heads/main:"), None);
    }
}
