//! FRR's bgpd, standalone or with zebra and bfdd (BFD), asked through `vtysh`.

use std::io;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::{check, wait_socket, Route};
use crate::{err, run_with_limit, Lab, ProcId};

/// FRR's bgpd, standalone (no zebra, no kernel routes) or with zebra and bfdd
/// ([`Frr::start_with_bfd`]), with a private vty socket directory.
#[derive(Debug, Clone)]
pub struct Frr {
    /// Label.
    pub name: String,
    /// vty socket directory.
    pub vty: PathBuf,
    /// The process (bgpd).
    pub proc: ProcId,
    /// zebra and bfdd when started with [`Frr::start_with_bfd`].
    pub helpers: Vec<ProcId>,
}

/// One BFD session as FRR's bfdd shows it (`show bfd peers json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrrBfdPeer {
    /// Peer address.
    pub peer: String,
    /// `up`, `down`, `init`, `shutdown`.
    pub status: String,
    /// Multi-hop (RFC 5883) rather than single-hop (RFC 5881).
    pub multihop: bool,
    /// Our (FRR's) discriminator.
    pub id: u64,
    /// The peer's discriminator (0 until heard).
    pub remote_id: u64,
    /// Local diagnostic (`ok`, `control detection time expired`, ...).
    pub diagnostic: String,
    /// The peer's advertised Required Min RX Interval (ms).
    pub remote_rx_ms: u64,
    /// The peer's advertised Desired Min TX Interval (ms).
    pub remote_tx_ms: u64,
    /// The peer's Detect Mult.
    pub remote_multiplier: u64,
}

/// FRR's `bfd` block with one profile (bfdd configuration): intervals in milliseconds.
pub fn frr_bfd_profile(name: &str, rx_ms: u32, tx_ms: u32, multiplier: u32) -> String {
    format!(
        "bfd\n profile {name}\n  receive-interval {rx_ms}\n  transmit-interval {tx_ms}\n  detect-multiplier {multiplier}\n !\n!\n"
    )
}

/// Starts FRR's bgpd in `ns` on `conf` (`-S`: no user switch, so root may run it on our
/// scratch directory), its vty socket and pid file in `vty`, listening on `listen`, with
/// `zebra` saying how it reaches zebra (`-Z -n`: none; `-z PATH`: that socket); waits for
/// its vty socket.
fn spawn_bgpd(
    lab: &mut Lab,
    name: &str,
    ns: &str,
    conf: &std::path::Path,
    vty: &std::path::Path,
    listen: &[&str],
    zebra: &[&str],
) -> io::Result<ProcId> {
    let (c, v, pid, log) = (
        conf.display().to_string(),
        vty.display().to_string(),
        vty.join("bgpd.pid").display().to_string(),
        format!("file:{}", lab.path(&format!("{name}.frr.log")).display()),
    );
    let mut args: Vec<&str> = zebra.to_vec();
    args.extend_from_slice(&[
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
    ]);
    for l in listen {
        args.extend_from_slice(&["-l", l]);
    }
    let proc = lab.spawn(name, ns, crate::FRR_BGPD, &args, &[])?;
    wait_socket(
        lab,
        &vty.join("bgpd.vty"),
        &format!("{name}: FRR vty socket"),
    )?;
    Ok(proc)
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
        let proc = spawn_bgpd(lab, name, ns, &conf, &vty, listen, &["-Z", "-n"])?;
        Ok(Frr {
            name: name.to_owned(),
            vty,
            proc,
            helpers: Vec::new(),
        })
    }

    /// Starts zebra, bfdd and bgpd in `ns`, the way FRR runs BGP with BFD (bgpd registers
    /// its BFD sessions with bfdd through zebra): `bgpd_config` is bgpd's own configuration
    /// (`router bgp ...` with `neighbor X bfd` / `neighbor X bfd profile P`), `bfdd_config`
    /// bfdd's (see [`frr_bfd_profile`]). bgpd installs its routes into the namespace's kernel
    /// through zebra (unlike [`Frr::start`]).
    ///
    /// Each daemon reads its own file (`-f`: a daemon given the integrated file rejects the
    /// other daemons' blocks). Every socket lives in the private directory `<name>.vty`:
    /// the vty sockets (`--vty_socket`, which `vtysh --vty_socket` finds all three in), the
    /// zserv socket (`-z`) and bfdd's control socket (`--bfdctl`); `-P 0`: no TCP vty.
    /// zebra and bfdd have no `-S`: they run as `-u root -g frrvty` (privs_init insists that
    /// the user be in the vty group, and `-g` puts it there); their complaint that they
    /// could not chown the vty socket is harmless.
    ///
    /// FRR 8.4 registers a BGP neighbor's BFD session as multi-hop (UDP 4784) as soon as the
    /// neighbor has `ttl-security` (GTSM sets its TTL to 255): keep GTSM off for single-hop
    /// BFD.
    pub fn start_with_bfd(
        lab: &mut Lab,
        name: &str,
        ns: &str,
        listen: &[&str],
        bgpd_config: &str,
        bfdd_config: &str,
    ) -> io::Result<Frr> {
        Frr::start_with_helpers(lab, name, ns, listen, bgpd_config, Some(bfdd_config))
    }

    /// Starts zebra and bgpd in `ns` (as [`Frr::start_with_bfd`], without bfdd): bgpd
    /// installs its selected routes into the namespace's kernel through zebra, so that
    /// traffic follows its BGP choice.
    pub fn start_with_zebra(
        lab: &mut Lab,
        name: &str,
        ns: &str,
        listen: &[&str],
        bgpd_config: &str,
    ) -> io::Result<Frr> {
        Frr::start_with_helpers(lab, name, ns, listen, bgpd_config, None)
    }

    fn start_with_helpers(
        lab: &mut Lab,
        name: &str,
        ns: &str,
        listen: &[&str],
        bgpd_config: &str,
        bfdd_config: Option<&str>,
    ) -> io::Result<Frr> {
        let vty = lab.path(&format!("{name}.vty"));
        std::fs::create_dir_all(&vty)?;
        let p = |f: &str| vty.join(f).display().to_string();
        let (v, zserv) = (vty.display().to_string(), p("zserv.api"));
        let mut helpers = Vec::new();
        let mut daemons = vec![("zebra", format!("hostname {name}\n"))];
        if let Some(b) = bfdd_config {
            daemons.push(("bfdd", b.to_owned()));
        }
        for (daemon, config) in daemons {
            let conf = lab
                .write(&format!("{name}.{daemon}.conf"), &config)?
                .display()
                .to_string();
            let (pid, log) = (
                p(&format!("{daemon}.pid")),
                format!(
                    "file:{}",
                    lab.path(&format!("{name}.{daemon}.log")).display()
                ),
            );
            let mut args = vec![
                "-u",
                "root",
                "-g",
                "frrvty",
                "-f",
                &conf,
                "-i",
                &pid,
                "--vty_socket",
                &v,
                "-z",
                &zserv,
                "-P",
                "0",
                "--log",
                &log,
                "--log-level",
                "informational",
            ];
            let ctl = p("bfdd.sock");
            if daemon == "bfdd" {
                args.extend_from_slice(&["--bfdctl", &ctl]);
            }
            let bin = format!("/usr/lib/frr/{daemon}");
            helpers.push(lab.spawn(&format!("{name}-{daemon}"), ns, &bin, &args, &[])?);
            wait_socket(
                lab,
                &vty.join(format!("{daemon}.vty")),
                &format!("{name}: FRR {daemon} vty socket"),
            )?;
        }
        let conf = lab.write(&format!("{name}.frr.conf"), bgpd_config)?;
        let proc = spawn_bgpd(lab, name, ns, &conf, &vty, listen, &["-z", &zserv])?;
        Ok(Frr {
            name: name.to_owned(),
            vty,
            proc,
            helpers,
        })
    }

    /// bfdd's sessions (`show bfd peers json`; needs [`Frr::start_with_bfd`]).
    pub fn bfd_peers(&self) -> io::Result<Vec<FrrBfdPeer>> {
        let out = self.vtysh("show bfd peers json")?;
        let v: Value = serde_json::from_str(&out).map_err(|e| err(format!("vtysh json: {e}")))?;
        let s = |x: &Value| x.as_str().unwrap_or_default().to_owned();
        Ok(v.as_array()
            .into_iter()
            .flatten()
            .map(|p| FrrBfdPeer {
                peer: s(&p["peer"]),
                status: s(&p["status"]),
                multihop: p["multihop"].as_bool().unwrap_or(false),
                id: p["id"].as_u64().unwrap_or(0),
                remote_id: p["remote-id"].as_u64().unwrap_or(0),
                diagnostic: s(&p["diagnostic"]),
                remote_rx_ms: p["remote-receive-interval"].as_u64().unwrap_or(0),
                remote_tx_ms: p["remote-transmit-interval"].as_u64().unwrap_or(0),
                remote_multiplier: p["remote-detect-multiplier"].as_u64().unwrap_or(0),
            })
            .collect())
    }

    /// The BFD session with `peer`, if bfdd has one.
    pub fn bfd_peer(&self, peer: &str) -> io::Result<Option<FrrBfdPeer>> {
        Ok(self.bfd_peers()?.into_iter().find(|p| p.peer == peer))
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
