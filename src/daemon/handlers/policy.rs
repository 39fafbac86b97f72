//! `kairos policy explain|show|simulate|revoke|undemote`.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::Utc;

use crate::daemon::core::Core;
use crate::daemon::policy;
use crate::policy::Subject;
use crate::protocol::{ErrorCode, Outcome, PolicyReport, Response, RuleSummary, SimulatedChange};
use crate::store::{LogEntry, LogKind};

pub async fn explain(core: &Arc<Core>, mut subject: Subject) -> Response {
    if let Some(repo) = &subject.repo {
        subject.repo = Some(
            std::fs::canonicalize(repo)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or(repo.clone()),
        );
    }
    let root = PathBuf::from(subject.repo.clone().unwrap_or_default());
    let core = core.clone();
    match tokio::task::spawn_blocking(move || policy::decide(&core, &root, &subject)).await {
        Ok(explanation) => Response::Explained { explanation: Box::new(explanation) },
        Err(e) => super::internal(e),
    }
}

pub fn show(core: &Core) -> Response {
    let set = core.policy.set();
    let rules = set
        .files
        .iter()
        .flat_map(|f| f.rules.iter())
        .map(|r| RuleSummary {
            id: r.at.id.clone(),
            file: r.at.file.clone(),
            layer: r.at.layer,
            autonomy: r.autonomy,
            shadow: r.shadow,
        })
        .collect();
    Response::PolicyReport {
        report: PolicyReport {
            files: set.files.iter().map(|f| f.path.clone()).collect(),
            rules,
            quiet_hours: set.defaults.quiet_hours.as_ref().map(|w| w.source().to_owned()),
            max_auto_per_hour: set.defaults.max_auto_per_hour,
            demote_after_rejections: set.defaults.demote_after_rejections,
            caps: crate::policy::Cap::ALL.iter().map(|c| c.reason().to_owned()).collect(),
            grants: core.store.grants().unwrap_or_default(),
            demotions: core.store.demotions().unwrap_or_default(),
            errors: core.policy.errors(),
        },
    }
}

/// Replays recorded proposals through today's policy and lists the differences.
pub async fn simulate(core: &Arc<Core>, since_secs: u64) -> Response {
    let core = core.clone();
    let since = i64::try_from(since_secs)
        .ok()
        .and_then(chrono::TimeDelta::try_seconds)
        .and_then(|d| Utc::now().checked_sub_signed(d))
        .unwrap_or(chrono::DateTime::<Utc>::MIN_UTC);
    let result = tokio::task::spawn_blocking(move || {
        let mut changes = Vec::new();
        for p in core.store.proposals().flatten().filter(|p| p.created_at >= since) {
            let Some(then) = &p.decision else { continue };
            if then.decided_by == crate::policy::DecidedBy::User {
                continue;
            }
            let now = policy::decide(&core, std::path::Path::new(&p.repo), &Subject::of(&p));
            if now.autonomy != then.autonomy {
                changes.push(SimulatedChange {
                    id: p.id,
                    title: p.title.clone(),
                    repo: p.repo.clone(),
                    then: then.autonomy.to_string(),
                    now: now.autonomy.to_string(),
                    decided_by: now.decided_by.to_string(),
                });
            }
        }
        changes
    })
    .await;
    match result {
        Ok(changes) => Response::Simulated { changes },
        Err(e) => super::internal(e),
    }
}

pub async fn revoke(core: &Arc<Core>, id: String) -> Response {
    match core.store.remove_grant(&id) {
        Ok(true) => {
            let _ = core.store.flush().await;
            core.log(LogEntry::new(LogKind::Decision, None, format!("grant {id} revoked by user")));
            done(&id, format!("grant {id} revoked"))
        }
        Ok(false) => Response::error(
            ErrorCode::NotFound,
            format!("there is no grant {id}"),
            Some("`kairos policy show` lists the grants".into()),
        ),
        Err(e) => super::internal(e),
    }
}

pub async fn undemote(core: &Arc<Core>, task: String, repo: PathBuf) -> Response {
    let repo = std::fs::canonicalize(&repo).unwrap_or(repo).to_string_lossy().into_owned();
    // Earlier rejections stay on record but no longer count towards a new demotion.
    match core.store.lift_demotion(&repo, &task, Utc::now()) {
        Ok(true) => {
            let _ = core.store.flush().await;
            core.log(
                LogEntry::new(
                    LogKind::Decision,
                    Some(&repo),
                    format!("{task} is no longer demoted (by user)"),
                )
                .task(&task),
            );
            done(&task, format!("{task} in {repo} follows the policy again"))
        }
        Ok(false) => {
            Response::error(ErrorCode::NotFound, format!("{task} is not demoted in {repo}"), None)
        }
        Err(e) => super::internal(e),
    }
}

fn done(target: &str, message: String) -> Response {
    Response::Outcomes {
        outcomes: vec![Outcome {
            target: target.to_owned(),
            ok: true,
            id: None,
            state: None,
            message,
        }],
    }
}
