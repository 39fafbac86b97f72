//! A scripted model server on loopback, speaking the OpenAI Chat Completions and Anthropic
//! Messages wire formats (whole bodies and server-sent-event streams), the errors those
//! providers give (429 with retry-after, 529, an error event after HTTP 200, a stream cut
//! off), and recording every request it got, so tests can see exactly what was sent.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// One response the server gives, in order; when the script runs out, `{}` (silence).
#[derive(Debug, Clone)]
pub enum Scripted {
    /// A reply: as a tool call or message content (OpenAI) or a tool_use (Anthropic),
    /// streamed when the request asked for a stream.
    Reply(Value),
    /// A reply given as plain text (not the JSON the contract asks for).
    Text(String),
    Status {
        code: u16,
        retry_after: Option<String>,
        body: String,
    },
    /// HTTP 200, then an overloaded error inside the stream.
    ErrorEvent,
    /// The stream stops before its end.
    CutOff,
    /// The connection closes before any response.
    Drop,
    /// OpenAI only: this much of a reply, and the model stopped at its token limit
    /// (`finish_reason: "length"`).
    AtLimit(String),
}

#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
    /// The request as bytes, to look for what must never be sent.
    pub raw: String,
    /// When the request arrived.
    pub at: std::time::Instant,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

pub struct LlmServer {
    pub url: String,
    script: Arc<Mutex<VecDeque<Scripted>>>,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl LlmServer {
    pub fn start() -> LlmServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let script: Arc<Mutex<VecDeque<Scripted>>> = Arc::default();
        let requests: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let (s, r) = (script.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (s, r) = (s.clone(), r.clone());
                std::thread::spawn(move || serve(stream, &s, &r));
            }
        });
        LlmServer { url, script, requests }
    }

    pub fn push(&self, response: Scripted) {
        self.script.lock().unwrap().push_back(response);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

fn serve(stream: TcpStream, script: &Mutex<VecDeque<Scripted>>, requests: &Mutex<Vec<Recorded>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let mut headers = Vec::new();
    let mut length = 0;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.trim().split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).unwrap();
    let raw = String::from_utf8_lossy(&body).into_owned();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let anthropic = path.ends_with("/v1/messages");
    let streaming = body["stream"] == true;
    let schema = body.get("response_format").is_some();
    let at = std::time::Instant::now();
    requests.lock().unwrap().push(Recorded { path, headers, body, raw, at });
    let next = script.lock().unwrap().pop_front().unwrap_or(Scripted::Reply(json!({})));
    let mut out = stream;
    let response = match next {
        Scripted::Drop => return,
        Scripted::Status { code, retry_after, body } => {
            let retry = retry_after.map(|r| format!("retry-after: {r}\r\n")).unwrap_or_default();
            http(code, "application/json", &retry, &body)
        }
        Scripted::Reply(reply) => {
            let text = reply.to_string();
            match (anthropic, streaming) {
                (true, true) => sse(&anthropic_events(&text, false)),
                (true, false) => http(200, "application/json", "", &anthropic_body(&text)),
                (false, true) => sse(&openai_chunks(&text, schema, false)),
                (false, false) => http(200, "application/json", "", &openai_body(&text, schema)),
            }
        }
        Scripted::Text(text) => match (anthropic, streaming) {
            (false, true) => sse(&openai_chunks(&text, true, false)),
            (false, false) => http(200, "application/json", "", &openai_body(&text, true)),
            (true, _) => sse(&anthropic_events(&text, false)),
        },
        Scripted::ErrorEvent => {
            let error =
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
            if anthropic {
                sse(&[("message_start".into(), r#"{"type":"message_start","message":{"usage":{"input_tokens":5,"output_tokens":1}}}"#.into()), ("error".into(), error.into())])
            } else {
                sse(&[(
                    String::new(),
                    r#"{"error":{"type":"server_error","message":"overloaded"}}"#.into(),
                )])
            }
        }
        Scripted::AtLimit(text) => {
            let mut chunks = openai_chunks(&text, schema, true);
            chunks.push((
                String::new(),
                json!({ "choices": [{ "index": 0, "delta": {}, "finish_reason": "length" }] })
                    .to_string(),
            ));
            chunks.push((String::new(), "[DONE]".into()));
            sse(&chunks)
        }
        Scripted::CutOff => {
            if anthropic {
                sse(&anthropic_events("{\"notes\":[", true))
            } else {
                sse(&openai_chunks("{\"notes\":[", schema, true))
            }
        }
    };
    let _ = out.write_all(response.as_bytes());
    let _ = out.flush();
}

fn http(code: u16, kind: &str, extra: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {code} X\r\ncontent-type: {kind}\r\ncontent-length: {}\r\n{extra}connection: close\r\n\r\n{body}",
        body.len()
    )
}

/// A stream: events until the connection closes (no length), as SSE servers do.
fn sse(events: &[(String, String)]) -> String {
    let mut out = String::from(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n",
    );
    for (name, data) in events {
        if !name.is_empty() {
            out.push_str(&format!("event: {name}\n"));
        }
        out.push_str(&format!("data: {data}\n\n"));
    }
    out
}

fn openai_body(reply: &str, schema: bool) -> String {
    let message = if schema {
        json!({ "role": "assistant", "content": reply })
    } else {
        json!({ "role": "assistant", "content": null, "tool_calls": [{ "id": "c1", "type": "function", "function": { "name": "reply", "arguments": reply } }] })
    };
    json!({ "choices": [{ "index": 0, "message": message, "finish_reason": "stop" }], "usage": { "prompt_tokens": 321, "completion_tokens": 21 } }).to_string()
}

fn openai_chunks(reply: &str, schema: bool, cut: bool) -> Vec<(String, String)> {
    let (a, b) = reply.split_at(reply.len() / 2);
    // As OpenAI streams a call: its id, type and name in the first piece only.
    let piece = |text: &str, first: bool| {
        if schema {
            json!({ "choices": [{ "index": 0, "delta": { "content": text } }] })
        } else if first {
            json!({ "choices": [{ "index": 0, "delta": { "role": "assistant", "tool_calls": [{ "index": 0, "id": "c1", "type": "function", "function": { "name": "reply", "arguments": text } }] } }] })
        } else {
            json!({ "choices": [{ "index": 0, "delta": { "tool_calls": [{ "index": 0, "function": { "arguments": text } }] } }] })
        }
        .to_string()
    };
    let mut chunks = vec![(String::new(), piece(a, true))];
    if cut {
        return chunks;
    }
    chunks.push((String::new(), piece(b, false)));
    chunks.push((
        String::new(),
        json!({ "choices": [], "usage": { "prompt_tokens": 321, "completion_tokens": 21 } })
            .to_string(),
    ));
    chunks.push((String::new(), "[DONE]".into()));
    chunks
}

fn anthropic_body(reply: &str) -> String {
    let input: Value = serde_json::from_str(reply).unwrap_or(json!({}));
    json!({
        "type": "message",
        "content": [{ "type": "tool_use", "id": "t1", "name": "reply", "input": input }],
        "stop_reason": "tool_use",
        "usage": { "input_tokens": 40, "output_tokens": 20, "cache_read_input_tokens": 300, "cache_creation_input_tokens": 0 },
    })
    .to_string()
}

fn anthropic_events(reply: &str, cut: bool) -> Vec<(String, String)> {
    let (a, b) = reply.split_at(reply.len() / 2);
    let delta = |text: &str| {
        json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "input_json_delta", "partial_json": text } }).to_string()
    };
    let mut events = vec![
        ("message_start".to_owned(), json!({ "type": "message_start", "message": { "usage": { "input_tokens": 40, "cache_read_input_tokens": 300, "cache_creation_input_tokens": 12, "output_tokens": 1 } } }).to_string()),
        ("ping".to_owned(), r#"{"type":"ping"}"#.to_owned()),
        ("content_block_start".to_owned(), json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "tool_use", "id": "t1", "name": "reply", "input": {} } }).to_string()),
        ("content_block_delta".to_owned(), delta(a)),
    ];
    if cut {
        return events;
    }
    events.push(("content_block_delta".to_owned(), delta(b)));
    events.push((
        "content_block_stop".to_owned(),
        r#"{"type":"content_block_stop","index":0}"#.to_owned(),
    ));
    events.push(("message_delta".to_owned(), r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":20}}"#.to_owned()));
    events.push(("message_stop".to_owned(), r#"{"type":"message_stop"}"#.to_owned()));
    events
}
