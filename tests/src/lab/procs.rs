//! Running programs inside the lab's namespaces: to completion, or in the background with
//! a log file, signalled, checked for being alive; and reading their logs.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs::File;
use std::io;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::{Lab, Proc, ProcId};
use crate::{err, run_with_limit, Output};

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

impl Lab {
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

    /// Waits (at most `limit`) for a process to exit by itself (a `bgpctl` run in the
    /// background, a daemon told to shut down) and returns its exit status; the lab then
    /// forgets it, so that [`Lab::check_alive`] does not report it. Still running at
    /// `limit`: an error, and it is left running.
    pub fn wait_exit(&mut self, id: ProcId, limit: Duration) -> io::Result<ExitStatus> {
        let p = self
            .procs
            .get_mut(id.0)
            .ok_or_else(|| err("no such process"))?;
        let name = p.name.clone();
        let child = p
            .child
            .as_mut()
            .ok_or_else(|| err(format!("{name} was already stopped")))?;
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait()? {
                p.child = None;
                return Ok(status);
            }
            if start.elapsed() > limit {
                return Err(err(format!("{name} still running after {limit:?}")));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
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
}

/// The last `n` lines of a file.
pub fn tail(path: &Path, n: usize) -> String {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
