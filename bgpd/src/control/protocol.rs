//! The control protocol between `bgpctl` and the daemon: JSON lines over a Unix socket.
//!
//! Each request is one line, each response one line, in an envelope carrying the protocol
//! version:
//!
//! ```text
//! -> {"version":1,"request":{"command":"show_rib","prefix":"10.0.0.0/8","longer":true}}
//! <- {"version":1,"response":{"type":"rib","data":[{"prefix":"10.1.0.0/16", ...}]}}
//! ```
//!
//! Requests are tagged by `command`, responses by `type` with the payload under `data` (the
//! payload is what `bgpctl --json` prints). Optional request fields may be left out. Keys are
//! stable: new fields may be added, existing ones keep their name and meaning; an
//! incompatible change bumps [`PROTOCOL_VERSION`], and a peer speaking another version gets
//! an [`Response::Error`] saying so.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// Longest request or response line accepted, in bytes (without the newline).
pub const MAX_LINE: usize = 64 * 1024;

/// Longest response line a client accepts: RIB dumps are large.
pub const MAX_RESPONSE_LINE: usize = 256 * 1024 * 1024;

/// What `bgpctl` asks the daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Request {
    /// `bgpctl show summary`: one [`NeighborSummary`] per neighbor.
    ShowSummary,
    /// `bgpctl show neighbor [X]`: details of one neighbor (by name or address) or all.
    ShowNeighbor {
        /// Name or address; `None` for all.
        #[serde(default)]
        neighbor: Option<String>,
    },
    /// `bgpctl show rib [PREFIX] [--longer] [--neighbor X] [--in|--out]`.
    ShowRib {
        /// Exact prefix, or with `longer` the prefix and everything more specific.
        #[serde(default)]
        prefix: Option<IpNet>,
        /// Include more-specific prefixes of `prefix`.
        #[serde(default)]
        longer: bool,
        /// Only paths from (Loc-RIB, Adj-RIB-In) or to (Adj-RIB-Out) this neighbor.
        #[serde(default)]
        neighbor: Option<String>,
        /// Which table.
        #[serde(default)]
        view: RibView,
    },
    /// `bgpctl show bfd`: one [`BfdSession`] per neighbor with `bfd`.
    ShowBfd,
    /// `bgpctl show nodes`: one [`super::calico::NodeRow`] per Calico node session.
    ShowNodes,
    /// `bgpctl show calico conflicts`: blocks announced by more than one node.
    ShowCalicoConflicts,
    /// `bgpctl dump rib FILE [--neighbor X]`: write the Loc-RIB (or one neighbor's
    /// Adj-RIB-In) as an MRT TABLE_DUMP_V2 file (RFC 6396); answered with [`Response::Done`].
    DumpRib {
        /// Where the daemon writes the dump: an absolute path (replaced atomically).
        file: String,
        /// Only this neighbor's paths (name or address).
        #[serde(default)]
        neighbor: Option<String>,
    },
    /// `bgpctl neighbor X down`: administrative shutdown (Cease, RFC 8203 message).
    NeighborDown {
        /// Name or address.
        neighbor: String,
        /// Shutdown communication sent to the peer (RFC 8203).
        #[serde(default)]
        message: Option<String>,
    },
    /// `bgpctl neighbor X up`: start a neighbor that was taken down.
    NeighborUp {
        /// Name or address.
        neighbor: String,
    },
    /// `bgpctl neighbor X clear`: reset the session (Cease / Administrative Reset).
    NeighborClear {
        /// Name or address.
        neighbor: String,
    },
    /// `bgpctl neighbor X refresh`: soft refresh, inbound (ROUTE-REFRESH) and outbound.
    NeighborRefresh {
        /// Name or address.
        neighbor: String,
    },
    /// `bgpctl reload [--dry-run]`: re-read the configuration, like SIGHUP.
    Reload {
        /// Only report what would change; apply nothing.
        #[serde(default)]
        dry_run: bool,
    },
    /// `bgpctl drain` / `bgpctl neighbor X drain` (RFC 8326): advertise our routes with
    /// GRACEFUL_SHUTDOWN (and LOCAL_PREF 0 on iBGP); `undo` stops draining. Answered at
    /// once with [`Response::Done`]; [`Request::DrainStatus`] says when it is delivered.
    Drain {
        /// Name or address; `None` for every session, present and future.
        #[serde(default)]
        neighbor: Option<String>,
        /// Stop draining instead.
        #[serde(default)]
        undo: bool,
    },
    /// Which drained sessions have been handed their drained routes: [`Response::Drain`].
    DrainStatus {
        /// Name or address; `None` for every session.
        #[serde(default)]
        neighbor: Option<String>,
    },
    /// `bgpctl shutdown`: Cease to every peer, then exit.
    Shutdown {
        /// Shutdown communication sent to every peer (RFC 8203).
        #[serde(default)]
        message: Option<String>,
    },
}

/// Which routing table `show rib` reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RibView {
    /// The Loc-RIB: every path the daemon holds after import policy, best marked.
    #[default]
    LocRib,
    /// A neighbor's routes as import policy accepted them (`--in`; no copy from before
    /// import policy is kept).
    AdjIn,
    /// A neighbor's Adj-RIB-Out: what we advertised to it (`--out`).
    AdjOut,
}

/// The daemon's answer to one [`Request`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum Response {
    /// Answer to [`Request::ShowSummary`].
    Summary(Vec<NeighborSummary>),
    /// Answer to [`Request::ShowNeighbor`].
    Neighbors(Vec<NeighborDetail>),
    /// Answer to [`Request::ShowRib`].
    Rib(Vec<RibEntry>),
    /// Answer to [`Request::ShowBfd`].
    Bfd(Vec<BfdSession>),
    /// Answer to [`Request::ShowNodes`].
    Nodes(Vec<super::calico::NodeRow>),
    /// Answer to [`Request::ShowCalicoConflicts`].
    CalicoConflicts(Vec<super::calico::CalicoConflict>),
    /// Answer to [`Request::DrainStatus`]: sessions by `name address`.
    Drain {
        /// Established and drained, the drained routes written to them.
        delivered: Vec<String>,
        /// Established, not yet drained or not yet written.
        waiting: Vec<String>,
    },
    /// A command was carried out.
    Done {
        /// What was done, for humans.
        message: String,
    },
    /// Answer to [`Request::Reload`].
    ReloadResult {
        /// Whether the new configuration is now running (false for a dry run or errors).
        applied: bool,
        /// What changed or would change, and which sessions reset, for humans.
        diff: String,
        /// Validation errors (`FILE:LINE:COLUMN: message`); the running config is kept.
        errors: Vec<String>,
    },
    /// The request failed; nothing was done.
    Error {
        /// Why, for humans.
        message: String,
    },
}

impl Response {
    /// An error response.
    pub fn error(message: impl Into<String>) -> Self {
        Response::Error {
            message: message.into(),
        }
    }

    /// A done response.
    pub fn done(message: impl Into<String>) -> Self {
        Response::Done {
            message: message.into(),
        }
    }
}

/// One BFD session (RFC 5880) in `bgpctl show bfd`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BfdSession {
    /// The neighbor's name.
    pub neighbor: String,
    /// The neighbor's address.
    pub address: IpAddr,
    /// Our address, when configured.
    pub local_address: Option<IpAddr>,
    /// The neighbor speaks multi-hop BFD (RFC 5883, port 4784) to us, and we answer in kind.
    #[serde(default)]
    pub multihop: bool,
    /// `up`, `down`, `init` or `admin-down`.
    pub state: String,
    /// What the neighbor last said its state was.
    pub remote_state: String,
    /// Our discriminator.
    pub local_discriminator: u32,
    /// The neighbor's discriminator; 0 until it is heard.
    pub remote_discriminator: u32,
    /// Why our session last went down (`none` if it never did).
    pub diagnostic: String,
    /// The neighbor's last diagnostic.
    pub remote_diagnostic: String,
    /// The interval between our packets now (before jitter), in ms.
    pub tx_interval_ms: u64,
    /// The receive interval we ask for, in ms.
    pub rx_interval_ms: u64,
    /// Our detect multiplier.
    pub multiplier: u8,
    /// The neighbor's detect multiplier (0 until heard).
    pub remote_multiplier: u8,
    /// Silence for this long takes the session down, in ms (0 until the neighbor is heard).
    pub detect_time_ms: u64,
    /// Seconds since the session came up; `None` when it is not up.
    pub uptime_secs: Option<u64>,
    /// Times the session went down from up.
    pub flaps: u64,
    /// Packets received and accepted.
    pub packets_in: u64,
    /// Packets sent.
    pub packets_out: u64,
}

/// Session state (RFC 4271 section 8.2.2). In JSON: lower-case names (`"established"`); in
/// Prometheus `bgp_session_state`: [`SessionState::number`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionState {
    /// Idle.
    Idle,
    /// Connect.
    Connect,
    /// Active.
    Active,
    /// OpenSent.
    OpenSent,
    /// OpenConfirm.
    OpenConfirm,
    /// Established.
    Established,
}

impl SessionState {
    /// Every state, in RFC order.
    pub const ALL: [SessionState; 6] = [
        SessionState::Idle,
        SessionState::Connect,
        SessionState::Active,
        SessionState::OpenSent,
        SessionState::OpenConfirm,
        SessionState::Established,
    ];

    /// The BGP4-MIB `bgpPeerState` number (RFC 4273): idle(1) .. established(6).
    pub fn number(self) -> u8 {
        match self {
            SessionState::Idle => 1,
            SessionState::Connect => 2,
            SessionState::Active => 3,
            SessionState::OpenSent => 4,
            SessionState::OpenConfirm => 5,
            SessionState::Established => 6,
        }
    }

    /// The RFC 4271 name, for human output (`OpenSent`).
    pub fn rfc_name(self) -> &'static str {
        match self {
            SessionState::Idle => "Idle",
            SessionState::Connect => "Connect",
            SessionState::Active => "Active",
            SessionState::OpenSent => "OpenSent",
            SessionState::OpenConfirm => "OpenConfirm",
            SessionState::Established => "Established",
        }
    }
}

impl fmt::Display for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.rfc_name())
    }
}

impl From<crate::session::State> for SessionState {
    fn from(state: crate::session::State) -> Self {
        use crate::session::State;
        match state {
            State::Idle => SessionState::Idle,
            State::Connect => SessionState::Connect,
            State::Active => SessionState::Active,
            State::OpenSent => SessionState::OpenSent,
            State::OpenConfirm => SessionState::OpenConfirm,
            State::Established => SessionState::Established,
        }
    }
}

/// One line of `bgpctl show summary`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighborSummary {
    /// Configured name; for a dynamic session, the group's name and the peer's address.
    pub name: String,
    /// The peer's address (for dynamic sessions, the address it connected from).
    pub address: String,
    /// The peer's AS number.
    pub remote_as: u32,
    /// Session state.
    pub state: SessionState,
    /// Seconds since the session became Established; `None` while it is not.
    pub uptime_seconds: Option<u64>,
    /// Routes announced in UPDATEs since the session came up, before import policy (a
    /// route sent again, e.g. after a route refresh, counts again).
    pub prefixes_received: u64,
    /// Prefixes accepted by import policy.
    pub prefixes_accepted: u64,
    /// Prefixes advertised to the peer.
    pub prefixes_advertised: u64,
    /// For a session accepted through a `range` neighbor, that group's name.
    pub dynamic_group: Option<String>,
    /// The same counts per address family: each family the neighbor is configured for,
    /// and any other it has routes in. Empty (and left out) in `show neighbor`, which has
    /// them as `family_counts` beside its list of negotiated `families`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub families: Vec<FamilyCounts>,
}

/// One address family's prefix counts of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FamilyCounts {
    /// `ipv4-unicast` or `ipv6-unicast`.
    pub family: String,
    /// As [`NeighborSummary::prefixes_received`], for this family.
    pub received: u64,
    /// Accepted by import policy.
    pub accepted: u64,
    /// Advertised to the peer.
    pub advertised: u64,
}

/// Outbound prefix limit state (`max_prefixes_out`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutLimit {
    /// Configured limit.
    pub limit: u64,
    /// Prefixes advertised now (never above `limit`).
    pub advertised: u64,
    /// Prefixes export policy accepted but the limit held back.
    pub suppressed: u64,
}

/// One neighbor in `bgpctl show neighbor`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighborDetail {
    /// The summary fields, at the top level of the JSON object.
    #[serde(flatten)]
    pub summary: NeighborSummary,
    /// Configured description.
    pub description: Option<String>,
    /// Our address on the session, while connected.
    pub local_address: Option<String>,
    /// The peer's BGP identifier from its OPEN.
    pub router_id: Option<Ipv4Addr>,
    /// Hold time in seconds: negotiated while Established, configured otherwise.
    pub hold_time: u16,
    /// Keepalive interval in seconds: negotiated while Established, configured otherwise.
    pub keepalive: u16,
    /// Negotiated capabilities, e.g. `4-octet-as`, `route-refresh`,
    /// `graceful-restart(120s)`, `add-path ipv4-unicast send/receive`, `extended-message`.
    pub capabilities: Vec<String>,
    /// Negotiated address families (`ipv4-unicast`, `ipv6-unicast`).
    pub families: Vec<String>,
    /// The prefix counts per family (what `show summary` has as `families`).
    #[serde(default)]
    pub family_counts: Vec<FamilyCounts>,
    /// Messages received by type (`open`, `update`, `notification`, `keepalive`,
    /// `route_refresh`).
    pub messages_in: BTreeMap<String, u64>,
    /// Messages sent by type.
    pub messages_out: BTreeMap<String, u64>,
    /// Times the session left Established.
    pub flaps: u64,
    /// Why the session last went down.
    pub last_error: Option<String>,
    /// Outbound prefix limit, when configured.
    pub max_prefixes_out: Option<OutLimit>,
}

/// One path in `bgpctl show rib`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RibEntry {
    /// The prefix.
    pub prefix: IpNet,
    /// ADD-PATH path identifier (RFC 7911); 0 without ADD-PATH.
    pub path_id: u32,
    /// Selected as best path.
    pub best: bool,
    /// Part of the multipath set.
    pub multipath: bool,
    /// Neighbor the path came from (or was sent to, for Adj-RIB-Out), `local` if originated.
    pub neighbor: String,
    /// The address of the session it came from (a dynamic neighbor's sessions share a
    /// name); `None` for local routes and the Adj-RIB-Out.
    #[serde(default)]
    pub neighbor_address: Option<IpAddr>,
    /// NEXT_HOP (or MP_REACH next hop); `None` for local routes without one.
    pub next_hop: Option<IpAddr>,
    /// The link-local address sent beside an IPv6 global next hop (RFC 2545).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_hop_link_local: Option<std::net::Ipv6Addr>,
    /// AS_PATH as text (`64512 {65001 65002}`), empty for an empty path.
    pub as_path: String,
    /// ORIGIN: `igp`, `egp` or `incomplete`.
    pub origin: String,
    /// LOCAL_PREF.
    pub local_pref: Option<u32>,
    /// MULTI_EXIT_DISC.
    pub med: Option<u32>,
    /// COMMUNITIES as `ASN:VALUE` or well-known names.
    pub communities: Vec<String>,
    /// LARGE_COMMUNITIES as `A:B:C`.
    pub large_communities: Vec<String>,
    /// ORIGINATOR_ID (RFC 4456).
    pub originator_id: Option<Ipv4Addr>,
    /// CLUSTER_LIST (RFC 4456).
    pub cluster_list: Vec<Ipv4Addr>,
    /// Kept through a graceful restart, not yet refreshed (RFC 4724).
    pub stale: bool,
    /// For a path that is not best: the decision step it lost at.
    pub reason: Option<String>,
}

/// A request line as sent: `{"version":1,"request":{...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestEnvelope {
    /// Protocol version of the sender.
    pub version: u32,
    /// The request.
    pub request: Request,
}

/// A response line as sent: `{"version":1,"response":{...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseEnvelope {
    /// Protocol version of the sender.
    pub version: u32,
    /// The response.
    pub response: Response,
}

/// Why a line could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// Not JSON, or not the expected shape.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// The envelope carries a version this build does not speak.
    #[error("unsupported protocol version {got} (this side speaks {PROTOCOL_VERSION}); bgpctl and bgpd differ in version")]
    UnsupportedVersion {
        /// The version in the message.
        got: u64,
    },
    /// Longer than the limit.
    #[error("message longer than {limit} bytes")]
    TooLong {
        /// The limit.
        limit: usize,
    },
}

/// Checks the `version` key before decoding the rest, so that a newer peer gets a version
/// error rather than a shape error.
fn check_version(line: &str) -> Result<serde_json::Value, ProtocolError> {
    let value: serde_json::Value =
        serde_json::from_str(line).map_err(|e| ProtocolError::Malformed(e.to_string()))?;
    match value.get("version").and_then(serde_json::Value::as_u64) {
        Some(v) if v == u64::from(PROTOCOL_VERSION) => Ok(value),
        Some(got) => Err(ProtocolError::UnsupportedVersion { got }),
        None => Err(ProtocolError::Malformed(
            "missing or non-numeric \"version\"".to_string(),
        )),
    }
}

/// Decodes one request line (without its newline).
pub fn decode_request(line: &str) -> Result<Request, ProtocolError> {
    let value = check_version(line)?;
    let envelope: RequestEnvelope =
        serde_json::from_value(value).map_err(|e| ProtocolError::Malformed(e.to_string()))?;
    Ok(envelope.request)
}

/// Decodes one response line (without its newline).
pub fn decode_response(line: &str) -> Result<Response, ProtocolError> {
    let value = check_version(line)?;
    let envelope: ResponseEnvelope =
        serde_json::from_value(value).map_err(|e| ProtocolError::Malformed(e.to_string()))?;
    Ok(envelope.response)
}

/// Encodes a request as one line, newline included.
pub fn encode_request(request: &Request) -> Result<String, ProtocolError> {
    encode_line(&RequestEnvelope {
        version: PROTOCOL_VERSION,
        request: request.clone(),
    })
}

/// Encodes a response as one line, newline included.
pub fn encode_response(response: &Response) -> Result<String, ProtocolError> {
    encode_line(&ResponseEnvelope {
        version: PROTOCOL_VERSION,
        response: response.clone(),
    })
}

fn encode_line<T: Serialize>(value: &T) -> Result<String, ProtocolError> {
    let mut line =
        serde_json::to_string(value).map_err(|e| ProtocolError::Malformed(e.to_string()))?;
    line.push('\n');
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_wire_form_is_stable() {
        let line = encode_request(&Request::ShowRib {
            prefix: Some("10.0.0.0/8".parse().unwrap()),
            longer: true,
            neighbor: None,
            view: RibView::AdjIn,
        })
        .unwrap();
        assert_eq!(
            line,
            "{\"version\":1,\"request\":{\"command\":\"show_rib\",\"prefix\":\"10.0.0.0/8\",\
             \"longer\":true,\"neighbor\":null,\"view\":\"adj_in\"}}\n"
        );
        assert_eq!(
            decode_request(r#"{"version":1,"request":{"command":"show_rib"}}"#).unwrap(),
            Request::ShowRib {
                prefix: None,
                longer: false,
                neighbor: None,
                view: RibView::LocRib
            }
        );
    }

    #[test]
    fn dump_rib_wire_form() {
        let line = encode_request(&Request::DumpRib {
            file: "/tmp/rib.mrt".to_owned(),
            neighbor: Some("vbr".to_owned()),
        })
        .unwrap();
        assert_eq!(
            line,
            "{\"version\":1,\"request\":{\"command\":\"dump_rib\",\"file\":\"/tmp/rib.mrt\",\
             \"neighbor\":\"vbr\"}}\n"
        );
        assert_eq!(
            decode_request(r#"{"version":1,"request":{"command":"dump_rib","file":"/x"}}"#)
                .unwrap(),
            Request::DumpRib {
                file: "/x".to_owned(),
                neighbor: None
            }
        );
    }

    #[test]
    fn response_round_trips_and_is_adjacently_tagged() {
        let r = Response::done("ok");
        let line = encode_response(&r).unwrap();
        assert_eq!(
            line,
            "{\"version\":1,\"response\":{\"type\":\"done\",\"data\":{\"message\":\"ok\"}}}\n"
        );
        assert_eq!(decode_response(line.trim_end()).unwrap(), r);
    }

    #[test]
    fn version_mismatch_is_reported_before_shape() {
        let err = decode_request(r#"{"version":2,"request":{"command":"warp"}}"#).unwrap_err();
        assert!(matches!(err, ProtocolError::UnsupportedVersion { got: 2 }));
        let err = decode_request(r#"{"request":{"command":"show_summary"}}"#).unwrap_err();
        assert!(matches!(err, ProtocolError::Malformed(_)));
        let err = decode_request("not json").unwrap_err();
        assert!(matches!(err, ProtocolError::Malformed(_)));
    }

    #[test]
    fn state_numbers_follow_the_mib() {
        let numbers: Vec<u8> = SessionState::ALL.iter().map(|s| s.number()).collect();
        assert_eq!(numbers, [1, 2, 3, 4, 5, 6]);
        assert_eq!(
            serde_json::to_string(&SessionState::OpenConfirm).unwrap(),
            "\"openconfirm\""
        );
    }
}
