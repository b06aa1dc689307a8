//! Reloading bgpd's BFD settings against FRR's bfdd (the interop pair): new timers are
//! applied in place (a Poll sequence, RFC 5880 6.8.3) without a BGP or BFD flap; `bfd =
//! false` ends our BFD session (AdminDown) and bgpd keeps BGP up, but FRR 8.4.4 takes our
//! AdminDown for a failed path and closes BGP once (Cease/BFD Down): pinned here, so that
//! a change on either side shows.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/bfd_pair.rs"]
mod bfd_pair;

use std::time::{Duration, Instant};

use bfd_pair::{with_frr_profile, Pair, Peer, EDGE};
use lab_tests::daemons::FrrBfdPeer;
use lab_tests::watch::Poller;
use lab_tests::{skip, wait_until, Tool};

/// (uptime_seconds, flaps, last_error) of bgpd's session with the peer.
fn bgp_session(p: &Pair) -> (u64, u64, String) {
    let s = p.bgpd.ctl(&["show", "summary"]).unwrap();
    let row = s
        .as_array()
        .and_then(|r| r.iter().find(|r| r["name"] == "peer"))
        .cloned()
        .unwrap_or_default();
    let n = p.bgpd.ctl(&["show", "neighbor", "peer"]).unwrap();
    let n = if n.is_array() { n[0].clone() } else { n };
    (
        row["uptime_seconds"].as_u64().unwrap_or(0),
        n["flaps"].as_u64().unwrap_or(u64::MAX),
        n["last_error"].as_str().unwrap_or_default().to_owned(),
    )
}

fn frr_peer(p: &Pair) -> Option<FrrBfdPeer> {
    let Peer::Frr(f) = &p.peer else {
        return None;
    };
    f.bfd_peer(EDGE).unwrap()
}

/// Replaces the `bfd = ...` line of bgpd's configuration file with `line` and reloads.
fn reload_bfd(p: &Pair, line: &str) {
    let text = std::fs::read_to_string(&p.bgpd.config).unwrap();
    let new: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with("bfd = ") {
                line.to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect();
    std::fs::write(&p.bgpd.config, new.join("\n") + "\n").unwrap();
    let out = p.bgpd.ctl_text(&["reload"]).unwrap();
    eprintln!("bfd-reload: bgpctl reload: {}", out.trim());
}

/// Polls bgpd's and FRR's BFD state every 50 ms: a miss whenever either is not `up`.
fn watch_up(p: &Pair) -> Poller {
    let bgpd = p.bgpd.clone();
    let Peer::Frr(f) = &p.peer else {
        unreachable!()
    };
    let f = f.clone();
    Poller::start(Duration::from_millis(50), move || {
        let ours = bgpd.bfd_session("peer")?.map(|b| b.state);
        let theirs = f.bfd_peer(EDGE)?.map(|p| p.status);
        Ok(
            (ours.as_deref() != Some("up") || theirs.as_deref() != Some("up"))
                .then(|| format!("bgpd {ours:?}, FRR {theirs:?}")),
        )
    })
}

/// FRR's profile: receive 100 ms, transmit 250 ms, multiplier 3, so that both of bgpd's
/// intervals follow its own settings: bgpd's transmit interval is max(its min_tx, FRR's
/// 100), its detection time 3 x max(its min_rx, FRR's 250).
#[test]
fn bfd_reload_changes_timers_in_place_and_turns_bfd_off() {
    if skip("bfd_reload_frr", &[Tool::FrrBfd]) {
        return;
    }
    let mut p = with_frr_profile(
        "bfd = { min_rx = 300, min_tx = 300, multiplier = 3 }",
        100,
        250,
        3,
    );
    p.wait_up("BFD and BGP up on both sides");
    let b = p.bgpd.bfd_session("peer").unwrap().unwrap();
    assert_eq!((b.tx_interval_ms, b.detect_time_ms), (300, 900), "{b:?}");
    let fp = frr_peer(&p).unwrap();
    assert_eq!(
        (fp.remote_rx_ms, fp.remote_tx_ms, fp.remote_multiplier),
        (300, 300, 3),
        "{fp:?}"
    );
    // Some uptime to see it keep growing.
    std::thread::sleep(Duration::from_millis(2100));
    let (up0, flaps0, _) = bgp_session(&p);
    assert!(up0 >= 2, "uptime {up0}");

    // New timers.
    let watch = watch_up(&p);
    let t0 = Instant::now();
    reload_bfd(&p, "bfd = { min_rx = 200, min_tx = 200, multiplier = 5 }");
    let mut seen = (None, None);
    let res = wait_until(
        Duration::from_secs(5),
        "the new timers on both sides",
        || {
            let b = p.bgpd.bfd_session("peer")?;
            let f = frr_peer(&p);
            let done = b
                .as_ref()
                .is_some_and(|b| (b.tx_interval_ms, b.detect_time_ms) == (200, 750))
                && f.as_ref().is_some_and(|f| {
                    (f.remote_rx_ms, f.remote_tx_ms, f.remote_multiplier) == (200, 200, 5)
                });
            seen = (b, f);
            Ok(done)
        },
    );
    let applied = t0.elapsed();
    // Well past the old and the new detection times.
    std::thread::sleep(Duration::from_secs(2));
    let misses = watch.stop();
    assert!(res.is_ok(), "{res:?}: {seen:?}{}", p.state());
    assert!(misses.is_empty(), "BFD left Up on the reload: {misses:?}");
    let b = p.bgpd.bfd_session("peer").unwrap().unwrap();
    assert_eq!(b.flaps, 0, "{b:?}");
    let (up1, flaps1, _) = bgp_session(&p);
    assert_eq!(flaps1, flaps0, "the BGP session flapped on the reload");
    assert!(up1 >= up0 + 2, "BGP uptime {up0} s, then {up1} s");
    let fp = frr_peer(&p).unwrap();
    eprintln!(
        "bfd-reload: timers applied after {applied:.2?}: bgpd tx {} ms detect {} ms, FRR hears {}/{}/{}; BGP uptime {up0} -> {up1} s, flaps {flaps0} -> {flaps1}",
        b.tx_interval_ms, b.detect_time_ms, fp.remote_rx_ms, fp.remote_tx_ms, fp.remote_multiplier
    );

    // BFD off: our session ends (AdminDown, RFC 5882 3.2) and bgpd leaves BGP alone. FRR's
    // session stays configured (`neighbor X bfd`) and goes Down with "neighbor signaled
    // session down"; FRR 8.4.4 then closes BGP with Cease/BFD Down (6/10) and opens it again
    // at once (its BFD session no longer Up, nothing more to lose). An operator turning BFD
    // off must do it on the VBR first. Pinned: one flap at most, FRR's NOTIFICATION its
    // cause (bgpd never closes it itself), BGP back within 5 s and staying up.
    let t1 = Instant::now();
    reload_bfd(&p, "bfd = false");
    let res = wait_until(Duration::from_secs(3), "bgpd's BFD session to go", || {
        Ok(p.bgpd.bfd()?.is_empty())
    });
    assert!(res.is_ok(), "{}", p.state());
    let gone = t1.elapsed();
    let mut frr_states = Vec::new();
    let mut back = None;
    while t1.elapsed() < Duration::from_secs(5) {
        let Peer::Frr(f) = &p.peer else {
            unreachable!()
        };
        let established = f.established(EDGE).unwrap_or(false);
        let s = format!(
            "BFD {:?}, BGP established {established}",
            frr_peer(&p).map(|f| format!("{} ({})", f.status, f.diagnostic)),
        );
        if frr_states.last().map(|(_, l)| l) != Some(&s) {
            frr_states.push((t1.elapsed(), s));
        }
        if established && p.bgpd.established(&["peer"]).unwrap_or(0) == 1 {
            back.get_or_insert(t1.elapsed());
            if t1.elapsed() > Duration::from_secs(3) {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = p.lab.log_tail("peer.frr.log", 8);
    let (up2, flaps2, _) = bgp_session(&p);
    // Why bgpd's session went down, from its log (`show neighbor` clears `last_error` once
    // the session is back).
    let last_error = p
        .bgpd
        .log(&p.lab)
        .lines()
        .rfind(|l| l.contains("session down"))
        .unwrap_or_default()
        .to_owned();
    eprintln!(
        "bfd-reload: bfd = false: bgpd's session gone after {gone:.2?}; FRR: {frr_states:?}; BGP back after {back:.2?}; bgpd's BGP uptime {up2} s, flaps {flaps0} -> {flaps2}, last error {last_error:?}\n{log}"
    );
    assert!(p.bgpd.bfd().unwrap().is_empty());
    assert!(back.is_some(), "BGP not back: {frr_states:?}{}", p.state());
    assert!(
        flaps2 == flaps0
            || (flaps2 == flaps0 + 1 && last_error.contains("received Cease / BFD Down")),
        "BGP flapped {} times when BFD was turned off, last error {last_error:?}\n{log}",
        flaps2 - flaps0
    );
    if flaps2 == flaps0 {
        assert!(up2 >= up1 + 2, "BGP uptime {up1} s, then {up2} s");
    }
    // And it stays: FRR's BFD session down for good is not a new failure.
    std::thread::sleep(Duration::from_secs(2));
    let (_, flaps3, _) = bgp_session(&p);
    assert_eq!(flaps3, flaps2, "BGP flapped again: {}", p.state());
}
