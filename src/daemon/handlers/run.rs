//! `kairos run TASK`: the run, and with `progress` its steps streamed before the outcome.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::io::AsyncWrite;
use tokio::sync::{mpsc, oneshot};

use crate::daemon::core::Core;
use crate::daemon::repo::{RunError, Signal, Steps};
use crate::protocol::{ErrorCode, FrameError, Outcome, Response, write_frame};
use crate::tasks::TaskError;

/// Steps a slow reader has not taken yet; more are dropped (the next says more).
const STEPS_BACKLOG: usize = 32;

/// Runs the task and writes each step (`Response::Step`) as it happens, then the
/// outcome. A client that hangs up does not stop the run.
pub async fn stream<W: AsyncWrite + Unpin>(
    core: &Arc<Core>,
    task: String,
    repo: PathBuf,
    w: &mut W,
) -> Result<(), FrameError> {
    let (steps, mut rx) = mpsc::channel(STEPS_BACKLOG);
    let answer = handle(core, task, repo, Some(steps));
    tokio::pin!(answer);
    loop {
        tokio::select! {
            response = &mut answer => {
                while let Ok(step) = rx.try_recv() {
                    write_frame(w, &Response::Step { step }).await?;
                }
                return write_frame(w, &response).await;
            }
            Some(step) = rx.recv() => write_frame(w, &Response::Step { step }).await?,
        }
    }
}

pub async fn handle(
    core: &Arc<Core>,
    task: String,
    repo: PathBuf,
    steps: Option<Steps>,
) -> Response {
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
    if tx.send(Signal::RunNow { task: task.clone(), reply, steps }).await.is_err() {
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
