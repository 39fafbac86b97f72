//! User-defined command tasks: `[tasks.NAME] run = [...]`. The command runs in a scratch
//! copy; with `output = "patch"` the files it changed become an `fs.patch` draft, with
//! `output = "notice"` its output becomes a `notice` draft. Both go through the policy
//! like every other draft.

use super::scratch::Scratch;
use super::{RunContext, TaskError, patch};
use crate::action::Action;
use crate::config::{CommandOutput, CommandSpec};
use crate::process;
use crate::proposal::{Change, Draft, Provenance};

pub fn run(ctx: &RunContext, spec: &CommandSpec) -> Result<Vec<Draft>, TaskError> {
    let name = ctx.name;
    ctx.step("copying the working tree to scratch space");
    let scratch = Scratch::create(ctx.repo, ctx.scratch, ctx.settings.max_file_size)?;
    let shown = spec.argv.join(" ");
    ctx.step(&format!("running `{shown}`"));
    let done = process::run(&spec.argv, &scratch.dir, &spec.env, spec.timeout)
        .map_err(TaskError::Command)?;
    if spec.output == CommandOutput::Notice {
        let status = match done.code {
            Some(0) => "succeeded".to_owned(),
            Some(code) => format!("failed (exit {code})"),
            None => "was killed by a signal".to_owned(),
        };
        let output = tail(if done.stdout.trim().is_empty() { &done.stderr } else { &done.stdout });
        let title = format!("{name}: `{shown}` {status}");
        // The same report is told once; a different one (new output) is told again.
        let digest = git2::Oid::hash_object(git2::ObjectType::Blob, output.as_bytes())
            .map(|o| o.to_string())
            .unwrap_or_default();
        return Ok(vec![Draft {
            action: Action::Notice,
            changed_lines: 0,
            fingerprint: format!("notice:{name}:{status}:{digest}"),
            change: Change::Notice { text: output.clone() },
            why: if output.trim().is_empty() { "(no output)".into() } else { output },
            title,
            provenance: Provenance::COMMAND,
        }]);
    }
    if !done.success {
        return Err(TaskError::Command(format!(
            "`{shown}` exited with {}; nothing proposed. Its last output:\n{}",
            done.code.map_or("a signal".into(), |c| c.to_string()),
            tail(&format!("{}{}", done.stdout, done.stderr))
        )));
    }
    let draft = patch::draft(
        ctx.repo,
        &scratch,
        name,
        |n| format!("{name}: {n} {} changed by `{shown}`", if n == 1 { "file" } else { "files" }),
        format!("`{shown}` changed these files when run on a copy of your working tree"),
        Provenance::COMMAND,
    )?;
    Ok(draft.into_iter().collect())
}

/// The last 20 lines of `text`.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
