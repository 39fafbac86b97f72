//! Talking to a model — any Anthropic- or OpenAI-compatible endpoint, local or remote —
//! safely and within a budget. One structured reply per call (`reply`), streamed and
//! parsed as each provider specifies (`openai`, `anthropic`, over `client`); nothing
//! ignored or secret is sent and token-shaped strings are redacted (`redact`); prompts
//! are templates (`prompt`); calls and tokens are counted against the budgets
//! (`budget`). The model only ever answers: its reply is parsed and checked, never run,
//! and whatever it suggests is a draft the policy caps at `propose`.

mod anthropic;
pub mod budget;
mod client;
pub mod material;
mod openai;
pub mod prompt;
pub mod redact;
pub mod reply;
mod wire;

use std::time::Duration;

pub use budget::{DayUsage, OverBudget, TaskUsage, Usage};
pub use client::{Client, Completion};
pub use reply::{CommitMessage, ContractError, Edit, Note, Reply};
pub use wire::Request;

/// Why a call gave no reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlmError {
    /// The key or the account was refused (401, 403, a spend limit): the model is off
    /// until the config changes.
    #[error("{0}")]
    Refused(String),
    /// Worth trying again (429, 529, 500–503, a dropped connection or cut-off stream).
    #[error("{why}")]
    Transient { why: String, retry_after: Option<Duration> },
    /// The request is wrong (400, 404…); retrying would not help.
    #[error("the model server refused the request: {0}")]
    Request(String),
    /// The server does not take tools (`structured = "auto"` then asks with a schema).
    #[error(
        "the model server does not take tools: {0}; with an OpenAI-compatible server, set structured = \"json_schema\" in [llm] (the Anthropic API always takes them: check base_url)"
    )]
    NoTools(String),
    /// The reply broke the contract, and did again when asked once more.
    #[error("the model's reply broke the contract: {0}")]
    Contract(ContractError),
    #[error("over the model budget ({}); kairos asks again after {}", .0.why, .0.until.with_timezone(&chrono::Local).format("%H:%M"))]
    OverBudget(OverBudget),
    /// The model is off (refused earlier, or its key cannot be read).
    #[error("the model is off: {0}")]
    Off(String),
}

/// An API key: never logged, never shown (`Debug` says so).
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: String) -> ApiKey {
        ApiKey(key)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey([hidden])")
    }
}

/// What a task asks: its rendered prompt, the reply's fields it wants (all when empty),
/// and how long the reply may run.
#[derive(Debug, Clone)]
pub struct Question {
    pub user: String,
    pub fields: &'static [&'static str],
    pub max_tokens: u32,
}

/// Who asks, and why: every call is logged with the task, its repository and the signal
/// that started the run.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub task: String,
    /// The repository's key; empty for calls that are not about one.
    pub repo: String,
    /// The trigger, as `kairos log` says it ("new commit", "idle", "kairos run").
    pub why: String,
}

/// What a call came to, for the task that asked.
#[derive(Debug, Clone)]
pub struct Answer {
    pub reply: Reply,
    pub usage: Usage,
    pub latency: Duration,
    /// The model that answered, as configured.
    pub model: String,
}

/// The model as a task sees it (`RunContext::model`): renders prompts and asks, blocking;
/// the daemon's implementation checks the budget first and records what it cost.
pub trait Model: Send + Sync {
    /// The configured model's name.
    fn name(&self) -> String;

    /// Files larger than this are never sent.
    fn max_file_size(&self) -> u64;

    /// Renders the prompt template `name` with `context`.
    fn render(&self, name: &str, context: &serde_json::Value) -> Result<String, String>;

    /// Asks once for `caller` (and once more if the reply breaks the contract, giving the
    /// reason); `check` tells whether a reply keeps the contract.
    fn ask(
        &self,
        caller: &Caller,
        question: Question,
        check: &dyn Fn(&Reply) -> Result<(), ContractError>,
    ) -> Result<Answer, LlmError>;
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_key_never_shows() {
        let key = super::ApiKey::new("sk-secret-value".into());
        assert_eq!(format!("{key:?}"), "ApiKey([hidden])");
    }
}
