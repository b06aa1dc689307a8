//! Our own binaries (`bgpd`, `bgpctl`): where they are, built first when the tests run under
//! cargo.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, Once};
use std::time::Duration;

use crate::{err, run_with_limit};

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
