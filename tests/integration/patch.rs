//! `fs.patch`: computed in scratch space, applied all-or-nothing, undone exactly.

use std::os::unix::fs::PermissionsExt;

use crate::common::*;

fn patch_proposals(env: &Env) -> Vec<serde_json::Value> {
    env.queue(false).into_iter().filter(|p| p["action"] == "fs.patch").collect()
}

fn sha(bytes: &[u8]) -> String {
    git2::Oid::hash_object(git2::ObjectType::Blob, bytes).unwrap().to_string()
}

fn file_hash(repo: &Repo, rel: &str) -> String {
    sha(&std::fs::read(repo.path.join(rel)).unwrap())
}

const UGLY: &str = "fn main(){let x=1;\n    println!(\"{}\",x);}\n";

/// A watched Cargo project, formatted 300 ms after an edit.
pub fn cargo_project(env: &Env) -> Repo {
    let repo = env.repo("crate");
    repo.write(
        "Cargo.toml",
        "[package]\nname = \"demo\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    );
    repo.write("src/main.rs", "fn main() {}\n");
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "crate"]);
    // Format quickly; no snapshots to muddy the queue.
    env.write_config("[tasks.format]\nquiet = \"300ms\"\n\n[tasks.snapshot]\nenabled = false\n");
    env.ok(&["watch", repo.str()]);
    repo
}

#[test]
fn format_proposes_in_scratch_space_and_undo_restores_exact_bytes() {
    if crate::common::which("rustfmt").is_none() {
        panic!(
            "rustfmt is part of the Rust toolchain the tests are built with; it must be on PATH"
        );
    }
    let env = Env::new();
    let repo = cargo_project(&env);
    let daemon = env.start_daemon();

    repo.write("src/main.rs", UGLY);
    let before = file_hash(&repo, "src/main.rs");
    let proposal =
        wait_for("a format proposal", || patch_proposals(&env).into_iter().next(), &daemon);
    assert_eq!(proposal["task"], "format");
    // Computed off to the side: the user's file is exactly as they left it.
    assert_eq!(file_hash(&repo, "src/main.rs"), before);
    assert_eq!(repo.git(&["status", "--porcelain"]), " M src/main.rs");

    let id = proposal["id"].as_u64().unwrap().to_string();
    let shown = env.ok(&["show", &id]);
    assert!(shown.contains("--- a/src/main.rs") && shown.contains("+    let x = 1;"), "{shown}");
    let json = env.json(&["show", &id, "--json"]);
    assert!(json["diff"].as_str().unwrap().contains("-fn main(){let x=1;"), "{json}");
    assert_eq!(json["change"]["files"][0]["before"]["blob"], before);

    env.ok(&["approve", &id]);
    let formatted = repo.read("src/main.rs").unwrap();
    assert!(formatted.contains("    let x = 1;\n"), "{formatted}");
    env.ok(&["undo", &id]);
    assert_eq!(file_hash(&repo, "src/main.rs"), before, "undo did not restore the exact bytes");
}

#[test]
fn an_edit_after_the_proposal_makes_it_stale_and_nothing_is_written() {
    let env = Env::new();
    let repo = cargo_project(&env);
    let daemon = env.start_daemon();
    repo.write("src/main.rs", UGLY);
    let id = wait_for(
        "a format proposal",
        || patch_proposals(&env).first().map(|p| p["id"].as_u64().unwrap()),
        &daemon,
    );

    // Stop the daemon so it cannot re-propose, then edit and approve after restart.
    let mut daemon = daemon;
    assert!(daemon.stop());
    let typed = "fn main(){let y=2;}\n";
    repo.write("src/main.rs", typed);
    let _daemon = env.start_daemon();
    let out = env.kairos(&["approve", &id.to_string()]);
    assert!(!out.status.success());
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(said.contains("stale") && said.contains("src/main.rs"), "{said}");
    assert_eq!(repo.read("src/main.rs").unwrap(), typed, "a stale patch wrote over new work");
    assert_eq!(env.json(&["show", &id.to_string(), "--json"])["state"], "stale");
}

#[test]
fn a_command_task_proposes_creations_deletions_edits_and_modes() {
    let env = Env::new();
    let repo = env.repo("work");
    repo.write("notes.txt", "shout this\n");
    repo.write("old.txt", "remove me\n");
    repo.write("script.sh", "echo hi\n");
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "files"]);
    env.write_config(concat!(
        "[tasks.snapshot]\nenabled = false\n\n",
        "[tasks.shout]\n",
        "run = [\"sh\", \"-c\", \"tr a-z A-Z < notes.txt > n && mv n notes.txt && rm old.txt && printf 'new\\\\n' > created.txt && chmod +x script.sh && echo $MARK > mark.txt\"]\n",
        "on = [\"fs:notes.txt\"]\n",
        "quiet = \"200ms\"\n",
        "env = { MARK = \"from-env\" }\n",
    ));
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();
    let original: Vec<(String, Option<String>)> = ["notes.txt", "old.txt", "script.sh"]
        .iter()
        .map(|f| (f.to_string(), Some(file_hash(&repo, f))))
        .collect();

    // A change that does not match the trigger's glob does not run it.
    repo.write("other.md", "unrelated\n");
    repo.write("notes.txt", "shout this now\n");
    let p = wait_for("a command proposal", || patch_proposals(&env).into_iter().next(), &daemon);
    assert_eq!(p["task"], "shout");
    let files = p["change"]["files"].as_array().unwrap().clone();
    let find = |path: &str| files.iter().find(|f| f["path"] == path).cloned();
    assert!(find("created.txt").unwrap()["before"].is_null());
    assert!(find("old.txt").unwrap()["after"].is_null());
    assert_eq!(find("script.sh").unwrap()["after"]["mode"], 0o100755);
    assert!(find("mark.txt").is_some(), "env was not passed: {files:?}");
    assert!(repo.read("created.txt").is_none(), "the command ran in the working tree");

    let before_apply = file_hash(&repo, "notes.txt");
    let id = p["id"].as_u64().unwrap().to_string();
    env.ok(&["approve", &id]);
    assert_eq!(repo.read("notes.txt").unwrap(), "SHOUT THIS NOW\n");
    assert_eq!(repo.read("created.txt").unwrap(), "new\n");
    assert_eq!(repo.read("mark.txt").unwrap(), "from-env\n");
    assert!(repo.read("old.txt").is_none());
    let mode = std::fs::metadata(repo.path.join("script.sh")).unwrap().permissions().mode();
    assert_eq!(mode & 0o111, 0o111);

    env.ok(&["undo", &id]);
    assert_eq!(file_hash(&repo, "notes.txt"), before_apply);
    for (file, hash) in &original[1..] {
        assert_eq!(Some(file_hash(&repo, file)), *hash, "{file} not restored");
    }
    assert!(repo.read("created.txt").is_none());
    let mode = std::fs::metadata(repo.path.join("script.sh")).unwrap().permissions().mode();
    assert_eq!(mode & 0o111, 0, "the mode change was not undone");
}

#[test]
fn a_notice_task_reports_its_output_and_a_failing_command_is_reported_once() {
    let env = Env::new();
    let repo = env.repo("work");
    env.write_config(concat!(
        "[tasks.snapshot]\nenabled = false\n\n",
        "[tasks.count]\nrun = [\"sh\", \"-c\", \"echo $(ls | wc -l) entries\"]\noutput = \"notice\"\n\n",
        "[tasks.broken]\nrun = [\"sh\", \"-c\", \"echo bad >&2; exit 4\"]\n",
    ));
    env.ok(&["watch", repo.str()]);
    let _daemon = env.start_daemon();
    let out = env.ok(&["run", "count", "--repo", repo.str()]);
    assert!(out.contains("1 notice"), "{out}");
    let log = env.ok(&["log", "-n", "50"]);
    assert!(log.contains("count: `sh -c echo $(ls | wc -l) entries` succeeded"), "{log}");
    assert!(log.contains("1 entries"), "{log}");

    let out = env.kairos(&["run", "broken", "--repo", repo.str()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("exited with 4") && stderr(&out).contains("bad"),
        "{}",
        stderr(&out)
    );
    assert!(patch_proposals(&env).is_empty());
}

#[test]
fn patches_that_escape_the_repository_are_refused() {
    use chrono::Utc;
    use kairos::proposal::{
        Actor, Change, FileChange, FileState, HistoryEntry, Proposal, RepoPath, State,
    };
    let env = Env::new();
    let repo = env.repo("work");
    let outside = env.path("outside.txt");
    std::fs::write(&outside, "keep me\n").unwrap();
    std::os::unix::fs::symlink(env.dir.path(), repo.path.join("link-out")).unwrap();
    let blob = {
        let p = repo.path.join(".blob");
        std::fs::write(&p, "pwned\n").unwrap();
        let id = repo.git(&["hash-object", "-w", p.to_str().unwrap()]);
        std::fs::remove_file(p).unwrap();
        FileState { blob: id, mode: 0o100644 }
    };
    std::fs::create_dir_all(repo.path.join("sub/.git/hooks")).unwrap();
    let bad_paths = [
        "../outside.txt",
        "/etc/kairos-should-not-exist",
        "link-out/outside.txt",
        ".git/config",
        "sub/.git/hooks/post-commit",
    ];
    {
        let store = kairos::store::Store::open(&env.path("data/kairos/store")).unwrap();
        for path in bad_paths {
            let id = store.next_proposal_id().unwrap();
            let now = Utc::now();
            let p = Proposal {
                id,
                repo: repo.str().into(),
                task: "evil".into(),
                action: "fs.patch".into(),
                title: format!("write {path}"),
                why: "test".into(),
                state: State::Pending,
                created_at: now,
                updated_at: now,
                fingerprint: format!("evil:{id}"),
                change: Change::Patch {
                    files: vec![FileChange {
                        path: RepoPath::Text(path.into()),
                        before: None,
                        after: Some(blob.clone()),
                    }],
                },
                decision: None,
                branch: None,
                changed_lines: 0,
                undo: None,
                provenance: Default::default(),
                history: vec![HistoryEntry {
                    at: now,
                    state: State::Pending,
                    by: Actor::task("test"),
                    note: None,
                }],
            };
            store.put_proposal(&p).unwrap();
        }
        store.flush_blocking().unwrap();
    }
    let _daemon = env.start_daemon();
    let config_before = std::fs::read(repo.path.join(".git/config")).unwrap();
    for id in 1..=bad_paths.len() {
        let out = env.kairos(&["approve", &id.to_string()]);
        assert!(!out.status.success(), "approving {} succeeded", bad_paths[id - 1]);
        let said = format!("{}{}", stdout(&out), stderr(&out));
        assert!(said.contains("refused"), "{}: {said}", bad_paths[id - 1]);
    }
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep me\n");
    assert!(!std::path::Path::new("/etc/kairos-should-not-exist").exists());
    assert_eq!(std::fs::read(repo.path.join(".git/config")).unwrap(), config_before);
    assert!(!repo.path.join("sub/.git/hooks/post-commit").exists());
}

#[test]
fn a_2000_file_apply_killed_at_any_moment_is_never_torn() {
    let env = Env::new();
    let repo = env.repo("big");
    for i in 0..2000 {
        repo.write(&format!("gen/{:02}/{i}.txt", i % 40), &format!("line {i}\n"));
    }
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "2000 files"]);
    env.write_config(concat!(
        "[tasks.snapshot]\nenabled = false\n\n",
        "[tasks.touch-all]\nrun = [\"sh\", \"-c\", \"for f in gen/*/*.txt; do echo changed >> \\\"$f\\\"; done\"]\n",
    ));
    env.ok(&["watch", repo.str()]);
    let mut daemon = env.start_daemon();
    env.ok(&["run", "touch-all", "--repo", repo.str()]);
    let id = patch_proposals(&env)[0]["id"].as_u64().unwrap().to_string();
    let old: Vec<String> = (0..2000).map(|i| sha(format!("line {i}\n").as_bytes())).collect();
    let new: Vec<String> =
        (0..2000).map(|i| sha(format!("line {i}\nchanged\n").as_bytes())).collect();
    let state_of_tree = || -> (usize, usize) {
        let mut counts = (0, 0);
        for i in 0..2000 {
            let h = file_hash(&repo, &format!("gen/{:02}/{i}.txt", i % 40));
            if h == old[i] {
                counts.0 += 1;
            } else if h == new[i] {
                counts.1 += 1;
            } else {
                panic!("file {i} holds neither its old nor its new content");
            }
        }
        counts
    };

    // The apply writes files in path order: watching one file tells how far it got.
    let mut order: Vec<usize> = (0..2000).collect();
    order.sort_by_key(|i| format!("gen/{:02}/{i}.txt", i % 40));
    let is_new = |i: usize| file_hash(&repo, &format!("gen/{:02}/{i}.txt", i % 40)) == new[i];
    enum Moment {
        After(u64),
        FileWritten(usize),
    }
    let moments = [
        Moment::After(0),
        Moment::After(150),
        Moment::FileWritten(order[0]),
        Moment::FileWritten(order[1000]),
        Moment::FileWritten(order[1999]),
    ];
    let mut interrupted = 0;
    for moment in moments {
        let mut approve = env
            .cmd(&["approve", &id])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        match moment {
            Moment::After(ms) => std::thread::sleep(std::time::Duration::from_millis(ms)),
            Moment::FileWritten(i) => {
                wait_for("the apply to reach a file", || is_new(i).then_some(()), &daemon)
            }
        }
        daemon.kill9();
        let _ = approve.wait();
        let mid = state_of_tree();
        if mid.0 != 2000 && mid.1 != 2000 {
            interrupted += 1;
        }
        daemon = env.start_daemon();
        let (olds, news) = state_of_tree();
        assert!(
            olds == 2000 || news == 2000,
            "torn after a kill with {mid:?} written: {olds} old, {news} new"
        );
        let state = env.json(&["show", &id, "--json"])["state"].as_str().unwrap().to_owned();
        if news == 2000 {
            assert_eq!(state, "applied");
            break;
        }
        assert_eq!(state, "pending", "a rolled-back apply waits for the user again");
    }
    // At least one kill must have landed inside an apply for the test to mean anything.
    assert!(
        interrupted > 0,
        "no kill landed while files were being written; the test proves nothing"
    );
    let final_state = env.json(&["show", &id, "--json"])["state"].clone();
    if final_state != "applied" {
        env.ok(&["approve", &id]);
    }
    let (_, news) = state_of_tree();
    assert_eq!(news, 2000);
    env.ok(&["undo", &id]);
    assert_eq!(state_of_tree().0, 2000);
}

#[test]
fn objects_kept_for_undo_are_released_once_undone_or_past_retention() {
    let env = Env::new();
    let repo = env.repo("work");
    repo.commit_file("notes.txt", "one\n", "notes");
    env.write_config(
        "[daemon]\nkeep_undo_for = \"30d\"\n\n[tasks.snapshot]\nenabled = false\n\n\
         [tasks.stamp]\nrun = [\"sh\", \"-c\", \"echo stamped >> notes.txt\"]\n",
    );
    env.ok(&["watch", repo.str()]);
    let mut daemon = env.start_daemon();
    let keep_refs = || repo.git(&["for-each-ref", "--format=%(refname)", "refs/kairos/keep/"]);
    let approve_stamp = || {
        env.ok(&["run", "stamp", "--repo", repo.str()]);
        let id = patch_proposals(&env)[0]["id"].to_string();
        env.ok(&["approve", &id]);
        id
    };
    let undone = approve_stamp();
    env.ok(&["undo", &undone]);
    repo.write("notes.txt", "two\n");
    approve_stamp();
    assert_eq!(keep_refs().lines().count(), 2, "{}", keep_refs());

    // At start: the undone change's objects are released, the applied one's kept.
    assert!(daemon.stop());
    daemon = env.start_daemon();
    assert_eq!(keep_refs().lines().count(), 1, "{}", keep_refs());
    let log = env.ok(&["log", "-n", "200"]);
    assert!(log.contains("released the objects kept for 1 undos"), "{log}");

    // Past the retention, the applied one's objects are released too: the clock is
    // driven by moving when the change was applied.
    assert!(daemon.stop());
    {
        let store = kairos::store::Store::open(&env.path("data/kairos/store")).unwrap();
        let mut applied = store.proposals_in(kairos::proposal::State::Applied).unwrap();
        assert_eq!(applied.len(), 1);
        applied[0].updated_at -= chrono::TimeDelta::days(31);
        store.put_proposal(&applied[0]).unwrap();
        store.flush_blocking().unwrap();
    }
    let _daemon = env.start_daemon();
    assert_eq!(keep_refs(), "");
}
