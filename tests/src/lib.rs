//! The lab: the seed's hybrid network rebuilt on one machine with Linux network namespaces,
//! veth pairs and bridges, with real third-party BGP daemons (BIRD 1.6 as Calico nodes, FRR as
//! the VBR, BIRD 2, GoBGP, OpenBGPD and ExaBGP as further peers) and `bgpd` as the edge route
//! reflector.
//!
//! [`Lab`] owns everything it creates: namespaces (`lab-<pid>-<n>-<role>`, unique per test so
//! tests can run in parallel), processes (started inside namespaces with `ip netns exec`) and a
//! scratch directory for configuration files, sockets and logs. Dropping it (also while a test
//! panics) stops every process and deletes every namespace. Traffic only ever flows between
//! namespaces a lab created.
//!
//! Every wait is bounded ([`wait_until`]); every external command runs with a time limit
//! ([`Lab::run`]).

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

pub mod daemons;
pub mod raw;
pub mod seed;
pub mod watch;

static SEQ: AtomicU32 = AtomicU32::new(0);

/// Where BIRD 1.6 (what Calico runs) is unpacked by `scripts/install-deps`.
pub const BIRD16_DIR: &str = "/opt/bird1.6/usr/sbin";
/// FRR's BGP daemon.
pub const FRR_BGPD: &str = "/usr/lib/frr/bgpd";
/// OpenBGPD's daemon (not ours: same name, different directory).
pub const OPENBGPD: &str = "/usr/sbin/bgpd";
/// OpenBGPD's control tool.
pub const OPENBGPCTL: &str = "/usr/sbin/bgpctl";

/// An error with context, as `io::Error` (the harness returns these; tests unwrap them).
pub fn err(msg: impl Into<String>) -> io::Error {
    io::Error::other(msg.into())
}

/// Output of a finished command.
#[derive(Debug, Clone)]
pub struct Output {
    /// Exit status; `None` when the command was killed at its time limit.
    pub status: Option<ExitStatus>,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

impl Output {
    /// Whether the command exited 0.
    pub fn ok(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }
}

/// Runs `cmd` to completion, killing it after `limit`.
pub fn run_with_limit(mut cmd: Command, limit: Duration) -> io::Result<Output> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let out = child.stdout.take();
    let errp = child.stderr.take();
    let read = |p: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = p {
                let _ = p.read_to_end(&mut buf);
            }
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let to = read(out.map(|p| Box::new(p) as Box<dyn Read + Send>));
    let te = read(errp.map(|p| Box::new(p) as Box<dyn Read + Send>));
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break Some(s);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stdout = to.join().unwrap_or_default();
    let stderr = te.join().unwrap_or_default();
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

/// Polls `cond` every 100 ms until it returns `Ok(true)`, for at most `limit`. On timeout the
/// error names `what` and the last error `cond` returned.
pub fn wait_until(
    limit: Duration,
    what: &str,
    mut cond: impl FnMut() -> io::Result<bool>,
) -> io::Result<()> {
    let start = Instant::now();
    let mut last = String::new();
    loop {
        match cond() {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => last = e.to_string(),
        }
        if start.elapsed() > limit {
            return Err(err(format!(
                "timed out after {limit:?} waiting for {what}{}",
                if last.is_empty() {
                    String::new()
                } else {
                    format!(" (last error: {last})")
                }
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether we run as root (namespaces need it).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// A third-party program the lab may need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// BIRD 1.6 (`/opt/bird1.6`).
    Bird16,
    /// BIRD 2 (`bird`, `birdc`).
    Bird2,
    /// FRR's bgpd and vtysh.
    Frr,
    /// GoBGP (`gobgpd`, `gobgp`).
    GoBgp,
    /// OpenBGPD (`/usr/sbin/bgpd`, `/usr/sbin/bgpctl`).
    OpenBgpd,
    /// ExaBGP.
    ExaBgp,
    /// `ping` (iputils).
    Ping,
}

impl Tool {
    fn paths(self) -> Vec<PathBuf> {
        let p = |s: &str| PathBuf::from(s);
        match self {
            Tool::Bird16 => vec![
                Path::new(BIRD16_DIR).join("bird"),
                Path::new(BIRD16_DIR).join("birdc"),
            ],
            Tool::Bird2 => vec![p("/usr/sbin/bird"), p("/usr/sbin/birdc")],
            Tool::Frr => vec![p(FRR_BGPD), p("/usr/bin/vtysh")],
            Tool::GoBgp => vec![p("/usr/bin/gobgpd"), p("/usr/bin/gobgp")],
            Tool::OpenBgpd => vec![p(OPENBGPD), p(OPENBGPCTL)],
            Tool::ExaBgp => vec![p("/usr/sbin/exabgp")],
            Tool::Ping => vec![p("/usr/bin/ping")],
        }
    }
}

/// Why a lab test cannot run here (not root, or a daemon is missing), or `None`.
pub fn missing(tools: &[Tool]) -> Option<String> {
    if !is_root() {
        return Some("not root (network namespaces need CAP_SYS_ADMIN)".into());
    }
    if !Path::new("/usr/sbin/ip").exists() && !Path::new("/usr/bin/ip").exists() {
        return Some("iproute2 (`ip`) is not installed".into());
    }
    for t in tools {
        for p in t.paths() {
            if !p.exists() {
                return Some(format!(
                    "{} is not installed (scripts/install-deps installs it)",
                    p.display()
                ));
            }
        }
    }
    None
}

/// Prints why a test is skipped and returns true when it must be; use as
/// `if lab_tests::skip("name", &[Tool::Frr]) { return; }`.
pub fn skip(test: &str, tools: &[Tool]) -> bool {
    match missing(tools) {
        Some(why) => {
            eprintln!("SKIPPED {test}: {why}");
            true
        }
        None => false,
    }
}

/// The workspace's target directory (honours `CARGO_TARGET_DIR`).
fn target_dir() -> PathBuf {
    let d = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
    };
    d.canonicalize().unwrap_or(d)
}

static BUILD: Once = Once::new();
static BUILD_ERR: Mutex<Option<String>> = Mutex::new(None);

/// Path of one of our binaries (`bgpd`, `bgpctl`). `BGPD_BIN` / `BGPCTL_BIN` override;
/// otherwise `<target>/debug/NAME` (or `<target>/release/NAME` with `LAB_RELEASE=1`).
///
/// Under `cargo test` (`CARGO` is set) the harness first runs `cargo build -p bgpd --bins`
/// once per test process, so that `cargo test -p lab-tests` never tests a stale daemon (cargo
/// has released its build lock by the time tests run; when nothing changed this takes a
/// fraction of a second). `LAB_NO_BUILD=1` skips it. If that build fails, an existing binary
/// is used with a warning.
pub fn our_bin(name: &str) -> io::Result<PathBuf> {
    let var = format!("{}_BIN", name.to_uppercase());
    if let Some(p) = std::env::var_os(&var) {
        return Ok(PathBuf::from(p));
    }
    let release = std::env::var_os("LAB_RELEASE").is_some();
    let path = target_dir()
        .join(if release { "release" } else { "debug" })
        .join(name);
    let cargo = std::env::var_os("CARGO");
    if !release && std::env::var_os("LAB_NO_BUILD").is_none() && (cargo.is_some() || !path.exists())
    {
        BUILD.call_once(|| {
            let mut cmd = Command::new(cargo.unwrap_or_else(|| "cargo".into()));
            cmd.args(["build", "-p", "bgpd", "--bins"])
                .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
            let msg = match run_with_limit(cmd, Duration::from_secs(900)) {
                Ok(o) if o.ok() => None,
                Ok(o) => Some(format!("cargo build -p bgpd --bins failed:\n{}", o.stderr)),
                Err(e) => Some(format!("cargo build -p bgpd --bins: {e}")),
            };
            if let Ok(mut g) = BUILD_ERR.lock() {
                *g = msg;
            }
        });
        if let Ok(g) = BUILD_ERR.lock() {
            if let Some(m) = g.as_ref() {
                if !path.exists() {
                    return Err(err(m.clone()));
                }
                eprintln!("warning: using the existing {} ({m})", path.display());
            }
        }
    }
    if path.exists() {
        Ok(path)
    } else {
        Err(err(format!(
            "{} not found: run `cargo build -p bgpd --bins` (or set {var})",
            path.display()
        )))
    }
}

/// A process the lab started.
#[derive(Debug)]
pub struct Proc {
    /// Label used for the log file name.
    pub name: String,
    /// Namespace it runs in.
    pub ns: String,
    /// Its combined stdout/stderr.
    pub log: PathBuf,
    child: Option<Child>,
}

impl Proc {
    /// Process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether it still runs.
    pub fn running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }
}

/// Handle of a process inside a [`Lab`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcId(usize);

/// Network namespaces, links, processes and a scratch directory, torn down on drop.
#[derive(Debug)]
pub struct Lab {
    /// Unique prefix of every namespace name: `lab-<pid>-<n>` (or `lab-<name>` for a named lab).
    pub id: String,
    /// Scratch directory: configuration files, sockets, logs.
    pub dir: PathBuf,
    namespaces: Vec<String>,
    procs: Vec<Proc>,
    persist: bool,
}

impl Lab {
    /// A fresh lab with a unique id. Also removes namespaces left behind by earlier test
    /// processes that died without cleaning up (named `lab-<pid>-...` with `pid` gone).
    pub fn new() -> io::Result<Lab> {
        reap_stale();
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        Lab::named(&format!("{}-{n}", std::process::id()))
    }

    /// A lab with a fixed id (`lab-NAME`), e.g. the demo's: anything left from an earlier
    /// lab of that name is torn down first.
    pub fn named(name: &str) -> io::Result<Lab> {
        let id = format!("lab-{name}");
        teardown_by_id(&id);
        let dir = std::env::temp_dir().join(&id);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        set_mode(&dir, 0o755)?;
        Ok(Lab {
            id,
            dir,
            namespaces: Vec::new(),
            procs: Vec::new(),
            persist: false,
        })
    }

    /// Leave everything running when dropped (the demo's `--keep`); `lab down` cleans up.
    pub fn persist(&mut self) {
        self.persist = true;
    }

    /// The full name of namespace `role`.
    pub fn ns(&self, role: &str) -> String {
        format!("{}-{role}", self.id)
    }

    /// A path inside the scratch directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Writes a file into the scratch directory and returns its path.
    pub fn write(&self, name: &str, contents: &str) -> io::Result<PathBuf> {
        let p = self.path(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&p, contents)?;
        Ok(p)
    }

    /// Runs `ip ARGS` (in the default namespace), failing with its stderr.
    pub fn ip(&self, args: &[&str]) -> io::Result<()> {
        let mut cmd = Command::new("ip");
        cmd.args(args);
        let o = run_with_limit(cmd, Duration::from_secs(10))?;
        if o.ok() {
            Ok(())
        } else {
            Err(err(format!("ip {}: {}", args.join(" "), o.stderr.trim())))
        }
    }

    /// Creates namespace `role` with its loopback up; returns its full name.
    pub fn netns(&mut self, role: &str) -> io::Result<String> {
        let ns = self.ns(role);
        self.ip(&["netns", "add", &ns])?;
        self.namespaces.push(ns.clone());
        self.ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Adds `addr` (with prefix length) to `dev` in `ns` (IPv6 without duplicate detection).
    pub fn addr(&self, ns: &str, dev: &str, addr: &str) -> io::Result<()> {
        if addr.contains(':') {
            self.ip(&["-n", ns, "addr", "add", addr, "dev", dev, "nodad"])
        } else {
            self.ip(&["-n", ns, "addr", "add", addr, "dev", dev])
        }
    }

    /// A veth pair: `dev_a` in `ns_a` with `addrs_a`, `dev_b` in `ns_b` with `addrs_b`, both up.
    /// Interface names only need to be unique inside their namespace.
    pub fn link(
        &self,
        (ns_a, dev_a, addrs_a): (&str, &str, &[&str]),
        (ns_b, dev_b, addrs_b): (&str, &str, &[&str]),
    ) -> io::Result<()> {
        self.ip(&[
            "-n", ns_a, "link", "add", dev_a, "type", "veth", "peer", "name", dev_b, "netns", ns_b,
        ])?;
        for a in addrs_a {
            self.addr(ns_a, dev_a, a)?;
        }
        for a in addrs_b {
            self.addr(ns_b, dev_b, a)?;
        }
        self.ip(&["-n", ns_a, "link", "set", dev_a, "up"])?;
        self.ip(&["-n", ns_b, "link", "set", dev_b, "up"])
    }

    /// A bridge `dev` in `ns` (no address), up.
    pub fn bridge(&self, ns: &str, dev: &str) -> io::Result<()> {
        self.ip(&["-n", ns, "link", "add", dev, "type", "bridge"])?;
        self.ip(&["-n", ns, "link", "set", dev, "up"])
    }

    /// Connects `dev` in `ns` (with `addrs`) to bridge `bridge` in `bridge_ns` through a veth
    /// whose bridge-side end is called `port`.
    pub fn attach(
        &self,
        (ns, dev, addrs): (&str, &str, &[&str]),
        (bridge_ns, bridge, port): (&str, &str, &str),
    ) -> io::Result<()> {
        self.link((ns, dev, addrs), (bridge_ns, port, &[]))?;
        self.ip(&["-n", bridge_ns, "link", "set", port, "master", bridge])
    }

    /// Sets a sysctl inside `ns`.
    pub fn sysctl(&self, ns: &str, key_value: &str) -> io::Result<()> {
        let o = self.run(ns, "sysctl", &["-qw", key_value])?;
        if o.ok() {
            Ok(())
        } else {
            Err(err(format!("sysctl {key_value}: {}", o.stderr.trim())))
        }
    }

    /// Runs `program ARGS` inside `ns` to completion (at most 20 s).
    pub fn run<S: AsRef<OsStr>>(&self, ns: &str, program: S, args: &[&str]) -> io::Result<Output> {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns]).arg(program).args(args);
        run_with_limit(cmd, Duration::from_secs(20))
    }

    /// Starts `program ARGS` inside `ns` with extra environment `env`; stdout and stderr go to
    /// `<dir>/<name>.log`.
    pub fn spawn<S: AsRef<OsStr>>(
        &mut self,
        name: &str,
        ns: &str,
        program: S,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> io::Result<ProcId> {
        let log = self.path(&format!("{name}.log"));
        let f = File::create(&log)?;
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns])
            .arg(program.as_ref())
            .args(args)
            .stdin(Stdio::null())
            .stdout(f.try_clone()?)
            .stderr(f);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().map_err(|e| {
            err(format!(
                "starting {} in {ns}: {e}",
                Path::new(program.as_ref()).display()
            ))
        })?;
        self.procs.push(Proc {
            name: name.to_owned(),
            ns: ns.to_owned(),
            log,
            child: Some(child),
        });
        Ok(ProcId(self.procs.len() - 1))
    }

    /// The process behind `id`.
    pub fn proc(&mut self, id: ProcId) -> Option<&mut Proc> {
        self.procs.get_mut(id.0)
    }

    /// Sends `signal` (e.g. `"TERM"`, `"KILL"`) to a process and, for TERM/KILL/INT, waits up
    /// to 5 s for it to exit (then kills it).
    pub fn signal(&mut self, id: ProcId, signal: &str) -> io::Result<()> {
        let p = self
            .procs
            .get_mut(id.0)
            .ok_or_else(|| err("no such process"))?;
        let Some(child) = p.child.as_mut() else {
            return Ok(());
        };
        let _ = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .stderr(Stdio::null())
            .status();
        if matches!(signal, "TERM" | "KILL" | "INT") {
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(5) {
                if let Ok(Some(_)) = child.try_wait() {
                    p.child = None;
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
            p.child = None;
        }
        Ok(())
    }

    /// Fails if a process exited (a daemon that died is reported with its log).
    pub fn check_alive(&mut self) -> io::Result<()> {
        for p in &mut self.procs {
            if let Some(c) = p.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    p.child = None;
                    return Err(err(format!(
                        "{} exited ({status}):\n{}",
                        p.name,
                        tail(&p.log, 40)
                    )));
                }
            }
        }
        Ok(())
    }

    /// The last lines of every process log, for failure messages.
    pub fn logs(&self) -> String {
        let mut s = String::new();
        for p in &self.procs {
            let _ = write!(
                s,
                "\n----- {} ({}) -----\n{}",
                p.name,
                p.ns,
                tail(&p.log, 60)
            );
        }
        s
    }

    /// The last lines of one log file in the scratch directory (daemons with their own log
    /// files).
    pub fn log_tail(&self, name: &str, lines: usize) -> String {
        tail(&self.path(name), lines)
    }

    fn teardown(&mut self) {
        // Processes first, politely, all at once, then by force.
        for p in &self.procs {
            if let Some(c) = p.child.as_ref() {
                let _ = Command::new("kill")
                    .arg("-TERM")
                    .arg(c.id().to_string())
                    .stderr(Stdio::null())
                    .status();
            }
        }
        let start = Instant::now();
        for p in &mut self.procs {
            if let Some(mut c) = p.child.take() {
                loop {
                    if let Ok(Some(_)) | Err(_) = c.try_wait() {
                        break;
                    }
                    if start.elapsed() > Duration::from_secs(3) {
                        let _ = c.kill();
                        let _ = c.wait();
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        let procs_done = start.elapsed();
        // Anything else still inside our namespaces (daemons' helpers) and the namespaces.
        for ns in self.namespaces.drain(..) {
            kill_ns_pids(&ns);
            let _ = Command::new("ip")
                .args(["netns", "del", &ns])
                .stderr(Stdio::null())
                .status();
        }
        if start.elapsed() > Duration::from_secs(5) {
            eprintln!(
                "lab {}: slow teardown: processes {procs_done:.1?}, namespaces {:.1?}",
                self.id,
                start.elapsed() - procs_done
            );
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if self.persist {
            return;
        }
        self.teardown();
        if std::thread::panicking() || std::env::var_os("LAB_KEEP_LOGS").is_some() {
            eprintln!("lab {}: logs kept in {}", self.id, self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn set_mode(p: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
}

/// The last `n` lines of a file.
pub fn tail(path: &Path, n: usize) -> String {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn kill_ns_pids(ns: &str) {
    let Ok(o) = Command::new("ip")
        .args(["netns", "pids", ns])
        .stderr(Stdio::null())
        .output()
    else {
        return;
    };
    let pids: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    if !pids.is_empty() {
        let _ = Command::new("kill")
            .arg("-KILL")
            .args(&pids)
            .stderr(Stdio::null())
            .status();
        // Bounded wait for them to be gone, so that the namespace can really go.
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(2)
            && pids
                .iter()
                .any(|p| Path::new(&format!("/proc/{p}")).exists())
        {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn lab_namespaces() -> Vec<String> {
    Command::new("ip")
        .args(["netns", "list"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter_map(|l| l.split_whitespace().next())
                .filter(|n| n.starts_with("lab-"))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Tears down every namespace whose name starts with `id-` (processes inside first) and the
/// scratch directory `<tmp>/<id>`. Used by `lab down` and before reusing a fixed lab name.
pub fn teardown_by_id(id: &str) {
    let prefix = format!("{id}-");
    for ns in lab_namespaces() {
        if ns.starts_with(&prefix) {
            kill_ns_pids(&ns);
            let _ = Command::new("ip")
                .args(["netns", "del", &ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Removes namespaces `lab-<pid>-...` of test processes that no longer exist.
fn reap_stale() {
    for ns in lab_namespaces() {
        let mut parts = ns.split('-');
        let _ = parts.next();
        if let Some(pid) = parts.next().and_then(|p| p.parse::<u32>().ok()) {
            if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
                kill_ns_pids(&ns);
                let _ = Command::new("ip")
                    .args(["netns", "del", &ns])
                    .stderr(Stdio::null())
                    .status();
                let _ = std::fs::remove_dir_all(
                    std::env::temp_dir().join(ns.rsplit_once('-').map_or(ns.as_str(), |x| x.0)),
                );
            }
        }
    }
}
