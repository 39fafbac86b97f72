use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;

use crate::daemon::core::{Core, RepoHealth};
use crate::protocol::{PROTOCOL_VERSION, RepoStatus, Response, StatusReport};

pub async fn handle(core: &Arc<Core>) -> Response {
    let queue: BTreeMap<String, usize> = match core.store.count_by_state() {
        Ok(counts) => counts.into_iter().map(|(s, n)| (s.to_string(), n)).collect(),
        Err(e) => return super::internal(e),
    };
    let repos = core
        .repos
        .lock()
        .await
        .iter()
        .map(|(path, handle)| {
            let rt = handle.runtime.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let (state, reason) = match rt.state {
                RepoHealth::Ok => ("ok", None),
                RepoHealth::Missing(why) => ("missing", Some(why)),
                RepoHealth::Error(why) => ("error", Some(why)),
            };
            RepoStatus {
                path: path.clone(),
                state: state.into(),
                reason,
                registered: handle.registered,
                last_event: rt.last_event,
                next_runs: rt.next_runs,
                watched_dirs: rt.watched_dirs,
                watch_problem: rt.watch_problem,
                skipped_dirs: rt.skipped_dirs,
            }
        })
        .collect();
    let config = core.config_state();
    Response::Status {
        status: StatusReport {
            version: crate::VERSION.into(),
            protocol: PROTOCOL_VERSION,
            pid: std::process::id(),
            started_at: core.started_at,
            uptime_secs: (Utc::now() - core.started_at).num_seconds().max(0) as u64,
            config_file: core.paths.config_file(),
            config_error: config.error,
            policy_errors: core.policy.errors(),
            reload_problem: core.reload_problem.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            llm: core.llm().map(|llm| llm.status()),
            repos,
            queue,
            notifier: core.notifier.states(),
        },
    }
}
