//! What kairos remembers, through the real binary: the nightly consolidation and its
//! undo, the notes' commands, and the daily digest with and without a model.

use serde_json::{Value, json};

use crate::brain::{configure, notes, start_watching};
use crate::common::*;
use crate::llm_server::{LlmServer, Scripted};

#[test]
fn dream_consolidates_the_notes_and_undo_puts_the_old_ones_back() {
    let server = LlmServer::start();
    let env = Env::new();
    let repo = env.repo("work");
    configure(&env, &server, "");
    let _daemon = start_watching(&env, &repo);
    env.ok(&["memory", "add", "--repo", repo.str(), "tests live in tests/"]);
    env.ok(&["memory", "add", "--repo", repo.str(), "the user prefers small commits"]);
    env.ok(&["memory", "add", "answers in English"]);
    let before: Vec<Value> = notes(&env, &repo);
    assert_eq!(before.len(), 2);
    assert_eq!(before[0]["source"], "you");

    server.push(Scripted::Reply(json!({
        "remember": ["tests live in tests/ and commits are kept small"]
    })));
    env.ok(&["run", "dream", "--repo", repo.str()]);
    let sent = &server.requests()[0].raw;
    assert!(sent.contains("the user prefers small commits"), "the notes were not given");
    assert!(sent.contains("note #2 added by user"), "the day's log was not given: {sent}");
    assert!(sent.contains("The developer's own notes"), "{sent}");
    // Your own notes stay as you wrote them; the consolidation adds its own beside them.
    let after = notes(&env, &repo);
    assert_eq!(after.len(), 3, "{after:?}");
    assert_eq!(after[..2], before[..], "your notes were rewritten");
    assert_eq!(after[2]["text"], "tests live in tests/ and commits are kept small");
    assert_eq!(after[2]["source"], "dream");
    let exported = env.ok(&["memory", "export", "--repo", repo.str()]);
    assert!(
        exported.contains("- tests live in tests/ and commits are kept small <!-- #"),
        "{exported}"
    );

    env.ok(&["memory", "undo", "--repo", repo.str()]);
    assert_eq!(notes(&env, &repo), before);
    let again = env.kairos(&["memory", "undo", "--repo", repo.str()]);
    assert!(!again.status.success() && stderr(&again).contains("no consolidation to undo"));
    // The night after, with nothing new in the log, costs nothing.
    env.ok(&["run", "dream", "--repo", repo.str()]);
    assert_eq!(server.count(), 2, "{:?}", server.count());

    let found = env.json(&["memory", "search", "ENGLISH", "--json"]);
    assert_eq!(found[0]["repo"], "", "{found}");
    let id = before[1]["id"].to_string();
    // Ids are per repository: without --repo the global notes are meant, and the error
    // says where the note is.
    let global = env.kairos(&["memory", "forget", &id]);
    let said = stderr(&global);
    assert!(!global.status.success(), "{said}");
    assert!(
        said.contains(&format!("kairos memory forget {id} --repo ")) && said.contains("work"),
        "{said}"
    );
    env.ok(&["memory", "forget", "--repo", repo.str(), &id]);
    assert_eq!(notes(&env, &repo).len(), 1);
}

#[test]
fn without_a_model_the_digest_is_assembled_and_the_model_tasks_say_what_they_need() {
    let env = Env::new();
    let repo = env.repo("work");
    env.write_config("[tasks.snapshot]\nenabled = false\n");
    env.ok(&["watch", repo.str()]);
    let _daemon = env.start_daemon();
    repo.commit_file("a.txt", "a\n", "Write the first letter");
    let out = env.ok(&["run", "digest", "--repo", repo.str()]);
    assert!(out.contains("1 notice"), "{out}");
    let digest = env.json(&["digest", "--repo", repo.str(), "--json"]);
    let text = digest[0]["text"].as_str().unwrap();
    assert!(
        text.contains("2 commits") && text.contains("- commit: Write the first letter"),
        "{text}"
    );
    assert!(env.ok(&["log", "-n", "50"]).contains("today's digest"));

    for task in ["review", "tick", "ask", "dream"] {
        let out = env.ok(&["run", task, "--repo", repo.str()]);
        assert!(out.contains("needs a model: configure [llm]"), "{task}: {out}");
    }
}

#[test]
fn with_a_model_the_digest_is_written_from_the_days_material_once() {
    let server = LlmServer::start();
    let env = Env::new();
    let repo = env.repo("work");
    configure(&env, &server, "[tasks.review]\nenabled = false\n");
    env.ok(&["watch", repo.str()]);
    let _daemon = env.start_daemon();
    repo.commit_file("a.txt", "a\n", "Write the first letter");
    server.push(Scripted::Reply(json!({ "notes": [{
        "title": "A quiet day", "body": "One commit: the first letter was written."
    }] })));
    env.ok(&["run", "digest", "--repo", repo.str()]);
    let sent = &server.requests()[0].raw;
    assert!(
        sent.contains("- commit: Write the first letter"),
        "the day's material was not sent: {sent}"
    );
    let digest = env.json(&["digest", "--repo", repo.str(), "--json"]);
    assert_eq!(
        digest[0]["text"].as_str().unwrap(),
        "A quiet day\nOne commit: the first letter was written."
    );
    // Nothing new since: the same digest again, at no cost.
    env.ok(&["run", "digest", "--repo", repo.str()]);
    assert_eq!(server.count(), 1, "the same material was asked about twice");
}
