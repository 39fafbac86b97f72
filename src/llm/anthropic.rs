//! The Anthropic Messages wire format (`POST {base_url}/v1/messages`): the reply is a tool
//! the request forces, the system prompt and the tool are marked for the prompt cache.

use serde_json::{Value, json};

use super::LlmError;
use super::budget::Usage;
use super::wire::{Collected, Flow, Request};

pub const VERSION: &str = "2023-06-01";

pub fn url(base_url: &str) -> String {
    format!("{base_url}/v1/messages")
}

pub fn body(request: &Request, stream: bool) -> Value {
    json!({
        "model": request.model,
        "max_tokens": request.max_tokens,
        "temperature": 0,
        "stream": stream,
        // The system prompt and the tool are the same on every call: cached.
        "system": [{ "type": "text", "text": request.system, "cache_control": { "type": "ephemeral" } }],
        "messages": [{ "role": "user", "content": request.user }],
        "tools": [{
            "name": "reply",
            "description": super::wire::REPLY_TOOL,
            "input_schema": super::reply::schema(false, request.fields),
            "cache_control": { "type": "ephemeral" },
        }],
        "tool_choice": { "type": "tool", "name": "reply" },
    })
}

fn usage(u: &Value, into: &mut Usage) {
    let field = |name: &str| u[name].as_u64();
    if let Some(n) = field("input_tokens") {
        into.input = n;
    }
    if let Some(n) = field("output_tokens") {
        into.output = n;
    }
    if let Some(n) = field("cache_read_input_tokens") {
        into.cache_read = n;
    }
    if let Some(n) = field("cache_creation_input_tokens") {
        into.cache_write = n;
    }
}

/// A whole (not streamed) response body.
pub fn parse_body(body: &str) -> Result<Collected, LlmError> {
    let value: Value = serde_json::from_str(body).map_err(|e| LlmError::Transient {
        why: format!("an unreadable response ({e})"),
        retry_after: None,
    })?;
    let mut collected = Collected::default();
    usage(&value["usage"], &mut collected.usage);
    for block in value["content"].as_array().into_iter().flatten() {
        match block["type"].as_str() {
            Some("tool_use") if block["name"] == "reply" => {
                collected.tool_json = block["input"].to_string();
            }
            Some("text") => collected.text.push_str(block["text"].as_str().unwrap_or_default()),
            _ => {}
        }
    }
    collected.stop = value["stop_reason"].as_str().map(str::to_owned);
    Ok(collected)
}

/// Folds the event sequence `message_start → content_block_start → content_block_delta
/// → content_block_stop → message_delta → message_stop`; `ping` and unknown events are
/// ignored, an `error` event (even after HTTP 200) fails the call. `message_delta`'s
/// usage is cumulative: the last one counts.
#[derive(Debug, Default)]
pub struct Stream {
    collected: Collected,
    /// The index of the `reply` tool's content block, and its JSON pieces.
    reply_block: Option<u64>,
    pieces: String,
    stopped: bool,
}

impl Stream {
    pub fn event(&mut self, name: &str, data: &str) -> Result<Flow, LlmError> {
        let bad = |e: serde_json::Error| LlmError::Transient {
            why: format!("an unreadable stream event ({e})"),
            retry_after: None,
        };
        // `ping`, and event types added after this was written, are not ours to read.
        const READ: &[&str] = &[
            "message_start",
            "content_block_start",
            "content_block_delta",
            "message_delta",
            "message_stop",
            "error",
        ];
        if !READ.contains(&name) {
            return Ok(Flow::More);
        }
        let value: Value = serde_json::from_str(data).map_err(bad)?;
        match name {
            "message_start" => usage(&value["message"]["usage"], &mut self.collected.usage),
            "content_block_start" => {
                let block = &value["content_block"];
                if block["type"] == "tool_use" && block["name"] == "reply" {
                    self.reply_block = value["index"].as_u64();
                }
            }
            "content_block_delta" => {
                let delta = &value["delta"];
                match delta["type"].as_str() {
                    Some("input_json_delta") if value["index"].as_u64() == self.reply_block => {
                        self.pieces.push_str(delta["partial_json"].as_str().unwrap_or_default());
                    }
                    Some("text_delta") => {
                        self.collected.text.push_str(delta["text"].as_str().unwrap_or_default())
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                usage(&value["usage"], &mut self.collected.usage);
                if let Some(stop) = value["delta"]["stop_reason"].as_str() {
                    self.collected.stop = Some(stop.to_owned());
                }
            }
            "message_stop" => {
                self.stopped = true;
                return Ok(Flow::Done);
            }
            "error" => return Err(super::wire::error_in_stream(&value["error"])),
            _ => {}
        }
        Ok(Flow::More)
    }

    pub fn finish(mut self) -> Collected {
        if self.reply_block.is_some() {
            // A tool called with no input streams no delta: the input is empty.
            self.collected.tool_json =
                if self.pieces.is_empty() { "{}".into() } else { self.pieces };
        }
        self.collected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_sequence_gives_the_tool_input_and_the_last_usage() {
        let mut stream = Stream::default();
        let events = [
            (
                "message_start",
                r#"{"type":"message_start","message":{"usage":{"input_tokens":50,"cache_read_input_tokens":400,"cache_creation_input_tokens":0,"output_tokens":1}}}"#,
            ),
            ("ping", r#"{"type":"ping"}"#),
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t1","name":"reply","input":{}}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"notes\": ["}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"]}"}}"#,
            ),
            ("content_block_stop", r#"{"type":"content_block_stop","index":0}"#),
            ("something_new", r#"{"type":"something_new"}"#),
            ("something_newer", "not json at all"),
            (
                "message_delta",
                r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":12}}"#,
            ),
        ];
        for (name, data) in events {
            assert_eq!(stream.event(name, data).unwrap(), Flow::More, "{name}");
        }
        assert_eq!(stream.event("message_stop", r#"{"type":"message_stop"}"#).unwrap(), Flow::Done);
        let done = stream.finish();
        assert_eq!(done.tool_json, r#"{"notes": []}"#);
        assert_eq!(done.usage, Usage { input: 50, output: 12, cache_read: 400, cache_write: 0 });
    }

    #[test]
    fn an_error_event_after_http_200_fails_the_call() {
        let mut stream = Stream::default();
        let error =
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        assert!(matches!(stream.event("error", error), Err(LlmError::Transient { .. })));
        let invalid =
            r#"{"type":"error","error":{"type":"invalid_request_error","message":"bad"}}"#;
        assert!(matches!(Stream::default().event("error", invalid), Err(LlmError::Request(_))));
    }
}
