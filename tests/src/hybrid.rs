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
        }
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
    let to_cloud = if leak {
        "198.18.0.0/16{16,26}"
    } else {
        POD_CIDR
    };
    let kernel = if kernel {
        "[kernel]\ntable = 254\nexport = \"to-kernel\"\n"
    } else {
        ""
    };
    let calico = calico_pools.map_or(String::new(), |pools| {
        let quoted: Vec<String> = pools.iter().map(|p| format!("\"{p}\"")).collect();
        format!("calico = {{ pools = [{}] }}\n", quoted.join(", "))
    });
    format!(
        r#"# The edge route reflector of the lab (generated by lab-tests).
[global]
asn = {CALICO_AS}
router_id = "{router_id}"
cluster_id = "{CLUSTER_ID}"
listen = ["{lan}:179", "{uplink}:179"]

[control]
socket = "{{socket}}"

[metrics]
listen = "127.0.0.1:9179"

{kernel}
[[originate]]
prefix = "{POD_CIDR}"
require_more_specific = true

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
{calico}
[policy.to-cloud]
default = "reject"
[[policy.to-cloud.term]]
prefixes = ["{to_cloud}"]
action = "accept"

[policy.from-cloud]
default = "reject"
[[policy.from-cloud.term]]
name = "vpc"
prefixes = ["198.19.0.0/16{{16,24}}"]
action = "accept"
set = {{ local_pref = 200 }}

[policy.from-nodes]
default = "reject"
[[policy.from-nodes.term]]
prefixes = ["198.18.0.0/16{{26,32}}"]
action = "accept"

[policy.to-nodes]
default = "reject"
[[policy.to-nodes.term]]
prefixes = ["198.18.0.0/16{{26,32}}"]
action = "accept"
[[policy.to-nodes.term]]
neighbor = ["vbr"]
prefixes = ["198.19.0.0/16{{16,24}}"]
action = "accept"

[policy.to-kernel]
default = "reject"
[[policy.to-kernel.term]]
prefixes = ["198.18.0.0/16{{26,32}}", "198.19.0.0/16{{16,24}}"]
action = "accept"
"#
    )
}

/// A Calico node's BIRD 1.6 configuration, modelled on calico/confd's `bird.cfg.template`,
/// `bird_ipam.cfg.template` and `bird_aggr.cfg.template`: iBGP AS 64512 to each reflector,
/// ADD-PATH, graceful restart, `gateway recursive`, `import all`, export of the pool's routes
/// only, the node's block as a blackhole static route.
pub fn calico_node_config(addr: &str, blocks: &[String], reflectors: &[&str]) -> String {
    let mut statics = String::new();
    for b in blocks {
        let _ = writeln!(statics, "  route {b} blackhole;");
    }
    let mut peers = String::new();
    for rr in reflectors {
        let _ = write!(
            peers,
            "protocol bgp Node_{} from bgp_template {{\n  neighbor {rr} as {CALICO_AS};\n  source address {addr};\n}}\n",
            rr.replace('.', "_")
        );
    }
    format!(
        r#"# Generated by lab-tests after calico/confd's templates (BIRD 1.6)
router id {addr};
log stderr all;

# bird_aggr.cfg: IP blocks for this host.
protocol static {{
{statics}}}

# bird_ipam.cfg
filter calico_export_to_bgp_peers {{
  if ( net ~ {POD_CIDR} ) then {{
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
    let mut s = format!(
        "frr defaults traditional\nhostname vbr\nrouter bgp {VBR_AS}\n bgp router-id 203.0.113.2\n no bgp ebgp-requires-policy\n no bgp network import-check\n"
    );
    for (edge, _) in edges {
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
    s.push_str(" exit-address-family\n");
    s
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
            lab.attach(
                (&ns, "lan0", &[&format!("{lan}/24")]),
                (&sw, "br0", &format!("r{i}")),
            )?;
            lab.link(
                (&ns, "up0", &[&format!("{uplink}/30")]),
                (&vbr_ns, &format!("eth{i}"), &[&format!("{vbr_addr}/30")]),
            )?;
            if opts.kernel {
                lab.sysctl(&ns, "net.ipv4.ip_forward=1")?;
            }
            rr_plan.push((role, ns, lan, uplink, vbr_addr));
        }

        let mut node_plan = Vec::new();
        for i in 1..=opts.nodes {
            let ns = lab.netns(&format!("n{i}"))?;
            let addr = format!("192.0.2.{}", 10 + i);
            lab.attach(
                (&ns, "eth0", &[&format!("{addr}/24")]),
                (&sw, "br0", &format!("n{i}")),
            )?;
            let pod = format!("198.18.{i}.1");
            lab.addr(&ns, "lo", &format!("{pod}/32"))?;
            node_plan.push((ns, addr, format!("198.18.{i}.0/26"), pod));
        }

        let edges: Vec<(&str, &str)> = rr_plan
            .iter()
            .map(|(_, _, _, up, v)| (up.as_str(), v.as_str()))
            .collect();
        let vbr = if opts.vbr_fib {
            Frr::start_with_zebra(&mut lab, "vbr", &vbr_ns, &["0.0.0.0"], &vbr_config(&edges))?
        } else {
            Frr::start(&mut lab, "vbr", &vbr_ns, &["0.0.0.0"], &vbr_config(&edges))?
        };

        let mut rrs = Vec::new();
        for (role, ns, lan, uplink, vbr_addr) in &rr_plan {
            let mut cfg = edge_config_with(
                lan,
                lan,
                uplink,
                vbr_addr,
                opts.kernel,
                opts.leak_blocks,
                opts.calico_pools,
            );
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
            });
        }
        let rr_addrs: Vec<&str> = rr_plan.iter().map(|p| p.2.as_str()).collect();
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
            nodes.push(Node {
                ns,
                addr,
                block,
                pod,
                bird,
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
    /// block via that node.
    pub fn unmet(&mut self) -> io::Result<Option<String>> {
        self.lab.check_alive()?;
        for rr in &self.rrs {
            let s = rr.bgpd.sessions()?;
            let up = |n: &str| {
                s.iter()
                    .filter(|x| x.name.starts_with(n) && x.state == "established")
                    .count()
            };
            if up("vbr") != 1 {
                return Ok(Some(format!(
                    "{}: vbr session not established",
                    rr.bgpd.name
                )));
            }
            for n in &self.nodes {
                if !s
                    .iter()
                    .any(|x| x.address == n.addr && x.state == "established")
                {
                    return Ok(Some(format!(
                        "{}: session with node {} not established",
                        rr.bgpd.name, n.addr
                    )));
                }
            }
        }
        if !self.opts.leak_blocks {
            let vr = self.vbr.routes("ipv4")?;
            let from_us: Vec<&Route> = vr
                .iter()
                .filter(|r| !VPC_ROUTES.contains(&r.prefix.as_str()))
                .collect();
            if from_us.len() != self.rrs.len() || from_us.iter().any(|r| r.prefix != POD_CIDR) {
                return Ok(Some(format!(
                    "VBR routes from the edge: {:?}",
                    from_us.iter().map(|r| &r.prefix).collect::<Vec<_>>()
                )));
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
        }
        Ok(None)
    }

    /// Waits (at most `limit`) until [`HybridLab::unmet`] is `None`.
    pub fn wait_converged(&mut self, limit: Duration) -> io::Result<()> {
        let id = self.lab.id.clone();
        crate::wait::wait_converged(&id, "the seed lab to converge", limit, || self.unmet())
    }
}
