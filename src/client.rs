//! Connecting to the daemon: connect, exchange hellos, send requests.

use std::path::PathBuf;

use tokio::io::BufReader;
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

use crate::paths::Paths;
use crate::protocol::{
    ErrorBody, FrameError, Greeting, MAX_RESPONSE, PROTOCOL_VERSION, Request, Response,
    listing_array, read_frame, read_frame_bytes, write_frame,
};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the kairos daemon is not running (no socket at {0})")]
    NotRunning(PathBuf),
    #[error("cannot reach the kairos daemon at {path}: {source}")]
    Connect { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Frame(#[from] FrameError),
    #[error("the daemon closed the connection")]
    Closed,
    #[error("{}", .0.message)]
    Daemon(ErrorBody),
}

impl ClientError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            ClientError::NotRunning(_) => Some(
                "start it with `kairos daemon` (foreground) or `kairos service install` (systemd user service)".into(),
            ),
            ClientError::Daemon(body) => body.hint.clone(),
            _ => None,
        }
    }
}

pub struct Client {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    pub daemon_version: String,
    pub daemon_pid: u32,
}

impl Client {
    /// Connects to the daemon's socket and exchanges hellos.
    pub async fn connect(paths: &Paths) -> Result<Client, ClientError> {
        let socket = paths.socket();
        let stream = UnixStream::connect(&socket).await.map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                ClientError::NotRunning(socket.clone())
            }
            _ => ClientError::Connect { path: socket.clone(), source: e },
        })?;
        // Only our own daemon gets our approvals (and is believed about their outcome).
        let me = rustix::process::geteuid().as_raw();
        match stream.peer_cred() {
            Ok(peer) if peer.uid() == me => {}
            Ok(peer) => {
                return Err(ClientError::Connect {
                    path: socket.clone(),
                    source: std::io::Error::other(format!(
                        "it is served by another user (uid {}); kairos will not talk to it",
                        peer.uid()
                    )),
                });
            }
            Err(e) => return Err(ClientError::Connect { path: socket.clone(), source: e }),
        }
        let (read, mut writer) = stream.into_split();
        let mut reader = BufReader::new(read);
        let hello = Greeting::Hello {
            protocol: PROTOCOL_VERSION,
            version: crate::VERSION.to_owned(),
            pid: std::process::id(),
        };
        write_frame(&mut writer, &hello).await?;
        let reply: serde_json::Value =
            read_frame(&mut reader, MAX_RESPONSE).await?.ok_or(ClientError::Closed)?;
        if reply.get("hello").is_some() {
            let Greeting::Hello { version, pid, .. } =
                serde_json::from_value(reply).map_err(FrameError::from)?;
            return Ok(Client { reader, writer, daemon_version: version, daemon_pid: pid });
        }
        match serde_json::from_value::<Response>(reply).map_err(FrameError::from)? {
            Response::Error { error } => Err(ClientError::Daemon(error)),
            _ => Err(ClientError::Closed),
        }
    }

    /// Sends `request` and returns the first response; a daemon error becomes `Err`.
    pub async fn call(&mut self, request: &Request) -> Result<Response, ClientError> {
        write_frame(&mut self.writer, request).await?;
        self.next().await?.ok_or(ClientError::Closed)
    }

    /// Sends `request`, whose answer is a listing (`queue`), and returns the JSON array
    /// of proposals as the daemon sent it, undecoded.
    pub async fn call_listing(&mut self, request: &Request) -> Result<String, ClientError> {
        write_frame(&mut self.writer, request).await?;
        let frame =
            read_frame_bytes(&mut self.reader, MAX_RESPONSE).await?.ok_or(ClientError::Closed)?;
        if let Some(array) = listing_array(&frame) {
            return String::from_utf8(array.to_vec()).map_err(|e| {
                ClientError::Frame(FrameError::Malformed(serde::de::Error::custom(e)))
            });
        }
        match serde_json::from_slice::<Response>(&frame).map_err(FrameError::from)? {
            Response::Error { error } => Err(ClientError::Daemon(error)),
            _ => Err(ClientError::Closed),
        }
    }

    /// The next response of a stream (`log --follow`); `None` when the daemon hung up.
    pub async fn next(&mut self) -> Result<Option<Response>, ClientError> {
        match read_frame::<_, Response>(&mut self.reader, MAX_RESPONSE).await? {
            Some(Response::Error { error }) => Err(ClientError::Daemon(error)),
            other => Ok(other),
        }
    }
}
