//! A webhook sink for a phone: an ntfy-compatible POST (title, priority and tags in
//! headers, the body as text), with a bearer token from the environment or a 0600 file.
//! The token never reaches a log.

use std::path::PathBuf;
use std::time::Duration;

use super::compose::{Message, Urgency};

#[derive(Clone)]
pub struct WebhookConfig {
    pub url: String,
    pub token: Option<String>,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &shown(&self.url))
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

pub struct WebhookSink {
    config: WebhookConfig,
    client: reqwest::Client,
    pub state: String,
}

impl WebhookSink {
    pub fn new(config: WebhookConfig) -> WebhookSink {
        let client =
            reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap_or_default();
        WebhookSink { state: format!("ready ({})", described(&config)), config, client }
    }

    pub async fn deliver(&mut self, message: &Message) -> Result<(), String> {
        let priority = match message.urgency {
            Urgency::Low => "2",
            Urgency::Normal => "3",
            Urgency::Critical => "5",
        };
        let mut request = self
            .client
            .post(&self.config.url)
            .header("Title", header_safe(&message.summary))
            .header("Priority", priority)
            .header("Tags", "kairos")
            .body(message.body.clone());
        if let Some(token) = &self.config.token {
            request = request.bearer_auth(token);
        }
        let result = match request.send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("the webhook answered {}", r.status())),
            Err(e) => Err(format!("the webhook could not be reached: {}", e.without_url())),
        };
        self.state = match &result {
            Ok(()) => format!("ok ({})", described(&self.config)),
            Err(e) => format!("failing: {e}"),
        };
        result
    }
}

/// The URL as status and logs show it: a user name, password or query in it may be a
/// credential, so only scheme, host and path are shown.
pub fn shown(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => format!("{}://{}{}", u.scheme(), u.host_str().unwrap_or(""), u.path()),
        Err(_) => "(not a URL)".into(),
    }
}

fn described(config: &WebhookConfig) -> String {
    let token = if config.token.is_some() { "with a token" } else { "no token" };
    format!("{}, {token}", shown(&config.url))
}

/// HTTP headers cannot carry newlines or most non-ASCII text.
fn header_safe(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii() && !c.is_ascii_control() { c } else { ' ' }).collect()
}

/// Reads the token: from `env` if set, else from `file`, which must be private (0600).
pub fn read_token(env: Option<&str>, file: Option<&PathBuf>) -> Result<Option<String>, String> {
    if let Some(var) = env
        && let Ok(token) = std::env::var(var)
        && !token.trim().is_empty()
    {
        return Ok(Some(token.trim().to_owned()));
    }
    let Some(file) = file else { return Ok(None) };
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(file).map_err(|e| format!("{}: {e}", file.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(format!(
            "{} is readable by others; `chmod 600` it, kairos will not use it as it is",
            file.display()
        ));
    }
    let token = crate::read::read_text(file, 64 * 1024)
        .map_err(|e| format!("cannot read the token file {}: {e}", file.display()))?;
    Ok(Some(token.trim().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_the_url_are_not_shown() {
        assert_eq!(
            shown("https://me:secret@ntfy.example/topic?auth=abc"),
            "https://ntfy.example/topic"
        );
        let config = WebhookConfig { url: "https://ntfy.example/t?auth=x".into(), token: None };
        assert_eq!(described(&config), "https://ntfy.example/t, no token");
        assert!(!format!("{config:?}").contains("auth"));
    }
}
