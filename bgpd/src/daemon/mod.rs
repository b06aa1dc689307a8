//! Start-up and supervision: builds the routing task and one peer task per neighbor from
//! the configuration, accepts connections (fixed neighbors by address, dynamic neighbors by
//! range: each accepted address gets its own session with the range's settings), and stops
//! on SIGTERM so that a restart is hitless. The daemon's one room: `sessions.rs` starts
//! and supervises peer tasks, `reload.rs` applies a new configuration, `operate.rs`
//! answers `bgpctl`.

mod bfd;
mod calico;
mod drain;
mod dump;
mod operate;
mod reload;
mod sessions;

pub use sessions::session_config;

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use config::{Config, Peer};
use ipnet::IpNet;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::exchange::{PeerCommand, PeerKey};
use crate::observe::Observers;
use crate::peer::PeerHandle;
use crate::restart_state::PeerRecord;
use crate::routing::{Routing, RoutingConfig, RoutingInput};
use crate::session::SessionError;
use crate::transport::{self};

/// The BGP port.
pub const BGP_PORT: u16 = 179;

/// A dynamic neighbor's session that has not been Established for this long is forgotten
/// (the node is gone); longer than any graceful restart time (at most 4095 s is allowed,
/// Calico uses 120 s) would be safest, but ten minutes keeps departed nodes from piling up.
pub const DYNAMIC_IDLE_LIMIT: Duration = Duration::from_secs(600);

/// Why the daemon could not start or keep running.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The kernel FIB could not be opened or read.
    #[error("kernel FIB: {0}")]
    Fib(#[source] io::Error),
    /// A BGP listener could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// TCP-MD5 keys could not be set on a listener.
    #[error("TCP-MD5 on the listener: {0}")]
    Md5(#[source] io::Error),
    /// A configured neighbor's session settings are invalid.
    #[error("neighbor {name}: {source}")]
    Session {
        /// The neighbor.
        name: String,
        /// Why.
        source: SessionError,
    },
    /// The control socket could not be opened.
    #[error("control socket {path}: {source}")]
    Control {
        /// The socket's path.
        path: std::path::PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The metrics registry could not be built.
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The metrics endpoint could not be opened.
    #[error("cannot serve metrics on {addr}: {source}")]
    MetricsListen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// Signal handlers could not be installed.
    #[error("signals: {0}")]
    Signals(#[source] io::Error),
}

/// The running daemon's handles.
#[derive(Debug)]
pub struct Daemon {
    pub(crate) config: Arc<Config>,
    /// The configuration file, read again on reload.
    pub(crate) config_path: std::path::PathBuf,
    pub(crate) routing: mpsc::Sender<RoutingInput>,
    /// Every peer task: fixed neighbors by name, dynamic sessions by address.
    pub(crate) peers: HashMap<PeerKey, PeerHandle>,
    by_address: HashMap<IpAddr, PeerKey>,
    next_key: PeerKey,
    listeners: Vec<TcpListener>,
    /// `bgpctl shutdown` was asked: leave the main loop.
    pub(crate) shutting_down: bool,
    /// What our OPENs say about a restart (RFC 4724 section 3), while `deferring`.
    restart_flags: RestartFlags,
    /// Set while the routing task defers after a restart.
    deferring: Arc<std::sync::atomic::AtomicBool>,
    /// What the state file last recorded, and when: rewritten when it changes.
    recorded: Option<(Vec<PeerRecord>, std::time::Instant)>,
    /// Monitors of every session (BMP): shared with each peer task, so a monitor subscribed
    /// at any time sees every session from then on.
    observers: Observers,
    /// The BFD sessions' task.
    pub(crate) bfd: crate::bfd::BfdHandle,
    /// The BMP collectors, subscribed to `observers` before any session starts.
    pub(crate) bmp: crate::bmp::Bmp,
    /// What `bgpctl drain` drained (RFC 8326); sessions started later inherit it.
    drained: drain::Drained,
    /// Its state changes, until `run` takes them.
    bfd_events: Option<mpsc::UnboundedReceiver<crate::bfd::BfdEvent>>,
}

/// The graceful restart capability's flags for this run.
#[derive(Debug, Clone, Copy, Default)]
pub struct RestartFlags {
    /// Restart State (R): we restarted and defer our routes until the peers' End-of-RIB.
    pub restarting: bool,
    /// Forwarding State (F) for every family: forwarding continued across the restart.
    pub forwarding_preserved: bool,
}

impl Daemon {
    /// Where a monitor (BMP) subscribes to the sessions' events.
    pub fn observers(&self) -> &Observers {
        &self.observers
    }

    /// Binds the listeners, starts the routing task and every fixed neighbor.
    pub async fn start(
        config: Config,
        config_path: std::path::PathBuf,
    ) -> Result<Daemon, DaemonError> {
        let config = Arc::new(config);
        let g = &config.global;
        // BFD first: sessions the previous run handed over must hear from us before the
        // neighbors' (stretched) detection time runs out.
        let (bfd_tx, bfd_events) = mpsc::unbounded_channel();
        let (resumable, age) = crate::bfd::resume::take(&g.state_dir);
        if !resumable.is_empty() {
            info!(
                sessions = resumable.len(),
                age_ms = u64::try_from(age.as_millis()).unwrap_or(u64::MAX),
                "taking over the BFD sessions of the previous run"
            );
        }
        let bfd = crate::bfd::start(bfd_tx, resumable);
        bfd.configure(crate::bfd::BfdPeer::of(&config)).await;
        let (routing, rx) = mpsc::channel(1024);
        let mut kernel_routes_kept = false;
        let (kernel, next_hop_events) = match &config.kernel {
            Some(k) => {
                let (fib, events) = crate::fib::Fib::start(crate::fib::FibConfig::new(k.table))
                    .await
                    .map_err(DaemonError::Fib)?;
                let adopted = fib.stats().adopted_at_start;
                if adopted > 0 {
                    info!(
                        adopted,
                        "kernel routes of a previous run kept: restarting gracefully"
                    );
                    kernel_routes_kept = true;
                }
                let export = k
                    .export
                    .as_ref()
                    .and_then(|p| config.policy(p))
                    .map(|p| Arc::new(p.clone()));
                info!(table = k.table, "programming the kernel FIB");
                (Some((fib, export)), Some(events))
            }
            None => (None, None),
        };
        let state = match crate::restart_state::read(&g.state_dir) {
            Ok(s) => s,
            Err(e) => {
                warn!(dir = %g.state_dir.display(), error = %e, "cannot read the restart state: starting cold");
                None
            }
        };
        let restart = crate::restart_state::plan(
            &config,
            state.as_ref(),
            kernel_routes_kept,
            crate::restart_state::unix_now(),
        );
        if let Some(plan) = &restart {
            let expected: Vec<String> = plan.expected.iter().map(ToString::to_string).collect();
            info!(
                expected = %expected.join(" "),
                deferral_s = plan.deferral.as_secs(),
                "restarting gracefully: waiting for these peers' End-of-RIB before sending routes"
            );
        }
        let restart_flags = RestartFlags {
            restarting: restart.is_some(),
            // Without `[kernel]` we own no forwarding state, so a restart cannot have lost
            // any; with it, forwarding continued only if our routes were still there.
            forwarding_preserved: restart.is_some()
                && (config.kernel.is_none() || kernel_routes_kept),
        };
        let deferring = Arc::new(std::sync::atomic::AtomicBool::new(restart.is_some()));
        let routing_task = Routing::new(
            &RoutingConfig {
                asn: g.asn.get(),
                router_id: g.router_id.get(),
                cluster_id: g.cluster_id.get(),
                originate: config.originate.clone(),
                kernel,
                restart,
                deferring: deferring.clone(),
            },
            std::time::Instant::now(),
        );
        tokio::spawn(routing_task.run(rx, next_hop_events));
        let mut listeners = Vec::new();
        for addr in &g.listen {
            match transport::listen(*addr) {
                Ok(l) => {
                    for n in &config.neighbors {
                        let Some(p) = &n.password else { continue };
                        let peers = match n.peer {
                            Peer::Address(a) => IpNet::from(a),
                            Peer::Range(r) => r,
                        };
                        if peers.addr().is_ipv4() == addr.is_ipv4() {
                            transport::set_listener_md5(&l, peers, Some(p.expose()))
                                .map_err(DaemonError::Md5)?;
                        }
                    }
                    info!(%addr, "listening");
                    listeners.push(l);
                }
                // An IPv6 wildcard on a host without IPv6 is not fatal when IPv4 works.
                Err(e) if addr.is_ipv6() && addr.ip().is_unspecified() => {
                    warn!(%addr, error = %e, "cannot listen");
                }
                Err(source) => {
                    return Err(DaemonError::Listen {
                        addr: *addr,
                        source,
                    })
                }
            }
        }
        let observers = Observers::default();
        let mut bmp = crate::bmp::Bmp::new(&observers, routing.clone(), g);
        bmp.configure(&config.bmp);
        let mut daemon = Daemon {
            config: config.clone(),
            config_path,
            routing,
            peers: HashMap::new(),
            by_address: HashMap::new(),
            next_key: 1,
            listeners,
            shutting_down: false,
            restart_flags,
            deferring,
            recorded: None,
            observers,
            bfd,
            bmp,
            drained: drain::Drained::default(),
            bfd_events: Some(bfd_events),
        };
        for n in &config.neighbors {
            if let Peer::Address(a) = n.peer {
                daemon
                    .spawn_peer(n, a, n.enabled)
                    .map_err(|source| DaemonError::Session {
                        name: n.name.clone(),
                        source,
                    })?;
            }
        }
        Ok(daemon)
    }

    /// Runs until SIGTERM, SIGINT or `bgpctl shutdown`: accepts connections, answers
    /// `bgpctl`, serves metrics; on a signal, stops every session gracefully (closing without
    /// NOTIFICATION where graceful restart was negotiated).
    pub async fn run(mut self) -> Result<(), DaemonError> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).map_err(DaemonError::Signals)?;
        let mut int = signal(SignalKind::interrupt()).map_err(DaemonError::Signals)?;
        let mut hup = signal(SignalKind::hangup()).map_err(DaemonError::Signals)?;
        let (accepted_tx, mut accepted) = mpsc::channel(64);
        let mut bfd_events = self
            .bfd_events
            .take()
            .unwrap_or_else(|| mpsc::unbounded_channel().1);
        for l in std::mem::take(&mut self.listeners) {
            let tx = accepted_tx.clone();
            tokio::spawn(async move {
                let mut backoff = transport::AcceptBackoff::new("bgp");
                loop {
                    match l.accept().await {
                        Ok(conn) => {
                            backoff.succeeded();
                            if tx.send(conn).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => backoff.failed(&e).await,
                    }
                }
            });
        }
        let (control_tx, mut control) = mpsc::channel(16);
        let socket = &self.config.control.socket;
        let control_server = crate::control::serve(socket, control_tx)
            .await
            .map_err(|source| DaemonError::Control {
                path: socket.clone(),
                source,
            })?;
        info!(socket = %self.config.control.socket.display(), "control socket ready");
        let metrics = match &self.config.metrics {
            Some(m) => {
                let metrics = Arc::new(crate::metrics::Metrics::new()?);
                let server = crate::metrics::serve_metrics(m.listen, metrics.clone())
                    .await
                    .map_err(|source| DaemonError::MetricsListen {
                        addr: m.listen,
                        source,
                    })?;
                info!(addr = %m.listen, "metrics at /metrics");
                Some((metrics, server))
            }
            None => None,
        };
        crate::notify::ready();
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        loop {
            tokio::select! {
                Some((stream, from)) = accepted.recv() => self.accept(stream, from).await,
                Some(event) = bfd_events.recv() => self.on_bfd(event).await,
                Some((request, reply)) = control.recv() => {
                    let response = self.control(request).await;
                    let _ = reply.send(response);
                    if self.shutting_down {
                        break;
                    }
                }
                _ = tick.tick() => {
                    crate::notify::watchdog();
                    self.record_restart_state(false);
                    self.reap_dynamic(DYNAMIC_IDLE_LIMIT, metrics.as_ref().map(|(m, _)| m.as_ref()));
                    if let Some((m, _)) = &metrics {
                        self.update_metrics(m).await;
                        self.update_bfd_metrics(m).await;
                        m.set_bmp(&self.bmp.status());
                    }
                }
                _ = hup.recv() => {
                    info!("SIGHUP: reloading the configuration");
                    let _ = self.reload(false).await;
                }
                _ = term.recv() => {
                    info!("SIGTERM: closing sessions for graceful restart");
                    self.stop(true, None).await;
                    break;
                }
                _ = int.recv() => {
                    info!("SIGINT: closing sessions for graceful restart");
                    self.stop(true, None).await;
                    break;
                }
            }
        }
        control_server.shutdown().await;
        Ok(())
    }

    /// Stops every session and waits briefly for the last messages to be written.
    pub async fn stop(&mut self, graceful: bool, message: Option<String>) {
        // BFD first. A restart hands the Up sessions to the next run (after asking each
        // neighbor for a 10 s detection time), so that no neighbor sees them go down: FRR
        // and BIRD drop our routes on a BFD down, AdminDown included, whatever graceful
        // restart says. A final stop says AdminDown (RFC 5880 section 6.8.16).
        if graceful {
            self.bfd.suspend(&self.config.global.state_dir).await;
        } else {
            self.bfd.shutdown().await;
        }
        if graceful {
            self.record_restart_state(true);
        } else if let Err(e) = crate::restart_state::remove(&self.config.global.state_dir) {
            warn!(error = %e, "cannot remove the restart state");
        }
        if graceful {
            // The kernel keeps forwarding on our routes while we restart.
            let (tx, rx) = tokio::sync::oneshot::channel();
            if self
                .routing
                .send(RoutingInput::DetachKernel(tx))
                .await
                .is_ok()
            {
                let _ = tokio::time::timeout(Duration::from_secs(2), rx).await;
            }
        }
        for h in self.peers.values() {
            let notification = message.as_ref().map(|m| {
                bgp_wire::Notification::cease_with_message(
                    bgp_wire::notification::cease::ADMIN_SHUTDOWN,
                    m,
                )
            });
            let _ = h
                .commands
                .send(PeerCommand::Stop {
                    graceful,
                    notification: notification.map(Box::new),
                })
                .await;
        }
        // Bounded: the writers flush within this or the process exit closes the sockets.
        tokio::time::sleep(Duration::from_millis(200)).await;
        // After the sessions' Peer Downs: the collectors get them, then Termination.
        self.bmp.shutdown().await;
    }
}
