use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;

use crate::common::*;

#[test]
fn the_cli_says_when_the_daemon_is_not_running() {
    let env = Env::new();
    let out = env.kairos(&["queue"]);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(err.contains("daemon is not running"), "{err}");
    assert!(err.contains("kairos daemon"), "no hint on how to start it: {err}");
}

#[test]
fn the_socket_is_the_users_alone() {
    let env = Env::new();
    let _daemon = env.start_daemon();
    let dir = std::fs::metadata(env.path("run/kairos")).unwrap();
    assert_eq!(dir.permissions().mode() & 0o777, 0o700);
    let socket = std::fs::metadata(env.socket()).unwrap();
    assert_eq!(socket.permissions().mode() & 0o777, 0o600);
}

#[test]
fn a_client_of_another_protocol_version_gets_a_clear_error() {
    let env = Env::new();
    let _daemon = env.start_daemon();
    let mut stream = UnixStream::connect(env.socket()).unwrap();
    stream.write_all(b"{\"hello\":{\"protocol\":999,\"version\":\"9.9.9\",\"pid\":1}}\n").unwrap();
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line).unwrap();
    let reply: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(reply["response"], "error", "{reply}");
    assert_eq!(reply["error"]["code"], "protocol_mismatch");
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(message.contains("protocol 999") && message.contains("protocol 2"), "{message}");
    // The daemon is unharmed.
    assert!(env.kairos(&["status"]).status.success());
}

#[test]
fn kill_9_loses_nothing_and_the_queue_survives_a_restart() {
    let env = Env::new();
    let repo = env.repo("work");
    repo.merged_branch("one");
    repo.merged_branch("two");
    env.ok(&["watch", repo.str()]);
    let mut daemon = env.start_daemon();
    let before =
        wait_for("two proposals", || Some(env.queue(false)).filter(|q| q.len() == 2), &daemon);
    let first = before[0]["id"].as_u64().unwrap().to_string();
    env.ok(&["reject", &first]);

    daemon.kill9();
    assert!(env.socket().exists(), "a killed daemon cannot remove its socket");
    let _daemon = env.start_daemon();
    let after = env.queue(false);
    assert_eq!(after.len(), 1);
    assert_eq!(after[0]["id"], before[1]["id"]);
    assert_eq!(after[0]["fingerprint"], before[1]["fingerprint"]);
    assert_eq!(env.json(&["show", &first, "--json"])["state"], "rejected");
}

#[test]
fn a_second_daemon_is_refused_clearly() {
    let env = Env::new();
    let _daemon = env.start_daemon();
    let out = env.kairos(&["daemon"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("already running"), "{}", stderr(&out));
}

#[test]
fn with_nothing_registered_it_watches_the_repository_it_started_in() {
    let env = Env::new();
    let repo = env.repo("here");
    let daemon = env.start_daemon_in(&repo.path);
    let status = wait_for(
        "the repository's next runs",
        || {
            Some(env.json(&["status", "--json"]))
                .filter(|s| s["repos"][0]["next_runs"].as_array().is_some_and(|n| !n.is_empty()))
        },
        &daemon,
    );
    let repos = status["repos"].as_array().unwrap();
    assert_eq!(repos.len(), 1, "{status}");
    assert_eq!(repos[0]["path"], repo.str());
    assert_eq!(repos[0]["registered"], false);
    assert_eq!(repos[0]["state"], "ok");
    let next = repos[0]["next_runs"].as_array().unwrap();
    assert!(next.iter().any(|n| n["task"] == "prune-branches"), "{status}");
}

#[test]
fn watch_refuses_what_is_not_a_repository_and_unknown_ids_are_explained() {
    let env = Env::new();
    let plain = env.path("plain");
    std::fs::create_dir_all(&plain).unwrap();
    // Without a daemon (registry edited directly)...
    let out = env.kairos(&["watch", plain.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not inside a git repository"), "{}", stderr(&out));
    // ...and with one.
    let _daemon = env.start_daemon();
    let out = env.kairos(&["watch", plain.to_str().unwrap(), "/definitely/not/here"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("not inside a git repository") && err.contains("does not exist"), "{err}");

    for args in
        [&["show", "4242"][..], &["approve", "4242"], &["reject", "4242"], &["undo", "4242"]]
    {
        let out = env.kairos(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr(&out).contains("no proposal #4242"), "{args:?}: {}", stderr(&out));
    }
    assert!(env.kairos(&["status"]).status.success());
}

#[test]
fn a_broken_config_is_located_and_the_last_good_one_stays_in_force() {
    let env = Env::new();
    let repo = env.repo("work");
    env.write_config("[tasks.snapshot]\nquiet = \"300ms\"\n");
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();

    env.write_config("[tasks.snapshot]\nquiet = \"300ms\"\n\n[tasks.prune-branches]\nschedule = \"61 * * * *\"\n");
    let error = wait_for(
        "the config error in status",
        || env.json(&["status", "--json"])["config_error"].as_str().map(str::to_owned),
        &daemon,
    );
    assert!(error.contains("config.toml:5:12"), "{error}");
    assert!(error.contains("invalid cron expression"), "{error}");

    // Still on the last good settings: a quick snapshot.
    repo.write("README.md", "edited\n");
    wait_for(
        "a snapshot under the last good settings",
        || repo.rev("refs/kairos/snapshots/main"),
        &daemon,
    );

    env.write_config("[tasks.snapshot]\nquiet = \"300ms\"\n");
    wait_for(
        "the error to clear",
        || env.json(&["status", "--json"])["config_error"].is_null().then_some(()),
        &daemon,
    );
    let log = env.ok(&["log", "-n", "200"]);
    assert!(log.contains("config not reloaded"), "{log}");
}

#[test]
fn a_broken_config_at_start_runs_on_defaults_and_says_so() {
    let env = Env::new();
    env.broken_config_expected.store(true, std::sync::atomic::Ordering::SeqCst);
    env.write_config("[tasks.snapshot]\nquiet = 30\n");
    let _daemon = env.start_daemon();
    let status = env.json(&["status", "--json"]);
    let error = status["config_error"].as_str().unwrap();
    assert!(error.contains("config.toml:2:9"), "{error}");
    let human = env.ok(&["status"]);
    assert!(human.contains("last good settings stay in force"), "{human}");
}

#[test]
fn a_deleted_repository_is_shown_missing_and_the_daemon_goes_on() {
    let env = Env::new();
    let gone = env.repo("gone");
    let kept = env.repo("kept");
    env.write_config("[tasks.snapshot]\nquiet = \"300ms\"\n");
    env.ok(&["watch", gone.str(), kept.str()]);
    let daemon = env.start_daemon();
    std::fs::remove_dir_all(&gone.path).unwrap();

    let reason = wait_for(
        "the repository to be shown missing",
        || {
            let status = env.json(&["status", "--json"]);
            let repo =
                status["repos"].as_array()?.iter().find(|r| r["path"] == gone.str())?.clone();
            (repo["state"] == "missing")
                .then(|| repo["reason"].as_str().unwrap_or_default().to_owned())
        },
        &daemon,
    );
    assert!(reason.contains("no longer exists"), "{reason}");

    // The other repository is still served.
    kept.write("README.md", "still watched\n");
    wait_for(
        "a snapshot in the other repository",
        || kept.rev("refs/kairos/snapshots/main"),
        &daemon,
    );

    let out = env.kairos(&["unwatch", gone.str()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let status = env.json(&["status", "--json"]);
    assert_eq!(status["repos"].as_array().unwrap().len(), 1, "{status}");
}

#[test]
fn the_log_follows_events_and_speaks_json() {
    let env = Env::new();
    let repo = env.repo("work");
    env.write_config("[tasks.snapshot]\nquiet = \"300ms\"\n");
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();
    let mut follower = env
        .cmd(&["log", "--follow", "--json", "-n", "0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(follower.stdout.take().unwrap()).lines();
    repo.git(&["branch", "fresh"]);
    let seen = wait_for(
        "the branch event in the followed log",
        || {
            let line = lines.next()?.ok()?;
            let entry: serde_json::Value = serde_json::from_str(&line).ok()?;
            (entry["kind"] == "event"
                && entry["message"].as_str()?.contains("branch fresh created"))
            .then_some(entry)
        },
        &daemon,
    );
    assert_eq!(seen["repo"], repo.str());
    let _ = follower.kill();
    let _ = follower.wait();
}

#[test]
fn sigterm_stops_cleanly_and_removes_the_socket() {
    let env = Env::new();
    let mut daemon = env.start_daemon();
    assert!(daemon.stop(), "the daemon did not exit cleanly:\n{}", daemon.log_text());
    assert!(!env.socket().exists());
}

#[test]
fn service_install_writes_the_unit_and_prints_commands_without_systemctl() {
    let env = Env::new();
    let service = |action: &str| {
        env.cmd(&["service", action])
            .env("KAIROS_SYSTEMCTL", env.path("no-systemctl-here"))
            .output()
            .unwrap()
    };
    let out = service("install");
    assert!(out.status.success(), "{}", stderr(&out));
    let unit = std::fs::read_to_string(env.path("config/systemd/user/kairos.service")).unwrap();
    assert!(unit.contains(&format!("ExecStart={KAIROS} daemon")), "{unit}");
    assert!(unit.contains("Type=notify"));
    let text = stdout(&out);
    assert!(text.contains("systemctl --user enable --now kairos.service"), "{text}");

    let out = service("uninstall");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!env.path("config/systemd/user/kairos.service").exists());
}

#[test]
fn idle_and_cron_triggers_run_their_tasks() {
    let env = Env::new();
    let repo = env.repo("work");
    // Six fields: every second, so the test sees it fire without waiting a minute.
    env.write_config(
        "[daemon]\nidle = \"500ms\"\n\n[tasks.snapshot]\nquiet = \"200ms\"\n\n[tasks.prune-branches]\nschedule = \"* * * * * *\"\ntimezone = \"UTC\"\n",
    );
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();
    wait_for(
        "the schedule to fire",
        || env.ok(&["log", "-n", "200"]).contains("prune-branches (schedule)").then_some(()),
        &daemon,
    );
    repo.write("README.md", "edited\n");
    let log = wait_for(
        "the idle trigger",
        || {
            let log = env.ok(&["log", "-n", "500"]);
            log.contains("prune-branches (idle)").then_some(log)
        },
        &daemon,
    );
    assert!(log.contains("idle: no file changes for a while"), "{log}");
}
