//! `bgpctl dump rib FILE [--neighbor X]`: the routing task encodes the MRT dump
//! (`routing/mrt.rs`), this writes it atomically (a temporary file beside FILE, renamed over
//! it) off the daemon's loop.

use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use crate::control::protocol::Response;
use crate::daemon::Daemon;
use crate::routing::{RoutingQuery, RoutingReply};

impl Daemon {
    /// Answers [`crate::control::protocol::Request::DumpRib`].
    pub(super) async fn dump_rib(&mut self, file: String, neighbor: Option<String>) -> Response {
        let path = PathBuf::from(&file);
        if !path.is_absolute() {
            return Response::error(format!("dump file {file} is not an absolute path"));
        }
        // Not over the daemon's own files: the restart state, the BFD hand-over, the socket.
        let state_dir = &self.config.global.state_dir;
        let own = path.parent() == Some(state_dir.as_path())
            && path
                .file_name()
                .is_some_and(|n| n == "restart.json" || n == "bfd.json");
        if own || path == self.config.control.socket {
            return Response::error(format!("{file} is one of bgpd's own files"));
        }
        let peer = match &neighbor {
            Some(n) => match self.find(n).first() {
                Some(k) => Some(*k),
                None => return Response::error(format!("no neighbor {n}")),
            },
            None => None,
        };
        let unix_now = u32::try_from(crate::restart_state::unix_now()).unwrap_or(u32::MAX);
        let dump = match self.ask(RoutingQuery::Mrt { peer, unix_now }).await {
            Some(RoutingReply::Mrt(Ok(dump))) => dump,
            Some(RoutingReply::Mrt(Err(e))) => {
                return Response::error(format!("cannot encode the dump: {e}"))
            }
            _ => return Response::error("the routing task did not answer"),
        };
        let (prefixes, paths) = (dump.prefixes, dump.paths);
        let target = path.clone();
        let written = tokio::task::spawn_blocking(move || write_atomically(&target, &dump.bytes))
            .await
            .map_err(io::Error::other)
            .and_then(|r| r);
        match written {
            Ok(()) => Response::done(format!(
                "wrote {prefixes} prefixes, {paths} paths to {}",
                path.display()
            )),
            Err(e) => Response::error(format!("cannot write {}: {e}", path.display())),
        }
    }
}

/// Writes `bytes` to a temporary file beside `path`, flushed to disk, then renames it over
/// `path`: a reader sees the old file or the whole new one.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp.{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = (|| {
        // A fresh file, never one that is there already (a planted symlink).
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn writes_atomically_and_replaces() {
        let dir = std::env::temp_dir().join(format!("bgpd-dump-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("rib.mrt");
        write_atomically(&file, b"one").unwrap();
        write_atomically(&file, b"two").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"two");
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left behind");
        assert!(write_atomically(&dir.join("missing/rib.mrt"), b"x").is_err());
        assert!(write_atomically(Path::new("/"), b"x").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
