//! kill -9 in the middle of an apply: the intent journal, planted exactly as the daemon
//! writes it before its first file write, is settled on the next start.

use chrono::Utc;
use kairos::proposal::{
    Change, FileChange, FileState, HistoryEntry, Proposal, RepoPath, State, UndoRecord,
};
use kairos::store::{Intent, Store};

use crate::common::*;

fn blob(repo: &Repo, content: &str) -> FileState {
    let path = repo.path.join(".scratch-blob");
    std::fs::write(&path, content).unwrap();
    let id = repo.git(&["hash-object", "-w", path.to_str().unwrap()]);
    std::fs::remove_file(path).unwrap();
    FileState { blob: id, mode: 0o100644 }
}

/// Plants an approved restore of a.txt and b.txt from "1" to "2", interrupted after
/// `written` of its files, as a killed daemon would leave it.
fn plant_interrupted_restore(env: &Env, repo: &Repo, written: usize) -> u64 {
    let files: Vec<FileChange> = ["a", "b"]
        .iter()
        .map(|name| FileChange {
            path: RepoPath::Text(format!("{name}.txt")),
            before: Some(blob(repo, &format!("{name}1\n"))),
            after: Some(blob(repo, &format!("{name}2\n"))),
        })
        .collect();
    for (i, name) in ["a", "b"].iter().enumerate() {
        let version = if i < written { 2 } else { 1 };
        repo.write(&format!("{name}.txt"), &format!("{name}{version}\n"));
    }
    let store = Store::open(&env.path("data/kairos/store")).unwrap();
    let now = Utc::now();
    let id = store.next_proposal_id().unwrap();
    let plan = UndoRecord::Files { pre_snapshot: repo.rev("HEAD"), files };
    let proposal = Proposal {
        id,
        repo: repo.str().to_owned(),
        task: "restore".into(),
        action: "fs.restore".into(),
        title: "restore a.txt, b.txt".into(),
        why: "test".into(),
        state: State::Approved,
        created_at: now,
        updated_at: now,
        fingerprint: format!("fs.restore:{id}"),
        change: Change::Restore { snapshot: "HEAD".into(), paths: vec![] },
        decision: None,
        branch: None,
        changed_lines: 0,
        undo: None,
        history: vec![
            HistoryEntry { at: now, state: State::Pending, by: "user".into(), note: None },
            HistoryEntry { at: now, state: State::Approved, by: "user".into(), note: None },
        ],
    };
    store.put_proposal(&proposal).unwrap();
    store.put_intent(&Intent { proposal: id, forward: true, plan, started_at: now }).unwrap();
    store.flush_blocking().unwrap();
    id
}

#[test]
fn an_apply_cut_off_halfway_is_rolled_back_on_restart() {
    let env = Env::new();
    let repo = env.repo("work");
    repo.commit_file("a.txt", "a1\n", "a");
    repo.commit_file("b.txt", "b1\n", "b");
    let id = plant_interrupted_restore(&env, &repo, 1);

    let _daemon = env.start_daemon();
    assert_eq!(repo.read("a.txt").unwrap(), "a1\n", "the half-applied file was not rolled back");
    assert_eq!(repo.read("b.txt").unwrap(), "b1\n");
    let shown = env.json(&["show", &id.to_string(), "--json"]);
    assert_eq!(
        shown["state"], "pending",
        "the user's approval should wait for them again: {shown}"
    );
    let log = env.ok(&["log", "-n", "50"]);
    assert!(log.contains("rolled back"), "{log}");
}

#[test]
fn an_apply_that_finished_before_the_kill_is_recorded_and_undoable() {
    let env = Env::new();
    let repo = env.repo("work");
    repo.commit_file("a.txt", "a1\n", "a");
    repo.commit_file("b.txt", "b1\n", "b");
    let id = plant_interrupted_restore(&env, &repo, 2);

    let _daemon = env.start_daemon();
    assert_eq!(env.json(&["show", &id.to_string(), "--json"])["state"], "applied");
    assert_eq!(repo.read("a.txt").unwrap(), "a2\n");
    env.ok(&["undo", &id.to_string()]);
    assert_eq!(repo.read("a.txt").unwrap(), "a1\n");
    assert_eq!(repo.read("b.txt").unwrap(), "b1\n");
}
