//! The HTTP side of a call: one reqwest client, the provider's wire format, streaming
//! with a silence limit, and retries with jittered backoff for what is worth retrying.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use eventsource_stream::Eventsource;
use futures_util::StreamExt;

use super::wire::{Collected, Flow, Mode, Request, retry_after, status_error};
use super::{ApiKey, LlmError, anthropic, openai};
use crate::config::{LlmSettings, Provider, STREAM_SILENCE, Structured};

/// Retries after the first attempt, for failures worth retrying.
const RETRIES: u32 = 3;

pub struct Client {
    http: reqwest::Client,
    pub settings: LlmSettings,
    key: Option<ApiKey>,
    /// The server refused tools once (`structured = "auto"`): ask with the schema.
    no_tools: AtomicBool,
}

/// A completed call: the reply's JSON text and what it cost.
#[derive(Debug, Clone)]
pub struct Completion {
    pub json: String,
    pub collected: Collected,
    pub mode: Mode,
    pub latency: Duration,
    /// Attempts made (1 when the first went through).
    pub attempts: u32,
}

impl Client {
    pub fn new(settings: LlmSettings, key: Option<ApiKey>) -> Result<Client, LlmError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| LlmError::Request(format!("cannot set up the HTTP client: {e}")))?;
        Ok(Client { http, settings, key, no_tools: AtomicBool::new(false) })
    }

    fn mode(&self) -> Mode {
        match self.settings.structured {
            Structured::JsonSchema => Mode::JsonSchema,
            Structured::Tools => Mode::Tools,
            Structured::Auto if self.no_tools.load(Ordering::Relaxed) => Mode::JsonSchema,
            Structured::Auto => Mode::Tools,
        }
    }

    /// Makes the call, retrying 429, 529, 500–503, dropped connections and cut-off
    /// streams up to `RETRIES` times (honouring `retry-after`); anything else is final.
    pub async fn complete(&self, request: &Request) -> Result<Completion, LlmError> {
        let began = Instant::now();
        let mut attempt = 0;
        let mut fell_back = false;
        loop {
            let mode = self.mode();
            attempt += 1;
            match self.once(request, mode).await {
                Ok(collected) => {
                    let json = collected.reply_json(mode).to_owned();
                    return Ok(Completion {
                        json,
                        collected,
                        mode,
                        latency: began.elapsed(),
                        attempts: attempt,
                    });
                }
                Err(LlmError::NoTools(why))
                    if self.settings.structured == Structured::Auto
                        && mode == Mode::Tools
                        && self.settings.provider == Provider::OpenAi
                        && !fell_back =>
                {
                    tracing::info!(
                        "the model server refused tools ({why}); asking with a JSON schema"
                    );
                    self.no_tools.store(true, Ordering::Relaxed);
                    fell_back = true;
                }
                Err(LlmError::Transient { why, retry_after }) if attempt <= RETRIES => {
                    let wait = backoff(attempt, retry_after);
                    tracing::info!("model call failed ({why}); trying again in {wait:?}");
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn once(&self, request: &Request, mode: Mode) -> Result<Collected, LlmError> {
        let s = &self.settings;
        let (url, body) = match s.provider {
            Provider::OpenAi => (openai::url(&s.base_url), openai::body(request, mode, s.stream)),
            Provider::Anthropic => {
                (anthropic::url(&s.base_url), anthropic::body(request, s.stream))
            }
        };
        let mut builder = self
            .http
            .post(url)
            .timeout(s.timeout)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&body).expect("serialisable"));
        builder = match (s.provider, &self.key) {
            (Provider::OpenAi, Some(key)) => builder.bearer_auth(key.expose()),
            // Local servers take any key; some (Ollama's /v1) insist on one.
            (Provider::OpenAi, None) => builder.bearer_auth("kairos"),
            (Provider::Anthropic, key) => {
                let builder = builder.header("anthropic-version", anthropic::VERSION);
                match key {
                    Some(key) => builder.header("x-api-key", key.expose()),
                    None => builder,
                }
            }
        };
        let response = builder.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        if !response.status().is_success() {
            let wait = retry_after(
                response.headers().get("retry-after").and_then(|v| v.to_str().ok()),
                chrono::Utc::now(),
            );
            let body = response.text().await.unwrap_or_default();
            return Err(status_error(status, &body, wait));
        }
        if !s.stream {
            let body = response.text().await.map_err(transport)?;
            return match s.provider {
                Provider::OpenAi => openai::parse_body(&body),
                Provider::Anthropic => anthropic::parse_body(&body),
            };
        }
        let deadline = tokio::time::Instant::now() + s.timeout;
        let mut events = response.bytes_stream().eventsource();
        let mut openai_stream = openai::Stream::default();
        let mut anthropic_stream = anthropic::Stream::default();
        // Until the first event the server may still be reading the prompt (a local
        // model on a CPU takes a while with a long diff): only the timeout applies. Once
        // it speaks, a silence is a dead stream.
        let mut spoke = false;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let wait = if spoke { STREAM_SILENCE.min(left) } else { left };
            let next = match tokio::time::timeout(wait, events.next()).await {
                Ok(next) => next,
                Err(_) => {
                    return Err(LlmError::Transient {
                        why: format!("the stream went silent for {}s", wait.as_secs()),
                        retry_after: None,
                    });
                }
            };
            spoke = true;
            let event = match next {
                Some(Ok(event)) => event,
                Some(Err(e)) => {
                    return Err(LlmError::Transient {
                        why: format!("the stream broke ({e})"),
                        retry_after: None,
                    });
                }
                // Ended before it said it was done: a half reply is never acted on.
                None => {
                    return Err(LlmError::Transient {
                        why: "the stream was cut off".into(),
                        retry_after: None,
                    });
                }
            };
            let flow = match s.provider {
                Provider::OpenAi => openai_stream.event(&event.event, &event.data)?,
                Provider::Anthropic => anthropic_stream.event(&event.event, &event.data)?,
            };
            if flow == Flow::Done {
                return Ok(match s.provider {
                    Provider::OpenAi => openai_stream.finish(),
                    Provider::Anthropic => anthropic_stream.finish(),
                });
            }
        }
    }
}

fn transport(e: reqwest::Error) -> LlmError {
    if e.is_timeout() {
        return LlmError::Transient { why: "the request timed out".into(), retry_after: None };
    }
    LlmError::Transient {
        why: format!("cannot reach the model server: {}", without_url(&e)),
        retry_after: None,
    }
}

/// reqwest's message names the URL; the base URL is the user's, but a query string could
/// carry a key, so only the error's own words are kept.
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "the endpoint");
    }
    text
}

/// How long to wait before attempt `attempt + 1`: the server's `retry-after`, else 0.5 s
/// doubling, each with up to a quarter of jitter so clients do not retry in step.
fn backoff(attempt: u32, retry_after: Option<Duration>) -> Duration {
    let base = retry_after.unwrap_or(Duration::from_millis(500 * (1 << (attempt - 1).min(6))));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let jitter = base.mul_f64(f64::from(nanos % 1000) / 4000.0);
    (base + jitter).min(Duration::from_secs(300))
}
