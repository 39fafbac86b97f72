//! Scheduled repository maintenance against real bare remotes on disk.

use chrono::Utc;

use crate::common::*;

/// A bare remote, the user's clone of it (`work`, watched) and a colleague's (`other`).
struct Remote {
    work: Repo,
    other: Repo,
}

fn with_remote(env: &Env) -> Remote {
    let bare = env.path("remote.git");
    let status = std::process::Command::new("git")
        .args(["init", "-q", "--bare", "-b", "main"])
        .arg(&bare)
        .status()
        .unwrap();
    assert!(status.success());
    let work = env.repo("work");
    work.git(&["remote", "add", "origin", bare.to_str().unwrap()]);
    work.git(&["push", "-q", "-u", "origin", "main"]);
    work.git(&["branch", "dev"]);
    work.git(&["push", "-q", "-u", "origin", "dev"]);
    let other = env.repo("other");
    other.git(&["remote", "add", "origin", bare.to_str().unwrap()]);
    other.git(&["fetch", "-q", "origin"]);
    other.git(&["reset", "-q", "--hard", "origin/main"]);
    env.write_config("[tasks.snapshot]\nenabled = false\n\n[tasks.format]\nenabled = false\n");
    Remote { work, other }
}

/// The colleague pushes a commit to `branch`; returns its id.
fn push_from_other(r: &Remote, branch: &str, file: &str) -> String {
    r.other.git(&["fetch", "-q", "origin"]);
    r.other.git(&["checkout", "-q", "-B", branch, &format!("origin/{branch}")]);
    r.other.commit_file(file, &format!("{file} from a colleague\n"), &format!("add {file}"));
    r.other.git(&["push", "-q", "origin", branch]);
    r.other.rev("HEAD").unwrap()
}

fn proposals(env: &Env, action: &str) -> Vec<serde_json::Value> {
    env.queue(true).into_iter().filter(|p| p["action"] == action).collect()
}

#[test]
fn fetch_moves_remote_tracking_refs_and_undo_restores_them() {
    let env = Env::new();
    let r = with_remote(&env);
    let before = r.work.rev("refs/remotes/origin/main").unwrap();
    let pushed = push_from_other(&r, "main", "news.txt");
    env.ok(&["watch", r.work.str()]);
    let _daemon = env.start_daemon();
    env.ok(&["run", "fetch", "--repo", r.work.str()]);
    assert_eq!(r.work.rev("refs/remotes/origin/main").unwrap(), pushed);
    let fetch = proposals(&env, "git.fetch")
        .pop()
        .unwrap_or_else(|| panic!("no fetch proposal: {}", env.ok(&["log", "-n", "50"])));
    assert_eq!(fetch["state"], "applied");
    assert_eq!(fetch["decision"]["decided_by"]["id"], "fetch", "{fetch}");
    // The user's own branch and files did not move.
    assert_eq!(r.work.rev("refs/heads/main").unwrap(), before);
    assert!(r.work.read("news.txt").is_none());

    env.ok(&["undo", &fetch["id"].to_string()]);
    assert_eq!(r.work.rev("refs/remotes/origin/main").unwrap(), before);
}

#[test]
fn fetch_follows_the_remotes_refspecs_and_prune_setting() {
    let env = Env::new();
    let r = with_remote(&env);
    // A single-branch clone: only main is tracked.
    r.work.git(&["config", "remote.origin.fetch", "+refs/heads/main:refs/remotes/origin/main"]);
    let dev_before = r.work.rev("refs/remotes/origin/dev").unwrap();
    let main_pushed = push_from_other(&r, "main", "news.txt");
    push_from_other(&r, "dev", "dev.txt");
    r.other.git(&["push", "-q", "origin", "main:refs/heads/topic"]);
    env.ok(&["watch", r.work.str()]);
    let _daemon = env.start_daemon();

    env.ok(&["run", "fetch", "--repo", r.work.str()]);
    assert_eq!(r.work.rev("refs/remotes/origin/main").unwrap(), main_pushed);
    assert_eq!(r.work.rev("refs/remotes/origin/dev").unwrap(), dev_before, "not tracked");
    assert_eq!(r.work.rev("refs/remotes/origin/topic"), None, "not tracked");

    // Every branch again; dev is deleted on the remote. Git's default keeps origin/dev…
    r.work.git(&["config", "remote.origin.fetch", "+refs/heads/*:refs/remotes/origin/*"]);
    r.other.git(&["push", "-q", "origin", "--delete", "dev"]);
    env.ok(&["run", "fetch", "--repo", r.work.str()]);
    assert_eq!(r.work.rev("refs/remotes/origin/topic").unwrap(), main_pushed);
    assert_eq!(r.work.rev("refs/remotes/origin/dev").unwrap(), dev_before, "pruned unasked");

    // …and `fetch.prune` lets it go.
    r.work.git(&["config", "fetch.prune", "true"]);
    env.ok(&["run", "fetch", "--repo", r.work.str()]);
    assert_eq!(r.work.rev("refs/remotes/origin/dev"), None, "not pruned");
    // The staging area holds nothing the refspecs do not name.
    let staged = r.work.git(&["for-each-ref", "--format=%(refname)", "refs/kairos/fetch/"]);
    assert_eq!(
        staged,
        "refs/kairos/fetch/origin/refs/remotes/origin/main\nrefs/kairos/fetch/origin/refs/remotes/origin/topic"
    );
}

#[test]
fn a_branch_not_checked_out_fast_forwards_on_its_own_and_undo_puts_it_back() {
    let env = Env::new();
    let r = with_remote(&env);
    let old = r.work.rev("refs/heads/dev").unwrap();
    let pushed = push_from_other(&r, "dev", "feature.txt");
    env.ok(&["watch", r.work.str()]);
    let daemon = env.start_daemon();
    env.ok(&["run", "fetch", "--repo", r.work.str()]);
    // The fetch moved origin/dev; that ref change runs fast-forward.
    let ff = wait_for(
        "dev fast-forwarded",
        || proposals(&env, "git.branch.fast-forward").into_iter().find(|p| p["state"] == "applied"),
        &daemon,
    );
    assert_eq!(r.work.rev("refs/heads/dev").unwrap(), pushed);
    env.ok(&["undo", &ff["id"].to_string()]);
    assert_eq!(r.work.rev("refs/heads/dev").unwrap(), old);
}

#[test]
fn the_checked_out_branch_gets_a_proposal_and_moves_only_when_clean() {
    let env = Env::new();
    let r = with_remote(&env);
    let old = r.work.rev("HEAD").unwrap();
    let pushed = push_from_other(&r, "main", "news.txt");
    env.ok(&["watch", r.work.str()]);
    let daemon = env.start_daemon();
    env.ok(&["run", "fetch", "--repo", r.work.str()]);
    let p = wait_for(
        "a worktree fast-forward proposal",
        || {
            proposals(&env, "git.worktree.fast-forward")
                .into_iter()
                .find(|p| p["state"] == "pending")
        },
        &daemon,
    );
    assert_eq!(r.work.rev("HEAD").unwrap(), old, "the checked-out branch moved without asking");
    let id = p["id"].to_string();

    // A dirty tree refuses it, and nothing is written.
    r.work.write("README.md", "local edit\n");
    let out = env.kairos(&["approve", &id]);
    assert!(!out.status.success());
    assert!(format!("{}{}", stdout(&out), stderr(&out)).contains("working tree has changes"));
    assert_eq!(r.work.read("README.md").unwrap(), "local edit\n");
    r.work.git(&["checkout", "-q", "--", "README.md"]);

    // An ignored file of the user's where the new commit puts a tracked one: refused,
    // its bytes kept (libgit2's safe checkout would overwrite ignored files).
    std::fs::write(r.work.path.join(".git/info/exclude"), "news.txt\n").unwrap();
    r.work.write("news.txt", "my own notes\n");
    env.ok(&["run", "fast-forward", "--repo", r.work.str()]);
    let p = proposals(&env, "git.worktree.fast-forward")
        .into_iter()
        .find(|p| p["state"] == "pending")
        .unwrap();
    let out = env.kairos(&["approve", &p["id"].to_string()]);
    assert!(!out.status.success(), "{}", stdout(&out));
    assert_eq!(r.work.read("news.txt").unwrap(), "my own notes\n");
    assert_eq!(r.work.rev("HEAD").unwrap(), old);
    std::fs::remove_file(r.work.path.join("news.txt")).unwrap();

    // Clean: the next proposal applies, files and HEAD move together; undo goes back.
    env.ok(&["run", "fast-forward", "--repo", r.work.str()]);
    let p = proposals(&env, "git.worktree.fast-forward")
        .into_iter()
        .find(|p| p["state"] == "pending")
        .unwrap();
    env.ok(&["approve", &p["id"].to_string()]);
    assert_eq!(r.work.rev("HEAD").unwrap(), pushed);
    assert_eq!(r.work.read("news.txt").unwrap(), "news.txt from a colleague\n");
    assert_eq!(r.work.git(&["status", "--porcelain"]), "");
    env.ok(&["undo", &p["id"].to_string()]);
    assert_eq!(r.work.rev("HEAD").unwrap(), old);
    assert!(r.work.read("news.txt").is_none());
}

#[test]
fn maintenance_writes_a_commit_graph_and_fsck_stays_clean() {
    let env = Env::new();
    let repo = env.repo("work");
    for i in 0..20 {
        repo.commit_file(&format!("f{i}.txt"), "x\n", &format!("commit {i}"));
    }
    env.write_config("[tasks.snapshot]\nenabled = false\n");
    env.ok(&["watch", repo.str()]);
    let _daemon = env.start_daemon();
    env.ok(&["run", "maintenance", "--repo", repo.str()]);
    let objects = repo.path.join(".git/objects/info");
    assert!(
        objects.join("commit-graph").exists() || objects.join("commit-graphs").exists(),
        "no commit-graph was written"
    );
    let applied: Vec<String> = env
        .queue(true)
        .into_iter()
        .filter(|p| p["state"] == "applied")
        .map(|p| p["action"].as_str().unwrap().to_owned())
        .collect();
    for task in ["commit-graph", "loose-objects", "incremental-repack", "pack-refs"] {
        assert!(
            applied.contains(&format!("git.maintenance.{task}")),
            "{task} missing: {applied:?}"
        );
    }
    repo.git(&["fsck", "--strict", "--no-progress"]);
}

#[test]
fn a_missed_schedule_is_caught_up_once_after_a_restart() {
    let env = Env::new();
    let repo = env.repo("work");
    env.write_config(concat!(
        "[daemon]\ntimezone = \"UTC\"\n\n",
        "[tasks.snapshot]\nenabled = false\n\n",
        "[tasks.stale-branches]\nschedule = \"0 * * * *\"\ncatch_up = \"once\"\n\n",
        "[tasks.reminders]\nschedule = \"0 * * * *\"\ncatch_up = \"skip\"\n",
    ));
    env.ok(&["watch", repo.str()]);
    let mut daemon = env.start_daemon();
    assert!(daemon.stop());

    // The daemon was down for three days: drive the clock by moving what it remembers.
    let three_days_ago = Utc::now() - chrono::Duration::days(3);
    {
        let store = kairos::store::Store::open(&env.path("data/kairos/store")).unwrap();
        for task in ["stale-branches", "reminders"] {
            store.put_last_scheduled(repo.str(), task, three_days_ago).unwrap();
        }
        store.flush_blocking().unwrap();
    }
    let daemon = env.start_daemon();
    let log = wait_for(
        "the catch-up",
        || Some(env.ok(&["log", "-n", "500"])).filter(|l| l.contains("stale-branches (catch-up)")),
        &daemon,
    );
    assert!(
        log.contains("missed 72 scheduled runs of stale-branches")
            || log.contains("missed 73 scheduled runs of stale-branches"),
        "{log}"
    );
    assert_eq!(
        log.matches("stale-branches (catch-up)").count(),
        1,
        "caught up more than once:\n{log}"
    );
    assert!(
        log.contains("scheduled runs of reminders")
            && log.contains("skipped (catch_up = \"skip\")"),
        "{log}"
    );
    assert!(!log.contains("reminders (catch-up)"), "{log}");
}

#[test]
fn a_lock_file_update_carries_its_test_result() {
    let env = Env::new();
    let repo = env.repo("work");
    repo.commit_file("Cargo.lock", "version 1\n", "lock");
    env.write_config(concat!(
        "[tasks.snapshot]\nenabled = false\n\n",
        "[tasks.lockfile]\n",
        "update = [\"sh\", \"-c\", \"echo 'version 2' > Cargo.lock && echo junk > not-a-lock.txt\"]\n",
        "test = [\"sh\", \"-c\", \"grep -q 'version 2' Cargo.lock && echo all 12 tests passed\"]\n",
    ));
    env.ok(&["watch", repo.str()]);
    let _daemon = env.start_daemon();
    env.ok(&["run", "lockfile", "--repo", repo.str()]);
    let p = proposals(&env, "deps.update").pop().expect("a dependency update proposal");
    assert_eq!(p["state"], "pending");
    assert!(p["why"].as_str().unwrap().contains("passed"), "{p}");
    let files: Vec<&str> = p["change"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["Cargo.lock"], "only lock files belong in the update");
    assert_eq!(repo.read("Cargo.lock").unwrap(), "version 1\n", "computed off the working tree");

    // A failing test run is attached too.
    env.write_config(concat!(
        "[tasks.snapshot]\nenabled = false\n\n",
        "[tasks.lockfile]\n",
        "update = [\"sh\", \"-c\", \"echo 'version 3' > Cargo.lock\"]\n",
        "test = [\"sh\", \"-c\", \"echo 1 test failed; exit 1\"]\n",
    ));
    std::thread::sleep(std::time::Duration::from_millis(600));
    env.ok(&["run", "lockfile", "--repo", repo.str()]);
    let failing = proposals(&env, "deps.update")
        .into_iter()
        .find(|p| p["why"].as_str().unwrap().contains("FAILED"))
        .expect("a proposal with the failure");
    assert!(failing["why"].as_str().unwrap().contains("1 test failed"), "{failing}");
}
