//! `dream` (nightly, `0 3 * * *`, once you are idle): the model consolidates the last
//! day's log into the repository's notes — what the project is, its conventions, what you
//! accept and reject, recurring problems — at most `MAX_NOTES` lines. The notes before
//! are kept: `kairos memory undo` puts them back. Without a model the log still grows and
//! nothing is consolidated.

use chrono::Utc;

use super::prompts::{self, Data, Prompt};
use super::{RunContext, TaskError};
use crate::llm::Question;
use crate::memory::{MAX_NOTES, Note, Notes, YOURS};
use crate::proposal::Draft;

pub fn run(ctx: &RunContext) -> Result<Vec<Draft>, TaskError> {
    let (Some(model), Some(memory)) = (ctx.model, ctx.memory) else { return Ok(vec![]) };
    let now = Utc::now();
    let current = memory.notes();
    // What happened since the last consolidation (at most a day): a night with nothing
    // new costs nothing.
    let since = current
        .consolidated_at
        .map_or(now - chrono::TimeDelta::days(1), |t| t.max(now - chrono::TimeDelta::days(1)));
    let log: Vec<String> = memory
        .log_since(since, 400)
        .into_iter()
        .filter(worth_keeping)
        .map(|e| {
            format!(
                "{} {} {}",
                e.at.format("%H:%M"),
                e.kind.as_str(),
                e.message.lines().next().unwrap_or("")
            )
        })
        .collect();
    if log.is_empty() {
        return Ok(vec![]);
    }
    // The notes you wrote are yours: the model reads them, and they stay as they are.
    let (yours, models): (Vec<&Note>, Vec<&Note>) =
        current.notes.iter().partition(|n| n.source == YOURS);
    let notes: Vec<String> = models.iter().map(|n| n.text.clone()).collect();
    let yours_text: Vec<String> = yours.iter().map(|n| n.text.clone()).collect();
    let name = ctx.root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let user = prompts::Dream {
        repo: Data::new(&name),
        day: (now - chrono::TimeDelta::days(1)).format("%Y-%m-%d").to_string(),
        max: MAX_NOTES,
        notes: Data::new(&if notes.is_empty() {
            "(none yet)".to_owned()
        } else {
            notes.join("\n")
        }),
        yours: Data::new(&yours_text.join("\n")),
        log: Data::new(&log.join("\n")),
    }
    .render(model)?;
    let answer = model.ask(
        &ctx.caller(),
        Question { user, fields: &["remember"], max_tokens: 4096 },
        &|_| Ok(()),
    )?;
    if answer.reply.remember.is_empty() {
        // Nothing to keep: the notes stay, and this day's log is not read again.
        memory.put_notes(&Notes { consolidated_at: Some(now), ..current });
        return Ok(vec![]);
    }
    let mut consolidated = Notes {
        version: current.version + 1,
        next_id: current.next_id,
        consolidated_at: Some(now),
        ..Notes::default()
    };
    consolidated.notes = yours.into_iter().cloned().collect();
    for item in answer.reply.remember.iter().take(MAX_NOTES) {
        consolidated.remember(item, "dream", now);
    }
    let (before, after) = (current.notes.len(), consolidated.notes.len());
    memory.consolidate(consolidated);
    memory.event(&format!(
        "dream: {before} notes consolidated into {after} (`kairos memory undo` puts the {before} back)"
    ));
    Ok(vec![])
}

/// Whether a log entry says something about the project or the user (news, and not the
/// dream's own).
fn worth_keeping(e: &crate::store::LogEntry) -> bool {
    e.is_news() && e.task.as_deref() != Some(super::DREAM) && !e.message.starts_with("dream:")
}
