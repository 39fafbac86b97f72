//! What both wire formats share: the request kairos makes, what a response is folded
//! into, and how a provider's failures are sorted (retry, refuse, give up).

use std::time::Duration;

use serde_json::Value;

use super::LlmError;
use super::budget::Usage;

/// The description of the `reply` tool, the only tool a model is ever given: it runs
/// nothing, its input is the reply.
pub const REPLY_TOOL: &str = "Give your whole answer here, once. Leave out what you have \
    nothing to say about; an empty object means there is nothing to say.";

/// One call: the system prompt and the user's turn, already rendered.
#[derive(Debug, Clone)]
pub struct Request {
    pub model: String,
    pub system: String,
    pub user: String,
    pub max_tokens: u32,
    /// The reply's fields this call asks for (all when empty).
    pub fields: &'static [&'static str],
}

/// How the structured reply is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Tools,
    JsonSchema,
}

/// What a response comes to: the reply's JSON (a tool's arguments, or the message text
/// under a JSON schema), the tokens used, and why the model stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Collected {
    pub text: String,
    pub tool_json: String,
    pub usage: Usage,
    pub stop: Option<String>,
}

impl Collected {
    /// The reply's JSON text: the tool's input when the model called it, else the text.
    pub fn reply_json(&self, mode: Mode) -> &str {
        match mode {
            Mode::Tools if !self.tool_json.is_empty() => &self.tool_json,
            _ => &self.text,
        }
    }
}

/// Whether a stream has more to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    More,
    Done,
}

/// Sorts a failed HTTP response.
pub fn status_error(status: u16, body: &str, retry_after: Option<Duration>) -> LlmError {
    let lower = body.to_lowercase();
    let message = error_message(body);
    let spend_limit =
        ["insufficient_quota", "spend limit", "spending limit", "credit balance", "billing"]
            .iter()
            .any(|p| lower.contains(p));
    match status {
        401 | 403 => LlmError::Refused(format!(
            "the endpoint refused the API key ({status}: {message}); check api_key_env / api_key_file in [llm]"
        )),
        429 if spend_limit => LlmError::Refused(format!(
            "the account's spend limit is reached (429: {message}); raise it with the provider, then edit the config to turn the model on again"
        )),
        429 | 529 | 500..=503 => {
            LlmError::Transient { why: format!("{status}: {message}"), retry_after }
        }
        400 | 404 | 422 if lower.contains("tool") => {
            LlmError::NoTools(format!("{status}: {message}"))
        }
        _ => LlmError::Request(format!("{status}: {message}")),
    }
}

/// The provider's own words, from `{"error": {"message": ...}}` or the body itself.
fn error_message(body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| {
            v["error"]["message"].as_str().or(v["error"].as_str()).or(v["message"].as_str())
        })
        .map(str::to_owned)
        .unwrap_or_else(|| body.chars().take(300).collect());
    message.trim().to_owned()
}

/// An error reported inside a stream that began with HTTP 200.
pub fn error_in_stream(error: &Value) -> LlmError {
    let kind = error["type"].as_str().unwrap_or("error");
    let message = error["message"].as_str().unwrap_or(kind).to_owned();
    match kind {
        "overloaded_error" | "api_error" | "rate_limit_error" | "server_error" => {
            LlmError::Transient {
                why: format!("{kind} in the stream: {message}"),
                retry_after: None,
            }
        }
        "authentication_error" | "permission_error" => {
            LlmError::Refused(format!("{kind}: {message}; check the API key in [llm]"))
        }
        _ => LlmError::Request(format!("{kind}: {message}")),
    }
}

/// The longest wait a `retry-after` is honoured for: past it, the call fails and the
/// task's next run tries again.
const LONGEST_RETRY_WAIT: f64 = 300.0;

/// `retry-after` in seconds or as an HTTP date (RFC 9110), read at `now`; a value that
/// is neither is taken as a minute.
pub fn retry_after(value: Option<&str>, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value?.trim();
    let seconds = match value.parse::<f64>() {
        Ok(seconds) if seconds >= 0.0 => seconds,
        _ => match chrono::DateTime::parse_from_rfc2822(value) {
            Ok(at) => (at.with_timezone(&chrono::Utc) - now).num_milliseconds().max(0) as f64 / 1e3,
            Err(_) => 60.0,
        },
    };
    Some(Duration::from_secs_f64(seconds.min(LONGEST_RETRY_WAIT)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_sorted_into_retry_refuse_and_give_up() {
        assert!(matches!(status_error(429, "{}", None), LlmError::Transient { .. }));
        assert!(matches!(status_error(529, "", None), LlmError::Transient { .. }));
        assert!(matches!(status_error(503, "busy", None), LlmError::Transient { .. }));
        assert!(matches!(status_error(401, "{}", None), LlmError::Refused(_)));
        let quota = r#"{"error":{"message":"You exceeded your current quota","code":"insufficient_quota"}}"#;
        assert!(matches!(status_error(429, quota, None), LlmError::Refused(_)));
        assert!(matches!(
            status_error(400, r#"{"error":"model does not support tools"}"#, None),
            LlmError::NoTools(_)
        ));
        assert!(matches!(status_error(404, "no such model", None), LlmError::Request(_)));
        let now = chrono::DateTime::parse_from_rfc3339("2026-10-21T07:27:30Z").unwrap().into();
        assert_eq!(retry_after(Some("2"), now), Some(Duration::from_secs(2)));
        assert_eq!(
            retry_after(Some("Wed, 21 Oct 2026 07:28:00 GMT"), now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after(Some("Wed, 21 Oct 2026 07:00:00 GMT"), now),
            Some(Duration::ZERO),
            "a date in the past"
        );
        assert_eq!(retry_after(Some("soon"), now), Some(Duration::from_secs(60)));
        assert_eq!(retry_after(Some("86400"), now), Some(Duration::from_secs(300)));
        assert_eq!(retry_after(None, now), None);
    }
}
