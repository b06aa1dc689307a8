//! The packaging end to end.
//!
//! `scripts/install` lays out the binaries, man pages, completions, docs and systemd files.
//!
//! The container image is built as deploy/Containerfile builds it, except that its build stage
//! runs on this machine: `scripts/container-rootfs` makes the root filesystem from this
//! build's binaries, buildah (storage driver vfs, under a temporary directory removed at the
//! end, even on failure) commits it as the build stage's image, and `buildah bud` runs the
//! Containerfile's own final stage (FROM scratch, COPY --from, USER, ENTRYPOINT) on it.
//! Containers cannot run on this machine (rlimits), so the image is mounted (`buildah mount`)
//! and its programs are run with chroot, as the image's user: the entrypoint checks the
//! example configuration, then runs as a daemon that the image's bgpctl talks to.
//!
//! Needs root (owners in the image, chroot), buildah, man (man-db) and strip (binutils), all
//! from scripts/install-deps. Without them a test says so and passes, except under CI (`CI`
//! set), where it fails.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Where cargo put this build's bgpd and bgpctl.
fn bin_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_bgpd")).parent().unwrap();
    assert_eq!(Path::new(env!("CARGO_BIN_EXE_bgpctl")).parent(), Some(dir));
    dir.to_owned()
}

/// Whether `tool ARGS` runs and succeeds here; under CI its absence fails the test.
fn have(tool: &str, args: &[&str], package: &str) -> bool {
    let ok = Command::new(tool)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "{tool} is missing (Debian package {package}; scripts/install-deps installs it)"
        );
        eprintln!("SKIPPED: {tool} is missing (Debian package {package}; scripts/install-deps)");
    }
    ok
}

fn is_root() -> bool {
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    if !root {
        assert!(
            std::env::var_os("CI").is_none(),
            "the image test needs root"
        );
        eprintln!("SKIPPED: the image test needs root (owners in the image, chroot)");
    }
    root
}

/// Runs `command`, failing the test with its output unless it succeeds.
fn run(command: &mut Command) -> Output {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?}: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A temporary directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("bgpd-packaging-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn join(&self, path: &str) -> PathBuf {
        self.0.join(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// buildah with its own vfs storage under a temporary directory; its containers and images
/// are removed on drop, before the directory is.
struct Buildah {
    root: PathBuf,
    runroot: PathBuf,
}

impl Buildah {
    fn new(dir: &Path) -> Buildah {
        Buildah {
            root: dir.join("storage"),
            runroot: dir.join("runroot"),
        }
    }

    fn command(&self) -> Command {
        let mut c = Command::new("buildah");
        c.arg("--storage-driver")
            .arg("vfs")
            .arg("--root")
            .arg(&self.root)
            .arg("--runroot")
            .arg(&self.runroot);
        c
    }

    /// `buildah ARGS`, which must succeed; its standard output, trimmed.
    fn out(&self, args: &[&str]) -> String {
        stdout(&run(self.command().args(args)))
    }

    fn cleanup(&self) {
        for args in [
            &["umount", "--all"][..],
            &["rm", "--all"],
            &["rmi", "--all", "--force"],
        ] {
            let _ = self
                .command()
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Drop for Buildah {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// A process killed on drop (a failing test leaves no daemon behind).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `man --warnings -l PAGE` prints no warning, and the text has each of `expect`.
fn assert_renders(page: &Path, expect: &[&str]) {
    let out = run(Command::new("man")
        .args(["--warnings", "-l"])
        .arg(page)
        .env("MANWIDTH", "80")
        .env("LC_ALL", "C.UTF-8"));
    let warnings = String::from_utf8_lossy(&out.stderr);
    assert!(
        warnings.trim().is_empty(),
        "{}: man warns:\n{warnings}",
        page.display()
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for e in expect {
        assert!(text.contains(e), "{}: no {e:?} in:\n{text}", page.display());
    }
}

/// The man pages' paths (under a prefix) and what each must show.
const MAN_PAGES: [(&str, &[&str]); 3] = [
    (
        "share/man/man8/bgpd.8.gz",
        &["SYNOPSIS", "EXIT STATUS", "bgpd.toml(5)"],
    ),
    (
        "share/man/man8/bgpctl.8.gz",
        &[
            "COMMANDS",
            "bgpctl show rib",
            "bgpctl dump rib",
            "EXIT STATUS",
        ],
    ),
    (
        "share/man/man5/bgpd.toml.5.gz",
        &["[[neighbor]]", "selection_deferral", "as_path_prepend"],
    ),
];

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn install_lays_out_binaries_man_pages_completions_docs_and_units() {
    let scratch = Scratch::new("install");
    let dest = scratch.join("dest");
    run(Command::new(repo().join("scripts/install"))
        .arg("--destdir")
        .arg(&dest)
        .args(["--prefix", "/usr/local", "--from"])
        .arg(bin_dir()));
    let prefix = dest.join("usr/local");

    let mut expected = vec![
        ("sbin/bgpd", 0o755),
        ("sbin/bgpctl", 0o755),
        ("share/bash-completion/completions/bgpctl", 0o644),
        ("share/zsh/vendor-completions/_bgpctl", 0o644),
        ("share/fish/vendor_completions.d/bgpctl.fish", 0o644),
        ("share/doc/bgpd/README.md", 0o644),
        ("share/doc/bgpd/config.md", 0o644),
        ("share/doc/bgpd/examples/alibaba-hybrid.toml", 0o644),
        ("share/doc/bgpd/examples/calico-route-reflector.toml", 0o644),
        ("lib/systemd/system/bgpd.service", 0o644),
        ("lib/sysusers.d/bgpd.conf", 0o644),
        ("lib/tmpfiles.d/bgpd.conf", 0o644),
    ];
    expected.extend(MAN_PAGES.iter().map(|(page, _)| (*page, 0o644)));
    for (path, want) in expected {
        assert_eq!(mode(&prefix.join(path)), want, "{path}");
    }
    // Nothing outside the prefix: /etc is the administrator's.
    let top: Vec<_> = std::fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(top, ["usr"]);

    // The unit follows the prefix.
    let unit = std::fs::read_to_string(prefix.join("lib/systemd/system/bgpd.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/local/sbin/bgpd --config /etc/bgpd/bgpd.toml"));
    assert!(unit.contains("Documentation=file:/usr/local/share/doc/bgpd/README.md"));
    assert!(!unit.contains("/usr/sbin/"), "{unit}");

    let completions = prefix.join("share/bash-completion/completions/bgpctl");
    run(Command::new("bash").arg("-n").arg(&completions));
    let bash = std::fs::read_to_string(&completions).unwrap();
    assert!(bash.contains("complete -F") && bash.contains("bgpctl"));
    let zsh = std::fs::read_to_string(prefix.join("share/zsh/vendor-completions/_bgpctl")).unwrap();
    assert!(zsh.starts_with("#compdef bgpctl"), "{zsh}");
    let fish = std::fs::read_to_string(prefix.join("share/fish/vendor_completions.d/bgpctl.fish"))
        .unwrap();
    assert!(fish.contains("complete -c bgpctl"), "{fish}");

    if have("man", &["--version"], "man-db") {
        for (page, expect) in MAN_PAGES {
            assert_renders(&prefix.join(page), expect);
        }
    }
}

/// `/etc/passwd` or `/etc/group` of the image: name to (id, group id).
fn ids(file: &Path) -> BTreeMap<String, (u32, u32)> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            let id = f[2].parse().unwrap();
            let gid = f.get(3).and_then(|g| g.parse().ok()).unwrap_or(id);
            (f[0].to_owned(), (id, gid))
        })
        .collect()
}

/// Every path in the tree under `root`, relative to it.
fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        out.push(path.strip_prefix(root).unwrap().to_owned());
        if std::fs::symlink_metadata(&path).unwrap().is_dir() {
            walk(root, &path, out);
        }
    }
}

#[test]
fn container_image_from_the_containerfile_runs_as_bgpd_without_a_shell() {
    if !is_root()
        || !have("buildah", &["--version"], "buildah")
        || !have("man", &["--version"], "man-db")
        || !have("strip", &["--version"], "binutils")
    {
        return;
    }
    let started = Instant::now();
    let scratch = Scratch::new("image");
    let tag = std::process::id().to_string();

    // The test profile's binaries carry full debug info (~240 MB); the image gets stripped
    // copies, which keeps buildah's copies fast. Nothing checked here depends on debug info.
    let bin = scratch.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for name in ["bgpd", "bgpctl"] {
        run(Command::new("strip")
            .arg("--strip-debug")
            .arg("-o")
            .arg(bin.join(name))
            .arg(bin_dir().join(name)));
    }

    // The build stage's work: the root filesystem, as the Containerfile's RUN makes it.
    let containerfile = std::fs::read_to_string(repo().join("deploy/Containerfile")).unwrap();
    let final_at = containerfile.rfind("\nFROM ").expect("a final stage") + 1;
    let (build_stage, final_stage) = containerfile.split_at(final_at);
    assert!(
        build_stage.contains("scripts/container-rootfs --from target/release /rootfs"),
        "the Containerfile's build stage no longer makes /rootfs with scripts/container-rootfs"
    );
    assert!(final_stage.starts_with("FROM scratch\n"), "{final_stage}");
    let rootfs = scratch.join("rootfs");
    run(Command::new(repo().join("scripts/container-rootfs"))
        .arg("--from")
        .arg(&bin)
        .arg(&rootfs));

    // The build stage as an image holding /rootfs. Copied into the mounted container with
    // `cp -a`: `buildah copy` would make every file root's.
    let b = Buildah::new(&scratch.0);
    let stage = b.out(&["from", "scratch"]);
    let stage_mnt = PathBuf::from(b.out(&["mount", &stage]));
    run(Command::new("cp")
        .arg("-a")
        .arg(&rootfs)
        .arg(stage_mnt.join("rootfs")));
    b.out(&["umount", &stage]);
    let stage_image = format!("localhost/bgpd-build-stage:{tag}");
    b.out(&["commit", "-q", &stage, &stage_image]);

    // The Containerfile's final stage, as written but for the build stage's name.
    let final_text = final_stage.replace("--from=build ", &format!("--from={stage_image} "));
    assert_ne!(
        final_text, final_stage,
        "no `COPY --from=build` in the final stage"
    );
    let final_file = scratch.join("Containerfile.final");
    std::fs::write(&final_file, final_text).unwrap();
    let context = scratch.join("context");
    std::fs::create_dir_all(&context).unwrap();
    let image = format!("localhost/bgpd-image-test:{tag}");
    b.out(&[
        "bud",
        "--pull=never",
        "-q",
        "-f",
        final_file.to_str().unwrap(),
        "-t",
        &image,
        context.to_str().unwrap(),
    ]);
    let inspect: serde_json::Value =
        serde_json::from_str(&b.out(&["inspect", "--type", "image", &image])).unwrap();
    let config = &inspect["OCIv1"]["config"];
    let user = config["User"].as_str().unwrap().to_owned();
    let entrypoint: Vec<String> = config["Entrypoint"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();

    let ctr = b.out(&["from", "-q", &image]);
    let mnt = PathBuf::from(b.out(&["mount", &ctr]));
    let at = |p: &str| mnt.join(p.trim_start_matches('/'));

    // No shell, no package manager, no CA certificates: the only programs are bgpd and
    // bgpctl, the rest of what is executable is shared libraries.
    let mut paths = Vec::new();
    walk(&mnt, &mnt, &mut paths);
    paths.sort();
    for shell in [
        "bin/sh",
        "usr/bin/sh",
        "bin/bash",
        "usr/bin/bash",
        "bin/busybox",
    ] {
        assert!(
            !paths.contains(&PathBuf::from(shell)),
            "{shell} in the image"
        );
    }
    let programs: Vec<&PathBuf> = paths
        .iter()
        .filter(|p| {
            let m = std::fs::symlink_metadata(mnt.join(p)).unwrap();
            m.is_file() && m.permissions().mode() & 0o111 != 0
        })
        .filter(|p| !p.file_name().unwrap().to_string_lossy().contains(".so"))
        .collect();
    assert_eq!(
        programs,
        [Path::new("usr/sbin/bgpctl"), Path::new("usr/sbin/bgpd")],
        "programs in the image"
    );
    for absent in [
        "etc/ssl",
        "usr/share/ca-certificates",
        "var/lib/dpkg",
        "etc/apt",
    ] {
        assert!(!at(absent).exists(), "{absent} in the image");
    }
    assert!(at("usr/share/bash-completion/completions/bgpctl").is_file());

    // The bgpd user and group, the image's USER, and who owns the directories.
    let users = ids(&at("etc/passwd"));
    let groups = ids(&at("etc/group"));
    let (uid, gid) = users["bgpd"];
    assert_eq!(groups["bgpd"].0, gid);
    assert_eq!(users["root"], (0, 0));
    assert_eq!(user, format!("{uid}:{gid}"), "the image's USER is not bgpd");
    assert_ne!(uid, 0);
    for (dir, owner, group, want) in [
        ("run/bgpd", uid, gid, 0o750),
        ("var/lib/bgpd", uid, gid, 0o750),
        ("etc/bgpd", 0, gid, 0o750),
        ("tmp", 0, 0, 0o1777),
    ] {
        let m = std::fs::metadata(at(dir)).unwrap();
        assert_eq!(
            (m.uid(), m.gid(), mode(&at(dir))),
            (owner, group, want),
            "{dir}"
        );
    }

    // The man pages render.
    for (page, expect) in MAN_PAGES {
        assert_renders(&at("usr").join(page), expect);
    }

    // The programs run in the image, with only its libraries.
    let chroot = |as_user: bool, args: &[&str]| {
        let mut c = Command::new("chroot");
        if as_user {
            c.arg(format!("--userspec={user}"));
        }
        c.arg(&mnt).args(args);
        c
    };
    let version = stdout(&run(&mut chroot(false, &[&entrypoint[0], "--version"])));
    assert!(version.starts_with("bgpd "), "{version}");
    let help = stdout(&run(&mut chroot(true, &["/usr/sbin/bgpctl", "--help"])));
    assert!(help.contains("show") && help.contains("neighbor"), "{help}");

    // The entrypoint, as the image's user, checks the example (its TCP-MD5 key beside it).
    let config_path = entrypoint
        .iter()
        .skip_while(|a| *a != "--config")
        .nth(1)
        .expect("the entrypoint names its --config")
        .clone();
    // Where the README tells users to mount their configuration.
    assert_eq!(config_path, "/etc/bgpd/bgpd.toml");
    let config_dir = Path::new(&config_path).parent().unwrap().to_str().unwrap();
    let place = |text: &[u8], path: &str| {
        std::fs::write(at(path), text).unwrap();
        std::os::unix::fs::chown(at(path), Some(0), Some(gid)).unwrap();
        std::fs::set_permissions(at(path), std::fs::Permissions::from_mode(0o640)).unwrap();
    };
    let examples = repo().join("examples");
    place(
        &std::fs::read(examples.join("alibaba-hybrid.toml")).unwrap(),
        &config_path,
    );
    place(
        &std::fs::read(examples.join("vbr.key")).unwrap(),
        &format!("{config_dir}/vbr.key"),
    );
    let entry: Vec<&str> = entrypoint.iter().map(String::as_str).collect();
    let mut check = entry.clone();
    check.push("--check-config");
    run(&mut chroot(true, &check));

    // The entrypoint as a daemon (no peers, no listener, no metrics): it makes its control
    // socket in /run/bgpd and writes its state to /var/lib/bgpd as the image's user.
    place(
        b"[global]\nasn = 64512\nrouter_id = \"192.0.2.1\"\nlisten = []\n[metrics]\nenabled = false\n",
        &config_path,
    );
    let log = std::fs::File::create(scratch.join("bgpd.log")).unwrap();
    let mut daemon = Running(
        chroot(true, &entry)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let log_text = || std::fs::read_to_string(scratch.join("bgpd.log")).unwrap_or_default();
    let socket = at("run/bgpd/bgpd.sock");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(
            Instant::now() < deadline && daemon.0.try_wait().unwrap().is_none(),
            "bgpd made no control socket:\n{}",
            log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let summary = stdout(&run(&mut chroot(
        true,
        &["/usr/sbin/bgpctl", "show", "summary"],
    )));
    assert!(summary.to_lowercase().contains("no neighbors"), "{summary}");
    run(&mut chroot(
        true,
        &["/usr/sbin/bgpctl", "dump", "rib", "/var/lib/bgpd/rib.mrt"],
    ));
    run(Command::new("kill")
        .arg("-TERM")
        .arg(daemon.0.id().to_string()));
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = daemon.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "bgpd did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "bgpd: {status}\n{}", log_text());
    for written in ["var/lib/bgpd/rib.mrt", "var/lib/bgpd/restart.json"] {
        let m = std::fs::metadata(at(written)).unwrap_or_else(|e| panic!("{written}: {e}"));
        assert_eq!(m.uid(), uid, "{written}");
    }

    // Nothing is left behind.
    drop(daemon);
    b.cleanup();
    drop(b);
    let dir = scratch.0.clone();
    drop(scratch);
    assert!(!dir.exists(), "{} is left behind", dir.display());
    eprintln!("image built and checked in {:.1?}", started.elapsed());
}
