//! Buttons pressed on notifications: each takes the same path as the CLI command of the
//! same name (`approve` applies under the same preconditions), and is logged.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::core::Core;
use super::handlers;
use crate::notifier::UserAction;
use crate::protocol::Response;
use crate::store::{LogEntry, LogKind};

pub async fn serve(core: Arc<Core>, mut actions: mpsc::Receiver<UserAction>) {
    while let Some(action) = actions.recv().await {
        let ids = action.proposals.clone();
        let shown: Vec<String> = ids.iter().map(|i| format!("#{i}")).collect();
        core.log(LogEntry::new(
            LogKind::Decision,
            None,
            format!("notification button {:?} pressed for {}", action.key, shown.join(", ")),
        ));
        let response = match action.key.as_str() {
            "approve" => handlers::approve(&core, ids).await,
            "reject" => handlers::reject(&core, ids).await,
            "undo" => {
                for id in ids {
                    report(&core, handlers::undo(&core, id).await);
                }
                continue;
            }
            "show" => {
                show(&core, &ids);
                continue;
            }
            other => {
                tracing::warn!("unknown notification action {other:?}");
                continue;
            }
        };
        report(&core, response);
    }
}

fn report(core: &Core, response: Response) {
    let text = match response {
        Response::Outcomes { outcomes } => {
            outcomes.into_iter().map(|o| o.message).collect::<Vec<_>>().join("; ")
        }
        Response::Error { error } => error.message,
        _ => return,
    };
    core.log(LogEntry::new(LogKind::Decision, None, format!("from a notification: {text}")));
}

/// Opens `kairos show ID` (or `kairos queue`) in a terminal when one can be found, and
/// says where to look otherwise.
fn show(core: &Core, ids: &[u64]) {
    let command: Vec<String> = match ids {
        [one] => vec!["kairos".into(), "show".into(), one.to_string()],
        _ => vec!["kairos".into(), "queue".into()],
    };
    let terminal = std::env::var("TERMINAL").ok().or_else(|| {
        crate::process::which("x-terminal-emulator").map(|p| p.to_string_lossy().into_owned())
    });
    let opened = terminal.is_some_and(|t| {
        crate::process::without_secrets(&mut std::process::Command::new(t))
            .arg("-e")
            .args(&command)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            // Reaped when the user closes it, so no zombie is left behind.
            .map(|mut child| std::thread::spawn(move || child.wait()))
            .is_ok()
    });
    if !opened {
        core.log(LogEntry::new(
            LogKind::Event,
            None,
            format!("no terminal to open; run `{}`", command.join(" ")),
        ));
    }
}
