//! What kairos knows about a repository beyond what git says: curated notes (what the
//! project is, its conventions, what the user accepts and rejects), per repository and
//! global, each with where it came from. Notes grow from `remember` items in model
//! replies and from the nightly consolidation (`dream`), which keeps the previous version
//! so it can be undone. The daily log is the kairos log of the repository and day. Pure:
//! the store keeps the records, this shapes them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The most lines a repository's notes may hold; the oldest, least used go first.
pub const MAX_NOTES: usize = 200;

/// The source of the notes the user wrote (`kairos memory add`): never rewritten by a
/// consolidation.
pub const YOURS: &str = "you";

/// One note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub id: u64,
    pub text: String,
    /// Who wrote it: a task's model reply, the nightly consolidation, the user.
    pub source: String,
    pub added_at: DateTime<Utc>,
    /// When it was last given to a model (used notes are kept longest).
    #[serde(default)]
    pub used_at: Option<DateTime<Utc>>,
}

/// A repository's notes (or the global ones, under the empty repository name).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notes {
    pub notes: Vec<Note>,
    /// Bumped by every consolidation; the previous version is kept for undo.
    #[serde(default)]
    pub version: u64,
    #[serde(default)]
    pub next_id: u64,
    /// When the log was last consolidated into these notes.
    #[serde(default)]
    pub consolidated_at: Option<DateTime<Utc>>,
}

impl Notes {
    /// Adds `text` (from `source`) unless an equal note is there; keeps the notes within
    /// `MAX_NOTES`. Returns the new note's id, or `None` when it was there already.
    pub fn remember(&mut self, text: &str, source: &str, at: DateTime<Utc>) -> Option<u64> {
        let text = text.trim();
        if text.is_empty() || self.notes.iter().any(|n| n.text.eq_ignore_ascii_case(text)) {
            return None;
        }
        self.next_id = self.next_id.max(self.notes.iter().map(|n| n.id).max().unwrap_or(0)) + 1;
        let id = self.next_id;
        let text: String = text.chars().take(500).collect();
        self.notes.push(Note { id, text, source: source.to_owned(), added_at: at, used_at: None });
        self.trim(MAX_NOTES);
        Some(id)
    }

    /// Removes note `id`; false when there was none.
    pub fn forget(&mut self, id: u64) -> bool {
        let before = self.notes.len();
        self.notes.retain(|n| n.id != id);
        self.notes.len() != before
    }

    /// Keeps at most `max` notes, dropping the least recently used (or added) first.
    pub fn trim(&mut self, max: usize) {
        while self.notes.len() > max {
            let oldest = self
                .notes
                .iter()
                .enumerate()
                .min_by_key(|(_, n)| n.used_at.unwrap_or(n.added_at))
                .map(|(i, _)| i)
                .expect("not empty");
            self.notes.remove(oldest);
        }
    }

    /// The notes that fit in about `budget_tokens` (newest and most used first), for a
    /// prompt; marks them used at `now`.
    pub fn for_prompt(&mut self, budget_tokens: usize, now: DateTime<Utc>) -> Vec<String> {
        let mut order: Vec<usize> = (0..self.notes.len()).collect();
        order.sort_by_key(|&i| {
            std::cmp::Reverse(self.notes[i].used_at.unwrap_or(self.notes[i].added_at))
        });
        let mut used = 0;
        let mut chosen = Vec::new();
        for i in order {
            let len = prompt_tokens(&self.notes[i].text);
            if used + len > budget_tokens {
                continue;
            }
            used += len;
            self.notes[i].used_at = Some(now);
            chosen.push(i);
        }
        chosen.sort();
        chosen.into_iter().map(|i| self.notes[i].text.clone()).collect()
    }

    /// Whether `text` appears in any note (case-insensitive).
    pub fn search(&self, text: &str) -> Vec<&Note> {
        let needle = text.to_lowercase();
        self.notes.iter().filter(|n| n.text.to_lowercase().contains(&needle)).collect()
    }

    /// The notes as Markdown, for people and other tools.
    pub fn markdown(&self, title: &str) -> String {
        let mut out = format!("# {title}\n\n");
        if self.notes.is_empty() {
            out.push_str("(no notes yet)\n");
        }
        for n in &self.notes {
            out.push_str(&format!(
                "- {} <!-- #{} from {}, {} -->\n",
                n.text.replace('\n', " "),
                n.id,
                n.source,
                n.added_at.format("%Y-%m-%d")
            ));
        }
        out
    }
}

/// About how many tokens `note` takes in a prompt, as a line of its own. Tokenizers
/// differ by model (and the local ones are not ours to load); four characters a token
/// is the usual estimate for English and code, and the budgets are rough on purpose.
pub fn prompt_tokens(note: &str) -> usize {
    note.chars().count().div_ceil(4) + 1
}

/// Memory as a task sees it (`RunContext::memory`), for the repository it runs in.
pub trait RepoMemory: Send + Sync {
    /// The repository's key (its canonical path), as the log and the store name it.
    fn repo_key(&self) -> String;
    /// This repository's notes and the global ones, within about `budget_tokens`, for a
    /// prompt (the oldest, least used left out first).
    fn notes_for_prompt(&self, budget_tokens: usize) -> Vec<String>;
    /// Counts an edit of `task`'s dropped for breaking the check (`kairos status`).
    fn count_broken_edit(&self, task: &str);
    /// Adds what a model's reply asked to remember, marked with `source`.
    fn remember(&self, items: &[String], source: &str);
    /// What the user rejected here lately, and why: "the user rejected X because Y".
    fn lessons(&self, n: usize) -> Vec<String>;
    fn reviewed(&self) -> crate::store::Reviewed;
    fn put_reviewed(&self, reviewed: &crate::store::Reviewed);
    /// The last `n` log entries of this repository since `since`, oldest first.
    fn log_since(&self, since: DateTime<Utc>, n: usize) -> Vec<crate::store::LogEntry>;
    /// The last proactive look here.
    fn last_look(&self) -> Option<crate::store::LastLook>;
    fn put_last_look(&self, look: &crate::store::LastLook);
    /// The titles of the proposals waiting here.
    fn pending(&self) -> Vec<String>;
    /// Whether the policy's quiet hours are in effect now.
    fn quiet_hours_now(&self) -> bool;
    /// This repository's notes as they are.
    fn notes(&self) -> Notes;
    /// Stores this repository's notes as they are now (no version kept).
    fn put_notes(&self, notes: &Notes);
    /// Replaces this repository's notes, keeping the current ones for `memory undo`.
    fn consolidate(&self, notes: Notes);
    fn digest(&self, day: chrono::NaiveDate) -> Option<crate::store::Digest>;
    fn put_digest(&self, day: chrono::NaiveDate, digest: &crate::store::Digest);
    /// Records something the run saw or did not do, in the repository's log.
    fn event(&self, text: &str);
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    #[test]
    fn notes_are_bounded_deduplicated_and_budgeted() {
        let t0 = Utc::now();
        let mut notes = Notes::default();
        assert_eq!(notes.remember("Uses tokio", "review", t0), Some(1));
        assert_eq!(notes.remember("uses TOKIO", "tick", t0), None, "the same note twice");
        assert_eq!(notes.remember("  ", "tick", t0), None);
        for i in 0..(MAX_NOTES + 5) {
            notes.remember(&format!("fact {i}"), "dream", t0 + TimeDelta::seconds(i as i64 + 1));
        }
        assert_eq!(notes.notes.len(), MAX_NOTES);
        assert!(notes.search("Uses tokio").is_empty(), "the oldest went first");
        assert!(notes.forget(notes.notes[0].id));
        let chosen = notes.for_prompt(10, t0 + TimeDelta::days(1));
        assert!(chosen.len() > 1, "{chosen:?}");
        assert!(chosen.iter().map(|c| prompt_tokens(c)).sum::<usize>() <= 10, "{chosen:?}");
        assert!(notes.markdown("work").contains("- fact 204 <!-- #"), "{}", notes.markdown("work"));
    }
}
