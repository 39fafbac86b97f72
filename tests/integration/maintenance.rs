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
fn a_custom_lock_file_update_carries_only_lock_files_and_its_test_result() {
    let env = Env::new();
    let repo = env.repo("work");
    repo.commit_file("Cargo.lock", "version 1\n", "lock");
    env.write_config(concat!(
        "[tasks.snapshot]\nenabled = false\n\n",
        "[tasks.lockfile]\n",
        "update = [\"sh\", \"-c\", \"echo 'version 2' > Cargo.lock && echo junk > not-a-lock.txt\"]\n",
        // Fails on the current lock, passes on the new one.
        "test = [\"sh\", \"-c\", \"grep -q 'version 2' Cargo.lock && echo all 12 tests passed\"]\n",
    ));
    env.ok(&["watch", repo.str()]);
    let _daemon = env.start_daemon();
    env.ok(&["run", "lockfile", "--repo", repo.str()]);
    let p = proposals(&env, "deps.update").pop().expect("a dependency update proposal");
    assert_eq!(p["state"], "pending");
    let why = p["why"].as_str().unwrap();
    assert!(why.contains("passes (it failed before the update)"), "{why}");
    let files: Vec<&str> = p["change"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["Cargo.lock"], "only lock files belong in the update");
    assert_eq!(repo.read("Cargo.lock").unwrap(), "version 1\n", "computed off the working tree");
}

/// A local crate registry (a cargo directory source) holding `name` at `version`, whose
/// `value()` returns `value`.
fn publish(registry: &std::path::Path, name: &str, version: &str, value: u32) {
    let dir = registry.join(format!("{name}-{version}"));
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!("[package]\nname = \"{name}\"\nversion = \"{version}\"\nedition = \"2021\"\n"),
    )
    .unwrap();
    std::fs::write(dir.join("src/lib.rs"), format!("pub fn value() -> u32 {{ {value} }}\n"))
        .unwrap();
    let checksum =
        git2::Oid::hash_object(git2::ObjectType::Blob, format!("{name}{version}").as_bytes())
            .unwrap()
            .to_string();
    std::fs::write(
        dir.join(".cargo-checksum.json"),
        format!("{{\"files\":{{}},\"package\":\"{checksum}{}\"}}", &checksum[..24]),
    )
    .unwrap();
}

#[test]
fn a_cargo_update_keeps_major_jumps_apart_and_compares_the_tests_with_the_current_lock() {
    let env = Env::new();
    let registry = env.path("registry");
    publish(&registry, "dep-a", "1.0.0", 1);
    publish(&registry, "dep-b", "1.0.0", 1);
    let repo = env.repo("app");
    repo.write(
        "Cargo.toml",
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\ndep-a = \"1.0\"\ndep-b = \"*\"\n",
    );
    repo.write(
        ".cargo/config.toml",
        &format!(
            "[source.crates-io]\nreplace-with = \"local\"\n\n[source.local]\ndirectory = \"{}\"\n",
            registry.display()
        ),
    );
    // One test already fails (it depends on the machine), one holds only on dep-b 1.x.
    repo.write(
        "src/lib.rs",
        concat!(
            "#[test]\nfn depends_on_the_time_zone() { panic!(\"TZ\") }\n\n",
            "#[test]\nfn b_is_one() { assert_eq!(dep_b::value() + dep_a::value(), 2); }\n",
        ),
    );
    repo.write(".gitignore", "target\n");
    let cargo = |args: &[&str]| {
        let out = std::process::Command::new("cargo")
            .args(args)
            .current_dir(&repo.path)
            .env("CARGO_TARGET_DIR", env.path("target"))
            .output()
            .unwrap();
        assert!(out.status.success(), "cargo {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    cargo(&["generate-lockfile", "--offline"]);
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "app"]);
    let lock = repo.read("Cargo.lock").unwrap();
    // New versions appear: one within its line, one a major jump the `*` allows.
    publish(&registry, "dep-a", "1.0.1", 1);
    publish(&registry, "dep-b", "2.0.0", 2);
    env.write_config("[tasks.snapshot]\nenabled = false\n\n[tasks.format]\nenabled = false\n");
    env.ok(&["watch", repo.str()]);
    let _daemon = env.start_daemon();
    env.ok(&["run", "lockfile", "--repo", repo.str()]);
    let updates = proposals(&env, "deps.update");
    let titles: Vec<&str> = updates.iter().map(|p| p["title"].as_str().unwrap()).collect();
    assert_eq!(titles.len(), 2, "{titles:?}");
    let minor = updates.iter().find(|p| p["title"] == "update dep-a 1.0.0 → 1.0.1 (Cargo.lock)");
    let minor = minor.unwrap_or_else(|| panic!("{titles:?}"));
    let major =
        updates.iter().find(|p| p["title"] == "update dep-b 1.0.0 → 2.0.0 (major) (Cargo.lock)");
    let major = major.unwrap_or_else(|| panic!("{titles:?}"));
    let why = minor["why"].as_str().unwrap();
    assert!(why.starts_with("dep-a 1.0.0 → 1.0.1; tests: "), "{why}");
    assert!(why.contains("fails as before the update: the same 1 failure"), "{why}");
    let why = major["why"].as_str().unwrap();
    assert!(why.contains("1 failure new with the update (b_is_one), 1 as before"), "{why}");
    // The lock's format is kept, and nothing was written to the working tree.
    let version_line =
        |text: &str| text.lines().find(|l| l.starts_with("version = ")).map(str::to_owned);
    assert_eq!(repo.read("Cargo.lock").unwrap(), lock);
    env.ok(&["approve", &minor["id"].to_string()]);
    let updated = repo.read("Cargo.lock").unwrap();
    assert_eq!(version_line(&updated), version_line(&lock));
    assert!(updated.contains("name = \"dep-a\"\nversion = \"1.0.1\""), "{updated}");
    assert!(updated.contains("name = \"dep-b\"\nversion = \"1.0.0\""), "{updated}");
}

/// A Cargo project `app` depending on each of `names` as `range`, locked against the
/// local `registry` as it is now, and committed.
fn cargo_app(env: &Env, registry: &std::path::Path, names: &[String], range: &str) -> Repo {
    let repo = env.repo("app");
    let deps: String = names.iter().map(|n| format!("{n} = \"{range}\"\n")).collect();
    repo.write(
        "Cargo.toml",
        &format!("[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n{deps}"),
    );
    repo.write(
        ".cargo/config.toml",
        &format!(
            "[source.crates-io]\nreplace-with = \"local\"\n\n[source.local]\ndirectory = \"{}\"\n",
            registry.display()
        ),
    );
    repo.write("src/lib.rs", "");
    let generated = std::process::Command::new("cargo")
        .args(["generate-lockfile", "--offline"])
        .current_dir(&repo.path)
        .output()
        .unwrap();
    assert!(generated.status.success(), "{}", String::from_utf8_lossy(&generated.stderr));
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "app"]);
    repo
}

#[test]
fn a_large_update_is_split_into_proposals_a_person_can_review() {
    let env = Env::new();
    let registry = env.path("registry");
    let names: Vec<String> = (1..=27).map(|i| format!("dep-{i:02}")).collect();
    for name in &names {
        publish(&registry, name, "1.0.0", 1);
    }
    let repo = cargo_app(&env, &registry, &names, "1");
    for name in &names {
        publish(&registry, name, "1.0.1", 1);
    }
    env.write_config(concat!(
        "[tasks.snapshot]\nenabled = false\n\n[tasks.format]\nenabled = false\n\n",
        "[tasks.lockfile]\ntest = [\"true\"]\n",
    ));
    env.ok(&["watch", repo.str()]);
    let _daemon = env.start_daemon();
    env.ok(&["run", "lockfile", "--repo", repo.str()]);
    let mut titles: Vec<String> = proposals(&env, "deps.update")
        .iter()
        .map(|p| p["title"].as_str().unwrap().to_owned())
        .collect();
    titles.sort();
    assert_eq!(
        titles,
        [
            "update 2 dependencies within their ranges (Cargo.lock)",
            "update 25 dependencies within their ranges (Cargo.lock)"
        ]
    );
}

#[test]
fn updates_beyond_one_runs_share_come_in_the_next_run_not_never() {
    let env = Env::new();
    let registry = env.path("registry");
    let names: Vec<String> = (1..=6).map(|i| format!("dep-{i}")).collect();
    for name in &names {
        publish(&registry, name, "1.0.0", 1);
    }
    let repo = cargo_app(&env, &registry, &names, "*");
    // Six major jumps: a run proposes five.
    for name in &names {
        publish(&registry, name, "2.0.0", 2);
    }
    env.write_config(concat!(
        "[tasks.snapshot]\nenabled = false\n\n[tasks.format]\nenabled = false\n\n",
        "[tasks.lockfile]\ntest = [\"true\"]\n",
    ));
    env.ok(&["watch", repo.str()]);
    let _daemon = env.start_daemon();
    let titles = || -> Vec<String> {
        let mut t: Vec<String> = proposals(&env, "deps.update")
            .iter()
            .map(|p| p["title"].as_str().unwrap().to_owned())
            .collect();
        t.sort();
        t
    };
    env.ok(&["run", "lockfile", "--repo", repo.str()]);
    assert_eq!(titles().len(), 5, "{:?}", titles());
    // The five wait for the user (one is even rejected): they hold no slot in the next run.
    let first = proposals(&env, "deps.update")[0]["id"].to_string();
    env.ok(&["reject", &first]);
    env.ok(&["run", "lockfile", "--repo", repo.str()]);
    let all = titles();
    assert_eq!(all.len(), 6, "{all:?}");
    assert!(all.contains(&"update dep-6 1.0.0 → 2.0.0 (major) (Cargo.lock)".to_owned()), "{all:?}");
}
