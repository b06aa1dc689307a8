//! A misbehaving Calico node: a hand-made BGP speaker (`lab raw-peer`) joins the seed lab's
//! node network as a dynamic RR client and sends malformed messages.
//!
//! - An UPDATE with an invalid ORIGIN (7): RFC 7606 section 7.1 says treat-as-withdraw. The
//!   session stays up and the prefix it carried is withdrawn (also from the other nodes).
//! - A message with a broken marker: RFC 4271 section 6.1, NOTIFICATION Message Header Error /
//!   Connection Not Synchronized (1/1), and the session closes.
//!
//! Throughout, the well-behaved nodes and the VBR keep every route.
//!
//! A second test sends every treat-as-withdraw case of `bgp-wire/tests/malformed.rs`, each
//! rewritten for iBGP and each for a prefix of its own, after a valid announcement of that
//! prefix: the route must go from bgpd's RIB and from node 1 while the session stays up.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use lab_tests::daemons::find;
use lab_tests::hybrid::{HybridLab, Options};
use lab_tests::{skip, wait_until, Lab, Tool};

const BAD: &str = "192.0.2.50";
/// The raw peer's address on the IPv6 node network (the `calico6` range).
const BAD_V6: &str = "2001:db8:0:2::50";
const GOOD_BLOCK: &str = "198.18.50.0/26";
const OTHER_BLOCK: &str = "198.18.51.0/26";

struct RawPeer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl RawPeer {
    fn start(ns: &str, peer: &str, local: &str) -> RawPeer {
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns, env!("CARGO_BIN_EXE_lab"), "raw-peer"])
            .args([peer, local, "64512", "ibgp"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        RawPeer {
            child,
            stdin,
            stdout,
        }
    }

    fn line(&mut self) -> String {
        let mut s = String::new();
        self.stdout.read_line(&mut s).unwrap();
        s.trim().to_owned()
    }

    fn cmd(&mut self, c: &str) -> String {
        writeln!(self.stdin, "{c}").unwrap();
        self.stdin.flush().unwrap();
        self.line()
    }
}

impl Drop for RawPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The seed lab with two nodes, converged, and the raw peer established on the node network
/// (in dual stack: over IPv6, from [`BAD_V6`]).
fn lab_with_raw_peer() -> (HybridLab, RawPeer) {
    lab_with_raw_peer_over(false)
}

fn lab_with_raw_peer_over(v6: bool) -> (HybridLab, RawPeer) {
    let opts = Options {
        nodes: 2,
        dual_stack: v6,
        ..Options::default()
    };
    let mut seed = HybridLab::up(Lab::new().unwrap(), opts).unwrap();
    if let Err(e) = seed.wait_converged(Duration::from_secs(60)) {
        panic!("{e}\n{}", seed.lab.logs());
    }
    let sw = seed.lab.ns("sw");
    let bad = seed.lab.netns("bad").unwrap();
    let v4 = format!("{BAD}/24");
    let v6_addr = format!("{BAD_V6}/64");
    let addrs: Vec<&str> = if v6 { vec![&v4, &v6_addr] } else { vec![&v4] };
    seed.lab
        .attach((&bad, "eth0", &addrs), (&sw, "br0", "bad"))
        .unwrap();
    let mut raw = if v6 {
        let rr = seed.rrs[0].v6.as_ref().unwrap().lan.clone();
        RawPeer::start(&bad, &rr, BAD_V6)
    } else {
        RawPeer::start(&bad, "192.0.2.1", BAD)
    };
    assert_eq!(raw.line(), "established");
    (seed, raw)
}

#[test]
fn malformed_updates_are_handled_per_rfc7606_and_others_keep_their_routes() {
    if skip("misbehave", &[Tool::Bird16, Tool::Frr]) {
        return;
    }
    let (mut seed, mut raw) = lab_with_raw_peer();
    let rr = seed.rrs[0].bgpd.clone();
    let n1 = seed.nodes[0].bird.clone();
    let t = Duration::from_secs(15);

    // A well-formed block: reflected to the nodes.
    assert_eq!(raw.cmd(&format!("announce {GOOD_BLOCK}")), "sent");
    assert_eq!(raw.cmd(&format!("announce {OTHER_BLOCK}")), "sent");
    wait_until(t, "the raw peer's blocks at node 1", || {
        let r = n1.routes()?;
        Ok(!find(&r, GOOD_BLOCK).is_empty() && !find(&r, OTHER_BLOCK).is_empty())
    })
    .unwrap();
    // What the raw peer got on the wire: every node's block, never its own back (RFC 4456
    // section 8: it would discard a route with its own ORIGINATOR_ID).
    let received = raw.cmd("received");
    for n in &seed.nodes {
        assert!(received.contains(&n.block), "{received}");
    }
    assert!(
        !received.contains(GOOD_BLOCK) && !received.contains(OTHER_BLOCK),
        "the raw peer was sent its own routes: {received}"
    );

    // Invalid ORIGIN for one of them: treat-as-withdraw, session up.
    assert_eq!(raw.cmd(&format!("bad-origin {GOOD_BLOCK}")), "sent");
    let res = wait_until(t, "treat-as-withdraw at the RR and node 1", || {
        let gone_rr = find(&rr.rib(&[])?, GOOD_BLOCK).is_empty();
        let gone_n1 = find(&n1.routes()?, GOOD_BLOCK).is_empty();
        Ok(gone_rr && gone_n1)
    });
    if let Err(e) = res {
        panic!("{e}\n{}", rr.log(&seed.lab));
    }
    assert_eq!(raw.cmd("status"), "up", "bgpd reset the session");
    assert_eq!(rr.established(&[BAD]).unwrap(), 1);
    assert!(!find(&rr.rib(&[]).unwrap(), OTHER_BLOCK).is_empty());
    assert!(seed.unmet().unwrap().is_none(), "{:?}", seed.unmet());

    // A broken marker: NOTIFICATION 1/1 (Connection Not Synchronized), session closed.
    assert_eq!(raw.cmd("bad-marker"), "sent");
    let st = raw.cmd("status");
    assert_eq!(st, "notification 1 1", "{}", rr.log(&seed.lab));
    wait_until(t, "the raw peer's routes gone", || {
        Ok(find(&n1.routes()?, OTHER_BLOCK).is_empty() && rr.established(&[BAD])? == 0)
    })
    .unwrap();
    // Everyone else kept every route and session all along.
    assert!(seed.unmet().unwrap().is_none(), "{:?}", seed.unmet());
    let s = rr.sessions().unwrap();
    assert!(
        s.iter()
            .filter(|x| x.address != BAD)
            .all(|x| x.state == "established"),
        "{s:?}"
    );
}

/// The attributes of the raw peer's valid iBGP announcement: ORIGIN IGP, empty AS_PATH,
/// NEXT_HOP its own address (192.0.2.50), LOCAL_PREF 100.
const ORIGIN: &str = "40 01 01 00";
const AS_PATH: &str = "40 02 00";
const NEXT_HOP: &str = "40 03 04 c0 00 02 32";
const LOCAL_PREF: &str = "40 05 04 00 00 00 64";

/// Every treat-as-withdraw case of `bgp-wire/tests/malformed.rs`, for iBGP: (name, the
/// path attribute field). The names are the ones used there.
fn treat_as_withdraw_cases() -> Vec<(&'static str, String)> {
    let with = |extra: &str| [ORIGIN, AS_PATH, NEXT_HOP, LOCAL_PREF, extra].join(" ");
    let parts = |p: &[&str]| p.join(" ");
    vec![
        ("missing ORIGIN", parts(&[AS_PATH, NEXT_HOP, LOCAL_PREF])),
        ("missing NEXT_HOP", parts(&[ORIGIN, AS_PATH, LOCAL_PREF])),
        (
            "ORIGIN value 3",
            parts(&["40 01 01 03", AS_PATH, NEXT_HOP, LOCAL_PREF]),
        ),
        (
            "ORIGIN length 2",
            parts(&["40 01 02 00 00", AS_PATH, NEXT_HOP, LOCAL_PREF]),
        ),
        (
            "ORIGIN marked optional",
            parts(&["c0 01 01 00", AS_PATH, NEXT_HOP, LOCAL_PREF]),
        ),
        (
            "AS_PATH segment overrun",
            parts(&[ORIGIN, "40 02 06 02 02 00 00 fd e8", NEXT_HOP, LOCAL_PREF]),
        ),
        (
            "AS_PATH empty segment",
            parts(&[ORIGIN, "40 02 02 02 00", NEXT_HOP, LOCAL_PREF]),
        ),
        (
            "NEXT_HOP multicast",
            parts(&[ORIGIN, AS_PATH, "40 03 04 e0 00 00 01", LOCAL_PREF]),
        ),
        (
            "NEXT_HOP length 5",
            parts(&[ORIGIN, AS_PATH, "40 03 05 c0 00 02 32 00", LOCAL_PREF]),
        ),
        (
            "NEXT_HOP marked optional",
            parts(&[ORIGIN, AS_PATH, "c0 03 04 c0 00 02 32", LOCAL_PREF]),
        ),
        ("MED length 3", with("80 04 03 00 00 01")),
        ("COMMUNITIES length 5", with("c0 08 05 00 00 00 01 01")),
        (
            "LARGE_COMMUNITY length 11",
            with("c0 20 0b 00 00 00 00 00 00 00 00 00 00 00"),
        ),
        (
            "attribute overruns the attribute field",
            with("c0 08 08 00 00"),
        ),
        ("CLUSTER_LIST length 6", with("80 0a 06 01 01 01 01 02 02")),
        ("OTC length 2", with("c0 23 02 00 01")),
    ]
}

#[test]
fn every_treat_as_withdraw_case_withdraws_the_route_and_keeps_the_session() {
    if skip("misbehave", &[Tool::Bird16, Tool::Frr]) {
        return;
    }
    let (mut seed, mut raw) = lab_with_raw_peer();
    let n1 = seed.nodes[0].bird.clone();
    let valid = [ORIGIN, AS_PATH, NEXT_HOP, LOCAL_PREF].join(" ");
    run_cases(
        &seed,
        &mut raw,
        &n1,
        BAD,
        &valid,
        treat_as_withdraw_cases(),
        |i| format!("198.18.{}.0/26", 60 + i),
    );
    assert!(seed.unmet().unwrap().is_none(), "{:?}", seed.unmet());
}

/// Sends each case after a valid announcement of a prefix of its own (`prefix(i)`) and
/// checks that the route goes from bgpd's RIB and from `node` while the raw peer's session
/// (from `bad`) stays up; fails with every case that did not, and bgpd's log.
fn run_cases(
    seed: &HybridLab,
    raw: &mut RawPeer,
    node: &lab_tests::daemons::Bird,
    bad: &str,
    valid: &str,
    cases: Vec<(&'static str, String)>,
    prefix: impl Fn(usize) -> String,
) {
    let rr = seed.rrs[0].bgpd.clone();
    let t = Duration::from_secs(10);
    let mut failed = Vec::new();
    for (i, (name, attrs)) in cases.into_iter().enumerate() {
        let prefix = prefix(i);
        let start = Instant::now();
        let mut row = || -> Result<(), String> {
            let sent = raw.cmd(&format!("raw-attrs {prefix} {valid}"));
            if sent != "sent" {
                return Err(format!("valid announcement: {sent}"));
            }
            wait_until(t, "the valid route at the RR and the node", || {
                Ok(!find(&rr.rib(&[])?, &prefix).is_empty()
                    && !find(&node.routes()?, &prefix).is_empty())
            })
            .map_err(|e| e.to_string())?;
            let sent = raw.cmd(&format!("raw-attrs {prefix} {attrs}"));
            if sent != "sent" {
                return Err(format!("malformed UPDATE: {sent}"));
            }
            wait_until(t, "the route gone from the RR and the node", || {
                Ok(find(&rr.rib(&[])?, &prefix).is_empty()
                    && find(&node.routes()?, &prefix).is_empty())
            })
            .map_err(|e| e.to_string())?;
            // A reset would also have removed the route: the raw peer never reconnects, so
            // a session that went down is still down here.
            match rr.established(&[bad]) {
                Ok(1) => Ok(()),
                Ok(n) => Err(format!("{n} established sessions with the raw peer")),
                Err(e) => Err(e.to_string()),
            }
        };
        let res = row();
        eprintln!(
            "{name} ({prefix}): {} in {:.1?}",
            if res.is_ok() { "withdrawn" } else { "FAILED" },
            start.elapsed()
        );
        if let Err(e) = res {
            failed.push(format!("{name} ({prefix}): {e}"));
            if rr.established(&[bad]).unwrap_or(0) == 0 {
                failed.push("the raw peer's session is down: later rows not run".into());
                break;
            }
        }
    }
    let log = rr.log(&seed.lab);
    let lines: Vec<&str> = log.lines().collect();
    assert!(
        failed.is_empty(),
        "treat-as-withdraw cases that failed:\n{}\n----- bgpd log (end) -----\n{}",
        failed.join("\n"),
        lines[lines.len().saturating_sub(60)..].join("\n")
    );
    // The raw peer's own view: no NOTIFICATION and no close, at any point.
    assert_eq!(raw.cmd("status"), "up", "{}", log);
}

/// The IPv6 twin: the raw peer joins the `calico6` range over IPv6 and sends every
/// treat-as-withdraw case above that does not concern NEXT_HOP (an IPv6 route's next hop is
/// in MP_REACH_NLRI, which the raw peer puts first, as RFC 7606 section 5.1 asks), each for a
/// /122 of its own after a valid announcement: the route must go from bgpd's RIB and from
/// node 1's `bird6` while the session stays up.
#[test]
fn every_treat_as_withdraw_case_withdraws_the_ipv6_route_and_keeps_the_session() {
    if skip("misbehave_v6", &[Tool::Bird16, Tool::Bird16v6, Tool::Frr]) {
        return;
    }
    let (seed, mut raw) = lab_with_raw_peer_over(true);
    let n1 = seed.nodes[0].v6.as_ref().unwrap().bird.clone();
    let valid = [ORIGIN, AS_PATH, LOCAL_PREF].join(" ");
    let cases: Vec<(&str, String)> = treat_as_withdraw_cases()
        .into_iter()
        .filter(|(name, _)| !name.contains("NEXT_HOP"))
        .map(|(name, attrs)| (name, attrs.replace(NEXT_HOP, "").trim().to_owned()))
        .collect();
    assert!(cases.len() >= 12, "{cases:?}");
    // 2001:db8:18::1:0/122, 2001:db8:18::1:40/122, ... inside the IPv6 pod pool.
    run_cases(&seed, &mut raw, &n1, BAD_V6, &valid, cases, |i| {
        format!("2001:db8:18::{:x}:{:x}/122", 1 + i / 1024, (i % 1024) * 64)
    });
}
