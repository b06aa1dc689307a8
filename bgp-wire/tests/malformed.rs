//! Malformed messages and the exact NOTIFICATION (RFC 4271 section 6) or RFC 7606 action
//! each one must give.

// Tests panic on failure by design; the workspace lints keep panics out of src/ only.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

use bgp_wire::{decode, Context, ErrorHandling, Family, Framer, Message};
use bytes::BytesMut;

/// A message from its type and body, with a correct header.
fn msg(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&u16::try_from(19 + body.len()).unwrap().to_be_bytes());
    m.push(kind);
    m.extend_from_slice(body);
    m
}

/// An UPDATE from withdrawn bytes, attribute bytes and NLRI bytes.
fn update(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&u16::try_from(withdrawn.len()).unwrap().to_be_bytes());
    b.extend_from_slice(withdrawn);
    b.extend_from_slice(&u16::try_from(attrs.len()).unwrap().to_be_bytes());
    b.extend_from_slice(attrs);
    b.extend_from_slice(nlri);
    msg(2, &b)
}

const ORIGIN: &[u8] = &[0x40, 1, 1, 0];
const AS_PATH: &[u8] = &[0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe8]; // sequence [65000], 4-octet
const NEXT_HOP: &[u8] = &[0x40, 3, 4, 192, 0, 2, 1];
const NLRI: &[u8] = &[24, 198, 51, 100];

fn attrs(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Expected outcome: a fatal error with (code, subcode, action), or an Update whose
/// RFC 7606 outcomes are exactly these actions.
enum Expect {
    Fatal(u8, u8, ErrorHandling),
    Handled(&'static [ErrorHandling]),
}

fn check(name: &str, bytes: &[u8], expect: Expect) {
    let ctx = Context::four_octet();
    let got = decode(bytes, &ctx);
    match (expect, got) {
        (Expect::Fatal(code, subcode, action), Err(e)) => {
            let n = e.notification();
            assert_eq!(
                (n.code, n.subcode, e.action),
                (code, subcode, action),
                "{name}: got {e}"
            );
        }
        (Expect::Handled(actions), Ok(Message::Update(u))) => {
            let got: Vec<ErrorHandling> = u.errors.iter().map(|e| e.action).collect();
            assert_eq!(got, actions, "{name}: errors {:?}", u.errors);
        }
        (_, other) => panic!("{name}: unexpected {other:?}"),
    }
}

#[test]
fn header_errors() {
    let mut bad_marker = msg(4, &[]);
    bad_marker[0] = 0;
    check(
        "bad marker",
        &bad_marker,
        Expect::Fatal(1, 1, ErrorHandling::SessionReset),
    );
    let mut short = msg(4, &[]);
    short[17] = 18;
    check(
        "length 18",
        &short,
        Expect::Fatal(1, 2, ErrorHandling::SessionReset),
    );
    check(
        "keepalive with body",
        &msg(4, &[0]),
        Expect::Fatal(1, 2, ErrorHandling::SessionReset),
    );
    check(
        "short open",
        &msg(1, &[4, 0, 1]),
        Expect::Fatal(1, 2, ErrorHandling::SessionReset),
    );
    check(
        "short update",
        &msg(2, &[0, 0]),
        Expect::Fatal(1, 2, ErrorHandling::SessionReset),
    );
    check(
        "short notification",
        &msg(3, &[6]),
        Expect::Fatal(1, 2, ErrorHandling::SessionReset),
    );
    check(
        "type 9",
        &msg(9, &[]),
        Expect::Fatal(1, 3, ErrorHandling::SessionReset),
    );
    check(
        "route refresh length",
        &msg(5, &[0, 1, 0]),
        Expect::Fatal(7, 1, ErrorHandling::SessionReset),
    );
    let over = msg(2, &vec![0u8; 4096 - 19 + 1]);
    let err = Framer::new()
        .next_message(&mut BytesMut::from(&over[..]))
        .unwrap_err();
    assert_eq!(err.notification().subcode, 2);
}

#[test]
fn open_errors() {
    let open = |version: u8, hold: u16, id: [u8; 4], params: &[u8]| {
        let mut b = vec![version, 0xfd, 0xe8];
        b.extend_from_slice(&hold.to_be_bytes());
        b.extend_from_slice(&id);
        b.push(u8::try_from(params.len()).unwrap());
        b.extend_from_slice(params);
        msg(1, &b)
    };
    check(
        "version 3",
        &open(3, 90, [1, 1, 1, 1], &[]),
        Expect::Fatal(2, 1, ErrorHandling::SessionReset),
    );
    check(
        "hold 2",
        &open(4, 2, [1, 1, 1, 1], &[]),
        Expect::Fatal(2, 6, ErrorHandling::SessionReset),
    );
    check(
        "id 0",
        &open(4, 90, [0, 0, 0, 0], &[]),
        Expect::Fatal(2, 3, ErrorHandling::SessionReset),
    );
    check(
        "capability overrun",
        &open(4, 90, [1, 1, 1, 1], &[2, 3, 65, 4, 0]),
        Expect::Fatal(2, 0, ErrorHandling::SessionReset),
    );
    check(
        "4-octet AS capability of 2 octets",
        &open(4, 90, [1, 1, 1, 1], &[2, 4, 65, 2, 0, 1]),
        Expect::Fatal(2, 0, ErrorHandling::SessionReset),
    );
    let ok = open(4, 90, [1, 1, 1, 1], &[2, 6, 65, 4, 0, 0, 0xfd, 0xe8]);
    assert!(matches!(decode(&ok, &Context::BASIC), Ok(Message::Open(o)) if o.asn() == 65000));
}

#[test]
fn update_structure_errors() {
    let mut b = update(&[], &[], &[]);
    b[20] = 5; // withdrawn length 5 with nothing behind it
    check(
        "withdrawn overrun",
        &b,
        Expect::Fatal(3, 1, ErrorHandling::SessionReset),
    );
    let mut b = update(&[], &attrs(&[ORIGIN]), &[]);
    b[22] = 200; // total attribute length beyond the message
    check(
        "attributes overrun",
        &b,
        Expect::Fatal(3, 1, ErrorHandling::SessionReset),
    );
    check(
        "NLRI over /32",
        &update(
            &[],
            &attrs(&[ORIGIN, AS_PATH, NEXT_HOP]),
            &[33, 1, 2, 3, 4, 5],
        ),
        Expect::Fatal(3, 10, ErrorHandling::SessionReset),
    );
    check(
        "truncated NLRI",
        &update(&[], &attrs(&[ORIGIN, AS_PATH, NEXT_HOP]), &[24, 1, 2]),
        Expect::Fatal(3, 10, ErrorHandling::SessionReset),
    );
    check(
        "withdrawn over /32",
        &update(&[40, 1, 2, 3, 4, 5], &[], &[]),
        Expect::Fatal(3, 10, ErrorHandling::SessionReset),
    );
}

#[test]
fn attribute_errors_follow_rfc7606() {
    use ErrorHandling::*;
    let cases: &[(&str, Vec<u8>, Expect)] = &[
        (
            "valid",
            attrs(&[ORIGIN, AS_PATH, NEXT_HOP]),
            Expect::Handled(&[]),
        ),
        (
            "missing ORIGIN",
            attrs(&[AS_PATH, NEXT_HOP]),
            Expect::Handled(&[TreatAsWithdraw]),
        ),
        (
            "missing NEXT_HOP",
            attrs(&[ORIGIN, AS_PATH]),
            Expect::Handled(&[TreatAsWithdraw]),
        ),
        (
            "ORIGIN value 3",
            attrs(&[&[0x40, 1, 1, 3], AS_PATH, NEXT_HOP]),
            Expect::Handled(&[TreatAsWithdraw]),
        ),
        (
            "ORIGIN length 2",
            attrs(&[&[0x40, 1, 2, 0, 0], AS_PATH, NEXT_HOP]),
            Expect::Handled(&[TreatAsWithdraw]),
        ),
        (
            "ORIGIN marked optional",
            attrs(&[&[0xc0, 1, 1, 0], AS_PATH, NEXT_HOP]),
            Expect::Handled(&[TreatAsWithdraw]),
        ),
        (
            "AS_PATH segment overrun",
            attrs(&[ORIGIN, &[0x40, 2, 6, 2, 2, 0, 0, 0xfd, 0xe8], NEXT_HOP]),
            Expect::Handled(&[TreatAsWithdraw]),
        ),
        (
            "AS_PATH empty segment",
            attrs(&[ORIGIN, &[0x40, 2, 2, 2, 0], NEXT_HOP]),
            Expect::Handled(&[TreatAsWithdraw]),
        ),
        (
            "NEXT_HOP multicast",
            attrs(&[ORIGIN, AS_PATH, &[0x40, 3, 4, 224, 0, 0, 1]]),
            Expect::Handled(&[TreatAsWithdraw]),
        ),
        (
            "NEXT_HOP length 5",
            attrs(&[ORIGIN, AS_PATH, &[0x40, 3, 5, 192, 0, 2, 1, 0]]),
            Expect::Handled(&[TreatAsWithdraw]),
        ),
        (
            "NEXT_HOP marked optional",
            attrs(&[ORIGIN, AS_PATH, &[0xc0, 3, 4, 192, 0, 2, 1]]),
            Expect::Handled(&[TreatAsWithdraw]),
        ),
        (
            "MED length 3",
            attrs(&[ORIGIN, AS_PATH, NEXT_HOP, &[0x80, 4, 3, 0, 0, 1]]),
            Expect::Handled(&[TreatAsWithdraw]),
        ),
        (
            "ATOMIC_AGGREGATE with a value",
            attrs(&[ORIGIN, AS_PATH, NEXT_HOP, &[0x40, 6, 1, 0]]),
            Expect::Handled(&[AttributeDiscard]),
        ),
        (
            "AGGREGATOR length 7",
            attrs(&[
                ORIGIN,
                AS_PATH,
                NEXT_HOP,
                &[0xc0, 7, 7, 0, 0, 0, 1, 1, 1, 1],
            ]),
            Expect::Handled(&[AttributeDiscard]),
        ),
        (
            "COMMUNITIES length 5",
            attrs(&[ORIGIN, AS_PATH, NEXT_HOP, &[0xc0, 8, 5, 0, 0, 0, 1, 1]]),
            Expect::Handled(&[TreatAsWithdraw]),
        ),
        (
            "duplicate ORIGIN",
            attrs(&[ORIGIN, ORIGIN, AS_PATH, NEXT_HOP]),
            Expect::Handled(&[AttributeDiscard]),
        ),
        (
            "duplicate MP_UNREACH_NLRI",
            attrs(&[&[0x80, 15, 3, 0, 2, 1], &[0x80, 15, 3, 0, 2, 1]]),
            Expect::Fatal(3, 1, SessionReset),
        ),
        (
            "MP_REACH_NLRI with an IPv6 prefix over /128",
            attrs(&[
                ORIGIN,
                AS_PATH,
                &[
                    0x80, 14, 22, 0, 2, 1, 16, 0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                    0, 1, 0, 129,
                ],
            ]),
            Expect::Fatal(3, 9, AfiSafiDisable(Family::Ipv6Unicast)),
        ),
        (
            "MP_REACH_NLRI next hop of 5 octets",
            attrs(&[
                ORIGIN,
                AS_PATH,
                &[0x80, 14, 10, 0, 1, 1, 5, 1, 2, 3, 4, 5, 0],
            ]),
            Expect::Fatal(3, 9, AfiSafiDisable(Family::Ipv4Unicast)),
        ),
        (
            "unknown well-known attribute",
            attrs(&[ORIGIN, AS_PATH, NEXT_HOP, &[0x40, 99, 0]]),
            Expect::Fatal(3, 2, SessionReset),
        ),
        (
            "unknown optional attribute is kept",
            attrs(&[ORIGIN, AS_PATH, NEXT_HOP, &[0xc0, 99, 1, 7]]),
            Expect::Handled(&[]),
        ),
        (
            "AS4_PATH malformed",
            attrs(&[ORIGIN, AS_PATH, NEXT_HOP, &[0xc0, 17, 3, 2, 1, 0]]),
            Expect::Handled(&[AttributeDiscard]),
        ),
        (
            "LARGE_COMMUNITY length 11",
            attrs(&[
                ORIGIN,
                AS_PATH,
                NEXT_HOP,
                &[0xc0, 32, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            ]),
            Expect::Handled(&[TreatAsWithdraw]),
        ),
        (
            "attribute overruns the attribute field",
            attrs(&[ORIGIN, AS_PATH, NEXT_HOP, &[0xc0, 8, 8, 0, 0]]),
            Expect::Handled(&[TreatAsWithdraw]),
        ),
        (
            "CLUSTER_LIST length 6",
            attrs(&[ORIGIN, AS_PATH, NEXT_HOP, &[0x80, 10, 6, 1, 1, 1, 1, 2, 2]]),
            Expect::Handled(&[TreatAsWithdraw]),
        ),
        (
            "OTC length 2",
            attrs(&[ORIGIN, AS_PATH, NEXT_HOP, &[0xc0, 35, 2, 0, 1]]),
            Expect::Handled(&[TreatAsWithdraw]),
        ),
    ];
    for (name, a, expect) in cases {
        let expect = match expect {
            Expect::Fatal(c, s, a) => Expect::Fatal(*c, *s, *a),
            Expect::Handled(x) => Expect::Handled(x),
        };
        check(name, &update(&[], a, NLRI), expect);
    }
}

#[test]
fn treat_as_withdraw_keeps_the_routes_to_withdraw() {
    let b = update(&[], &attrs(&[&[0x40, 1, 1, 7], AS_PATH, NEXT_HOP]), NLRI);
    let Ok(Message::Update(u)) = decode(&b, &Context::four_octet()) else {
        panic!("not decoded")
    };
    assert!(u.treat_as_withdraw());
    assert_eq!(u.nlri.len(), 1);
    // The NOTIFICATION that would have been sent names the attribute (RFC 4271 6.3).
    let n = u.errors[0].notification();
    assert_eq!(
        (n.code, n.subcode, &n.data[..]),
        (3, 6, &[0x40, 1, 1, 7][..])
    );
}

#[test]
fn treat_as_withdraw_of_next_hop_keeps_the_routes_to_withdraw() {
    // RFC 7606 section 7.3: the broken NEXT_HOP is left out, so the routes have no next hop
    // to be announced with, but they are still there to be withdrawn.
    for (name, next_hop) in [
        ("NEXT_HOP length 5", &[0x40, 3, 5, 192, 0, 2, 1, 0][..]),
        ("NEXT_HOP marked optional", &[0xc0, 3, 4, 192, 0, 2, 1][..]),
        ("NEXT_HOP multicast", &[0x40, 3, 4, 224, 0, 0, 1][..]),
        ("missing NEXT_HOP", &[][..]),
    ] {
        let b = update(&[], &attrs(&[ORIGIN, AS_PATH, next_hop]), NLRI);
        let Ok(Message::Update(u)) = decode(&b, &Context::four_octet()) else {
            panic!("{name}: not decoded")
        };
        assert!(u.treat_as_withdraw(), "{name}");
        assert_eq!(u.attributes.next_hop(), None, "{name}");
        assert_eq!(u.announced().count(), 0, "{name}");
        let nlri: Vec<String> = u.announced_nlri().map(|n| n.prefix.to_string()).collect();
        assert_eq!(nlri, ["198.51.100.0/24"], "{name}");
    }
}

#[test]
fn local_pref_from_ebgp_is_disregarded() {
    let ctx = Context {
        ebgp: true,
        ..Context::four_octet()
    };
    let b = update(
        &[],
        &attrs(&[ORIGIN, AS_PATH, NEXT_HOP, &[0x40, 5, 4, 0, 0, 0, 200]]),
        NLRI,
    );
    let Ok(Message::Update(u)) = decode(&b, &ctx) else {
        panic!("not decoded")
    };
    assert!(u.errors.is_empty());
    assert_eq!(u.attributes.local_pref(), None);
}
