//! The hybrid-cloud lab topology (the seed scenario): an on-premises data centre, Calico nodes
//! (BIRD 1.6) and `bgpd` route reflectors on one node network, connected to a cloud VBR (FRR).
//! Shared by the tests and `scripts/demo` (through the `lab` binary):
//!
//! ```text
//!   ns n1  (BIRD 1.6, "Calico node", 192.0.2.11, block 198.18.1.0/26)  ─┐
//!   ns n2  (BIRD 1.6, 192.0.2.12, block 198.18.2.0/26)                  ─┼─ ns sw: bridge br0
//!   ns n3  (BIRD 1.6, 192.0.2.13, block 198.18.3.0/26)                  ─┤   (node network 192.0.2.0/24)
//!   ns edge  (bgpd RR, lan0 192.0.2.1)  ─────────────────────────────────┤
//!   ns edge2 (second bgpd RR, 192.0.2.2, same cluster id; optional)    ─┘
//!
//!   edge  up0 203.0.113.1/30 ── eth0 203.0.113.2/30 ┐ ns vbr (FRR, AS 45104, TCP-MD5, GTSM):
//!   edge2 up0 203.0.113.5/30 ── eth1 203.0.113.6/30 ┘ VPC 198.19.0.0/16, vSwitches
//!                                                     198.19.24.0/24, 198.19.25.0/24
//! ```
//!
//! With [`Options::dual_stack`] the same links also carry IPv6 (documentation prefixes
//! only): node network 2001:db8:0:2::/64 (reflector *i* `::i`, node *i* `::1i`), uplinks
//! 2001:db8:113::1/126 -- ::2/126 (and ::5 -- ::6), each node's /122 block from the pool
//! 2001:db8:18::/48 announced by a second BIRD 1.6 daemon, `bird6`, and the VPC's
//! 2001:db8:19::/48 with 2001:db8:19:24::/64 and 2001:db8:19:25::/64 on an IPv6 session
//! between the edge and the VBR.

use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use crate::daemons::{find, Bgpd, Bird, Frr, Route};
use crate::{err, Lab};

/// Calico's AS.
pub const CALICO_AS: u32 = 64512;
/// The VBR's AS (Alibaba's default).
pub const VBR_AS: u32 = 45104;
/// The pod CIDR aggregate advertised to the cloud.
pub const POD_CIDR: &str = "198.18.0.0/16";
/// The VPC's routes as the VBR advertises them.
pub const VPC_ROUTES: [&str; 3] = ["198.19.0.0/16", "198.19.24.0/24", "198.19.25.0/24"];
/// A host in the VPC (an address on the VBR namespace's loopback) for pings.
pub const VPC_HOST: &str = "198.19.24.10";
/// The lab's TCP-MD5 key between the edge and the VBR.
pub const MD5_KEY: &str = "lab-md5-key";
/// The reflectors' shared cluster id.
pub const CLUSTER_ID: &str = "192.0.2.254";

/// Dual stack: the node network (on the same bridge as 192.0.2.0/24).
pub const NODE_NET_V6: &str = "2001:db8:0:2::/64";
/// Dual stack: the IPv6 pod pool, advertised to the cloud as one aggregate; each node's
/// block is a /122 from it.
pub const POD_CIDR_V6: &str = "2001:db8:18::/48";
/// Dual stack: the VPC's IPv6 routes as the VBR advertises them.
pub const VPC_ROUTES_V6: [&str; 3] = [
    "2001:db8:19::/48",
    "2001:db8:19:24::/64",
    "2001:db8:19:25::/64",
];
/// Dual stack: a host in the VPC (on the VBR namespace's loopback) for ping6.
pub const VPC_HOST_V6: &str = "2001:db8:19:24::10";

/// What the edge accepts from the nodes and reflects (blocks and borrowed addresses).
const NODE_PREFIXES: &str = "198.18.0.0/16{26,32}";
const NODE_PREFIXES_V6: &str = "2001:db8:18::/48{122,128}";
/// What the edge accepts from the VBR.
const VPC_PREFIXES: &str = "198.19.0.0/16{16,24}";
const VPC_PREFIXES_V6: &str = "2001:db8:19::/48{48,64}";

/// Dual stack: reflector `i`'s (0-based) address on the node network, `2001:db8:0:2::{i+1}`.
pub fn rr_lan6(i: usize) -> String {
    format!("2001:db8:0:2::{}", i + 1)
}

/// Dual stack: reflector `i`'s address on its link to the VBR, `2001:db8:113::{4i+1}`
/// (a /126, like 203.0.113.{4i+1}/30).
pub fn rr_uplink6(i: usize) -> String {
    format!("2001:db8:113::{}", 4 * i + 1)
}

/// Dual stack: the VBR's address on its link to reflector `i`, `2001:db8:113::{4i+2}`.
pub fn vbr_addr6(i: usize) -> String {
    format!("2001:db8:113::{}", 4 * i + 2)
}

/// Dual stack: node `i`'s (1-based) address, `2001:db8:0:2::1i` (read like 192.0.2.1i).
pub fn node_addr6(i: usize) -> String {
    format!("2001:db8:0:2::{}", 10 + i)
}

/// Dual stack: node `i`'s /122 block, the `i`-th of the pool: node 1 `2001:db8:18::40/122`,
/// node 2 `2001:db8:18::80/122`, ...
pub fn node_block6(i: usize) -> String {
    format!("2001:db8:18::{:x}/122", 64 * i)
}

/// Dual stack: node `i`'s pod address, the first of its block (node 1 `2001:db8:18::41`).
pub fn node_pod6(i: usize) -> String {
    format!("2001:db8:18::{:x}", 64 * i + 1)
}

/// What to build.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Calico nodes (1..=9).
    pub nodes: usize,
    /// Route reflectors (1 or 2).
    pub reflectors: usize,
    /// Configure `[kernel]` on the reflectors and enable forwarding (data plane).
    pub kernel: bool,
    /// Extra /26 blocks on node 1 (198.18.100.0/26, 198.18.100.64/26, ...), at most 480.
    pub extra_blocks: usize,
    /// Let the /26 blocks through to the cloud (export policy `198.18.0.0/16{16,26}`
    /// instead of the aggregate only), to exercise `max_prefixes_out`.
    pub leak_blocks: bool,
    /// A BMP collector (`[[bmp]]`, RFC 7854) in every reflector's configuration, as its
    /// namespace reaches it (e.g. `127.0.0.1:1790` on the reflector's own loopback), with a
    /// Statistics Report every 5 s; the test runs the collector.
    pub bmp: Option<SocketAddr>,
    /// Run the VBR's FRR with zebra, so that it installs its selected routes (the pod
    /// aggregate via one edge or both) into its namespace's kernel: the way back from the
    /// VPC follows its BGP choice. Off: FRR alone, no kernel routes (a test that pings adds
    /// a static route back).
    pub vbr_fib: bool,
    /// Calico's IP pools on the reflectors' node range (`calico = { pools = [...] }`: the
    /// pool guard, block conflicts, `bgpctl show nodes`), e.g. `Some(&[POD_CIDR])`, the pool
    /// the nodes' /26 blocks are from. Off by default: the other tests run the configuration
    /// of `examples/lab.toml`.
    pub calico_pools: Option<&'static [&'static str]>,
    /// Dual stack: Calico's IPv6 IP pools on the reflectors' `calico6` range (`calico = {
    /// pools = [...] }`, as [`Options::calico_pools`] on the IPv4 range), e.g.
    /// `Some(&[POD_CIDR_V6])`, the pool the nodes' /122 blocks are from. Off by default;
    /// ignored without [`Options::dual_stack`].
    pub calico_pools_v6: Option<&'static [&'static str]>,
    /// Dual stack: IPv6 beside IPv4 on the same links (see the module's documentation):
    /// every node also runs `bird6` with a /122 block, every reflector also has the `vbr6`
    /// IPv6 session and the `calico6` range, and the VBR an IPv6 session per edge. With
    /// `kernel`, IPv6 forwarding on the reflectors too.
    pub dual_stack: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            nodes: 3,
            reflectors: 1,
            kernel: false,
            extra_blocks: 0,
            leak_blocks: false,
            bmp: None,
            vbr_fib: false,
            calico_pools: None,
            calico_pools_v6: None,
            dual_stack: false,
        }
    }
}

impl Options {
    /// Whether the VBR's FRR runs with zebra: with [`Options::vbr_fib`], and always in dual
    /// stack, since FRR's bgpd without zebra knows no interfaces and treats an IPv6 next hop
    /// with a link-local address (RFC 2545, which the edge sends on its direct IPv6 eBGP
    /// session) as a withdrawal. With zebra FRR installs its selected routes in its
    /// namespace.
    pub fn vbr_zebra(&self) -> bool {
        self.vbr_fib || self.dual_stack
    }
}

/// A Calico node.
#[derive(Debug, Clone)]
pub struct Node {
    /// Namespace.
    pub ns: String,
    /// Address on the node network.
    pub addr: String,
    /// Its IPAM block.
    pub block: String,
    /// A pod address inside the block (on the namespace's loopback).
    pub pod: String,
    /// BIRD 1.6.
    pub bird: Bird,
    /// Dual stack: its IPv6 side.
    pub v6: Option<NodeV6>,
}

/// A Calico node's IPv6 side (dual stack).
#[derive(Debug, Clone)]
pub struct NodeV6 {
    /// Address on the node network.
    pub addr: String,
    /// Its /122 IPAM block.
    pub block: String,
    /// A pod address inside the block (on the namespace's loopback).
    pub pod: String,
    /// BIRD 1.6's `bird6`.
    pub bird: Bird,
}

/// A reflector.
#[derive(Debug, Clone)]
pub struct Reflector {
    /// Address on the node network.
    pub lan: String,
    /// Address on its link to the VBR.
    pub uplink: String,
    /// The VBR's address on that link.
    pub vbr_addr: String,
    /// bgpd.
    pub bgpd: Bgpd,
    /// Dual stack: its IPv6 addresses.
    pub v6: Option<ReflectorV6>,
}

/// A reflector's IPv6 addresses (dual stack).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReflectorV6 {
    /// Address on the node network.
    pub lan: String,
    /// Address on its link to the VBR.
    pub uplink: String,
    /// The VBR's address on that link.
    pub vbr_addr: String,
}

impl ReflectorV6 {
    /// Reflector `i`'s (0-based) IPv6 addresses.
    pub fn new(i: usize) -> ReflectorV6 {
        ReflectorV6 {
            lan: rr_lan6(i),
            uplink: rr_uplink6(i),
            vbr_addr: vbr_addr6(i),
        }
    }
}

/// The running hybrid lab.
#[derive(Debug)]
pub struct HybridLab {
    /// The namespaces and processes.
    pub lab: Lab,
    /// The edge route reflectors.
    pub rrs: Vec<Reflector>,
    /// The Calico nodes.
    pub nodes: Vec<Node>,
    /// FRR playing the VBR.
    pub vbr: Frr,
    /// The VBR's namespace.
    pub vbr_ns: String,
    /// What was built.
    pub opts: Options,
}

/// The edge's bgpd configuration (as `examples/lab.toml`, with this reflector's addresses).
pub fn edge_config(router_id: &str, lan: &str, uplink: &str, vbr: &str, kernel: bool) -> String {
    edge_config_with(router_id, lan, uplink, vbr, kernel, false, None)
}

/// [`edge_config`], optionally exporting the /26 blocks to the cloud (`leak`) and with
/// Calico's IP pools on the node range (`calico_pools`).
pub fn edge_config_with(
    router_id: &str,
    lan: &str,
    uplink: &str,
    vbr: &str,
    kernel: bool,
    leak: bool,
    calico_pools: Option<&[&str]>,
) -> String {
    EdgeSpec {
        router_id,
        lan,
        uplink,
        vbr,
        kernel,
        leak,
        calico_pools,
        calico_pools_v6: None,
        v6: None,
    }
    .config()
}

/// Everything a reflector's bgpd configuration depends on (see [`EdgeSpec::config`]).
#[derive(Debug, Clone, Copy)]
pub struct EdgeSpec<'a> {
    /// BGP identifier.
    pub router_id: &'a str,
    /// Address on the node network.
    pub lan: &'a str,
    /// Address on the link to the VBR.
    pub uplink: &'a str,
    /// The VBR's address on that link.
    pub vbr: &'a str,
    /// `[kernel]`: install the pod blocks and the VPC routes.
    pub kernel: bool,
    /// Export the blocks to the cloud, not just the aggregate.
    pub leak: bool,
    /// Calico's IP pools on the (IPv4) node range.
    pub calico_pools: Option<&'a [&'a str]>,
    /// Dual stack: Calico's IPv6 IP pools on the `calico6` range (with `v6` only).
    pub calico_pools_v6: Option<&'a [&'a str]>,
    /// Dual stack: the reflector's IPv6 addresses.
    pub v6: Option<&'a ReflectorV6>,
}

impl EdgeSpec<'_> {
    /// The edge's bgpd configuration (as `examples/lab.toml`). With `v6`, dual stack: it
    /// also listens on the IPv6 addresses, has the `vbr6` eBGP session (TCP-MD5, GTSM) and
    /// the `calico6` range for the nodes' `bird6` (ADD-PATH, graceful restart, as `calico`),
    /// originates the IPv6 pod aggregate, and every policy has the IPv6 prefixes beside the
    /// IPv4 ones.
    pub fn config(&self) -> String {
        let EdgeSpec {
            router_id,
            lan,
            uplink,
            vbr,
            kernel,
            leak,
            calico_pools,
            calico_pools_v6,
            v6,
        } = *self;
        // A quoted prefix list, with the IPv6 prefixes when dual stack.
        let list = |v4: &[&str], v6s: &[&str]| -> String {
            let mut all = v4.to_vec();
            if v6.is_some() {
                all.extend_from_slice(v6s);
            }
            let quoted: Vec<String> = all.iter().map(|p| format!("\"{p}\"")).collect();
            quoted.join(", ")
        };
        let to_cloud = if leak {
            list(&["198.18.0.0/16{16,26}"], &["2001:db8:18::/48{48,122}"])
        } else {
            list(&[POD_CIDR], &[POD_CIDR_V6])
        };
        let from_cloud = list(&[VPC_PREFIXES], &[VPC_PREFIXES_V6]);
        let nodes = list(&[NODE_PREFIXES], &[NODE_PREFIXES_V6]);
        let vbrs = list(&["vbr"], &["vbr6"]);
        let to_kernel = list(
            &[NODE_PREFIXES, VPC_PREFIXES],
            &[NODE_PREFIXES_V6, VPC_PREFIXES_V6],
        );
        let kernel = if kernel {
            "[kernel]\ntable = 254\nexport = \"to-kernel\"\n"
        } else {
            ""
        };
        let calico_line = |pools: Option<&[&str]>| {
            pools.map_or(String::new(), |pools| {
                let quoted: Vec<String> = pools.iter().map(|p| format!("\"{p}\"")).collect();
                format!("calico = {{ pools = [{}] }}\n", quoted.join(", "))
            })
        };
        let calico = calico_line(calico_pools);
        let calico6 = calico_line(calico_pools_v6);
        let (listen6, originate6, neighbors6) = match v6 {
            None => (String::new(), String::new(), String::new()),
            Some(v6) => (
                format!(", \"[{}]:179\", \"[{}]:179\"", v6.lan, v6.uplink),
                format!(
                    "\n[[originate]]\nprefix = \"{POD_CIDR_V6}\"\nrequire_more_specific = true\n"
                ),
                format!(
                    r#"
[[neighbor]]
name = "vbr6"
description = "FRR playing the Alibaba VBR, IPv6 session"
address = "{vbr6}"
local_address = "{uplink6}"
remote_as = {VBR_AS}
password = "{MD5_KEY}"
ttl_security = 1
hold_time = 9
connect_retry = 2
import = "from-cloud"
export = "to-cloud"
max_prefixes = 1000
max_prefixes_out = 100
max_prefixes_out_warning = 80

[[neighbor]]
name = "calico6"
range = "{NODE_NET_V6}"
remote_as = {CALICO_AS}
route_reflector_client = true
next_hop_self = true
hold_time = 240
import = "from-nodes"
export = "to-nodes"
max_prefixes = 20000
add_path = {{ ipv6-unicast = "both" }}
graceful_restart = {{ restart_time = 120, long_lived_stale_time = 3600 }}
{calico6}"#,
                    vbr6 = v6.vbr_addr,
                    uplink6 = v6.uplink,
                ),
            ),
        };
        format!(
            r#"# The edge route reflector of the lab (generated by lab-tests).
[global]
asn = {CALICO_AS}
router_id = "{router_id}"
cluster_id = "{CLUSTER_ID}"
listen = ["{lan}:179", "{uplink}:179"{listen6}]

[control]
socket = "{{socket}}"

[metrics]
listen = "127.0.0.1:9179"

{kernel}
[[originate]]
prefix = "{POD_CIDR}"
require_more_specific = true
{originate6}
[[neighbor]]
name = "vbr"
description = "FRR playing the Alibaba VBR"
address = "{vbr}"
local_address = "{uplink}"
remote_as = {VBR_AS}
password = "{MD5_KEY}"
ttl_security = 1
hold_time = 9
connect_retry = 2
import = "from-cloud"
export = "to-cloud"
max_prefixes = 1000
max_prefixes_out = 100
max_prefixes_out_warning = 80

[[neighbor]]
name = "calico"
range = "192.0.2.0/24"
remote_as = {CALICO_AS}
route_reflector_client = true
next_hop_self = true
hold_time = 240
import = "from-nodes"
export = "to-nodes"
max_prefixes = 20000
add_path = {{ ipv4-unicast = "both" }}
graceful_restart = {{ restart_time = 120, long_lived_stale_time = 3600 }}
{calico}{neighbors6}
[policy.to-cloud]
default = "reject"
[[policy.to-cloud.term]]
prefixes = [{to_cloud}]
action = "accept"

[policy.from-cloud]
default = "reject"
[[policy.from-cloud.term]]
name = "vpc"
prefixes = [{from_cloud}]
action = "accept"
set = {{ local_pref = 200 }}

[policy.from-nodes]
default = "reject"
[[policy.from-nodes.term]]
prefixes = [{nodes}]
action = "accept"

[policy.to-nodes]
default = "reject"
[[policy.to-nodes.term]]
prefixes = [{nodes}]
action = "accept"
[[policy.to-nodes.term]]
neighbor = [{vbrs}]
prefixes = [{from_cloud}]
action = "accept"

[policy.to-kernel]
default = "reject"
[[policy.to-kernel.term]]
prefixes = [{to_kernel}]
action = "accept"
"#
        )
    }
}

/// A Calico node's BIRD 1.6 configuration, modelled on calico/confd's `bird.cfg.template`,
/// `bird_ipam.cfg.template` and `bird_aggr.cfg.template`: iBGP AS 64512 to each reflector,
/// ADD-PATH, graceful restart, `gateway recursive`, `import all`, export of the pool's routes
/// only, the node's block as a blackhole static route.
pub fn calico_node_config(addr: &str, blocks: &[String], reflectors: &[&str]) -> String {
    calico_bird16_config("BIRD 1.6", addr, addr, POD_CIDR, blocks, reflectors)
}

/// A dual-stack Calico node's `bird6` (BIRD 1.6's IPv6 daemon) configuration, modelled on
/// calico/confd's `bird6.cfg.template`, `bird6_ipam.cfg.template` and
/// `bird6_aggr.cfg.template` as [`calico_node_config`] is on the IPv4 ones: the router id is
/// the node's IPv4 address (`router_id`; a BGP identifier is 4 octets, also in MP-BGP), the
/// sessions go from the node's IPv6 address `addr6` to each reflector's IPv6 address, the
/// export is the IPv6 pool's routes only, and the /122 blocks are blackhole static routes.
pub fn calico_node_config6(
    router_id: &str,
    addr6: &str,
    blocks: &[String],
    reflectors6: &[&str],
) -> String {
    calico_bird16_config(
        "BIRD 1.6 bird6",
        router_id,
        addr6,
        POD_CIDR_V6,
        blocks,
        reflectors6,
    )
}

/// What `bird` and `bird6` share: Calico renders the same shape for both families.
fn calico_bird16_config(
    what: &str,
    router_id: &str,
    addr: &str,
    pool: &str,
    blocks: &[String],
    reflectors: &[&str],
) -> String {
    let mut statics = String::new();
    for b in blocks {
        let _ = writeln!(statics, "  route {b} blackhole;");
    }
    let mut peers = String::new();
    for rr in reflectors {
        // Calico names the protocol after the peer's address, `.` or `:` replaced by `_`.
        let _ = write!(
            peers,
            "protocol bgp Node_{} from bgp_template {{\n  neighbor {rr} as {CALICO_AS};\n  source address {addr};\n}}\n",
            rr.replace(['.', ':'], "_")
        );
    }
    format!(
        r#"# Generated by lab-tests after calico/confd's templates ({what})
router id {router_id};
log stderr all;

# bird_aggr.cfg: IP blocks for this host.
protocol static {{
{statics}}}

# bird_ipam.cfg
filter calico_export_to_bgp_peers {{
  if ( net ~ {pool} ) then {{
    accept;
  }}
  reject;
}}
filter calico_kernel_programming {{
  accept;
}}

protocol kernel {{
  learn;
  persist;
  scan time 2;
  import all;
  export filter calico_kernel_programming;
  graceful restart;
  merge paths on;
}}
protocol device {{
  debug {{ states }};
  scan time 2;
}}
protocol direct {{
  debug {{ states }};
  interface -"cali*", -"kube-ipvs*", "*";
}}

template bgp bgp_template {{
  debug {{ states }};
  description "Connection to BGP peer";
  local as {CALICO_AS};
  multihop;
  gateway recursive;
  import all;
  export filter calico_export_to_bgp_peers;
  add paths on;
  graceful restart;
  connect delay time 1;
  connect retry time 2;
  error wait time 1,10;
}}

{peers}"#
    )
}

/// FRR playing the VBR: AS 45104, TCP-MD5, GTSM, a prefix limit on what it accepts, the VPC
/// routes advertised with `network` statements. `edges`: (edge address, our address).
pub fn vbr_config(edges: &[(&str, &str)]) -> String {
    vbr_config_dual(edges, &[])
}

/// [`vbr_config`] plus, for dual stack, an IPv6 session per edge in `edges6` (edge address,
/// our address): TCP-MD5, GTSM and timers as on IPv4, the IPv6 family only (one session per
/// family, as a VBR has), the IPv6 VPC routes advertised with `network` statements, and
/// `maximum-prefix` on what it accepts.
pub fn vbr_config_dual(edges: &[(&str, &str)], edges6: &[(&str, &str)]) -> String {
    let mut s = format!(
        "frr defaults traditional\nhostname vbr\nrouter bgp {VBR_AS}\n bgp router-id 203.0.113.2\n no bgp ebgp-requires-policy\n no bgp network import-check\n"
    );
    for (edge, _) in edges.iter().chain(edges6) {
        let _ = write!(
            s,
            " neighbor {edge} remote-as {CALICO_AS}\n neighbor {edge} password {MD5_KEY}\n neighbor {edge} ttl-security hops 1\n neighbor {edge} timers 3 9\n neighbor {edge} timers connect 1\n"
        );
    }
    s.push_str(" address-family ipv4 unicast\n");
    for r in VPC_ROUTES {
        let _ = writeln!(s, "  network {r}");
    }
    for (edge, _) in edges {
        let _ = writeln!(s, "  neighbor {edge} maximum-prefix 110");
    }
    for (edge, _) in edges6 {
        let _ = writeln!(s, "  no neighbor {edge} activate");
    }
    s.push_str(" exit-address-family\n");
    if !edges6.is_empty() {
        s.push_str(" address-family ipv6 unicast\n");
        for r in VPC_ROUTES_V6 {
            let _ = writeln!(s, "  network {r}");
        }
        for (edge, _) in edges6 {
            let _ = writeln!(
                s,
                "  neighbor {edge} activate\n  neighbor {edge} maximum-prefix 110"
            );
        }
        s.push_str(" exit-address-family\n");
    }
    s
}

/// `&str`s of `v`, for [`Lab::attach`] and [`Lab::link`].
fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Node 1's extra blocks: 198.18.100.0/26, 198.18.100.64/26, ...
pub fn extra_blocks(n: usize) -> Vec<String> {
    (0..n)
        .map(|k| format!("198.18.{}.{}/26", 100 + k / 4, (k % 4) * 64))
        .collect()
}

impl HybridLab {
    /// Builds the namespaces and links and starts every daemon (does not wait for
    /// convergence: see [`HybridLab::wait_converged`]).
    pub fn up(mut lab: Lab, opts: Options) -> io::Result<HybridLab> {
        let start = std::time::Instant::now();
        if opts.nodes == 0
            || opts.nodes > 9
            || !(1..=2).contains(&opts.reflectors)
            || opts.extra_blocks > 480
        {
            return Err(err(
                "nodes must be 1..=9, reflectors 1..=2, extra_blocks at most 480",
            ));
        }
        let sw = lab.netns("sw")?;
        lab.bridge(&sw, "br0")?;
        let vbr_ns = lab.netns("vbr")?;
        lab.addr(&vbr_ns, "lo", &format!("{VPC_HOST}/32"))?;
        let dual = opts.dual_stack;
        if dual {
            lab.addr(&vbr_ns, "lo", &format!("{VPC_HOST_V6}/128"))?;
        }
        // An interface's addresses: the IPv4 one, and with dual stack the IPv6 one.
        let both = |v4: String, v6: Option<String>| -> Vec<String> {
            std::iter::once(v4).chain(v6.filter(|_| dual)).collect()
        };

        let mut rr_plan = Vec::new();
        for i in 0..opts.reflectors {
            let role = if i == 0 {
                "edge".to_owned()
            } else {
                format!("edge{}", i + 1)
            };
            let ns = lab.netns(&role)?;
            let lan = format!("192.0.2.{}", i + 1);
            let uplink = format!("203.0.113.{}", 4 * i + 1);
            let vbr_addr = format!("203.0.113.{}", 4 * i + 2);
            let v6 = dual.then(|| ReflectorV6::new(i));
            let lan_addrs = both(
                format!("{lan}/24"),
                v6.as_ref().map(|v| format!("{}/64", v.lan)),
            );
            let up_addrs = both(
                format!("{uplink}/30"),
                v6.as_ref().map(|v| format!("{}/126", v.uplink)),
            );
            let vbr_addrs = both(
                format!("{vbr_addr}/30"),
                v6.as_ref().map(|v| format!("{}/126", v.vbr_addr)),
            );
            lab.attach(
                (&ns, "lan0", &strs(&lan_addrs)),
                (&sw, "br0", &format!("r{i}")),
            )?;
            lab.link(
                (&ns, "up0", &strs(&up_addrs)),
                (&vbr_ns, &format!("eth{i}"), &strs(&vbr_addrs)),
            )?;
            if opts.kernel {
                lab.sysctl(&ns, "net.ipv4.ip_forward=1")?;
                if dual {
                    lab.sysctl(&ns, "net.ipv6.conf.all.forwarding=1")?;
                }
            }
            rr_plan.push((role, ns, lan, uplink, vbr_addr, v6));
        }

        let mut node_plan = Vec::new();
        for i in 1..=opts.nodes {
            let ns = lab.netns(&format!("n{i}"))?;
            let addr = format!("192.0.2.{}", 10 + i);
            let addrs = both(format!("{addr}/24"), Some(format!("{}/64", node_addr6(i))));
            lab.attach((&ns, "eth0", &strs(&addrs)), (&sw, "br0", &format!("n{i}")))?;
            let pod = format!("198.18.{i}.1");
            lab.addr(&ns, "lo", &format!("{pod}/32"))?;
            if dual {
                lab.addr(&ns, "lo", &format!("{}/128", node_pod6(i)))?;
            }
            node_plan.push((ns, addr, format!("198.18.{i}.0/26"), pod));
        }

        let edges: Vec<(&str, &str)> = rr_plan
            .iter()
            .map(|(_, _, _, up, v, _)| (up.as_str(), v.as_str()))
            .collect();
        let edges6: Vec<(&str, &str)> = rr_plan
            .iter()
            .filter_map(|p| p.5.as_ref())
            .map(|v6| (v6.uplink.as_str(), v6.vbr_addr.as_str()))
            .collect();
        let vbr_conf = vbr_config_dual(&edges, &edges6);
        let listen: &[&str] = if dual {
            &["0.0.0.0", "::"]
        } else {
            &["0.0.0.0"]
        };
        let vbr = if opts.vbr_zebra() {
            Frr::start_with_zebra(&mut lab, "vbr", &vbr_ns, listen, &vbr_conf)?
        } else {
            Frr::start(&mut lab, "vbr", &vbr_ns, listen, &vbr_conf)?
        };

        let mut rrs = Vec::new();
        for (role, ns, lan, uplink, vbr_addr, v6) in &rr_plan {
            let mut cfg = EdgeSpec {
                router_id: lan,
                lan,
                uplink,
                vbr: vbr_addr,
                kernel: opts.kernel,
                leak: opts.leak_blocks,
                calico_pools: opts.calico_pools,
                calico_pools_v6: opts.calico_pools_v6,
                v6: v6.as_ref(),
            }
            .config();
            if let Some(collector) = opts.bmp {
                let _ = write!(
                    cfg,
                    "\n[[bmp]]\naddress = \"{collector}\"\nstatistics_interval = 5\n"
                );
            }
            let bgpd = Bgpd::start(&mut lab, role, ns, &cfg)?;
            rrs.push(Reflector {
                lan: lan.clone(),
                uplink: uplink.clone(),
                vbr_addr: vbr_addr.clone(),
                bgpd,
                v6: v6.clone(),
            });
        }
        let rr_addrs: Vec<&str> = rr_plan.iter().map(|p| p.2.as_str()).collect();
        let rr_addrs6: Vec<&str> = rr_plan
            .iter()
            .filter_map(|p| p.5.as_ref().map(|v| v.lan.as_str()))
            .collect();
        let mut nodes = Vec::new();
        for (i, (ns, addr, block, pod)) in node_plan.into_iter().enumerate() {
            let mut blocks = vec![block.clone()];
            if i == 0 {
                blocks.extend(extra_blocks(opts.extra_blocks));
            }
            let bird = Bird::start(
                &mut lab,
                &format!("n{}", i + 1),
                &ns,
                true,
                &calico_node_config(&addr, &blocks, &rr_addrs),
            )?;
            let v6 = if dual {
                let (addr6, block6) = (node_addr6(i + 1), node_block6(i + 1));
                let config =
                    calico_node_config6(&addr, &addr6, std::slice::from_ref(&block6), &rr_addrs6);
                let bird = Bird::start6(&mut lab, &format!("n{}-v6", i + 1), &ns, &config)?;
                Some(NodeV6 {
                    addr: addr6,
                    block: block6,
                    pod: node_pod6(i + 1),
                    bird,
                })
            } else {
                None
            };
            nodes.push(Node {
                ns,
                addr,
                block,
                pod,
                bird,
                v6,
            });
        }
        eprintln!(
            "lab {}: built and started in {:.1?}",
            lab.id,
            start.elapsed()
        );
        Ok(HybridLab {
            lab,
            rrs,
            nodes,
            vbr,
            vbr_ns,
            opts,
        })
    }

    /// The first unmet convergence condition, or `None` when the lab is where the seed
    /// scenario wants it: every session up, the VBR holding exactly the pod aggregate from each
    /// reflector, every node holding the VPC routes via a reflector and every other node's
    /// block via that node. With dual stack, the same again for IPv6: the `vbr6` sessions and
    /// the nodes' `bird6` sessions up, the VBR holding exactly the IPv6 pod aggregate from each
    /// reflector, every `bird6` holding the IPv6 VPC routes via a reflector's IPv6 address and
    /// every other node's /122 via that node's IPv6 address.
    pub fn unmet(&mut self) -> io::Result<Option<String>> {
        self.lab.check_alive()?;
        let dual = self.opts.dual_stack;
        for rr in &self.rrs {
            let s = rr.bgpd.sessions()?;
            let up = |n: &str| {
                s.iter()
                    .filter(|x| x.name == n && x.state == "established")
                    .count()
            };
            let vbrs: &[&str] = if dual { &["vbr", "vbr6"] } else { &["vbr"] };
            for v in vbrs {
                if up(v) != 1 {
                    return Ok(Some(format!(
                        "{}: {v} session not established",
                        rr.bgpd.name
                    )));
                }
            }
            for n in &self.nodes {
                let addrs = std::iter::once(&n.addr).chain(n.v6.as_ref().map(|v| &v.addr));
                for a in addrs {
                    if !s
                        .iter()
                        .any(|x| &x.address == a && x.state == "established")
                    {
                        return Ok(Some(format!(
                            "{}: session with node {a} not established",
                            rr.bgpd.name
                        )));
                    }
                }
            }
        }
        if !self.opts.leak_blocks {
            let mut families = vec![("ipv4", POD_CIDR, &VPC_ROUTES)];
            if dual {
                families.push(("ipv6", POD_CIDR_V6, &VPC_ROUTES_V6));
            }
            for (afi, aggregate, vpc) in families {
                let vr = self.vbr.routes(afi)?;
                let from_us: Vec<&Route> = vr
                    .iter()
                    .filter(|r| !vpc.contains(&r.prefix.as_str()))
                    .collect();
                if from_us.len() != self.rrs.len() || from_us.iter().any(|r| r.prefix != aggregate)
                {
                    return Ok(Some(format!(
                        "VBR {afi} routes from the edge: {:?}",
                        from_us.iter().map(|r| &r.prefix).collect::<Vec<_>>()
                    )));
                }
            }
        }
        for n in &self.nodes {
            let routes = n.bird.routes()?;
            for p in VPC_ROUTES {
                let rs = find(&routes, p);
                if rs.is_empty()
                    || rs
                        .iter()
                        .any(|r| !self.rrs.iter().any(|rr| rr.lan == r.next_hop))
                {
                    return Ok(Some(format!("{}: VPC route {p}: {rs:?}", n.bird.name)));
                }
            }
            for other in &self.nodes {
                if other.addr == n.addr {
                    continue;
                }
                let rs = find(&routes, &other.block);
                if rs.is_empty() || rs.iter().any(|r| r.next_hop != other.addr) {
                    return Ok(Some(format!(
                        "{}: block {} of {}: {rs:?}",
                        n.bird.name, other.block, other.addr
                    )));
                }
            }
            let Some(n6) = &n.v6 else { continue };
            let routes = n6.bird.routes()?;
            let via_rr = |r: &&Route| {
                self.rrs
                    .iter()
                    .any(|rr| rr.v6.as_ref().is_some_and(|v| v.lan == r.next_hop))
            };
            for p in VPC_ROUTES_V6 {
                let rs = find(&routes, p);
                if rs.is_empty() || !rs.iter().all(via_rr) {
                    return Ok(Some(format!("{}: VPC route {p}: {rs:?}", n6.bird.name)));
                }
            }
            for o6 in self.nodes.iter().filter_map(|o| o.v6.as_ref()) {
                if o6.addr == n6.addr {
                    continue;
                }
                let rs = find(&routes, &o6.block);
                if rs.is_empty() || rs.iter().any(|r| r.next_hop != o6.addr) {
                    return Ok(Some(format!(
                        "{}: block {} of {}: {rs:?}",
                        n6.bird.name, o6.block, o6.addr
                    )));
                }
            }
        }
        Ok(None)
    }

    /// The VBR's routes back to the pods, added by hand via the first reflector (the pod
    /// aggregate), for a lab whose FRR runs without zebra (see [`Options::vbr_zebra`]): the
    /// cloud side's FIB is not under test. With zebra FRR installs them itself.
    pub fn add_vbr_routes_back(&self) -> io::Result<()> {
        if self.opts.vbr_zebra() {
            return Ok(());
        }
        let rr = &self.rrs[0];
        let vbr = self.vbr_ns.as_str();
        self.lab
            .ip(&["-n", vbr, "route", "add", POD_CIDR, "via", &rr.uplink])?;
        if let Some(v6) = &rr.v6 {
            self.lab.ip(&[
                "-n",
                vbr,
                "-6",
                "route",
                "add",
                POD_CIDR_V6,
                "via",
                &v6.uplink,
            ])?;
        }
        Ok(())
    }

    /// Waits (at most `limit`) until [`HybridLab::unmet`] is `None`.
    pub fn wait_converged(&mut self, limit: Duration) -> io::Result<()> {
        let id = self.lab.id.clone();
        crate::wait::wait_converged(&id, "the seed lab to converge", limit, || self.unmet())
    }
}
