//! A private D-Bus session bus (`dbus-daemon`) and a notification server that owns
//! `org.freedesktop.Notifications`, records every `Notify` call, and presses buttons by
//! emitting `ActionInvoked`, as a desktop's notification daemon does.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use zbus::object_server::SignalEmitter;

/// One `Notify` call as the server received it.
#[derive(Debug, Clone)]
pub struct Call {
    pub id: u32,
    /// The notification it replaces (0: a new one).
    pub replaces: u32,
    pub app: String,
    pub summary: String,
    pub body: String,
    pub actions: Vec<String>,
    pub urgency: Option<u8>,
}

pub struct Bus {
    child: Child,
    pub address: String,
}

impl Bus {
    /// Starts a private session bus; `at` fixes its socket path.
    pub fn start(at: Option<&std::path::Path>) -> Bus {
        let mut cmd = Command::new("dbus-daemon");
        cmd.args(["--session", "--nofork", "--print-address=1"]);
        if let Some(path) = at {
            cmd.arg(format!("--address=unix:path={}", path.display()));
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon must be installed (the `dbus` package; .ci/run installs it)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        Bus { child, address: line.trim().to_owned() }
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Server {
    calls: Arc<Mutex<Vec<Call>>>,
    closed: Arc<Mutex<Vec<u32>>>,
    next: u32,
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Server {
    #[allow(clippy::too_many_arguments)]
    async fn notify(
        &mut self,
        app_name: String,
        replaces_id: u32,
        _app_icon: String,
        summary: String,
        body: String,
        actions: Vec<String>,
        hints: std::collections::HashMap<String, zbus::OwnedVariant>,
        _expire_timeout: i32,
    ) -> u32 {
        let urgency = hints.get("urgency").and_then(|v| v.downcast_ref::<u8>().ok());
        let mut calls = self.calls.lock().unwrap();
        // As the spec says: a replacement keeps the id of the notification it replaces.
        let id = if replaces_id != 0 && calls.iter().any(|c| c.id == replaces_id) {
            replaces_id
        } else {
            self.next += 1;
            self.next
        };
        calls.push(Call {
            id,
            replaces: replaces_id,
            app: app_name,
            summary,
            body,
            actions,
            urgency,
        });
        id
    }

    fn get_capabilities(&self) -> Vec<String> {
        vec!["actions".into(), "body".into()]
    }

    fn get_server_information(&self) -> (String, String, String, String) {
        ("kairos-test-server".into(), "kairos".into(), "1.0".into(), "1.2".into())
    }

    fn close_notification(&self, id: u32) {
        self.closed.lock().unwrap().push(id);
    }

    #[zbus(signal)]
    async fn action_invoked(
        emitter: &SignalEmitter<'_>,
        id: u32,
        action_key: &str,
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn notification_closed(
        emitter: &SignalEmitter<'_>,
        id: u32,
        reason: u32,
    ) -> zbus::Result<()>;
}

pub struct NotificationServer {
    pub calls: Arc<Mutex<Vec<Call>>>,
    closed: Arc<Mutex<Vec<u32>>>,
    runtime: tokio::runtime::Runtime,
    connection: zbus::Connection,
}

impl NotificationServer {
    pub fn start(address: &str) -> NotificationServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let closed = Arc::new(Mutex::new(Vec::new()));
        let server = Server { calls: calls.clone(), closed: closed.clone(), next: 0 };
        let connection = runtime.block_on(async {
            zbus::connection::Builder::address(address)
                .name("org.freedesktop.Notifications")
                .serve_at("/org/freedesktop/Notifications", server)
                .build()
                .await
                .unwrap()
        });
        NotificationServer { calls, closed, runtime, connection }
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// The ids kairos asked to close (`CloseNotification`), in order.
    pub fn closed(&self) -> Vec<u32> {
        self.closed.lock().unwrap().clone()
    }

    /// Presses a button, as the desktop does: `ActionInvoked` then `NotificationClosed`.
    pub fn press(&self, id: u32, key: &str) {
        self.runtime.block_on(async {
            let iface = self
                .connection
                .object_server()
                .interface::<_, Server>("/org/freedesktop/Notifications")
                .await
                .unwrap();
            Server::action_invoked(iface.signal_emitter(), id, key).await.unwrap();
            Server::notification_closed(iface.signal_emitter(), id, 2).await.unwrap();
        });
    }
}

/// Emits `ActionInvoked` from a connection that is not the notification server: what a
/// hostile program on the session bus could do.
pub fn forge_press(address: &str, id: u32, key: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let connection = zbus::connection::Builder::address(address).build().await.unwrap();
        connection
            .emit_signal(
                None::<zbus::names::BusName>,
                "/org/freedesktop/Notifications",
                "org.freedesktop.Notifications",
                "ActionInvoked",
                &(id, key),
            )
            .await
            .unwrap();
    });
}
