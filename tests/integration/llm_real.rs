//! The whole path against a real model, offline: SmolLM2-135M behind llama.cpp's own
//! server (the `xllamacpp` wheel, see tests/support/serve_model.py), through the OpenAI
//! wire format with a strict JSON schema and streaming. The model is tiny and its
//! messages are nonsense; what is proven is the path: the request, the stream, the
//! schema-constrained reply, usage, and the proposal or the reasoned refusal, for a
//! commit message and then for the review of the commit.
//!
//! `.ci/run` installs the wheel and unpacks the model; elsewhere, the model is looked for
//! at `$KAIROS_TEST_GGUF` or `~/.cache/kairos-test-model/`, and without it (or without
//! python3 and xllamacpp) the test says why it did not run.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

const MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

fn model_path() -> Option<std::path::PathBuf> {
    if let Some(path) = std::env::var_os("KAIROS_TEST_GGUF") {
        return Some(path.into());
    }
    let home = std::env::var_os("HOME")?;
    let path = std::path::Path::new(&home).join(".cache/kairos-test-model").join(MODEL_FILE);
    path.is_file().then_some(path)
}

struct ModelServer {
    child: Child,
    url: String,
}

impl Drop for ModelServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the model server, or says why it cannot.
fn start_model() -> Result<ModelServer, String> {
    let model = model_path().ok_or_else(|| {
        format!("no {MODEL_FILE} (set KAIROS_TEST_GGUF, or run .ci/run, which unpacks it)")
    })?;
    let python = Command::new("python3").args(["-c", "import xllamacpp"]).output();
    if !python.is_ok_and(|o| o.status.success()) {
        return Err(
            "python3 with the xllamacpp wheel is not installed (.ci/run installs it)".into()
        );
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/serve_model.py");
    let child = Command::new("python3")
        .args([script, model.to_str().unwrap(), &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the model server: {e}"))?;
    let server = ModelServer { child, url: format!("http://127.0.0.1:{port}") };
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(server);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err("the model server did not start within a minute".into())
}

#[test]
fn a_real_model_answers_through_the_openai_wire_with_a_json_schema_and_a_stream() {
    let model = match start_model() {
        Ok(model) => model,
        // `.ci/run` installs the model and says so: there, a missing one is a failure.
        Err(why) if std::env::var_os("KAIROS_REQUIRE_REAL_MODEL").is_some() => {
            panic!("the real model is required here and did not start: {why}")
        }
        Err(why) => {
            eprintln!("not run: {why}");
            return;
        }
    };
    let env = Env::new();
    let repo = env.repo("work");
    env.write_config(&format!(
        "[llm]\nprovider = \"openai\"\nbase_url = \"{}/v1\"\nmodel = \"smollm2-135m\"\n\
         structured = \"json_schema\"\nmax_reply_tokens = 256\n\n[tasks.commit-message]\nquiet = \"200ms\"\n\n\
         [tasks.snapshot]\nenabled = false\n",
        model.url
    ));
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();

    let out = env.ok(&["llm", "test"]);
    assert!(out.contains("smollm2-135m (openai) answered in"), "{out}");

    let runs = || -> Vec<String> {
        let log = env.ok(&["log", "-n", "200"]);
        log.lines()
            .filter(|l| l.contains("commit-message (index quiet):") && !l.contains(": asked "))
            .map(str::to_owned)
            .collect()
    };
    let before = runs().len();
    let staged_at = Instant::now();
    repo.write("greeting.txt", "hello from a real model\n");
    repo.git(&["add", "greeting.txt"]);
    // The run ends in a proposal, or (the model is tiny) in a reply refused with its
    // reason; either way the whole path was taken.
    let outcome = wait_longer(
        "the commit-message run",
        Duration::from_secs(240),
        || runs().get(before).cloned(),
        &daemon,
    );
    let round_trip = staged_at.elapsed();
    let log = env.ok(&["log", "-n", "200"]);
    assert!(log.contains("commit-message (index quiet): asked smollm2-135m (openai)"), "{log}");
    let status = env.json(&["status", "--json"]);
    let usage = &status["llm"]["today"]["commit-message"];
    assert!(usage["tokens"]["input"].as_u64().unwrap() > 0, "{status}");
    assert!(usage["tokens"]["output"].as_u64().unwrap() > 0, "{status}");
    let queued = outcome.contains("queued");
    let refused = log.contains("broke the contract") || log.contains("the reply was refused");
    assert!(queued || refused || outcome.contains("nothing to do"), "{outcome}");
    eprintln!(
        "real model: staging to the end of the run in {:.1} s ({outcome})",
        round_trip.as_secs_f64()
    );

    // The user commits: the review of that commit goes the whole way too.
    let reviews = || -> Vec<String> {
        env.ok(&["log", "-n", "300"])
            .lines()
            .filter(|l| l.contains("review (git: HEAD moved):") && !l.contains(": asked "))
            .map(str::to_owned)
            .collect()
    };
    let committed_at = Instant::now();
    repo.git(&["commit", "-q", "-m", "Add a greeting"]);
    let reviewed =
        wait_longer("the review", Duration::from_secs(240), || reviews().first().cloned(), &daemon);
    let log = env.ok(&["log", "-n", "300"]);
    assert!(log.contains("review (git: HEAD moved): asked smollm2-135m (openai)"), "{log}");
    let status = env.json(&["status", "--json"]);
    assert!(status["llm"]["today"]["review"]["tokens"]["input"].as_u64().unwrap() > 0);
    let ended = ["nothing to do", "notice", "queued"].iter().any(|w| reviewed.contains(w))
        || reviewed.contains("failed: ");
    assert!(ended, "{reviewed}");
    eprintln!(
        "real model: commit to the end of its review in {:.1} s ({reviewed})",
        committed_at.elapsed().as_secs_f64()
    );
}
