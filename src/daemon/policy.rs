//! The policy as the daemon holds it: the set in force (hot-reloaded, the last good one
//! kept when an edit is broken), each repository's own file, grants and demotions in
//! the store, and the limits that make automatic work wait (quiet hours, the hourly cap).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use chrono::{Duration, Local, Utc};

use super::core::Core;
use crate::intake::Limits;
use crate::policy::{
    Context, Demotion, Evaluation, Grant, LocalTime, PolicyFile, PolicySet, Subject, evaluate,
    load_repo, load_user,
};
use crate::proposal::{Actor, Proposal, State};
use crate::store::{LogEntry, LogKind};

/// The policy in force and the errors of the files that could not be loaded.
pub struct PolicyState {
    set: RwLock<(Arc<PolicySet>, Vec<String>)>,
    /// No good version of the user's files is known (they were broken at start): the
    /// shipped default alone might be looser than what the user wrote, so nothing is
    /// automatic until the files are fixed.
    degraded: std::sync::atomic::AtomicBool,
    /// Repository root → its last good `.kairos/policy.toml` and the current error.
    repos: Mutex<HashMap<PathBuf, RepoPolicy>>,
}

/// A repository's last good policy file (if any) and the error of its current one.
type RepoPolicy = (Option<Arc<PolicyFile>>, Option<String>);

impl PolicyState {
    /// Loads the policy; with broken user files, only the shipped default is in force.
    pub fn load(dir: &Path) -> PolicyState {
        let (set, errors) = match load_user(dir) {
            Ok(set) => (set, vec![]),
            Err(errors) => {
                let shipped =
                    load_user(Path::new("/nonexistent")).expect("the shipped policy is valid");
                (shipped, errors.iter().map(|e| e.to_string()).collect())
            }
        };
        let degraded = std::sync::atomic::AtomicBool::new(!errors.is_empty());
        PolicyState { set: RwLock::new((Arc::new(set), errors)), degraded, repos: Mutex::default() }
    }

    pub fn set(&self) -> Arc<PolicySet> {
        self.set.read().unwrap_or_else(|e| e.into_inner()).0.clone()
    }

    pub fn errors(&self) -> Vec<String> {
        let mut errors = self.set.read().unwrap_or_else(|e| e.into_inner()).1.clone();
        let repos = self.repos.lock().unwrap_or_else(|e| e.into_inner());
        errors.extend(repos.values().filter_map(|(_, e)| e.clone()));
        errors
    }

    /// Reloads the user's files; a broken edit keeps the last good policy. Returns the
    /// errors (empty when the reload took effect).
    pub fn reload(&self, dir: &Path) -> Vec<String> {
        let mut guard = self.set.write().unwrap_or_else(|e| e.into_inner());
        match load_user(dir) {
            Ok(set) => {
                *guard = (Arc::new(set), vec![]);
                self.degraded.store(false, std::sync::atomic::Ordering::SeqCst);
                vec![]
            }
            Err(errors) => {
                guard.1 = errors.iter().map(|e| e.to_string()).collect();
                guard.1.clone()
            }
        }
    }

    /// The repository's own policy, read afresh; a broken file keeps its last good
    /// version (and the error shows in `kairos status`).
    pub fn repo_file(&self, root: &Path) -> (Option<Arc<PolicyFile>>, Option<String>) {
        let mut repos = self.repos.lock().unwrap_or_else(|e| e.into_inner());
        let entry = repos.entry(root.to_owned()).or_insert((None, None));
        match load_repo(root) {
            Ok(file) => {
                *entry = (file.map(Arc::new), None);
                (entry.0.clone(), None)
            }
            Err(e) => {
                let fresh = entry.1.as_deref() != Some(&e.to_string());
                entry.1 = Some(e.to_string());
                (entry.0.clone(), fresh.then(|| e.to_string()))
            }
        }
    }
}

/// Decides `subject` in the repository at `root` with everything in force now.
pub fn decide(core: &Core, root: &Path, subject: &Subject) -> Evaluation {
    decide_with(core, root, subject, &core.store.grants().unwrap_or_default())
}

pub fn decide_with(core: &Core, root: &Path, subject: &Subject, grants: &[Grant]) -> Evaluation {
    let (repo_file, fresh_error) = core.policy.repo_file(root);
    if let Some(error) = fresh_error {
        core.log(LogEntry::new(
            LogKind::Error,
            Some(&root.to_string_lossy()),
            format!("repository policy not loaded, its last good version stays in force: {error}"),
        ));
    }
    let demoted = subject.task.as_ref().is_some_and(|task| {
        core.store.demotion(&root.to_string_lossy(), task).ok().flatten().is_some()
    });
    let now = Local::now();
    let broken_policy = core.policy.degraded.load(std::sync::atomic::Ordering::SeqCst);
    let ctx =
        Context { grants, demoted, broken_policy, now: LocalTime::of(&now), now_utc: Utc::now() };
    evaluate(&core.policy.set(), repo_file.as_deref(), subject, &ctx)
}

/// The limits on automatic work in force now in `repo`: quiet hours, and how many
/// changes the policy applied there on its own in the last hour.
pub fn limits(core: &Core, repo: &str) -> Limits {
    let set = core.policy.set();
    let quiet_hours = set
        .defaults
        .quiet_hours
        .as_ref()
        .filter(|quiet| quiet.contains(LocalTime::of(&Local::now())))
        .map(|quiet| quiet.source().to_owned());
    let hour_ago = Utc::now() - Duration::hours(1);
    let applied_last_hour = core
        .store
        .proposals_in(State::Applied)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p.repo == repo && !p.action.routine() && p.updated_at > hour_ago)
        .filter(|p| {
            p.history
                .iter()
                .any(|h| h.state == State::Approved && matches!(h.by, Actor::Policy { .. }))
        })
        .count();
    Limits {
        quiet_hours,
        applied_last_hour,
        max_auto_per_hour: set.defaults.max_auto_per_hour as usize,
    }
}

/// After a rejection: demotes the task in the repository when it was rejected
/// `demote_after_rejections` times within 30 days. A formatter's rejection is about a kind
/// of file (the changelog's Markdown, not the code): what it demotes is the task for that
/// kind. Returns the message to show.
pub fn note_rejection(core: &Core, rejected: &Proposal) -> Option<String> {
    if rejected.task != crate::tasks::FORMAT {
        return demote_if_due(
            core,
            rejected,
            &rejected.task,
            |_| true,
            |n| {
                format!(
                    "{} was rejected {n} times in 30 days in {}: it is demoted to observe there",
                    rejected.task, rejected.repo
                )
            },
        );
    }
    let said: Vec<String> = kinds_of(rejected)
        .into_iter()
        .filter_map(|kind| {
            let scoped = scoped(&rejected.task, &kind);
            demote_if_due(core, rejected, &scoped, |p| kinds_of(p).contains(&kind), |n| {
                format!(
                    "{} was rejected {n} times in 30 days for {kind} files in {}: it leaves them alone there",
                    rejected.task, rejected.repo
                )
            })
        })
        .collect();
    (!said.is_empty()).then(|| said.join("; "))
}

/// The name a demotion of `task` for one kind of file is kept under: `format:*.md`.
fn scoped(task: &str, kind: &str) -> String {
    format!("{task}:{kind}")
}

/// The kinds of file the user keeps rejecting `task`'s changes to in `repo`.
pub fn rejected_kinds(core: &Core, repo: &str, task: &str) -> Vec<String> {
    let prefix = scoped(task, "");
    let demotions = core.store.demotions().unwrap_or_default();
    demotions
        .into_iter()
        .filter(|d| d.repo == repo)
        .filter_map(|d| d.task.strip_prefix(&prefix).map(str::to_owned))
        .collect()
}

fn kinds_of(p: &Proposal) -> std::collections::BTreeSet<String> {
    match &p.change {
        crate::proposal::Change::Patch { files } => {
            files.iter().map(|f| crate::tasks::file_kind(f.path.as_path())).collect()
        }
        _ => Default::default(),
    }
}

/// Demotes `demoted` (a task, or a task for one kind of file) in the rejected proposal's
/// repository when the rejections of its task that `counts` picks reached the threshold
/// within 30 days (since the user last lifted it).
fn demote_if_due(
    core: &Core,
    rejected: &Proposal,
    demoted: &str,
    counts: impl Fn(&Proposal) -> bool,
    says: impl FnOnce(usize) -> String,
) -> Option<String> {
    if core.store.demotion(&rejected.repo, demoted).ok().flatten().is_some() {
        return None;
    }
    let lifted = core.store.undemoted_at(&rejected.repo, demoted).ok().flatten();
    let month_ago = (Utc::now() - Duration::days(30)).max(lifted.unwrap_or_default());
    let rejections = core
        .store
        .proposals_in(State::Rejected)
        .unwrap_or_default()
        .iter()
        .filter(|p| p.repo == rejected.repo && p.task == rejected.task && p.updated_at > month_ago)
        .filter(|p| counts(p))
        .count();
    let threshold = core.policy.set().defaults.demote_after_rejections as usize;
    if rejections < threshold {
        return None;
    }
    let demotion = Demotion {
        repo: rejected.repo.clone(),
        task: demoted.to_owned(),
        since: Utc::now(),
        rejections,
    };
    core.store.put_demotion(&demotion).ok()?;
    // A scoped name (`format:*.md`) is quoted for the shell.
    let name = if demoted.contains(['*', ':']) { format!("'{demoted}'") } else { demoted.into() };
    let message = format!(
        "{}; undo with `kairos policy undemote {name} --repo {}`",
        says(rejections),
        rejected.repo
    );
    core.log(
        LogEntry::new(LogKind::Decision, Some(&rejected.repo), message.clone())
            .task(&rejected.task),
    );
    Some(message)
}
