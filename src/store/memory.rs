//! What kairos remembers between runs, one typed method per kind of record: grants and
//! demotions (the policy's memory of the user's decisions), the told-once set, task
//! runs in progress and their signatures, the refs last seen and the schedules last
//! honoured in each repository. Keys are built here and nowhere else.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};
use crate::llm::{DayUsage, Usage};
use crate::memory::Notes;
use crate::policy::{Demotion, Grant};
use crate::watch::git::RefState;

/// A task run as recorded when it starts and when it ends, so a run a crash cut off is
/// noticed at the next start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunMark {
    pub repo: String,
    pub task: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub result: Option<String>,
}

/// The commits a repository's review has looked at: their ids, and their patch ids, so a
/// rebased or amended commit with the same change is not reviewed again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reviewed {
    pub commits: std::collections::BTreeSet<String>,
    pub patches: std::collections::BTreeSet<String>,
    /// Set once the repository's history before kairos came is taken as seen.
    #[serde(default)]
    pub baseline: bool,
    /// The committer time (seconds) of HEAD when kairos first looked: older commits are
    /// history, not news, even when a rebase makes them reachable again.
    #[serde(default)]
    pub since: Option<i64>,
}

/// The last proactive look (tick) at a repository: when, and the working tree as it was
/// then, so a look is only taken when something changed since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastLook {
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub worktree: Option<String>,
}

/// A repository's digest of a day, and the material it was written from (the same
/// material is not written up twice).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    pub material: String,
    pub text: String,
}

/// The key of each record kind; the byte layout is the one kairos 0.1.0 wrote.
enum Key<'a> {
    Grant(&'a str),
    Demotion {
        repo: &'a str,
        task: &'a str,
    },
    /// When the user last lifted a demotion (rejections before it no longer count).
    Undemoted {
        repo: &'a str,
        task: &'a str,
    },
    Told(&'a str),
    Signature {
        repo: &'a str,
        task: &'a str,
    },
    Run {
        repo: &'a str,
        task: &'a str,
    },
    Refs(&'a str),
    Schedule {
        repo: &'a str,
        task: &'a str,
    },
    /// A repository's notes (the empty name: the global ones), and the version before
    /// the last consolidation.
    Notes(&'a str),
    NotesBefore(&'a str),
    /// Commits (and patch ids) already reviewed in a repository.
    Reviewed(&'a str),
    /// When the last proactive look (tick) was taken in a repository.
    LastTick(&'a str),
    /// A repository's digest of one day.
    Digest {
        repo: &'a str,
        day: chrono::NaiveDate,
    },
    /// When the model calls of the last hour were made.
    ModelCalls,
    /// One day's model usage, per task.
    ModelDay(chrono::NaiveDate),
    /// The desktop notifications on screen, to close or update after a restart.
    Shown,
}

impl Key<'_> {
    fn text(&self) -> String {
        match self {
            Key::Grant(id) => format!("grant:{id}"),
            Key::Demotion { repo, task } => format!("demotion:{repo}\u{0}{task}"),
            Key::Undemoted { repo, task } => format!("undemoted:{repo}\u{0}{task}"),
            Key::Told(fingerprint) => format!("told:{fingerprint}"),
            Key::Signature { repo, task } => format!("sig:{repo}\u{0}{task}"),
            Key::Run { repo, task } => format!("run:{repo}:{task}"),
            Key::Refs(repo) => format!("refs:{repo}"),
            Key::Schedule { repo, task } => format!("sched:{repo}\u{0}{task}"),
            Key::Notes(repo) => format!("notes:{repo}"),
            Key::NotesBefore(repo) => format!("notes-before:{repo}"),
            Key::Reviewed(repo) => format!("reviewed:{repo}"),
            Key::LastTick(repo) => format!("tick:{repo}"),
            Key::Digest { repo, day } => format!("digest:{repo}\u{0}{day}"),
            Key::ModelCalls => "llm:calls".into(),
            Key::ModelDay(day) => format!("llm:day:{day}"),
            Key::Shown => "notifier:shown".into(),
        }
    }
}

/// The prefixes under which whole kinds are listed.
const GRANTS: &str = "grant:";
const DEMOTIONS: &str = "demotion:";
const RUNS: &str = "run:";

impl Store {
    pub fn grants(&self) -> Result<Vec<Grant>, StoreError> {
        Ok(self.recall_prefix(GRANTS)?.into_iter().map(|(_, g)| g).collect())
    }

    pub fn put_grant(&self, grant: &Grant) -> Result<(), StoreError> {
        self.remember(&Key::Grant(&grant.id).text(), grant)
    }

    /// Removes grant `id`; false when there was none.
    pub fn remove_grant(&self, id: &str) -> Result<bool, StoreError> {
        self.forget(&Key::Grant(id).text())
    }

    pub fn demotion(&self, repo: &str, task: &str) -> Result<Option<Demotion>, StoreError> {
        self.recall(&Key::Demotion { repo, task }.text())
    }

    pub fn demotions(&self) -> Result<Vec<Demotion>, StoreError> {
        Ok(self.recall_prefix(DEMOTIONS)?.into_iter().map(|(_, d)| d).collect())
    }

    pub fn put_demotion(&self, demotion: &Demotion) -> Result<(), StoreError> {
        let key = Key::Demotion { repo: &demotion.repo, task: &demotion.task };
        self.remember(&key.text(), demotion)
    }

    /// Lifts the demotion of `task` in `repo` at `at`; false when it was not demoted.
    pub fn lift_demotion(
        &self,
        repo: &str,
        task: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let lifted = self.forget(&Key::Demotion { repo, task }.text())?;
        if lifted {
            self.remember(&Key::Undemoted { repo, task }.text(), &at)?;
        }
        Ok(lifted)
    }

    /// When the user last lifted a demotion of `task` in `repo`.
    pub fn undemoted_at(
        &self,
        repo: &str,
        task: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.recall(&Key::Undemoted { repo, task }.text())
    }

    /// Whether the change with `fingerprint` was told (observe, notify) already.
    pub fn was_told(&self, fingerprint: &str) -> Result<bool, StoreError> {
        Ok(self.recall::<bool>(&Key::Told(fingerprint).text())?.is_some())
    }

    pub fn mark_told(&self, fingerprint: &str) -> Result<(), StoreError> {
        self.remember(&Key::Told(fingerprint).text(), &true)
    }

    /// What the working tree looked like at `task`'s last run in `repo`.
    pub fn run_signature(&self, repo: &str, task: &str) -> Result<Option<String>, StoreError> {
        self.recall(&Key::Signature { repo, task }.text())
    }

    pub fn put_run_signature(
        &self,
        repo: &str,
        task: &str,
        signature: &str,
    ) -> Result<(), StoreError> {
        self.remember(&Key::Signature { repo, task }.text(), &signature)
    }

    pub fn put_run_mark(&self, mark: &RunMark) -> Result<(), StoreError> {
        self.remember(&Key::Run { repo: &mark.repo, task: &mark.task }.text(), mark)
    }

    pub fn run_marks(&self) -> Result<Vec<RunMark>, StoreError> {
        Ok(self.recall_prefix(RUNS)?.into_iter().map(|(_, m)| m).collect())
    }

    /// The refs of `repo` as last seen.
    pub fn ref_state(&self, repo: &str) -> Result<Option<RefState>, StoreError> {
        self.recall(&Key::Refs(repo).text())
    }

    pub fn put_ref_state(&self, repo: &str, state: &RefState) -> Result<(), StoreError> {
        self.remember(&Key::Refs(repo).text(), state)
    }

    /// When `task`'s schedule was last honoured in `repo` (run, or missed and recorded).
    pub fn last_scheduled(
        &self,
        repo: &str,
        task: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.recall(&Key::Schedule { repo, task }.text())
    }

    /// The notes of `repo` (`""`: the global ones).
    pub fn notes(&self, repo: &str) -> Result<Notes, StoreError> {
        Ok(self.recall(&Key::Notes(repo).text())?.unwrap_or_default())
    }

    pub fn put_notes(&self, repo: &str, notes: &Notes) -> Result<(), StoreError> {
        self.remember(&Key::Notes(repo).text(), notes)
    }

    /// Replaces the notes of `repo` by a consolidation, keeping the current ones for undo.
    pub fn consolidate_notes(&self, repo: &str, new: &Notes) -> Result<(), StoreError> {
        let current = self.notes(repo)?;
        self.remember(&Key::NotesBefore(repo).text(), &current)?;
        self.put_notes(repo, new)
    }

    /// Puts back the notes of `repo` from before the last consolidation; false when
    /// there is none to put back.
    pub fn undo_consolidation(&self, repo: &str) -> Result<bool, StoreError> {
        let Some(before) = self.recall::<Notes>(&Key::NotesBefore(repo).text())? else {
            return Ok(false);
        };
        self.put_notes(repo, &before)?;
        self.forget(&Key::NotesBefore(repo).text())?;
        Ok(true)
    }

    /// Every repository that has notes (the global ones as `""`).
    pub fn noted_repos(&self) -> Result<Vec<String>, StoreError> {
        Ok(self
            .recall_prefix::<serde_json::Value>("notes:")?
            .into_iter()
            .map(|(k, _)| k["notes:".len()..].to_owned())
            .collect())
    }

    pub fn reviewed(&self, repo: &str) -> Result<Reviewed, StoreError> {
        Ok(self.recall(&Key::Reviewed(repo).text())?.unwrap_or_default())
    }

    pub fn put_reviewed(&self, repo: &str, reviewed: &Reviewed) -> Result<(), StoreError> {
        self.remember(&Key::Reviewed(repo).text(), reviewed)
    }

    pub fn last_look(&self, repo: &str) -> Result<Option<LastLook>, StoreError> {
        self.recall(&Key::LastTick(repo).text())
    }

    pub fn put_last_look(&self, repo: &str, look: &LastLook) -> Result<(), StoreError> {
        self.remember(&Key::LastTick(repo).text(), look)
    }

    pub fn digest(&self, repo: &str, day: chrono::NaiveDate) -> Result<Option<Digest>, StoreError> {
        self.recall(&Key::Digest { repo, day }.text())
    }

    pub fn put_digest(
        &self,
        repo: &str,
        day: chrono::NaiveDate,
        digest: &Digest,
    ) -> Result<(), StoreError> {
        self.remember(&Key::Digest { repo, day }.text(), digest)
    }

    /// When the model calls of the last hour were made.
    pub fn model_calls(&self) -> Result<Vec<DateTime<Utc>>, StoreError> {
        Ok(self.recall(&Key::ModelCalls.text())?.unwrap_or_default())
    }

    /// The model usage of `day` (UTC).
    pub fn model_day(&self, day: chrono::NaiveDate) -> Result<DayUsage, StoreError> {
        Ok(self.recall(&Key::ModelDay(day).text())?.unwrap_or_default())
    }

    /// Records one call made for `task` at `at` and what it cost.
    pub fn record_model_call(
        &self,
        at: DateTime<Utc>,
        task: &str,
        usage: Usage,
    ) -> Result<(), StoreError> {
        let hour_ago = at - chrono::Duration::hours(1);
        let mut calls = self.model_calls()?;
        calls.retain(|t| *t > hour_ago);
        calls.push(at);
        self.remember(&Key::ModelCalls.text(), &calls)?;
        let day = at.date_naive();
        let mut usage_today = self.model_day(day)?;
        usage_today.day = Some(day);
        usage_today.record(task, usage);
        self.remember(&Key::ModelDay(day).text(), &usage_today)
    }

    pub fn shown_notifications(&self) -> Result<Vec<crate::notifier::Shown>, StoreError> {
        Ok(self.recall(&Key::Shown.text())?.unwrap_or_default())
    }

    pub fn put_shown_notifications(
        &self,
        shown: &[crate::notifier::Shown],
    ) -> Result<(), StoreError> {
        self.remember(&Key::Shown.text(), &shown)
    }

    /// Adds the tokens of a call of `task`'s counted before it was made.
    pub fn record_model_tokens(
        &self,
        at: DateTime<Utc>,
        task: &str,
        usage: Usage,
    ) -> Result<(), StoreError> {
        let day = at.date_naive();
        let mut usage_today = self.model_day(day)?;
        usage_today.day = Some(day);
        usage_today.tasks.entry(task.to_owned()).or_default().tokens.add(usage);
        self.remember(&Key::ModelDay(day).text(), &usage_today)
    }

    /// Counts a suggested edit of `task`'s that was dropped for breaking the check.
    pub fn record_broken_edit(&self, at: DateTime<Utc>, task: &str) -> Result<(), StoreError> {
        let day = at.date_naive();
        let mut usage_today = self.model_day(day)?;
        usage_today.day = Some(day);
        usage_today.tasks.entry(task.to_owned()).or_default().broken_edits += 1;
        self.remember(&Key::ModelDay(day).text(), &usage_today)
    }

    pub fn put_last_scheduled(
        &self,
        repo: &str,
        task: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.remember(&Key::Schedule { repo, task }.text(), &at)
    }
}

/// The notifier keeps what is on screen here, so a restart can settle it.
impl crate::notifier::Keeper for Store {
    fn load(&self) -> Vec<crate::notifier::Shown> {
        self.shown_notifications().unwrap_or_default()
    }

    fn save(&self, shown: &[crate::notifier::Shown]) {
        if let Err(e) = self.put_shown_notifications(shown) {
            tracing::warn!("the notifications on screen were not written down: {e}");
        }
    }

    fn state_of(&self, proposal: crate::proposal::ProposalId) -> Option<crate::proposal::State> {
        self.proposal(proposal).ok().flatten().map(|p| p.state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_call_is_counted_before_it_is_made_and_its_tokens_added_after() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let now = Utc::now();
        store.record_model_call(now, "review", Usage::default()).unwrap();
        store.record_model_call(now, "review", Usage::default()).unwrap();
        let used = Usage { input: 100, output: 20, cache_read: 5, cache_write: 0 };
        store.record_model_tokens(now, "review", used).unwrap();
        let day = store.model_day(now.date_naive()).unwrap();
        assert_eq!(day.tasks["review"].calls, 2, "one failed, one answered: both count");
        assert_eq!(day.tasks["review"].tokens, used);
        assert_eq!(store.model_calls().unwrap().len(), 2);
    }

    #[test]
    fn each_kind_is_kept_apart_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let now = Utc::now();
        let demotion =
            Demotion { repo: "/r".into(), task: "format".into(), since: now, rejections: 3 };
        store.put_demotion(&demotion).unwrap();
        // A repository path that looks like another key does not leak into it.
        store.put_run_signature("/r\u{0}format", "x", "sig").unwrap();
        assert_eq!(store.demotions().unwrap(), std::slice::from_ref(&demotion));
        assert_eq!(store.demotion("/r", "format").unwrap(), Some(demotion));
        assert!(store.lift_demotion("/r", "format", now).unwrap());
        assert!(!store.lift_demotion("/r", "format", now).unwrap());
        assert_eq!(store.undemoted_at("/r", "format").unwrap(), Some(now));
        assert!(!store.was_told("f1").unwrap());
        store.mark_told("f1").unwrap();
        assert!(store.was_told("f1").unwrap());
        let mark = RunMark {
            repo: "/r".into(),
            task: "snapshot".into(),
            started_at: now,
            finished_at: None,
            result: None,
        };
        store.put_run_mark(&mark).unwrap();
        assert_eq!(store.run_marks().unwrap(), [mark]);
        store.put_last_scheduled("/r", "fetch", now).unwrap();
        assert_eq!(store.last_scheduled("/r", "fetch").unwrap(), Some(now));
        assert_eq!(store.last_scheduled("/r", "lockfile").unwrap(), None);
    }
}
