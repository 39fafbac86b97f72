//! kill -9 in the middle of an apply: the intent journal, planted exactly as the daemon
//! writes it before its first file write, is settled on the next start.

use std::path::PathBuf;

use chrono::Utc;
use kairos::proposal::{
    Actor, Change, FileChange, FileState, HistoryEntry, Proposal, RepoPath, State, UndoRecord,
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

/// What the user had approved when the daemon was killed.
#[derive(Clone, Copy)]
enum Approved {
    /// `kairos restore`, run by the user (not a queue item).
    Restore,
    /// A file patch from the queue.
    Patch,
}

/// Plants an approved restore or patch of a.txt and b.txt from "1" to "2", interrupted
/// after `written` of its files, as a killed daemon would leave it.
fn plant_interrupted_apply(env: &Env, repo: &Repo, written: usize, what: Approved) -> u64 {
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
    let (task, action, change) = match what {
        Approved::Restore => {
            ("restore", "fs.restore", Change::Restore { snapshot: "HEAD".into(), paths: vec![] })
        }
        Approved::Patch => ("format", "fs.patch", Change::Patch { files: files.clone() }),
    };
    let plan = UndoRecord::Files { pre_snapshot: repo.rev("HEAD"), files };
    let proposal = Proposal {
        id,
        repo: repo.str().to_owned(),
        task: task.into(),
        action: action.into(),
        title: "a.txt, b.txt".into(),
        why: "test".into(),
        state: State::Approved,
        created_at: now,
        updated_at: now,
        fingerprint: format!("{action}:{id}"),
        change,
        decision: None,
        branch: None,
        changed_lines: 0,
        undo: None,
        provenance: Default::default(),
        history: vec![
            HistoryEntry { at: now, state: State::Pending, by: Actor::User, note: None },
            HistoryEntry { at: now, state: State::Approved, by: Actor::User, note: None },
        ],
    };
    store.put_proposal(&proposal).unwrap();
    store.put_intent(&Intent { proposal: id, forward: true, plan, started_at: now }).unwrap();
    store.flush_blocking().unwrap();
    id
}

#[test]
fn an_apply_cut_off_halfway_is_rolled_back_on_restart() {
    for (what, state) in [(Approved::Patch, "pending"), (Approved::Restore, "failed")] {
        let env = Env::new();
        let repo = env.repo("work");
        repo.commit_file("a.txt", "a1\n", "a");
        repo.commit_file("b.txt", "b1\n", "b");
        let id = plant_interrupted_apply(&env, &repo, 1, what);

        let _daemon = env.start_daemon();
        assert_eq!(repo.read("a.txt").unwrap(), "a1\n", "the half-applied file stayed");
        assert_eq!(repo.read("b.txt").unwrap(), "b1\n");
        // A queue proposal waits for the user again; a restore they ran is not a queue
        // item, and fails (it would pile up as pending otherwise).
        let shown = env.json(&["show", &id.to_string(), "--json"]);
        assert_eq!(shown["state"], state, "{shown}");
        let log = env.ok(&["log", "-n", "50"]);
        assert!(log.contains("rolled back"), "{log}");
    }
}

#[test]
fn an_apply_that_finished_before_the_kill_is_recorded_and_undoable() {
    let env = Env::new();
    let repo = env.repo("work");
    repo.commit_file("a.txt", "a1\n", "a");
    repo.commit_file("b.txt", "b1\n", "b");
    let id = plant_interrupted_apply(&env, &repo, 2, Approved::Restore);

    let _daemon = env.start_daemon();
    assert_eq!(env.json(&["show", &id.to_string(), "--json"])["state"], "applied");
    assert_eq!(repo.read("a.txt").unwrap(), "a2\n");
    env.ok(&["undo", &id.to_string()]);
    assert_eq!(repo.read("a.txt").unwrap(), "a1\n");
    assert_eq!(repo.read("b.txt").unwrap(), "b1\n");
}

/// Plants what a daemon killed inside libgit2's branch delete leaves: the approval and
/// the journaled plan, the branch still there, and its ref lock.
fn plant_interrupted_branch_delete(env: &Env, repo: &Repo, branch: &str) -> (u64, PathBuf) {
    let tip = repo.rev(branch).unwrap();
    let store = Store::open(&env.path("data/kairos/store")).unwrap();
    let started = Utc::now() - chrono::TimeDelta::milliseconds(500);
    let id = store.next_proposal_id().unwrap();
    let plan = UndoRecord::RecreateBranch {
        branch: branch.into(),
        target: tip.clone(),
        upstream: None,
        config: vec![],
    };
    let history = [State::Pending, State::Approved].map(|state| HistoryEntry {
        at: started,
        state,
        by: Actor::User,
        note: None,
    });
    let proposal = Proposal {
        id,
        repo: repo.str().to_owned(),
        task: "prune-branches".into(),
        action: "git.branch.delete".into(),
        title: format!("delete merged branch {branch}"),
        why: "test".into(),
        state: State::Approved,
        created_at: started,
        updated_at: started,
        fingerprint: format!("git.branch.delete:{branch}:{tip}"),
        change: Change::BranchDelete { branch: branch.into(), target: tip, upstream: None },
        decision: None,
        branch: Some("main".into()),
        changed_lines: 0,
        undo: None,
        provenance: Default::default(),
        history: history.to_vec(),
    };
    store.put_proposal(&proposal).unwrap();
    store.put_intent(&Intent { proposal: id, forward: true, plan, started_at: started }).unwrap();
    store.flush_blocking().unwrap();
    let lock = repo.path.join(format!(".git/refs/heads/{branch}.lock"));
    std::fs::write(&lock, "").unwrap();
    (id, lock)
}

#[test]
fn the_ref_lock_of_a_killed_branch_delete_is_released_and_the_user_decides_again() {
    let env = Env::new();
    let repo = env.repo("work");
    repo.merged_branch("topic");
    // Someone else's stale lock on another branch is not kairos's to remove.
    repo.merged_branch("other");
    let foreign = repo.path.join(".git/refs/heads/other.lock");
    std::fs::write(&foreign, "").unwrap();
    let (id, lock) = plant_interrupted_branch_delete(&env, &repo, "topic");
    env.ok(&["watch", repo.str()]);

    let _daemon = env.start_daemon();
    assert!(!lock.exists(), "the interrupted delete's lock is still there");
    assert!(foreign.exists(), "a lock kairos did not take was removed");
    assert_eq!(env.json(&["show", &id.to_string(), "--json"])["state"], "pending");
    let log = env.ok(&["log", "-n", "100"]);
    assert!(log.contains("released the locks its interrupted apply held"), "{log}");

    // git and kairos can use the branch again.
    env.ok(&["approve", &id.to_string()]);
    assert_eq!(repo.rev("refs/heads/topic"), None);
    env.ok(&["undo", &id.to_string()]);
    assert!(repo.rev("refs/heads/topic").is_some());
}

#[test]
fn a_failed_apply_found_complete_at_restart_is_applied_and_undoable() {
    let env = Env::new();
    let repo = env.repo("work");
    repo.commit_file("a.txt", "a1\n", "a");
    repo.commit_file("b.txt", "b1\n", "b");
    // Both files were written, then the apply reported an error and could not roll back:
    // it was recorded as failed, its intent kept for the next start.
    let id = plant_interrupted_apply(&env, &repo, 2, Approved::Patch);
    {
        let store = Store::open(&env.path("data/kairos/store")).unwrap();
        let mut p = store.proposal(id).unwrap().unwrap();
        p.advance(
            kairos::proposal::Step::Fail,
            Actor::Kairos,
            Some("rollback failed".into()),
            Utc::now(),
        )
        .unwrap();
        store.put_proposal(&p).unwrap();
        store.flush_blocking().unwrap();
    }

    let _daemon = env.start_daemon();
    assert_eq!(env.json(&["show", &id.to_string(), "--json"])["state"], "applied");
    env.ok(&["undo", &id.to_string()]);
    assert_eq!(repo.read("a.txt").unwrap(), "a1\n");
    assert_eq!(repo.read("b.txt").unwrap(), "b1\n");
}
