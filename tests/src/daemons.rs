//! Starting each daemon inside a lab namespace and asking it, through its own CLI, what it
//! has learned: `bgpctl --json` (ours), `birdc`, `vtysh`, `gobgp`, OpenBGPD's `bgpctl`, and
//! ExaBGP's API output.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::{err, our_bin, run_with_limit, wait_until, Lab, Output, ProcId, BIRD16_DIR};

/// A route as a daemon's CLI shows it, normalised across daemons.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route {
    /// `198.18.0.0/16`, `2001:db8::/32`.
    pub prefix: String,
    /// The BGP next hop (first one, for IPv6 global + link-local).
    pub next_hop: String,
    /// AS numbers separated by single spaces, empty for an iBGP-internal route.
    pub as_path: String,
    /// `igp`, `egp`, `incomplete` (lower case).
    pub origin: String,
    /// LOCAL_PREF if present (or shown).
    pub local_pref: Option<u64>,
    /// MULTI_EXIT_DISC if present.
    pub med: Option<u64>,
    /// Communities as `A:B`.
    pub communities: Vec<String>,
    /// Large communities as `A:B:C`.
    pub large_communities: Vec<String>,
    /// ORIGINATOR_ID.
    pub originator_id: Option<String>,
    /// CLUSTER_LIST.
    pub cluster_list: Vec<String>,
    /// Selected as best by the daemon.
    pub best: bool,
    /// Where the daemon learned it (BIRD: protocol name; bgpd: neighbor), when shown.
    pub source: String,
}

/// The routes for `prefix`.
pub fn find<'a>(routes: &'a [Route], prefix: &str) -> Vec<&'a Route> {
    routes.iter().filter(|r| r.prefix == prefix).collect()
}

/// The prefixes, sorted and deduplicated.
pub fn prefixes(routes: &[Route]) -> Vec<String> {
    let mut v: Vec<String> = routes.iter().map(|r| r.prefix.clone()).collect();
    v.sort();
    v.dedup();
    v
}

fn check(o: Output, what: &str) -> io::Result<String> {
    if o.ok() {
        Ok(o.stdout)
    } else {
        Err(err(format!(
            "{what} failed ({:?}): {}{}",
            o.status,
            o.stdout.trim(),
            o.stderr.trim()
        )))
    }
}

fn wait_socket(lab: &mut Lab, path: &Path, what: &str) -> io::Result<()> {
    wait_until(Duration::from_secs(20), what, || {
        lab.check_alive()?;
        Ok(path.exists())
    })
}

// ------------------------------------------------------------------------------------------
// bgpd (ours)
// ------------------------------------------------------------------------------------------

/// One of our bgpd instances inside a lab namespace.
#[derive(Debug, Clone)]
pub struct Bgpd {
    /// Label (log file `<name>.log`).
    pub name: String,
    /// Namespace.
    pub ns: String,
    /// Control socket.
    pub socket: PathBuf,
    /// Configuration file.
    pub config: PathBuf,
    /// The process.
    pub proc: ProcId,
}

/// One line of `bgpctl --json show summary`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Neighbor name (dynamic sessions: group name).
    pub name: String,
    /// Peer address.
    pub address: String,
    /// `established`, `idle`, ...
    pub state: String,
    /// Prefixes received.
    pub received: u64,
}

impl Bgpd {
    /// Writes `config` (with `{socket}` replaced) as `<name>.toml` and starts bgpd in `ns`
    /// (RUST_LOG=debug unless set), waiting for its control socket.
    pub fn start(lab: &mut Lab, name: &str, ns: &str, config: &str) -> io::Result<Bgpd> {
        let socket = lab.path(&format!("{name}.sock"));
        let text = config.replace("{socket}", &socket.display().to_string());
        let path = lab.write(&format!("{name}.toml"), &text)?;
        let bin = our_bin("bgpd")?;
        let level = std::env::var("RUST_LOG").unwrap_or_else(|_| "debug".into());
        let cfg = path.display().to_string();
        let proc = lab.spawn(name, ns, &bin, &["--config", &cfg], &[("RUST_LOG", &level)])?;
        wait_socket(lab, &socket, &format!("{name}: bgpd control socket"))?;
        Ok(Bgpd {
            name: name.to_owned(),
            ns: ns.to_owned(),
            socket,
            config: path,
            proc,
        })
    }

    fn bgpctl(&self, json: bool, args: &[&str]) -> io::Result<Output> {
        let mut cmd = Command::new(our_bin("bgpctl")?);
        cmd.arg("--socket").arg(&self.socket);
        if json {
            cmd.arg("--json");
        }
        cmd.args(args);
        run_with_limit(cmd, Duration::from_secs(10))
    }

    /// `bgpctl --json ARGS`, parsed.
    pub fn ctl(&self, args: &[&str]) -> io::Result<Value> {
        let out = check(self.bgpctl(true, args)?, "bgpctl")?;
        serde_json::from_str(&out).map_err(|e| err(format!("bgpctl output: {e}: {out}")))
    }

    /// `bgpctl ARGS` as a person sees it.
    pub fn ctl_text(&self, args: &[&str]) -> io::Result<String> {
        let o = self.bgpctl(false, args)?;
        Ok(format!("{}{}", o.stdout, o.stderr))
    }

    /// The sessions (`show summary`).
    pub fn sessions(&self) -> io::Result<Vec<Session>> {
        let v = self.ctl(&["show", "summary"])?;
        Ok(v.as_array()
            .map(|rows| {
                rows.iter()
                    .map(|r| Session {
                        name: r["name"].as_str().unwrap_or_default().to_owned(),
                        address: r["address"].as_str().unwrap_or_default().to_owned(),
                        state: r["state"].as_str().unwrap_or_default().to_owned(),
                        received: r["prefixes_received"].as_u64().unwrap_or(0),
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Established sessions whose name or address is in `names`.
    pub fn established(&self, names: &[&str]) -> io::Result<usize> {
        Ok(self
            .sessions()?
            .iter()
            .filter(|s| {
                s.state == "established"
                    && names
                        .iter()
                        .any(|n| *n == s.name || *n == s.address || s.name.starts_with(n))
            })
            .count())
    }

    /// Rows of `show rib ARGS`.
    pub fn rib(&self, args: &[&str]) -> io::Result<Vec<Route>> {
        let mut a = vec!["show", "rib"];
        a.extend_from_slice(args);
        let v = self.ctl(&a)?;
        let strs = |x: &Value| -> Vec<String> {
            x.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|e| e.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        Ok(v.as_array()
            .map(|rows| {
                rows.iter()
                    .map(|r| Route {
                        prefix: r["prefix"].as_str().unwrap_or_default().to_owned(),
                        next_hop: r["next_hop"].as_str().unwrap_or_default().to_owned(),
                        as_path: r["as_path"].as_str().unwrap_or_default().to_owned(),
                        origin: r["origin"].as_str().unwrap_or_default().to_owned(),
                        local_pref: r["local_pref"].as_u64(),
                        med: r["med"].as_u64(),
                        communities: strs(&r["communities"]),
                        large_communities: strs(&r["large_communities"]),
                        originator_id: r["originator_id"].as_str().map(str::to_owned),
                        cluster_list: strs(&r["cluster_list"]),
                        best: r["best"].as_bool().unwrap_or(false),
                        source: r["neighbor"].as_str().unwrap_or_default().to_owned(),
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The daemon's log so far.
    pub fn log(&self, lab: &Lab) -> String {
        std::fs::read_to_string(lab.path(&format!("{}.log", self.name))).unwrap_or_default()
    }
}

// ------------------------------------------------------------------------------------------
// BIRD 1.6 and BIRD 2
// ------------------------------------------------------------------------------------------

/// A BIRD instance (1.6 from /opt/bird1.6, or 2 from the `bird2` package).
#[derive(Debug, Clone)]
pub struct Bird {
    /// Label.
    pub name: String,
    /// BIRD 1.6 rather than 2.
    pub v16: bool,
    /// Control socket.
    pub socket: PathBuf,
    /// The process.
    pub proc: ProcId,
}

impl Bird {
    /// Writes `config` as `<name>.conf` and starts BIRD in the foreground in `ns`.
    pub fn start(lab: &mut Lab, name: &str, ns: &str, v16: bool, config: &str) -> io::Result<Bird> {
        let conf = lab.write(&format!("{name}.conf"), config)?;
        let socket = lab.path(&format!("{name}.ctl"));
        let pid = lab.path(&format!("{name}.pid"));
        let bin = if v16 {
            Path::new(BIRD16_DIR).join("bird")
        } else {
            PathBuf::from("/usr/sbin/bird")
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
            socket,
            proc,
        })
    }

    /// `birdc -s SOCKET ARGS`.
    pub fn birdc(&self, args: &[&str]) -> io::Result<String> {
        let bin = if self.v16 {
            Path::new(BIRD16_DIR).join("birdc")
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

// ------------------------------------------------------------------------------------------
// FRR
// ------------------------------------------------------------------------------------------

/// FRR's bgpd, standalone (no zebra, no kernel routes), with a private vty socket directory.
#[derive(Debug, Clone)]
pub struct Frr {
    /// Label.
    pub name: String,
    /// vty socket directory.
    pub vty: PathBuf,
    /// The process.
    pub proc: ProcId,
}

impl Frr {
    /// Writes `config` and starts `bgpd -Z -n -S -l LISTEN` in `ns`.
    ///
    /// `-Z`: no zebra; `-n`: no kernel routes (`-l` alone still installs them);
    /// `-S`: no user switch (so root may run it on our scratch directory).
    pub fn start(
        lab: &mut Lab,
        name: &str,
        ns: &str,
        listen: &str,
        config: &str,
    ) -> io::Result<Frr> {
        let conf = lab.write(&format!("{name}.frr.conf"), config)?;
        let vty = lab.path(&format!("{name}.vty"));
        std::fs::create_dir_all(&vty)?;
        let (c, v, pid, log) = (
            conf.display().to_string(),
            vty.display().to_string(),
            vty.join("bgpd.pid").display().to_string(),
            format!("file:{}", lab.path(&format!("{name}.frr.log")).display()),
        );
        let proc = lab.spawn(
            name,
            ns,
            crate::FRR_BGPD,
            &[
                "-Z",
                "-n",
                "-S",
                "-f",
                &c,
                "-i",
                &pid,
                "--vty_socket",
                &v,
                "-P",
                "0",
                "-l",
                listen,
                "-p",
                "179",
                "--log",
                &log,
                "--log-level",
                "informational",
            ],
            &[],
        )?;
        wait_socket(
            lab,
            &vty.join("bgpd.vty"),
            &format!("{name}: FRR vty socket"),
        )?;
        Ok(Frr {
            name: name.to_owned(),
            vty,
            proc,
        })
    }

    /// `vtysh --vty_socket DIR -c CMD`.
    pub fn vtysh(&self, cmd: &str) -> io::Result<String> {
        let mut c = Command::new("vtysh");
        c.arg("--vty_socket").arg(&self.vty).args(["-c", cmd]);
        check(run_with_limit(c, Duration::from_secs(10))?, "vtysh")
    }

    /// Whether the session to `peer` is Established.
    pub fn established(&self, peer: &str) -> io::Result<bool> {
        let out = self.vtysh(&format!("show bgp neighbors {peer} json"))?;
        Ok(out.contains("\"bgpState\":\"Established\""))
    }

    /// Every path in `show bgp AFI unicast json` (`afi`: `ipv4`/`ipv6`), basic attributes.
    pub fn routes(&self, afi: &str) -> io::Result<Vec<Route>> {
        let out = self.vtysh(&format!("show bgp {afi} unicast json"))?;
        let v: Value = serde_json::from_str(&out).map_err(|e| err(format!("vtysh json: {e}")))?;
        let mut routes = Vec::new();
        if let Some(map) = v["routes"].as_object() {
            for (prefix, paths) in map {
                for p in paths.as_array().into_iter().flatten() {
                    routes.push(Route {
                        prefix: prefix.clone(),
                        next_hop: p["nexthops"][0]["ip"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                        as_path: p["path"].as_str().unwrap_or_default().to_owned(),
                        origin: p["origin"].as_str().unwrap_or_default().to_lowercase(),
                        local_pref: p["locPrf"].as_u64(),
                        med: p["metric"].as_u64(),
                        best: p["bestpath"].as_bool().unwrap_or(false),
                        source: p["peerId"].as_str().unwrap_or_default().to_owned(),
                        ..Route::default()
                    });
                }
            }
        }
        Ok(routes)
    }

    /// Full attributes of every path for one prefix (`show bgp AFI unicast PREFIX json`).
    pub fn route_detail(&self, afi: &str, prefix: &str) -> io::Result<Vec<Route>> {
        let out = self.vtysh(&format!("show bgp {afi} unicast {prefix} json"))?;
        let v: Value = serde_json::from_str(&out).map_err(|e| err(format!("vtysh json: {e}")))?;
        let words = |x: &Value| -> Vec<String> {
            x["string"]
                .as_str()
                .map(|s| s.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default()
        };
        let mut routes = Vec::new();
        for p in v["paths"].as_array().into_iter().flatten() {
            routes.push(Route {
                prefix: prefix.to_owned(),
                next_hop: p["nexthops"][0]["ip"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                as_path: p["aspath"]["string"]
                    .as_str()
                    .unwrap_or_default()
                    .replace("Local", "")
                    .trim()
                    .to_owned(),
                origin: p["origin"].as_str().unwrap_or_default().to_lowercase(),
                local_pref: p["localpref"].as_u64(),
                med: p["metric"].as_u64().or_else(|| p["med"].as_u64()),
                communities: words(&p["community"]),
                large_communities: words(&p["largeCommunity"]),
                originator_id: p["originatorId"].as_str().map(str::to_owned),
                cluster_list: p["clusterList"]["list"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
                best: p["bestpath"]["overall"].as_bool().unwrap_or(false),
                source: p["peer"]["peerId"].as_str().unwrap_or_default().to_owned(),
            });
        }
        Ok(routes)
    }
}
