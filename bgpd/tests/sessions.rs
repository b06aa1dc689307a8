//! Sessions on loopback with real sockets: TCP-MD5 match and mismatch, the received-prefix
//! limit, and malformed UPDATEs from a raw sender handled per RFC 7606 while another
//! session keeps its routes. Needs root (port 179, TCP-MD5 on 127.0.0.x).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bgp_wire::attr::{AsPath, AttrValue, Origin, PathAttributes};
use bgp_wire::capability::Capability;
use bgp_wire::{encode_to_bytes, Context, Message, Nlri, Open, Update};
use common::{daemon, eventually, neighbor, Bgpd};

#[test]
fn md5_match_and_mismatch() {
    let a = Bgpd::start(
        "md5-a",
        &daemon(
            31,
            &(neighbor("b", 32, 31, "password = \"s3cret\"")
                + &neighbor("c", 33, 31, "password = \"s3cret\"")),
        ),
    );
    let _b = Bgpd::start(
        "md5-b",
        &daemon(32, &neighbor("a", 31, 32, "password = \"s3cret\"")),
    );
    let _c = Bgpd::start(
        "md5-c",
        &daemon(33, &neighbor("a", 31, 33, "password = \"wrong\"")),
    );
    assert!(
        eventually(Duration::from_secs(15), || a.established(&["b"])),
        "{}",
        a.log()
    );
    // The wrong key never gets a session: its SYNs are dropped by the kernel.
    std::thread::sleep(Duration::from_secs(2));
    assert!(!a.established(&["c"]), "{:?}", a.states());
}

#[test]
fn max_prefixes_received_closes_with_cease() {
    let a = Bgpd::start(
        "maxpfx-a",
        &daemon(
            34,
            &neighbor("e", 35, 34, "max_prefixes = 2\nmax_prefixes_restart = 0"),
        ),
    );
    let origins = ["198.18.10.0/24", "198.18.11.0/24", "198.18.12.0/24"]
        .iter()
        .map(|p| format!("[[originate]]\nprefix = \"{p}\"\n"))
        .collect::<String>();
    let e = Bgpd::start(
        "maxpfx-e",
        &daemon(35, &(origins + &neighbor("a", 34, 35, ""))),
    );
    let refused = || {
        let v = a.ctl(&["show", "neighbor", "e"]);
        v[0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("Maximum Number of Prefixes"))
    };
    assert!(
        eventually(Duration::from_secs(15), refused),
        "{}\n{}",
        a.log(),
        e.log()
    );
    assert!(a.rib().is_empty(), "routes of a closed session are gone");
}

/// A peer that speaks BGP by hand, to send what no daemon would.
struct Raw {
    stream: TcpStream,
}

impl Raw {
    fn connect(from: &str, to: &str) -> Raw {
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket
            .bind(&from.parse::<SocketAddr>().unwrap().into())
            .unwrap();
        socket
            .connect_timeout(
                &to.parse::<SocketAddr>().unwrap().into(),
                Duration::from_secs(5),
            )
            .unwrap();
        let stream: TcpStream = socket.into();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        Raw { stream }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    fn send_msg(&mut self, msg: &Message) {
        let bytes = encode_to_bytes(msg, &Context::four_octet()).unwrap();
        self.send(&bytes);
    }

    /// Reads one message's type and body.
    fn read(&mut self) -> (u8, Vec<u8>) {
        let mut header = [0u8; 19];
        self.stream.read_exact(&mut header).unwrap();
        let len = usize::from(u16::from_be_bytes([header[16], header[17]]));
        let mut body = vec![0u8; len - 19];
        self.stream.read_exact(&mut body).unwrap();
        (header[18], body)
    }
}

fn update(prefix: &str) -> Message {
    Message::Update(Update {
        attributes: PathAttributes::from_values([
            AttrValue::Origin(Origin::Igp),
            AttrValue::AsPath(AsPath::default()),
            AttrValue::NextHop("127.0.0.38".parse().unwrap()),
            AttrValue::LocalPref(100),
        ]),
        nlri: vec![Nlri::new(prefix.parse().unwrap())],
        ..Update::default()
    })
}

/// An UPDATE for `prefix` whose ORIGIN is 7: RFC 7606 treat-as-withdraw.
fn bad_origin(prefix: [u8; 3]) -> Vec<u8> {
    let attrs: &[u8] = &[
        0x40, 1, 1, 7, // ORIGIN 7
        0x40, 2, 0, // empty AS_PATH
        0x40, 3, 4, 127, 0, 0, 38, // NEXT_HOP
    ];
    let mut body = vec![0, 0, 0, u8::try_from(attrs.len()).unwrap()];
    body.extend_from_slice(attrs);
    body.extend_from_slice(&[24, prefix[0], prefix[1], prefix[2]]);
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&u16::try_from(19 + body.len()).unwrap().to_be_bytes());
    m.push(2);
    m.extend_from_slice(&body);
    m
}

#[test]
fn malformed_updates_follow_rfc7606_and_spare_other_sessions() {
    let rr = Bgpd::start(
        "raw-rr",
        &daemon(
            37,
            &(neighbor(
                "raw",
                38,
                37,
                "passive = true\nroute_reflector_client = true",
            ) + &neighbor("good", 39, 37, "route_reflector_client = true")),
        ),
    );
    let _good = Bgpd::start(
        "raw-good",
        &daemon(
            39,
            &("[[originate]]\nprefix = \"198.18.9.0/24\"\n".to_owned()
                + &neighbor("rr", 37, 39, "")),
        ),
    );
    let t = Duration::from_secs(15);
    assert!(eventually(t, || rr
        .rib()
        .iter()
        .any(|r| r.prefix == "198.18.9.0/24")));

    let mut raw = Raw::connect("127.0.0.38:0", "127.0.0.37:179");
    let open = Open::new(
        64512,
        90,
        "192.0.2.38".parse().unwrap(),
        vec![Capability::FourOctetAs(64512)],
    );
    raw.send_msg(&Message::Open(open));
    assert_eq!(raw.read().0, 1, "OPEN");
    assert_eq!(raw.read().0, 4, "KEEPALIVE");
    raw.send_msg(&Message::Keepalive);
    raw.send_msg(&update("198.18.5.0/24"));
    raw.send(&bad_origin([198, 18, 6]));
    let prefixes = || rr.rib().into_iter().map(|r| r.prefix).collect::<Vec<_>>();
    assert!(eventually(t, || prefixes().contains(&"198.18.5.0/24".to_owned())));
    // Treat-as-withdraw: the malformed route is not there and the session stays up.
    assert!(!prefixes().contains(&"198.18.6.0/24".to_owned()));
    assert!(rr.established(&["raw", "good"]));
    // A malformed re-announcement withdraws the route it names.
    raw.send(&bad_origin([198, 18, 5]));
    assert!(eventually(t, || !prefixes().contains(&"198.18.5.0/24".to_owned())));
    assert!(rr.established(&["raw"]));

    // A bad marker cannot be recovered from: NOTIFICATION 1/1 and the session closes.
    let mut garbage = bad_origin([198, 18, 7]);
    garbage[0] = 0;
    raw.send(&garbage);
    let mut got_notification = false;
    for _ in 0..10 {
        let (kind, body) = raw.read();
        if kind == 3 {
            assert_eq!(
                &body[..2],
                &[1, 1],
                "Message Header Error / Connection Not Synchronized"
            );
            got_notification = true;
            break;
        }
    }
    assert!(got_notification);
    // The other session and its routes are untouched.
    assert!(rr.established(&["good"]));
    assert!(prefixes().contains(&"198.18.9.0/24".to_owned()));
}

#[test]
fn graceful_and_long_lived_restart_as_helper() {
    let gr = "graceful_restart = { restart_time = 1, long_lived_stale_time = 3 }";
    let client = format!("route_reflector_client = true\n{gr}");
    let a = Bgpd::start(
        "llgr-a",
        &daemon(
            41,
            &(neighbor("b", 42, 41, &client) + &neighbor("c", 43, 41, &client)),
        ),
    );
    let mut b = Bgpd::start(
        "llgr-b",
        &daemon(
            42,
            &("[[originate]]\nprefix = \"198.18.42.0/24\"\n".to_owned()
                + &neighbor("a", 41, 42, gr)),
        ),
    );
    let c = Bgpd::start("llgr-c", &daemon(43, &neighbor("a", 41, 43, gr)));
    let t = Duration::from_secs(15);
    let route = |d: &Bgpd| {
        d.rib()
            .into_iter()
            .find(|r| r.prefix == "198.18.42.0/24")
            .map(|r| (r.stale, r.communities))
    };
    assert!(
        eventually(t, || route(&c) == Some((false, vec![]))),
        "{:?}",
        route(&c)
    );
    // The peer dies without a word: its routes stay, stale (RFC 4724); after the restart
    // time, long-lived stale (RFC 9494): still used, passed on with LLGR_STALE to peers
    // that understand it; after the stale time, gone.
    b.kill();
    assert!(
        eventually(t, || route(&a).is_some_and(|r| r.0)),
        "{:?}",
        route(&a)
    );
    let llgr = vec!["65535:6".to_owned()];
    assert!(
        eventually(t, || route(&c) == Some((false, llgr.clone()))),
        "{:?}\n{}",
        route(&c),
        a.log()
    );
    assert!(route(&a).is_some_and(|r| r.0));
    assert!(eventually(t, || route(&a).is_none()), "{:?}", route(&a));
    assert!(eventually(t, || route(&c).is_none()), "{:?}", route(&c));
}

#[test]
fn enhanced_route_refresh_both_ways() {
    use bgp_wire::{Family, RefreshSubtype, RouteRefresh};
    let rr = Bgpd::start(
        "err-rr",
        &daemon(
            44,
            &("[[originate]]\nprefix = \"198.18.44.0/24\"\n".to_owned()
                + &neighbor(
                    "raw",
                    45,
                    44,
                    "passive = true\nroute_reflector_client = true",
                )),
        ),
    );
    let mut raw = Raw::connect("127.0.0.45:0", "127.0.0.44:179");
    let open = Open::new(
        64512,
        90,
        "192.0.2.45".parse().unwrap(),
        vec![
            Capability::FourOctetAs(64512),
            Capability::RouteRefresh,
            Capability::EnhancedRouteRefresh,
        ],
    );
    raw.send_msg(&Message::Open(open));
    assert_eq!(raw.read().0, 1, "OPEN");
    assert_eq!(raw.read().0, 4, "KEEPALIVE");
    raw.send_msg(&Message::Keepalive);
    let next_hop = |m: Message| match m {
        Message::Update(mut u) => {
            u.attributes
                .set(AttrValue::NextHop("127.0.0.45".parse().unwrap()));
            Message::Update(u)
        }
        m => m,
    };
    raw.send_msg(&next_hop(update("198.18.20.0/24")));
    raw.send_msg(&next_hop(update("198.18.21.0/24")));
    let t = Duration::from_secs(15);
    let prefixes = || rr.rib().into_iter().map(|r| r.prefix).collect::<Vec<_>>();
    assert!(eventually(t, || prefixes().contains(&"198.18.21.0/24".to_owned())));

    // We refresh them (RFC 7313): only 198.18.21.0/24 is sent again; the other goes at EoRR.
    let marker = |subtype| {
        Message::RouteRefresh(RouteRefresh {
            family: Family::Ipv4Unicast,
            subtype,
        })
    };
    raw.send_msg(&marker(RefreshSubtype::Begin));
    raw.send_msg(&next_hop(update("198.18.21.0/24")));
    raw.send_msg(&marker(RefreshSubtype::End));
    assert!(
        eventually(t, || !prefixes().contains(&"198.18.20.0/24".to_owned())),
        "{:?}",
        prefixes()
    );
    assert!(prefixes().contains(&"198.18.21.0/24".to_owned()));

    // They refresh us: the table comes between BoRR and EoRR.
    raw.send_msg(&marker(RefreshSubtype::Request));
    let mut seen = Vec::new();
    for _ in 0..20 {
        let (kind, body) = raw.read();
        match kind {
            5 => seen.push(format!("refresh-{}", body[2])),
            2 if seen.last().is_some_and(|s| s == "refresh-1") => seen.push("update".into()),
            _ => {}
        }
        if seen.last().is_some_and(|s| s == "refresh-2") {
            break;
        }
    }
    assert_eq!(seen, ["refresh-1", "update", "refresh-2"]);
}

#[test]
fn a_peer_back_from_a_cease_is_accepted_at_once() {
    let a = Bgpd::start(
        "cease-a",
        &daemon(46, &neighbor("b", 47, 46, "passive = true")),
    );
    let b = Bgpd::start("cease-b", &daemon(47, &neighbor("a", 46, 47, "")));
    let t = Duration::from_secs(15);
    assert!(eventually(t, || a.established(&["b"])));
    // b shuts the session down with a Cease, then brings it back: a (passive, idling after
    // the Cease) takes the new connection instead of refusing it for a minute.
    b.ctl(&["neighbor", "a", "down", "--message", "maintenance"]);
    assert!(eventually(t, || !a.established(&["b"])));
    let started = std::time::Instant::now();
    b.ctl(&["neighbor", "a", "up"]);
    assert!(
        eventually(Duration::from_secs(10), || a.established(&["b"])),
        "{}",
        a.log()
    );
    eprintln!("re-established {:?} after the Cease", started.elapsed());
}
