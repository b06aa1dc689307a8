//! OpenBGPD (portable), asked through its own `bgpctl`.

use std::io;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::{check, wait_socket, Route};
use crate::{err, run_with_limit, Lab, ProcId};

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
