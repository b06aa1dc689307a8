//! The client side of the control protocol, as `bgpctl` uses it: connect to the socket,
//! send one request line, read one response line. Blocking (std sockets): a command-line
//! tool needs no runtime.
//!
//! Connection failures are sorted into what an operator can act on: the daemon is not
//! running, or the socket is not theirs to open.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::protocol::{
    decode_response, encode_request, ProtocolError, Request, Response, MAX_RESPONSE_LINE,
};

/// Default control socket path.
pub const DEFAULT_SOCKET: &str = "/run/bgpd/bgpd.sock";

/// Default time to wait for an answer: reloads and RIB dumps can take a while.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a request got no answer from the daemon.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No socket at the path, or nobody listening on it.
    #[error("bgpd is not running (no socket at {})", path.display())]
    NotRunning {
        /// The socket path.
        path: PathBuf,
    },
    /// The socket exists but we may not open it.
    #[error("cannot open {}: permission denied; are you in the bgpd group?", path.display())]
    PermissionDenied {
        /// The socket path.
        path: PathBuf,
    },
    /// Any other I/O failure talking to the daemon.
    #[error("{}: {source}", path.display())]
    Io {
        /// The socket path.
        path: PathBuf,
        /// The failure.
        source: io::Error,
    },
    /// The daemon closed the connection without answering.
    #[error("bgpd closed the connection without answering")]
    NoAnswer,
    /// The answer could not be decoded.
    #[error("bad answer from bgpd: {0}")]
    Protocol(#[from] ProtocolError),
}

/// A connection to the daemon's control socket; several requests may share it.
#[derive(Debug)]
pub struct Client {
    path: PathBuf,
    reader: BufReader<UnixStream>,
}

impl Client {
    /// Connects to the socket at `path`, waiting at most `timeout` for each answer.
    pub fn connect(path: &Path, timeout: Duration) -> Result<Self, ClientError> {
        let stream = UnixStream::connect(path).map_err(|e| connect_error(path, e))?;
        let io_err = |source| ClientError::Io {
            path: path.to_path_buf(),
            source,
        };
        stream.set_read_timeout(Some(timeout)).map_err(io_err)?;
        stream.set_write_timeout(Some(timeout)).map_err(io_err)?;
        Ok(Client {
            path: path.to_path_buf(),
            reader: BufReader::new(stream),
        })
    }

    /// Sends one request and waits for its response.
    pub fn request(&mut self, request: &Request) -> Result<Response, ClientError> {
        let line = encode_request(request)?;
        self.reader
            .get_mut()
            .write_all(line.as_bytes())
            .map_err(|e| self.io(e))?;
        let mut buf = Vec::new();
        let limit = u64::try_from(MAX_RESPONSE_LINE)
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        let n = (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut buf)
            .map_err(|e| self.io(e))?;
        if n == 0 {
            return Err(ClientError::NoAnswer);
        }
        if buf.last() == Some(&b'\n') {
            buf.pop();
        } else if buf.len() > MAX_RESPONSE_LINE {
            return Err(ProtocolError::TooLong {
                limit: MAX_RESPONSE_LINE,
            }
            .into());
        }
        let line = String::from_utf8(buf)
            .map_err(|_| ProtocolError::Malformed("answer is not UTF-8".to_string()))?;
        Ok(decode_response(&line)?)
    }

    fn io(&self, source: io::Error) -> ClientError {
        match source.kind() {
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => ClientError::NoAnswer,
            _ => ClientError::Io {
                path: self.path.clone(),
                source,
            },
        }
    }
}

fn connect_error(path: &Path, source: io::Error) -> ClientError {
    let path = path.to_path_buf();
    match source.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
            ClientError::NotRunning { path }
        }
        io::ErrorKind::PermissionDenied => ClientError::PermissionDenied { path },
        _ => ClientError::Io { path, source },
    }
}

/// Connects, sends one request, and returns the response.
pub fn request(path: &Path, request: &Request) -> Result<Response, ClientError> {
    Client::connect(path, DEFAULT_TIMEOUT)?.request(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_failures_say_what_to_do() {
        let path = Path::new("/run/bgpd/bgpd.sock");
        let e = connect_error(path, io::ErrorKind::PermissionDenied.into());
        assert_eq!(
            e.to_string(),
            "cannot open /run/bgpd/bgpd.sock: permission denied; are you in the bgpd group?"
        );
        for kind in [io::ErrorKind::NotFound, io::ErrorKind::ConnectionRefused] {
            let e = connect_error(path, kind.into());
            assert_eq!(
                e.to_string(),
                "bgpd is not running (no socket at /run/bgpd/bgpd.sock)"
            );
        }
    }
}
