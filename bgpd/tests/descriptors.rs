//! Out of descriptors: bgpd must neither spin nor flood its log, and must serve again once
//! clients leave (a soak once saw 250,000 "accept failed" lines a second and a busy core).
//! Needs root (port 179) and `prlimit` (util-linux).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::net::UnixStream;
use std::time::Duration;

use common::{daemon, eventually, Bgpd};

#[test]
fn idle_control_clients_beyond_the_descriptor_limit_neither_spin_nor_flood_the_log() {
    // A hard limit of 64 descriptors: bgpd cannot raise it, and 150 idle clients exhaust it.
    let mut d = Bgpd::start_wrapped("fds", &daemon(40, ""), &["prlimit", "--nofile=64:64", "--"]);
    d.wait_for(Duration::from_secs(10), "bgpctl", |d| {
        d.ctl(&["show", "summary"]).is_array()
    });
    let log_before = d.log().len();
    let mut clients = Vec::new();
    for _ in 0..150 {
        match UnixStream::connect(&d.socket) {
            Ok(c) => clients.push(c),
            Err(e) => panic!("connect: {e}"),
        }
    }
    let cpu_before = d.cpu_time();
    std::thread::sleep(Duration::from_secs(3));
    let busy = d.cpu_time().saturating_sub(cpu_before);
    let log = d.log();
    let new_log = &log[log_before.min(log.len())..];
    let failures = new_log.matches("accept failed").count();
    assert!(
        failures >= 1,
        "the limit was never hit: the test proves nothing\n{new_log}"
    );
    assert!(failures <= 2, "{failures} accept failure lines in 3 s");
    assert!(
        busy < Duration::from_millis(500),
        "bgpd used {busy:?} of CPU in 3 s while out of descriptors"
    );
    // The clients leave: the daemon answers again.
    drop(clients);
    assert!(
        eventually(Duration::from_secs(10), || d
            .ctl(&["show", "summary"])
            .is_array()),
        "bgpctl does not get an answer after the clients left\n{}",
        d.log()
    );
}
