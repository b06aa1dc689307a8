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
    /// (RUST_LOG=debug unless set), waiting for its control socket. Without a `state_dir` in
    /// `config`, the state directory is the lab's, one per namespace: a bgpd started again in
    /// the same namespace finds what the previous one recorded, as after a systemd restart.
    pub fn start(lab: &mut Lab, name: &str, ns: &str, config: &str) -> io::Result<Bgpd> {
        let socket = lab.path(&format!("{name}.sock"));
        let mut text = config.replace("{socket}", &socket.display().to_string());
        if !text.contains("state_dir") {
            let state = lab.path(&format!("{ns}.state"));
            text = text.replacen(
                "[global]\n",
                &format!("[global]\nstate_dir = \"{}\"\n", state.display()),
                1,
            );
        }
        let path = lab.write(&format!("{name}.toml"), &text)?;
        let bin = our_bin("bgpd")?;
        let level = std::env::var("RUST_LOG").unwrap_or_else(|_| "debug,bgpd::control=info".into());
        let cfg = path.display().to_string();
        let proc = lab.spawn(
            name,
            ns,
            &bin,
            &["--config", &cfg],
            &[("RUST_LOG", &level), ("NO_COLOR", "1")],
        )?;
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

    /// Established sessions whose name (dynamic sessions: group name) or address is in
    /// `names`.
    pub fn established(&self, names: &[&str]) -> io::Result<usize> {
        Ok(self
            .sessions()?
            .iter()
            .filter(|s| {
                s.state == "established" && names.iter().any(|n| *n == s.name || *n == s.address)
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
        listen: &[&str],
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
        let mut args = vec![
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
            "-p",
            "179",
            "--log",
            &log,
            "--log-level",
            "informational",
        ];
        for l in listen {
            args.extend_from_slice(&["-l", l]);
        }
        let proc = lab.spawn(name, ns, crate::FRR_BGPD, &args, &[])?;
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
                local_pref: p["locPrf"].as_u64().or_else(|| p["localpref"].as_u64()),
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

// ------------------------------------------------------------------------------------------
// GoBGP
// ------------------------------------------------------------------------------------------

/// gobgpd with its gRPC API on the namespace's loopback.
#[derive(Debug, Clone)]
pub struct GoBgp {
    /// Label.
    pub name: String,
    /// Namespace (the API listens on its 127.0.0.1).
    pub ns: String,
    /// The process.
    pub proc: ProcId,
}

impl GoBgp {
    /// Writes the TOML `config` and starts gobgpd in `ns`, waiting for its API.
    pub fn start(lab: &mut Lab, name: &str, ns: &str, config: &str) -> io::Result<GoBgp> {
        let conf = lab.write(&format!("{name}.gobgpd.toml"), config)?;
        let c = conf.display().to_string();
        let proc = lab.spawn(
            name,
            ns,
            "/usr/bin/gobgpd",
            &[
                "-f",
                &c,
                "-t",
                "toml",
                "--api-hosts",
                "127.0.0.1:50051",
                "--pprof-disable",
                "-l",
                "info",
            ],
            &[],
        )?;
        let g = GoBgp {
            name: name.to_owned(),
            ns: ns.to_owned(),
            proc,
        };
        wait_until(Duration::from_secs(20), "gobgpd API", || {
            lab.check_alive()?;
            Ok(g.gobgp(lab, &["global"]).is_ok())
        })?;
        Ok(g)
    }

    /// `gobgp -u 127.0.0.1 -p 50051 ARGS` inside the namespace.
    pub fn gobgp(&self, lab: &Lab, args: &[&str]) -> io::Result<String> {
        let mut a = vec!["-u", "127.0.0.1", "-p", "50051"];
        a.extend_from_slice(args);
        check(lab.run(&self.ns, "/usr/bin/gobgp", &a)?, "gobgp")
    }

    /// Whether the session to `peer` is established.
    pub fn established(&self, lab: &Lab, peer: &str) -> io::Result<bool> {
        let out = self.gobgp(lab, &["-j", "neighbor", peer])?;
        let v: Value = serde_json::from_str(&out).map_err(|e| err(format!("gobgp json: {e}")))?;
        Ok(v["state"]["session_state"].as_i64() == Some(6)
            || v["state"]["session_state"].as_str() == Some("established"))
    }

    /// The global RIB for `afi` (`ipv4`/`ipv6`).
    pub fn routes(&self, lab: &Lab, afi: &str) -> io::Result<Vec<Route>> {
        let out = self.gobgp(lab, &["-j", "global", "rib", "-a", afi])?;
        let v: Value =
            serde_json::from_str(&out).map_err(|e| err(format!("gobgp json: {e}: {out}")))?;
        let mut routes = Vec::new();
        for (prefix, paths) in v.as_object().into_iter().flatten() {
            for p in paths.as_array().into_iter().flatten() {
                let mut r = Route {
                    prefix: prefix.clone(),
                    best: p["best"].as_bool().unwrap_or(false),
                    source: p["neighbor-ip"].as_str().unwrap_or_default().to_owned(),
                    ..Route::default()
                };
                for a in p["attrs"].as_array().into_iter().flatten() {
                    match a["type"].as_u64() {
                        Some(1) => {
                            r.origin = match a["value"].as_u64() {
                                Some(0) => "igp",
                                Some(1) => "egp",
                                _ => "incomplete",
                            }
                            .into();
                        }
                        Some(2) => {
                            let mut asns = Vec::new();
                            for seg in a["as_paths"].as_array().into_iter().flatten() {
                                for n in seg["asns"].as_array().into_iter().flatten() {
                                    asns.push(n.to_string());
                                }
                            }
                            r.as_path = asns.join(" ");
                        }
                        Some(3) | Some(14) => {
                            if let Some(nh) = a["nexthop"].as_str() {
                                r.next_hop = nh.to_owned();
                            }
                        }
                        Some(4) => r.med = a["metric"].as_u64(),
                        Some(5) => r.local_pref = a["value"].as_u64(),
                        Some(8) => {
                            r.communities = a["communities"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .filter_map(Value::as_u64)
                                .map(|c| format!("{}:{}", c >> 16, c & 0xffff))
                                .collect();
                        }
                        Some(9) => r.originator_id = a["value"].as_str().map(str::to_owned),
                        Some(10) => {
                            r.cluster_list = a["value"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .filter_map(|x| x.as_str().map(str::to_owned))
                                .collect();
                        }
                        Some(32) => {
                            r.large_communities = a["value"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .map(|l| {
                                    format!(
                                        "{}:{}:{}",
                                        l["ASN"].as_u64().unwrap_or(0),
                                        l["LocalData1"].as_u64().unwrap_or(0),
                                        l["LocalData2"].as_u64().unwrap_or(0)
                                    )
                                })
                                .collect();
                        }
                        _ => {}
                    }
                }
                routes.push(r);
            }
        }
        Ok(routes)
    }
}

// ------------------------------------------------------------------------------------------
// OpenBGPD
// ------------------------------------------------------------------------------------------

/// OpenBGPD (portable), in the foreground. It runs its session engine as `_openbgpd`
/// chrooted into `/run/openbgpd`, which must exist (created if missing, left in place).
#[derive(Debug, Clone)]
pub struct OpenBgpd {
    /// Label.
    pub name: String,
    /// Control socket.
    pub socket: PathBuf,
    /// The process.
    pub proc: ProcId,
}

impl OpenBgpd {
    /// Writes `config` (with `{socket}` replaced) and starts `bgpd -d -f` in `ns`.
    pub fn start(lab: &mut Lab, name: &str, ns: &str, config: &str) -> io::Result<OpenBgpd> {
        std::fs::create_dir_all("/run/openbgpd")?;
        let socket = lab.path(&format!("{name}.obgpd.sock"));
        let text = config.replace("{socket}", &socket.display().to_string());
        let conf = lab.write(&format!("{name}.obgpd.conf"), &text)?;
        let c = conf.display().to_string();
        let proc = lab.spawn(name, ns, crate::OPENBGPD, &["-d", "-v", "-f", &c], &[])?;
        wait_socket(lab, &socket, &format!("{name}: OpenBGPD control socket"))?;
        Ok(OpenBgpd {
            name: name.to_owned(),
            socket,
            proc,
        })
    }

    /// OpenBGPD's `bgpctl -s SOCKET ARGS`.
    pub fn bgpctl(&self, args: &[&str]) -> io::Result<String> {
        let mut c = Command::new(crate::OPENBGPCTL);
        c.arg("-s").arg(&self.socket).args(args);
        check(
            run_with_limit(c, Duration::from_secs(10))?,
            "OpenBGPD bgpctl",
        )
    }

    /// Whether the session to `peer` is Established.
    pub fn established(&self, peer: &str) -> io::Result<bool> {
        Ok(self
            .bgpctl(&["show", "neighbor", peer])?
            .contains("BGP state = Established"))
    }

    /// The Loc-RIB (`bgpctl -j show rib detail`).
    pub fn routes(&self) -> io::Result<Vec<Route>> {
        let out = self.bgpctl(&["-j", "show", "rib", "detail"])?;
        // Kept beside the socket for post-mortems (`LAB_KEEP_LOGS=1`).
        let _ = std::fs::write(self.socket.with_extension("rib.json"), &out);
        let v: Value =
            serde_json::from_str(&out).map_err(|e| err(format!("bgpctl json: {e}: {out}")))?;
        let strs = |x: &Value| -> Vec<String> {
            x.as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c.as_str().map(str::to_owned))
                .collect()
        };
        let mut routes = Vec::new();
        for r in v["rib"].as_array().into_iter().flatten() {
            // ORIGINATOR_ID and CLUSTER_LIST come in an "attributes" array of objects.
            let attr = |key: &str| -> &Value {
                r["attributes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|a| !a[key].is_null())
                    .map_or(&Value::Null, |a| &a[key])
            };
            routes.push(Route {
                prefix: r["prefix"].as_str().unwrap_or_default().to_owned(),
                next_hop: r["exit_nexthop"].as_str().unwrap_or_default().to_owned(),
                as_path: r["aspath"].as_str().unwrap_or_default().to_owned(),
                origin: r["origin"].as_str().unwrap_or_default().to_lowercase(),
                local_pref: r["localpref"].as_u64(),
                med: r["metric"].as_u64().or_else(|| r["med"].as_u64()),
                communities: strs(&r["communities"]),
                large_communities: strs(&r["large_communities"]),
                originator_id: attr("originator").as_str().map(str::to_owned),
                cluster_list: strs(attr("cluster_list")),
                best: r["best"].as_bool().unwrap_or(false),
                source: r["neighbor"]["remote_addr"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            });
        }
        Ok(routes)
    }
}

// ------------------------------------------------------------------------------------------
// ExaBGP
// ------------------------------------------------------------------------------------------

/// ExaBGP, in the foreground, with an API process that appends every received UPDATE (JSON)
/// to `<name>.received.json`.
#[derive(Debug, Clone)]
pub struct ExaBgp {
    /// Label.
    pub name: String,
    /// Where received updates go, one JSON object a line.
    pub received: PathBuf,
    /// The process.
    pub proc: ProcId,
}

impl ExaBgp {
    /// Starts ExaBGP in `ns` on `config`, in which `{api}` is replaced by the API process
    /// block and `{api_name}` by its name (use `api { processes [ {api_name} ]; receive {
    /// parsed; update; } }` in the neighbor).
    pub fn start(lab: &mut Lab, name: &str, ns: &str, config: &str) -> io::Result<ExaBgp> {
        let received = lab.path(&format!("{name}.received.json"));
        let script = lab.write(
            &format!("{name}.api.sh"),
            // Not `exec`: the shell keeps ExaBGP's pipe (our stdout) open, or ExaBGP takes
            // the closed pipe for a dead process.
            &format!("#!/bin/sh\ncat >> {}\n", received.display()),
        )?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
        }
        let api = format!(
            "process recv {{\n    run {};\n    encoder json;\n}}\n",
            script.display()
        );
        let text = config.replace("{api}", &api).replace("{api_name}", "recv");
        let conf = lab.write(&format!("{name}.exabgp.conf"), &text)?;
        let c = conf.display().to_string();
        let pid = lab
            .path(&format!("{name}.exabgp.pid"))
            .display()
            .to_string();
        let mut env = vec![
            ("exabgp.daemon.user", "root"),
            ("exabgp.daemon.drop", "false"),
            ("exabgp.daemon.pid", pid.as_str()),
            ("exabgp.api.cli", "false"),
            ("exabgp.log.destination", "stdout"),
            ("exabgp.tcp.bind", ""),
        ];
        // LAB_EXABGP_DEBUG=1: every message in and out, decoded, in the log.
        if std::env::var_os("LAB_EXABGP_DEBUG").is_some() {
            env.extend([
                ("exabgp.log.level", "DEBUG"),
                ("exabgp.log.packets", "true"),
                ("exabgp.log.message", "true"),
                ("exabgp.log.parser", "true"),
            ]);
        }
        let proc = lab.spawn(name, ns, "/usr/sbin/exabgp", &[&c], &env)?;
        Ok(ExaBgp {
            name: name.to_owned(),
            received,
            proc,
        })
    }

    /// The routes ExaBGP holds after replaying every UPDATE it received (announce/withdraw).
    pub fn routes(&self) -> io::Result<Vec<Route>> {
        let text = std::fs::read_to_string(&self.received).unwrap_or_default();
        let mut table: Vec<Route> = Vec::new();
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let u = &v["neighbor"]["message"]["update"];
            if u.is_null() {
                continue;
            }
            let a = &u["attribute"];
            let strs = |x: &Value| -> Vec<String> {
                x.as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| match c {
                        Value::Array(parts) => parts
                            .iter()
                            .map(|p| p.to_string())
                            .collect::<Vec<_>>()
                            .join(":"),
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect()
            };
            for (_, fam) in u["withdraw"].as_object().into_iter().flatten() {
                for n in fam.as_array().into_iter().flatten() {
                    let p = n["nlri"].as_str().unwrap_or_default();
                    table.retain(|r| r.prefix != p);
                }
            }
            for (_, fam) in u["announce"].as_object().into_iter().flatten() {
                for (nh, nlris) in fam.as_object().into_iter().flatten() {
                    for n in nlris.as_array().into_iter().flatten() {
                        let p = n["nlri"].as_str().unwrap_or_default().to_owned();
                        table.retain(|r| r.prefix != p);
                        table.push(Route {
                            prefix: p,
                            next_hop: nh.clone(),
                            as_path: a["as-path"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .map(|x| x.to_string())
                                .collect::<Vec<_>>()
                                .join(" "),
                            origin: a["origin"].as_str().unwrap_or_default().to_owned(),
                            local_pref: a["local-preference"].as_u64(),
                            med: a["med"].as_u64(),
                            communities: strs(&a["community"]),
                            large_communities: strs(&a["large-community"]),
                            originator_id: a["originator-id"].as_str().map(str::to_owned),
                            cluster_list: strs(&a["cluster-list"]),
                            best: true,
                            source: v["neighbor"]["address"]["peer"]
                                .as_str()
                                .unwrap_or_default()
                                .to_owned(),
                        });
                    }
                }
            }
        }
        Ok(table)
    }
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
