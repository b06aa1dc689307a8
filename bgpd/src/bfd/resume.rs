//! BFD sessions carried across a graceful restart (SIGTERM, then start again).
//!
//! FRR 8.4 and BIRD 2 (with `bfd on`) close the BGP session when a BFD session goes down,
//! even on an AdminDown, so a restart that stops BFD is never graceful for them. Instead,
//! the stopping daemon writes every Up session to `state_dir/bfd.json` and goes silent; the
//! next start reads it and, if it comes back within the neighbor's detection time of us,
//! continues each session Up with the same discriminators: the neighbor never sees it go
//! down, and BGP graceful restart does the rest. A later start finds the file too old and
//! starts every session in Down, as always.

use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

const FILE: &str = "bfd.json";

/// One session as it was when the daemon stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suspended {
    /// The neighbor's address.
    pub address: IpAddr,
    /// `bfd.LocalDiscr`.
    pub local_discriminator: u32,
    /// `bfd.RemoteDiscr`.
    pub remote_discriminator: u32,
    /// The neighbor's Required Min RX Interval, µs.
    pub remote_min_rx_us: u32,
    /// The neighbor's Desired Min TX Interval, µs.
    pub remote_desired_min_tx_us: u32,
    /// The neighbor's Detect Mult.
    pub remote_multiplier: u8,
    /// Our Desired Min TX Interval as the neighbor knows it, µs.
    pub desired_min_tx_us: u32,
    /// Our Detect Mult as the neighbor knows it.
    pub multiplier: u8,
    /// Our Required Min RX Interval as the neighbor knows it, µs (0: not recorded).
    #[serde(default)]
    pub required_min_rx_us: u32,
    /// The neighbor speaks multi-hop to us.
    #[serde(default)]
    pub multihop: bool,
    /// The last authentication sequence number sent (the neighbor's replay window).
    #[serde(default)]
    pub auth_seq: Option<u32>,
}

impl Suspended {
    /// How long the neighbor waits without our packets before it declares the session down
    /// (RFC 5880 section 6.8.4, seen from its side).
    pub fn neighbor_detection_time(&self) -> Duration {
        let ours = Duration::from_micros(u64::from(self.desired_min_tx_us));
        let theirs = Duration::from_micros(u64::from(self.remote_min_rx_us));
        ours.max(theirs) * u32::from(self.multiplier)
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct File {
    /// When it was written, ms since the epoch.
    written_ms: u64,
    sessions: Vec<Suspended>,
}

fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Writes the suspended sessions (atomically: a temporary file renamed).
pub fn write(dir: &Path, sessions: Vec<Suspended>) -> io::Result<()> {
    let text = serde_json::to_string(&File {
        written_ms: now_ms(),
        sessions,
    })
    .map_err(io::Error::other)?;
    let tmp = dir.join(format!("{FILE}.tmp"));
    std::fs::write(&tmp, text)?;
    std::fs::rename(tmp, path(dir))
}

/// Reads and removes the file: the sessions that may still be Up at the neighbor, with how
/// long ago they were suspended. Missing, unreadable or malformed: none.
pub fn take(dir: &Path) -> (Vec<Suspended>, Duration) {
    let p = path(dir);
    let Ok(text) = std::fs::read(&p) else {
        return (Vec::new(), Duration::ZERO);
    };
    let _ = std::fs::remove_file(&p);
    // Bounded: a file of ours is small; anything larger is not ours.
    if text.len() > 1 << 20 {
        return (Vec::new(), Duration::ZERO);
    }
    match serde_json::from_slice::<File>(&text) {
        Ok(f) => {
            let age = Duration::from_millis(now_ms().saturating_sub(f.written_ms));
            let alive = f
                .sessions
                .into_iter()
                .filter(|s| age < s.neighbor_detection_time())
                .collect();
            (alive, age)
        }
        Err(_) => (Vec::new(), Duration::ZERO),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(tx_us: u32) -> Suspended {
        Suspended {
            address: "203.0.113.2".parse().unwrap_or(IpAddr::from([0, 0, 0, 0])),
            local_discriminator: 7,
            remote_discriminator: 9,
            remote_min_rx_us: 300_000,
            remote_desired_min_tx_us: 300_000,
            remote_multiplier: 3,
            desired_min_tx_us: tx_us,
            multiplier: 3,
            required_min_rx_us: 300_000,
            multihop: false,
            auth_seq: None,
        }
    }

    #[test]
    fn written_sessions_come_back_once_and_only_while_young() {
        let dir = std::env::temp_dir().join(format!("bfd-resume-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        assert!(write(&dir, vec![session(300_000)]).is_ok());
        let (back, age) = take(&dir);
        assert_eq!(back, vec![session(300_000)]);
        assert!(age < Duration::from_millis(900));
        // One-shot: the file is gone.
        assert!(take(&dir).0.is_empty());
        // Written 2 s ago: a session the neighbor gives 900 ms is gone, one stretched to
        // 10 x 1 s before the restart is still there.
        let mut stretched = session(1_000_000);
        stretched.multiplier = 10;
        stretched.address = "203.0.113.6".parse().unwrap_or(stretched.address);
        let old = File {
            written_ms: now_ms() - 2000,
            sessions: vec![session(300_000), stretched.clone()],
        };
        let _ = std::fs::write(path(&dir), serde_json::to_string(&old).unwrap_or_default());
        assert_eq!(take(&dir).0, vec![stretched]);
        let _ = std::fs::write(path(&dir), b"{not json");
        assert!(take(&dir).0.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
