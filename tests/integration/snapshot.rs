use std::os::unix::ffi::OsStrExt;

use crate::common::*;

fn quick_snapshots(env: &Env, repo: &Repo) {
    env.write_config("[tasks.snapshot]\nquiet = \"300ms\"\n");
    env.ok(&["watch", repo.str()]);
}

#[test]
fn an_edit_is_snapshotted_without_touching_head_index_or_branches() {
    let env = Env::new();
    let repo = env.repo("work");
    repo.write(".gitignore", "target/\n");
    repo.git(&["add", ".gitignore"]);
    repo.git(&["commit", "-q", "-m", "ignore target"]);
    quick_snapshots(&env, &repo);
    let head = repo.rev("HEAD").unwrap();
    let index_before = std::fs::read(repo.path.join(".git/index")).unwrap();
    let daemon = env.start_daemon();

    repo.write("README.md", "hello, edited\n");
    repo.write("notes/new.txt", "untracked but not ignored\n");
    repo.write("target/build.o", "ignored\n");
    let snapshot = wait_for("a snapshot", || repo.rev("refs/kairos/snapshots/main"), &daemon);

    let files = repo.git(&["ls-tree", "-r", "--name-only", &snapshot]);
    assert!(files.lines().any(|f| f == "notes/new.txt"), "untracked file missing: {files}");
    assert!(!files.contains("target/"), "ignored file snapshotted: {files}");
    assert_eq!(repo.git(&["show", &format!("{snapshot}:README.md")]), "hello, edited");
    assert_eq!(repo.rev("HEAD").unwrap(), head, "HEAD moved");
    assert_eq!(
        std::fs::read(repo.path.join(".git/index")).unwrap(),
        index_before,
        "the index was written"
    );
    assert_eq!(repo.git(&["branch", "--format=%(refname:short)"]), "main");
    assert_eq!(repo.git(&["status", "--porcelain"]), " M README.md\n?? notes/");

    // Nothing changed since: a run leaves the ref where it is.
    let out = env.ok(&["run", "snapshot", "--repo", repo.str()]);
    assert!(out.contains("nothing to do"), "{out}");
    assert_eq!(repo.rev("refs/kairos/snapshots/main").unwrap(), snapshot);

    // A second edit is parented on the first snapshot.
    repo.write("README.md", "hello, edited twice\n");
    let second = wait_for(
        "a second snapshot",
        || repo.rev("refs/kairos/snapshots/main").filter(|s| *s != snapshot),
        &daemon,
    );
    assert_eq!(repo.rev(&format!("{second}^")).unwrap(), snapshot);
    let listed = env.json(&["snapshots", "--repo", repo.str(), "--json"]);
    let commits: Vec<&str> =
        listed.as_array().unwrap().iter().map(|s| s["commit"].as_str().unwrap()).collect();
    assert!(commits.contains(&second.as_str()) && commits.contains(&snapshot.as_str()), "{listed}");
}

/// The tree `git add -A` would stage now, written through a copy of the index.
fn git_add_all_tree(repo: &Repo) -> String {
    let index = repo.path.join(".git/kairos-test-index");
    std::fs::copy(repo.path.join(".git/index"), &index).unwrap();
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(&repo.path)
            .env("GIT_INDEX_FILE", &index)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
        stdout(&out).trim().to_owned()
    };
    git(&["add", "-A"]);
    let tree = git(&["write-tree"]);
    std::fs::remove_file(&index).unwrap();
    tree
}

#[test]
fn later_snapshots_read_only_what_changed_and_hold_the_whole_tree() {
    let env = Env::new();
    let repo = env.repo("work");
    repo.commit_file(".gitignore", "build/\n", "ignore build");
    repo.commit_file("src/lib/a.rs", "a\n", "a");
    repo.commit_file("doc/guide.md", "guide\n", "guide");
    quick_snapshots(&env, &repo);
    let daemon = env.start_daemon();
    let mut last = None;
    let rounds: [&dyn Fn(); 5] = [
        &|| repo.write("README.md", "edited\n"),
        &|| {
            repo.write("tests/deep/t.rs", "t\n");
            repo.write("build/out.o", "ignored\n");
        },
        &|| std::fs::remove_dir_all(repo.path.join("src/lib")).unwrap(),
        &|| {
            std::fs::rename(repo.path.join("doc"), repo.path.join("docs")).unwrap();
            std::fs::set_permissions(
                repo.path.join("tests/deep/t.rs"),
                std::os::unix::fs::PermissionsExt::from_mode(0o755),
            )
            .unwrap();
        },
        &|| std::os::unix::fs::symlink("README.md", repo.path.join("link")).unwrap(),
    ];
    for (round, edit) in rounds.iter().enumerate() {
        edit();
        let snapshot = wait_for(
            &format!("the snapshot after round {round}"),
            || repo.rev("refs/kairos/snapshots/main").filter(|s| Some(s) != last.as_ref()),
            &daemon,
        );
        let tree = repo.rev(&format!("{snapshot}^{{tree}}")).unwrap();
        assert_eq!(tree, git_add_all_tree(&repo), "round {round}");
        last = Some(snapshot);
    }
    // The first snapshot walked the tree; the ones after read the changed paths.
    let log = daemon.log_text();
    assert!(log.matches("snapshot read ").count() >= 4, "{log}");
}

#[test]
fn restore_brings_exact_bytes_back_and_undo_reverses_it() {
    let env = Env::new();
    let repo = env.repo("work");
    quick_snapshots(&env, &repo);
    let daemon = env.start_daemon();

    repo.write("README.md", "precious draft\r\nwith CRLF\n");
    repo.write("draft.txt", "an untracked draft\n");
    let snapshot = wait_for("a snapshot", || repo.rev("refs/kairos/snapshots/main"), &daemon);

    // The user loses work...
    repo.write("README.md", "overwritten by accident\n");
    std::fs::remove_file(repo.path.join("draft.txt")).unwrap();
    repo.write("scratch.txt", "created after the snapshot\n");

    let out = env.ok(&["restore", &snapshot, "--repo", repo.str()]);
    assert!(out.contains("restored 3 files"), "{out}");
    assert_eq!(repo.read("README.md").unwrap(), "precious draft\r\nwith CRLF\n");
    assert_eq!(repo.read("draft.txt").unwrap(), "an untracked draft\n");
    assert_eq!(repo.read("scratch.txt"), None);

    let id = env.queue(true).iter().find(|p| p["action"] == "fs.restore").unwrap()["id"]
        .as_u64()
        .unwrap();
    env.ok(&["undo", &id.to_string()]);
    assert_eq!(repo.read("README.md").unwrap(), "overwritten by accident\n");
    assert_eq!(repo.read("draft.txt"), None);
    assert_eq!(repo.read("scratch.txt").unwrap(), "created after the snapshot\n");
}

#[test]
fn restoring_one_path_leaves_the_others_alone_and_undo_refuses_after_new_edits() {
    let env = Env::new();
    let repo = env.repo("work");
    quick_snapshots(&env, &repo);
    let daemon = env.start_daemon();
    repo.write("a.txt", "a1\n");
    repo.write("b.txt", "b1\n");
    let snapshot = wait_for("a snapshot", || repo.rev("refs/kairos/snapshots/main"), &daemon);
    repo.write("a.txt", "a2\n");
    repo.write("b.txt", "b2\n");

    let a = repo.path.join("a.txt");
    env.ok(&["restore", &snapshot, a.to_str().unwrap(), "--repo", repo.str()]);
    assert_eq!(repo.read("a.txt").unwrap(), "a1\n");
    assert_eq!(repo.read("b.txt").unwrap(), "b2\n");

    repo.write("a.txt", "a3, typed after the restore\n");
    let id = env.queue(true).iter().find(|p| p["action"] == "fs.restore").unwrap()["id"]
        .as_u64()
        .unwrap();
    let out = env.kairos(&["undo", &id.to_string()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("a.txt"), "{}", stderr(&out));
    assert_eq!(
        repo.read("a.txt").unwrap(),
        "a3, typed after the restore\n",
        "undo overwrote new work"
    );

    let outside = env.kairos(&["restore", &snapshot, "/etc/passwd", "--repo", repo.str()]);
    assert!(!outside.status.success());
    assert!(stderr(&outside).contains("outside the repository"), "{}", stderr(&outside));
}

#[test]
fn file_names_that_are_not_utf8_are_snapshotted() {
    let env = Env::new();
    let repo = env.repo("work");
    quick_snapshots(&env, &repo);
    let daemon = env.start_daemon();
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9.txt");
    std::fs::write(repo.path.join(name), "latin-1 name\n").unwrap();
    let snapshot = wait_for("a snapshot", || repo.rev("refs/kairos/snapshots/main"), &daemon);
    let files = repo.git(&["ls-tree", "-r", "--name-only", "-z", &snapshot]);
    assert!(files.split('\0').any(|f| f.starts_with("caf")), "{files:?}");
    assert!(env.kairos(&["status"]).status.success(), "the daemon stopped");
}

#[test]
fn a_storm_of_changes_is_coalesced_and_nothing_is_missed() {
    let env = Env::new();
    let repo = env.repo("work");
    quick_snapshots(&env, &repo);
    let daemon = env.start_daemon();
    // More files than the event channel holds: the watcher overflows and rescans.
    for dir in 0..50 {
        for file in 0..200 {
            repo.write(&format!("gen/{dir}/{file}.txt"), &format!("{dir}/{file}\n"));
        }
    }
    let complete = wait_for(
        "a snapshot holding all 10,000 files",
        || {
            let snapshot = repo.rev("refs/kairos/snapshots/main")?;
            let count = repo.git(&["ls-tree", "-r", "--name-only", &snapshot]).lines().count();
            (count == 10_001).then_some(snapshot)
        },
        &daemon,
    );
    assert!(!complete.is_empty());
    assert!(env.kairos(&["status"]).status.success());
}

#[test]
fn files_over_the_size_limit_are_left_out_and_counted() {
    let env = Env::new();
    let repo = env.repo("work");
    env.write_config("[tasks.snapshot]\nquiet = \"300ms\"\nmax_file_size = \"1KiB\"\n");
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();
    repo.write("small.txt", "small\n");
    std::fs::write(repo.path.join("data.bin"), vec![0u8; 4096]).unwrap();
    let snapshot = wait_for("a snapshot", || repo.rev("refs/kairos/snapshots/main"), &daemon);
    let files = repo.git(&["ls-tree", "-r", "--name-only", &snapshot]);
    assert!(files.contains("small.txt") && !files.contains("data.bin"), "{files}");
    let message = repo.git(&["log", "-1", "--format=%B", &snapshot]);
    assert!(message.contains("Files left out, larger than 1.0 KiB: 1"), "{message}");
}

#[test]
fn a_build_in_an_ignored_directory_does_not_wake_the_tasks() {
    let env = Env::new();
    let repo = env.repo("work");
    repo.commit_file(".gitignore", "target/\n", "ignore target");
    std::fs::create_dir_all(repo.path.join("target/debug")).unwrap();
    quick_snapshots(&env, &repo);
    let daemon = env.start_daemon();
    let runs = |log: &str| log.matches("snapshot (quiet)").count();
    // The start-up snapshot check, then quiet.
    let before = wait_for(
        "the start-up snapshot check",
        || Some(env.ok(&["log", "-n", "500"])).filter(|l| runs(l) >= 1),
        &daemon,
    );
    // kairos does not even listen inside the ignored build directory.
    let status = env.json(&["status", "--json"]);
    assert_eq!(status["repos"][0]["skipped_dirs"], serde_json::json!(["target"]), "{status}");

    // A build writes thousands of files: more than the event channel holds.
    for i in 0..8000 {
        std::fs::write(repo.path.join(format!("target/debug/obj{i}.o")), "x").unwrap();
    }
    // An edit afterwards is still seen, and is the only thing that wakes the snapshot.
    repo.write("README.md", "edited after the build\n");
    // The run's log line is written after the snapshot ref moves: wait for the line.
    let log = wait_for(
        "the edit's snapshot run",
        || Some(env.ok(&["log", "-n", "500"])).filter(|l| runs(l) > runs(&before)),
        &daemon,
    );
    assert!(!log.contains("rescan"), "the build flooded the watcher:\n{log}");
    assert_eq!(runs(&log), runs(&before) + 1, "{log}");
    let snapshot = repo.rev("refs/kairos/snapshots/main").unwrap();
    assert!(!repo.git(&["ls-tree", "-r", "--name-only", &snapshot]).contains("target/"));
}

#[test]
fn a_gone_branch_whose_name_clashes_keeps_its_snapshots_in_the_archive() {
    let env = Env::new();
    let repo = env.repo("work");
    quick_snapshots(&env, &repo);
    repo.git(&["checkout", "-q", "-b", "feature"]);
    let daemon = env.start_daemon();
    repo.write("work.txt", "on feature\n");
    let old = wait_for("feature's snapshot", || repo.rev("refs/kairos/snapshots/feature"), &daemon);

    // `feature` is gone; `feature/x` needs the name as a directory of refs.
    repo.git(&["checkout", "-q", "main"]);
    repo.git(&["branch", "-q", "-D", "feature"]);
    repo.git(&["checkout", "-q", "-b", "feature/x"]);
    repo.write("work.txt", "on feature/x\n");
    let new =
        wait_for("feature/x's snapshot", || repo.rev("refs/kairos/snapshots/feature/x"), &daemon);
    assert_eq!(repo.git(&["show", &format!("{new}:work.txt")]), "on feature/x");

    let archived = repo.git(&["for-each-ref", "--format=%(objectname)", "refs/kairos/archive/"]);
    assert_eq!(archived, old, "the old chain is kept");
    let listed = env.json(&["snapshots", "--repo", repo.str(), "--json"]);
    let old_entry = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["commit"] == old.as_str())
        .unwrap_or_else(|| panic!("archived snapshot not listed: {listed}"));
    assert!(old_entry["branch"].as_str().unwrap().starts_with("feature@"), "{old_entry}");
}
