//! Frames on the control socket: one JSON message per line, bounded in size; and the
//! queue listing, a frame written and read as text.

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt as _, AsyncWrite, AsyncWriteExt};

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("the peer sent something that is not a kairos message: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("the peer sent a message longer than {0} bytes")]
    TooLong(usize),
}

/// Writes one message as a line.
pub async fn write_frame<W: AsyncWrite + Unpin, T: Serialize>(
    w: &mut W,
    msg: &T,
) -> Result<(), FrameError> {
    let mut line = serde_json::to_vec(msg)?;
    line.push(b'\n');
    w.write_all(&line).await?;
    w.flush().await?;
    Ok(())
}

/// The answer to `queue` starts so, goes on with a JSON array of the proposals as the
/// store recorded them and ends with `}`: one frame, written and read as text. A
/// thousand pending proposals are ≈ 1 MB of JSON, and neither side decodes or encodes
/// them on the way (the table decodes only its columns).
pub const LISTING_HEAD: &str = r#"{"response":"proposals","proposals":"#;

/// The `queue` answer for `array`, a JSON array.
pub fn listing_frame(array: &str) -> String {
    let mut frame = String::with_capacity(LISTING_HEAD.len() + array.len() + 1);
    frame.push_str(LISTING_HEAD);
    frame.push_str(array);
    frame.push('}');
    frame
}

/// The JSON array in a `queue` answer; `None` for another frame (an error).
pub fn listing_array(frame: &[u8]) -> Option<&[u8]> {
    let frame = frame.strip_suffix(b"\n").unwrap_or(frame);
    frame.strip_prefix(LISTING_HEAD.as_bytes())?.strip_suffix(b"}")
}

/// Writes `text`, one frame of JSON encoded already, as `write_frame` would.
pub async fn write_frame_text<W: AsyncWrite + Unpin>(
    w: &mut W,
    text: &str,
) -> Result<(), FrameError> {
    debug_assert!(!text.contains('\n'), "a frame is one line");
    w.write_all(text.as_bytes()).await?;
    w.write_all(b"\n").await?;
    w.flush().await?;
    Ok(())
}

/// Reads one message of at most `limit` bytes; `None` at a clean end of stream.
pub async fn read_frame<R: AsyncBufRead + Unpin, T: for<'de> Deserialize<'de>>(
    r: &mut R,
    limit: usize,
) -> Result<Option<T>, FrameError> {
    match read_frame_bytes(r, limit).await? {
        Some(line) => Ok(Some(serde_json::from_slice(&line)?)),
        None => Ok(None),
    }
}

/// Reads one message of at most `limit` bytes without decoding it.
pub async fn read_frame_bytes<R: AsyncBufRead + Unpin>(
    r: &mut R,
    limit: usize,
) -> Result<Option<Vec<u8>>, FrameError> {
    let mut line = Vec::new();
    let n = (&mut *r).take(limit as u64 + 1).read_until(b'\n', &mut line).await?;
    if n == 0 {
        return Ok(None);
    }
    if line.len() > limit {
        return Err(FrameError::TooLong(limit));
    }
    Ok(Some(line))
}
