//! Restores and file patches, and their undos, under kill -9: after every restart each
//! file of the change is all old or all new, as its proposal's state says.

use crate::common::*;
use crate::harness::*;

/// Writes `tag N` into each of `count` files under `dir`.
fn write_all(repo: &Repo, dir: &str, count: usize, tag: &str) {
    for i in 0..count {
        repo.write(&format!("{dir}/{i:04}.txt"), &format!("{tag} {i}\n"));
    }
}

/// What every file under `dir` holds, with its number taken out; a mix of versions fails.
fn version_of(repo: &Repo, dir: &str, count: usize) -> String {
    let versions: std::collections::BTreeSet<String> = (0..count)
        .map(|i| {
            let text = repo.read(&format!("{dir}/{i:04}.txt")).unwrap_or_else(|| "(absent)".into());
            text.replacen(&format!(" {i}\n"), "\n", 1)
        })
        .collect();
    assert_eq!(versions.len(), 1, "the files of one change are half old, half new: {versions:?}");
    versions.into_iter().next().unwrap()
}

fn newest(env: &Env, action: &str) -> Option<serde_json::Value> {
    proposals(env, action).into_iter().max_by_key(|p| p["id"].as_u64())
}

#[test]
fn restores_and_undos_survive_kill_9() {
    const FILES: usize = 500;
    let mut chaos = Chaos::new("restores and undos");
    let env = Env::new();
    let repo = env.repo("work");
    write_all(&repo, "f", FILES, "committed");
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "files"]);
    env.write_config("[tasks.snapshot]\nenabled = false\n\n[tasks.format]\nenabled = false\n");
    env.ok(&["watch", repo.str()]);
    let mut daemon = env.start_daemon();
    let restore = ["restore", "HEAD", "--repo", repo.str()].map(String::from).to_vec();

    write_all(&repo, "f", FILES, "calibration");
    let window = window_for(time_of(&env, &restore.iter().map(String::as_str).collect::<Vec<_>>()));
    let mut edited = "calibration".to_owned();

    for cycle in 0..chaos.cycles {
        let last = newest(&env, "fs.restore");
        let undoing = last.as_ref().is_some_and(|p| p["state"] == "applied") && chaos.below(2) == 0;
        if undoing {
            let id = id_of(last.as_ref().unwrap());
            daemon = chaos.strike(&env, daemon, vec![vec!["undo".into(), id.clone()]], window).0;
            check_settled(&env, &repo);
            let state = env.json(&["show", &id, "--json"])["state"].clone();
            let expected =
                if state == "undone" { format!("{edited}\n") } else { "committed\n".into() };
            assert!(state == "undone" || state == "applied", "#{id} is {state}");
            assert_eq!(version_of(&repo, "f", FILES), expected, "#{id} is {state}");
            continue;
        }
        edited = format!("edit{cycle}");
        write_all(&repo, "f", FILES, &edited);
        let before = proposals(&env, "fs.restore").len();
        daemon = chaos.strike(&env, daemon, vec![restore.clone()], window).0;
        check_settled(&env, &repo);
        let made = proposals(&env, "fs.restore").len() > before;
        let state =
            if made { newest(&env, "fs.restore").unwrap()["state"].clone() } else { "none".into() };
        let expected = match state.as_str().unwrap() {
            "applied" => "committed\n".to_owned(),
            // Cut off before it was recorded, or rolled back: the edit is untouched.
            "none" | "failed" => format!("{edited}\n"),
            other => panic!("a restore is {other} after recovery"),
        };
        assert_eq!(version_of(&repo, "f", FILES), expected, "the restore is {state}");
    }

    if let Some(last) = newest(&env, "fs.restore").filter(|p| p["state"] == "applied") {
        env.ok(&["undo", &id_of(&last)]);
        assert_eq!(version_of(&repo, "f", FILES), format!("{edited}\n"));
    }
    check_settled(&env, &repo);
    drop(daemon);
    chaos.report();
}

#[test]
fn file_patches_and_undos_survive_kill_9() {
    const FILES: usize = 150;
    let mut chaos = Chaos::new("file patches and undos");
    let env = Env::new();
    let repo = env.repo("work");
    write_all(&repo, "p", FILES, "v0");
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "files"]);
    env.write_config(
        "[tasks.snapshot]\nenabled = false\n\n[tasks.stamp]\n\
         run = [\"sh\", \"-c\", \"for f in p/*.txt; do echo stamped >> \\\"$f\\\"; done\"]\n",
    );
    env.ok(&["watch", repo.str()]);
    let mut daemon = env.start_daemon();
    let run = ["run", "stamp", "--repo", repo.str()];

    env.ok(&run);
    let first = id_of(&newest(&env, "fs.patch").expect("a patch"));
    let window = window_for(time_of(&env, &["approve", &first]));
    env.ok(&["undo", &first]);
    let mut version = "v0".to_owned();

    for cycle in 1..=chaos.cycles {
        let last = newest(&env, "fs.patch").unwrap();
        let id = id_of(&last);
        let undoing = last["state"] == "applied" && chaos.below(2) == 0;
        let command = if undoing {
            vec!["undo".to_owned(), id.clone()]
        } else {
            version = format!("v{cycle}");
            write_all(&repo, "p", FILES, &version);
            env.ok(&run);
            let fresh = newest(&env, "fs.patch").unwrap();
            assert_eq!(fresh["state"], "pending", "{fresh}");
            vec!["approve".to_owned(), id_of(&fresh)]
        };
        let target = command[1].clone();
        daemon = chaos.strike(&env, daemon, vec![command], window).0;
        check_settled(&env, &repo);
        let state = env.json(&["show", &target, "--json"])["state"].clone();
        let expected = match state.as_str().unwrap() {
            "applied" => format!("{version}\nstamped\n"),
            "pending" | "failed" | "undone" => format!("{version}\n"),
            other => panic!("#{target} is {other} after recovery"),
        };
        assert_eq!(version_of(&repo, "p", FILES), expected, "#{target} is {state}");
    }

    if let Some(last) = newest(&env, "fs.patch").filter(|p| p["state"] == "applied") {
        env.ok(&["undo", &id_of(&last)]);
    }
    assert_eq!(version_of(&repo, "p", FILES), format!("{version}\n"));
    check_settled(&env, &repo);
    drop(daemon);
    chaos.report();
}
