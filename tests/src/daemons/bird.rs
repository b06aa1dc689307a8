//! BIRD 1.6 (as Calico runs it) and BIRD 2, asked through `birdc`, and the parser of
//! `birdc show route all`.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::{check, wait_socket, Route};
use crate::{run_with_limit, Lab, ProcId, BIRD16_DIR};

/// A BIRD instance (1.6 from /opt/bird1.6, or 2 from the `bird2` package).
#[derive(Debug, Clone)]
pub struct Bird {
    /// Label.
    pub name: String,
    /// BIRD 1.6 rather than 2.
    pub v16: bool,
    /// BIRD 1.6's IPv6 daemon `bird6` (asked with `birdc6`) rather than `bird`: BIRD 1.6
    /// runs one daemon per address family, as Calico does on a dual-stack node.
    pub ipv6: bool,
    /// Control socket.
    pub socket: PathBuf,
    /// The process.
    pub proc: ProcId,
}

impl Bird {
    /// Writes `config` as `<name>.conf` and starts BIRD in the foreground in `ns`.
    pub fn start(lab: &mut Lab, name: &str, ns: &str, v16: bool, config: &str) -> io::Result<Bird> {
        Bird::spawn(lab, name, ns, v16, false, config)
    }

    /// Writes `config` as `<name>.conf` and starts BIRD 1.6's `bird6` in the foreground in
    /// `ns`, with its own control socket `<name>.ctl` (asked through `birdc6`).
    pub fn start6(lab: &mut Lab, name: &str, ns: &str, config: &str) -> io::Result<Bird> {
        Bird::spawn(lab, name, ns, true, true, config)
    }

    fn spawn(
        lab: &mut Lab,
        name: &str,
        ns: &str,
        v16: bool,
        ipv6: bool,
        config: &str,
    ) -> io::Result<Bird> {
        let conf = lab.write(&format!("{name}.conf"), config)?;
        let socket = lab.path(&format!("{name}.ctl"));
        let pid = lab.path(&format!("{name}.pid"));
        let bin = match (v16, ipv6) {
            (true, false) => Path::new(BIRD16_DIR).join("bird"),
            (true, true) => Path::new(BIRD16_DIR).join("bird6"),
            (false, _) => PathBuf::from("/usr/sbin/bird"),
        };
        let (c, s, p) = (
            conf.display().to_string(),
            socket.display().to_string(),
            pid.display().to_string(),
        );
        let proc = lab.spawn(name, ns, &bin, &["-f", "-c", &c, "-s", &s, "-P", &p], &[])?;
        wait_socket(lab, &socket, &format!("{name}: BIRD control socket"))?;
        Ok(Bird {
            name: name.to_owned(),
            v16,
            ipv6: v16 && ipv6,
            socket,
            proc,
        })
    }

    /// `birdc -s SOCKET ARGS` (`birdc6` for BIRD 1.6's `bird6`).
    pub fn birdc(&self, args: &[&str]) -> io::Result<String> {
        let bin = if self.v16 {
            Path::new(BIRD16_DIR).join(if self.ipv6 { "birdc6" } else { "birdc" })
        } else {
            PathBuf::from("/usr/sbin/birdc")
        };
        let mut cmd = Command::new(bin);
        cmd.arg("-s").arg(&self.socket).args(args);
        check(run_with_limit(cmd, Duration::from_secs(10))?, "birdc")
    }

    /// Whether protocol `proto` is Established.
    pub fn established(&self, proto: &str) -> io::Result<bool> {
        let out = self.birdc(&["show", "protocols", proto])?;
        Ok(out
            .lines()
            .any(|l| l.split_whitespace().next() == Some(proto) && l.contains("Established")))
    }

    /// Every route in BIRD's table (`show route all`), with BGP attributes.
    pub fn routes(&self) -> io::Result<Vec<Route>> {
        Ok(parse_bird_routes(&self.birdc(&["show", "route", "all"])?))
    }

    /// BIRD 2's BFD sessions (`show bfd sessions`).
    pub fn bfd_sessions(&self) -> io::Result<Vec<BirdBfd>> {
        Ok(parse_bird_bfd(&self.birdc(&["show", "bfd", "sessions"])?))
    }
}

/// One line of BIRD 2's `show bfd sessions`.
#[derive(Debug, Clone, PartialEq)]
pub struct BirdBfd {
    /// Peer address.
    pub address: String,
    /// Interface.
    pub interface: String,
    /// `Up`, `Down`, `Init`, `AdminDown`.
    pub state: String,
    /// The transmit interval in use (seconds).
    pub interval: f64,
    /// The detection time in use (seconds; 0 while not up).
    pub timeout: f64,
}

/// BIRD 2's `protocol bfd` for the interfaces matching `pattern` (`"*"`, `"eth0"`), intervals
/// in milliseconds; with `sha1_key`, keyed SHA1 authentication (key id 1). A BGP protocol
/// then says `bfd on;` (or `bfd { min rx interval ...; };` for its own timers); since BIRD's
/// BGP waits `error wait time` after any error, BFD included (default 60 s), a lab peer
/// also wants `error wait time 1,5;` to come back quickly.
pub fn bird2_bfd_protocol(
    pattern: &str,
    rx_ms: u32,
    tx_ms: u32,
    multiplier: u32,
    sha1_key: Option<&str>,
) -> String {
    let auth = sha1_key
        .map(|k| format!("    authentication keyed sha1;\n    password \"{k}\" {{ id 1; }};\n"))
        .unwrap_or_default();
    format!(
        "protocol bfd {{\n  interface \"{pattern}\" {{\n    min rx interval {rx_ms} ms;\n    min tx interval {tx_ms} ms;\n    multiplier {multiplier};\n{auth}  }};\n}}\n"
    )
}

/// Parses BIRD 2's `show bfd sessions`.
pub fn parse_bird_bfd(text: &str) -> Vec<BirdBfd> {
    text.lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            if w.len() < 6 || w[0].parse::<std::net::IpAddr>().is_err() {
                return None;
            }
            Some(BirdBfd {
                address: w[0].to_owned(),
                interface: w[1].to_owned(),
                state: w[2].to_owned(),
                interval: w[w.len() - 2].parse().unwrap_or(0.0),
                timeout: w[w.len() - 1].parse().unwrap_or(0.0),
            })
        })
        .collect()
}

/// Parses `birdc show route all` (BIRD 1.6 and 2).
pub fn parse_bird_routes(text: &str) -> Vec<Route> {
    let mut out: Vec<Route> = Vec::new();
    let mut prefix = String::new();
    for line in text.lines() {
        if line.trim().is_empty() || line.starts_with("BIRD ") || line.starts_with("Table ") {
            continue;
        }
        if line.starts_with('\t') {
            let l = line.trim();
            let Some(r) = out.last_mut() else { continue };
            if let Some((k, v)) = l.split_once(": ") {
                let v = v.trim();
                match k {
                    "BGP.origin" => r.origin = v.to_lowercase(),
                    "BGP.as_path" => r.as_path = v.split_whitespace().collect::<Vec<_>>().join(" "),
                    "BGP.next_hop" => {
                        r.next_hop = v.split_whitespace().next().unwrap_or_default().to_owned();
                    }
                    "BGP.local_pref" => r.local_pref = v.parse().ok(),
                    "BGP.med" => r.med = v.parse().ok(),
                    "BGP.originator_id" => r.originator_id = Some(v.to_owned()),
                    "BGP.cluster_list" => {
                        r.cluster_list = v.split_whitespace().map(str::to_owned).collect();
                    }
                    "BGP.community" => r.communities = bird_tuples(v),
                    "BGP.large_community" => r.large_communities = bird_tuples(v),
                    _ => {}
                }
            } else if let Some(l) = l.strip_prefix("BGP.as_path:") {
                r.as_path = l.split_whitespace().collect::<Vec<_>>().join(" ");
            }
            continue;
        }
        let indented = line.starts_with(' ');
        let mut words = line.split_whitespace();
        if !indented {
            match words.next() {
                Some(p) if p.contains('/') => prefix = p.to_owned(),
                _ => continue,
            }
        }
        let source = line
            .split_once('[')
            .and_then(|(_, r)| r.split_whitespace().next())
            .unwrap_or_default()
            .to_owned();
        out.push(Route {
            prefix: prefix.clone(),
            best: line.contains(" * "),
            source,
            ..Route::default()
        });
    }
    out
}

/// `(65000,100) (65000,1)` -> `["65000:100", "65000:1"]`; `(1, 2, 3)` -> `["1:2:3"]`.
fn bird_tuples(v: &str) -> Vec<String> {
    v.split(')')
        .filter_map(|t| {
            let t = t.trim().trim_start_matches('(');
            if t.is_empty() {
                None
            } else {
                Some(t.split(',').map(str::trim).collect::<Vec<_>>().join(":"))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const BIRD16: &str = "BIRD 1.6.8 ready.
198.18.2.0/26      via 192.0.2.12 on eth0 [Node_192_0_2_1 09:13:24 from 192.0.2.1] * (100/0) [i]
\tType: BGP unicast univ
\tBGP.origin: IGP
\tBGP.as_path: 
\tBGP.next_hop: 192.0.2.12
\tBGP.local_pref: 100
\tBGP.originator_id: 192.0.2.12
\tBGP.cluster_list: 192.0.2.254
                   via 192.0.2.12 on eth0 [Node_192_0_2_2 09:13:24 from 192.0.2.2] (100/0) [i]
\tType: BGP unicast univ
\tBGP.origin: IGP
\tBGP.as_path: 
\tBGP.next_hop: 192.0.2.12
\tBGP.local_pref: 100
198.19.24.0/24     via 192.0.2.1 on eth0 [Node_192_0_2_1 09:13:24] * (100/0) [AS45104i]
\tType: BGP unicast univ
\tBGP.origin: IGP
\tBGP.as_path: 45104
\tBGP.next_hop: 192.0.2.1
\tBGP.med: 0
\tBGP.local_pref: 200
198.18.1.0/26      blackhole [static1 09:07:55] * (200)
\tType: static unicast univ
";

    const BIRD2: &str = "BIRD 2.0.12 ready.
Table master4:
198.18.0.0/16        unicast [bgpd 09:11:06.452] * (100) [AS4200000001i]
\tvia 198.51.100.1 on eth0
\tType: BGP univ
\tBGP.origin: IGP
\tBGP.as_path: 4200000001
\tBGP.next_hop: 198.51.100.1
\tBGP.med: 50
\tBGP.local_pref: 100
\tBGP.community: (65000,100) (65000,1)
\tBGP.large_community: (4200000001, 1, 2)

Table master6:
2001:db8:1800::/40   unicast [bgpd6 09:11:06.452] * (100) [AS4200000001i]
\tvia 2001:db8:5100::1 on eth0
\tType: BGP univ
\tBGP.origin: IGP
\tBGP.as_path: 4200000001
\tBGP.next_hop: 2001:db8:5100::1 fe80::1
";

    #[test]
    fn bird2_bfd_sessions() {
        let t = "BIRD 2.0.12 ready.\nbfd1:\nIP address                Interface  State      Since         Interval  Timeout\n203.0.113.1               eth0       Up         15:08:47.404    0.300    0.900\n203.0.113.5               eth1       Down       15:08:53.713    1.000    0.000\n";
        let b = parse_bird_bfd(t);
        assert_eq!(b.len(), 2, "{b:?}");
        assert_eq!(b[0].address, "203.0.113.1");
        assert_eq!(b[0].interface, "eth0");
        assert_eq!(b[0].state, "Up");
        assert!((b[0].timeout - 0.9).abs() < 1e-9);
        assert_eq!(b[1].state, "Down");
        assert!((b[1].interval - 1.0).abs() < 1e-9);
    }

    #[test]
    fn bird16_routes_with_alternatives() {
        let r = parse_bird_routes(BIRD16);
        assert_eq!(r.len(), 4, "{r:#?}");
        assert_eq!(r[0].prefix, "198.18.2.0/26");
        assert!(r[0].best);
        assert_eq!(r[0].source, "Node_192_0_2_1");
        assert_eq!(r[0].as_path, "");
        assert_eq!(r[0].originator_id.as_deref(), Some("192.0.2.12"));
        assert_eq!(r[0].cluster_list, vec!["192.0.2.254"]);
        assert_eq!(r[1].prefix, "198.18.2.0/26");
        assert!(!r[1].best);
        assert_eq!(r[1].source, "Node_192_0_2_2");
        assert_eq!(r[2].as_path, "45104");
        assert_eq!(r[2].med, Some(0));
        assert_eq!(r[2].local_pref, Some(200));
        assert_eq!(r[3].prefix, "198.18.1.0/26");
        assert_eq!(r[3].next_hop, "");
    }

    #[test]
    fn bird2_routes_with_communities_and_ipv6() {
        let r = parse_bird_routes(BIRD2);
        assert_eq!(r.len(), 2, "{r:#?}");
        assert_eq!(r[0].communities, vec!["65000:100", "65000:1"]);
        assert_eq!(r[0].large_communities, vec!["4200000001:1:2"]);
        assert_eq!(r[0].med, Some(50));
        assert_eq!(r[0].origin, "igp");
        assert_eq!(r[1].prefix, "2001:db8:1800::/40");
        assert_eq!(r[1].next_hop, "2001:db8:5100::1");
    }
}
