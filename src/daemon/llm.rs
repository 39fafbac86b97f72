//! The model as the daemon runs it: built from `[llm]` (rebuilt when the config is
//! reloaded, which also turns a refused model on again), asked by tasks from their
//! blocking runs, kept within its budgets, every call logged with its cost, and turned
//! off — once, with a message — when the provider refuses the key or the account.

use std::path::PathBuf;
use std::sync::{Mutex, Weak};

use chrono::{DateTime, Utc};

use super::core::Core;
use crate::config::{KeySource, LlmSettings};
use crate::llm::redact::redact;
use crate::llm::{
    Answer, ApiKey, Caller, Client, ContractError, LlmError, Model, Question, Reply, Request,
    prompt,
};
use crate::notifier::{Notice, NoticeKind};
use crate::protocol::LlmStatus;
use crate::store::{LogEntry, LogKind, Store};

pub struct LlmService {
    client: Client,
    prompts: PathBuf,
    store: Store,
    runtime: tokio::runtime::Handle,
    core: Weak<Core>,
    /// Why the model is off, when it is.
    off: Mutex<Option<String>>,
    /// The end of the budget window already told about, so it is told once.
    told_over_until: Mutex<Option<DateTime<Utc>>>,
    /// Held from the budget's check until the call is counted: runs in several
    /// repositories at once cannot all pass a check that has room for one.
    budget: Mutex<()>,
}

impl LlmService {
    /// Sets the model up from `settings`; a key that cannot be read leaves it off, saying
    /// why. Call from within the runtime.
    pub fn new(
        settings: &LlmSettings,
        prompts: PathBuf,
        store: Store,
        core: Weak<Core>,
    ) -> LlmService {
        let (key, off) = match read_key(&settings.key) {
            Ok(key) => (key, None),
            Err(why) => (None, Some(why)),
        };
        if let KeySource::Env(var) = &settings.key {
            // The key is kairos's secret: tools and command tasks never see it.
            crate::process::hide_from_children(vec![var.clone()]);
        }
        let (client, off) = match Client::new(settings.clone(), key) {
            Ok(client) => (client, off),
            Err(e) => (
                Client::new(settings.clone(), None).expect("a client without a key"),
                Some(e.to_string()),
            ),
        };
        LlmService {
            client,
            prompts,
            store,
            runtime: tokio::runtime::Handle::current(),
            core,
            off: Mutex::new(off),
            told_over_until: Mutex::new(None),
            budget: Mutex::new(()),
        }
    }

    fn settings(&self) -> &LlmSettings {
        &self.client.settings
    }

    fn log(&self, kind: LogKind, caller: &Caller, message: String) {
        if let Some(core) = self.core.upgrade() {
            let repo = (!caller.repo.is_empty()).then_some(caller.repo.as_str());
            core.log(LogEntry::new(kind, repo, message).task(&caller.task));
        }
    }

    /// What `kairos status` shows.
    pub fn status(&self) -> LlmStatus {
        let s = self.settings();
        let now = Utc::now();
        let hour_ago = now - chrono::Duration::hours(1);
        let calls = self.store.model_calls().unwrap_or_default();
        let today = self.store.model_day(now.date_naive()).unwrap_or_default();
        LlmStatus {
            provider: s.provider.name().into(),
            model: s.model.clone(),
            base_url: crate::notifier::shown_url(&s.base_url),
            off: self.off.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            calls_last_hour: calls.iter().filter(|t| **t > hour_ago).count() as u64,
            max_calls_per_hour: u64::from(s.max_calls_per_hour),
            tokens_today: today.tokens(),
            max_tokens_per_day: s.max_tokens_per_day,
            today: today.tasks,
        }
    }

    /// Makes one call (the budget checked, the cost recorded) and parses its reply.
    async fn call(
        &self,
        caller: &Caller,
        question: &Question,
    ) -> Result<(Reply, Answer), LlmError> {
        let (reply, answer, _) = self.call_raw(caller, question).await?;
        Ok((reply.map_err(LlmError::Contract)?, answer))
    }

    /// The call itself: the reply as parsed (or why it does not parse), what it cost, and
    /// the reply's text as the model gave it.
    async fn call_raw(
        &self,
        caller: &Caller,
        question: &Question,
    ) -> Result<(Result<Reply, ContractError>, Answer, String), LlmError> {
        let task = caller.task.as_str();
        if let Some(why) = self.off.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Err(LlmError::Off(why));
        }
        let s = self.settings();
        {
            let _counting = self.budget.lock().unwrap_or_else(|e| e.into_inner());
            let now = Utc::now();
            let calls = self.store.model_calls().unwrap_or_default();
            let today = self.store.model_day(now.date_naive()).unwrap_or_default();
            if let Err(over) = crate::llm::budget::check(
                s.max_calls_per_hour,
                s.max_tokens_per_day,
                &calls,
                &today,
                now,
            ) {
                self.tell_over_budget(caller, &over);
                return Err(LlmError::OverBudget(over));
            }
            // Counted now, before it is made: a call that fails counts too (a server that
            // keeps failing is not asked without end); its tokens come with the answer.
            let _ = self.store.record_model_call(now, task, Default::default());
        }
        let system = self.render("system", &serde_json::json!({})).map_err(LlmError::Request)?;
        // The last gate before the wire: whatever a task put in the prompt (commit
        // messages, branch names, notes, a check's output), token shapes do not leave.
        let (system, _) = redact(&system);
        let (user, _) = redact(&question.user);
        let request = Request {
            model: s.model.clone(),
            system,
            user,
            max_tokens: s
                .max_reply_tokens
                .map_or(question.max_tokens, |m| m.min(question.max_tokens)),
            fields: question.fields,
        };
        let result = self.client.complete(&request).await;
        match result {
            Ok(done) => {
                let usage = done.collected.usage;
                let _ = self.store.record_model_tokens(Utc::now(), task, usage);
                let _ = self.store.flush().await;
                let retried = if done.attempts > 1 {
                    format!(", {} attempts", done.attempts)
                } else {
                    String::new()
                };
                let cache = if usage.cache_read + usage.cache_write > 0 {
                    format!(" (cache: {} read, {} written)", usage.cache_read, usage.cache_write)
                } else {
                    String::new()
                };
                self.log(
                    LogKind::Run,
                    caller,
                    format!(
                        "{task} ({}): asked {} ({}): {} in / {} out tokens{cache}, {:.1} s{retried}",
                        caller.why,
                        s.model,
                        s.provider.name(),
                        usage.input,
                        usage.output,
                        done.latency.as_secs_f64()
                    ),
                );
                let cut = matches!(done.collected.stop.as_deref(), Some("length" | "max_tokens"));
                let reply = Reply::parse(&done.json).map_err(|e| match e {
                    // Cut off mid-reply: asking again with the same limit ends the same way.
                    ContractError::NotJson(_) if cut => {
                        ContractError::Truncated(request.max_tokens)
                    }
                    e => e,
                });
                let answer = Answer {
                    reply: reply.clone().unwrap_or_default(),
                    usage,
                    latency: done.latency,
                    model: s.model.clone(),
                };
                Ok((reply, answer, done.json))
            }
            Err(LlmError::Refused(why)) => {
                *self.off.lock().unwrap_or_else(|e| e.into_inner()) = Some(why.clone());
                self.log(
                    LogKind::Error,
                    caller,
                    format!("the model is off until the config changes: {why}"),
                );
                if let Some(core) = self.core.upgrade() {
                    core.notifier.send(Notice {
                        repo: String::new(),
                        summary: "kairos: the model is off".into(),
                        body: why.clone(),
                        proposal: None,
                        kind: NoticeKind::Failure,
                        risky: true,
                    });
                }
                Err(LlmError::Refused(why))
            }
            Err(e) => Err(e),
        }
    }

    /// Says once per budget window that model tasks wait.
    fn tell_over_budget(&self, caller: &Caller, over: &crate::llm::OverBudget) {
        let mut told = self.told_over_until.lock().unwrap_or_else(|e| e.into_inner());
        if *told == Some(over.until) {
            return;
        }
        *told = Some(over.until);
        let message = LlmError::OverBudget(over.clone()).to_string();
        self.log(LogKind::Event, caller, message.clone());
        if let Some(core) = self.core.upgrade() {
            core.notifier.send(Notice {
                repo: String::new(),
                summary: "kairos: model tasks wait for the budget".into(),
                body: message,
                proposal: None,
                kind: NoticeKind::Info,
                risky: false,
            });
        }
    }

    /// `kairos llm test`: one tiny request through the configured provider; what came
    /// back is shown even when it breaks the contract.
    pub async fn test(&self) -> Result<(Answer, Option<ContractError>, String), LlmError> {
        let question = Question {
            user: "This is a connection test from `kairos llm test`. Reply with one note \
                   titled \"hello\" and nothing else."
                .into(),
            fields: &["notes"],
            max_tokens: 128,
        };
        let caller =
            Caller { task: "llm-test".into(), repo: String::new(), why: "kairos llm test".into() };
        let (reply, answer, text) = self.call_raw(&caller, &question).await?;
        Ok((answer, reply.err(), text))
    }
}

impl Model for LlmService {
    fn name(&self) -> String {
        self.settings().model.clone()
    }

    fn max_file_size(&self) -> u64 {
        self.settings().max_file_size
    }

    fn render(&self, name: &str, context: &serde_json::Value) -> Result<String, String> {
        let template = prompt::template(&self.prompts, name)?;
        prompt::render(&template, context)
    }

    fn ask(
        &self,
        caller: &Caller,
        question: Question,
        check: &dyn Fn(&Reply) -> Result<(), ContractError>,
    ) -> Result<Answer, LlmError> {
        let task = caller.task.as_str();
        // Tasks run on blocking threads, outside the runtime: the call runs on it.
        let first = self.runtime.block_on(self.call(caller, &question));
        let refused = match first {
            Ok((reply, answer)) => match check(&reply) {
                Ok(()) => return Ok(answer),
                Err(why) => why,
            },
            // Cut off at the token limit: the same question would be cut off again.
            Err(LlmError::Contract(why @ ContractError::Truncated(_))) => {
                return Err(LlmError::Contract(why));
            }
            Err(LlmError::Contract(why)) => why,
            Err(e) => return Err(e),
        };
        self.log(
            LogKind::Error,
            caller,
            format!("{task}: the reply was refused ({refused}); asking once more"),
        );
        let again = Question {
            user: format!(
                "{}\n\nYour previous reply was refused: {refused}. Reply again, keeping to the \
                 reply's contract.",
                question.user
            ),
            ..question
        };
        match self.runtime.block_on(self.call(caller, &again)) {
            Ok((reply, answer)) => match check(&reply) {
                Ok(()) => Ok(answer),
                Err(why) => Err(LlmError::Contract(why)),
            },
            Err(e) => Err(e),
        }
    }
}

/// The API key from its source; a missing variable or an unsafe file is an error that
/// leaves the model off.
fn read_key(source: &KeySource) -> Result<Option<ApiKey>, String> {
    let (env, file) = match source {
        KeySource::None => return Ok(None),
        KeySource::Env(var) => (Some(var.as_str()), None),
        KeySource::File(path) => (None, Some(path)),
    };
    match crate::notifier::read_token(env, file) {
        Ok(Some(key)) => Ok(Some(ApiKey::new(key))),
        Ok(None) => Err(match source {
            KeySource::Env(var) => {
                format!("the environment variable {var} (api_key_env) is not set")
            }
            _ => "the API key file is empty".into(),
        }),
        Err(e) => Err(format!("cannot read the API key: {e}")),
    }
}
