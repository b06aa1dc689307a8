//! Our bgpd: started on a generated configuration, asked through `bgpctl --json`.

use std::io;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::{check, wait_socket, Route};
use crate::{err, our_bin, run_with_limit, Lab, Output, ProcId};

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

/// One object of `bgpctl --json show bfd`.
#[derive(Debug, Clone, PartialEq)]
pub struct BfdSession {
    /// Neighbor name.
    pub neighbor: String,
    /// Peer address.
    pub address: String,
    /// `up`, `down`, `init`, `admin-down`.
    pub state: String,
    /// Our discriminator.
    pub local_discriminator: u64,
    /// The peer's discriminator (0 until heard).
    pub remote_discriminator: u64,
    /// The transmit interval in use.
    pub tx_interval_ms: u64,
    /// The detection time in use.
    pub detect_time_ms: u64,
    /// Up to Down transitions.
    pub flaps: u64,
    /// Local diagnostic.
    pub diagnostic: String,
    /// Seconds since Up (`None` when not up).
    pub uptime_secs: Option<u64>,
    /// The object as bgpctl printed it (for failure messages and fields not parsed here).
    pub raw: Value,
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

    /// The BFD sessions (`show bfd`).
    pub fn bfd(&self) -> io::Result<Vec<BfdSession>> {
        let v = self.ctl(&["show", "bfd"])?;
        let rows = v
            .as_array()
            .ok_or_else(|| err(format!("show bfd: not an array: {v}")))?;
        let s = |x: &Value| x.as_str().unwrap_or_default().to_owned();
        Ok(rows
            .iter()
            .map(|r| BfdSession {
                neighbor: s(&r["neighbor"]),
                address: s(&r["address"]),
                state: s(&r["state"]),
                local_discriminator: r["local_discriminator"].as_u64().unwrap_or(0),
                remote_discriminator: r["remote_discriminator"].as_u64().unwrap_or(0),
                tx_interval_ms: r["tx_interval_ms"].as_u64().unwrap_or(0),
                detect_time_ms: r["detect_time_ms"].as_u64().unwrap_or(0),
                flaps: r["flaps"].as_u64().unwrap_or(0),
                diagnostic: s(&r["diagnostic"]),
                uptime_secs: r["uptime_secs"].as_u64(),
                raw: r.clone(),
            })
            .collect())
    }

    /// The BFD session with neighbor `name` (or address), if any.
    pub fn bfd_session(&self, name: &str) -> io::Result<Option<BfdSession>> {
        Ok(self
            .bfd()?
            .into_iter()
            .find(|b| b.neighbor == name || b.address == name))
    }

    /// The daemon's log so far.
    pub fn log(&self, lab: &Lab) -> String {
        std::fs::read_to_string(lab.path(&format!("{}.log", self.name))).unwrap_or_default()
    }
}
