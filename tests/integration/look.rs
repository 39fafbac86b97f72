//! The proactive look (`tick`) through the real binary, against the scripted model
//! server: after activity then quiet, only when something changed in content, at most
//! every `min_interval`, never in quiet hours.

use crate::brain::{configure, next_run, runs_of, start_watching};
use crate::common::*;
use crate::llm_server::LlmServer;

#[test]
fn a_look_is_taken_after_activity_then_quiet_and_never_again_until_something_changes() {
    let server = LlmServer::start();
    let env = Env::new();
    let repo = env.repo("work");
    configure(&env, &server, "[tasks.tick]\nidle = \"1s\"\nmin_interval = \"1s\"\n");
    let daemon = start_watching(&env, &repo);

    repo.write("draft.md", "a first idea\n");
    wait_for("the look", || (server.count() == 1).then_some(()), &daemon);
    let look = &server.requests()[0];
    assert!(look.raw.contains("The developer has paused"), "{}", look.raw);
    assert!(look.raw.contains("draft.md") && look.raw.contains("+a first idea"), "{}", look.raw);
    // The whole picture: when, what happened, the queue, `git status`, the work itself.
    let body = look.body["messages"][1]["content"].as_str().unwrap_or_default().to_owned();
    let weekday = chrono::Local::now().format("%A").to_string();
    for part in [
        format!("It is {weekday} "),
        "<data source=\"events\">".into(),
        "<data source=\"queue\">\n(nothing)".into(),
        "<data source=\"git status\">\n?? draft.md\n</data>".into(),
        "<data source=\"uncommitted diff\">".into(),
    ] {
        assert!(body.contains(&part), "the look lacks {part:?}:\n{body}");
    }
    let ticks = next_run(&env, "tick", 0, &daemon);
    assert!(ticks.contains("nothing to do"), "an empty reply was not silence: {ticks}");

    // Idle far past `idle` and `min_interval`: no second look without a change.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(4);
    while std::time::Instant::now() < until {
        assert_eq!(server.count(), 1, "a look while nothing changed");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // Activity that changes nothing (the same bytes saved again, an edit undone): the
    // repository goes quiet again, and still nothing to look at.
    let idles = idle_events(&env);
    repo.write("draft.md", "a first idea\n");
    repo.write("scratch.txt", "gone soon\n");
    std::fs::remove_file(repo.path.join("scratch.txt")).unwrap();
    wait_for("the repository quiet again", || (idle_events(&env) > idles).then_some(()), &daemon);
    wait_for("the look that found nothing", || runs_of(&env, "tick").get(1).cloned(), &daemon);
    assert_eq!(server.count(), 1, "a look after a save that changed nothing");

    repo.write("draft.md", "a first idea\na second one\n");
    wait_for("the second look", || (server.count() == 2).then_some(()), &daemon);
    assert!(server.requests()[1].raw.contains("+a second one"));
    assert!(env.queue(true).is_empty());
}

fn idle_events(env: &Env) -> usize {
    env.ok(&["log", "-n", "500"]).matches("idle: no file changes").count()
}

#[test]
fn no_second_look_within_min_interval() {
    let server = LlmServer::start();
    let env = Env::new();
    let repo = env.repo("work");
    configure(&env, &server, "[tasks.tick]\nidle = \"1s\"\nmin_interval = \"1h\"\n");
    let daemon = start_watching(&env, &repo);
    repo.write("draft.md", "one\n");
    wait_for("the first look", || (server.count() == 1).then_some(()), &daemon);
    next_run(&env, "tick", 0, &daemon);
    // A real change, then quiet again: the look waits for the hour to pass.
    repo.write("draft.md", "two\n");
    next_run(&env, "tick", 1, &daemon);
    assert_eq!(server.count(), 1, "a second look within min_interval");
}

#[test]
fn no_look_during_quiet_hours() {
    let server = LlmServer::start();
    let env = Env::new();
    let repo = env.repo("work");
    configure(&env, &server, "[tasks.tick]\nidle = \"1s\"\nmin_interval = \"1s\"\n");
    write_policy(
        &env,
        "quiet.toml",
        &format!("[defaults]\nquiet_hours = \"{}\"\n", crate::policy::window_around_now()),
    );
    let daemon = start_watching(&env, &repo);
    let idles = idle_events(&env);
    repo.write("draft.md", "written at night\n");
    wait_for("the repository quiet", || (idle_events(&env) > idles).then_some(()), &daemon);
    let until = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while std::time::Instant::now() < until {
        assert_eq!(server.count(), 0, "a look during quiet hours");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
