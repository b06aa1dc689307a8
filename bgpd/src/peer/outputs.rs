//! What a peer task does with its sessions' outputs: connect, write, close, and tell the
//! routing task and the observers what happened (up, UPDATEs, refresh requests, down).

use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tracing::{debug, info, warn};

use super::driver::{Conn, Driver, PeerSpec, Slot, CONNECT_TIMEOUT};
use super::import::import;
use super::writer;
use crate::exchange::PeerCommand;
use crate::observe::Observed;
use crate::routing::{PeerUp, RoutingInput};
use crate::session::{Negotiated, Output, State};
use crate::transport;

impl Driver {
    /// Acts on one output of the main session.
    pub(super) async fn act_main(&mut self, out: Output) {
        match out {
            Output::Connect => {
                // An incoming connection handed over in the same step already is the
                // session's connection: no attempt of our own.
                if self.main.conn.is_some() {
                    return;
                }
                let remote = self.spec.remote;
                let options = self.spec.socket.clone();
                self.connecting = Some(Box::pin(async move {
                    transport::connect(remote, &options, CONNECT_TIMEOUT).await
                }));
            }
            Output::Send(bytes) => {
                if let Some(conn) = &self.main.conn {
                    conn.writer.send_control(bytes);
                }
            }
            Output::CloseConnection => {
                self.main.conn = None;
                self.connecting = None;
            }
            Output::Established(negotiated) => self.established(*negotiated).await,
            Output::Down {
                reason,
                was_established,
                retain_routes,
            } => {
                info!(neighbor = %self.spec.name, address = %self.spec.remote.ip(), %reason, "session down");
                if was_established && self.up {
                    // Paired with the PeerUp `established` reported.
                    self.spec.observers.report(&Observed::PeerDown {
                        key: self.spec.key,
                        reason: &reason,
                    });
                }
                if let Ok(mut s) = self.status.lock() {
                    s.last_error = Some(reason.to_string());
                    s.established_at = None;
                    // Counted per session: a peer that is down has sent nothing (what a
                    // graceful restart keeps shows as accepted).
                    s.received = 0;
                    s.received_ipv6 = 0;
                    s.pool_refused.clear();
                    self.refused_logged.clear();
                }
                if was_established && self.up {
                    self.up = false;
                    // The peer's restart time, from the OPEN exchange of the session that
                    // just ended (RFC 4724 section 4.2).
                    let stale_for = if retain_routes {
                        self.peer_restart_time
                    } else {
                        Duration::ZERO
                    };
                    let _ = self
                        .routing
                        .send(RoutingInput::PeerDown {
                            key: self.spec.key,
                            stale_for,
                            llgr_for: if retain_routes {
                                self.peer_llgr_time
                            } else {
                                Duration::ZERO
                            },
                        })
                        .await;
                }
            }
            Output::Update(update) => {
                self.spec.observers.report(&Observed::Received {
                    key: self.spec.key,
                    update: &update,
                });
                let imported = import(*update, &self.import);
                if let Ok(mut s) = self.status.lock() {
                    s.received += imported.received as u64;
                    s.received_ipv6 += imported.received_ipv6 as u64;
                    if !imported.pool_refused.is_empty() || !s.pool_refused.is_empty() {
                        let who = (self.spec.name.as_str(), self.spec.remote.ip());
                        track_refused(&mut self.refused_logged, who, &mut s, &imported);
                    }
                }
                for why in &imported.refused {
                    debug!(neighbor = %self.spec.name, reason = why, "routes refused");
                }
                let _ = self
                    .routing
                    .send(RoutingInput::Update {
                        key: self.spec.key,
                        imported,
                    })
                    .await;
            }
            Output::RouteRefresh(rr) => {
                let _ = self
                    .routing
                    .send(RoutingInput::RefreshRequest {
                        key: self.spec.key,
                        family: rr.family,
                        subtype: rr.subtype,
                    })
                    .await;
            }
            Output::CollisionWon => {}
            Output::StateChange { from, to } => {
                info!(neighbor = %self.spec.name, address = %self.spec.remote.ip(), from = from.name(), to = to.name(), "state change");
                if let Ok(mut s) = self.status.lock() {
                    s.state = to;
                    s.counters = self.main.session.counters().clone();
                }
                if to == State::Idle && self.restart_after_stop {
                    self.restart_after_stop = false;
                    let _ = self.self_commands.try_send(PeerCommand::Start);
                }
            }
        }
    }

    async fn established(&mut self, negotiated: Negotiated) {
        let Some(conn) = &self.main.conn else { return };
        self.peer_restart_time = negotiated
            .peer_graceful_restart
            .as_ref()
            .filter(|_| negotiated.graceful_restart)
            .map(|g| Duration::from_secs(u64::from(g.restart_time)))
            .unwrap_or_default();
        self.peer_llgr_time = negotiated
            .peer_llgr
            .iter()
            .map(|f| Duration::from_secs(u64::from(f.stale_time)))
            .min()
            .unwrap_or_default();
        self.import.peer_as = negotiated.peer_as;
        self.import.ebgp = negotiated.ebgp;
        self.import.four_octet_as = negotiated.four_octet_as;
        if let Ok(mut s) = self.status.lock() {
            s.established_at = Some(Instant::now());
            s.negotiated = Some(negotiated.clone());
            s.received = 0;
            s.received_ipv6 = 0;
            s.pool_refused.clear();
            s.last_error = None;
        }
        if self.spec.observers.is_watched() {
            if let Some(received) = self.main.session.remote_open() {
                self.spec.observers.report(&Observed::PeerUp {
                    key: self.spec.key,
                    name: &self.spec.name,
                    address: self.spec.remote.ip(),
                    local_address: conn.local,
                    endpoints: conn.endpoints,
                    opens: (self.main.session.local_open(), received),
                    negotiated: &negotiated,
                    commands: &self.self_commands,
                });
            }
        }
        // RFC 2545 section 3: a directly connected eBGP peer gets our link-local address
        // beside the global one. iBGP next hops stay global: they are resolved recursively.
        let link_local = match conn.local {
            Some(local) if negotiated.ebgp && self.spec.export.link_local_next_hop => {
                crate::interfaces::link_local_towards(local, self.spec.remote.ip())
            }
            _ => None,
        };
        let up = PeerUp {
            key: self.spec.key,
            name: self.spec.name.clone(),
            address: self.spec.remote.ip(),
            local_address: conn.local,
            link_local,
            negotiated,
            export: self.spec.export.clone(),
            updates: conn.writer.updates(),
            commands: self.self_commands.clone(),
            calico: self.import.calico.clone(),
        };
        self.up = true;
        let _ = self.routing.send(RoutingInput::PeerUp(Box::new(up))).await;
    }
}

pub(super) fn attach(stream: TcpStream, spec: &PeerSpec) -> Conn {
    let local = stream.local_addr().ok();
    let endpoints = local.zip(stream.peer_addr().ok());
    let (reader, write) = stream.into_split();
    Conn {
        reader,
        writer: writer::spawn(write, spec.key, spec.observers.clone()),
        local: local.map(|a| a.ip()),
        endpoints,
    }
}

/// A collision's extra session only talks on its own connection until it wins.
pub(super) fn act_extra(slot: &mut Slot, out: Output) {
    match out {
        Output::Send(bytes) => {
            if let Some(conn) = &slot.conn {
                conn.writer.send_control(bytes);
            }
        }
        Output::CloseConnection => slot.conn = None,
        _ => {}
    }
}

/// How many refused prefixes a session's task logs one by one; after that one line says
/// the rest are not logged (a node leaking a full table must not flood the journal).
const REFUSED_LOGGED: usize = 100;

/// The Calico guard's refusals: logged once per prefix for the session (the first
/// [`REFUSED_LOGGED`]), kept in the status while refused: until the node withdraws the
/// prefix or announces it again and it is accepted (the pools changed).
fn track_refused(
    logged: &mut std::collections::HashSet<ipnet::IpNet>,
    (name, address): (&str, std::net::IpAddr),
    s: &mut super::PeerStatus,
    imported: &crate::exchange::Imported,
) {
    if !s.pool_refused.is_empty() {
        let refused: std::collections::HashSet<ipnet::IpNet> =
            imported.pool_refused.iter().map(|(p, _)| *p).collect();
        let accepted = imported.announce.iter().flat_map(|a| a.nlri.iter());
        for n in imported.withdraw.iter().chain(accepted) {
            if !refused.contains(&n.prefix) {
                s.pool_refused.remove(&n.prefix);
            }
        }
    }
    for (prefix, why) in &imported.pool_refused {
        if logged.len() < REFUSED_LOGGED && logged.insert(*prefix) {
            warn!(neighbor = %name, %address, %prefix, reason = why, "Calico guard: route refused");
            if logged.len() == REFUSED_LOGGED {
                warn!(neighbor = %name, %address, "Calico guard: more routes refused than are logged one by one; `bgpctl show nodes` lists them");
            }
        }
        if s.pool_refused.len() < super::REFUSED_KEPT || s.pool_refused.contains_key(prefix) {
            s.pool_refused.insert(*prefix, why);
        }
    }
}
