//! `lockfile`: refreshes the lock file within the version ranges the manifest allows,
//! in a scratch copy, runs the project's tests there, and proposes the new lock file with
//! the test result attached.

use std::path::Path;
use std::time::Duration;

use super::scratch::Scratch;
use super::{RunContext, TaskError, patch};
use crate::config::TaskSettings;
use crate::process;
use crate::proposal::{Draft, Provenance};

/// The update and test commands for this project: configured, or found from its files.
fn commands(root: &Path, settings: &TaskSettings) -> Option<(Vec<String>, Option<Vec<String>>)> {
    let argv = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    if let Some(update) = &settings.lockfile.update {
        return Some((update.clone(), settings.lockfile.test.clone()));
    }
    let test = settings.lockfile.test.clone();
    if root.join("Cargo.lock").exists() {
        return Some((
            argv(&["cargo", "update", "--quiet"]),
            test.or(Some(argv(&["cargo", "test", "--quiet"]))),
        ));
    }
    if root.join("package-lock.json").exists() {
        return Some((
            argv(&["npm", "update", "--package-lock-only", "--no-audit", "--no-fund"]),
            test.or(Some(argv(&["npm", "test", "--silent"]))),
        ));
    }
    None
}

pub fn run(ctx: &RunContext) -> Result<Vec<Draft>, TaskError> {
    let (repo, settings) = (ctx.repo, ctx.settings);
    let Some((update, test)) = commands(ctx.root, settings) else { return Ok(vec![]) };
    let scratch = Scratch::create(repo, ctx.scratch, settings.max_file_size)?;
    let env = Default::default();
    let timeout = settings.command.as_ref().map_or(Duration::from_secs(30 * 60), |c| c.timeout);
    let done = process::run(&update, &scratch.dir, &env, timeout).map_err(TaskError::Command)?;
    if !done.success {
        return Err(TaskError::Command(format!(
            "`{}` failed: {}",
            update.join(" "),
            done.stderr.trim()
        )));
    }
    // The change is taken before the tests run, so nothing they leave behind is in it,
    // and only lock files: an update must not carry other changes in.
    let mut files = scratch.changes(repo)?;
    files.retain(|f| is_lock_file(f.path.as_path()));
    let names: Vec<String> = files.iter().map(|f| f.path.to_string()).collect();
    let title = format!("update dependencies within their ranges ({})", names.join(", "));
    let draft = patch::draft_from(
        repo,
        files,
        super::LOCKFILE,
        |_| title,
        String::new(),
        Provenance::BUILTIN,
    );
    let Some(mut draft) = draft else { return Ok(vec![]) };
    let result = match &test {
        None => "no test command".to_owned(),
        Some(test) => match process::run(test, &scratch.dir, &env, timeout) {
            Ok(t) if t.success => format!("`{}` passed", test.join(" ")),
            Ok(t) => format!(
                "`{}` FAILED (exit {}): {}",
                test.join(" "),
                t.code.map_or("signal".into(), |c| c.to_string()),
                tail(&format!("{}{}", t.stdout, t.stderr))
            ),
            Err(e) => format!("the tests could not run: {e}"),
        },
    };
    draft.action = crate::action::Action::DepsUpdate;
    draft.why = format!("`{}` refreshed the lock file; tests: {result}", update.join(" "));
    Ok(vec![draft])
}

fn is_lock_file(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
        matches!(
            n,
            "Cargo.lock"
                | "package-lock.json"
                | "yarn.lock"
                | "pnpm-lock.yaml"
                | "poetry.lock"
                | "uv.lock"
                | "go.sum"
        )
    })
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(8)..].join("\n")
}
