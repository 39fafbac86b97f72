//! Snapshots of a large tree under kill -9: the snapshot ref is always the last snapshot
//! recorded as applied, and nothing a snapshot writes on the way is left behind.

use crate::common::*;
use crate::harness::*;

#[test]
fn snapshots_survive_kill_9() {
    const FILES: usize = 5000;
    let mut chaos = Chaos::new("snapshots");
    let env = Env::new();
    let repo = env.repo("work");
    for i in 0..FILES {
        repo.write(&format!("d{:02}/{i:05}.txt", i % 50), &format!("file {i}\n"));
    }
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "a large tree"]);
    // Snapshots come from `kairos run` only, so each strike knows what it started.
    env.write_config("[tasks.snapshot]\nquiet = \"1h\"\n\n[tasks.format]\nenabled = false\n");
    env.ok(&["watch", repo.str()]);
    let mut daemon = env.start_daemon();
    let run = ["run", "snapshot", "--repo", repo.str()];
    let edit = |repo: &Repo, cycle: usize, chaos: &mut Chaos| {
        for _ in 0..20 {
            let i = chaos.below(FILES);
            repo.write(&format!("d{:02}/{i:05}.txt", i % 50), &format!("edit {cycle}\n"));
        }
        repo.write(&format!("new{cycle}.txt"), "untracked\n");
    };
    edit(&repo, 0, &mut chaos);
    let window = window_for(time_of(&env, &run));

    for cycle in 1..=chaos.cycles {
        edit(&repo, cycle, &mut chaos);
        daemon = chaos.strike(&env, daemon, vec![run.map(String::from).to_vec()], window).0;
        check_settled(&env, &repo);
        let last_applied = proposals(&env, "git.snapshot")
            .into_iter()
            .filter(|p| p["state"] == "applied")
            .max_by_key(|p| p["id"].as_u64())
            .map(|p| p["change"]["new"].as_str().unwrap().to_owned());
        assert_eq!(
            repo.rev("refs/kairos/snapshots/main"),
            last_applied,
            "the snapshot ref is not the last snapshot recorded"
        );
    }
    // The last snapshot holds the work as it is now.
    env.ok(&run);
    let snapshot = repo.rev("refs/kairos/snapshots/main").unwrap();
    let last = format!("new{}.txt", chaos.cycles);
    assert_eq!(repo.git(&["show", &format!("{snapshot}:{last}")]), "untracked");
    check_settled(&env, &repo);
    drop(daemon);
    chaos.report();
}
