//! A short soak with faults, on loopback: a reflector between an injector and a client.
//! The injector is killed (-9) and reset (Cease) at random moments while its routes are in
//! flight, the client is stalled past its hold time, the reflector itself is killed and
//! restarted; after each fault the client holds exactly the injector's routes, and the
//! reflector's memory stays bounded. Needs root (port 179).
//!
//! A second test churns 100 Calico-like peers of a dynamic range that negotiate graceful
//! restart: they drop without a word and come back, a random share at a time.
//!
//! `BGPD_SOAK_FLAPS`, `BGPD_SOAK_PREFIXES` and `BGPD_SOAK_CHURN` make them longer
//! (`bench/soak`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use bgp_wire::attr::{AsPath, AttrValue, Origin, PathAttributes};
use bgp_wire::capability::{Capability, GracefulRestart, GracefulRestartFamily};
use bgp_wire::{encode_to_bytes, Context, Family, Framer, Message, Nlri, Open, Update};
use bytes::BytesMut;
use common::{daemon, eventually, neighbor, Bgpd};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// xorshift: reproducible without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

const GR: &str = "graceful_restart = { restart_time = 5 }";

/// The injector: `prefixes` /32s of 198.18.0.0/15, graceful restart.
fn injector_config(prefixes: usize) -> String {
    let mut originate = String::new();
    for i in 0..prefixes {
        let (hi, lo) = (i / 256, i % 256);
        originate += &format!("[[originate]]\nprefix = \"198.18.{hi}.{lo}/32\"\n");
    }
    daemon(61, &(originate + &neighbor("r", 60, 61, GR)))
}

fn reflector_config() -> String {
    let client = format!("route_reflector_client = true\n{GR}");
    // The client's session has a short hold time so that a stall expires it quickly.
    let stalled = format!("{client}\nhold_time = 3");
    daemon(
        60,
        &(neighbor("i", 61, 60, &client) + &neighbor("c", 62, 60, &stalled)),
    )
}

/// Routes the client has from the reflector, and whether the session is up.
fn client_view(c: &Bgpd) -> (u64, bool) {
    let v = c.ctl(&["show", "summary"]);
    let row = v
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["name"] == "r").cloned())
        .unwrap_or_default();
    (
        row["prefixes_accepted"].as_u64().unwrap_or(0),
        row["state"] == "established",
    )
}

fn converged(c: &Bgpd, prefixes: usize, what: &str, extra: &dyn Fn() -> String) {
    let want = u64::try_from(prefixes).unwrap();
    let limit = Duration::from_secs(30);
    assert!(
        eventually(limit, || client_view(c) == (want, true)),
        "{what}: the client has {:?}, want {want} routes\n{}",
        client_view(c),
        extra()
    );
}

#[test]
fn flaps_stalls_and_kills_leave_exact_routes_and_bounded_memory() {
    let flaps = env_or("BGPD_SOAK_FLAPS", 20);
    let prefixes = env_or("BGPD_SOAK_PREFIXES", 1000);
    let mut rng = Rng(0x005e_ed0f_50a6);
    let mut r = Bgpd::start("soak-r", &reflector_config());
    let mut i = Bgpd::start("soak-i", &injector_config(prefixes));
    let c = Bgpd::start("soak-c", &daemon(62, &neighbor("r", 60, 62, GR)));
    converged(&c, prefixes, "start", &|| r.log());
    let warm_rss = r.rss_kb();
    let started = Instant::now();

    for n in 0..flaps {
        // A random moment: while the injector's table may still be on its way.
        let pause = Duration::from_millis(rng.below(800));
        if rng.below(2) == 0 {
            // The injector dies without a word and comes back: its routes stay stale on
            // the reflector (graceful restart), then are refreshed; the client never holds
            // more than the injector's routes.
            i.kill();
            std::thread::sleep(pause);
            i = Bgpd::start("soak-i", &injector_config(prefixes));
        } else {
            // The operator resets the session (Cease): routes withdrawn and learned again.
            std::thread::sleep(pause);
            r.ctl(&["neighbor", "i", "clear"]);
        }
        let (have, _) = client_view(&c);
        assert!(
            have <= u64::try_from(prefixes).unwrap(),
            "flap {n}: the client holds {have} routes"
        );
        converged(&c, prefixes, &format!("flap {n}"), &|| {
            let tail = |d: &Bgpd| {
                let log = d.log();
                let lines: Vec<&str> = log.lines().collect();
                lines[lines.len().saturating_sub(30)..].join("\n")
            };
            format!(
                "reflector: {}\n{}\ninjector: {}\n{}",
                r.ctl(&["show", "summary"]),
                tail(&r),
                i.ctl(&["show", "summary"]),
                tail(&i)
            )
        });
    }
    let flapped_rss = r.rss_kb();
    let flap_time = started.elapsed();

    // The client stops reading past its hold time: the reflector's hold timer ends the
    // session; once the client runs again the session and the routes come back.
    c.signal("STOP");
    let down = eventually(Duration::from_secs(10), || {
        r.states()
            .iter()
            .any(|(n, s)| n == "c" && s != "established")
    });
    c.signal("CONT");
    assert!(down, "the stalled client's session stayed up\n{}", r.log());
    converged(&c, prefixes, "after the stall", &|| r.log());

    // The reflector itself is killed and started again.
    r.kill();
    r = Bgpd::start("soak-r", &reflector_config());
    converged(&c, prefixes, "after the reflector's restart", &|| r.log());

    eprintln!(
        "soak: {flaps} flaps of {prefixes} routes in {:.1} s; reflector RSS {warm_rss} kB \
         warm, {flapped_rss} kB after the flaps",
        flap_time.as_secs_f64()
    );
    assert!(
        flapped_rss <= warm_rss + warm_rss / 2 + 4096,
        "the reflector grew from {warm_rss} kB to {flapped_rss} kB over {flaps} flaps"
    );
}

/// A node of the range: OPEN with graceful restart, its two blocks, End-of-RIB.
fn node_session(reflector: SocketAddr, i: usize) -> Option<TcpStream> {
    let local: std::net::Ipv4Addr = format!("127.0.1.{}", i + 1).parse().ok()?;
    // From the node's own address: std cannot bind before connecting, socket2 can.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).ok()?;
    socket.set_reuse_address(true).ok()?;
    socket.bind(&SocketAddr::new(local.into(), 0).into()).ok()?;
    socket
        .connect_timeout(&reflector.into(), Duration::from_secs(5))
        .ok()?;
    let mut stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let gr = GracefulRestart {
        flags: 0,
        restart_time: 60,
        families: vec![GracefulRestartFamily {
            family: Family::Ipv4Unicast,
            flags: 0x80,
        }],
    };
    let caps = vec![
        Capability::Multiprotocol(Family::Ipv4Unicast),
        Capability::FourOctetAs(64512),
        Capability::GracefulRestart(gr),
    ];
    let ctx = Context::four_octet();
    let open = Message::Open(Open::new(64512, 90, local, caps));
    stream.write_all(&encode_to_bytes(&open, &ctx).ok()?).ok()?;
    // Their OPEN first: a KEEPALIVE before it is an FSM error.
    let framer = Framer::new();
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Ok(Some(m)) = framer.next_message(&mut buf) {
            if m.get(18) == Some(&1) {
                break;
            }
            continue;
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let blocks: Vec<Nlri> = (0..2)
        .map(|b| {
            Nlri::new(
                format!("10.{}.{}.0/26", 100 + i / 128, (i % 128) * 2 + b)
                    .parse()
                    .unwrap(),
            )
        })
        .collect();
    let update = Message::Update(Update {
        attributes: PathAttributes::from_values([
            AttrValue::Origin(Origin::Igp),
            AttrValue::AsPath(AsPath::default()),
            AttrValue::NextHop(local),
            AttrValue::LocalPref(100),
        ]),
        nlri: blocks,
        ..Update::default()
    });
    for m in [
        Message::Keepalive,
        update,
        Message::Update(Update::end_of_rib(Family::Ipv4Unicast)),
    ] {
        stream.write_all(&encode_to_bytes(&m, &ctx).ok()?).ok()?;
    }
    Some(stream)
}

/// (routes in the reflector's table, of which stale, sessions up).
fn reflector_view(r: &Bgpd) -> (usize, usize, usize) {
    let rib = r.rib();
    let stale = rib.iter().filter(|x| x.stale).count();
    let up = r
        .states()
        .iter()
        .filter(|(_, s)| s == "established")
        .count();
    (rib.len(), stale, up)
}

#[test]
fn a_hundred_graceful_peers_churning_keep_their_routes_and_leave_no_stale_ones() {
    const NODES: usize = 100;
    let rounds = env_or("BGPD_SOAK_CHURN", 10);
    let _ = TcpListener::bind("127.0.1.1:0").expect("127.0.1.0/24 is loopback here");
    let config = daemon(
        63,
        r#"
[[neighbor]]
name = "calico"
range = "127.0.1.0/24"
remote_as = 64512
route_reflector_client = true
graceful_restart = { restart_time = 60 }
"#,
    );
    let r = Bgpd::start("churn-r", &config);
    let at: SocketAddr = "127.0.0.63:179".parse().unwrap();
    let mut nodes: Vec<Option<TcpStream>> = (0..NODES).map(|i| node_session(at, i)).collect();
    let all = (2 * NODES, 0, NODES);
    let t = Duration::from_secs(30);
    assert!(
        eventually(t, || reflector_view(&r) == all),
        "start: {:?}\n{}",
        reflector_view(&r),
        r.log()
    );
    let warm_rss = r.rss_kb();
    let mut rng = Rng(0x00c4_0c4e_5eed);
    let started = Instant::now();
    for round in 0..rounds {
        // A random share of the nodes drops without a NOTIFICATION (a node rebooting): the
        // reflector keeps their routes as stale (RFC 4724), so the table never shrinks.
        let share = 1 + rng.below(u64::try_from(NODES).unwrap());
        let dropped: Vec<usize> = (0..NODES)
            .filter(|_| rng.below(u64::try_from(NODES).unwrap()) < share)
            .collect();
        for &i in &dropped {
            nodes[i] = None;
        }
        let gone = dropped.len();
        let restarting = (2 * NODES, 2 * gone, NODES - gone);
        assert!(
            eventually(t, || reflector_view(&r) == restarting),
            "round {round} ({gone} nodes down): {:?}, want {restarting:?}\n{}",
            reflector_view(&r),
            r.log()
        );
        for &i in &dropped {
            nodes[i] = node_session(at, i);
        }
        // Back with their End-of-RIB: nothing stale is left, every route is there once.
        assert!(
            eventually(t, || reflector_view(&r) == all),
            "round {round} ({} nodes restarted): {:?}\n{}",
            dropped.len(),
            reflector_view(&r),
            r.log()
        );
    }
    let rss = r.rss_kb();
    eprintln!(
        "churn: {rounds} rounds of {NODES} graceful peers in {:.1} s; reflector RSS {warm_rss} \
         kB warm, {rss} kB after",
        started.elapsed().as_secs_f64()
    );
    assert!(
        rss <= warm_rss + warm_rss / 2 + 4096,
        "the reflector grew from {warm_rss} kB to {rss} kB over {rounds} rounds"
    );
    drop(nodes);
}
