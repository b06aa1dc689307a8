//! FRR's bgpd, standalone, asked through `vtysh`.

use std::io;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::{check, wait_socket, Route};
use crate::{err, run_with_limit, Lab, ProcId};

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
