//! The OpenAI Chat Completions wire format (`POST {base_url}/chat/completions`), as OpenAI
//! and the compatible servers (Ollama's `/v1`, llama.cpp, vLLM, LM Studio) speak it.

use serde_json::{Value, json};

use super::LlmError;
use super::budget::Usage;
use super::wire::{Collected, Flow, Mode, Request};

pub fn url(base_url: &str) -> String {
    format!("{base_url}/chat/completions")
}

pub fn body(request: &Request, mode: Mode, stream: bool) -> Value {
    let mut body = json!({
        "model": request.model,
        "messages": [
            { "role": "system", "content": request.system },
            { "role": "user", "content": request.user },
        ],
        "max_tokens": request.max_tokens,
        "temperature": 0,
        "stream": stream,
    });
    if stream {
        // Usage comes in a last chunk only when asked for.
        body["stream_options"] = json!({ "include_usage": true });
    }
    match mode {
        Mode::Tools => {
            body["tools"] = json!([{
                "type": "function",
                "function": {
                    "name": "reply",
                    "description": super::wire::REPLY_TOOL,
                    "parameters": super::reply::schema(false, request.fields),
                },
            }]);
            body["tool_choice"] = json!({ "type": "function", "function": { "name": "reply" } });
        }
        Mode::JsonSchema => {
            body["response_format"] = json!({
                "type": "json_schema",
                "json_schema": {
                    "name": "reply",
                    "strict": true,
                    "schema": super::reply::schema(true, request.fields),
                },
            });
        }
    }
    body
}

/// A whole (not streamed) response body.
pub fn parse_body(body: &str) -> Result<Collected, LlmError> {
    let value: Value = serde_json::from_str(body).map_err(|e| LlmError::Transient {
        why: format!("an unreadable response ({e})"),
        retry_after: None,
    })?;
    let mut collected = Collected { usage: usage(&value["usage"]), ..Collected::default() };
    let message = &value["choices"][0]["message"];
    if let Some(content) = message["content"].as_str() {
        collected.text.push_str(content);
    }
    let calls = message["tool_calls"].as_array().into_iter().flatten();
    let reply = calls.into_iter().find(|c| c["function"]["name"] == "reply");
    if let Some(arguments) = reply.and_then(|c| c["function"]["arguments"].as_str()) {
        collected.tool_json.push_str(arguments);
    }
    collected.stop = value["choices"][0]["finish_reason"].as_str().map(str::to_owned);
    Ok(collected)
}

fn usage(u: &Value) -> Usage {
    let cached = u["prompt_tokens_details"]["cached_tokens"].as_u64().unwrap_or(0);
    Usage {
        // OpenAI counts cached tokens inside prompt_tokens.
        input: u["prompt_tokens"].as_u64().unwrap_or(0).saturating_sub(cached),
        output: u["completion_tokens"].as_u64().unwrap_or(0),
        cache_read: cached,
        cache_write: 0,
    }
}

/// Folds the streamed chunks: text deltas, `tool_calls` deltas merged by index (the
/// arguments string comes in pieces), usage from the last chunk (whose `choices` may be
/// empty or null), and `data: [DONE]` at the end.
#[derive(Debug, Default)]
pub struct Stream {
    collected: Collected,
    /// Argument pieces per tool call index.
    calls: std::collections::BTreeMap<u64, String>,
    /// The index of the call to `reply` (its name comes in the call's first piece); a
    /// call to any other tool is not the reply.
    reply_index: Option<u64>,
    /// Whether any call was named: a server that names none sends its only call.
    named: bool,
}

impl Stream {
    pub fn event(&mut self, _name: &str, data: &str) -> Result<Flow, LlmError> {
        if data.trim() == "[DONE]" {
            return Ok(Flow::Done);
        }
        let chunk: Value = serde_json::from_str(data).map_err(|e| LlmError::Transient {
            why: format!("an unreadable stream chunk ({e})"),
            retry_after: None,
        })?;
        if let Some(error) = chunk.get("error") {
            return Err(super::wire::error_in_stream(error));
        }
        if chunk["usage"].is_object() {
            self.collected.usage = usage(&chunk["usage"]);
        }
        for choice in chunk["choices"].as_array().into_iter().flatten() {
            let delta = &choice["delta"];
            if let Some(text) = delta["content"].as_str() {
                self.collected.text.push_str(text);
            }
            for call in delta["tool_calls"].as_array().into_iter().flatten() {
                let index = call["index"].as_u64().unwrap_or(0);
                if let Some(name) = call["function"]["name"].as_str() {
                    self.named = true;
                    if name == "reply" && self.reply_index.is_none() {
                        self.reply_index = Some(index);
                    }
                }
                if let Some(piece) = call["function"]["arguments"].as_str() {
                    self.calls.entry(index).or_default().push_str(piece);
                }
            }
            if let Some(stop) = choice["finish_reason"].as_str() {
                self.collected.stop = Some(stop.to_owned());
            }
        }
        Ok(Flow::More)
    }

    pub fn finish(mut self) -> Collected {
        let reply = match self.reply_index {
            Some(index) => self.calls.remove(&index),
            None if !self.named => self.calls.into_values().next(),
            None => None,
        };
        if let Some(arguments) = reply {
            self.collected.tool_json = arguments;
        }
        self.collected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_call_pieces_are_merged_and_usage_taken_from_the_last_chunk() {
        let mut stream = Stream::default();
        let chunks = [
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"reply","arguments":""}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"commit_"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"message\":{\"subject\":\"Fix\"}}"}}]},"finish_reason":"tool_calls"}]}"#,
            r#"{"choices":null,"usage":{"prompt_tokens":120,"completion_tokens":9,"prompt_tokens_details":{"cached_tokens":20}}}"#,
        ];
        for chunk in chunks {
            assert_eq!(stream.event("message", chunk).unwrap(), Flow::More);
        }
        assert_eq!(stream.event("message", "[DONE]").unwrap(), Flow::Done);
        let done = stream.finish();
        assert_eq!(done.tool_json, r#"{"commit_message":{"subject":"Fix"}}"#);
        assert_eq!(done.usage, Usage { input: 100, output: 9, cache_read: 20, cache_write: 0 });
        assert_eq!(done.stop.as_deref(), Some("tool_calls"));
    }

    #[test]
    fn a_call_to_another_tool_is_not_the_reply() {
        let mut stream = Stream::default();
        let chunks = [
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"name":"run_shell","arguments":"{\"cmd\":\"rm\"}"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":1,"function":{"name":"reply","arguments":"{\"notes\":[]}"}}]}}]}"#,
        ];
        for chunk in chunks {
            stream.event("message", chunk).unwrap();
        }
        assert_eq!(stream.finish().tool_json, r#"{"notes":[]}"#);
        let other = r#"{"choices":[{"message":{"tool_calls":[{"function":{"name":"run_shell","arguments":"{}"}}]}}]}"#;
        assert_eq!(parse_body(other).unwrap().tool_json, "");
    }

    #[test]
    fn a_schema_reply_is_the_message_content() {
        let body = r#"{"choices":[{"message":{"role":"assistant","content":"{\"notes\":[]}"},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":3}}"#;
        let done = parse_body(body).unwrap();
        assert_eq!(
            (done.text.as_str(), done.usage.input, done.usage.output),
            ("{\"notes\":[]}", 10, 3)
        );
    }
}
