//! Start-up and supervision: builds the routing task and one peer task per neighbor from
//! the configuration, accepts connections (fixed neighbors by address, dynamic neighbors by
//! range: each accepted address gets its own session with the range's settings), and stops
//! on SIGTERM so that a restart is hitless.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bgp_wire::capability::{AddPathMode, LlgrFamily};
use bgp_wire::Family;
use config::{AddressFamily, Config, Neighbor, Peer};
use ipnet::IpNet;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::exchange::{policy, ExportSettings, PeerCommand, PeerKey};
use crate::observe::Observers;
use crate::peer::import::ImportContext;
use crate::peer::{self, PeerHandle, PeerSpec};
use crate::restart_state::{PeerRecord, RestartState};
use crate::routing::{Routing, RoutingConfig, RoutingInput};
use crate::session::{Backoff, GracefulRestartConfig, PeerAs, SessionConfig, SessionError};
use crate::transport::{self, SocketOptions};

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
}

/// The graceful restart capability's flags for this run.
#[derive(Debug, Clone, Copy, Default)]
pub struct RestartFlags {
    /// Restart State (R): we restarted and defer our routes until the peers' End-of-RIB.
    pub restarting: bool,
    /// Forwarding State (F) for every family: forwarding continued across the restart.
    pub forwarding_preserved: bool,
}

/// How often the state file is rewritten while its peers do not change, so that its age
/// tells how long ago a crashed run was alive.
const STATE_REFRESH: Duration = Duration::from_secs(30);

fn family(f: AddressFamily) -> Family {
    match f {
        AddressFamily::Ipv4Unicast => Family::Ipv4Unicast,
        AddressFamily::Ipv6Unicast => Family::Ipv6Unicast,
    }
}

/// The session settings for a neighbor (for a dynamic one, any session in its range).
pub fn session_config(
    config: &Config,
    n: &Neighbor,
    address: IpAddr,
    restart: RestartFlags,
) -> SessionConfig {
    let g = &config.global;
    let mut s = SessionConfig::new(
        g.asn.get(),
        g.router_id.get(),
        PeerAs::Fixed(n.remote_as.get()),
    );
    s.passive = n.passive || n.is_dynamic();
    s.hold_time = n.hold_time.get();
    s.keepalive = Some(n.keepalive);
    s.families = n.families.iter().copied().map(family).collect();
    s.add_path = n
        .add_path
        .iter()
        .map(|(f, m)| {
            let mode = match m {
                config::AddPathMode::Receive => AddPathMode::Receive,
                config::AddPathMode::Send => AddPathMode::Send,
                config::AddPathMode::Both => AddPathMode::Both,
            };
            (family(*f), mode)
        })
        .collect();
    let gr = &n.graceful_restart;
    if gr.enabled {
        // After a restart, say so (RFC 4724 section 3): Restart State, so that peers send
        // their End-of-RIB without waiting for ours, and where forwarding continued,
        // "forwarding state preserved", so that they keep forwarding on our routes until
        // our End-of-RIB.
        s.graceful_restart = Some(GracefulRestartConfig {
            restart_time: gr.restart_time.get(),
            restarting: restart.restarting,
            notification: false,
            families: s
                .families
                .iter()
                .map(|f| (*f, restart.forwarding_preserved))
                .collect(),
        });
        let stale = gr.long_lived_stale_time.get();
        if stale > 0 {
            s.llgr = s
                .families
                .iter()
                .map(|f| LlgrFamily {
                    family: *f,
                    // RFC 9494 section 3: the same "forwarding state preserved" as in the
                    // graceful restart capability. BIRD 1.6.8 reads it from here when both
                    // capabilities are present, and flushes our routes at once without it.
                    flags: if restart.forwarding_preserved {
                        0x80
                    } else {
                        0
                    },
                    stale_time: stale,
                })
                .collect();
        }
    }
    // The first retries come quickly (two speakers starting together each find the
    // other not yet listening), then back off to the configured interval.
    let retry = n.connect_retry_interval();
    s.connect_retry = Backoff {
        initial: retry.min(Duration::from_secs(5)),
        max: retry,
    };
    let mut h = DefaultHasher::new();
    address.hash(&mut h);
    s.jitter_seed = h.finish();
    s
}

fn socket_options(n: &Neighbor) -> SocketOptions {
    SocketOptions {
        local_address: n.local_address,
        md5_key: n.password.as_ref().map(|p| p.expose().to_vec()),
        gtsm_hops: n.ttl_security.map(|h| h.get()),
    }
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
            observers: Observers::default(),
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

    pub(crate) fn spawn_peer(
        &mut self,
        n: &Neighbor,
        address: IpAddr,
        start: bool,
    ) -> Result<PeerKey, SessionError> {
        let key = self.next_key;
        self.next_key += 1;
        let g = &self.config.global;
        let spec = PeerSpec {
            key,
            name: n.name.clone(),
            remote: SocketAddr::new(address, BGP_PORT),
            session: session_config(&self.config, n, address, self.restart_flags()),
            socket: socket_options(n),
            import: ImportContext {
                neighbor: n.name.clone(),
                local_as: g.asn.get(),
                router_id: g.router_id.get(),
                cluster_id: g.cluster_id.get(),
                peer_as: n.remote_as.get(),
                ebgp: !n.is_ibgp(g.asn),
                four_octet_as: true,
                policy: policy(&self.config, n.import.as_deref()),
            },
            export: ExportSettings::of(&self.config, n),
            observers: self.observers.clone(),
            start,
        };
        let handle = peer::spawn(spec, self.routing.clone())?;
        self.peers.insert(key, handle);
        self.by_address.insert(address, key);
        Ok(key)
    }

    /// Forgets dynamic sessions that have been down longer than `limit`: their task ends,
    /// their address may connect again as a new session, their metrics series go.
    pub fn reap_dynamic(&mut self, limit: Duration, metrics: Option<&crate::metrics::Metrics>) {
        let now = std::time::Instant::now();
        let gone: Vec<(PeerKey, IpAddr, String)> = self
            .peers
            .iter()
            .filter_map(|(k, h)| {
                let s = h.status.lock().ok()?;
                let dynamic = self
                    .config
                    .neighbor(&s.name)
                    .is_some_and(Neighbor::is_dynamic);
                let idle_since = s.counters.last_state_change?;
                let down = s.state != crate::session::State::Established;
                (dynamic && down && now.saturating_duration_since(idle_since) >= limit)
                    .then(|| (*k, s.address, s.name.clone()))
            })
            .collect();
        for (key, address, name) in gone {
            info!(neighbor = %name, %address, "dynamic neighbor gone: forgetting the session");
            if let Some(h) = self.peers.remove(&key) {
                if let (Some(m), Ok(s)) = (metrics, h.status.lock()) {
                    let remote_as = s
                        .negotiated
                        .as_ref()
                        .map(|n| n.peer_as)
                        .or(self.config.neighbor(&name).map(|n| n.remote_as.get()))
                        .unwrap_or(0);
                    m.remove_neighbor(&crate::metrics::NeighborLabels::new(
                        name.clone(),
                        address.to_string(),
                        remote_as,
                    ));
                }
            }
            self.forget_address(address);
        }
    }

    pub(crate) fn forget_address(&mut self, address: IpAddr) {
        self.by_address.remove(&address);
    }

    /// Hands an accepted connection to its peer, starting a session for a new address in
    /// a dynamic range; connections from anywhere else are refused before any OPEN.
    async fn accept(&mut self, stream: tokio::net::TcpStream, from: SocketAddr) {
        let addr = from.ip();
        let key = match self.by_address.get(&addr) {
            Some(k) => *k,
            None => {
                let config = self.config.clone();
                let Some(n) = config.neighbor_for_address(addr) else {
                    warn!(%from, "refused a connection: not a configured neighbor or range");
                    return;
                };
                if !n.enabled {
                    return;
                }
                match self.spawn_peer(n, addr, true) {
                    Ok(k) => {
                        info!(neighbor = %n.name, %addr, "dynamic neighbor session");
                        k
                    }
                    Err(e) => {
                        warn!(%from, error = %e, "cannot start a session");
                        return;
                    }
                }
            }
        };
        if let Some(h) = self.peers.get(&key) {
            let _ = h
                .commands
                .send(PeerCommand::Incoming(Box::new(stream)))
                .await;
        }
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
        for l in std::mem::take(&mut self.listeners) {
            let tx = accepted_tx.clone();
            tokio::spawn(async move {
                loop {
                    match l.accept().await {
                        Ok(conn) => {
                            if tx.send(conn).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
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

    /// The restart flags for a session spawned now: a restart's only while it defers (a
    /// node that connects an hour later is not told we just restarted).
    fn restart_flags(&self) -> RestartFlags {
        if self.deferring.load(std::sync::atomic::Ordering::Acquire) {
            self.restart_flags
        } else {
            RestartFlags::default()
        }
    }

    /// Records the peers Established with graceful restart in the state file, when they
    /// changed since the last write, when the last write is old, or when `now` is asked.
    /// Not while a restart defers: the peers are still coming back, and a second restart
    /// then must wait for the same peers as the first (the previous run's file stays).
    pub(crate) fn record_restart_state(&mut self, now: bool) {
        if self.deferring.load(std::sync::atomic::Ordering::Acquire) {
            return;
        }
        let mut peers: Vec<PeerRecord> = self
            .peers
            .values()
            .filter_map(|h| {
                let s = h.status.lock().ok()?;
                let gr = s.negotiated.as_ref().is_some_and(|n| n.graceful_restart);
                (s.state == crate::session::State::Established && gr).then(|| PeerRecord {
                    name: s.name.clone(),
                    address: s.address,
                })
            })
            .collect();
        peers.sort();
        let fresh = self
            .recorded
            .as_ref()
            .is_some_and(|(p, at)| *p == peers && at.elapsed() < STATE_REFRESH);
        if fresh && !now {
            return;
        }
        let g = &self.config.global;
        let state = RestartState {
            version: 1,
            asn: g.asn.get(),
            router_id: g.router_id.get(),
            written_at: crate::restart_state::unix_now(),
            peers: peers.clone(),
        };
        if let Err(e) = crate::restart_state::write(&g.state_dir, &state) {
            // Once per change, not every tick.
            if self.recorded.as_ref().is_none_or(|(p, _)| *p != peers) {
                warn!(dir = %g.state_dir.display(), error = %e, "cannot record the restart state: a restart will not wait for dynamic neighbors");
            }
        }
        self.recorded = Some((peers, std::time::Instant::now()));
    }

    /// Stops every session and waits briefly for the last messages to be written.
    pub async fn stop(&mut self, graceful: bool, message: Option<String>) {
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
    }
}
