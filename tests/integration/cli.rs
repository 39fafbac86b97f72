//! The command line itself: completions, the man page, colour, and `kairos log`'s filters,
//! through the real binary.

use crate::common::*;

#[test]
fn completions_for_every_shell_and_a_man_page_come_from_the_commands() {
    let env = Env::new();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = env.ok(&["completions", shell]);
        assert!(script.contains("queue") && script.contains("approve"), "{shell}: {script}");
    }
    let out = env.kairos(&["completions", "tcsh"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("possible values"), "{}", stderr(&out));
    let page = env.ok(&["man"]);
    assert!(page.contains(".TH kairos 1"), "{page}");
    // A page for each command, with its options.
    assert!(page.contains(".TH kairos-log 1") && page.contains("\\-\\-since"), "{page}");
}

#[test]
fn colour_only_on_request_when_piped_and_never_with_no_color() {
    let env = Env::new();
    let repo = env.repo("work");
    repo.merged_branch("done");
    env.write_config("[tasks.snapshot]\nenabled = false\n");
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();
    wait_for("the proposal", || env.queue(false).first().cloned(), &daemon);
    // Piped (as here): plain unless asked.
    assert!(!env.ok(&["queue"]).contains('\u{1b}'));
    assert!(env.ok(&["queue", "--color", "always"]).contains("\u{1b}[33mpending"));
    let out = env.cmd(&["queue", "--color", "auto"]).env("NO_COLOR", "1").output().unwrap();
    assert!(!stdout(&out).contains('\u{1b}'));
    assert!(!env.ok(&["queue", "--color", "never"]).contains('\u{1b}'));
    // Times as people write them ("now", "3 seconds ago", never "3s ago").
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let queue = env.ok(&["queue"]);
    assert!(queue.contains(" second ago") || queue.contains(" seconds ago"), "{queue}");
}

#[test]
fn the_log_is_filtered_by_repository_task_kind_and_time() {
    let env = Env::new();
    let work = env.repo("work");
    let other = env.repo("other");
    work.merged_branch("done");
    env.write_config("[tasks.snapshot]\nquiet = \"200ms\"\n");
    env.ok(&["watch", work.str(), other.str()]);
    let daemon = env.start_daemon();
    wait_for("the proposal", || env.queue(false).first().cloned(), &daemon);
    other.write("notes.txt", "edited\n");
    wait_log(&env, "other snapshot (quiet): 1 applied", &daemon);

    let lines = |args: &[&str]| -> Vec<serde_json::Value> {
        let mut all = vec!["log", "-n", "500", "--json"];
        all.extend_from_slice(args);
        env.ok(&all).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    let runs = lines(&["--kind", "run", "--task", "prune-branches", "--repo", work.str()]);
    assert!(!runs.is_empty());
    for entry in &runs {
        assert_eq!(entry["kind"], "run", "{entry}");
        assert_eq!(entry["task"], "prune-branches", "{entry}");
        assert_eq!(entry["repo"].as_str(), Some(work.str()), "{entry}");
    }
    let events = lines(&["--kind", "event,decision", "--repo", other.str()]);
    assert!(events.iter().any(|e| e["kind"] == "event"), "{events:?}");
    assert!(events.iter().all(|e| e["repo"].as_str() == Some(other.str())), "{events:?}");
    assert!(events.iter().all(|e| e["kind"] == "event" || e["kind"] == "decision"), "{events:?}");
    let everything = lines(&[]).len();
    assert_eq!(lines(&["--since", "1h"]).len(), everything);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let asked = chrono::Utc::now();
    let recent = lines(&["--since", "1s"]);
    assert!(recent.len() < everything, "{recent:?}");
    for entry in &recent {
        let at: chrono::DateTime<chrono::Utc> = entry["at"].as_str().unwrap().parse().unwrap();
        assert!(at >= asked - chrono::Duration::seconds(2), "{entry}");
    }
    let out = env.kairos(&["log", "--repo", env.path("nowhere").to_str().unwrap()]);
    assert!(!out.status.success());

    // Following with a filter shows only what it lets through.
    let mut follow = env
        .cmd(&["log", "-n", "0", "--follow", "--json", "--repo", work.str()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let reader = std::io::BufReader::new(follow.stdout.take().unwrap());
    other.write("notes.txt", "edited again\n");
    work.write("README.md", "edited\n");
    let first = std::io::BufRead::lines(reader).next().unwrap().unwrap();
    let _ = follow.kill();
    let _ = follow.wait();
    let entry: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(entry["repo"].as_str(), Some(work.str()), "{entry}");
}

#[test]
fn the_doctor_names_each_check_and_fails_on_a_problem_until_it_is_fixed() {
    let env = Env::new();
    // Without a daemon: a problem, with what to do, and exit code 1.
    let out = env.kairos(&["doctor"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("problem  daemon"), "{}", stdout(&out));
    assert!(stdout(&out).contains("kairos service install"), "{}", stdout(&out));

    let bus = crate::bus::Bus::start(None);
    let _server = crate::bus::NotificationServer::start(&bus.address);
    *env.bus.lock().unwrap() = Some(bus.address.clone());
    let repo = env.repo("work");
    env.write_config("[tasks.snapshot]\nenabled = false\n");
    env.ok(&["watch", repo.str()]);
    write_policy(
        &env,
        "mine.toml",
        "[[rule]]\nid = \"x\"\naction = \"fs.patch\"\nautonomy = \"sometimes\"\n",
    );
    let daemon = env.start_daemon();
    wait_for(
        "the repository to be watched",
        || {
            (env.json(&["status", "--json"])["repos"][0]["watched_dirs"].as_u64() > Some(0))
                .then_some(())
        },
        &daemon,
    );
    let out = env.kairos(&["doctor", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let checks: Vec<serde_json::Value> = serde_json::from_str(&stdout(&out)).unwrap();
    let level = |name: &str| -> Vec<String> {
        checks
            .iter()
            .filter(|c| c["check"] == name)
            .map(|c| c["level"].as_str().unwrap().to_owned())
            .collect()
    };
    let detail =
        |name: &str| checks.iter().find(|c| c["check"] == name).unwrap()["detail"].to_string();
    assert_eq!(level("daemon"), ["ok"], "{checks:?}");
    assert_eq!(level("policies"), ["problem"], "{checks:?}");
    assert!(detail("policies").contains("mine.toml:4"), "{checks:?}");
    assert_eq!(level("repository"), ["ok"], "{checks:?}");
    assert!(detail("repository").contains("directories watched"), "{checks:?}");
    assert_eq!(level("notifications"), ["ok"], "{checks:?}");
    assert!(detail("notifications").contains("with buttons"), "{checks:?}");
    assert!(detail("inotify").contains("max_user_watches"), "{checks:?}");
    assert_eq!(level("git"), ["ok"], "{checks:?}");

    write_policy(
        &env,
        "mine.toml",
        "[[rule]]\nid = \"x\"\naction = \"fs.patch\"\nautonomy = \"propose\"\n",
    );
    let out = env.kairos(&["doctor"]);
    assert!(stdout(&out).contains("ok       policies"), "{}", stdout(&out));
    assert!(!stdout(&out).contains("problem"), "{}", stdout(&out));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}
