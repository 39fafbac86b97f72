use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::oneshot;

use crate::daemon::core::Core;
use crate::daemon::repo::{RunError, Signal};
use crate::protocol::{ErrorCode, Outcome, Response};
use crate::tasks::TaskError;

pub async fn handle(core: &Arc<Core>, task: String, repo: PathBuf) -> Response {
    let root = std::fs::canonicalize(&repo).unwrap_or(repo);
    let tx = core.repos.lock().await.get(&root).map(|h| h.tx.clone());
    let Some(tx) = tx else {
        return Response::error(
            ErrorCode::NotFound,
            format!("{} is not watched", root.display()),
            Some(format!("watch it first: kairos watch {}", root.display())),
        );
    };
    let (reply, answer) = oneshot::channel();
    if tx.send(Signal::RunNow { task: task.clone(), reply }).await.is_err() {
        return Response::error(ErrorCode::Failed, "the repository's worker has stopped", None);
    }
    match answer.await {
        Ok(Ok(summary)) => Response::Outcomes {
            outcomes: vec![Outcome {
                target: task,
                ok: true,
                id: None,
                state: None,
                message: summary,
            }],
        },
        Ok(Err(RunError::Task(TaskError::Unknown(name)))) => Response::error(
            ErrorCode::NotFound,
            format!("there is no task {name:?} in {}", root.display()),
            Some("`kairos status` lists each repository's tasks".into()),
        ),
        Ok(Err(e @ RunError::Disabled(_))) => {
            Response::error(ErrorCode::Failed, e.to_string(), None)
        }
        Ok(Err(e)) => Response::error(ErrorCode::Failed, format!("{task} failed: {e}"), None),
        Err(_) => Response::error(ErrorCode::Failed, "the daemon is stopping", None),
    }
}
