//! The watches follow the tree: directories that appear are watched (what was written
//! into them before is seen too), ignored ones are never entered, and an ignore-rule
//! change moves the line.

use crate::common::*;

fn log(env: &Env) -> String {
    env.ok(&["log", "-n", "500"])
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
    saw(&env, &daemon, "deep/er/est/first.txt");
    // Only the new directory's own watch can report this one.
    repo.write("deep/er/est/second.txt", "2\n");
    saw(&env, &daemon, "deep/er/est/second.txt");

    // A tree moved in from elsewhere.
    let outside = env.path("outside");
    std::fs::create_dir_all(outside.join("pkg/src")).unwrap();
    std::fs::write(outside.join("pkg/src/lib.rs"), "").unwrap();
    std::fs::rename(outside.join("pkg"), repo.path.join("pkg")).unwrap();
    saw(&env, &daemon, "pkg/src/lib.rs");
    repo.write("pkg/src/main.rs", "fn main() {}\n");
    saw(&env, &daemon, "pkg/src/main.rs");

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
    repo.write("web/app.js", "app\n");
    saw(&env, &daemon, "web/app.js");
    assert!(!log(&env).contains("index.js"), "{}", log(&env));

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
    saw(&env, &daemon, "web/node_modules/pkg/index.js");
    let now = env.json(&["status", "--json"])["repos"][0]["watched_dirs"].as_u64().unwrap();
    assert_eq!(now, watched + 2, "node_modules and node_modules/pkg");
}
