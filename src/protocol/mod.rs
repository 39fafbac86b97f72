//! The control protocol between the CLI and the daemon: one JSON object per line over
//! a Unix socket. The client opens with a hello carrying `PROTOCOL_VERSION`; the daemon
//! answers with its own hello, or an error when the versions differ. Then each request
//! gets one response (`log --follow` gets a stream of them).

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::proposal::{Proposal, ProposalId, State};
use crate::store::{LogEntry, LogFilter};

mod frame;
pub use frame::*;

/// Bump when a request or response changes shape incompatibly.
pub const PROTOCOL_VERSION: u32 = 2;

/// The largest request the daemon reads: requests are small (ids, paths), and every
/// connection may hold one in memory, so this bounds what clients can make it hold.
pub const MAX_REQUEST: usize = 256 * 1024;

/// The largest response the CLI reads (a queue of many file changes can be large).
pub const MAX_RESPONSE: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Greeting {
    Hello { protocol: u32, version: String, pid: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum Request {
    Status,
    Queue {
        all: bool,
    },
    Show {
        id: ProposalId,
    },
    Approve {
        ids: Vec<ProposalId>,
        /// Also grant `auto` to changes of the same kind from now on.
        #[serde(default)]
        always: bool,
        /// How long the grant lasts (forever when absent).
        #[serde(default)]
        for_secs: Option<u64>,
    },
    Reject {
        ids: Vec<ProposalId>,
        reason: Option<String>,
    },
    Undo {
        id: ProposalId,
    },
    Log {
        limit: usize,
        follow: bool,
        #[serde(default, skip_serializing_if = "LogFilter::is_empty")]
        filter: LogFilter,
    },
    Run {
        task: String,
        repo: PathBuf,
        /// Stream the run's steps (`Response::Step`) before its outcome.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        progress: bool,
    },
    Watch {
        paths: Vec<PathBuf>,
    },
    Unwatch {
        paths: Vec<PathBuf>,
    },
    Snapshots {
        repo: Option<PathBuf>,
    },
    Restore {
        repo: PathBuf,
        snapshot: String,
        paths: Vec<PathBuf>,
    },
    PolicyExplain {
        subject: crate::policy::Subject,
    },
    PolicyShow,
    NotifyTest,
    PolicySimulate {
        since_secs: u64,
    },
    PolicyRevoke {
        id: String,
    },
    PolicyUndemote {
        task: String,
        repo: PathBuf,
    },
    LlmTest,
    /// The notes of one repository (or every one, with the global notes).
    MemoryShow {
        repo: Option<PathBuf>,
    },
    MemorySearch {
        text: String,
    },
    MemoryForget {
        repo: Option<PathBuf>,
        id: u64,
    },
    /// A note the user writes (of a repository, or global).
    MemoryAdd {
        repo: Option<PathBuf>,
        text: String,
    },
    /// Puts back the notes from before the last consolidation.
    MemoryUndo {
        repo: PathBuf,
    },
    /// The digests of a day (today when absent), of one repository or all.
    Digest {
        repo: Option<PathBuf>,
        date: Option<chrono::NaiveDate>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "response", rename_all = "snake_case")]
pub enum Response {
    Status {
        status: StatusReport,
    },
    Proposal {
        proposal: Box<Proposal>,
        /// The unified diff, for proposals that change files.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        diff: Option<String>,
    },
    Outcomes {
        outcomes: Vec<Outcome>,
    },
    Watched {
        outcomes: Vec<Outcome>,
    },
    Log {
        entries: Vec<LogEntry>,
    },
    LogEntry {
        entry: LogEntry,
    },
    LogEnd,
    /// What a run asked for with `progress` is doing now; its outcome follows.
    Step {
        step: String,
    },
    Snapshots {
        snapshots: Vec<SnapshotInfo>,
    },
    Explained {
        explanation: Box<crate::policy::Evaluation>,
    },
    PolicyReport {
        report: PolicyReport,
    },
    Simulated {
        changes: Vec<SimulatedChange>,
    },
    LlmTested {
        report: LlmTestReport,
    },
    Memory {
        memory: Vec<RepoNotes>,
    },
    Digests {
        digests: Vec<DigestReport>,
    },
    Error {
        error: ErrorBody,
    },
}

/// The policy in force, as `kairos policy show` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyReport {
    pub files: Vec<PathBuf>,
    pub rules: Vec<RuleSummary>,
    pub quiet_hours: Option<String>,
    pub max_auto_per_hour: u32,
    pub demote_after_rejections: u32,
    /// The caps that hold proposals at `propose` whatever the rules say, with why.
    #[serde(default)]
    pub caps: Vec<String>,
    pub grants: Vec<crate::policy::Grant>,
    pub demotions: Vec<crate::policy::Demotion>,
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSummary {
    pub id: String,
    pub file: PathBuf,
    pub layer: crate::policy::Layer,
    pub autonomy: crate::policy::Autonomy,
    pub shadow: bool,
}

/// A recorded proposal that today's policy would decide differently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimulatedChange {
    pub id: ProposalId,
    pub title: String,
    pub repo: String,
    pub then: String,
    pub now: String,
    pub decided_by: String,
}

/// A failure the user can act on: what went wrong and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    ProtocolMismatch,
    BadRequest,
    NotFound,
    Failed,
}

impl ErrorCode {
    /// The CLI's exit code for a failure of this kind (see the README's exit codes).
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorCode::BadRequest => 2,
            ErrorCode::ProtocolMismatch | ErrorCode::NotFound | ErrorCode::Failed => 1,
        }
    }
}

impl Response {
    pub fn error(code: ErrorCode, message: impl Into<String>, hint: Option<String>) -> Response {
        Response::Error { error: ErrorBody { code, message: message.into(), hint } }
    }
}

/// The result for one target of a request that acts on several (ids, paths).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub target: String,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<ProposalId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<State>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    pub version: String,
    pub protocol: u32,
    pub pid: u32,
    pub started_at: DateTime<Utc>,
    pub uptime_secs: u64,
    pub config_file: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_error: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_errors: Vec<String>,
    /// Why edits to the settings or policies are not picked up without a restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reload_problem: Option<String>,
    /// The model, when `[llm]` configures one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm: Option<LlmStatus>,
    pub repos: Vec<RepoStatus>,
    pub queue: BTreeMap<String, usize>,
    pub notifier: Vec<String>,
}

/// One repository's notes (`repo` empty: the global notes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoNotes {
    pub repo: String,
    pub notes: crate::memory::Notes,
}

/// One repository's digest of a day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestReport {
    pub repo: String,
    pub date: chrono::NaiveDate,
    /// `None`: nothing happened that day.
    pub text: Option<String>,
}

/// What `kairos llm test` got back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LlmTestReport {
    pub provider: String,
    pub model: String,
    pub latency_ms: u64,
    pub usage: crate::llm::Usage,
    pub reply: crate::llm::Reply,
    /// Why the reply broke the contract, if it did (the connection works all the same).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broke_contract: Option<String>,
    /// The reply as the model gave it (its first 2,000 characters).
    pub text: String,
}

/// The model as `kairos status` shows it: what, whether it is on, and what it used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LlmStatus {
    pub provider: String,
    pub model: String,
    /// Without user, password or query.
    pub base_url: String,
    /// Why it is off (a refused key, a spend limit), if it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub off: Option<String>,
    pub calls_last_hour: u64,
    pub max_calls_per_hour: u64,
    pub tokens_today: u64,
    pub max_tokens_per_day: u64,
    /// Today's calls and tokens per task.
    pub today: BTreeMap<String, crate::llm::TaskUsage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoStatus {
    pub path: PathBuf,
    /// `ok`, `missing` or `error`.
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Registered with `kairos watch` (false: watched because the daemon started in it).
    pub registered: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event: Option<TimedText>,
    pub next_runs: Vec<NextRun>,
    /// Directories with an inotify watch (each is one of the kernel's
    /// `fs.inotify.max_user_watches`).
    #[serde(default)]
    pub watched_dirs: usize,
    /// Why some directories are not watched, if so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch_problem: Option<String>,
    /// Directories git ignores as a whole, never entered (build output, dependencies).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_dirs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimedText {
    pub at: DateTime<Utc>,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextRun {
    pub task: String,
    pub at: DateTime<Utc>,
    pub schedule: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotInfo {
    pub repo: PathBuf,
    pub branch: String,
    pub commit: String,
    pub at: DateTime<Utc>,
    pub summary: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_is_one_json_frame_and_its_array_comes_back_out() {
        let array = r#"[{"id":1,"title":"a \"quoted\" }"},{"id":2}]"#;
        let frame = listing_frame(array);
        let decoded: serde_json::Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(decoded["response"], "proposals");
        assert_eq!(decoded["proposals"][1]["id"], 2);
        let sent = format!("{frame}\n");
        assert_eq!(listing_array(sent.as_bytes()), Some(array.as_bytes()));
        let error =
            serde_json::to_string(&Response::error(ErrorCode::BadRequest, "x", None)).unwrap();
        assert_eq!(listing_array(error.as_bytes()), None);
    }

    #[test]
    fn requests_have_a_stable_wire_form() {
        let r = Request::Reject { ids: vec![3], reason: Some("later".into()) };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"request":"reject","ids":[3],"reason":"later"}"#
        );
        let hello = Greeting::Hello { protocol: 1, version: "0.1.0".into(), pid: 7 };
        assert_eq!(
            serde_json::to_string(&hello).unwrap(),
            r#"{"hello":{"protocol":1,"version":"0.1.0","pid":7}}"#
        );
    }

    #[tokio::test]
    async fn frames_round_trip() {
        let mut buf = Vec::new();
        write_frame(&mut buf, &Request::Queue { all: true }).await.unwrap();
        write_frame(&mut buf, &Request::Status).await.unwrap();
        let mut reader = tokio::io::BufReader::new(&buf[..]);
        let a: Option<Request> = read_frame(&mut reader, MAX_REQUEST).await.unwrap();
        let b: Option<Request> = read_frame(&mut reader, MAX_REQUEST).await.unwrap();
        let end: Option<Request> = read_frame(&mut reader, MAX_REQUEST).await.unwrap();
        assert_eq!(a, Some(Request::Queue { all: true }));
        assert_eq!(b, Some(Request::Status));
        assert_eq!(end, None);
    }
}
