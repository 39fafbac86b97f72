//! `kairos llm test`: one tiny request through the configured model, what came back, how
//! long it took and what it cost — the first thing to run after writing `[llm]`.

use std::process::ExitCode;

use super::output::print_json;
use super::{CliResult, call, unexpected};
use crate::paths::Paths;
use crate::protocol::{Request, Response};

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Send one tiny request and show the reply, the latency and the tokens used.
    Test {
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(paths: &Paths, action: Action) -> CliResult {
    let Action::Test { json } = action;
    let report = match call(paths, Request::LlmTest).await? {
        Response::LlmTested { report } => report,
        other => return Err(unexpected(other)),
    };
    if json {
        print_json(&report);
        return Ok(ExitCode::SUCCESS);
    }
    crate::out!(
        "{} ({}) answered in {:.2} s: {} in / {} out tokens{}",
        report.model,
        report.provider,
        report.latency_ms as f64 / 1000.0,
        report.usage.input,
        report.usage.output,
        if report.usage.cache_read > 0 {
            format!(", {} from the cache", report.usage.cache_read)
        } else {
            String::new()
        }
    );
    let reply = &report.reply;
    if let Some(why) = &report.broke_contract {
        crate::out!("the reply broke the contract ({why}); it began:");
        let start: String = report.text.chars().take(300).collect();
        crate::out!("  {}", super::output::visible(&start));
        return Ok(ExitCode::SUCCESS);
    }
    if reply.is_empty() {
        crate::out!("the reply was empty (the model had nothing to say)");
    }
    for note in &reply.notes {
        crate::out!("note: {}", super::output::visible(&note.title));
    }
    if let Some(m) = &reply.commit_message {
        crate::out!("commit message: {}", super::output::visible(&m.subject));
    }
    Ok(ExitCode::SUCCESS)
}
