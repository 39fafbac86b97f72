//! Hostile input: settings that are pipes, devices or huge, repository policies that lead
//! elsewhere, and working trees full of things a repository should not hold. Each must
//! get a clear error or be stepped around, and the daemon must stay up, small and
//! stoppable.

use std::os::unix::ffi::OsStrExt;
use std::process::Command;

use crate::common::*;

/// The most memory the daemon may reach under these inputs (it rests near 10 MiB).
const PEAK_LIMIT_KIB: u64 = 200 * 1024;

fn mkfifo(path: &std::path::Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let status = Command::new("mkfifo").arg(path).status().expect("run mkfifo");
    assert!(status.success(), "mkfifo {}", path.display());
}

fn policy_errors(env: &Env) -> Vec<String> {
    env.json(&["status", "--json"])["policy_errors"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

#[test]
fn pipes_in_place_of_the_config_or_a_policy_are_refused_and_sigterm_still_stops() {
    let env = Env::new();
    env.broken_config_expected.store(true, std::sync::atomic::Ordering::SeqCst);
    mkfifo(&env.config_file());
    let mut daemon = env.start_daemon();
    let error = env.json(&["status", "--json"])["config_error"].as_str().unwrap().to_owned();
    assert!(error.contains("config.toml:1:1") && error.contains("named pipe"), "{error}");

    mkfifo(&env.path("config/kairos/policies/x.toml"));
    let errors = wait_for(
        "the policy error in status",
        || Some(policy_errors(&env)).filter(|e| !e.is_empty()),
        &daemon,
    );
    assert!(errors[0].contains("x.toml:1:1") && errors[0].contains("named pipe"), "{errors:?}");
    assert!(env.kairos(&["status"]).status.success());
    assert!(daemon.stop(), "SIGTERM did not stop the daemon:\n{}", daemon.log_text());
}

#[test]
fn a_repository_policy_must_be_a_small_regular_file_inside_it() {
    let env = Env::new();
    let repo = env.repo("work");
    std::fs::create_dir_all(repo.path.join(".kairos")).unwrap();
    let policy = repo.path.join(".kairos/policy.toml");
    std::os::unix::fs::symlink("/dev/zero", &policy).unwrap();
    env.write_config("[tasks.snapshot]\nquiet = \"200ms\"\n");
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();

    // A decision in this repository reads its policy.
    repo.write("README.md", "edited\n");
    let errors = wait_for(
        "the repository policy's error",
        || Some(policy_errors(&env)).filter(|e| !e.is_empty()),
        &daemon,
    );
    assert!(errors[0].contains("policy.toml:1:1"), "{errors:?}");
    assert!(errors[0].contains("leads outside the repository"), "{errors:?}");

    std::fs::remove_file(&policy).unwrap();
    std::fs::write(&policy, format!("# {}\n", "x".repeat(2 << 20))).unwrap();
    repo.write("README.md", "edited again\n");
    wait_for(
        "the size error",
        || policy_errors(&env).iter().any(|e| e.contains("more than the 1.0 MiB")).then_some(()),
        &daemon,
    );
    assert!(env.kairos(&["status"]).status.success());
    let peak = daemon.peak_rss_kib();
    assert!(peak < PEAK_LIMIT_KIB, "the daemon reached {peak} KiB");
}

#[test]
fn a_hostile_working_tree_is_snapshotted_around_and_the_daemon_stays_small() {
    let env = Env::new();
    let repo = env.repo("work");
    // Repositories of their own inside: a clone (.git directory) and a checkout (.git file).
    let clone = env.repo("work/vendor/clone");
    clone.write("inside.txt", "not the outer repository's\n");
    std::fs::create_dir_all(repo.path.join("tools/checkout")).unwrap();
    std::fs::write(repo.path.join("tools/checkout/.git"), "gitdir: /nowhere\n").unwrap();
    std::fs::write(repo.path.join("tools/checkout/theirs.txt"), "theirs\n").unwrap();
    // Links out of the tree and to a device, a pipe, names git can hold but people rarely
    // write, and a huge sparse file.
    std::os::unix::fs::symlink("/etc/passwd", repo.path.join("passwd-link")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", repo.path.join("zero-link")).unwrap();
    mkfifo(&repo.path.join("pipe"));
    // Project files kairos reads to choose a formatter, as pipes: never read.
    mkfifo(&repo.path.join("Cargo.toml"));
    mkfifo(&repo.path.join("pyproject.toml"));
    repo.write("two\nlines.txt", "a name with a newline\n");
    let latin1 = std::ffi::OsStr::from_bytes(b"caf\xe9.txt");
    std::fs::write(repo.path.join(latin1), "not UTF-8\n").unwrap();
    let huge = std::fs::File::create(repo.path.join("huge.bin")).unwrap();
    huge.set_len(8 << 30).unwrap();
    repo.write("README.md", "my uncommitted work\n");
    let status_before = repo.git(&["status", "--porcelain", "-z"]);

    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();
    let out = env.ok(&["run", "snapshot", "--repo", repo.str()]);
    assert!(out.contains("1 applied"), "{out}");
    let snapshot = repo.rev("refs/kairos/snapshots/main").expect("a snapshot");

    let tree = repo.git(&["ls-tree", "-r", "-z", &snapshot]);
    let entries: Vec<&str> = tree.split('\0').filter(|e| !e.is_empty()).collect();
    let has = |name: &str| entries.iter().any(|e| e.ends_with(&format!("\t{name}")));
    assert!(has("README.md") && has("two\nlines.txt"), "{entries:?}");
    assert!(entries.iter().any(|e| e.ends_with("\tcaf\u{fffd}.txt") || e.contains("caf")));
    let link = entries.iter().find(|e| e.ends_with("\tpasswd-link")).expect("the link");
    assert!(link.starts_with("120000"), "a link is stored as a link: {link}");
    for left_out in
        ["pipe", "Cargo.toml", "huge.bin", "vendor/clone/inside.txt", "tools/checkout/theirs.txt"]
    {
        assert!(!has(left_out), "{left_out} was snapshotted: {entries:?}");
    }
    assert_eq!(repo.git(&["show", &format!("{snapshot}:README.md")]), "my uncommitted work");
    let message = repo.git(&["log", "-1", "--format=%B", &snapshot]);
    assert!(message.contains("Files left out, larger than"), "{message}");
    assert!(
        message.contains("Left out, repositories of their own: tools/checkout, vendor/clone"),
        "{message}"
    );

    for task in ["format", "prune-branches", "reminders"] {
        let out = env.kairos(&["run", task, "--repo", repo.str()]);
        assert!(out.status.success(), "{task}: {}{}", stdout(&out), stderr(&out));
    }
    assert_eq!(repo.git(&["status", "--porcelain", "-z"]), status_before, "the tree was touched");
    repo.git(&["fsck", "--strict", "--no-progress"]);
    let peak = daemon.peak_rss_kib();
    assert!(peak < PEAK_LIMIT_KIB, "the daemon reached {peak} KiB");
}

#[test]
fn clients_sending_endless_lines_cannot_grow_the_daemon() {
    use std::io::Write;
    let env = Env::new();
    let daemon = env.start_daemon();
    let senders: Vec<_> = (0..16)
        .map(|_| {
            let socket = env.socket();
            std::thread::spawn(move || {
                let mut client = std::os::unix::net::UnixStream::connect(socket).unwrap();
                let chunk = vec![b'x'; 1 << 20];
                // 24 MiB without a newline, unless the daemon hangs up first.
                for _ in 0..24 {
                    if client.write_all(&chunk).is_err() {
                        break;
                    }
                }
                client
            })
        })
        .collect();
    let held: Vec<_> = senders.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(env.kairos(&["status"]).status.success(), "the daemon stopped answering");
    let peak = daemon.peak_rss_kib();
    assert!(peak < 100 * 1024, "16 clients took the daemon to {peak} KiB");
    drop(held);
}

#[test]
fn a_policies_directory_that_cannot_be_watched_is_shown_and_its_return_is_seen() {
    let env = Env::new();
    let policies = env.path("config/kairos/policies");
    std::fs::create_dir_all(policies.parent().unwrap()).unwrap();
    // A dotfiles link whose target is not there (not mounted, not cloned yet).
    std::os::unix::fs::symlink(env.path("elsewhere/policies"), &policies).unwrap();
    let daemon = env.start_daemon();
    let problem = env.json(&["status", "--json"])["reload_problem"].as_str().unwrap().to_owned();
    assert!(problem.contains("cannot watch") && problem.contains("policies"), "{problem}");
    assert!(env.ok(&["status"]).contains("next restart"), "the human status hides it");

    // The target appears with a policy in it: watched from then on.
    std::fs::create_dir_all(env.path("elsewhere/policies")).unwrap();
    std::fs::remove_file(&policies).unwrap();
    std::fs::create_dir_all(&policies).unwrap();
    write_policy(
        &env,
        "p.toml",
        "[[rule]]\nid = \"p\"\naction = \"git.fetch\"\nautonomy = \"off\"\n",
    );
    let explain = || env.json(&["policy", "explain", "--json", "--action", "git.fetch"]);
    wait_for("the new policy", || (explain()["autonomy"] == "off").then_some(()), &daemon);
    assert!(env.json(&["status", "--json"])["reload_problem"].is_null());
}
