//! The state file that tells a restarted daemon whom to wait for.
//!
//! A restarting speaker defers route selection until every peer it expects has sent
//! End-of-RIB (RFC 4724 section 4.1; the deferral itself is `routing::restart`). Fixed
//! neighbors are in the configuration, but dynamic neighbors (Calico nodes accepted from a
//! range) are not: which of them will come back is known only to the previous run. So the
//! daemon records, in `[global] state_dir`/`restart.json`, the peers that are Established with
//! graceful restart: whenever that set changes (checked every 2 s), every 30 s while it does
//! not (so that the file's age tells how long ago a crashed run was last alive), and once more
//! on SIGTERM. A deliberate `bgpctl shutdown` removes it: the next start is a cold one.
//!
//! At start the file is used only if it is ours (same AS and router ID) and young enough that
//! the peer may still hold our routes: within the restart time plus the long-lived stale time
//! we advertise to that neighbor. Without a usable file, a start that found our routes still
//! in the kernel waits for the configured fixed neighbors only.

use std::collections::BTreeSet;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use config::{Config, Peer};
use serde::{Deserialize, Serialize};

use crate::routing::RestartPlan;

/// The file's name inside the state directory.
pub const FILE_NAME: &str = "restart.json";

/// What the file holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartState {
    /// Format version.
    pub version: u32,
    /// Our AS when written.
    pub asn: u32,
    /// Our router ID when written.
    pub router_id: Ipv4Addr,
    /// When written, in seconds since the Unix epoch.
    pub written_at: u64,
    /// The peers Established with graceful restart.
    pub peers: Vec<PeerRecord>,
}

/// One peer in the file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PeerRecord {
    /// The neighbor's configured name.
    pub name: String,
    /// The peer's address.
    pub address: IpAddr,
}

/// The file's path in `dir`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Writes the file atomically (a temporary file renamed over it), creating `dir`.
pub fn write(dir: &Path, state: &RestartState) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!("{FILE_NAME}.tmp"));
    let json = serde_json::to_vec_pretty(state).map_err(io::Error::other)?;
    {
        use std::io::Write as _;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&json)?;
        // On disk before it replaces the old file: a power loss leaves one or the other.
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path(dir))
}

/// Reads the file; `None` when there is none.
pub fn read(dir: &Path) -> io::Result<Option<RestartState>> {
    match std::fs::read(path(dir)) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Removes the file (a deliberate shutdown: the next start is cold).
pub fn remove(dir: &Path) -> io::Result<()> {
    match std::fs::remove_file(path(dir)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Whom a start waits for: `None` for a cold start (no usable file and no routes of ours
/// kept in the kernel). `now` is seconds since the Unix epoch.
pub fn plan(
    config: &Config,
    state: Option<&RestartState>,
    forwarding_preserved: bool,
    now: u64,
) -> Option<RestartPlan> {
    let g = &config.global;
    let deferral = Duration::from_secs(u64::from(g.selection_deferral));
    let ours = state.filter(|s| s.asn == g.asn.get() && s.router_id == g.router_id.get());
    let expected: BTreeSet<IpAddr> = match ours {
        Some(s) => s
            .peers
            .iter()
            .filter(|p| {
                config.neighbor_for_address(p.address).is_some_and(|n| {
                    let gr = &n.graceful_restart;
                    let held_for = u64::from(gr.restart_time.get())
                        + u64::from(gr.long_lived_stale_time.get());
                    n.enabled && gr.enabled && now.saturating_sub(s.written_at) <= held_for
                })
            })
            .map(|p| p.address)
            .collect(),
        None => BTreeSet::new(),
    };
    if !expected.is_empty() {
        return Some(RestartPlan {
            expected,
            deferral,
            until_timer: false,
        });
    }
    if !forwarding_preserved {
        return None;
    }
    let fixed = config
        .neighbors
        .iter()
        .filter(|n| n.enabled && n.graceful_restart.enabled)
        .filter_map(|n| match n.peer {
            Peer::Address(a) => Some(a),
            Peer::Range(_) => None,
        })
        .collect();
    // Dynamic neighbors may hold our routes too, and nothing says which: only the timer
    // may end the wait (ending it at the fixed neighbors' End-of-RIB would remove the
    // kernel routes of nodes not back yet).
    let until_timer = config
        .neighbors
        .iter()
        .any(|n| n.is_dynamic() && n.enabled && n.graceful_restart.enabled);
    Some(RestartPlan {
        expected: fixed,
        deferral,
        until_timer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Config {
        let text = format!(
            r#"
[global]
asn = 64512
router_id = "192.0.2.1"
[[neighbor]]
name = "vbr"
address = "203.0.113.2"
remote_as = 45104
[[neighbor]]
name = "calico"
range = "192.0.2.0/24"
remote_as = 64512
graceful_restart = {{ restart_time = 120, long_lived_stale_time = 3600 }}
{extra}
"#
        );
        Config::from_str(&text, "t.toml").unwrap().0
    }

    fn state(written_at: u64, peers: &[(&str, &str)]) -> RestartState {
        RestartState {
            version: 1,
            asn: 64512,
            router_id: "192.0.2.1".parse().unwrap(),
            written_at,
            peers: peers
                .iter()
                .map(|(n, a)| PeerRecord {
                    name: (*n).to_owned(),
                    address: a.parse().unwrap(),
                })
                .collect(),
        }
    }

    fn addrs(p: &RestartPlan) -> Vec<String> {
        p.expected.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn the_recorded_peers_are_expected_while_they_may_hold_our_routes() {
        let c = config("");
        let s = state(
            1000,
            &[
                ("vbr", "203.0.113.2"),
                ("calico", "192.0.2.11"),
                ("calico", "198.51.100.9"), // no longer in any range
            ],
        );
        let p = plan(&c, Some(&s), false, 1010).unwrap();
        assert_eq!(addrs(&p), ["192.0.2.11", "203.0.113.2"]);
        assert_eq!(p.deferral, Duration::from_secs(15));
        // 200 s later the VBR (120 s restart time) has flushed us; the node (LLGR) has not.
        let p = plan(&c, Some(&s), false, 1200).unwrap();
        assert_eq!(addrs(&p), ["192.0.2.11"]);
        assert!(plan(&c, Some(&s), false, 1000 + 3721).is_none());
    }

    #[test]
    fn another_routers_file_is_ignored() {
        let c = config("");
        let mut s = state(1000, &[("vbr", "203.0.113.2")]);
        s.router_id = "192.0.2.2".parse().unwrap();
        assert!(plan(&c, Some(&s), false, 1001).is_none());
    }

    #[test]
    fn without_a_file_kept_kernel_routes_mean_waiting_for_the_fixed_neighbors() {
        let c = config("");
        assert!(plan(&c, None, false, 1).is_none());
        let p = plan(&c, None, true, 1).unwrap();
        assert_eq!(addrs(&p), ["203.0.113.2"]);
        assert!(
            p.until_timer,
            "the range's nodes are unknown: only the timer ends it"
        );
        let p = plan(&c, Some(&state(1, &[("vbr", "203.0.113.2")])), true, 2).unwrap();
        assert!(!p.until_timer, "a usable record is complete");
    }

    #[test]
    fn written_and_read_back() {
        let dir = std::env::temp_dir().join(format!("bgpd-restart-state-{}", std::process::id()));
        let s = state(77, &[("calico", "192.0.2.11")]);
        write(&dir, &s).unwrap();
        assert_eq!(read(&dir).unwrap(), Some(s));
        remove(&dir).unwrap();
        assert_eq!(read(&dir).unwrap(), None);
        remove(&dir).unwrap();
        let _ = std::fs::remove_dir(&dir);
    }
}
