//! The watches follow the tree: directories that appear are watched (what was written
//! into them before is seen too), ignored ones are never entered, and an ignore-rule
//! change moves the line.

use crate::common::*;

fn log(env: &Env) -> String {
    env.ok(&["log", "-n", "500"])
}

/// Every path the daemon has logged as changed.
fn changed_paths(env: &Env) -> Vec<String> {
    env.ok(&["log", "-n", "500", "--json"])
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .flat_map(|entry| entry["paths"].as_array().cloned().unwrap_or_default())
        .filter_map(|path| path.as_str().map(str::to_owned))
        .collect()
}

/// Waits until `path` has been logged as changed `times` times.
fn saw_change(env: &Env, daemon: &Daemon, path: &str, times: usize) {
    wait_for(
        &format!("{path} to be seen changing ({times}×)"),
        || (changed_paths(env).iter().filter(|p| *p == path).count() >= times).then_some(()),
        daemon,
    );
}

fn saw(env: &Env, daemon: &Daemon, what: &str) {
    wait_for(what, || Some(log(env)).filter(|l| l.contains(what)), daemon);
}

#[test]
fn directories_that_appear_are_watched_from_then_on() {
    let env = Env::new();
    let repo = env.repo("work");
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();

    // Written at once with its directories: no watch could be in place before the file.
    repo.write("deep/er/est/first.txt", "1\n");
    saw_change(&env, &daemon, "deep/er/est/first.txt", 1);
    // Only the new directory's own watch can report this one.
    repo.write("deep/er/est/second.txt", "2\n");
    saw_change(&env, &daemon, "deep/er/est/second.txt", 1);

    // Deleted and made again (as a branch switch does): watched anew.
    std::fs::remove_dir_all(repo.path.join("deep")).unwrap();
    saw_change(&env, &daemon, "deep/er/est/second.txt", 2);
    repo.write("deep/er/est/third.txt", "3\n");
    saw_change(&env, &daemon, "deep/er/est/third.txt", 1);
    repo.write("deep/er/est/fourth.txt", "4\n");
    saw_change(&env, &daemon, "deep/er/est/fourth.txt", 1);

    // A tree moved in from elsewhere.
    let outside = env.path("outside");
    std::fs::create_dir_all(outside.join("pkg/src")).unwrap();
    std::fs::write(outside.join("pkg/src/lib.rs"), "").unwrap();
    std::fs::rename(outside.join("pkg"), repo.path.join("pkg")).unwrap();
    saw_change(&env, &daemon, "pkg/src/lib.rs", 1);
    repo.write("pkg/src/main.rs", "fn main() {}\n");
    saw_change(&env, &daemon, "pkg/src/main.rs", 1);

    // A branch in a new ref directory, then a second one in it.
    repo.git(&["branch", "feature/one"]);
    saw(&env, &daemon, "branch feature/one created");
    repo.git(&["branch", "feature/two"]);
    saw(&env, &daemon, "branch feature/two created");

    assert!(!log(&env).contains("rescan"), "seen only by a rescan:\n{}", log(&env));
}

#[test]
fn ignored_directories_are_not_entered_until_the_rules_change() {
    let env = Env::new();
    let repo = env.repo("work");
    repo.commit_file(".gitignore", "node_modules/\n", "ignore dependencies");
    repo.write("web/node_modules/pkg/index.js", "old\n");
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();
    let status = env.json(&["status", "--json"]);
    assert_eq!(status["repos"][0]["skipped_dirs"], serde_json::json!(["web/node_modules"]));
    let watched = status["repos"][0]["watched_dirs"].as_u64().unwrap();
    assert!(watched >= 3, "root, .git, .git/refs at least: {status}");

    repo.write("web/node_modules/pkg/index.js", "new\n");
    // A file committed in spite of the rules is watched all the same.
    repo.write("web/node_modules/patched.js", "patched\n");
    repo.git(&["add", "-f", "web/node_modules/patched.js"]);
    repo.git(&["commit", "-q", "-m", "patch a dependency"]);
    repo.write("web/app.js", "app\n");
    saw_change(&env, &daemon, "web/app.js", 1);
    assert!(!log(&env).contains("index.js"), "{}", log(&env));
    wait_for(
        "node_modules to be kept for its committed file",
        || {
            let status = env.json(&["status", "--json"]);
            (status["repos"][0]["skipped_dirs"] == serde_json::json!(["web/node_modules/pkg"]))
                .then_some(())
        },
        &daemon,
    );
    // Listed once as it was found when its directory was entered…
    saw_change(&env, &daemon, "web/node_modules/patched.js", 1);
    // …then watched.
    repo.write("web/node_modules/patched.js", "patched again\n");
    saw_change(&env, &daemon, "web/node_modules/patched.js", 2);

    // Dependencies are tracked from now on: kairos starts listening inside.
    repo.write(".gitignore", "# nothing ignored\n");
    wait_for(
        "node_modules to be watched",
        || {
            let status = env.json(&["status", "--json"]);
            status["repos"][0]["skipped_dirs"].is_null().then_some(())
        },
        &daemon,
    );
    repo.write("web/node_modules/pkg/index.js", "newer\n");
    saw_change(&env, &daemon, "web/node_modules/pkg/index.js", 1);
    let now = env.json(&["status", "--json"])["repos"][0]["watched_dirs"].as_u64().unwrap();
    assert_eq!(now, watched + 2, "node_modules and node_modules/pkg");
}

#[test]
fn a_repository_replaced_under_its_name_is_watched_anew() {
    let env = Env::new();
    let repo = env.repo("work");
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();
    repo.write("before.txt", "1\n");
    saw_change(&env, &daemon, "before.txt", 1);

    // Moved away and cloned back under the same name.
    let old = env.path("work-old");
    std::fs::rename(&repo.path, &old).unwrap();
    let cloned = std::process::Command::new("git")
        .args(["clone", "-q"])
        .arg(&old)
        .arg(&repo.path)
        .status()
        .unwrap();
    assert!(cloned.success());
    // Seen missing for a moment or not (the clone may be quicker than the check), the
    // new tree is watched: an edit in it is soon reported.
    wait_for(
        "an edit in the new tree to be seen",
        || {
            repo.write("src/after.txt", "2\n");
            changed_paths(&env).iter().any(|p| p == "src/after.txt").then_some(())
        },
        &daemon,
    );
    // The old tree, elsewhere now, is not reported under the repository's name.
    std::fs::write(old.join("ghost.txt"), "boo\n").unwrap();
    repo.write("src/last.txt", "3\n");
    saw_change(&env, &daemon, "src/last.txt", 1);
    assert!(!changed_paths(&env).iter().any(|p| p.contains("ghost")), "{}", log(&env));
}

#[test]
fn a_linked_worktree_hears_its_refs_move() {
    let env = Env::new();
    let main = env.repo("main");
    let wt_path = env.path("wt");
    main.git(&["worktree", "add", "-q", "-b", "feature", wt_path.to_str().unwrap()]);
    let wt = wt_path.canonicalize().unwrap();
    env.ok(&["watch", wt.to_str().unwrap()]);
    let daemon = env.start_daemon();

    // A commit in the worktree moves its HEAD (kept in the main repository's git dir).
    let commit = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .current_dir(&wt)
            .args(["-c", "user.name=T", "-c", "user.email=t@t"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    };
    commit(&["commit", "-q", "--allow-empty", "-m", "work on feature"]);
    saw(&env, &daemon, "branch feature moved");
    // A branch made from the main working tree is in the shared refs: heard here too.
    main.git(&["branch", "from-main"]);
    saw(&env, &daemon, "branch from-main created");
}
