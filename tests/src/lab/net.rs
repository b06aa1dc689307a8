//! Building the lab's network: namespaces, addresses, veth pairs, bridges, sysctls (all
//! through `ip`), and breaking a link without closing it (nftables).

use std::fmt::Write as _;
use std::io;
use std::process::Command;
use std::time::Duration;

use super::Lab;
use crate::{err, run_with_limit};

impl Lab {
    /// Runs `ip ARGS` (in the default namespace), failing with its stderr.
    pub fn ip(&self, args: &[&str]) -> io::Result<()> {
        let mut cmd = Command::new("ip");
        cmd.args(args);
        let o = run_with_limit(cmd, Duration::from_secs(10))?;
        if o.ok() {
            Ok(())
        } else {
            Err(err(format!("ip {}: {}", args.join(" "), o.stderr.trim())))
        }
    }

    /// Creates namespace `role` with its loopback up; returns its full name. Its interfaces
    /// skip IPv6 duplicate address detection, so that their link-local addresses are usable
    /// the moment a link is up: BIRD ignores a tentative one and then sends no link-local
    /// next hop on a direct session (it logs "Missing link-local address").
    pub fn netns(&mut self, role: &str) -> io::Result<String> {
        let ns = self.ns(role);
        self.ip(&["netns", "add", &ns])?;
        self.namespaces.push(ns.clone());
        self.ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        self.sysctl(&ns, "net.ipv6.conf.default.accept_dad=0")?;
        self.sysctl(&ns, "net.ipv6.conf.all.accept_dad=0")?;
        Ok(ns)
    }

    /// Adds `addr` (with prefix length) to `dev` in `ns` (IPv6 without duplicate detection).
    pub fn addr(&self, ns: &str, dev: &str, addr: &str) -> io::Result<()> {
        if addr.contains(':') {
            self.ip(&["-n", ns, "addr", "add", addr, "dev", dev, "nodad"])
        } else {
            self.ip(&["-n", ns, "addr", "add", addr, "dev", dev])
        }
    }

    /// A veth pair: `dev_a` in `ns_a` with `addrs_a`, `dev_b` in `ns_b` with `addrs_b`, both up.
    /// Interface names only need to be unique inside their namespace.
    pub fn link(
        &self,
        (ns_a, dev_a, addrs_a): (&str, &str, &[&str]),
        (ns_b, dev_b, addrs_b): (&str, &str, &[&str]),
    ) -> io::Result<()> {
        self.ip(&[
            "-n", ns_a, "link", "add", dev_a, "type", "veth", "peer", "name", dev_b, "netns", ns_b,
        ])?;
        for a in addrs_a {
            self.addr(ns_a, dev_a, a)?;
        }
        for a in addrs_b {
            self.addr(ns_b, dev_b, a)?;
        }
        self.ip(&["-n", ns_a, "link", "set", dev_a, "up"])?;
        self.ip(&["-n", ns_b, "link", "set", dev_b, "up"])
    }

    /// A bridge `dev` in `ns` (no address), up.
    pub fn bridge(&self, ns: &str, dev: &str) -> io::Result<()> {
        self.ip(&["-n", ns, "link", "add", dev, "type", "bridge"])?;
        self.ip(&["-n", ns, "link", "set", dev, "up"])
    }

    /// Connects `dev` in `ns` (with `addrs`) to bridge `bridge` in `bridge_ns` through a veth
    /// whose bridge-side end is called `port`.
    pub fn attach(
        &self,
        (ns, dev, addrs): (&str, &str, &[&str]),
        (bridge_ns, bridge, port): (&str, &str, &str),
    ) -> io::Result<()> {
        self.link((ns, dev, addrs), (bridge_ns, port, &[]))?;
        self.ip(&["-n", bridge_ns, "link", "set", port, "master", bridge])
    }

    /// Drops every packet in and out of `dev` in `ns` with nftables (a dead circuit: the link
    /// stays up, nothing is closed, nothing answers; this kernel has no netem). Uses the
    /// netdev family's ingress and egress hooks on the device (kernel >= 5.16, nft >= 1.0.1),
    /// which also drop ARP; without an egress hook, the inet family's prerouting and
    /// postrouting (IP only). Undone by [`Lab::restore_link`].
    pub fn blackhole_link(&self, ns: &str, dev: &str) -> io::Result<()> {
        let netdev = format!(
            "table netdev lab_blackhole {{\n chain in {{ type filter hook ingress device \"{dev}\" priority -500; policy drop; }}\n chain out {{ type filter hook egress device \"{dev}\" priority -500; policy drop; }}\n}}\n"
        );
        let inet = format!(
            "table inet lab_blackhole {{\n chain in {{ type filter hook prerouting priority -500; iifname \"{dev}\" drop; }}\n chain out {{ type filter hook postrouting priority 500; oifname \"{dev}\" drop; }}\n}}\n"
        );
        let mut why = String::new();
        for (name, rules) in [("netdev", netdev), ("inet", inet)] {
            let file = self.write(&format!("{ns}.{dev}.{name}.nft"), &rules)?;
            let o = self.run(ns, "nft", &["-f", &file.display().to_string()])?;
            if o.ok() {
                return Ok(());
            }
            let _ = write!(why, "{name}: {} ", o.stderr.trim());
        }
        Err(err(format!(
            "nft: cannot drop {dev}'s packets in {ns}: {why}"
        )))
    }

    /// Undoes [`Lab::blackhole_link`] (every table it may have added in `ns`).
    pub fn restore_link(&self, ns: &str) -> io::Result<()> {
        let mut found = false;
        for family in ["netdev", "inet"] {
            let o = self.run(ns, "nft", &["delete", "table", family, "lab_blackhole"])?;
            found |= o.ok();
        }
        if found {
            Ok(())
        } else {
            Err(err(format!("nft: no lab_blackhole table in {ns}")))
        }
    }

    /// The link-local address of `dev` in `ns` (`ip -6 addr show dev DEV scope link`).
    pub fn link_local(&self, ns: &str, dev: &str) -> io::Result<String> {
        let o = self.run(
            ns,
            "ip",
            &["-6", "-o", "addr", "show", "dev", dev, "scope", "link"],
        )?;
        o.stdout
            .split_whitespace()
            .find(|w| w.starts_with("fe80:"))
            .and_then(|w| w.split('/').next())
            .map(str::to_owned)
            .ok_or_else(|| {
                err(format!(
                    "no link-local address on {dev} in {ns}: {}",
                    o.stdout
                ))
            })
    }

    /// Sets a sysctl inside `ns`.
    pub fn sysctl(&self, ns: &str, key_value: &str) -> io::Result<()> {
        let o = self.run(ns, "sysctl", &["-qw", key_value])?;
        if o.ok() {
            Ok(())
        } else {
            Err(err(format!("sysctl {key_value}: {}", o.stderr.trim())))
        }
    }
}
