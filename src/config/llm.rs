//! `[llm]`: which model kairos may talk to, how, and how much. Without the section no
//! request is ever made and every core job works as before.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::duration::parse_duration;
use super::task::{Located, parse_size};

/// The wire format a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// OpenAI Chat Completions: OpenAI, Ollama's `/v1`, llama.cpp's server, vLLM, LM Studio.
    OpenAi,
    /// The Anthropic Messages API.
    Anthropic,
}

impl Provider {
    pub fn name(self) -> &'static str {
        match self {
            Provider::OpenAi => "openai",
            Provider::Anthropic => "anthropic",
        }
    }

    fn default_base_url(self) -> &'static str {
        match self {
            Provider::OpenAi => "https://api.openai.com/v1",
            Provider::Anthropic => "https://api.anthropic.com",
        }
    }
}

/// How the one structured reply is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Structured {
    /// A tool named `reply` that the request forces.
    Tools,
    /// `response_format` with a strict JSON schema (OpenAI-compatible servers only).
    JsonSchema,
    /// Tools, falling back to the schema when the server refuses tools.
    Auto,
}

/// Where the API key comes from; never logged, never shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// Local servers need none.
    None,
    Env(String),
    /// A file that must be readable by its owner only.
    File(PathBuf),
}

#[derive(Debug, Clone)]
pub struct LlmSettings {
    pub provider: Provider,
    pub base_url: String,
    pub model: String,
    pub key: KeySource,
    /// Per request; a stream that has started and then goes silent for `STREAM_SILENCE`
    /// is cut off sooner (before its first event, the server may still be reading).
    pub timeout: Duration,
    pub max_calls_per_hour: u32,
    pub max_tokens_per_day: u64,
    pub structured: Structured,
    /// Files larger than this are never sent.
    pub max_file_size: u64,
    /// Ask for a streamed reply (the default), or one body.
    pub stream: bool,
    /// The most tokens any reply may take (each task asks for what it needs, up to this):
    /// a slow local model is kept short.
    pub max_reply_tokens: Option<u32>,
}

/// A stream that sends nothing for this long is cut off: the call failed.
pub const STREAM_SILENCE: Duration = Duration::from_secs(30);

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLlm {
    pub provider: Option<Spanned<String>>,
    pub base_url: Option<Spanned<String>>,
    pub model: Option<Spanned<String>>,
    pub api_key_env: Option<Spanned<String>>,
    pub api_key_file: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    pub max_calls_per_hour: Option<Spanned<u32>>,
    pub max_tokens_per_day: Option<Spanned<u64>>,
    pub structured: Option<Spanned<String>>,
    pub max_file_size: Option<Spanned<String>>,
    pub stream: Option<bool>,
    pub max_reply_tokens: Option<Spanned<u32>>,
}

impl LlmSettings {
    /// Validates `[llm]`; `section` is where the table starts, for errors about keys
    /// that are missing.
    pub fn parse(raw: &RawLlm, section: std::ops::Range<usize>) -> Result<LlmSettings, Located> {
        let provider = match &raw.provider {
            None => Provider::OpenAi,
            Some(p) => match p.get_ref().as_str() {
                "openai" => Provider::OpenAi,
                "anthropic" => Provider::Anthropic,
                other => {
                    return Err((
                        p.span(),
                        format!(
                            "provider is \"openai\" (any OpenAI-compatible server: Ollama, \
                             llama.cpp, vLLM, LM Studio, OpenAI) or \"anthropic\", not {other:?}"
                        ),
                    ));
                }
            },
        };
        let base_url = match &raw.base_url {
            Some(u) => {
                let url = u.get_ref().trim().trim_end_matches('/');
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err((
                        u.span(),
                        format!("base_url must start with http:// or https://, not {url:?}"),
                    ));
                }
                url.to_owned()
            }
            None => provider.default_base_url().to_owned(),
        };
        let model = match &raw.model {
            Some(m) if !m.get_ref().trim().is_empty() => m.get_ref().trim().to_owned(),
            Some(m) => return Err((m.span(), "model must name a model".into())),
            None => {
                return Err((
                    section,
                    "[llm] needs `model = \"...\"` (e.g. \"qwen2.5-coder:7b\" for Ollama, \
                     \"claude-sonnet-4-5\" for Anthropic)"
                        .into(),
                ));
            }
        };
        let key = match (&raw.api_key_env, &raw.api_key_file) {
            (Some(_), Some(f)) => {
                return Err((f.span(), "give api_key_env or api_key_file, not both".into()));
            }
            (Some(e), None) if e.get_ref().trim().is_empty() => {
                return Err((e.span(), "api_key_env must name an environment variable".into()));
            }
            (Some(e), None) => KeySource::Env(e.get_ref().trim().to_owned()),
            (None, Some(f)) => KeySource::File(super::expand_repo_path(f.get_ref())),
            (None, None) => KeySource::None,
        };
        let timeout = match &raw.timeout {
            Some(t) => {
                let d = parse_duration(t.get_ref()).map_err(|m| (t.span(), m))?;
                if d < Duration::from_secs(1) {
                    return Err((t.span(), "timeout must be at least 1s".into()));
                }
                d
            }
            None => Duration::from_secs(120),
        };
        let at_least_one = |n: &Spanned<u32>| {
            if *n.get_ref() == 0 {
                Err((
                    n.span(),
                    "max_calls_per_hour must be at least 1 (remove [llm] to make no calls)"
                        .to_owned(),
                ))
            } else {
                Ok(*n.get_ref())
            }
        };
        let max_calls_per_hour =
            raw.max_calls_per_hour.as_ref().map(at_least_one).transpose()?.unwrap_or(30);
        let max_tokens_per_day = match &raw.max_tokens_per_day {
            Some(n) if *n.get_ref() < 1000 => {
                return Err((n.span(), "max_tokens_per_day must be at least 1000".into()));
            }
            Some(n) => *n.get_ref(),
            None => 300_000,
        };
        let structured = match &raw.structured {
            None => Structured::Auto,
            Some(s) => match s.get_ref().as_str() {
                "tools" => Structured::Tools,
                "json_schema" if provider == Provider::Anthropic => {
                    return Err((
                        s.span(),
                        "the Anthropic API takes the reply as a tool: structured = \"tools\" or \"auto\"".into(),
                    ));
                }
                "json_schema" => Structured::JsonSchema,
                "auto" => Structured::Auto,
                other => {
                    return Err((
                        s.span(),
                        format!(
                            "structured is \"tools\", \"json_schema\" or \"auto\", not {other:?}"
                        ),
                    ));
                }
            },
        };
        let max_file_size = match &raw.max_file_size {
            Some(s) => parse_size(s.get_ref()).map_err(|m| (s.span(), m))?,
            None => 256 * 1024,
        };
        Ok(LlmSettings {
            provider,
            base_url,
            model,
            key,
            timeout,
            max_calls_per_hour,
            max_tokens_per_day,
            structured,
            max_file_size,
            stream: raw.stream.unwrap_or(true),
            max_reply_tokens: match &raw.max_reply_tokens {
                Some(n) if *n.get_ref() < 64 => {
                    return Err((n.span(), "max_reply_tokens must be at least 64".into()));
                }
                n => n.as_ref().map(|n| *n.get_ref()),
            },
        })
    }
}
