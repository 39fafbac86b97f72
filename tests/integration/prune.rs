use crate::common::*;

fn branch_proposals(env: &Env) -> Vec<serde_json::Value> {
    env.queue(false).into_iter().filter(|p| p["action"] == "git.branch.delete").collect()
}

#[test]
fn a_merged_branch_is_proposed_approved_and_undone_with_its_upstream() {
    let env = Env::new();
    let repo = env.repo("work");
    let tip = repo.merged_branch("feature");
    repo.git(&["config", "branch.feature.remote", "origin"]);
    repo.git(&["config", "branch.feature.merge", "refs/heads/feature"]);
    // Not merged, and checked out elsewhere: neither may be proposed.
    repo.git(&["checkout", "-q", "-b", "unmerged"]);
    repo.commit_file("wip.txt", "wip", "wip");
    repo.git(&["checkout", "-q", "main"]);
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();

    let queue =
        wait_for("a proposal", || Some(branch_proposals(&env)).filter(|q| !q.is_empty()), &daemon);
    assert_eq!(queue.len(), 1, "{queue:?}");
    let p = &queue[0];
    for key in ["id", "repo", "task", "action", "title", "state", "created_at"] {
        assert!(!p[key].is_null(), "queue entry lacks {key}: {p}");
    }
    assert_eq!(p["task"], "prune-branches");
    assert_eq!(p["state"], "pending");
    assert_eq!(p["repo"], repo.str());
    assert!(p["title"].as_str().unwrap().contains("feature"));
    let id = p["id"].as_u64().unwrap().to_string();

    let shown = env.ok(&["show", &id]);
    assert!(shown.contains("delete branch feature at"), "{shown}");
    assert!(shown.contains("decided by default"), "{shown}");

    env.ok(&["approve", &id]);
    assert_eq!(repo.rev("refs/heads/feature"), None, "the branch was not deleted");
    assert_eq!(env.json(&["show", &id, "--json"])["state"], "applied");

    env.ok(&["undo", &id]);
    assert_eq!(repo.rev("refs/heads/feature").as_deref(), Some(tip.as_str()));
    assert_eq!(repo.git(&["config", "branch.feature.merge"]), "refs/heads/feature");
    assert_eq!(env.json(&["show", &id, "--json"])["state"], "undone");

    // An undone deletion is the user's "no": it is not proposed again.
    env.ok(&["run", "prune-branches", "--repo", repo.str()]);
    assert!(branch_proposals(&env).is_empty());

    let log = env.ok(&["log", "-n", "100"]);
    for needle in ["queued: delete merged branch feature", "applied by user", "undone by user"] {
        assert!(log.contains(needle), "log lacks {needle:?}:\n{log}");
    }
}

/// A bare repository `origin` for `repo`, with main pushed to it; the function runs git
/// there.
fn bare_remote(env: &Env, repo: &Repo) -> impl Fn(&[&str]) {
    let remote = env.path("origin.git");
    let git_on_remote = move |args: &[&str]| {
        let status = std::process::Command::new("git").arg("-C").arg(&remote).args(args).status();
        assert!(status.unwrap().success(), "git {args:?} on the remote");
    };
    std::fs::create_dir(env.path("origin.git")).unwrap();
    git_on_remote(&["init", "-q", "--bare", "-b", "main"]);
    let remote = env.path("origin.git");
    repo.git(&["remote", "add", "origin", remote.to_str().unwrap()]);
    repo.git(&["push", "-q", "-u", "origin", "main"]);
    git_on_remote
}

#[test]
fn a_merged_branch_whose_upstream_is_still_on_the_remote_is_kept_until_it_is_gone() {
    let env = Env::new();
    let repo = env.repo("work");
    let git_on_remote = bare_remote(&env, &repo);
    // A release line, merged and still on the remote, and a topic never pushed.
    repo.merged_branch("3.7.x");
    repo.git(&["push", "-q", "-u", "origin", "3.7.x"]);
    repo.merged_branch("local-topic");
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();
    let titles = || -> Vec<String> {
        branch_proposals(&env).iter().map(|p| p["title"].as_str().unwrap().to_owned()).collect()
    };
    wait_for("the local topic's proposal", || (!titles().is_empty()).then_some(()), &daemon);
    env.ok(&["run", "prune-branches", "--repo", repo.str()]);
    assert_eq!(titles(), ["delete merged branch local-topic"]);

    // The team deletes the line on the remote; a pruning fetch drops origin/3.7.x, and
    // that alone brings the proposal.
    git_on_remote(&["branch", "-q", "-D", "3.7.x"]);
    repo.git(&["fetch", "-q", "--prune", "origin"]);
    let release = wait_for(
        "the proposal once the upstream is gone",
        || branch_proposals(&env).into_iter().find(|p| p["title"] == "delete merged branch 3.7.x"),
        &daemon,
    );
    let shown = env.ok(&["show", &release["id"].to_string()]);
    assert!(shown.contains("its upstream origin/3.7.x is gone from the remote"), "{shown}");
}

#[test]
fn without_fetch_prune_kaiross_own_fetch_tells_a_branch_gone_from_the_remote() {
    let env = Env::new();
    let repo = env.repo("work");
    let git_on_remote = bare_remote(&env, &repo);
    repo.merged_branch("topic");
    repo.git(&["push", "-q", "-u", "origin", "topic"]);
    repo.merged_branch("3.7.x");
    repo.git(&["push", "-q", "-u", "origin", "3.7.x"]);
    // git's default: fetch does not prune, so origin/topic outlives the remote branch.
    env.write_config(
        "[tasks.fetch]
schedule = \"never\"\n",
    );
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();
    env.ok(&["run", "fetch", "--repo", repo.str()]);
    env.ok(&["run", "prune-branches", "--repo", repo.str()]);
    assert!(branch_proposals(&env).is_empty(), "{:?}", branch_proposals(&env));

    // The pull request merged, its branch deleted on the remote.
    git_on_remote(&["branch", "-q", "-D", "topic"]);
    env.ok(&["run", "fetch", "--repo", repo.str()]);
    assert!(repo.rev("refs/remotes/origin/topic").is_some(), "kairos pruned the user's ref");
    env.ok(&["run", "prune-branches", "--repo", repo.str()]);
    let titles: Vec<String> =
        branch_proposals(&env).iter().map(|p| p["title"].as_str().unwrap().to_owned()).collect();
    assert_eq!(titles, ["delete merged branch topic"], "the release line is still on the remote");
    let p = &branch_proposals(&env)[0];
    let shown = env.ok(&["show", &p["id"].to_string()]);
    assert!(shown.contains("its upstream origin/topic is gone from the remote"), "{shown}");
    assert!(daemon.log_text().contains("fetch"), "the daemon did not run the fetch");
}

#[test]
fn a_remote_head_left_pointing_at_a_gone_branch_is_not_the_default() {
    let env = Env::new();
    let repo = env.repo("work");
    // A leftover: master from before the remote moved to main, and origin/HEAD still
    // naming origin/master, which a pruning fetch removed.
    repo.git(&["branch", "master"]);
    repo.git(&["symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/master"]);
    repo.merged_branch("topic");
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();
    let p = wait_for(
        "the topic's proposal",
        || branch_proposals(&env).into_iter().find(|p| p["title"] == "delete merged branch topic"),
        &daemon,
    );
    assert!(p["why"].as_str().unwrap().contains("fully merged into main"), "{p}");
}

#[test]
fn a_rejection_is_remembered_across_runs_and_restarts() {
    let env = Env::new();
    let repo = env.repo("work");
    repo.merged_branch("old-topic");
    env.ok(&["watch", repo.str()]);
    let mut daemon = env.start_daemon();
    let id = wait_for(
        "a proposal",
        || branch_proposals(&env).first().map(|p| p["id"].as_u64().unwrap()),
        &daemon,
    );

    env.ok(&["reject", &id.to_string(), "--reason", "keeping it for reference"]);
    assert!(branch_proposals(&env).is_empty());
    env.ok(&["run", "prune-branches", "--repo", repo.str()]);
    assert!(branch_proposals(&env).is_empty(), "a rejected proposal came back");

    assert!(daemon.stop(), "the daemon did not stop cleanly");
    let _daemon = env.start_daemon();
    env.ok(&["run", "prune-branches", "--repo", repo.str()]);
    assert!(branch_proposals(&env).is_empty(), "a rejected proposal came back after a restart");
    let shown = env.json(&["show", &id.to_string(), "--json"]);
    assert_eq!(shown["state"], "rejected");
    assert_eq!(
        shown["history"].as_array().unwrap().last().unwrap()["note"],
        "keeping it for reference"
    );
    assert!(repo.rev("refs/heads/old-topic").is_some());
}

#[test]
fn a_branch_that_moved_is_stale_and_not_deleted() {
    let env = Env::new();
    let repo = env.repo("work");
    repo.merged_branch("topic");
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();
    let id = wait_for(
        "a proposal",
        || branch_proposals(&env).first().map(|p| p["id"].as_u64().unwrap()),
        &daemon,
    );

    // The user commits on the branch before approving.
    repo.git(&["checkout", "-q", "topic"]);
    repo.commit_file("more.txt", "more", "more work");
    let moved = repo.rev("HEAD").unwrap();
    repo.git(&["checkout", "-q", "main"]);

    let out = env.kairos(&["approve", &id.to_string()]);
    assert!(!out.status.success(), "approving a stale proposal succeeded");
    assert!(
        stdout(&out).contains("stale") || stderr(&out).contains("stale"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(repo.rev("refs/heads/topic").as_deref(), Some(moved.as_str()));
    assert_eq!(env.json(&["show", &id.to_string(), "--json"])["state"], "stale");
}

#[test]
fn a_branch_the_user_deleted_themselves_is_done_not_stale() {
    let env = Env::new();
    let repo = env.repo("work");
    repo.merged_branch("topic");
    repo.merged_branch("other");
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();
    let ids = wait_for(
        "two proposals",
        || {
            let ids: Vec<String> =
                branch_proposals(&env).iter().map(|p| p["id"].to_string()).collect();
            (ids.len() == 2).then_some(ids)
        },
        &daemon,
    );
    repo.git(&["branch", "-q", "-D", "topic", "other"]);
    // Approving one the user already carried out: nothing to do, and said so.
    let said = env.ok(&["approve", &ids[0]]);
    assert!(said.contains(&format!("#{} done: branch ", ids[0])), "{said}");
    assert!(said.contains(" is deleted already"), "{said}");
    assert_eq!(env.json(&["show", &ids[0], "--json"])["state"], "done");
    // The other is settled by the next look at the branches.
    env.ok(&["run", "prune-branches", "--repo", repo.str()]);
    assert_eq!(env.json(&["show", &ids[1], "--json"])["state"], "done");
    assert!(branch_proposals(&env).is_empty());
}

#[test]
fn a_delete_that_fails_is_not_proposed_again_in_a_loop() {
    let env = Env::new();
    let repo = env.repo("work");
    repo.merged_branch("locked");
    // A lock kairos did not take (the user's git, or a crash of theirs): deleting fails.
    std::fs::write(repo.path.join(".git/refs/heads/locked.lock"), "").unwrap();
    write_policy(
        &env,
        "tidy.toml",
        "[[rule]]\nid = \"tidy\"\naction = \"git.branch.delete\"\nautonomy = \"auto\"\n",
    );
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();
    let deletes = || -> Vec<serde_json::Value> {
        env.queue(true).into_iter().filter(|p| p["action"] == "git.branch.delete").collect()
    };
    wait_for(
        "the failed delete",
        || deletes().into_iter().find(|p| p["state"] == "failed"),
        &daemon,
    );
    // Refs change three times: prune-branches runs on its own after each.
    let runs =
        || env.ok(&["log", "-n", "1000"]).matches("prune-branches (git: refs changed)").count();
    for n in 1..=3 {
        repo.git(&["branch", &format!("new-{n}")]);
        wait_for("prune-branches to run", || (runs() >= n).then_some(()), &daemon);
    }
    let all = deletes();
    assert_eq!(all.len(), 1, "the failing delete was proposed again: {all:?}");
    assert!(repo.rev("refs/heads/locked").is_some());

    // Asked for by the user, it is tried again (the user may have cleared the cause).
    std::fs::remove_file(repo.path.join(".git/refs/heads/locked.lock")).unwrap();
    env.ok(&["run", "prune-branches", "--repo", repo.str()]);
    assert!(deletes().iter().any(|p| p["state"] == "applied"), "{:?}", deletes());
    assert_eq!(repo.rev("refs/heads/locked"), None);
}
