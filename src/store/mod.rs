//! The memory: sled trees for proposals, the log of events and decisions, the intent
//! journal, and what kairos last saw of each repository and task. sled stays behind this
//! type so it can be replaced; callers see typed values, never trees or bytes.

mod log;
mod memory;
mod migrate;

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use log::{IDLE_EVENT, LogEntry, LogFilter, LogKind};
pub use memory::{Digest, LastLook, Reviewed, RunMark};

use crate::proposal::{Proposal, ProposalId, State, UndoRecord};

/// The layout version of the store; bump it with a migration in `migrate`.
/// 1: kairos 0.1.0. 2: who moved a proposal and what decided it are typed values.
/// Bump it, with a step in `migrate`, whenever a stored type gains or changes a field:
/// the queue sends stored records as they are, so old records are rewritten whole.
/// 3: records complete. 4: the state `told`.
pub const SCHEMA_VERSION: u64 = 4;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "another kairos daemon is using the store at {0}; stop it first (kairos status shows its pid)"
    )]
    Locked(String),
    #[error(
        "the store at {path} was written by a newer kairos (schema {found}, this build knows {SCHEMA_VERSION}); upgrade kairos"
    )]
    NewerSchema { path: String, found: u64 },
    #[error("store: {0}")]
    Sled(#[from] sled::Error),
    #[error("store: a record cannot be read: {0}")]
    Corrupt(#[from] serde_json::Error),
}

/// An apply or undo in flight, written before anything is touched.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Intent {
    pub proposal: ProposalId,
    /// True for an apply, false for an undo.
    pub forward: bool,
    pub plan: UndoRecord,
    pub started_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    meta: sled::Tree,
    proposals: sled::Tree,
    fingerprints: sled::Tree,
    /// `state \0 id` → (): lists and counts proposals by state without decoding them all.
    by_state: sled::Tree,
    log: sled::Tree,
    journal: sled::Tree,
    memory: sled::Tree,
}

impl Store {
    /// Opens (creating) the store in `dir`, checking its schema version.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        // sled releases its file lock from a background IO thread shortly after the last
        // handle is dropped, so a store closed a moment ago (by this process or one that
        // is exiting) can still look locked: keep trying briefly before calling it taken.
        let deadline = std::time::Instant::now() + LOCK_WAIT;
        let db = loop {
            match open_db(dir) {
                Err(StoreError::Locked(_)) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => break other?,
            }
        };
        let store = Store {
            meta: db.open_tree("meta")?,
            proposals: db.open_tree("proposals")?,
            fingerprints: db.open_tree("fingerprints")?,
            by_state: db.open_tree("by_state")?,
            log: db.open_tree("log")?,
            journal: db.open_tree("journal")?,
            memory: db.open_tree("memory")?,
            db,
        };
        let found = match store.meta.get("schema_version")? {
            // A new store: nothing to migrate (proposals there would be a damaged one).
            None if store.proposals.is_empty() => SCHEMA_VERSION,
            None => 1,
            Some(v) => u64::from_be_bytes(v.as_ref().try_into().unwrap_or([0xff; 8])),
        };
        if found > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema { path: dir.display().to_string(), found });
        }
        if found < SCHEMA_VERSION {
            migrate::run(&store.proposals, found)?;
            tracing::info!("store migrated from schema {found} to {SCHEMA_VERSION}");
        }
        if found < SCHEMA_VERSION || store.meta.get("schema_version")?.is_none() {
            store.meta.insert("schema_version", &SCHEMA_VERSION.to_be_bytes())?;
            store.db.flush()?;
        }
        Ok(store)
    }

    /// Makes everything written so far durable.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.db.flush_async().await?;
        Ok(())
    }

    /// Makes everything written so far durable, from blocking code.
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    fn next_id(&self, counter: &str) -> Result<u64, StoreError> {
        let next = self.meta.update_and_fetch(counter, |old| {
            let n = old.map(|b| u64::from_be_bytes(b.try_into().unwrap_or([0; 8]))).unwrap_or(0);
            Some((n + 1).to_be_bytes().to_vec())
        })?;
        Ok(u64::from_be_bytes(next.expect("just set").as_ref().try_into().expect("8 bytes")))
    }

    pub fn next_proposal_id(&self) -> Result<ProposalId, StoreError> {
        self.next_id("next_proposal_id")
    }

    pub fn next_grant_id(&self) -> Result<u64, StoreError> {
        self.next_id("next_grant_id")
    }

    /// Forgets what was remembered under `key`.
    fn forget(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.memory.remove(key.as_bytes())?.is_some())
    }

    /// Stores a proposal with its state index and fingerprint in one transaction, so a
    /// crash can never leave the index saying something else than the proposal.
    pub fn put_proposal(&self, p: &Proposal) -> Result<(), StoreError> {
        use sled::Transactional;
        use sled::transaction::ConflictableTransactionError as Abort;
        let value = serde_json::to_vec(p)?;
        let id = p.id.to_be_bytes();
        (&self.proposals, &self.by_state, &self.fingerprints)
            .transaction(|(proposals, by_state, fingerprints)| {
                if let Some(previous) = proposals.insert(&id, value.as_slice())? {
                    let previous: Proposal =
                        serde_json::from_slice(&previous).map_err(Abort::Abort)?;
                    if previous.state != p.state {
                        by_state.remove(state_key(previous.state, p.id))?;
                    }
                }
                by_state.insert(state_key(p.state, p.id), &[])?;
                fingerprints.insert(p.fingerprint.as_bytes(), &id)?;
                Ok(())
            })
            .map_err(|e| match e {
                sled::transaction::TransactionError::Abort(e) => StoreError::Corrupt(e),
                sled::transaction::TransactionError::Storage(e) => StoreError::Sled(e),
            })
    }

    /// The proposals in `state`, oldest first.
    pub fn proposals_in(&self, state: State) -> Result<Vec<Proposal>, StoreError> {
        let mut out = Vec::new();
        for key in self.by_state.scan_prefix(state_prefix(state)).keys() {
            let key = key?;
            let id = u64::from_be_bytes(key[key.len() - 8..].try_into().expect("8-byte id"));
            if let Some(p) = self.proposal(id)? {
                out.push(p);
            }
        }
        Ok(out)
    }

    /// The proposals in `state` (every proposal with `None`), oldest first, as one JSON
    /// array made of the stored records themselves (on one line, as a frame must be):
    /// listing a thousand pending proposals decodes and encodes none of them.
    pub fn proposals_json(&self, state: Option<State>) -> Result<String, StoreError> {
        let mut records = Vec::new();
        match state {
            Some(state) => {
                for key in self.by_state.scan_prefix(state_prefix(state)).keys() {
                    let key = key?;
                    if let Some(record) = self.proposals.get(&key[key.len() - 8..])? {
                        records.push(record);
                    }
                }
            }
            None => {
                for entry in self.proposals.iter().values() {
                    records.push(entry?);
                }
            }
        }
        let mut json =
            String::with_capacity(records.iter().map(|r| r.len() + 2).sum::<usize>() + 4);
        json.push('[');
        for (i, record) in records.iter().enumerate() {
            if i > 0 {
                json.push(',');
            }
            let text = std::str::from_utf8(record)
                .map_err(<serde_json::Error as serde::de::Error>::custom)?;
            json.push_str(text);
        }
        json.push(']');
        Ok(json)
    }

    /// How many proposals are in each state (states with none are left out).
    pub fn count_by_state(&self) -> Result<Vec<(State, usize)>, StoreError> {
        let mut counts = Vec::new();
        for state in State::ALL {
            let n = self.by_state.scan_prefix(state_prefix(state)).keys().count();
            if n > 0 {
                counts.push((state, n));
            }
        }
        Ok(counts)
    }

    pub fn proposal(&self, id: ProposalId) -> Result<Option<Proposal>, StoreError> {
        get_json(&self.proposals, id.to_be_bytes())
    }

    /// Every proposal, oldest first.
    pub fn proposals(&self) -> impl Iterator<Item = Result<Proposal, StoreError>> + '_ {
        self.proposals.iter().values().map(|v| Ok(serde_json::from_slice(&v?)?))
    }

    /// The latest proposal made with `fingerprint`.
    pub fn proposal_by_fingerprint(
        &self,
        fingerprint: &str,
    ) -> Result<Option<Proposal>, StoreError> {
        match self.fingerprints.get(fingerprint.as_bytes())? {
            Some(id) => self.proposal(u64::from_be_bytes(id.as_ref().try_into().unwrap_or([0; 8]))),
            None => Ok(None),
        }
    }

    pub fn append_log(&self, mut entry: LogEntry) -> Result<LogEntry, StoreError> {
        entry.seq = self.next_id("next_log_seq")?;
        self.log.insert(entry.seq.to_be_bytes(), serde_json::to_vec(&entry)?)?;
        Ok(entry)
    }

    /// The last `n` log entries, oldest first.
    pub fn log_tail(&self, n: usize) -> Result<Vec<LogEntry>, StoreError> {
        self.log_tail_matching(n, &LogFilter::default())
    }

    /// The last `n` entries that `filter` lets through, oldest first.
    pub fn log_tail_matching(
        &self,
        n: usize,
        filter: &LogFilter,
    ) -> Result<Vec<LogEntry>, StoreError> {
        let mut out: Vec<LogEntry> = Vec::with_capacity(n.min(1024));
        for v in self.log.iter().values().rev() {
            if out.len() == n {
                break;
            }
            let entry: LogEntry = serde_json::from_slice(&v?)?;
            if filter.since.is_some_and(|since| entry.at < since) {
                break;
            }
            if filter.matches(&entry) {
                out.push(entry);
            }
        }
        out.reverse();
        Ok(out)
    }

    /// Drops the oldest log entries beyond `keep`.
    pub fn trim_log(&self, keep: usize) -> Result<usize, StoreError> {
        let len = self.log.len();
        let mut removed = 0;
        if len > keep {
            for key in self.log.iter().keys().take(len - keep) {
                self.log.remove(key?)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    pub fn put_intent(&self, intent: &Intent) -> Result<(), StoreError> {
        self.journal.insert(intent.proposal.to_be_bytes(), serde_json::to_vec(intent)?)?;
        Ok(())
    }

    pub fn clear_intent(&self, id: ProposalId) -> Result<(), StoreError> {
        self.journal.remove(id.to_be_bytes())?;
        Ok(())
    }

    pub fn intents(&self) -> Result<Vec<Intent>, StoreError> {
        self.journal.iter().values().map(|v| Ok(serde_json::from_slice(&v?)?)).collect()
    }

    /// What kairos remembers under `key` (see `memory` for the kinds).
    fn recall<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        get_json(&self.memory, key.as_bytes())
    }

    /// Everything remembered under keys starting with `prefix`.
    fn recall_prefix<T: DeserializeOwned>(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, T)>, StoreError> {
        self.memory
            .scan_prefix(prefix.as_bytes())
            .map(|kv| {
                let (k, v) = kv?;
                Ok((String::from_utf8_lossy(&k).into_owned(), serde_json::from_slice(&v)?))
            })
            .collect()
    }

    fn remember<T: Serialize>(&self, key: &str, value: &T) -> Result<(), StoreError> {
        self.memory.insert(key.as_bytes(), serde_json::to_vec(value)?)?;
        Ok(())
    }
}

fn state_prefix(state: State) -> Vec<u8> {
    let mut key = state.as_str().as_bytes().to_vec();
    key.push(0);
    key
}

fn state_key(state: State, id: ProposalId) -> Vec<u8> {
    let mut key = state_prefix(state);
    key.extend_from_slice(&id.to_be_bytes());
    key
}

/// How long `open` waits for a lock that a closing handle is about to release.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

fn open_db(dir: &Path) -> Result<sled::Db, StoreError> {
    sled::Config::new()
        .path(dir)
        .cache_capacity(16 * 1024 * 1024)
        // No background flusher waking twice a second: kairos flushes at the end of
        // each unit of work (and the daemon's log flusher after each burst of entries).
        .flush_every_ms(None)
        .open()
        .map_err(|e| match e {
            sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
                StoreError::Locked(dir.display().to_string())
            }
            other => StoreError::Sled(other),
        })
}

fn get_json<T: DeserializeOwned>(
    tree: &sled::Tree,
    key: impl AsRef<[u8]>,
) -> Result<Option<T>, StoreError> {
    match tree.get(key)? {
        Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_open_is_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Store::open(dir.path()).unwrap();
        let err = Store::open(dir.path()).err().expect("second open must fail");
        assert!(matches!(err, StoreError::Locked(_)), "{err}");
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store.meta.insert("schema_version", &99u64.to_be_bytes()).unwrap();
            store.flush_blocking().unwrap();
        }
        let err = Store::open(dir.path()).err().expect("must refuse");
        assert!(err.to_string().contains("newer kairos"), "{err}");
    }

    #[test]
    fn proposals_are_listed_and_counted_by_state() {
        use crate::proposal::{Change, Step};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let now = chrono::Utc::now();
        let mut made = Vec::new();
        for id in 1..=3 {
            let p = Proposal {
                id,
                repo: "/r".into(),
                task: "t".into(),
                action: "a".into(),
                title: format!("p{id}"),
                why: String::new(),
                state: State::Pending,
                created_at: now,
                updated_at: now,
                fingerprint: format!("f{id}"),
                change: Change::Restore { snapshot: "s".into(), paths: vec![] },
                decision: None,
                branch: None,
                changed_lines: 0,
                undo: None,
                history: vec![],
                provenance: Default::default(),
            };
            store.put_proposal(&p).unwrap();
            made.push(p);
        }
        made[1].advance(Step::Reject, crate::proposal::Actor::User, None, now).unwrap();
        store.put_proposal(&made[1]).unwrap();
        let pending: Vec<u64> =
            store.proposals_in(State::Pending).unwrap().iter().map(|p| p.id).collect();
        assert_eq!(pending, [1, 3]);
        assert_eq!(
            store.count_by_state().unwrap(),
            vec![(State::Pending, 2), (State::Rejected, 1)]
        );
        assert_eq!(store.proposal_by_fingerprint("f2").unwrap().unwrap().state, State::Rejected);
        // The listing passed through as stored is the same proposals, in the same order.
        let listed: Vec<Proposal> =
            serde_json::from_str(&store.proposals_json(Some(State::Pending)).unwrap()).unwrap();
        assert_eq!(listed, store.proposals_in(State::Pending).unwrap());
        let all: Vec<Proposal> =
            serde_json::from_str(&store.proposals_json(None).unwrap()).unwrap();
        assert_eq!(all.iter().map(|p| p.id).collect::<Vec<_>>(), [1, 2, 3]);
        let empty = Store::open(&dir.path().join("empty")).unwrap();
        assert_eq!(empty.proposals_json(None).unwrap(), "[]");
    }

    #[test]
    fn ids_and_log_sequences_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            assert_eq!(store.next_proposal_id().unwrap(), 1);
            assert_eq!(store.next_proposal_id().unwrap(), 2);
            store.append_log(LogEntry::new(LogKind::Daemon, None, "one")).unwrap();
            store.flush_blocking().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.next_proposal_id().unwrap(), 3);
        let e = store.append_log(LogEntry::new(LogKind::Daemon, None, "two")).unwrap();
        assert_eq!(e.seq, 2);
        let tail = store.log_tail(10).unwrap();
        assert_eq!(tail.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(), ["one", "two"]);
        assert_eq!(store.trim_log(1).unwrap(), 1);
        assert_eq!(store.log_tail(10).unwrap().len(), 1);
    }
}
