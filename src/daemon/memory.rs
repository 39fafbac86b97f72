//! A repository's memory as its task runs see it: the store's notes, reviews, ticks and
//! digests, the log, the queue, and what the user rejected and why. Blocking.

use chrono::{DateTime, Utc};

use super::core::Core;
use crate::memory::{Notes, RepoMemory};
use crate::proposal::State;
use crate::store::{LastLook, LogEntry, Reviewed};

pub struct DaemonMemory<'a> {
    pub core: &'a Core,
    pub repo: String,
}

impl RepoMemory for DaemonMemory<'_> {
    fn repo_key(&self) -> String {
        self.repo.clone()
    }

    fn notes_for_prompt(&self, budget_tokens: usize) -> Vec<String> {
        let now = Utc::now();
        let mut chosen = Vec::new();
        // This repository's first; what is left of the budget goes to the global notes.
        for repo in [self.repo.as_str(), ""] {
            let mut notes = self.core.store.notes(repo).unwrap_or_default();
            let used: usize = chosen.iter().map(|n: &String| crate::memory::prompt_tokens(n)).sum();
            let left = budget_tokens.saturating_sub(used);
            let mut some = notes.for_prompt(left, now);
            if !some.is_empty() {
                let _ = self.core.store.put_notes(repo, &notes);
            }
            chosen.append(&mut some);
        }
        chosen
    }

    fn count_broken_edit(&self, task: &str) {
        let _ = self.core.store.record_broken_edit(Utc::now(), task);
    }

    fn remember(&self, items: &[String], source: &str) {
        if items.is_empty() {
            return;
        }
        let mut notes = self.core.store.notes(&self.repo).unwrap_or_default();
        let now = Utc::now();
        let added: Vec<String> =
            items.iter().filter(|i| notes.remember(i, source, now).is_some()).cloned().collect();
        if added.is_empty() {
            return;
        }
        let _ = self.core.store.put_notes(&self.repo, &notes);
        let _ = self.core.store.flush_blocking();
        self.core.log(
            LogEntry::new(
                crate::store::LogKind::Event,
                Some(&self.repo),
                format!("remembered ({source}): {}", added.join("; ")),
            )
            .task(source),
        );
    }

    fn lessons(&self, n: usize) -> Vec<String> {
        let mut rejected: Vec<_> = self
            .core
            .store
            .proposals_in(State::Rejected)
            .unwrap_or_default()
            .into_iter()
            .filter(|p| p.repo == self.repo)
            .collect();
        rejected.sort_by_key(|p| std::cmp::Reverse(p.updated_at));
        rejected
            .into_iter()
            .take(n)
            .map(|p| match p.history.last().and_then(|h| h.note.clone()) {
                Some(why) => format!("the user rejected \"{}\" because: {why}", p.title),
                None => format!("the user rejected \"{}\"", p.title),
            })
            .collect()
    }

    fn reviewed(&self) -> Reviewed {
        self.core.store.reviewed(&self.repo).unwrap_or_default()
    }

    fn put_reviewed(&self, reviewed: &Reviewed) {
        let _ = self.core.store.put_reviewed(&self.repo, reviewed);
    }

    fn log_since(&self, since: DateTime<Utc>, n: usize) -> Vec<LogEntry> {
        // This repository's entries back to `since`, however many other repositories
        // logged meanwhile: the log is one for all, read newest first.
        let filter = crate::store::LogFilter {
            repo: Some(self.repo.clone()),
            since: Some(since),
            ..Default::default()
        };
        let mut mine = self.core.store.log_tail_matching(n, &filter).unwrap_or_default();
        mine.retain(|e| e.at > since);
        mine
    }

    fn last_look(&self) -> Option<LastLook> {
        self.core.store.last_look(&self.repo).ok().flatten()
    }

    fn put_last_look(&self, look: &LastLook) {
        let _ = self.core.store.put_last_look(&self.repo, look);
    }

    fn pending(&self) -> Vec<String> {
        self.core
            .store
            .proposals_in(State::Pending)
            .unwrap_or_default()
            .into_iter()
            .filter(|p| p.repo == self.repo)
            .map(|p| p.title)
            .collect()
    }

    fn quiet_hours_now(&self) -> bool {
        super::policy::limits(self.core, &self.repo).quiet_hours.is_some()
    }

    fn notes(&self) -> Notes {
        self.core.store.notes(&self.repo).unwrap_or_default()
    }

    fn put_notes(&self, notes: &Notes) {
        let _ = self.core.store.put_notes(&self.repo, notes);
    }

    fn consolidate(&self, notes: Notes) {
        let _ = self.core.store.consolidate_notes(&self.repo, &notes);
        let _ = self.core.store.flush_blocking();
    }

    fn digest(&self, day: chrono::NaiveDate) -> Option<crate::store::Digest> {
        self.core.store.digest(&self.repo, day).ok().flatten()
    }

    fn put_digest(&self, day: chrono::NaiveDate, digest: &crate::store::Digest) {
        let _ = self.core.store.put_digest(&self.repo, day, digest);
    }

    fn event(&self, text: &str) {
        self.core.log(LogEntry::new(crate::store::LogKind::Event, Some(&self.repo), text));
    }
}
