//! Desktop notifications over D-Bus: sent with notify-rust, and buttons heard with our
//! own zbus subscription, made before anything is sent (a fast server's answer would be
//! lost otherwise). A button press is accepted only from the bus name that owns
//! `org.freedesktop.Notifications` and only for a notification kairos sent: any other
//! program on the session bus could forge one.

use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::UserAction;
use super::compose::{Message, Urgency};
use crate::proposal::ProposalId;

const SERVICE: &str = "org.freedesktop.Notifications";

/// Notifications we sent, newest last: their id and the proposals their buttons act on.
/// Bounded (a server forgets old notifications too), and searched newest first because
/// a restarted server counts ids from 1 again.
type Sent = Arc<Mutex<std::collections::VecDeque<(u32, Vec<ProposalId>)>>>;

/// How many sent notifications keep working buttons.
const REMEMBERED: usize = 1024;

pub struct DesktopSink {
    sent: Sent,
    actions: mpsc::Sender<UserAction>,
    /// The one connection that sends and hears: some servers (dunst) address
    /// `ActionInvoked` to the connection that sent the notification.
    connection: Option<zbus::Connection>,
    listener: Option<tokio::task::JoinHandle<()>>,
    /// Whether the server renders markup in bodies (then ours is escaped).
    markup: bool,
    /// The server connected to: the bus's id and the server's unique name on it.
    server: Option<String>,
    pub state: String,
}

/// How long a notification server may take to answer before it is taken for hung.
const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl DesktopSink {
    pub fn new(actions: mpsc::Sender<UserAction>) -> DesktopSink {
        DesktopSink {
            sent: Sent::default(),
            actions,
            connection: None,
            listener: None,
            markup: false,
            server: None,
            state: "not connected yet".into(),
        }
    }

    pub fn connected(&self) -> bool {
        self.listener.as_ref().is_some_and(|l| !l.is_finished())
    }

    /// Connects to the session bus and starts listening for buttons; the error says why
    /// there is no desktop to talk to.
    pub async fn connect(&mut self) -> Result<(), String> {
        if self.connected() {
            return Ok(());
        }
        let result = async {
            let connection =
                zbus::Connection::session().await.map_err(|e| format!("no session bus ({e})"))?;
            let rule = zbus::MatchRule::builder()
                .msg_type(zbus::message::Type::Signal)
                .interface(SERVICE)
                .build()
                .map_err(|e| e.to_string())?;
            let stream = zbus::MessageStream::for_match_rule(
                rule,
                &connection,
                std::num::NonZeroUsize::new(64),
            )
            .await
            .map_err(|e| e.to_string())?;
            let dbus = zbus::fdo::DBusProxy::new(&connection).await.map_err(|e| e.to_string())?;
            let owner = dbus
                .get_name_owner(zbus::names::BusName::try_from(SERVICE).map_err(|e| e.to_string())?)
                .await
                .map_err(|_| "no notification server on the session bus".to_owned())?;
            let bus = dbus.get_id().await.map_err(|e| e.to_string())?;
            Ok::<_, String>((connection, stream, owner.to_string(), bus.to_string()))
        }
        .await;
        match result {
            Ok((connection, stream, owner, bus)) => {
                self.markup = capabilities(&connection).await.iter().any(|c| c == "body-markup");
                self.server = Some(format!("{owner}@{bus}"));
                self.state = format!("connected (notification server {owner})");
                self.connection = Some(connection.clone());
                self.listener = Some(tokio::spawn(listen(
                    connection,
                    stream,
                    self.sent.clone(),
                    self.actions.clone(),
                )));
                Ok(())
            }
            Err(e) => {
                self.state = format!("unavailable: {e}; kairos logs instead and tries again");
                Err(e)
            }
        }
    }

    /// Shows `message`, in place of notification `replaces` when it is not 0; the id
    /// the server gave it.
    pub async fn deliver(&mut self, message: &Message, replaces: u32) -> Result<u32, String> {
        self.connect().await?;
        let urgency = match message.urgency {
            Urgency::Low => notify_rust::Urgency::Low,
            Urgency::Normal => notify_rust::Urgency::Normal,
            Urgency::Critical => notify_rust::Urgency::Critical,
        };
        // notify-rust models the notification; it goes out on our own connection (see
        // `connection`), with the same Notify call notify-rust itself would make.
        // Summaries and bodies quote repositories, files and tool output: shown as text,
        // never as markup a server would render (links, images) or terminal controls.
        let body = if self.markup {
            escape_markup(&printable(&message.body))
        } else {
            printable(&message.body)
        };
        let mut n = notify_rust::Notification::new();
        n.appname("kairos").summary(&printable(&message.summary)).body(&body).urgency(urgency);
        for (key, label) in &message.actions {
            n.action(key, label);
        }
        let hints =
            std::collections::HashMap::from([("urgency", zbus::Variant::U8(urgency as u8))]);
        let Some(connection) = self.connection.clone() else { return Err("not connected".into()) };
        let args = (
            &n.appname,
            replaces,
            &n.icon,
            &n.summary,
            &n.body,
            &n.actions,
            hints,
            i32::from(n.timeout),
        );
        let call = connection.call_method(
            Some(SERVICE),
            "/org/freedesktop/Notifications",
            Some(SERVICE),
            "Notify",
            &args,
        );
        let Ok(reply) = tokio::time::timeout(CALL_TIMEOUT, call).await else {
            return Err(format!(
                "the notification server did not answer within {}",
                humantime::format_duration(CALL_TIMEOUT)
            ));
        };
        match reply.and_then(|r| r.body().deserialize::<u32>()) {
            Ok(id) => {
                let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
                sent.retain(|(sent_id, _)| *sent_id != replaces);
                sent.push_back((id, message.proposals.clone()));
                if sent.len() > REMEMBERED {
                    sent.pop_front();
                }
                Ok(id)
            }
            Err(e) => {
                self.disconnect(&e.to_string());
                Err(e.to_string())
            }
        }
    }

    /// The server connected to (the bus's id and the server's name on it), once
    /// connected.
    pub fn server(&self) -> Option<&str> {
        self.server.as_deref()
    }

    /// Takes notification `id`, shown before a restart by this same server, as kairos's
    /// again: its buttons act on `proposals`.
    pub fn adopt(&self, id: u32, proposals: Vec<ProposalId>) {
        let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        sent.retain(|(sent_id, _)| *sent_id != id);
        sent.push_back((id, proposals));
    }

    /// Whether notification `id` is still on screen as far as kairos knows: sent by it,
    /// and neither pressed nor closed since.
    pub fn is_open(&self, id: u32) -> bool {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).iter().any(|(sent, _)| *sent == id)
    }

    /// Takes notification `id` off the screen (`CloseNotification`).
    pub async fn close(&mut self, id: u32) -> Result<(), String> {
        forget(&self.sent, id);
        let Some(connection) = self.connection.clone() else { return Err("not connected".into()) };
        let call = connection.call_method(
            Some(SERVICE),
            "/org/freedesktop/Notifications",
            Some(SERVICE),
            "CloseNotification",
            &id,
        );
        match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => {
                self.disconnect(&e.to_string());
                Err(e.to_string())
            }
            Err(_) => Err("the notification server did not answer".into()),
        }
    }

    fn disconnect(&mut self, why: &str) {
        if let Some(l) = self.listener.take() {
            l.abort();
        }
        self.connection = None;
        self.state = format!("unavailable: {why}; kairos logs instead and tries again");
    }
}

fn forget(sent: &Sent, id: u32) {
    sent.lock().unwrap_or_else(|e| e.into_inner()).retain(|(sent_id, _)| *sent_id != id);
}

/// Hears `ActionInvoked(id, key)` and passes genuine presses on; hears
/// `NotificationClosed(id, reason)` so a notification the user dismissed is not brought
/// back by replacing it.
async fn listen(
    connection: zbus::Connection,
    mut stream: zbus::MessageStream,
    sent: Sent,
    actions: mpsc::Sender<UserAction>,
) {
    let Ok(dbus) = zbus::fdo::DBusProxy::new(&connection).await else { return };
    while let Some(Ok(message)) = stream.next().await {
        let member = message.header().member().map(|m| m.to_string());
        let sender = message.header().sender().map(|s| s.to_string());
        if member.as_deref() == Some("NotificationClosed") {
            if let Ok((id, _reason)) = message.body().deserialize::<(u32, u32)>()
                && sender.is_some()
                && sender == owner_of_service(&dbus).await
            {
                forget(&sent, id);
            }
            continue;
        }
        if member.as_deref() != Some("ActionInvoked") {
            continue;
        }
        let Ok((id, key)) = message.body().deserialize::<(u32, String)>() else { continue };
        if sender.is_none() || sender != owner_of_service(&dbus).await {
            tracing::warn!(
                "ignored a notification action from {sender:?}: only the notification server may press buttons"
            );
            continue;
        }
        let Some(proposals) = sent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .rev()
            .find(|(sent_id, _)| *sent_id == id)
            .map(|(_, proposals)| proposals.clone())
        else {
            tracing::warn!("ignored an action for notification {id}, which kairos did not send");
            continue;
        };
        // A pressed button closes the notification (the spec's default): it must not be
        // replaced or closed again later.
        forget(&sent, id);
        let _ = actions.send(UserAction { key, proposals }).await;
    }
}

/// What `kairos doctor` finds on the session bus: the notification server's unique
/// name, and whether it shows buttons (the `actions` capability).
pub async fn probe() -> Result<(String, bool), String> {
    let connection =
        zbus::Connection::session().await.map_err(|e| format!("no session bus ({e})"))?;
    let dbus = zbus::fdo::DBusProxy::new(&connection).await.map_err(|e| e.to_string())?;
    let owner = owner_of_service(&dbus)
        .await
        .ok_or_else(|| "no notification server on the session bus".to_owned())?;
    let actions = capabilities(&connection).await.iter().any(|c| c == "actions");
    Ok((owner, actions))
}

/// The unique name that owns `org.freedesktop.Notifications` now.
async fn owner_of_service(dbus: &zbus::fdo::DBusProxy<'_>) -> Option<String> {
    let name = zbus::names::BusName::try_from(SERVICE).ok()?;
    dbus.get_name_owner(name).await.ok().map(|o| o.to_string())
}

/// The server's capabilities; none when it does not say (in time).
async fn capabilities(connection: &zbus::Connection) -> Vec<String> {
    let call = connection.call_method(
        Some(SERVICE),
        "/org/freedesktop/Notifications",
        Some(SERVICE),
        "GetCapabilities",
        &(),
    );
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(Ok(reply)) => reply.body().deserialize::<Vec<String>>().unwrap_or_default(),
        _ => vec![],
    }
}

/// `text` without control characters other than newlines and tabs.
fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control() || *c == '\n' || *c == '\t').collect()
}

/// `text` as literal text in the notification spec's body markup.
fn escape_markup(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_text_stays_text() {
        let hostile = "<a href=\"file:///etc\">x</a> & \u{1b}[2Jgone\nnext\tcol";
        assert_eq!(
            escape_markup(&printable(hostile)),
            "&lt;a href=\"file:///etc\"&gt;x&lt;/a&gt; &amp; [2Jgone\nnext\tcol"
        );
    }
}
