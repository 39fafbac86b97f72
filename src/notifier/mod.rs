//! Telling the user. The notifier is a component fed by a bounded channel; sinks are
//! pluggable. This build has the log sink; desktop and webhook sinks come next.

use tokio::sync::mpsc;

use crate::proposal::ProposalId;

/// Something the user should hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub repo: String,
    pub summary: String,
    pub body: String,
    pub proposal: Option<ProposalId>,
    pub kind: NoticeKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    /// A proposal waits for approve / reject.
    Waiting,
    /// kairos changed something on its own; it can be undone.
    Applied,
    /// A task failed.
    Failure,
    /// A task reported something (a command task with `output = "notice"`).
    Info,
}

/// Where notices go.
pub trait Sink: Send {
    fn name(&self) -> &'static str;
    fn deliver(&mut self, notice: &Notice);
}

/// Writes notices to the daemon's log (journald when run as a service).
pub struct LogSink;

impl Sink for LogSink {
    fn name(&self) -> &'static str {
        "log"
    }

    fn deliver(&mut self, notice: &Notice) {
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
}

/// The sending side handed to the rest of the daemon; never blocks.
#[derive(Clone)]
pub struct Notifier {
    tx: mpsc::Sender<Notice>,
}

impl Notifier {
    /// Starts the notifier component with `sinks`; it stops when every sender is gone.
    pub fn start(mut sinks: Vec<Box<dyn Sink>>) -> Notifier {
        let (tx, mut rx) = mpsc::channel::<Notice>(256);
        tokio::spawn(async move {
            while let Some(notice) = rx.recv().await {
                for sink in sinks.iter_mut() {
                    sink.deliver(&notice);
                }
            }
        });
        Notifier { tx }
    }

    /// Queues a notice; if the notifier is overwhelmed the notice is logged and dropped
    /// (the proposal itself is safe in the store and the queue).
    pub fn send(&self, notice: Notice) {
        if let Err(e) = self.tx.try_send(notice) {
            tracing::warn!("notifier busy, notice not shown: {e}");
        }
    }

    pub fn sink_names() -> Vec<&'static str> {
        vec![LogSink.name()]
    }
}
