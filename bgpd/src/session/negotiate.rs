//! OPEN checks and capability negotiation: from our OPEN and the peer's to the session
//! parameters ([`Negotiated`]) and the two codec [`Context`]s.
//!
//! ```text
//! SessionConfig ─► our Open ─┐
//!                            ├─► negotiate() ─► Negotiated { hold, keepalive, families,
//!         peer's Open ───────┘        │          add-path per direction, GR/LLGR, ... ,
//!                                     │          decode: Context, encode: Context }
//!                                     └─► OpenRejected { NOTIFICATION 2/x, why }
//! ```
//!
//! The codec has already refused what it can see alone (version, hold time 1 or 2, BGP
//! identifier 0.0.0.0, malformed parameters); this module checks what needs our
//! configuration (RFC 4271 section 6.2, RFC 5492 section 3, RFC 9234 section 4.2).

use std::net::Ipv4Addr;

use bgp_wire::capability::{code, Capability, GracefulRestart, LlgrFamily};
use bgp_wire::notification::OPEN_MESSAGE_ERROR;
use bgp_wire::{
    encode_to_bytes, Context, Family, FamilySet, Message, Notification, Open, OptionalParameter,
};
use bytes::Bytes;

use super::config::SessionConfig;

/// OPEN Message Error subcodes used here (RFC 4271 section 4.5, RFC 5492, RFC 9234).
mod subcode {
    pub const BAD_PEER_AS: u8 = 2;
    pub const BAD_BGP_ID: u8 = 3;
    pub const UNSUPPORTED_PARAMETER: u8 = 4;
    pub const UNSUPPORTED_CAPABILITY: u8 = 7;
    pub const ROLE_MISMATCH: u8 = 11;
}

/// The peer's graceful restart capability (RFC 4724 section 3, RFC 8538 section 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerGracefulRestart {
    /// How long to keep the peer's routes after its connection drops, in seconds.
    pub restart_time: u16,
    /// Restart State (R): the peer has just restarted.
    pub restarting: bool,
    /// Graceful Notification (N, RFC 8538): the peer supports it.
    pub notification: bool,
    /// Families the peer preserves, with its "forwarding state preserved" bit.
    pub families: Vec<(Family, bool)>,
}

/// What the OPEN exchange settled: what `bgpctl show neighbor` shows and what the daemon
/// uses to read, write, time and route the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// The peer's AS (from the 4-octet AS capability if present, RFC 6793).
    pub peer_as: u32,
    /// The peer's BGP identifier.
    pub peer_id: Ipv4Addr,
    /// Our AS.
    pub local_as: u32,
    /// Our BGP identifier.
    pub local_id: Ipv4Addr,
    /// External session (peer AS differs from ours).
    pub ebgp: bool,
    /// Negotiated hold time in seconds: the smaller of the two; 0 disables hold and
    /// keepalive timers (RFC 4271 section 4.2).
    pub hold_time: u16,
    /// Keepalive interval in seconds, at most a third of the hold time; 0 when hold is 0.
    pub keepalive: u16,
    /// The hold time the peer proposed.
    pub peer_hold_time: u16,
    /// Both sides announced 4-octet AS support (RFC 6793).
    pub four_octet_as: bool,
    /// Families both sides announced; IPv4 unicast when a side announces none (RFC 4760
    /// section 8).
    pub families: Vec<Family>,
    /// Families in which we receive path identifiers (RFC 7911 section 4).
    pub add_path_receive: FamilySet,
    /// Families in which we send path identifiers (RFC 7911 section 4).
    pub add_path_send: FamilySet,
    /// Both sides announced extended messages (RFC 8654).
    pub extended_message: bool,
    /// Both sides announced IPv4 unicast with IPv6 next hops (RFC 8950): our IPv4 routes
    /// may go to this peer with our IPv6 address as next hop.
    pub extended_next_hop: bool,
    /// The peer accepts ROUTE-REFRESH (RFC 2918).
    pub route_refresh: bool,
    /// Both sides announced enhanced route refresh (RFC 7313).
    pub enhanced_route_refresh: bool,
    /// Both sides announced graceful restart (RFC 4724): a close without NOTIFICATION lets
    /// the peer keep our routes, and lets us keep theirs.
    pub graceful_restart: bool,
    /// Both sides set the N bit (RFC 8538): NOTIFICATIONs other than Hard Reset are
    /// graceful too.
    pub graceful_notification: bool,
    /// The peer's graceful restart capability, if announced.
    pub peer_graceful_restart: Option<PeerGracefulRestart>,
    /// The peer's long-lived graceful restart families (RFC 9494), if both announced it.
    pub peer_llgr: Vec<LlgrFamily>,
    /// The peer's host and domain name, if announced.
    pub peer_hostname: Option<(String, String)>,
    /// The peer's BGP role (RFC 9234), if announced.
    pub peer_role: Option<u8>,
    /// Every capability the peer announced, for display.
    pub peer_capabilities: Vec<Capability>,
    /// How to read what the peer sends.
    pub decode: Context,
    /// How to write what we send.
    pub encode: Context,
}

/// The peer's OPEN was refused: the NOTIFICATION to send and why, for logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct OpenRejected {
    /// The OPEN Message Error NOTIFICATION to send.
    pub notification: Notification,
    /// A sentence for logs and `bgpctl show neighbor`.
    pub reason: String,
}

fn reject(subcode: u8, data: Bytes, reason: String) -> OpenRejected {
    OpenRejected {
        notification: Notification::new(OPEN_MESSAGE_ERROR, subcode, data),
        reason,
    }
}

/// Checks the peer's OPEN against the configuration and negotiates the session (RFC 4271
/// section 6.2, RFC 5492, RFC 6793, RFC 7911, RFC 8654, RFC 4724, RFC 9234).
pub fn negotiate(
    config: &SessionConfig,
    local: &Open,
    remote: &Open,
) -> Result<Negotiated, OpenRejected> {
    let peer_as = remote.asn();
    // RFC 4271 section 6.2: Bad Peer AS.
    if !config.remote_as.accepts(peer_as, config.local_as) {
        return Err(reject(
            subcode::BAD_PEER_AS,
            Bytes::new(),
            format!(
                "peer AS {peer_as} is not the configured {:?}",
                config.remote_as
            ),
        ));
    }
    let ebgp = peer_as != config.local_as;
    // RFC 4271 section 6.2 and RFC 6286 section 2.2: on iBGP the identifiers must differ.
    if !ebgp && remote.bgp_id == config.router_id {
        return Err(reject(
            subcode::BAD_BGP_ID,
            Bytes::new(),
            format!("iBGP peer uses our BGP identifier {}", remote.bgp_id),
        ));
    }
    // RFC 4271 section 6.2: an optional parameter we do not know.
    if let Some(kind) = remote.parameters.iter().find_map(|p| match p {
        OptionalParameter::Unknown { kind, .. } => Some(*kind),
        OptionalParameter::Capabilities(_) => None,
    }) {
        return Err(reject(
            subcode::UNSUPPORTED_PARAMETER,
            Bytes::new(),
            format!("unsupported optional parameter type {kind}"),
        ));
    }
    check_required(config, remote)?;
    check_role(config, remote)?;

    let four_octet_as = local.has(code::FOUR_OCTET_AS) && remote.has(code::FOUR_OCTET_AS);
    let remote_families = remote.families();
    let families: Vec<Family> = local
        .families()
        .into_iter()
        .filter(|f| remote_families.contains(f))
        .collect();
    let add_path_receive = Open::add_path_receive(local, remote);
    let add_path_send = Open::add_path_receive(remote, local);
    let extended_message = local.has(code::EXTENDED_MESSAGE) && remote.has(code::EXTENDED_MESSAGE);
    let hold_time = config.hold_time.min(remote.hold_time);
    let keepalive = keepalive_for(hold_time, config.keepalive);
    let peer_graceful_restart = remote.capabilities().find_map(|c| match c {
        Capability::GracefulRestart(gr) => Some(PeerGracefulRestart {
            restart_time: gr.restart_time,
            restarting: gr.flags & GracefulRestart::RESTARTING != 0,
            notification: gr.flags & GracefulRestart::NOTIFICATION != 0,
            families: gr
                .families
                .iter()
                .map(|f| (f.family, f.forwarding_preserved()))
                .collect(),
        }),
        _ => None,
    });
    let graceful_restart = config.graceful_restart.is_some() && peer_graceful_restart.is_some();
    let graceful_notification = graceful_restart
        && config
            .graceful_restart
            .as_ref()
            .is_some_and(|g| g.notification)
        && peer_graceful_restart
            .as_ref()
            .is_some_and(|g| g.notification);
    let peer_llgr = if local.has(code::LONG_LIVED_GRACEFUL_RESTART) {
        remote
            .capabilities()
            .find_map(|c| match c {
                Capability::LongLivedGracefulRestart(f) => Some(f.clone()),
                _ => None,
            })
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let context = Context {
        four_octet_as,
        add_path: FamilySet::EMPTY,
        extended_message,
        ebgp,
    };
    Ok(Negotiated {
        peer_as,
        peer_id: remote.bgp_id,
        local_as: config.local_as,
        local_id: config.router_id,
        ebgp,
        hold_time,
        keepalive,
        peer_hold_time: remote.hold_time,
        four_octet_as,
        families,
        add_path_receive,
        add_path_send,
        extended_message,
        extended_next_hop: ipv4_over_ipv6(local) && ipv4_over_ipv6(remote),
        route_refresh: remote.has(code::ROUTE_REFRESH),
        enhanced_route_refresh: local.has(code::ENHANCED_ROUTE_REFRESH)
            && remote.has(code::ENHANCED_ROUTE_REFRESH),
        graceful_restart,
        graceful_notification,
        peer_graceful_restart,
        peer_llgr,
        peer_hostname: remote.capabilities().find_map(|c| match c {
            Capability::Fqdn { hostname, domain } => Some((hostname.clone(), domain.clone())),
            _ => None,
        }),
        peer_role: peer_role(remote),
        peer_capabilities: remote.capabilities().cloned().collect(),
        decode: Context {
            add_path: add_path_receive,
            ..context
        },
        encode: Context {
            add_path: add_path_send,
            ..context
        },
    })
}

/// The keepalive interval for a negotiated hold time (RFC 4271 section 10: a third of the
/// hold time; 0 when the hold time is 0). A configured interval is kept within 1..=hold/3.
pub fn keepalive_for(hold_time: u16, configured: Option<u16>) -> u16 {
    if hold_time == 0 {
        return 0;
    }
    let max = (hold_time / 3).max(1);
    configured.map_or(max, |k| k.clamp(1, max))
}

fn peer_role(remote: &Open) -> Option<u8> {
    remote.capabilities().find_map(|c| match c {
        Capability::Role(r) => Some(*r),
        _ => None,
    })
}

/// RFC 5492 section 3: a capability we require and the peer lacks gives 2/7 with the
/// capabilities, as we would encode them, in the data.
fn check_required(config: &SessionConfig, remote: &Open) -> Result<(), OpenRejected> {
    let mut missing = Vec::new();
    if config.required.four_octet_as && !remote.has(code::FOUR_OCTET_AS) {
        missing.push(Capability::FourOctetAs(config.local_as));
    }
    let families = remote.families();
    for f in &config.required.families {
        if !families.contains(f) {
            missing.push(Capability::Multiprotocol(*f));
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = missing.iter().map(describe).collect();
    Err(reject(
        subcode::UNSUPPORTED_CAPABILITY,
        encode_capabilities(missing),
        format!("peer lacks required capabilities: {}", names.join(", ")),
    ))
}

/// Whether an OPEN announces IPv4 unicast routes with IPv6 next hops (RFC 8950 section 3).
fn ipv4_over_ipv6(open: &Open) -> bool {
    open.capabilities().any(|c| {
        matches!(c, Capability::ExtendedNextHop(e)
            if e.contains(&(Family::Ipv4Unicast, bgp_wire::AFI_IPV6)))
    })
}

fn describe(c: &Capability) -> String {
    match c {
        Capability::FourOctetAs(_) => "4-octet AS".to_owned(),
        Capability::Multiprotocol(f) => format!("multiprotocol {f}"),
        other => format!("capability {}", other.code()),
    }
}

/// Capabilities in their wire form (code, length, value), for a NOTIFICATION's data.
///
/// `bgp-wire` keeps `Capability::encode` private, so this encodes an OPEN holding only these
/// capabilities and cuts them out: header (19), fixed OPEN fields (10), parameter type and
/// length (2).
pub fn encode_capabilities(caps: Vec<Capability>) -> Bytes {
    const CAPS_AT: usize = 19 + 10 + 2;
    let open = Open::new(0, 0, Ipv4Addr::new(0, 0, 0, 1), caps);
    match encode_to_bytes(&Message::Open(open), &Context::BASIC) {
        Ok(bytes) if bytes.len() >= CAPS_AT && bytes[28] != 255 => bytes.slice(CAPS_AT..),
        _ => Bytes::new(),
    }
}

/// RFC 9234 section 4.2: the allowed role pairs, and strict mode.
fn check_role(config: &SessionConfig, remote: &Open) -> Result<(), OpenRejected> {
    let Some(ours) = config.role else {
        return Ok(());
    };
    let ok = match peer_role(remote) {
        None => !ours.strict,
        // provider-customer, route server-client, peer-peer.
        Some(theirs) => matches!(
            (ours.role, theirs),
            (0, 3) | (3, 0) | (1, 2) | (2, 1) | (4, 4)
        ),
    };
    if ok {
        Ok(())
    } else {
        Err(reject(
            subcode::ROLE_MISMATCH,
            Bytes::new(),
            format!(
                "role mismatch: ours {}, peer's {:?}",
                ours.role,
                peer_role(remote)
            ),
        ))
    }
}
