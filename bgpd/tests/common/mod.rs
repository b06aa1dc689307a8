//! Runs real `bgpd` processes on loopback addresses for end-to-end tests, and asks them
//! through `bgpctl --json`, exactly as an operator would.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A running bgpd, killed on drop.
pub struct Bgpd {
    pub name: String,
    pub dir: PathBuf,
    pub socket: PathBuf,
    child: Option<Child>,
}

impl Bgpd {
    /// Writes `config` (with `{socket}` and `{dir}` replaced) and starts bgpd on it.
    pub fn start(name: &str, config: &str) -> Bgpd {
        Self::start_wrapped(name, config, &[])
    }

    /// As [`Bgpd::start`], with bgpd run by `wrapper` (e.g. `prlimit --nofile=64:64 --`).
    pub fn start_wrapped(name: &str, config: &str, wrapper: &[&str]) -> Bgpd {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("bgpd-test-{}-{n}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("bgpd.sock");
        let text = config
            .replace("{socket}", &socket.display().to_string())
            .replace("{dir}", &dir.display().to_string());
        let path = dir.join("bgpd.toml");
        std::fs::write(&path, text).unwrap();
        let log = std::fs::File::create(dir.join("bgpd.log")).unwrap();
        let bgpd = env!("CARGO_BIN_EXE_bgpd");
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(bgpd);
                c
            }
            None => Command::new(bgpd),
        };
        let child = command
            .arg("--config")
            .arg(&path)
            .env("RUST_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut d = Bgpd {
            name: name.to_owned(),
            dir,
            socket,
            child: Some(child),
        };
        d.wait_for(Duration::from_secs(10), "control socket", |d| {
            d.socket.exists()
        });
        d
    }

    /// Writes a new configuration (with `{socket}` and `{dir}` replaced as at start) for
    /// the next reload.
    pub fn write_config(&self, config: &str) {
        let text = config
            .replace("{socket}", &self.socket.display().to_string())
            .replace("{dir}", &self.dir.display().to_string());
        std::fs::write(self.dir.join("bgpd.toml"), text).unwrap();
    }

    /// The process ID, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// CPU time used so far (user and system), from `/proc/PID/stat`.
    pub fn cpu_time(&self) -> Duration {
        let stat = self
            .pid()
            .and_then(|p| std::fs::read_to_string(format!("/proc/{p}/stat")).ok())
            .unwrap_or_default();
        // Fields after the command name (which may hold spaces) ends with ')'.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let ticks: u64 = [11, 12]
            .iter()
            .filter_map(|i| fields.get(*i).and_then(|v| v.parse::<u64>().ok()))
            .sum();
        // USER_HZ is 100 on Linux.
        Duration::from_millis(ticks * 10)
    }

    /// Resident memory now (VmRSS), from `/proc/PID/status`.
    pub fn rss_kb(&self) -> u64 {
        self.pid()
            .and_then(|p| std::fs::read_to_string(format!("/proc/{p}/status")).ok())
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.split_whitespace().next()?.parse().ok())
            })
            .unwrap_or(0)
    }

    /// Sends a signal (`STOP`, `CONT`, ...) to the process.
    pub fn signal(&self, name: &str) {
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill")
                .arg(format!("-{name}"))
                .arg(pid.to_string())
                .status();
        }
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("bgpd.log")).unwrap_or_default()
    }

    /// Runs `bgpctl --json ARGS` against this daemon and parses the output.
    pub fn ctl(&self, args: &[&str]) -> serde_json::Value {
        let out = Command::new(env!("CARGO_BIN_EXE_bgpctl"))
            .arg("--socket")
            .arg(&self.socket)
            .arg("--json")
            .args(args)
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    }

    /// The Loc-RIB as (prefix, next hop, neighbor, best) rows.
    pub fn rib(&self) -> Vec<Route> {
        self.routes(&["show", "rib"])
    }

    /// Rows of a `show rib` variant.
    pub fn routes(&self, args: &[&str]) -> Vec<Route> {
        let v = self.ctl(args);
        v.as_array()
            .map(|rows| {
                rows.iter()
                    .map(|r| Route {
                        prefix: r["prefix"].as_str().unwrap_or_default().to_owned(),
                        next_hop: r["next_hop"].as_str().map(str::to_owned),
                        neighbor: r["neighbor"].as_str().unwrap_or_default().to_owned(),
                        best: r["best"].as_bool().unwrap_or(false),
                        as_path: r["as_path"].as_str().unwrap_or_default().to_owned(),
                        local_pref: r["local_pref"].as_u64(),
                        originator_id: r["originator_id"].as_str().map(str::to_owned),
                        stale: r["stale"].as_bool().unwrap_or(false),
                        communities: r["communities"]
                            .as_array()
                            .map(|c| {
                                c.iter()
                                    .filter_map(|x| x.as_str().map(str::to_owned))
                                    .collect()
                            })
                            .unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The state of each neighbor session by name.
    pub fn states(&self) -> Vec<(String, String)> {
        let v = self.ctl(&["show", "summary"]);
        v.as_array()
            .map(|rows| {
                rows.iter()
                    .map(|r| {
                        (
                            r["name"].as_str().unwrap_or_default().to_owned(),
                            r["state"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether every listed neighbor is Established.
    pub fn established(&self, names: &[&str]) -> bool {
        let states = self.states();
        names.iter().all(|n| {
            states
                .iter()
                .any(|(name, state)| name == n && state == "established")
        })
    }

    /// Polls `cond` every 100 ms until it holds, for at most `limit`; panics with the log.
    pub fn wait_for(&mut self, limit: Duration, what: &str, cond: impl Fn(&Bgpd) -> bool) {
        let start = Instant::now();
        while start.elapsed() < limit {
            if cond(self) {
                return;
            }
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    panic!(
                        "{}: bgpd exited ({status}) waiting for {what}\n{}",
                        self.name,
                        self.log()
                    );
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "{}: timed out waiting for {what}\n{}",
            self.name,
            self.log()
        );
    }

    /// Kills the process at once (SIGKILL): no NOTIFICATION, the kernel closes the
    /// connection.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends SIGTERM and waits (bounded) for the process to exit.
    pub fn terminate(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(5) {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Bgpd {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A route as `bgpctl --json show rib` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub prefix: String,
    pub next_hop: Option<String>,
    pub neighbor: String,
    pub best: bool,
    pub as_path: String,
    pub local_pref: Option<u64>,
    pub originator_id: Option<String>,
    pub stale: bool,
    pub communities: Vec<String>,
}

/// Polls `cond` for at most `limit`.
pub fn eventually(limit: Duration, cond: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    cond()
}

/// A bgpd on 127.0.0.`n` (AS 64512, router ID 192.0.2.`n`, no metrics), with `extra`
/// appended (originate entries, neighbors).
pub fn daemon(n: u8, extra: &str) -> String {
    format!(
        r#"
[global]
asn = 64512
router_id = "192.0.2.{n}"
listen = ["127.0.0.{n}:179"]
state_dir = "{{dir}}"
[control]
socket = "{{socket}}"
[metrics]
enabled = false
{extra}
"#
    )
}

/// An iBGP neighbor 127.0.0.`n`, reached from 127.0.0.`local`, with `extra` settings.
pub fn neighbor(name: &str, n: u8, local: u8, extra: &str) -> String {
    format!(
        r#"
[[neighbor]]
name = "{name}"
address = "127.0.0.{n}"
local_address = "127.0.0.{local}"
remote_as = 64512
{extra}
"#
    )
}
