//! The control socket server: accepts `bgpctl` connections on a Unix socket and hands each
//! decoded [`Request`] to the daemon over a channel, with a oneshot for the [`Response`].
//!
//! ```text
//! bgpctl --line--> connection task --(Request, oneshot)--> daemon
//!        <-line--                  <------- Response ------
//! ```
//!
//! The socket is created with mode 0660 (group from the process: the systemd unit sets
//! it). Starting refuses a path a live daemon answers on, and removes a stale socket file
//! left by a daemon that died. The file is removed again when the [`ControlServer`] is shut
//! down or dropped, unless another process has replaced it meanwhile.

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio::task::JoinHandle;

use super::protocol::MAX_LINE;
use super::protocol::{decode_request, encode_response, ProtocolError, Request, Response};
use crate::transport::AcceptBackoff;

/// What the server sends the daemon: a request and where to answer it. Dropping the sender
/// unanswered gives the client an error.
pub type ControlCommand = (Request, oneshot::Sender<Response>);

/// Mode of the socket file: owner and group may talk to the daemon.
pub const SOCKET_MODE: u32 = 0o660;

/// A client that sends nothing for this long is disconnected.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// Clients served at once. One more is told so and disconnected: idle clients must not
/// take the descriptors BGP sessions need.
pub const MAX_CLIENTS: usize = 256;

/// A running control server. Dropping it stops accepting and removes the socket file;
/// connections already open finish their current request.
#[derive(Debug)]
pub struct ControlServer {
    path: PathBuf,
    /// Device and inode of the socket we bound, so we never remove someone else's.
    identity: (u64, u64),
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl ControlServer {
    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops accepting, waits for the accept loop to end, and removes the socket file.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.remove_socket();
    }

    fn remove_socket(&self) {
        if let Ok(meta) = fs::symlink_metadata(&self.path) {
            if (meta.dev(), meta.ino()) == self.identity {
                let _ = fs::remove_file(&self.path);
            }
        }
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
        self.remove_socket();
    }
}

/// Binds the control socket at `path` and serves it until the returned [`ControlServer`] is
/// shut down or dropped. Each request goes to `handler` as a [`ControlCommand`].
///
/// Errors: `AddrInUse` ("another bgpd is running on PATH") when a process answers on the
/// path; `AlreadyExists` when the path is something other than a socket; any error from
/// binding or setting the mode. Must be called inside a tokio runtime.
pub async fn serve(
    path: &Path,
    handler: mpsc::Sender<ControlCommand>,
) -> io::Result<ControlServer> {
    clear_stale(path).await?;
    let listener = UnixListener::bind(path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot bind {}: {e}", path.display())))?;
    let meta = fs::metadata(path)?;
    let identity = (meta.dev(), meta.ino());
    if let Err(e) = fs::set_permissions(path, fs::Permissions::from_mode(SOCKET_MODE)) {
        let _ = fs::remove_file(path);
        return Err(e);
    }
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(accept_loop(listener, handler, stopped));
    tracing::info!(path = %path.display(), "control socket listening");
    Ok(ControlServer {
        path: path.to_path_buf(),
        identity,
        stop,
        task: Some(task),
    })
}

/// Refuses a path a live daemon answers on; removes a socket nobody answers on.
async fn clear_stale(path: &Path) -> io::Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a socket", path.display()),
        ));
    }
    match UnixStream::connect(path).await {
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("another bgpd is running on {}", path.display()),
        )),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            tracing::info!(path = %path.display(), "removing stale control socket");
            fs::remove_file(path)
        }
        Err(e) => Err(e),
    }
}

async fn accept_loop(
    listener: UnixListener,
    handler: mpsc::Sender<ControlCommand>,
    mut stopped: watch::Receiver<bool>,
) {
    let clients = Arc::new(Semaphore::new(MAX_CLIENTS));
    let mut backoff = AcceptBackoff::new("control socket");
    loop {
        tokio::select! {
            _ = stopped.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    backoff.succeeded();
                    match clients.clone().try_acquire_owned() {
                        Ok(permit) => {
                            let handler = handler.clone();
                            tokio::spawn(async move {
                                connection(stream, handler).await;
                                drop(permit);
                            });
                        }
                        Err(_) => {
                            tokio::spawn(refuse(stream));
                        }
                    }
                }
                // Out of descriptors and the like: keep serving the clients we have.
                Err(e) => backoff.failed(&e).await,
            },
        }
    }
}

/// One line read with a bound: `Ok(None)` at end of input.
async fn read_line<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    buf: &mut Vec<u8>,
) -> io::Result<Option<Result<(), ProtocolError>>> {
    buf.clear();
    let limit = u64::try_from(MAX_LINE)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let n = (&mut *reader).take(limit).read_until(b'\n', buf).await?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
    } else if buf.len() > MAX_LINE {
        return Ok(Some(Err(ProtocolError::TooLong { limit: MAX_LINE })));
    }
    Ok(Some(Ok(())))
}

/// Tells a client over [`MAX_CLIENTS`] why it is disconnected.
async fn refuse(mut stream: UnixStream) {
    let busy = Response::error(format!(
        "too many control connections (at most {MAX_CLIENTS}): try again"
    ));
    if let Ok(line) = encode_response(&busy) {
        let _ =
            tokio::time::timeout(Duration::from_secs(1), stream.write_all(line.as_bytes())).await;
    }
}

/// Serves one client: any number of requests, one at a time, until it closes.
async fn connection(stream: UnixStream, handler: mpsc::Sender<ControlCommand>) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut buf = Vec::new();
    loop {
        let read = tokio::time::timeout(IDLE_TIMEOUT, read_line(&mut reader, &mut buf)).await;
        let (response, close) = match read {
            Err(_) | Ok(Ok(None) | Err(_)) => return, // idle, closed, or broken
            Ok(Ok(Some(Err(too_long)))) => (Response::error(too_long.to_string()), true),
            Ok(Ok(Some(Ok(())))) => match std::str::from_utf8(&buf) {
                Err(_) => (Response::error("malformed message: not UTF-8"), false),
                Ok(line) if line.trim().is_empty() => continue,
                Ok(line) => match decode_request(line) {
                    Err(e) => (Response::error(e.to_string()), false),
                    Ok(request) => (dispatch(request, &handler).await, false),
                },
            },
        };
        let line = match encode_response(&response) {
            Ok(line) => line,
            Err(e) => match encode_response(&Response::error(e.to_string())) {
                Ok(line) => line,
                Err(_) => return,
            },
        };
        if write.write_all(line.as_bytes()).await.is_err() || close {
            return;
        }
    }
}

async fn dispatch(request: Request, handler: &mpsc::Sender<ControlCommand>) -> Response {
    tracing::debug!(?request, "control request");
    let (reply, answer) = oneshot::channel();
    if handler.send((request, reply)).await.is_err() {
        return Response::error("bgpd is shutting down");
    }
    answer
        .await
        .unwrap_or_else(|_| Response::error("the daemon dropped the request without an answer"))
}
