//! Starting and supervising peer tasks: session settings from the configuration, fixed
//! neighbors, dynamic neighbors accepted by range and forgotten when gone, and the restart
//! state file kept current.

use crate::exchange::{policy, ExportSettings, PeerCommand, PeerKey};
use crate::peer::import::ImportContext;
use crate::peer::{self, PeerSpec};
use crate::restart_state::{PeerRecord, RestartState};
use crate::session::{Backoff, GracefulRestartConfig, PeerAs, SessionConfig, SessionError};
use crate::transport::SocketOptions;
use bgp_wire::capability::{AddPathMode, LlgrFamily};
use bgp_wire::Family;
use config::{AddressFamily, Config, Neighbor};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tracing::{info, warn};

use super::{Daemon, RestartFlags, BGP_PORT};

/// How often the state file is rewritten while its peers do not change, so that its age
/// tells how long ago a crashed run was alive.
pub(super) const STATE_REFRESH: Duration = Duration::from_secs(30);

pub(super) fn family(f: AddressFamily) -> Family {
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
    // RFC 8950: IPv4 routes over an IPv6 session need an IPv6 next hop.
    s.extended_next_hop = address.to_canonical().is_ipv6();
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

pub(super) fn socket_options(n: &Neighbor) -> SocketOptions {
    SocketOptions {
        local_address: n.local_address,
        md5_key: n.password.as_ref().map(|p| p.expose().to_vec()),
        gtsm_hops: n.ttl_security.map(|h| h.get()),
    }
}

impl Daemon {
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
                calico: n.calico.clone().map(std::sync::Arc::new),
                drained: self.drained.covers(&n.name, address),
            },
            export: ExportSettings {
                graceful_shutdown: self.drained.covers(&n.name, address),
                ..ExportSettings::of(&self.config, n)
            },
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
    pub(super) async fn accept(&mut self, stream: tokio::net::TcpStream, from: SocketAddr) {
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

    /// The restart flags for a session spawned now: a restart's only while it defers (a
    /// node that connects an hour later is not told we just restarted).
    pub(super) fn restart_flags(&self) -> RestartFlags {
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
}
