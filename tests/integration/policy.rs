//! Autonomy policies through the real binary.

use crate::common::*;

fn explain(env: &Env, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["policy", "explain", "--json"];
    all.extend_from_slice(args);
    env.json(&all)
}

fn all_proposals(env: &Env, action: &str) -> Vec<serde_json::Value> {
    env.queue(true).into_iter().filter(|p| p["action"] == action).collect()
}

const AUTO_PRUNE: &str =
    "[[rule]]\nid = \"tidy\"\naction = \"git.branch.delete\"\nautonomy = \"auto\"\n";

#[test]
fn an_auto_rule_applies_on_its_own_and_undo_brings_it_back() {
    let env = Env::new();
    let repo = env.repo("work");
    let tip = repo.merged_branch("done");
    write_policy(&env, "tidy.toml", AUTO_PRUNE);
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();
    let p = wait_for(
        "an automatic deletion",
        || all_proposals(&env, "git.branch.delete").into_iter().find(|p| p["state"] == "applied"),
        &daemon,
    );
    assert_eq!(repo.rev("refs/heads/done"), None);
    assert_eq!(p["decision"]["decided_by"]["id"], "tidy", "{p}");
    assert!(env.queue(false).is_empty(), "an automatic change waited in the queue");
    let shown = env.ok(&["show", &p["id"].to_string()]);
    assert!(shown.contains("policy:  auto (decided by rule tidy"), "{shown}");
    env.ok(&["undo", &p["id"].to_string()]);
    assert_eq!(repo.rev("refs/heads/done").as_deref(), Some(tip.as_str()));
}

#[test]
fn the_strictest_rule_wins_across_files_and_irreversible_actions_are_capped() {
    let env = Env::new();
    let repo = env.repo("work");
    write_policy(
        &env,
        "a.toml",
        "[[rule]]\nid = \"everything\"\naction = \"*\"\nautonomy = \"auto\"\n",
    );
    write_policy(
        &env,
        "b.toml",
        "[[rule]]\nid = \"keep-release\"\naction = \"git.branch.delete\"\nbranch = \"release/*\"\nautonomy = \"notify\"\n",
    );
    let _daemon = env.start_daemon();
    let e = explain(
        &env,
        &["--action", "git.branch.delete", "--branch", "release/1.0", "--repo", repo.str()],
    );
    assert_eq!(e["autonomy"], "notify");
    assert_eq!(e["decided_by"]["id"], "keep-release");
    assert_eq!(e["matched"].as_array().unwrap().len(), 2, "{e}");
    let e =
        explain(&env, &["--action", "git.branch.delete", "--branch", "main", "--repo", repo.str()]);
    assert_eq!(e["autonomy"], "auto");
    let e = explain(&env, &["--action", "git.maintenance.gc", "--repo", repo.str()]);
    assert_eq!(e["autonomy"], "propose");
    assert_eq!(e["decided_by"]["kind"], "cap");
    let human =
        env.ok(&["policy", "explain", "--action", "git.maintenance.gc", "--repo", repo.str()]);
    assert!(
        human.contains("cap: held at propose, actions that cannot be undone are never automatic"),
        "{human}"
    );
    // What a model suggested is held at propose too, whatever the rule says.
    let e = explain(
        &env,
        &["--action", "git.branch.delete", "--origin", "model", "--repo", repo.str()],
    );
    assert_eq!(
        (e["autonomy"].as_str(), e["caps"][0].as_str()),
        (Some("propose"), Some("untrusted"))
    );
    let shown = env.ok(&["policy", "show"]);
    assert!(shown.contains("held at propose: what a model suggested"), "{shown}");
}

#[test]
fn a_broken_policy_edit_keeps_the_last_good_one_and_says_where() {
    let env = Env::new();
    let repo = env.repo("work");
    write_policy(&env, "tidy.toml", AUTO_PRUNE);
    let daemon = env.start_daemon();
    let args = ["--action", "git.branch.delete", "--repo", repo.str()];
    assert_eq!(explain(&env, &args)["autonomy"], "auto");

    write_policy(
        &env,
        "tidy.toml",
        "[[rule]]\nid = \"tidy\"\naction = \"git.branch.delete\"\nautonomy = \"sometimes\"\n",
    );
    let error = wait_for(
        "the policy error in status",
        || {
            env.json(&["status", "--json"])["policy_errors"]
                .as_array()
                .and_then(|a| a.first().cloned())
        },
        &daemon,
    );
    assert!(error.as_str().unwrap().contains("tidy.toml:4:12"), "{error}");
    assert_eq!(explain(&env, &args)["autonomy"], "auto", "the last good policy is not in force");
    let log = env.ok(&["log", "-n", "100"]);
    assert!(log.contains("policy not reloaded, the last good one stays in force"), "{log}");

    write_policy(&env, "tidy.toml", &AUTO_PRUNE.replace("\"auto\"", "\"observe\""));
    wait_for(
        "the fixed policy",
        || (explain(&env, &args)["autonomy"] == "observe").then_some(()),
        &daemon,
    );
    assert!(env.json(&["status", "--json"])["policy_errors"].is_null());

    // `policy check` says the same without a daemon.
    let bad = env.path("bad.toml");
    std::fs::write(&bad, "[[rule]]\nid = \"x\"\nautonomy = \"auto\"\naction = \"fs.patch\"\nexamples.match = [{ action = \"git.snapshot\" }]\n").unwrap();
    let out = env.kairos(&["policy", "check", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("bad.toml:5:") && stderr(&out).contains("does not match its example"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn approve_always_grants_the_next_one_and_revoke_takes_it_back() {
    let env = Env::new();
    let repo = env.repo("work");
    repo.merged_branch("one");
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();
    let first =
        wait_for("a proposal", || env.queue(false).first().map(|p| p["id"].to_string()), &daemon);
    let out = env.ok(&["approve", &first, "--always"]);
    assert!(out.contains("grant g1") && out.contains("is now automatic"), "{out}");
    assert_eq!(repo.rev("refs/heads/one"), None);

    // The same kind of change is now automatic: no one is asked.
    repo.merged_branch("two");
    wait_for(
        "branch two deleted automatically",
        || repo.rev("refs/heads/two").is_none().then_some(()),
        &daemon,
    );
    assert!(env.queue(false).is_empty());
    let report = env.json(&["policy", "show", "--json"]);
    assert_eq!(report["grants"][0]["id"], "g1");

    env.ok(&["policy", "revoke", "g1"]);
    repo.merged_branch("three");
    wait_for("branch three proposed, not deleted", || env.queue(false).first().cloned(), &daemon);
    assert!(repo.rev("refs/heads/three").is_some());

    // A grant never outranks a stricter rule the user wrote.
    write_policy(
        &env,
        "careful.toml",
        "[[rule]]\nid = \"careful\"\naction = \"git.branch.delete\"\nautonomy = \"propose\"\n",
    );
    wait_for(
        "the new policy",
        || {
            (explain(&env, &["--action", "git.branch.delete", "--repo", repo.str()])["decided_by"]
                ["id"]
                == "careful")
                .then_some(())
        },
        &daemon,
    );
    let third = env.queue(false)[0]["id"].to_string();
    let out = env.ok(&["approve", &third, "--always"]);
    assert!(out.contains("cannot take effect") && out.contains("careful"), "{out}");
}

#[test]
fn repeated_rejections_demote_a_task_until_the_user_lifts_it() {
    let env = Env::new();
    let repo = env.repo("work");
    for b in ["a", "b", "c"] {
        repo.merged_branch(b);
    }
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();
    let ids: Vec<String> =
        wait_for("three proposals", || Some(env.queue(false)).filter(|q| q.len() == 3), &daemon)
            .iter()
            .map(|p| p["id"].to_string())
            .collect();
    env.ok(&["reject", &ids[0], &ids[1]]);
    let out = env.ok(&["reject", &ids[2]]);
    assert!(
        out.contains("demoted to observe") && out.contains("kairos policy undemote prune-branches"),
        "{out}"
    );

    repo.merged_branch("d");
    env.ok(&["run", "prune-branches", "--repo", repo.str()]);
    assert!(env.queue(false).is_empty(), "a demoted task still queues proposals");
    let log = env.ok(&["log", "-n", "100"]);
    assert!(log.contains("observed (not proposed, decided by demotion"), "{log}");
    let report = env.json(&["policy", "show", "--json"]);
    assert_eq!(report["demotions"][0]["task"], "prune-branches");

    env.ok(&["policy", "undemote", "prune-branches", "--repo", repo.str()]);
    env.ok(&["run", "prune-branches", "--repo", repo.str()]);
    assert_eq!(env.queue(false).len(), 1, "after the demotion is lifted, proposals come back");
}

#[test]
fn a_repository_policy_can_only_tighten() {
    let env = Env::new();
    let repo = env.repo("work");
    repo.write(".kairos/policy.toml", "[[rule]]\nid = \"no-snapshots\"\naction = \"git.snapshot\"\nautonomy = \"observe\"\n\n[[rule]]\nid = \"greedy\"\naction = \"git.branch.delete\"\nautonomy = \"auto\"\n");
    env.write_config("[tasks.snapshot]\nquiet = \"200ms\"\n");
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();
    let e = explain(&env, &["--action", "git.branch.delete", "--repo", repo.str()]);
    assert_eq!(e["autonomy"], "propose");
    assert!(e["notes"][0].as_str().unwrap().contains("can only tighten"), "{e}");
    repo.write("README.md", "edited\n");
    wait_for(
        "the snapshot to be observed",
        || {
            env.ok(&["log", "-n", "100"])
                .contains("observed (not proposed, decided by rule no-snapshots")
                .then_some(())
        },
        &daemon,
    );
    assert_eq!(repo.rev("refs/kairos/snapshots/main"), None);
}

/// A quiet-hours window around now, in local time, as the daemon reads it.
pub fn window_around_now() -> String {
    use chrono::Timelike;
    let now = chrono::Local::now();
    let start = now - chrono::Duration::minutes(5);
    let end = now + chrono::Duration::minutes(90);
    format!("{:02}:{:02}-{:02}:{:02}", start.hour(), start.minute(), end.hour(), end.minute())
}

#[test]
fn quiet_hours_hold_automatic_work_until_they_end() {
    let env = Env::new();
    let repo = env.repo("work");
    repo.merged_branch("done");
    write_policy(
        &env,
        "tidy.toml",
        &format!("[defaults]\nquiet_hours = \"{}\"\n\n{AUTO_PRUNE}", window_around_now()),
    );
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();
    let waiting = wait_for("a waiting proposal", || env.queue(false).first().cloned(), &daemon);
    assert!(waiting["history"][0]["note"].as_str().unwrap().contains("quiet hours"), "{waiting}");
    assert!(repo.rev("refs/heads/done").is_some(), "automatic work ran during quiet hours");

    // Quiet hours over (here: removed); the waiting change goes ahead on its own.
    write_policy(&env, "tidy.toml", AUTO_PRUNE);
    wait_for(
        "the deletion after quiet hours",
        || repo.rev("refs/heads/done").is_none().then_some(()),
        &daemon,
    );
    assert!(env.queue(false).is_empty());
}

#[test]
fn beyond_max_auto_per_hour_changes_wait_and_say_why() {
    let env = Env::new();
    let repo = env.repo("work");
    repo.merged_branch("one");
    repo.merged_branch("two");
    write_policy(&env, "tidy.toml", &format!("[defaults]\nmax_auto_per_hour = 1\n\n{AUTO_PRUNE}"));
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();
    let waiting = wait_for("one waiting proposal", || env.queue(false).first().cloned(), &daemon);
    assert!(
        waiting["history"][0]["note"].as_str().unwrap().contains("max_auto_per_hour = 1"),
        "{waiting}"
    );
    let applied = env.queue(true).into_iter().filter(|p| p["state"] == "applied").count();
    assert_eq!(applied, 1);
}

#[test]
fn simulate_lists_what_todays_policy_would_decide_differently() {
    let env = Env::new();
    let repo = env.repo("work");
    repo.merged_branch("old");
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();
    let id = wait_for("a proposal", || env.queue(false).first().map(|p| p["id"].clone()), &daemon);
    assert_eq!(env.json(&["policy", "simulate", "--json"]).as_array().unwrap().len(), 0);
    write_policy(&env, "tidy.toml", AUTO_PRUNE);
    let changes = wait_for(
        "the simulation to see the new rule",
        || {
            Some(env.json(&["policy", "simulate", "--since", "1h", "--json"]))
                .filter(|c| c.as_array().is_some_and(|a| !a.is_empty()))
        },
        &daemon,
    );
    assert_eq!(changes[0]["id"], id);
    assert_eq!(
        (changes[0]["then"].as_str(), changes[0]["now"].as_str()),
        (Some("propose"), Some("auto"))
    );
}

#[test]
fn a_rule_protecting_branches_protects_the_branch_being_deleted() {
    let env = Env::new();
    let repo = env.repo("work");
    repo.merged_branch("keep-1");
    repo.merged_branch("scratch");
    write_policy(
        &env,
        "branches.toml",
        "[[rule]]\nid = \"keep-branches\"\naction = \"git.branch.delete\"\nbranch = [\"keep-*\"]\n\
         autonomy = \"propose\"\n\n[[rule]]\nid = \"tidy\"\naction = \"git.branch.delete\"\n\
         autonomy = \"auto\"\n",
    );
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();
    let explained = explain(&env, &["--action", "git.branch.delete", "--branch", "keep-1"]);
    assert_eq!(explained["autonomy"], "propose");
    assert_eq!(explained["decided_by"]["id"], "keep-branches");

    env.ok(&["run", "prune-branches", "--repo", repo.str()]);
    let scratch_gone = || repo.rev("refs/heads/scratch").is_none().then_some(());
    wait_for("the unprotected branch to be deleted", scratch_gone, &daemon);
    assert!(repo.rev("refs/heads/keep-1").is_some(), "the protected branch was deleted");
    let keep = all_proposals(&env, "git.branch.delete")
        .into_iter()
        .find(|p| p["change"]["branch"] == "keep-1")
        .expect("a proposal for keep-1");
    assert_eq!(keep["state"], "pending");
    assert_eq!(keep["decision"]["decided_by"]["id"], "keep-branches", "{keep}");
}
