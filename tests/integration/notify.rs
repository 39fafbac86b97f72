//! Desktop notifications under a real D-Bus session bus, with a notification server the
//! suite provides; the webhook against a local HTTP server.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use crate::bus::{Bus, NotificationServer, forge_press};
use crate::common::*;

const QUICK: &str =
    "[tasks.snapshot]\nenabled = false\n\n[notify]\nbatch = \"300ms\"\nreconnect = \"300ms\"\n";

fn desktop(env: &Env) -> (Bus, NotificationServer) {
    let bus = Bus::start(None);
    let server = NotificationServer::start(&bus.address);
    *env.bus.lock().unwrap() = Some(bus.address.clone());
    (bus, server)
}

/// A repository `api-server` with merged `branches` (each one a proposal), watched on
/// the quick notifier settings, and the daemon started.
fn watched_with_merged(env: &Env, branches: &[&str]) -> (Repo, Daemon) {
    let repo = env.repo("api-server");
    for b in branches {
        repo.merged_branch(b);
    }
    env.write_config(QUICK);
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();
    (repo, daemon)
}

/// Waits until kairos asked the server to close notification `id`.
fn wait_closed(server: &NotificationServer, id: u32, daemon: &Daemon) {
    wait_for(
        &format!("notification {id} to be closed"),
        || server.closed().contains(&id).then_some(()),
        daemon,
    );
}

fn wait_calls(server: &NotificationServer, n: usize, daemon: &Daemon) -> Vec<crate::bus::Call> {
    wait_for(
        &format!("{n} notifications"),
        || Some(server.calls()).filter(|c| c.len() >= n),
        daemon,
    )
}

#[test]
fn a_waiting_proposal_pops_up_with_three_buttons_and_approve_applies_it() {
    let env = Env::new();
    let (_bus, server) = desktop(&env);
    let (repo, daemon) = watched_with_merged(&env, &["done"]);
    let call = wait_calls(&server, 1, &daemon).remove(0);
    assert_eq!(call.app, "kairos");
    assert!(
        call.summary.contains("api-server") && call.summary.contains("delete merged branch done"),
        "{call:?}"
    );
    assert!(call.body.contains("fully merged"), "{call:?}");
    assert_eq!(call.actions, ["approve", "Approve", "reject", "Reject", "show", "Show"]);
    assert_eq!(call.urgency, Some(1), "a reversible change is of normal urgency");

    server.press(call.id, "approve");
    // The state is recorded after the branch is gone: wait for the state.
    let p = wait_for(
        "the approval from the notification to be applied",
        || env.queue(true).into_iter().find(|p| p["state"] == "applied"),
        &daemon,
    );
    assert_eq!(repo.rev("refs/heads/done"), None);
    assert_eq!(p["history"][1]["by"]["kind"], "user");
    assert!(env.ok(&["log", "-n", "50"]).contains("notification button \"approve\" pressed for #"));
}

#[test]
fn a_forged_button_press_is_ignored() {
    let env = Env::new();
    let (bus, server) = desktop(&env);
    let repo = env.repo("work");
    repo.merged_branch("keep");
    env.write_config(QUICK);
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();
    let call = wait_calls(&server, 1, &daemon).remove(0);
    forge_press(&bus.address, call.id, "approve");
    // A genuine press on another button afterwards proves the daemon heard the bus.
    server.press(call.id, "show");
    wait_for(
        "the genuine press",
        || env.ok(&["log", "-n", "50"]).contains("pressed for").then_some(()),
        &daemon,
    );
    assert!(repo.rev("refs/heads/keep").is_some(), "a forged approve deleted the branch");
    assert_eq!(env.queue(false).len(), 1);
    let log = env.ok(&["log", "-n", "50"]);
    assert!(!log.contains("button \"approve\""), "{log}");
    assert!(log.contains("run `kairos show"), "show should say where to look: {log}");
}

#[test]
fn several_proposals_at_once_become_one_notification() {
    let env = Env::new();
    let (_bus, server) = desktop(&env);
    let (_repo, daemon) = watched_with_merged(&env, &["a", "b", "c"]);
    let calls = wait_calls(&server, 1, &daemon);
    assert_eq!(calls[0].summary, "3 proposals in api-server");
    server.press(calls[0].id, "approve");
    wait_for("all three applied", || (env.queue(false).is_empty()).then_some(()), &daemon);
    assert_eq!(server.calls().len(), 1, "no duplicates: {:?}", server.calls());
}

#[test]
fn a_proposal_decided_from_the_command_line_takes_its_popup_with_it() {
    let env = Env::new();
    let (_bus, server) = desktop(&env);
    let (_repo, daemon) = watched_with_merged(&env, &["done"]);
    let popup = wait_calls(&server, 1, &daemon).remove(0);
    let id = env.queue(false)[0]["id"].as_u64().unwrap().to_string();
    env.ok(&["approve", &id]);
    wait_closed(&server, popup.id, &daemon);
    assert_eq!(server.calls().len(), 1, "closed, not shown again: {:?}", server.calls());
}

#[test]
fn after_a_restart_the_popups_left_on_screen_keep_working_and_go_when_decided() {
    let env = Env::new();
    let (_bus, server) = desktop(&env);
    let (_repo, mut daemon) = watched_with_merged(&env, &["a", "b"]);
    let batch = wait_calls(&server, 1, &daemon).remove(0);
    assert_eq!(batch.summary, "2 proposals in api-server");
    assert!(daemon.stop(), "the daemon did not stop");

    // A new daemon: once it has reached the desktop (and taken back what it left there),
    // the popup from before still has working buttons.
    let daemon = env.start_daemon();
    wait_for(
        "the notifier to reach the desktop",
        || {
            env.json(&["status", "--json"])["notifier"]
                .to_string()
                .contains("desktop: connected")
                .then_some(())
        },
        &daemon,
    );
    server.press(batch.id, "reject");
    wait_for("both rejected", || env.queue(false).is_empty().then_some(()), &daemon);
    assert_eq!(server.calls().len(), 1, "shown again after the restart: {:?}", server.calls());
}

#[test]
fn a_popup_whose_proposal_was_settled_while_kairos_was_down_is_closed_at_start() {
    let env = Env::new();
    let (_bus, server) = desktop(&env);
    let (repo, mut daemon) = watched_with_merged(&env, &["done"]);
    let popup = wait_calls(&server, 1, &daemon).remove(0);
    assert!(daemon.stop(), "the daemon did not stop");
    // While it is down, the user deletes the branch themselves.
    repo.git(&["branch", "-q", "-D", "done"]);
    let daemon = env.start_daemon();
    wait_closed(&server, popup.id, &daemon);
    assert_eq!(server.calls().len(), 1, "{:?}", server.calls());
}

#[test]
fn a_popup_goes_when_its_proposal_turns_stale() {
    let env = Env::new();
    let (_bus, server) = desktop(&env);
    let (repo, daemon) = watched_with_merged(&env, &["topic"]);
    let popup = wait_calls(&server, 1, &daemon).remove(0);
    let id = env.queue(false)[0]["id"].to_string();
    // The user commits on the branch: approving finds it stale, and its popup goes.
    repo.git(&["checkout", "-q", "topic"]);
    repo.commit_file("more.txt", "more", "more work");
    repo.git(&["checkout", "-q", "main"]);
    assert!(!env.kairos(&["approve", &id]).status.success());
    wait_closed(&server, popup.id, &daemon);
    assert_eq!(env.json(&["show", &id, "--json"])["state"], "stale");
}

#[test]
fn a_batch_popup_is_made_again_as_its_members_are_decided_and_closed_with_the_last() {
    let env = Env::new();
    let (_bus, server) = desktop(&env);
    let (_repo, daemon) = watched_with_merged(&env, &["a", "b", "c"]);
    let batch = wait_calls(&server, 1, &daemon).remove(0);
    assert_eq!(batch.summary, "3 proposals in api-server");
    let ids: Vec<String> =
        env.queue(false).iter().map(|p| p["id"].as_u64().unwrap().to_string()).collect();
    env.ok(&["reject", &ids[0], "--reason", "keep it"]);
    let again = wait_calls(&server, 2, &daemon).remove(1);
    assert_eq!((again.id, again.replaces), (batch.id, batch.id), "replaced in place: {again:?}");
    assert_eq!(again.summary, "2 proposals in api-server");
    assert!(!again.body.contains("branch a"), "{again:?}");
    env.ok(&["approve", &ids[1]]);
    let one = wait_calls(&server, 3, &daemon).remove(2);
    assert_eq!(one.replaces, batch.id);
    assert!(one.summary.contains("delete merged branch c"), "{one:?}");
    assert_eq!(one.actions, ["approve", "Approve", "reject", "Reject", "show", "Show"]);
    env.ok(&["approve", &ids[2]]);
    wait_closed(&server, batch.id, &daemon);
    assert_eq!(server.calls().len(), 3, "{:?}", server.calls());
}

#[test]
fn a_proposal_the_user_carried_out_themselves_is_done_and_its_popup_closed() {
    let env = Env::new();
    let (_bus, server) = desktop(&env);
    let repo = crate::patch::cargo_project(&env);
    env.write_config(&format!("{QUICK}\n[tasks.format]\nquiet = \"300ms\"\n"));
    let daemon = env.start_daemon();
    repo.write("src/main.rs", "fn main(){let x=1;\n    println!(\"{}\",x);}\n");
    let popup = wait_calls(&server, 1, &daemon).remove(0);
    assert!(popup.summary.contains("format src/main.rs (rustfmt)"), "{popup:?}");
    assert!(popup.body.starts_with("rustfmt would reformat src/main.rs ("), "{popup:?}");
    let id = env.queue(false)[0]["id"].to_string();

    // The developer runs the formatter: the file becomes what kairos proposed.
    let rustfmt = std::process::Command::new("rustfmt")
        .args(["--edition", "2021", "src/main.rs"])
        .current_dir(&repo.path)
        .status()
        .unwrap();
    assert!(rustfmt.success());
    let shown = wait_for(
        "the proposal to be found done",
        || Some(env.json(&["show", &id, "--json"])).filter(|p| p["state"] != "pending"),
        &daemon,
    );
    assert_eq!(shown["state"], "done", "{shown}");
    let last = shown["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["note"], "already in place: src/main.rs", "{shown}");
    wait_closed(&server, popup.id, &daemon);
    assert!(env.ok(&["log", "-n", "50"]).contains(&format!("#{id} is done already")));
}

#[test]
fn quiet_hours_hold_notifications_and_release_one_digest() {
    use chrono::Timelike;
    let env = Env::new();
    let (_bus, server) = desktop(&env);
    let repo = env.repo("work");
    repo.merged_branch("one");
    repo.merged_branch("two");
    let now = chrono::Local::now();
    let (from, to) = (now - chrono::Duration::minutes(5), now + chrono::Duration::minutes(90));
    let quiet =
        format!("{:02}:{:02}-{:02}:{:02}", from.hour(), from.minute(), to.hour(), to.minute());
    let policies = env.path("config/kairos/policies");
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::write(policies.join("quiet.toml"), format!("[defaults]\nquiet_hours = \"{quiet}\"\n"))
        .unwrap();
    env.write_config(QUICK);
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();
    wait_for("two proposals", || (env.queue(false).len() == 2).then_some(()), &daemon);
    std::thread::sleep(std::time::Duration::from_millis(800));
    assert!(
        server.calls().is_empty(),
        "a notification popped up during quiet hours: {:?}",
        server.calls()
    );

    // Quiet hours end (here: the policy drops them): one digest of what happened.
    std::fs::write(policies.join("quiet.toml"), "[defaults]\nmax_auto_per_hour = 20\n").unwrap();
    let calls = wait_calls(&server, 1, &daemon);
    assert!(
        calls[0].summary.starts_with("While you were away: 2 waiting for you"),
        "{:?}",
        calls[0]
    );
    assert!(calls[0].body.contains("one") && calls[0].body.contains("two"), "{:?}", calls[0]);
    std::thread::sleep(std::time::Duration::from_millis(600));
    assert_eq!(server.calls().len(), 1);
}

#[test]
fn without_a_bus_the_daemon_goes_on_and_reconnects_when_it_appears() {
    let env = Env::new();
    let socket = env.path("late-bus");
    *env.bus.lock().unwrap() = Some(format!("unix:path={}", socket.display()));
    let repo = env.repo("work");
    repo.merged_branch("done");
    env.write_config(QUICK);
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();
    wait_for("the proposal", || env.queue(false).first().cloned(), &daemon);
    let status = env.json(&["status", "--json"]);
    let states = status["notifier"].to_string();
    assert!(states.contains("desktop: unavailable"), "{states}");
    // The test says which sink could not be reached, and fails for it.
    let out = env.kairos(&["notify", "test"]);
    assert!(!out.status.success());
    assert!(stdout(&out).contains("log: sent"), "{}", stdout(&out));
    assert!(stderr(&out).contains("desktop: not sent: no session bus"), "{}", stderr(&out));

    let bus = Bus::start(Some(&socket));
    let server = NotificationServer::start(&bus.address);
    wait_for(
        "the notifier to reconnect",
        || {
            env.json(&["status", "--json"])["notifier"]
                .to_string()
                .contains("desktop: connected")
                .then_some(())
        },
        &daemon,
    );
    let out = env.ok(&["notify", "test"]);
    assert!(out.contains("desktop: sent"), "{out}");
    // The proposal that waited while there was no bus pops up once the bus is back; it may
    // arrive before or after the test notification.
    wait_for(
        "the waiting proposal and the test to pop up",
        || {
            let calls = server.calls();
            let has = |summary: &str| calls.iter().any(|c| c.summary == summary);
            (has("kairos: test notification") && has("work: delete merged branch done (#1)"))
                .then_some(())
        },
        &daemon,
    );
}

/// Each request's head and body, as the test server received them.
type Requests = Arc<Mutex<Vec<(String, String)>>>;

/// A tiny HTTP server that records each request's head and body.
fn http_server() -> (String, Requests) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/kairos-topic", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(20) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                head.push_str(&line);
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            record.lock().unwrap().push((head, String::from_utf8_lossy(&body).into_owned()));
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
        }
    });
    (url, seen)
}

#[test]
fn the_webhook_sink_posts_ntfy_style_with_its_token() {
    let env = Env::new();
    let (url, seen) = http_server();
    let token = env.path("token");
    std::fs::write(&token, "s3cret-token\n").unwrap();
    std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let repo = env.repo("api-server");
    repo.merged_branch("done");
    env.write_config(&format!(
        "{QUICK}desktop = false\n\n[notify.webhook]\nurl = \"{url}\"\ntoken_file = \"{}\"\n",
        token.display()
    ));
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();
    let (head, body) =
        wait_for("a webhook request", || seen.lock().unwrap().first().cloned(), &daemon);
    assert!(head.starts_with("POST /kairos-topic"), "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("authorization: bearer s3cret-token"), "{head}");
    assert!(lower.contains("title: api-server: delete merged branch done"), "{head}");
    assert!(lower.contains("priority: 3"), "{head}");
    assert!(body.contains("fully merged"), "{body}");
    let out = env.ok(&["notify", "test"]);
    assert!(out.contains("webhook: sent") && out.contains("desktop: off"), "{out}");
    assert!(!daemon.log_text().contains("s3cret-token"), "the token reached the log");
}

#[test]
fn notify_settings_take_effect_without_a_restart() {
    let env = Env::new();
    let (first, first_seen) = http_server();
    let (second, second_seen) = http_server();
    let config =
        |url: &str| format!("{QUICK}desktop = false\n\n[notify.webhook]\nurl = \"{url}\"\n");
    env.write_config(&config(&first));
    let daemon = env.start_daemon();
    assert!(env.ok(&["notify", "test"]).contains("webhook: sent"));
    assert_eq!(first_seen.lock().unwrap().len(), 1);

    env.write_config(&config(&second));
    wait_for(
        "the new webhook",
        || {
            let _ = env.kairos(&["notify", "test"]);
            (!second_seen.lock().unwrap().is_empty()).then_some(())
        },
        &daemon,
    );
}
