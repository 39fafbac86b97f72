//! `kairos memory show|search|add|forget|export|undo`.

use std::path::PathBuf;
use std::sync::Arc;

use crate::daemon::core::Core;
use crate::protocol::{ErrorCode, Outcome, RepoNotes, Response};
use crate::store::{LogEntry, LogKind};

/// The repository key as the daemon keeps it (canonical), or the error to answer.
fn key(repo: PathBuf) -> Result<String, Box<Response>> {
    crate::registry::resolve_repo(&repo)
        .map(|r| r.to_string_lossy().into_owned())
        .map_err(|e| Box::new(Response::error(ErrorCode::BadRequest, e, None)))
}

pub async fn show(core: &Arc<Core>, repo: Option<PathBuf>) -> Response {
    let repos = match repo {
        Some(repo) => match key(repo) {
            Ok(k) => vec![k],
            Err(e) => return *e,
        },
        None => {
            let mut all = core.store.noted_repos().unwrap_or_default();
            if !all.contains(&String::new()) {
                all.push(String::new());
            }
            all.sort();
            all
        }
    };
    let memory = repos
        .into_iter()
        .map(|repo| RepoNotes { notes: core.store.notes(&repo).unwrap_or_default(), repo })
        .collect();
    Response::Memory { memory }
}

pub async fn search(core: &Arc<Core>, text: String) -> Response {
    let mut memory = Vec::new();
    for repo in core.store.noted_repos().unwrap_or_default() {
        let mut notes = core.store.notes(&repo).unwrap_or_default();
        let found: Vec<u64> = notes.search(&text).iter().map(|n| n.id).collect();
        notes.notes.retain(|n| found.contains(&n.id));
        if !notes.notes.is_empty() {
            memory.push(RepoNotes { repo, notes });
        }
    }
    Response::Memory { memory }
}

pub async fn forget(core: &Arc<Core>, repo: Option<PathBuf>, id: u64) -> Response {
    let repo = match repo.map(key).transpose() {
        Ok(r) => r.unwrap_or_default(),
        Err(e) => return *e,
    };
    let mut notes = core.store.notes(&repo).unwrap_or_default();
    if !notes.forget(id) {
        let place = if repo.is_empty() { "the global notes".to_owned() } else { repo.clone() };
        // Ids are per repository: say where a note with this id is, if anywhere.
        let elsewhere: Vec<String> = core
            .store
            .noted_repos()
            .unwrap_or_default()
            .into_iter()
            .filter(|r| *r != repo && !r.is_empty())
            .filter(|r| core.store.notes(r).unwrap_or_default().notes.iter().any(|n| n.id == id))
            .collect();
        let hint = match elsewhere.as_slice() {
            [] => "`kairos memory show` lists the notes with their ids".to_owned(),
            [one] => format!("note #{id} of {one}: `kairos memory forget {id} --repo {one}`"),
            _ => format!("notes #{id} are in {}: add `--repo PATH`", elsewhere.join(", ")),
        };
        return Response::error(
            ErrorCode::NotFound,
            format!("there is no note #{id} in {place}"),
            Some(hint),
        );
    }
    if let Err(e) = core.store.put_notes(&repo, &notes).and(core.store.flush().await) {
        return super::internal(e);
    }
    core.log(LogEntry::new(
        LogKind::Decision,
        (!repo.is_empty()).then_some(repo.as_str()),
        format!("note #{id} forgotten by user"),
    ));
    done(format!("note #{id} forgotten"))
}

pub async fn add(core: &Arc<Core>, repo: Option<PathBuf>, text: String) -> Response {
    let repo = match repo.map(key).transpose() {
        Ok(r) => r.unwrap_or_default(),
        Err(e) => return *e,
    };
    let mut notes = core.store.notes(&repo).unwrap_or_default();
    let Some(id) = notes.remember(&text, crate::memory::YOURS, chrono::Utc::now()) else {
        return Response::error(
            ErrorCode::BadRequest,
            "that note is empty or there already",
            Some("`kairos memory search TEXT` finds it".into()),
        );
    };
    if let Err(e) = core.store.put_notes(&repo, &notes).and(core.store.flush().await) {
        return super::internal(e);
    }
    core.log(LogEntry::new(
        LogKind::Decision,
        (!repo.is_empty()).then_some(repo.as_str()),
        format!("note #{id} added by user"),
    ));
    done(format!("note #{id} added"))
}

pub async fn undo(core: &Arc<Core>, repo: PathBuf) -> Response {
    let repo = match key(repo) {
        Ok(k) => k,
        Err(e) => return *e,
    };
    match core.store.undo_consolidation(&repo) {
        Ok(true) => {
            let _ = core.store.flush().await;
            core.log(LogEntry::new(
                LogKind::Decision,
                Some(&repo),
                "the last consolidation of the notes undone by user",
            ));
            done(format!("the notes of {repo} are back as they were before the last consolidation"))
        }
        Ok(false) => Response::error(
            ErrorCode::NotFound,
            format!("{repo} has no consolidation to undo"),
            None,
        ),
        Err(e) => super::internal(e),
    }
}

fn done(message: String) -> Response {
    Response::Outcomes {
        outcomes: vec![Outcome {
            target: "memory".into(),
            ok: true,
            id: None,
            state: None,
            message,
        }],
    }
}
