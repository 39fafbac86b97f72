//! What the model tasks (review, ask, tick) share: asking with the reply checked against
//! the repository, remembering what the reply asks to, turning notes into notices with
//! `path:line`, and edits into a proposal only once they pass the check in scratch space
//! (a failing edit is sent back once with the check's output, then dropped and logged).

use std::path::Path;

use super::verify::{Proposed, Tried, try_edits};
use super::{RunContext, TaskError};
use crate::action::Action;
use crate::llm::{Question, Reply, redact::is_secret_path};
use crate::proposal::{Change, Draft, Origin, Provenance};

/// Whether a file could be shown to the model: inside the repository, not ignored, not
/// secret-looking, not too large.
pub fn may_send(ctx: &RunContext, path: &Path) -> bool {
    let max = ctx.model.map_or(0, |m| m.max_file_size());
    !is_secret_path(path)
        && !ctx.repo.is_path_ignored(path).unwrap_or(true)
        && std::fs::metadata(ctx.root.join(path)).is_ok_and(|m| m.len() <= max)
}

/// Asks `question`; `what` names what was looked at (for the notices' titles), and the
/// edits' proposal is titled `fix_prefix: <the model's edit title>`.
pub fn ask_with_edits(
    ctx: &RunContext,
    question: Question,
    what: &str,
    fix_prefix: &str,
) -> Result<Vec<Draft>, TaskError> {
    answer(ctx, question, what, fix_prefix, &[])
}

/// As `ask_with_edits`; `remove_lines` are taken out of their files with the edits.
pub fn answer(
    ctx: &RunContext,
    question: Question,
    what: &str,
    fix_prefix: &str,
    remove_lines: &[(String, String)],
) -> Result<Vec<Draft>, TaskError> {
    let model = ctx.model.expect("model tasks run with a model");
    let check = |reply: &Reply| reply.check(ctx.root, |p| may_send(ctx, p));
    ctx.step("asking the model");
    let answer = model.ask(&ctx.caller(), question.clone(), &check)?;
    let provenance =
        Provenance { origin: Origin::Model { model: answer.model.clone() }, read_untrusted: true };
    if let Some(memory) = ctx.memory {
        memory.remember(&answer.reply.remember, ctx.name);
    }
    let mut drafts: Vec<Draft> =
        answer.reply.notes.iter().map(|n| notice(ctx.name, what, n, &provenance)).collect();
    if !answer.reply.edits.is_empty() {
        let title = |reply: &Reply| {
            let said =
                reply.edit_title.clone().unwrap_or_else(|| format!("{} edits", reply.edits.len()));
            format!("{fix_prefix}: {}", said.trim())
        };
        let why =
            format!("suggested by the model {} ({what}), tried in a scratch copy", answer.model);
        let proposed = |reply: &Reply| Proposed {
            title: title(reply),
            why: why.clone(),
            provenance: provenance.clone(),
            remove_lines,
        };
        match try_edits(ctx, &answer.reply.edits, proposed(&answer.reply))? {
            Tried::Passed(draft) => drafts.push(*draft),
            Tried::NoChange => {}
            Tried::Broke(output) => {
                let again = Question {
                    user: format!(
                        "{}\n\nYour edits were tried, and the project's check failed with them:\n<data source=\"check output\">\n{}\n</data>\nReply again with edits that pass, or none.",
                        question.user,
                        crate::llm::prompt::data(&output)
                    ),
                    ..question
                };
                ctx.step("asking the model again, with the check's error");
                let second = model.ask(&ctx.caller(), again, &check)?;
                let tried = if second.reply.edits.is_empty() {
                    Tried::NoChange
                } else {
                    try_edits(ctx, &second.reply.edits, proposed(&second.reply))?
                };
                match tried {
                    Tried::Passed(draft) => drafts.push(*draft),
                    Tried::NoChange => {}
                    Tried::Broke(output) => {
                        if let Some(memory) = ctx.memory {
                            memory.count_broken_edit(ctx.name);
                            let first = output.lines().nth(1).unwrap_or_default();
                            memory.event(&format!(
                                "{}: the suggested edits broke the check twice; not proposed ({first})",
                                ctx.name
                            ));
                        }
                    }
                }
            }
        }
    }
    Ok(drafts)
}

/// A model's note as a notice: told once (the shipped policy's `notices` rule), never
/// queued.
fn notice(task: &str, what: &str, note: &crate::llm::Note, provenance: &Provenance) -> Draft {
    let place = match (&note.path, note.line) {
        (Some(path), Some(line)) => format!("{path}:{line}: "),
        (Some(path), None) => format!("{path}: "),
        _ => String::new(),
    };
    let text = format!("{place}{}\n{}", note.title.trim(), note.body.trim());
    let digest = git2::Oid::hash_object(git2::ObjectType::Blob, text.as_bytes())
        .map(|o| o.to_string())
        .unwrap_or_default();
    Draft {
        action: Action::Notice,
        changed_lines: 0,
        title: format!("{place}{}", note.title.trim()),
        why: format!("{} ({what})", note.body.trim()),
        fingerprint: format!("notice:{task}:{digest}"),
        change: Change::Notice { text },
        provenance: provenance.clone(),
    }
}
