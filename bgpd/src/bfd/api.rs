//! What the daemon sees of BFD: the sessions it asks for, the commands, the rows of `bgpctl
//! show bfd`, the events, and the handle that starts and talks to the task (`task.rs`).

use std::net::IpAddr;
use std::path::PathBuf;

use tokio::sync::{mpsc, oneshot};

use super::machine::{Status, Transition};
use super::resume::Suspended;

/// The single-hop BFD control port (RFC 5881 section 4).
pub const BFD_PORT: u16 = 3784;
/// The multi-hop BFD control port (RFC 5883 section 5).
pub const BFD_MULTIHOP_PORT: u16 = 4784;

/// Where the task receives and where it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    /// Single-hop packets arrive here (3784).
    pub listen: u16,
    /// And go to this port of the neighbor (3784).
    pub peer: u16,
    /// Multi-hop packets arrive here (4784); `None`: not listened for.
    pub multihop_listen: Option<u16>,
    /// And go to this port of a neighbor that speaks multi-hop (4784).
    pub multihop_peer: u16,
}

impl Ports {
    /// The standard ports.
    pub const STANDARD: Ports = Ports {
        listen: BFD_PORT,
        peer: BFD_PORT,
        multihop_listen: Some(BFD_MULTIHOP_PORT),
        multihop_peer: BFD_MULTIHOP_PORT,
    };

    pub(super) fn peer_port(&self, multihop: bool) -> u16 {
        if multihop {
            self.multihop_peer
        } else {
            self.peer
        }
    }
}

/// A session the configuration asks for: one per neighbor with `bfd`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BfdPeer {
    /// The neighbor's name.
    pub neighbor: String,
    /// Its address.
    pub address: IpAddr,
    /// Our address towards it, when configured (else the kernel's choice).
    pub local: Option<IpAddr>,
    /// Intervals and multiplier.
    pub settings: config::Bfd,
    /// `false`: the neighbor is administratively down, and so is its BFD session.
    pub enabled: bool,
}

impl BfdPeer {
    /// The sessions `config` asks for.
    pub fn of(config: &config::Config) -> Vec<BfdPeer> {
        config
            .neighbors
            .iter()
            .filter_map(|n| match (n.bfd, n.peer) {
                // An IPv4-mapped IPv6 address travels as IPv4 (TTL, not hop limit).
                (Some(settings), config::Peer::Address(address)) => Some(BfdPeer {
                    neighbor: n.name.clone(),
                    address: address.to_canonical(),
                    local: n.local_address.map(|a| a.to_canonical()),
                    settings,
                    enabled: n.enabled,
                }),
                _ => None,
            })
            .collect()
    }
}

/// What the daemon asks of the task.
#[derive(Debug)]
pub enum BfdCommand {
    /// These are the sessions wanted from now on: start the new ones, reconfigure the
    /// changed ones (no state change: a Poll Sequence), stop the others.
    Configure(Vec<BfdPeer>),
    /// Every session's state, sorted by neighbor name.
    Show(oneshot::Sender<Vec<BfdRow>>),
    /// The daemon stops for good (`bgpctl shutdown`): every session says AdminDown (RFC
    /// 5880 section 6.8.16); then the task ends and answers.
    Shutdown(oneshot::Sender<()>),
    /// The daemon restarts (SIGTERM): every Up session asks its neighbor for a long
    /// detection time, is written to the directory for the next run, and goes silent; then
    /// the task ends and answers (see `resume.rs`).
    Suspend(PathBuf, oneshot::Sender<()>),
}

/// One session as `bgpctl show bfd` sees it.
#[derive(Debug, Clone)]
pub struct BfdRow {
    /// The session as configured.
    pub peer: BfdPeer,
    /// Its state.
    pub status: Status,
    /// The neighbor speaks multi-hop BFD (RFC 5883) to us.
    pub multihop: bool,
}

/// A state change, reported to the daemon.
#[derive(Debug, Clone)]
pub struct BfdEvent {
    /// The neighbor's name.
    pub neighbor: String,
    /// Its address.
    pub address: IpAddr,
    /// What changed.
    pub transition: Transition,
}

/// The daemon's handle on the task.
#[derive(Debug, Clone)]
pub struct BfdHandle {
    commands: mpsc::Sender<BfdCommand>,
}

impl BfdHandle {
    /// Asks for these sessions from now on.
    pub async fn configure(&self, peers: Vec<BfdPeer>) {
        let _ = self.commands.send(BfdCommand::Configure(peers)).await;
    }

    /// Tells every neighbor our sessions go AdminDown, then ends the task.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(BfdCommand::Shutdown(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Hands the Up sessions over to the next run through `dir`, then ends the task.
    pub async fn suspend(&self, dir: &std::path::Path) {
        let (tx, rx) = oneshot::channel();
        if self
            .commands
            .send(BfdCommand::Suspend(dir.to_path_buf(), tx))
            .await
            .is_ok()
        {
            let _ = rx.await;
        }
    }

    /// Every session's state; empty if the task is gone.
    pub async fn show(&self) -> Vec<BfdRow> {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(BfdCommand::Show(tx)).await.is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }
}

/// Starts the task on the standard ports, reporting state changes on `events`, continuing
/// the sessions a previous run suspended (`resume::take`).
pub fn start(events: mpsc::UnboundedSender<BfdEvent>, resumable: Vec<Suspended>) -> BfdHandle {
    start_resuming(Ports::STANDARD, events, resumable)
}

/// Starts the task on `ports` (the standard ones but in tests, where two tasks share one
/// host).
pub fn start_on(ports: Ports, events: mpsc::UnboundedSender<BfdEvent>) -> BfdHandle {
    start_resuming(ports, events, Vec::new())
}

/// As [`start_on`], continuing the sessions a previous run suspended.
pub fn start_resuming(
    ports: Ports,
    events: mpsc::UnboundedSender<BfdEvent>,
    resumable: Vec<Suspended>,
) -> BfdHandle {
    BfdHandle {
        commands: super::task::spawn(ports, events, resumable),
    }
}
