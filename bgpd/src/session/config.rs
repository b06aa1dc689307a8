//! What one session is configured to offer and expect, and the OPEN built from it.
//!
//! The daemon turns a `config::Neighbor` into a [`SessionConfig`]; the FSM builds its OPEN
//! (RFC 4271 section 4.2, capabilities per RFC 5492) once, at construction, with
//! [`SessionConfig::build_open`], and checks the peer's OPEN against the expectations here
//! (see `negotiate.rs`).

use std::net::Ipv4Addr;
use std::time::Duration;

use bgp_wire::capability::{
    AddPathMode, Capability, GracefulRestart, GracefulRestartFamily, LlgrFamily,
};
use bgp_wire::{Family, Open};

/// Which AS the peer may announce in its OPEN (RFC 4271 section 6.2, Bad Peer AS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerAs {
    /// Exactly this AS.
    Fixed(u32),
    /// Any AS: a dynamic range neighbor accepts whichever AS the peer brings.
    Any,
    /// Any AS other than ours (an eBGP-only range).
    External,
}

impl PeerAs {
    /// Whether `asn` is acceptable.
    pub fn accepts(&self, asn: u32, local_as: u32) -> bool {
        match self {
            PeerAs::Fixed(expected) => *expected == asn,
            PeerAs::Any => true,
            PeerAs::External => asn != local_as,
        }
    }
}

/// Our graceful restart capability (RFC 4724 section 3, RFC 8538 section 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GracefulRestartConfig {
    /// Restart time in seconds (at most 4095): how long the peer keeps our routes.
    pub restart_time: u16,
    /// The Restart State (R) bit: set in the first OPEN after our own restart.
    pub restarting: bool,
    /// The Graceful Notification (N) bit (RFC 8538).
    pub notification: bool,
    /// Families whose routes the peer should keep, with "forwarding state preserved".
    pub families: Vec<(Family, bool)>,
}

/// Our BGP role (RFC 9234 section 4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleConfig {
    /// 0 provider, 1 route server, 2 route server client, 3 customer, 4 peer.
    pub role: u8,
    /// Strict mode: a peer that does not announce a role is refused (RFC 9234 section 4.2).
    pub strict: bool,
}

/// Capabilities the peer must announce, or the OPEN is refused with
/// 2/7 Unsupported Capability (RFC 5492 section 3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Required {
    /// The peer must announce 4-octet AS support (RFC 6793).
    pub four_octet_as: bool,
    /// The peer must announce each of these families (RFC 4760).
    pub families: Vec<Family>,
}

/// An exponential backoff: `initial`, doubling per consecutive failure, up to `max`, each
/// delay multiplied by a jitter factor in [0.75, 1] (RFC 4271 section 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first delay.
    pub initial: Duration,
    /// The largest delay.
    pub max: Duration,
}

impl Backoff {
    /// The delay after `failures` consecutive failures, before jitter.
    pub fn delay(&self, failures: u32) -> Duration {
        let factor = 1u32 << failures.min(16);
        self.initial.saturating_mul(factor).min(self.max)
    }
}

/// Everything one session needs to know. Build with [`SessionConfig::new`] and adjust the
/// public fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Our AS (4-octet; AS_TRANS goes into the 2-octet field when needed, RFC 6793).
    pub local_as: u32,
    /// Our BGP identifier.
    pub router_id: Ipv4Addr,
    /// The AS the peer must announce.
    pub remote_as: PeerAs,
    /// Never connect, only accept (the RFC's PassiveTcpEstablishment, section 8.1.1).
    pub passive: bool,
    /// Proposed hold time in seconds: 0 or at least 3 (RFC 4271 section 4.2).
    pub hold_time: u16,
    /// Keepalive interval in seconds; default and upper bound: a third of the negotiated
    /// hold time (RFC 4271 section 10).
    pub keepalive: Option<u16>,
    /// Hold time while waiting for the peer's OPEN (RFC 4271 section 8.2.2: "4 minutes is
    /// suggested").
    pub open_hold_time: Duration,
    /// Families offered with the multiprotocol capability (RFC 4760 section 8).
    pub families: Vec<Family>,
    /// Offer route refresh (RFC 2918).
    pub route_refresh: bool,
    /// Offer enhanced route refresh (RFC 7313).
    pub enhanced_route_refresh: bool,
    /// Offer 4-octet AS numbers (RFC 6793).
    pub four_octet_as: bool,
    /// ADD-PATH modes per family (RFC 7911).
    pub add_path: Vec<(Family, AddPathMode)>,
    /// Offer extended messages (RFC 8654).
    pub extended_message: bool,
    /// Offer IPv4 unicast routes with IPv6 next hops (RFC 8950), when IPv4 unicast is
    /// among `families`: set for sessions over IPv6.
    pub extended_next_hop: bool,
    /// Offer graceful restart (RFC 4724).
    pub graceful_restart: Option<GracefulRestartConfig>,
    /// Offer long-lived graceful restart for these families (RFC 9494).
    pub llgr: Vec<LlgrFamily>,
    /// Announce host and domain name (draft-walton-bgp-hostname-capability).
    pub hostname: Option<(String, String)>,
    /// Announce a BGP role (RFC 9234).
    pub role: Option<RoleConfig>,
    /// Capabilities the peer must have.
    pub required: Required,
    /// Connect retry delays (RFC 4271 ConnectRetryTimer), grown per failed attempt.
    pub connect_retry: Backoff,
    /// Idle hold delays after an error (RFC 4271 section 8.1.1 IdleHoldTimer, peer
    /// oscillation damping), grown per consecutive failure.
    pub idle_hold: Backoff,
    /// Idle hold after a Cease we sent on our own (max-prefix, RFC 4486) or received: at
    /// least this long before trying again.
    pub idle_hold_after_cease: Duration,
    /// Seed of the jitter generator: give each peer a different one.
    pub jitter_seed: u64,
}

impl SessionConfig {
    /// Defaults: active, hold time 90 s, IPv4 unicast, route refresh, enhanced route
    /// refresh and 4-octet AS, connect retry 5 s doubling to 120 s, idle hold 1 s doubling to
    /// 120 s, 60 s after a Cease.
    pub fn new(local_as: u32, router_id: Ipv4Addr, remote_as: PeerAs) -> Self {
        Self {
            local_as,
            router_id,
            remote_as,
            passive: false,
            hold_time: 90,
            keepalive: None,
            open_hold_time: Duration::from_secs(240),
            families: vec![Family::Ipv4Unicast],
            route_refresh: true,
            enhanced_route_refresh: true,
            four_octet_as: true,
            add_path: Vec::new(),
            extended_message: false,
            extended_next_hop: false,
            graceful_restart: None,
            llgr: Vec::new(),
            hostname: None,
            role: None,
            required: Required::default(),
            connect_retry: Backoff {
                initial: Duration::from_secs(5),
                max: Duration::from_secs(120),
            },
            idle_hold: Backoff {
                initial: Duration::from_secs(1),
                max: Duration::from_secs(120),
            },
            idle_hold_after_cease: Duration::from_secs(60),
            jitter_seed: 0,
        }
    }

    /// The capabilities we announce, in a stable order.
    pub fn capabilities(&self) -> Vec<Capability> {
        let mut caps: Vec<Capability> = self
            .families
            .iter()
            .map(|f| Capability::Multiprotocol(*f))
            .collect();
        if self.route_refresh {
            caps.push(Capability::RouteRefresh);
        }
        if self.enhanced_route_refresh {
            caps.push(Capability::EnhancedRouteRefresh);
        }
        if self.four_octet_as {
            caps.push(Capability::FourOctetAs(self.local_as));
        }
        if !self.add_path.is_empty() {
            caps.push(Capability::AddPath(self.add_path.clone()));
        }
        if self.extended_message {
            caps.push(Capability::ExtendedMessage);
        }
        if self.extended_next_hop && self.families.contains(&Family::Ipv4Unicast) {
            caps.push(Capability::ExtendedNextHop(vec![(
                Family::Ipv4Unicast,
                bgp_wire::AFI_IPV6,
            )]));
        }
        if let Some(gr) = &self.graceful_restart {
            let mut flags = 0;
            if gr.restarting {
                flags |= GracefulRestart::RESTARTING;
            }
            if gr.notification {
                flags |= GracefulRestart::NOTIFICATION;
            }
            caps.push(Capability::GracefulRestart(GracefulRestart {
                flags,
                restart_time: gr.restart_time,
                families: gr
                    .families
                    .iter()
                    .map(|(family, fwd)| GracefulRestartFamily {
                        family: *family,
                        flags: if *fwd { 0x80 } else { 0 },
                    })
                    .collect(),
            }));
        }
        if !self.llgr.is_empty() {
            caps.push(Capability::LongLivedGracefulRestart(self.llgr.clone()));
        }
        if let Some((hostname, domain)) = &self.hostname {
            caps.push(Capability::Fqdn {
                hostname: hostname.clone(),
                domain: domain.clone(),
            });
        }
        if let Some(role) = self.role {
            caps.push(Capability::Role(role.role));
        }
        caps
    }

    /// Our OPEN (RFC 4271 section 4.2): `my_as` is AS_TRANS when our AS needs four octets.
    pub fn build_open(&self) -> Open {
        Open::new(
            self.local_as,
            self.hold_time,
            self.router_id,
            self.capabilities(),
        )
    }
}
