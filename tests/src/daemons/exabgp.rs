//! ExaBGP, whose table is rebuilt from the UPDATEs its API process records.

use std::io;
use std::path::PathBuf;

use serde_json::Value;

use super::Route;
use crate::{Lab, ProcId};

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
