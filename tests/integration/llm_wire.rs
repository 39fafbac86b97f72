//! The providers' wire formats through the real binary, against the scripted server:
//! Anthropic streamed and whole, JSON schema and the fallback from tools, retries of
//! overloads, server errors, dropped connections and cut-off streams (honouring
//! `retry-after`), and refusals that turn the model off.

use serde_json::json;

use crate::common::*;
use crate::llm::{commits, configure, message, stage, watched};
use crate::llm_server::{LlmServer, Scripted};

#[test]
fn the_anthropic_wire_streams_with_the_prompt_cache_and_a_whole_body_works_too() {
    for stream in [true, false] {
        let server = LlmServer::start();
        server.push(message("Add notes", ""));
        let env = Env::new();
        let repo = env.repo("work");
        let extra = format!(
            "provider = \"anthropic\"\napi_key_env = \"TEST_ANTHROPIC_KEY\"\nstream = {stream}"
        );
        configure(&env, &server, &extra);
        env.ok(&["watch", repo.str()]);
        let daemon =
            env.start_daemon_with(&[("TEST_ANTHROPIC_KEY", "sk-ant-test-key-0123456789abcdef")]);
        stage(&repo, "notes.md", "# Notes\n");
        wait_for("a commit proposal", || commits(&env).into_iter().next(), &daemon);
        let request = &server.requests()[0];
        assert_eq!(request.path, "/v1/messages");
        assert_eq!(request.header("x-api-key"), Some("sk-ant-test-key-0123456789abcdef"));
        assert_eq!(request.header("anthropic-version"), Some("2023-06-01"));
        assert_eq!(request.body["tool_choice"], json!({ "type": "tool", "name": "reply" }));
        assert_eq!(request.body["system"][0]["cache_control"]["type"], "ephemeral");
        assert_eq!(request.body["stream"], stream);
        let status = env.json(&["status", "--json"]);
        let usage = &status["llm"]["today"]["commit-message"];
        assert_eq!(usage["calls"], 1, "{status}");
        assert_eq!(usage["tokens"]["cache_read"], 300, "{status}");
        assert_eq!(usage["tokens"]["cache_write"], if stream { 12 } else { 0 }, "{status}");
        let tools = request.body["tools"].as_array().unwrap();
        assert_eq!(tools.last().unwrap()["cache_control"]["type"], "ephemeral", "{tools:?}");
        assert!(env.ok(&["status"]).contains("(cache: 300 read"), "the human status hides it");
        // The key is never in the log.
        assert!(!daemon.log_text().contains("sk-ant-test-key"), "the key was logged");
    }
}

#[test]
fn a_json_schema_reply_without_streaming_and_a_fallback_when_tools_are_refused() {
    let server = LlmServer::start();
    server.push(Scripted::Status {
        code: 400,
        retry_after: None,
        body: r#"{"error":{"message":"registry.ollama.ai/library/tiny does not support tools"}}"#
            .into(),
    });
    server.push(message("Fall back to the schema", ""));
    let env = Env::new();
    let (repo, daemon) = watched(&env, &server, "stream = false");
    stage(&repo, "x.txt", "x\n");
    wait_for("a commit proposal", || commits(&env).into_iter().next(), &daemon);
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests[0].body.get("tools").is_some());
    let format = &requests[1].body["response_format"];
    assert_eq!(format["type"], "json_schema");
    assert_eq!(format["json_schema"]["strict"], true);
    assert_eq!(requests[1].body["stream"], false);
}

#[test]
fn overloads_and_cut_off_streams_are_retried_and_a_half_reply_is_never_used() {
    let server = LlmServer::start();
    server.push(Scripted::Status { code: 429, retry_after: Some("0".into()), body: "{}".into() });
    server.push(Scripted::Status { code: 529, retry_after: Some("0".into()), body: "{}".into() });
    server.push(Scripted::CutOff);
    server.push(message("Survive the weather", ""));
    let env = Env::new();
    let (repo, daemon) = watched(&env, &server, "");
    stage(&repo, "x.txt", "x\n");
    let p = wait_for("a commit proposal", || commits(&env).into_iter().next(), &daemon);
    assert_eq!(p["title"], "commit staged changes: Survive the weather");
    assert_eq!(server.count(), 4);
    let log = env.ok(&["log", "-n", "100"]);
    assert!(log.contains("4 attempts"), "{log}");

    // An error event after HTTP 200 (Anthropic's overloaded) is retried too; past three
    // retries the run fails, once, and nothing is proposed.
    for _ in 0..4 {
        server.push(Scripted::ErrorEvent);
    }
    let before = server.count();
    stage(&repo, "y.txt", "y\n");
    wait_log(&env, "commit-message (index quiet): failed", &daemon);
    assert_eq!(server.count(), before + 4, "1 attempt and 3 retries");
    assert_eq!(commits(&env).len(), 1);
}

#[test]
fn server_errors_and_dropped_connections_are_retried_and_retry_after_is_honoured() {
    let server = LlmServer::start();
    server.push(Scripted::Status { code: 503, retry_after: None, body: "busy".into() });
    server.push(Scripted::Drop);
    server.push(Scripted::Status { code: 429, retry_after: Some("2".into()), body: "{}".into() });
    server.push(message("Patience", ""));
    let env = Env::new();
    let (repo, daemon) = watched(&env, &server, "");
    stage(&repo, "x.txt", "x\n");
    let p = wait_for("a commit proposal", || commits(&env).into_iter().next(), &daemon);
    assert_eq!(p["title"], "commit staged changes: Patience");
    let requests = server.requests();
    assert_eq!(requests.len(), 4, "503, a dropped connection and a 429 are each retried");
    let waited = requests[3].at - requests[2].at;
    assert!(waited >= std::time::Duration::from_secs(2), "retry-after: 2 not honoured: {waited:?}");

    // A 403 is final: the model is off, not asked again.
    server.push(Scripted::Status { code: 403, retry_after: None, body: "{}".into() });
    stage(&repo, "y.txt", "y\n");
    wait_for(
        "the model to be off",
        || env.json(&["status", "--json"])["llm"]["off"].as_str().map(str::to_owned),
        &daemon,
    );
    assert_eq!(server.count(), 5, "a 403 was retried");
}

#[test]
fn anthropics_error_event_after_http_200_is_retried() {
    let server = LlmServer::start();
    server.push(Scripted::ErrorEvent);
    server.push(message("Weathered", ""));
    let env = Env::new();
    let repo = env.repo("work");
    configure(&env, &server, "provider = \"anthropic\"\napi_key_env = \"KAIROS_TEST_KEY\"");
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon_with(&[("KAIROS_TEST_KEY", "sk-ant-test")]);
    stage(&repo, "x.txt", "x\n");
    let p = wait_for("a commit proposal", || commits(&env).into_iter().next(), &daemon);
    assert_eq!(p["title"], "commit staged changes: Weathered");
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests.iter().all(|r| r.path == "/v1/messages"), "not the Anthropic path");
}

#[test]
fn a_refused_key_turns_the_model_off_until_the_config_changes() {
    let server = LlmServer::start();
    server.push(Scripted::Status {
        code: 401,
        retry_after: None,
        body: r#"{"error":{"message":"invalid x-api-key"}}"#.into(),
    });
    let env = Env::new();
    let repo = env.repo("work");
    configure(&env, &server, "");
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();
    stage(&repo, "x.txt", "x\n");
    let off = wait_for(
        "the model to be off",
        || env.json(&["status", "--json"])["llm"]["off"].as_str().map(str::to_owned),
        &daemon,
    );
    assert!(off.contains("refused the API key (401") && off.contains("api_key_env"), "{off}");
    assert!(env.ok(&["status"]).contains("off:"), "the human status hides it");
    stage(&repo, "y.txt", "y\n");
    let asked = env.kairos(&["run", "commit-message", "--repo", repo.str()]);
    assert!(stderr(&asked).contains("the model is off"), "{}", stderr(&asked));
    assert_eq!(server.count(), 1, "a refused key was tried again");

    // A config edit turns it on again.
    server.push(message("Back on", ""));
    configure(&env, &server, "timeout = \"30s\"");
    wait_for(
        "the model on again",
        || env.json(&["status", "--json"])["llm"]["off"].is_null().then_some(()),
        &daemon,
    );
    env.ok(&["run", "commit-message", "--repo", repo.str()]);
    assert!(commits(&env).iter().any(|p| p["title"] == "commit staged changes: Back on"));
}
