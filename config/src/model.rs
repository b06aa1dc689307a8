//! The second layer: the validated configuration the daemon runs on.
//!
//! Every value is in range and every default is filled in; cross-references (policy names,
//! neighbor names in policies) resolve. The types carry no spans and compare by value, which is
//! what [`crate::diff`] needs.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

use crate::policy::Policy;
use crate::types::{
    AddPathMode, AddressFamily, Asn, GtsmHops, HoldTime, RestartTime, RouterId, Secret, StaleTime,
};

/// A complete, valid configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `[global]`.
    pub global: Global,
    /// `[control]`.
    pub control: Control,
    /// `[metrics]`; `None` when `enabled = false`.
    pub metrics: Option<Metrics>,
    /// `[kernel]`; `None` when the section is absent or `enabled = false`: no FIB programming.
    pub kernel: Option<Kernel>,
    /// `[[originate]]`, in file order.
    pub originate: Vec<Originate>,
    /// `[[bmp]]`: the BMP collectors to stream to, in file order; addresses are unique.
    pub bmp: Vec<Bmp>,
    /// `[[neighbor]]`, in file order; names and addresses are unique, ranges do not overlap.
    pub neighbors: Vec<Neighbor>,
    /// `[policy.NAME]`, by name.
    pub policies: BTreeMap<String, Policy>,
}

impl Config {
    /// The neighbor called `name`.
    pub fn neighbor(&self, name: &str) -> Option<&Neighbor> {
        self.neighbors.iter().find(|n| n.name == name)
    }

    /// The policy called `name`.
    pub fn policy(&self, name: &str) -> Option<&Policy> {
        self.policies.get(name)
    }

    /// Which configured neighbor an incoming connection from `addr` belongs to: a fixed
    /// neighbor with that address, else the dynamic range containing it (ranges never overlap
    /// and never contain a fixed neighbor's address, so the answer is unique).
    pub fn neighbor_for_address(&self, addr: IpAddr) -> Option<&Neighbor> {
        self.neighbors
            .iter()
            .find(|n| n.peer == Peer::Address(addr))
            .or_else(|| self.neighbors.iter().find(|n| n.peer.contains(addr)))
    }
}

/// `[global]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Global {
    /// Our AS number.
    pub asn: Asn,
    /// Our BGP identifier.
    pub router_id: RouterId,
    /// Where to accept BGP connections; default `0.0.0.0:179` and `[::]:179`. May be empty
    /// (never accept, only connect).
    pub listen: Vec<SocketAddr>,
    /// Route reflector cluster ID (RFC 4456); defaults to the router ID.
    pub cluster_id: RouterId,
    /// Where the daemon keeps what must survive a restart (the peers it will wait for);
    /// default `/var/lib/bgpd`.
    pub state_dir: PathBuf,
    /// After a restart, the longest wait for the expected peers' End-of-RIB before routes
    /// are selected and sent anyway (RFC 4724 section 4.1's Selection_Deferral_Timer), in
    /// seconds; default 15.
    pub selection_deferral: u16,
}

/// `[control]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Control {
    /// The Unix socket `bgpctl` talks to; default `/run/bgpd/bgpd.sock`.
    pub socket: PathBuf,
}

/// `[metrics]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metrics {
    /// Where `GET /metrics` is served; default `127.0.0.1:9179`.
    pub listen: SocketAddr,
}

/// One `[[bmp]]`: a BMP collector (RFC 7854) bgpd connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bmp {
    /// The collector's `ADDRESS:PORT` (port 1790 when left out, pmacct's default).
    pub address: SocketAddr,
    /// Seconds between Statistics Reports; `None` sends none. Default 60.
    pub statistics_interval: Option<u16>,
    /// Also stream what is sent to each peer (RFC 8671 Adj-RIB-Out, post-policy).
    pub adj_rib_out: bool,
}

/// `[kernel]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kernel {
    /// Linux routing table to install selected routes into; default 254 (main).
    pub table: u32,
    /// Policy choosing the routes to install; `None`: every selected route not from us.
    pub export: Option<String>,
}

/// One `[[originate]]`: a prefix this router advertises itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Originate {
    /// The prefix (host bits are never set).
    pub prefix: IpNet,
    /// Advertise only while a more specific route inside `prefix` is in the Loc-RIB.
    pub require_more_specific: bool,
}

/// Where a neighbor is: one address, or a range of addresses accepted dynamically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Peer {
    /// A fixed neighbor (`address = ...`).
    Address(IpAddr),
    /// A dynamic group (`range = ...`): any peer connecting from inside; always passive.
    Range(IpNet),
}

impl Peer {
    /// Whether `addr` is this peer (or inside its range).
    pub fn contains(&self, addr: IpAddr) -> bool {
        match self {
            Peer::Address(a) => *a == addr,
            Peer::Range(net) => net.contains(&addr),
        }
    }

    /// True for an IPv4 address or range.
    pub fn is_ipv4(&self) -> bool {
        match self {
            Peer::Address(a) => a.is_ipv4(),
            Peer::Range(net) => matches!(net, IpNet::V4(_)),
        }
    }
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Address(a) => a.fmt(f),
            Peer::Range(n) => n.fmt(f),
        }
    }
}

/// A prefix limit with its warning level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixLimit {
    /// The limit.
    pub limit: u32,
    /// Warn (log, metric) at this percentage of the limit, 1..=100; default 90.
    pub warning_percent: u8,
}

impl PrefixLimit {
    /// The route count at which to warn: `ceil(limit * warning_percent / 100)`.
    pub fn warning_threshold(&self) -> u32 {
        let scaled = u64::from(self.limit) * u64::from(self.warning_percent);
        u32::try_from(scaled.div_ceil(100)).unwrap_or(self.limit)
    }
}

/// Graceful restart (RFC 4724) and long-lived graceful restart (RFC 9494) for one neighbor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GracefulRestart {
    /// Advertise the capability (and keep the neighbor's routes when it restarts); default true.
    pub enabled: bool,
    /// Restart time we advertise; default 120 s.
    pub restart_time: RestartTime,
    /// Long-lived stale time we advertise; default 0 (LLGR off).
    pub long_lived_stale_time: StaleTime,
}

impl Default for GracefulRestart {
    fn default() -> Self {
        GracefulRestart {
            enabled: true,
            restart_time: RestartTime::DEFAULT,
            long_lived_stale_time: StaleTime::OFF,
        }
    }
}

/// BFD (RFC 5880, single hop per RFC 5881) towards one neighbor: `bfd = { ... }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bfd {
    /// The slowest rate at which we want the neighbor's packets (Required Min RX Interval);
    /// default 300 ms.
    pub min_rx: Duration,
    /// The rate at which we would like to send (Desired Min TX Interval) once the session is
    /// up; default 300 ms. While it is not up we send once a second (RFC 5880 section 6.8.3).
    pub min_tx: Duration,
    /// Detect Mult: the neighbor declares the path down after this many of our packets are
    /// missed; default 3.
    pub multiplier: u8,
    /// Authentication (RFC 5880 section 6.7.4); `None`: off.
    pub auth: Option<BfdAuth>,
}

/// BFD keyed SHA1 authentication (RFC 5880 section 6.7.4).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct BfdAuth {
    /// Meticulous Keyed SHA1 (auth type 5: the sequence number rises with every packet)
    /// rather than Keyed SHA1 (type 4).
    pub meticulous: bool,
    /// Auth Key ID.
    pub key_id: u8,
    key: [u8; 20],
    key_len: u8,
}

impl BfdAuth {
    /// The longest key: the SHA1 hash's 20 bytes, which the key is padded into.
    pub const MAX_KEY: usize = 20;

    /// `None` when the key is empty or longer than [`BfdAuth::MAX_KEY`] bytes.
    pub fn new(meticulous: bool, key_id: u8, key: &[u8]) -> Option<BfdAuth> {
        if key.is_empty() || key.len() > Self::MAX_KEY {
            return None;
        }
        let mut padded = [0u8; 20];
        padded.get_mut(..key.len())?.copy_from_slice(key);
        Some(BfdAuth {
            meticulous,
            key_id,
            key: padded,
            key_len: u8::try_from(key.len()).ok()?,
        })
    }

    /// The key, zero-padded to 20 bytes as the hash computation wants it. Do not log it.
    pub fn padded_key(&self) -> &[u8; 20] {
        &self.key
    }
}

impl std::fmt::Debug for BfdAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BfdAuth")
            .field("meticulous", &self.meticulous)
            .field("key_id", &self.key_id)
            .field("key", &format_args!("<{} bytes redacted>", self.key_len))
            .finish()
    }
}

impl Bfd {
    /// The smallest interval accepted, in milliseconds.
    pub const MIN_INTERVAL_MS: u64 = 10;
    /// The largest interval accepted, in milliseconds.
    pub const MAX_INTERVAL_MS: u64 = 60_000;
}

impl Default for Bfd {
    fn default() -> Self {
        Bfd {
            min_rx: Duration::from_millis(300),
            min_tx: Duration::from_millis(300),
            multiplier: 3,
            auth: None,
        }
    }
}

/// One `[[neighbor]]`: a fixed peer or a dynamic group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbor {
    /// Unique name: used by `bgpctl`, in logs and as the `neighbor` metric label.
    pub name: String,
    /// Free text shown by `bgpctl show neighbor`.
    pub description: Option<String>,
    /// `false`: configured but administratively down; default true.
    pub enabled: bool,
    /// The address or range.
    pub peer: Peer,
    /// The neighbor's AS; equal to the global ASN for iBGP.
    pub remote_as: Asn,
    /// Source address for outgoing connections; default: chosen by the kernel.
    pub local_address: Option<IpAddr>,
    /// Never connect, only accept; always true for a range.
    pub passive: bool,
    /// Route reflector client (RFC 4456); iBGP only.
    pub route_reflector_client: bool,
    /// Rewrite the next hop of eBGP-learned routes to ourselves when advertising to this
    /// neighbor; reflected iBGP routes keep their next hop.
    pub next_hop_self: bool,
    /// Send our link-local address beside an IPv6 next hop of ours when the peer shares our
    /// subnet (RFC 2545 section 3); eBGP only; default on.
    pub link_local_next_hop: bool,
    /// Hold time we offer; default 90 s.
    pub hold_time: HoldTime,
    /// Keepalive interval in seconds; default `hold_time / 3`; always < hold time, 0 iff the
    /// hold time is 0.
    pub keepalive: u16,
    /// Seconds between connection attempts; default 120 (RFC 4271 suggestion).
    pub connect_retry: u32,
    /// TCP-MD5 key (RFC 2385), from `password` or `password_file`.
    pub password: Option<Secret>,
    /// GTSM (RFC 5082) hops; `None`: off.
    pub ttl_security: Option<GtsmHops>,
    /// Import policy name; `None` on eBGP means nothing is accepted (RFC 8212), on iBGP
    /// everything.
    pub import: Option<String>,
    /// Export policy name; `None` on eBGP means nothing is sent (RFC 8212), on iBGP the usual
    /// iBGP/route reflection rules apply unfiltered.
    pub export: Option<String>,
    /// Limit on routes received (counted in the Adj-RIB-In, before import policy). Over the
    /// limit: NOTIFICATION Cease / Maximum Number of Prefixes Reached (RFC 4486).
    pub max_prefixes: Option<PrefixLimit>,
    /// After the session is torn down for exceeding `max_prefixes`, reconnect after this long;
    /// `None`: stay down until `bgpctl neighbor NAME up`. Default 60 s.
    pub max_prefixes_restart: Option<Duration>,
    /// Limit on routes advertised: never exceeded (routes past it are not sent).
    pub max_prefixes_out: Option<PrefixLimit>,
    /// Address families to negotiate; default: the family of the address or range.
    pub families: Vec<AddressFamily>,
    /// ADD-PATH (RFC 7911) per family; absent families: off.
    pub add_path: BTreeMap<AddressFamily, AddPathMode>,
    /// Graceful restart settings.
    pub graceful_restart: GracefulRestart,
    /// BFD on the path to this neighbor; `None`: off. Fixed neighbors only.
    pub bfd: Option<Bfd>,
    /// `calico`: the node range's pod pools; what the nodes may announce.
    pub calico: Option<Calico>,
}

/// `calico = { pools, block_size, block_size_v6 }` on the nodes' range: Calico's IP pools
/// and their block sizes. A node may announce a block of a pool (exactly the block size)
/// or something more specific inside a pool (a borrowed address); anything else is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calico {
    /// The IP pools (Calico `IPPool.spec.cidr`).
    pub pools: Vec<ipnet::IpNet>,
    /// Block size of the IPv4 pools (Calico's `blockSize`, default 26).
    pub block_size: u8,
    /// Block size of the IPv6 pools (default 122).
    pub block_size_v6: u8,
}

/// What a node's announcement is, against the pools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolRoute {
    /// A block of a pool: exactly the block size.
    Block,
    /// A host route inside a pool (/32, /128): Calico announces one for an address a node
    /// borrowed from another node's block.
    Borrowed,
    /// Inside a pool but shorter than a block.
    TooShort,
    /// Inside a pool, longer than a block but not a host route: nothing Calico announces,
    /// and it would take part of a block's traffic by longest match.
    Partial,
    /// Outside every pool.
    Outside,
}

impl Calico {
    /// The block size for `prefix`'s family.
    pub fn block_size_of(&self, prefix: &ipnet::IpNet) -> u8 {
        match prefix {
            ipnet::IpNet::V4(_) => self.block_size,
            ipnet::IpNet::V6(_) => self.block_size_v6,
        }
    }

    /// Classifies a route a node announced.
    pub fn classify(&self, prefix: &ipnet::IpNet) -> PoolRoute {
        if !self.pools.iter().any(|p| p.contains(prefix)) {
            return PoolRoute::Outside;
        }
        let block = self.block_size_of(prefix);
        match prefix.prefix_len().cmp(&block) {
            std::cmp::Ordering::Equal => PoolRoute::Block,
            std::cmp::Ordering::Greater if prefix.prefix_len() == prefix.max_prefix_len() => {
                PoolRoute::Borrowed
            }
            std::cmp::Ordering::Greater => PoolRoute::Partial,
            std::cmp::Ordering::Less => PoolRoute::TooShort,
        }
    }
}

impl Neighbor {
    /// iBGP when the neighbor is in our AS.
    pub fn is_ibgp(&self, local_as: Asn) -> bool {
        self.remote_as == local_as
    }

    /// True for a `range` neighbor.
    pub fn is_dynamic(&self) -> bool {
        matches!(self.peer, Peer::Range(_))
    }

    /// The keepalive interval as a duration.
    pub fn keepalive_interval(&self) -> Duration {
        Duration::from_secs(u64::from(self.keepalive))
    }

    /// The connect retry interval as a duration.
    pub fn connect_retry_interval(&self) -> Duration {
        Duration::from_secs(u64::from(self.connect_retry))
    }
}
