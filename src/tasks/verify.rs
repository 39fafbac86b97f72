//! A model's edits, tried before anyone is asked: applied to a scratch copy of the working
//! tree, the project's check run there (`[tasks.NAME] check`, by default `cargo check`
//! for a Cargo project), and only a change that passes becomes a proposal, its check's
//! result attached. The user's files are only read.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::scratch::Scratch;
use super::{RunContext, TaskError, patch};
use crate::llm::Edit;
use crate::proposal::{Draft, Provenance};

/// How long a check may run.
const CHECK_TIMEOUT: Duration = Duration::from_secs(600);

/// What trying the edits came to.
#[derive(Debug)]
pub enum Tried {
    /// They pass the check (or there is none): the draft, ready to propose.
    Passed(Box<Draft>),
    /// The check failed on them; its last output.
    Broke(String),
    /// They change nothing.
    NoChange,
}

/// What to call the draft, and where it came from.
pub struct Proposed<'a> {
    pub title: String,
    pub why: String,
    pub provenance: Provenance,
    /// Lines to take out of a file after the edits (the `kairos:` comment they answer).
    pub remove_lines: &'a [(String, String)],
}

/// The check to run for this project: the task's `check`, else `cargo check` where there
/// is a Cargo.toml and cargo, else none.
pub fn check_command(ctx: &RunContext) -> Option<Vec<String>> {
    if let Some(check) = &ctx.settings.model.check {
        return (!check.is_empty()).then(|| check.clone());
    }
    (ctx.root.join("Cargo.toml").is_file() && crate::process::which("cargo").is_some())
        .then(|| vec!["cargo".into(), "check".into(), "--quiet".into()])
}

/// Applies `edits` in a scratch copy, runs the check there, and drafts the change.
pub fn try_edits(ctx: &RunContext, edits: &[Edit], proposed: Proposed) -> Result<Tried, TaskError> {
    ctx.step("trying the suggested edit in scratch space");
    let scratch = Scratch::create(ctx.repo, ctx.scratch, ctx.settings.max_file_size)?;
    for edit in edits {
        let path = crate::apply::safe_path(&scratch.dir, Path::new(&edit.path))
            .map_err(|e| TaskError::Command(e.to_string()))?;
        let text = std::fs::read_to_string(&path)
            .map_err(|e| TaskError::Command(format!("{}: {e}", edit.path)))?;
        if text.matches(edit.old.as_str()).count() != 1 {
            return Err(TaskError::Command(format!("{}: `old` is not found once", edit.path)));
        }
        std::fs::write(&path, text.replacen(&edit.old, &edit.new, 1))
            .map_err(|e| TaskError::Command(format!("{}: {e}", edit.path)))?;
    }
    for (file, line) in proposed.remove_lines {
        let path = scratch.dir.join(file);
        if let Ok(text) = std::fs::read_to_string(&path) {
            let kept: Vec<&str> =
                text.split_inclusive('\n').filter(|l| l.trim_end() != line.trim_end()).collect();
            let _ = std::fs::write(&path, kept.concat());
        }
    }
    let mut why = proposed.why;
    if let Some(check) = check_command(ctx) {
        let mut env = std::collections::BTreeMap::new();
        // Builds are kept between checks (kairos's own, not the project's target/).
        env.insert(
            "CARGO_TARGET_DIR".to_owned(),
            check_target(ctx.scratch, ctx.root).display().to_string(),
        );
        let shown = check.join(" ");
        ctx.step(&format!("checking the suggested edit: `{shown}`"));
        let done = crate::process::run(&check, &scratch.dir, &env, CHECK_TIMEOUT)
            .map_err(TaskError::Command)?;
        if !done.success {
            let output = format!("{}{}", done.stdout, done.stderr);
            let tail: Vec<&str> =
                output.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect();
            return Ok(Tried::Broke(format!("`{shown}` failed:\n{}", tail.join("\n"))));
        }
        why.push_str(&format!("; `{shown}` passes with it"));
    }
    let task = ctx.name;
    let title = proposed.title;
    match patch::draft(ctx.repo, &scratch, task, |_| title, why, proposed.provenance)? {
        Some(draft) => Ok(Tried::Passed(Box::new(draft))),
        None => Ok(Tried::NoChange),
    }
}

/// Where a repository's checks build: under kairos's cache, one directory per repository.
fn check_target(scratch: &Path, root: &Path) -> PathBuf {
    let digest =
        git2::Oid::hash_object(git2::ObjectType::Blob, root.as_os_str().as_encoded_bytes())
            .map(|o| o.to_string()[..12].to_owned())
            .unwrap_or_default();
    scratch.parent().unwrap_or(scratch).join("check-target").join(digest)
}
