//! User-defined command tasks: `[tasks.NAME] run = [...]`. The command runs in a scratch
//! copy; with `output = "patch"` the files it changed become a proposal, with
//! `output = "notice"` its output is reported.

use std::path::Path;

use git2::Repository;

use super::scratch::Scratch;
use super::{RunOutput, TaskError, patch, process};
use crate::config::{CommandOutput, CommandSpec, TaskSettings};

pub fn run(
    repo: &Repository,
    name: &str,
    settings: &TaskSettings,
    spec: &CommandSpec,
    scratch_base: &Path,
) -> Result<RunOutput, TaskError> {
    let scratch = Scratch::create(repo, scratch_base, settings.max_file_size)?;
    let shown = spec.argv.join(" ");
    let done = process::run(&spec.argv, &scratch.dir, &spec.env, spec.timeout)
        .map_err(TaskError::Command)?;
    let tail = |text: &str| {
        text.lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    };
    if spec.output == CommandOutput::Notice {
        let status = match done.code {
            Some(0) => "succeeded".to_owned(),
            Some(code) => format!("failed (exit {code})"),
            None => "was killed by a signal".to_owned(),
        };
        let output = tail(if done.stdout.trim().is_empty() { &done.stderr } else { &done.stdout });
        return Ok(RunOutput {
            drafts: vec![],
            notices: vec![format!("`{shown}` {status}\n{output}")],
        });
    }
    if !done.success {
        return Err(TaskError::Command(format!(
            "`{shown}` exited with {}; nothing proposed. Its last output:\n{}",
            done.code.map_or("a signal".into(), |c| c.to_string()),
            tail(&format!("{}{}", done.stdout, done.stderr))
        )));
    }
    let draft = patch::draft(
        repo,
        &scratch,
        name,
        |n| format!("{name}: {n} {} changed by `{shown}`", if n == 1 { "file" } else { "files" }),
        format!("`{shown}` changed these files when run on a copy of your working tree"),
    )?;
    Ok(RunOutput { drafts: draft.into_iter().collect(), notices: vec![] })
}
