//! Branch deletes and their undos, in batches, under kill -9.

use crate::common::*;
use crate::harness::*;

const BRANCHES: usize = 300;
const BATCH: usize = 12;

fn ids_in(env: &Env, state: &str) -> Vec<String> {
    proposals(env, "git.branch.delete").iter().filter(|p| p["state"] == state).map(id_of).collect()
}

/// Every deletion's state matches its branch: deleted if applied, else where it was.
fn check_branches(env: &Env, repo: &Repo, base: &str) {
    for p in proposals(env, "git.branch.delete") {
        let branch = p["change"]["branch"].as_str().unwrap();
        let tip = repo.rev(&format!("refs/heads/{branch}"));
        match p["state"].as_str().unwrap() {
            "applied" => assert_eq!(tip, None, "#{} is applied but {branch} exists", id_of(&p)),
            "pending" | "failed" | "undone" | "stale" => {
                assert_eq!(
                    tip.as_deref(),
                    Some(base),
                    "#{} {}: {branch} is wrong",
                    id_of(&p),
                    p["state"]
                )
            }
            other => panic!("#{} is {other} after recovery", id_of(&p)),
        }
    }
}

#[test]
fn branch_deletes_and_undos_survive_kill_9() {
    let mut chaos = Chaos::new("branch deletes and undos");
    let env = Env::new();
    let repo = env.repo("work");
    let base = repo.rev("HEAD").unwrap();
    repo.commit_file("second.txt", "2\n", "second");
    // Merged branches that were worked on (not at main's tip): each is proposed.
    let creates: String =
        (0..BRANCHES).map(|i| format!("create refs/heads/b{i:03} {base}\n")).collect();
    let mut git = std::process::Command::new("git")
        .current_dir(&repo.path)
        .args(["update-ref", "--stdin"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(git.stdin.as_mut().unwrap(), creates.as_bytes()).unwrap();
    assert!(git.wait().unwrap().success());
    let original = repo.git(&["for-each-ref", "refs/heads"]);
    env.write_config("[tasks.snapshot]\nenabled = false\n");
    env.ok(&["watch", repo.str()]);
    let mut daemon = env.start_daemon();
    wait_for(
        "every branch proposed",
        || (ids_in(&env, "pending").len() == BRANCHES).then_some(()),
        &daemon,
    );

    let batch: Vec<String> = ids_in(&env, "pending").into_iter().take(BATCH).collect();
    let mut approve: Vec<&str> = vec!["approve"];
    approve.extend(batch.iter().map(String::as_str));
    let approve_window = window_for(time_of(&env, &approve));
    let undo_window = window_for(time_of(&env, &["undo", &batch[0]]).mul_f64(BATCH as f64));

    for _ in 0..chaos.cycles {
        let pending = ids_in(&env, "pending");
        let applied = ids_in(&env, "applied");
        let approving = !pending.is_empty() && (applied.is_empty() || chaos.below(2) == 0);
        let (commands, window) = if approving {
            let mut args = vec!["approve".to_owned()];
            args.extend(pending.into_iter().take(BATCH));
            (vec![args], approve_window)
        } else if !applied.is_empty() {
            let undos = applied.into_iter().take(BATCH).map(|id| vec!["undo".to_owned(), id]);
            (undos.collect(), undo_window)
        } else {
            break;
        };
        daemon = chaos.strike(&env, daemon, commands, window).0;
        check_settled(&env, &repo);
        check_branches(&env, &repo, &base);
    }

    // Everything applied can be undone, and every branch is back where it was.
    for id in ids_in(&env, "applied") {
        env.ok(&["undo", &id]);
    }
    assert_eq!(repo.git(&["for-each-ref", "refs/heads"]), original);
    repo.git(&["branch", "after-the-chaos"]);
    check_settled(&env, &repo);
    drop(daemon);
    chaos.report();
}
