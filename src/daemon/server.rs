//! Accepts connections on the control socket: checks the peer is the same user,
//! exchanges hellos, then answers one request per line.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::BufReader;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;
use tokio::time::timeout;

use super::core::Core;
use super::handlers;
use crate::protocol::{
    ErrorCode, FrameError, Greeting, MAX_REQUEST, PROTOCOL_VERSION, Request, Response, read_frame,
    write_frame, write_frame_text,
};

/// How many clients are served at once; more wait in the listen backlog. With
/// `MAX_REQUEST`, this bounds the memory clients can make the daemon hold.
const MAX_CONNECTIONS: usize = 64;
/// A client must greet within this long, and may sit idle between requests this long.
const HELLO_WITHIN: Duration = Duration::from_secs(10);
const IDLE_LIMIT: Duration = Duration::from_secs(600);

pub async fn serve(core: Arc<Core>, listener: UnixListener) {
    let mut shutdown = core.shutdown.clone();
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let slot = tokio::select! {
            _ = shutdown.changed() => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let core = core.clone();
                    tokio::spawn(async move {
                        let _slot = slot;
                        if let Err(e) = connection(core, stream).await {
                            tracing::debug!("client connection ended: {e}");
                        }
                        crate::rest::work_done();
                    });
                }
                Err(e) => {
                    // Out of descriptors, say: pause rather than spin on the error.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
            },
        }
    }
}

async fn connection(core: Arc<Core>, stream: UnixStream) -> Result<(), FrameError> {
    let uid = rustix::process::geteuid().as_raw();
    match stream.peer_cred() {
        Ok(cred) if cred.uid() == uid => {}
        Ok(cred) => {
            tracing::warn!(
                "refused a connection from uid {} (the daemon runs as uid {uid})",
                cred.uid()
            );
            return Ok(());
        }
        Err(e) => {
            tracing::warn!("refused a connection whose peer cannot be identified: {e}");
            return Ok(());
        }
    }
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);

    let hello = timeout(HELLO_WITHIN, read_frame::<_, serde_json::Value>(&mut reader, MAX_REQUEST));
    let Ok(hello) = hello.await else {
        tracing::debug!("a client sent no hello within {HELLO_WITHIN:?}; closed");
        return Ok(());
    };
    let Some(hello) = hello? else {
        return Ok(());
    };
    let client_protocol = hello.pointer("/hello/protocol").and_then(|v| v.as_u64());
    if client_protocol != Some(u64::from(PROTOCOL_VERSION)) {
        let client_version =
            hello.pointer("/hello/version").and_then(|v| v.as_str()).unwrap_or("unknown");
        let message = match client_protocol {
            Some(p) => format!(
                "protocol mismatch: this kairos client (version {client_version}) speaks protocol {p}, the running daemon (version {}) speaks protocol {PROTOCOL_VERSION}",
                crate::VERSION
            ),
            None => "expected a kairos hello first ({\"hello\":{\"protocol\":N,...}})".to_owned(),
        };
        let hint = Some("use the kairos binary that matches the daemon, or restart the daemon with the new binary (systemctl --user restart kairos)".to_owned());
        write_frame(&mut write, &Response::error(ErrorCode::ProtocolMismatch, message, hint))
            .await?;
        return Ok(());
    }
    let ours = Greeting::Hello {
        protocol: PROTOCOL_VERSION,
        version: crate::VERSION.to_owned(),
        pid: std::process::id(),
    };
    write_frame(&mut write, &ours).await?;

    loop {
        let Ok(read) =
            timeout(IDLE_LIMIT, read_frame::<_, Request>(&mut reader, MAX_REQUEST)).await
        else {
            return Ok(());
        };
        let request = match read {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(()),
            Err(FrameError::Malformed(e)) => {
                let response = Response::error(
                    ErrorCode::BadRequest,
                    format!("not a request this daemon understands: {e}"),
                    None,
                );
                write_frame(&mut write, &response).await?;
                continue;
            }
            Err(e) => return Err(e),
        };
        tracing::debug!(?request, "request");
        if let Request::Log { limit, follow: true, filter } = request {
            return handlers::follow_log(&core, limit, &filter, &mut write).await;
        }
        if let Request::Run { task, repo, progress: true } = request {
            handlers::run_streaming(&core, task, repo, &mut write).await?;
            continue;
        }
        if let Request::Queue { all } = request {
            write_frame_text(&mut write, &handlers::queue_frame(&core, all)).await?;
            continue;
        }
        let response = handlers::handle(&core, request).await;
        write_frame(&mut write, &response).await?;
    }
}
