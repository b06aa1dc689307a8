//! The [`Lab`]: what it owns (namespaces, processes, a scratch directory), creating it, and
//! tearing it down on drop, including what earlier test processes left behind. Building the
//! network is in `net`, running processes in `procs`.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

mod net;
mod procs;

pub use procs::tail;

static SEQ: AtomicU32 = AtomicU32::new(0);

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
