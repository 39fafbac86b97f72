//! The model through the real binary, against a scripted server speaking the providers'
//! wire formats: the commit-message task from staging to approve to undo, budgets, the
//! reply contract, what is never sent, and silence while nothing changes. The wire's own
//! behaviour (providers, retries, refusals) is in `llm_wire`.

use serde_json::json;

use crate::common::*;
use crate::llm_server::{LlmServer, Scripted};

/// `[llm]` pointing at `server`, quick to notice staged changes, snapshots and reviews
/// off (the commit kairos makes would be reviewed).
pub(crate) fn configure(env: &Env, server: &LlmServer, llm_extra: &str) {
    let anthropic = llm_extra.contains("anthropic");
    let base = if anthropic { server.url.clone() } else { format!("{}/v1", server.url) };
    env.write_config(&format!(
        "[llm]\nbase_url = \"{base}\"\nmodel = \"test-model\"\n{llm_extra}\n\n\
         [tasks.commit-message]\nquiet = \"200ms\"\n\n[tasks.snapshot]\nenabled = false\n\n\
         [tasks.review]\nenabled = false\n"
    ));
}

/// A repository `work`, watched with `[llm]` on `server` (see `configure`), and the
/// daemon started.
pub(crate) fn watched(env: &Env, server: &LlmServer, llm_extra: &str) -> (Repo, Daemon) {
    let repo = env.repo("work");
    configure(env, server, llm_extra);
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();
    (repo, daemon)
}

pub(crate) fn commits(env: &Env) -> Vec<serde_json::Value> {
    env.queue(true).into_iter().filter(|p| p["action"] == "git.commit").collect()
}

pub(crate) fn stage(repo: &Repo, path: &str, content: &str) {
    repo.write(path, content);
    repo.git(&["add", path]);
}

pub(crate) fn message(subject: &str, body: &str) -> Scripted {
    Scripted::Reply(json!({ "commit_message": { "subject": subject, "body": body } }))
}

#[test]
fn staged_changes_are_committed_exactly_as_seen_with_the_models_message_and_undone() {
    let server = LlmServer::start();
    server.push(message("Greet the world", "The greeting was missing."));
    let env = Env::new();
    let repo = env.repo("work");
    configure(&env, &server, "");
    // A rule that would make commits automatic: a model's draft still only waits.
    write_policy(
        &env,
        "commits.toml",
        "[[rule]]\nid = \"yolo\"\naction = \"git.commit\"\nautonomy = \"auto\"\n",
    );
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();
    let head = repo.rev("HEAD").unwrap();

    stage(&repo, "hello.txt", "hello, world\n");
    let staged_tree = repo.git(&["write-tree"]);
    let p = wait_for("a commit proposal", || commits(&env).into_iter().next(), &daemon);
    assert_eq!(p["state"], "pending", "a model's draft went past propose: {p}");
    assert_eq!(p["decision"]["decided_by"]["cap"], "untrusted", "{p}");
    assert_eq!(p["title"], "commit staged changes: Greet the world");
    assert_eq!(p["provenance"]["origin"]["model"], "test-model");
    let request = &server.requests()[0];
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(request.body["stream"], true);
    assert_eq!(request.body["tool_choice"]["function"]["name"], "reply");
    assert!(request.raw.contains("+hello, world"), "the staged diff was not sent");
    assert!(request.raw.contains("<data source=\\\"staged diff\\\">"), "{}", request.raw);

    let id = p["id"].to_string();
    let shown = env.ok(&["show", &id]);
    assert!(
        shown.contains("Greet the world") && shown.contains("The greeting was missing."),
        "{shown}"
    );
    assert!(shown.contains("hello.txt | 1 +"), "no diff stat:\n{shown}");
    assert!(shown.contains("suggested by the model test-model"), "{shown}");

    env.ok(&["approve", &id]);
    assert_eq!(
        repo.git(&["log", "-1", "--format=%B"]),
        "Greet the world\n\nThe greeting was missing."
    );
    assert_eq!(repo.git(&["log", "-1", "--format=%T"]), staged_tree, "not the tree it saw");
    assert_eq!(repo.git(&["log", "-1", "--format=%an <%ae>"]), "Test <test@example.com>");
    assert_eq!(repo.rev("HEAD~1").unwrap(), head);

    env.ok(&["undo", &id]);
    assert_eq!(repo.rev("HEAD").unwrap(), head);
    assert_eq!(
        repo.git(&["diff", "--cached", "--name-only"]),
        "hello.txt",
        "undo unstaged the change"
    );
    assert_eq!(repo.read("hello.txt").unwrap(), "hello, world\n");
    // The same staged tree is not asked about again.
    let asked = server.count();
    env.ok(&["run", "commit-message", "--repo", repo.str()]);
    assert_eq!(server.count(), asked, "the undone tree cost another call");
}

#[test]
fn a_commit_is_stale_when_the_index_or_head_moved() {
    let server = LlmServer::start();
    server.push(message("First", ""));
    let env = Env::new();
    let (repo, daemon) = watched(&env, &server, "");
    stage(&repo, "a.txt", "a\n");
    let p = wait_for("a commit proposal", || commits(&env).into_iter().next(), &daemon);
    stage(&repo, "b.txt", "b\n");
    let out = env.kairos(&["approve", &p["id"].to_string()]);
    assert!(!out.status.success());
    assert!(
        stdout(&out).contains("staged changes changed")
            || stderr(&out).contains("staged changes changed")
    );
    assert_eq!(repo.git(&["log", "--format=%s"]), "initial", "something was committed");

    // The branch moves (a commit made elsewhere) with the index as it was: stale too.
    server.push(message("Second", ""));
    let p = wait_for(
        "a proposal for the new staged tree",
        || commits(&env).into_iter().find(|p| p["title"] == "commit staged changes: Second"),
        &daemon,
    );
    let elsewhere = repo.git(&["commit-tree", "HEAD^{tree}", "-p", "HEAD", "-m", "elsewhere"]);
    repo.git(&["update-ref", "HEAD", &elsewhere]);
    let out = env.kairos(&["approve", &p["id"].to_string()]);
    assert!(!out.status.success());
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(said.contains("moved since the message was drafted"), "{said}");
    assert_eq!(repo.git(&["log", "-1", "--format=%s"]), "elsewhere");
}

#[test]
fn a_rejected_message_is_not_asked_for_again_for_the_same_staged_tree() {
    let server = LlmServer::start();
    server.push(message("Nope", ""));
    let env = Env::new();
    let (repo, daemon) = watched(&env, &server, "");
    stage(&repo, "a.txt", "a\n");
    let p = wait_for("a commit proposal", || commits(&env).into_iter().next(), &daemon);
    env.ok(&["reject", &p["id"].to_string(), "--reason", "I write my own messages"]);
    env.ok(&["run", "commit-message", "--repo", repo.str()]);
    assert_eq!(server.count(), 1, "the rejected tree was asked about again");
    // A new staged tree is a new question.
    server.push(message("Yes", ""));
    stage(&repo, "b.txt", "b\n");
    wait_for(
        "a proposal for the new tree",
        || commits(&env).into_iter().find(|p| p["title"] == "commit staged changes: Yes"),
        &daemon,
    );
}

#[test]
fn a_reply_that_breaks_the_contract_is_asked_again_once_with_the_reason() {
    let server = LlmServer::start();
    server.push(Scripted::Reply(
        json!({ "commit_message": { "subject": "", "body": "only a body" } }),
    ));
    server.push(message("Second try", ""));
    let env = Env::new();
    let (repo, daemon) = watched(&env, &server, "");
    stage(&repo, "x.txt", "x\n");
    wait_for("a commit proposal", || commits(&env).into_iter().next(), &daemon);
    let again = &server.requests()[1];
    assert!(
        again
            .raw
            .contains("Your previous reply was refused: the commit message has an empty subject"),
        "{}",
        again.raw
    );

    // Broken twice: given up for this run, nothing proposed.
    server.push(Scripted::Text("this is not JSON".into()));
    server.push(Scripted::Text("still not".into()));
    let asked = server.count();
    stage(&repo, "y.txt", "y\n");
    wait_log(&env, "failed: the model's reply broke the contract", &daemon);
    assert_eq!(server.count(), asked + 2, "asked again once, then given up");
    assert_eq!(commits(&env).len(), 1);
}

#[test]
fn secrets_ignored_files_and_binaries_never_reach_the_server() {
    let server = LlmServer::start();
    server.push(message("Add configuration", ""));
    let env = Env::new();
    let repo = env.repo("work");
    repo.commit_file(".gitignore", "build/\n", "ignore build");
    // Recent subjects are sent to match the project's style: the token in one is not.
    repo.commit_file(
        "ci.txt",
        "ci\n",
        "CI: use GITHUB_TOKEN=ghp_PLANTEDxSUBJECTxTOKENx0123456789ab",
    );
    configure(&env, &server, "");
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();
    repo.write(".env", "DATABASE_PASSWORD=correct-horse-battery-staple\n");
    repo.write("deploy/id_rsa", "-----BEGIN OPENSSH PRIVATE KEY-----\nPLANTEDKEYMATERIAL\n");
    repo.write("build/generated.txt", "IGNORED-BUT-FORCE-ADDED\n");
    repo.write("src/settings.py", "API = \"AKIAIOSFODNN7EXAMPLE\"\nDEBUG = True\n");
    repo.write(".envrc", "export TOKEN=PLANTED-ENVRC\n");
    repo.write("config/db.json", "{\"db_password\": \"PLANTED-JSON-PASSWORD\"}\n");
    std::fs::write(repo.path.join("logo.png"), b"\x89PNG\r\n\x1a\n\0\0BINARYBYTES").unwrap();
    repo.git(&["add", ".env", ".envrc", "deploy/id_rsa", "src/settings.py", "logo.png"]);
    repo.git(&["add", "config/db.json"]);
    repo.git(&["add", "-f", "build/generated.txt"]);
    let p = wait_for("a commit proposal", || commits(&env).into_iter().next(), &daemon);
    let sent: String = server.requests().iter().map(|r| r.raw.clone()).collect();
    for secret in [
        "correct-horse-battery-staple",
        "PLANTEDKEYMATERIAL",
        "IGNORED-BUT-FORCE-ADDED",
        "AKIAIOSFODNN7EXAMPLE",
        "BINARYBYTES",
        "PLANTED-ENVRC",
        "PLANTED-JSON-PASSWORD",
        "PLANTEDxSUBJECT",
    ] {
        assert!(!sent.contains(secret), "{secret} reached the server");
    }
    assert!(sent.contains("DEBUG = True") && sent.contains("[redacted]"), "{sent}");
    let why = p["why"].as_str().unwrap();
    assert!(
        why.contains(".env (looks like it holds secrets)")
            && why.contains("build/generated.txt (ignored by git)"),
        "{why}"
    );
}

#[test]
fn nothing_changing_costs_no_request_and_the_budget_holds_calls_back() {
    let server = LlmServer::start();
    let env = Env::new();
    let (repo, daemon) = watched(&env, &server, "max_calls_per_hour = 1");
    // Idle, with short quiet periods: any timer that asked would have asked by now.
    let quiet_for = std::time::Instant::now() + std::time::Duration::from_secs(4);
    while std::time::Instant::now() < quiet_for {
        assert_eq!(server.count(), 0, "a request while nothing changed");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // git status rewrites the index without staging anything: still no request.
    repo.git(&["status"]);
    env.ok(&["run", "commit-message", "--repo", repo.str()]);
    assert_eq!(server.count(), 0);

    server.push(message("One", ""));
    stage(&repo, "a.txt", "a\n");
    wait_for("the first proposal", || commits(&env).into_iter().next(), &daemon);
    stage(&repo, "b.txt", "b\n");
    wait_log(&env, "over the model budget", &daemon);
    assert_eq!(server.count(), 1, "the budget let a second call through");
    let status = env.json(&["status", "--json"]);
    assert_eq!(
        (status["llm"]["calls_last_hour"].as_u64(), status["llm"]["max_calls_per_hour"].as_u64()),
        (Some(1), Some(1))
    );
    let human = env.ok(&["status"]);
    assert!(
        human.contains("over the budget: model tasks wait")
            && human.contains("today, commit-message: 1 call,"),
        "{human}"
    );
}

#[test]
fn a_reply_cut_off_at_the_token_limit_is_not_asked_again() {
    let server = LlmServer::start();
    server.push(Scripted::AtLimit("{\"commit_message\": {\"subject\": \"Add a".into()));
    let env = Env::new();
    let (repo, daemon) = watched(&env, &server, "max_reply_tokens = 100");
    stage(&repo, "a.txt", "a\n");
    let failed = wait_for(
        "the failed run",
        || {
            let log = env.ok(&["log", "-n", "100"]);
            log.lines()
                .find(|l| l.contains("commit-message (index quiet): failed"))
                .map(str::to_owned)
        },
        &daemon,
    );
    assert!(failed.contains("cut off at its limit of 100 tokens"), "{failed}");
    assert_eq!(server.count(), 1, "the same question was asked again");
    assert_eq!(server.requests()[0].body["max_tokens"], 100);
}

#[test]
fn llm_test_reports_and_prompts_show_tells_where_the_template_comes_from() {
    let server = LlmServer::start();
    server.push(Scripted::Reply(json!({ "notes": [{ "title": "hello", "body": "" }] })));
    let env = Env::new();
    configure(&env, &server, "");
    let _daemon = env.start_daemon();
    let out = env.ok(&["llm", "test"]);
    assert!(
        out.contains("test-model (openai) answered in") && out.contains("321 in / 21 out tokens"),
        "{out}"
    );
    assert!(out.contains("note: hello"), "{out}");

    let shown = env.kairos(&["prompts", "show", "commit-message"]);
    assert!(stdout(&shown).contains("<data source=\"staged diff\">"));
    assert!(stderr(&shown).contains("the shipped prompts/commit-message.md"), "{}", stderr(&shown));
    std::fs::create_dir_all(env.path("config/kairos/prompts")).unwrap();
    std::fs::write(env.path("config/kairos/prompts/commit-message.md"), "Mine: {{ diff }}")
        .unwrap();
    let listed = env.ok(&["prompts", "show"]);
    assert!(
        listed.contains("commit-message") && listed.contains("prompts/commit-message.md"),
        "{listed}"
    );

    let none = Env::new();
    let _d = none.start_daemon();
    let out = none.kairos(&["llm", "test"]);
    assert!(
        !out.status.success() && stderr(&out).contains("no model is configured"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_broken_llm_section_is_located() {
    let env = Env::new();
    env.broken_config_expected.store(true, std::sync::atomic::Ordering::SeqCst);
    env.write_config("[llm]\nprovider = \"openai\"\nstructured = \"sometimes\"\nmodel = \"m\"\n");
    let _daemon = env.start_daemon();
    let error = env.json(&["status", "--json"])["config_error"].as_str().unwrap().to_owned();
    assert!(
        error.contains("config.toml:3:14")
            && error.contains("\"tools\", \"json_schema\" or \"auto\""),
        "{error}"
    );
    let missing = kairos::config::Config::parse(
        "[llm]\nprovider = \"openai\"\n",
        std::path::Path::new("c.toml"),
    );
    let missing = missing.unwrap_err();
    assert!(missing.line == 1 && missing.message.contains("needs `model"), "{missing}");
}
