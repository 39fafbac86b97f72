//! `commit-message`: when the index holds staged changes and has been quiet, ask the
//! model for a commit message in the project's style, and propose committing exactly the
//! staged tree with it (`git.commit`). One proposal per staged tree: a tree already
//! proposed (or rejected) costs no call. Without a model it does nothing.

use git2::{Oid, Repository};

use super::prompts::{self, Data, Prompt};
use super::{RunContext, TaskError};
use crate::action::Action;
use crate::llm::{ContractError, Question, Reply, material};
use crate::proposal::{Change, Draft, Origin, Provenance};

/// How many recent subjects show the project's style.
const RECENT: usize = 8;
/// A subject and a short body fit well within this.
const MAX_REPLY_TOKENS: u32 = 512;

pub fn run(ctx: &RunContext) -> Result<Vec<Draft>, TaskError> {
    let Some(model) = ctx.model else { return Ok(vec![]) };
    let repo = ctx.repo;
    let Some(branch) = crate::git::current_branch(repo) else { return Ok(vec![]) };
    let parent = repo.refname_to_id(&format!("refs/heads/{branch}")).ok();
    let Ok(tree) = crate::apply::staged_tree(repo)? else { return Ok(vec![]) };
    let parent_tree = parent.map(|p| repo.find_commit(p).map(|c| c.tree_id())).transpose()?;
    let empty = repo.treebuilder(None)?.write()?;
    if parent_tree.unwrap_or(empty) == tree {
        return Ok(vec![]);
    }
    let parent_text = parent.map(|p| p.to_string());
    let fingerprint =
        format!("git.commit:{branch}:{}:{tree}", parent_text.as_deref().unwrap_or("unborn"));
    if (ctx.would_skip)(&fingerprint) {
        return Ok(vec![]);
    }
    let staged = material::tree_diff(
        repo,
        parent_tree,
        tree,
        model.max_file_size(),
        ctx.settings.model.max_diff_lines,
    )?;
    if staged.diff.trim().is_empty() {
        // Everything staged is something kairos does not send: nothing to ask about.
        return Ok(vec![]);
    }
    let user = prompts::CommitMessage {
        branch: Data::new(&branch),
        recent: Data::new(&recent_subjects(repo, parent)),
        staged: (&staged).into(),
    }
    .render(model)?;
    let check = |reply: &Reply| -> Result<(), ContractError> {
        match &reply.commit_message {
            Some(m) if m.subject.trim().is_empty() && !m.body.trim().is_empty() => {
                Err(ContractError::EmptySubject)
            }
            _ => Ok(()),
        }
    };
    let question = Question { user, fields: &["commit_message"], max_tokens: MAX_REPLY_TOKENS };
    ctx.step("asking the model");
    let answer = model.ask(&ctx.caller(), question, &check)?;
    // An empty reply is silence.
    let Some(message) = answer.reply.commit_message.filter(|m| !m.subject.trim().is_empty()) else {
        return Ok(vec![]);
    };
    let subject: String =
        message.subject.lines().next().unwrap_or_default().trim().chars().take(120).collect();
    let body = message.body.trim();
    let full = if body.is_empty() { subject.clone() } else { format!("{subject}\n\n{body}") };
    let mut why = format!(
        "{} {} staged (+{} −{}); the message is the model {}'s suggestion",
        staged.files,
        if staged.files == 1 { "file" } else { "files" },
        staged.added,
        staged.removed,
        answer.model
    );
    if !staged.left_out.is_empty() {
        why.push_str(&format!("; not shown to it: {}", staged.left_out.join(", ")));
    }
    Ok(vec![Draft {
        action: Action::Commit,
        changed_lines: (staged.added + staged.removed) as u64,
        title: format!("commit staged changes: {subject}"),
        why,
        fingerprint,
        change: Change::Commit {
            branch,
            parent: parent_text,
            tree: tree.to_string(),
            message: full,
        },
        provenance: Provenance {
            origin: Origin::Model { model: answer.model },
            read_untrusted: true,
        },
    }])
}

/// The subjects of the last commits on the branch, newest first.
fn recent_subjects(repo: &Repository, head: Option<Oid>) -> String {
    let Some(head) = head else { return "(no commits yet)".into() };
    let Ok(mut walk) = repo.revwalk() else { return String::new() };
    if walk.push(head).is_err() {
        return String::new();
    }
    walk.filter_map(Result::ok)
        .take(RECENT)
        .filter_map(|id| repo.find_commit(id).ok())
        .filter_map(|c| c.summary().ok().flatten().map(str::to_owned))
        .collect::<Vec<_>>()
        .join("\n")
}
