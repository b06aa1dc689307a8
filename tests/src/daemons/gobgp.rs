//! GoBGP: gobgpd, asked through the `gobgp` CLI over its gRPC API.

use std::io;
use std::time::Duration;

use serde_json::Value;

use super::{check, Route};
use crate::{err, wait_until, Lab, ProcId};

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
