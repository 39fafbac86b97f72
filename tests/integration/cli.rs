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
    repo.merged_branch("kept-for-a-long-while");
    env.write_config("[tasks.snapshot]\nenabled = false\n");
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();
    let first = wait_for(
        "two proposals",
        || {
            let q = env.queue(false);
            (q.len() == 2).then(|| q[0]["id"].to_string())
        },
        &daemon,
    );
    env.ok(&["reject", &first]);
    // Coloured, the columns still line up: escapes are not counted as width.
    let coloured = env.ok(&["queue", "--all", "--color", "always"]);
    let plain: Vec<String> = coloured
        .lines()
        .map(|l| {
            l.replace("\u{1b}[33m", "")
                .replace("\u{1b}[2m", "")
                .replace("\u{1b}[0m", "")
                .replace("\u{1b}[31m", "")
        })
        .filter(|l| l.contains("delete merged branch"))
        .collect();
    assert_eq!(plain.len(), 2, "{coloured}");
    assert_eq!(plain[0].find("delete merged"), plain[1].find("delete merged"), "{plain:?}");
    assert!(coloured.contains("\u{1b}[2mrejected"), "{coloured}");
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

/// A real terminal: tmux on a private socket, running one kairos command.
struct Terminal {
    socket: std::path::PathBuf,
}

impl Terminal {
    fn start(env: &Env, args: &[&str]) -> Terminal {
        let command = env.cmd(args);
        let mut line = String::from("exec env -i");
        for (key, value) in command.get_envs() {
            if let Some(value) = value {
                line.push_str(&format!(" {}='{}'", key.to_string_lossy(), value.to_string_lossy()));
            }
        }
        line.push_str(" TERM=xterm-256color");
        line.push_str(&format!(" '{}'", command.get_program().to_string_lossy()));
        for arg in command.get_args() {
            line.push_str(&format!(" '{}'", arg.to_string_lossy()));
        }
        let script = env.path("terminal.sh");
        std::fs::write(&script, format!("cd '{}'\n{line}\n", env.path("").display())).unwrap();
        let terminal = Terminal { socket: env.path("tmux.sock") };
        // The pane stays once the command ends, so its last screen can still be read.
        let script = script.to_str().unwrap();
        terminal.tmux(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-x",
            "160",
            "-y",
            "60",
            "sh",
            "-c",
            "sleep 600",
        ]);
        terminal.tmux(&["set-option", "-g", "remain-on-exit", "on"]);
        terminal.tmux(&["respawn-pane", "-k", "sh", script]);
        terminal
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .env_remove("TMUX")
            .output()
            .expect("tmux is installed (.ci/run installs it)");
        assert!(out.status.success(), "tmux {args:?}: {}", stderr(&out));
        stdout(&out)
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-S", "-200"])
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    fn wait_for(&self, text: &str, daemon: &Daemon) -> String {
        wait_for(
            &format!("the terminal to show {text:?}"),
            || Some(self.screen()).filter(|s| s.contains(text)),
            daemon,
        )
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = std::process::Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}

#[test]
fn review_walks_the_queue_in_a_terminal_and_refuses_without_one() {
    let env = Env::new();
    let repo = env.repo("work");
    repo.merged_branch("first");
    repo.merged_branch("second");
    repo.merged_branch("third");
    env.write_config("[tasks.snapshot]\nenabled = false\n");
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();
    wait_for("three proposals", || (env.queue(false).len() == 3).then_some(()), &daemon);

    // Not a terminal: refused, saying what works instead.
    let out = env.kairos(&["review"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not one") && stderr(&out).contains("kairos approve"),
        "{}",
        stderr(&out)
    );

    let terminal = Terminal::start(&env, &["review"]);
    terminal.wait_for("1 of 3", &daemon);
    let screen = terminal.wait_for("[a,A,r,s,d,u,q,?]?", &daemon);
    assert!(screen.contains("delete merged branch first") && screen.contains("why:"), "{screen}");
    // Help, then approve the first.
    terminal.keys(&["?"]);
    terminal.wait_for("approve always", &daemon);
    terminal.keys(&["a"]);
    terminal.wait_for("2 of 3", &daemon);
    wait_for(
        "the first branch gone",
        || repo.rev("refs/heads/first").is_none().then_some(()),
        &daemon,
    );
    // Undo it: the branch is back.
    terminal.keys(&["u"]);
    wait_for("the first branch back", || repo.rev("refs/heads/first").map(|_| ()), &daemon);
    // Reject the second, with a reason typed in.
    terminal.keys(&["r"]);
    terminal.wait_for("reason", &daemon);
    terminal.keys(&["-l", "still in use"]);
    terminal.keys(&["Enter"]);
    terminal.wait_for("3 of 3", &daemon);
    // Quit before the third.
    terminal.keys(&["q"]);
    terminal.wait_for("decided in this walk", &daemon);

    let all = env.queue(true);
    let state = |title: &str| {
        all.iter().find(|p| p["title"].as_str().unwrap().ends_with(title)).unwrap()["state"].clone()
    };
    assert_eq!(state("first"), "undone", "{all:?}");
    assert_eq!(state("second"), "rejected", "{all:?}");
    assert_eq!(state("third"), "pending", "{all:?}");
    let second = all.iter().find(|p| p["title"].as_str().unwrap().ends_with("second")).unwrap();
    let history = second["history"].to_string();
    assert!(history.contains("still in use") && history.contains("\"user\""), "{history}");
}

#[test]
fn a_long_run_says_on_the_terminal_what_runs_and_for_how_long() {
    let env = Env::new();
    let repo = env.repo("work");
    env.write_config(
        "[tasks.snapshot]\nenabled = false\n\n[tasks.slow]\nrun = [\"sleep\", \"3\"]\non = [\"cron:0 0 1 1 *\"]\noutput = \"notice\"\n",
    );
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();
    let terminal = Terminal::start(&env, &["run", "slow", "--repo", repo.str()]);
    // The step the daemon reports, as it happens, and the time it has been running.
    terminal.wait_for("running slow in work: running `sleep 3`… 1 second", &daemon);
    terminal.wait_for("running slow in work: running `sleep 3`… 2 seconds", &daemon);
    // Done: the line is gone and the outcome is there.
    let screen = terminal.wait_for("notice", &daemon);
    let last = screen.lines().rfind(|l| !l.trim().is_empty()).unwrap_or_default().to_owned();
    assert!(!last.contains("running slow"), "{screen}");
    // Piped, it says nothing of the kind.
    let out = env.kairos(&["run", "slow", "--repo", repo.str()]);
    assert!(!stderr(&out).contains("running slow"), "{}", stderr(&out));
}

#[test]
fn config_show_tells_where_each_setting_came_from() {
    let env = Env::new();
    let shown = env.json(&["config", "show", "--json"]);
    assert_eq!(shown["exists"], false);
    let settings = shown["settings"].as_array().unwrap();
    assert!(settings.iter().all(|s| s["origin"]["from"] == "default"), "{shown:#}");

    let repo = env.repo("home/api");
    env.write_config(
        "[daemon]\nidle = \"10m\"\n\n[tasks.format]\nquiet = \"5s\"\n\n\
         [repos.\"~/api\".tasks.format]\nenabled = false\n",
    );
    let shown = env.json(&["config", "show", "--json"]);
    let find = |key: &str, repo: Option<&str>| {
        shown["settings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == key && s["repo"].as_str() == repo)
            .unwrap_or_else(|| panic!("no {key} in {shown:#}"))
            .clone()
    };
    assert_eq!(find("daemon.idle", None)["origin"], serde_json::json!({"from": "file", "line": 2}));
    assert_eq!(find("daemon.idle", None)["value"], "10m");
    assert_eq!(find("tasks.format.quiet", None)["origin"]["line"], 5);
    assert_eq!(find("tasks.snapshot.quiet", None)["origin"]["from"], "default");
    let over = find("tasks.format.enabled", Some(repo.str()));
    assert_eq!(over["value"], false);
    assert_eq!(over["origin"], serde_json::json!({"from": "override", "line": 8}));

    let human = env.ok(&["config", "show"]);
    let line = human.lines().find(|l| l.starts_with("daemon.idle ")).unwrap();
    assert!(line.contains("\"10m\"") && line.ends_with("config.toml:2"), "{human}");
    assert!(human.contains(&format!("# in {}", repo.str())), "{human}");

    // A broken file is reported where it is broken, and nothing is shown as if it held.
    env.write_config("[daemon]\nidle = \"soon\"\n");
    let out = env.kairos(&["config", "show"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("config.toml:2:8"), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
}
