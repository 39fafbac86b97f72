//! Telling the user. The notifier is a component fed by a bounded channel: it batches
//! what arrives within a short window into one notification per repository and kind,
//! never says the same thing twice, keeps to a cap per hour, holds everything during
//! quiet hours and then shows one "while you were away" digest. Sinks: the log
//! (always), the desktop over D-Bus, and a webhook.

mod compose;
pub mod desktop;
mod shown;
mod told;
mod webhook;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

pub use compose::{Message, Notice, NoticeKind, Revision, Urgency, compose, digest};
pub use shown::{Keeper, Shown};
use told::Told;
pub use webhook::{WebhookConfig, read_token, shown as shown_url};

use crate::policy::{LocalTime, Window};
use crate::proposal::{ProposalId, State};

/// A button pressed on a notification: its key and the proposals it acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAction {
    pub key: String,
    pub proposals: Vec<ProposalId>,
}

/// How the notifier behaves (`[notify]` in the config).
#[derive(Debug, Clone)]
pub struct NotifierConfig {
    pub desktop: bool,
    /// Notices arriving within this window become one notification.
    pub batch: Duration,
    pub max_per_hour: usize,
    /// How often an unavailable desktop is tried again.
    pub reconnect: Duration,
    pub webhook: Option<WebhookConfig>,
}

impl Default for NotifierConfig {
    fn default() -> Self {
        NotifierConfig {
            desktop: true,
            batch: Duration::from_secs(5),
            max_per_hour: 20,
            reconnect: Duration::from_secs(60),
            webhook: None,
        }
    }
}

enum Command {
    Notice(Notice),
    Settled(ProposalId, State),
    Test(oneshot::Sender<Vec<String>>),
    Reconfigure(Box<NotifierConfig>),
}

/// The sending side handed to the rest of the daemon; never blocks.
#[derive(Clone)]
pub struct Notifier {
    tx: mpsc::Sender<Command>,
    states: Arc<Mutex<Vec<String>>>,
}

impl Notifier {
    /// Starts the notifier. `quiet` carries the policy's quiet hours; `actions` receives
    /// button presses.
    pub fn start(
        config: NotifierConfig,
        quiet: watch::Receiver<Option<Window>>,
        actions: mpsc::Sender<UserAction>,
        keeper: Arc<dyn Keeper>,
    ) -> Notifier {
        let (tx, rx) = mpsc::channel(256);
        let states = Arc::new(Mutex::new(vec!["log: ok".to_owned()]));
        let desktop = config.desktop.then(|| desktop::DesktopSink::new(actions.clone()));
        let webhook = config.webhook.clone().map(webhook::WebhookSink::new);
        let retry_wait = config.reconnect;
        let worker = Worker {
            actions,
            config,
            quiet,
            desktop,
            webhook,
            states: states.clone(),
            batch: Vec::new(),
            batch_at: None,
            held: Vec::new(),
            sent_recently: VecDeque::new(),
            told: Told::default(),
            shown: VecDeque::new(),
            keeper,
            restored: false,
            retry_at: Some(Instant::now()),
            retry_wait,
        };
        tokio::spawn(worker.run(rx));
        Notifier { tx, states }
    }

    /// Queues a notice; if the notifier is overwhelmed the notice is logged and dropped
    /// (the proposal itself is safe in the store and the queue).
    pub fn send(&self, notice: Notice) {
        if let Err(e) = self.tx.try_send(Command::Notice(notice)) {
            tracing::warn!("notifier busy, notice not shown: {e}");
        }
    }

    /// Says that a proposal moved to `state`: what no longer holds about it is taken
    /// back, from what waits to be shown and from the screen (a popup closed, a batch
    /// made again without it).
    pub fn settled(&self, proposal: ProposalId, state: State) {
        if let Err(e) = self.tx.try_send(Command::Settled(proposal, state)) {
            tracing::warn!("notifier busy, the popup of #{proposal} stays: {e}");
        }
    }

    /// Sends a test notification through every sink now; one line per sink.
    pub async fn test(&self) -> Vec<String> {
        let (reply, answer) = oneshot::channel();
        if self.tx.send(Command::Test(reply)).await.is_err() {
            return vec!["the notifier has stopped".into()];
        }
        answer.await.unwrap_or_default()
    }

    /// Applies edited `[notify]` settings; what waits in a batch or for a digest stays.
    pub async fn reconfigure(&self, config: NotifierConfig) {
        let _ = self.tx.send(Command::Reconfigure(Box::new(config))).await;
    }

    /// Each sink's state, for `kairos status`.
    pub fn states(&self) -> Vec<String> {
        self.states.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

struct Worker {
    /// Where button presses go (kept for a desktop sink switched on later).
    actions: mpsc::Sender<UserAction>,
    config: NotifierConfig,
    quiet: watch::Receiver<Option<Window>>,
    desktop: Option<desktop::DesktopSink>,
    webhook: Option<webhook::WebhookSink>,
    states: Arc<Mutex<Vec<String>>>,
    batch: Vec<Notice>,
    batch_at: Option<Instant>,
    /// Held during quiet hours or beyond the hourly cap, for the digest.
    held: Vec<Notice>,
    sent_recently: VecDeque<Instant>,
    /// (proposal, kind) already told: nothing is said twice.
    told: Told,
    /// What the desktop shows, newest last: its notification id and the message.
    shown: VecDeque<(u32, Message)>,
    /// Keeps `shown` across restarts.
    keeper: Arc<dyn Keeper>,
    /// Whether what was on screen before the start has been settled.
    restored: bool,
    /// When to try the desktop again while it is unavailable.
    retry_at: Option<Instant>,
    /// How long after that: `reconnect` at first, doubled after each failure up to
    /// `RETRY_AT_MOST`, so a machine without a desktop is not woken every minute.
    retry_wait: Duration,
}

/// The longest wait between two tries of an unavailable desktop; a message to show
/// tries at once whatever the wait.
const RETRY_AT_MOST: Duration = Duration::from_secs(3600);

/// How many shown notifications kairos keeps track of (to update or close them).
const SHOWN_KEPT: usize = 1024;

impl Worker {
    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        loop {
            let digest_at = self.digest_at();
            let next = [self.batch_at, digest_at, self.retry_at].into_iter().flatten().min();
            tokio::select! {
                command = rx.recv() => match command {
                    None => return,
                    Some(Command::Notice(n)) => self.take(n),
                    Some(Command::Settled(id, state)) => self.settle(id, state).await,
                    Some(Command::Test(reply)) => {
                        let _ = reply.send(self.test().await);
                    }
                    Some(Command::Reconfigure(config)) => self.reconfigure(*config),
                },
                _ = async { match next { Some(t) => crate::watch::wall_clock::sleep_until_instant(t).await, None => std::future::pending().await } } => {
                    let now = Instant::now();
                    if self.retry_at.is_some_and(|t| t <= now) {
                        self.retry_desktop().await;
                    }
                    if self.batch_at.is_some_and(|t| t <= now) {
                        self.batch_at = None;
                        self.flush().await;
                    }
                    if digest_at.is_some_and(|t| t <= now) {
                        self.send_digest().await;
                    }
                }
                _ = self.quiet.changed() => {}
            }
            crate::rest::work_done();
        }
    }

    fn quiet_now(&self) -> Option<Window> {
        self.quiet.borrow().clone().filter(|w| w.contains(LocalTime::of(&chrono::Local::now())))
    }

    /// When the held notices are due: at the end of quiet hours, or when the hourly cap
    /// frees up.
    fn digest_at(&self) -> Option<Instant> {
        if self.held.is_empty() {
            return None;
        }
        let now = Instant::now();
        if let Some(quiet) = self.quiet_now() {
            let minutes = quiet.minutes_left(LocalTime::of(&chrono::Local::now())).max(1);
            return Some(now + Duration::from_secs(u64::from(minutes) * 60));
        }
        match self.sent_recently.front() {
            Some(oldest) if self.sent_recently.len() >= self.config.max_per_hour => {
                Some(*oldest + Duration::from_secs(3600))
            }
            _ => Some(now),
        }
    }

    fn take(&mut self, notice: Notice) {
        // The log hears everything at once; the other sinks get batches.
        log(&notice);
        if let Some(id) = notice.proposal
            && !self.told.insert((id, notice.kind))
        {
            return;
        }
        if self.quiet_now().is_some() {
            self.held.push(notice);
            return;
        }
        self.batch.push(notice);
        self.batch_at.get_or_insert_with(|| Instant::now() + self.config.batch);
    }

    async fn flush(&mut self) {
        let batch = std::mem::take(&mut self.batch);
        self.prune_recent();
        if self.sent_recently.len() >= self.config.max_per_hour {
            tracing::info!(
                "{} notifications in the last hour: holding these for a digest",
                self.sent_recently.len()
            );
            self.held.extend(batch);
            return;
        }
        for message in compose(&batch) {
            self.deliver(&message).await;
        }
    }

    async fn send_digest(&mut self) {
        if self.quiet_now().is_some() {
            return;
        }
        self.prune_recent();
        if self.sent_recently.len() >= self.config.max_per_hour {
            return;
        }
        let held = std::mem::take(&mut self.held);
        let message = digest(&held);
        tracing::info!(target: "kairos::notice", "{}: {}", message.summary, message.body);
        self.deliver(&message).await;
    }

    fn prune_recent(&mut self) {
        while self.sent_recently.front().is_some_and(|t| t.elapsed() > Duration::from_secs(3600)) {
            self.sent_recently.pop_front();
        }
    }

    async fn deliver(&mut self, message: &Message) {
        self.sent_recently.push_back(Instant::now());
        self.restore().await;
        if let Some(desktop) = self.desktop.as_mut() {
            match desktop.deliver(message, 0).await {
                Ok(id) => {
                    self.shown.push_back((id, message.clone()));
                    if self.shown.len() > SHOWN_KEPT {
                        self.shown.pop_front();
                    }
                    self.keep();
                }
                Err(e) => {
                    tracing::info!("desktop notification not shown ({e}); it is in the log");
                    self.retry_at.get_or_insert_with(|| Instant::now() + self.retry_wait);
                }
            }
        }
        if let Some(webhook) = self.webhook.as_mut()
            && let Err(e) = webhook.deliver(message).await
        {
            tracing::warn!("webhook: {e}");
        }
        self.publish_states();
    }

    /// Proposal `id` reached `state`: notices no longer true are not shown, and what is on
    /// screen about it is made again or closed. A webhook's messages are already gone.
    async fn settle(&mut self, id: ProposalId, state: State) {
        self.batch.retain(|n| n.true_in(id, state));
        self.held.retain(|n| n.true_in(id, state));
        self.restore().await;
        let Some(desktop) = self.desktop.as_mut() else { return };
        let mut kept = VecDeque::with_capacity(self.shown.len());
        for (shown_id, message) in std::mem::take(&mut self.shown) {
            match message.after(id, state) {
                Revision::Keep => kept.push_back((shown_id, message)),
                // Dismissed or pressed already: replacing it would bring it back.
                _ if !desktop.is_open(shown_id) => {}
                Revision::Replace(again) => match desktop.deliver(&again, shown_id).await {
                    Ok(new_id) => kept.push_back((new_id, again)),
                    Err(e) => tracing::info!("notification {shown_id} not updated: {e}"),
                },
                Revision::Close => {
                    if let Err(e) = desktop.close(shown_id).await {
                        tracing::info!("notification {shown_id} not closed: {e}");
                    }
                }
            }
        }
        self.shown = kept;
        self.keep();
    }

    /// Writes down what is on screen, for the next start.
    fn keep(&self) {
        let Some(desktop) = &self.desktop else { return };
        let Some(server) = desktop.server() else { return };
        let shown: Vec<Shown> = self
            .shown
            .iter()
            .filter(|(id, _)| desktop.is_open(*id))
            .map(|(id, message)| Shown::of(server, *id, message))
            .collect();
        self.keeper.save(&shown);
    }

    /// Once connected after a start: what the last run left on this same server is
    /// closed where it is no longer true, and taken back (buttons working) where it is.
    async fn restore(&mut self) {
        if self.restored {
            return;
        }
        let Some(desktop) = self.desktop.as_mut() else { return };
        if desktop.connect().await.is_err() {
            return;
        }
        self.restored = true;
        let Some(server) = desktop.server().map(str::to_owned) else { return };
        for before in self.keeper.load() {
            if before.server != server {
                // Gone with the server that showed it.
                continue;
            }
            match before.still_true(|p| self.keeper.state_of(p)) {
                Some(message) => {
                    desktop.adopt(before.id, message.proposals.clone());
                    self.shown.push_back((before.id, message));
                }
                None => {
                    if let Err(e) = desktop.close(before.id).await {
                        tracing::info!("notification {} not closed: {e}", before.id);
                    }
                }
            }
        }
        self.keep();
    }

    fn reconfigure(&mut self, config: NotifierConfig) {
        match (config.desktop, self.desktop.is_some()) {
            (true, false) => {
                self.desktop = Some(desktop::DesktopSink::new(self.actions.clone()));
                self.retry_at = Some(Instant::now());
                self.retry_wait = config.reconnect;
            }
            (false, true) => self.desktop = None,
            _ => {}
        }
        self.webhook = config.webhook.clone().map(webhook::WebhookSink::new);
        self.config = config;
        self.publish_states();
    }

    async fn retry_desktop(&mut self) {
        self.retry_at = None;
        let Some(desktop) = self.desktop.as_mut() else { return };
        if desktop.connect().await.is_err() {
            self.retry_at = Some(Instant::now() + self.retry_wait);
            self.retry_wait = (self.retry_wait * 2).min(RETRY_AT_MOST.max(self.config.reconnect));
        } else {
            self.retry_wait = self.config.reconnect;
            self.restore().await;
        }
        self.publish_states();
    }

    async fn test(&mut self) -> Vec<String> {
        let message = Message {
            summary: "kairos: test notification".into(),
            body: "If you can read this, kairos can reach you here.".into(),
            actions: vec![],
            urgency: Urgency::Normal,
            proposals: vec![],
            made_from: vec![],
            is_digest: false,
        };
        tracing::info!(target: "kairos::notice", "{}", message.summary);
        let mut lines = vec!["log: sent".to_owned()];
        if let Some(desktop) = self.desktop.as_mut() {
            lines.push(match desktop.deliver(&message, 0).await {
                Ok(_) => format!("desktop: sent ({})", desktop.state),
                Err(e) => format!("desktop: not sent: {e}"),
            });
        } else {
            lines.push("desktop: off in the config".into());
        }
        if let Some(webhook) = self.webhook.as_mut() {
            lines.push(match webhook.deliver(&message).await {
                Ok(()) => "webhook: sent".to_owned(),
                Err(e) => format!("webhook: not sent: {e}"),
            });
        } else {
            lines.push("webhook: not configured".into());
        }
        self.publish_states();
        lines
    }

    fn publish_states(&self) {
        let mut states = vec!["log: ok".to_owned()];
        if let Some(d) = &self.desktop {
            states.push(format!("desktop: {}", d.state));
        }
        if let Some(w) = &self.webhook {
            states.push(format!("webhook: {}", w.state));
        }
        *self.states.lock().unwrap_or_else(|e| e.into_inner()) = states;
    }
}

/// Writes a notice to the daemon's log (journald when run as a service).
fn log(notice: &Notice) {
    tracing::info!(
        target: "kairos::notice",
        repo = %notice.repo,
        proposal = ?notice.proposal,
        kind = ?notice.kind,
        "{}: {}",
        notice.summary,
        notice.body
    );
}
