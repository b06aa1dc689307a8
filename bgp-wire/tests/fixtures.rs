//! Real bytes: message streams captured from sessions between BIRD, FRR, GoBGP, OpenBGPD
//! and ExaBGP (see `fixtures/README.md`). Every message decodes without error in the
//! context the two OPENs negotiate, and re-encodes byte for byte.

// Tests panic on failure by design; the workspace lints keep panics out of src/ only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::{Path, PathBuf};

use bgp_wire::capability::Capability;
use bgp_wire::{decode, encode, Context, Family, FamilySet, Framer, Message, Open};
use bytes::BytesMut;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The messages of one direction's stream, cut by the framer (extended messages allowed:
/// the context is not known before the OPENs are read).
fn messages(path: &Path) -> Vec<bytes::Bytes> {
    let mut buf = BytesMut::from(&fs::read(path).unwrap()[..]);
    let mut framer = Framer::new();
    framer.set_context(&Context {
        extended_message: true,
        ..Context::BASIC
    });
    let mut out = Vec::new();
    while let Some(m) = framer.next_message(&mut buf).unwrap() {
        out.push(m);
    }
    assert!(buf.is_empty(), "{}: trailing bytes", path.display());
    out
}

fn open_of(msgs: &[bytes::Bytes]) -> Open {
    match decode(&msgs[0], &Context::BASIC).unwrap() {
        Message::Open(o) => o,
        other => panic!("first message is not an OPEN: {other:?}"),
    }
}

/// The context in which `sender`'s messages are read by `receiver`.
fn context(sender: &Open, receiver: &Open) -> Context {
    let four = |o: &Open| {
        o.capabilities()
            .any(|c| matches!(c, Capability::FourOctetAs(_)))
    };
    let ext = |o: &Open| {
        o.capabilities()
            .any(|c| matches!(c, Capability::ExtendedMessage))
    };
    let mut add_path = FamilySet::EMPTY;
    for family in [Family::Ipv4Unicast, Family::Ipv6Unicast] {
        if Open::add_path_receive(receiver, sender).contains(family) {
            add_path.insert(family);
        }
    }
    Context {
        four_octet_as: four(sender) && four(receiver),
        add_path,
        extended_message: ext(sender) && ext(receiver),
        ebgp: sender.asn() != receiver.asn(),
    }
}

#[test]
fn captured_streams_decode_and_reencode_byte_for_byte() {
    let mut files: Vec<PathBuf> = fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures");
    let mut total = 0;
    for path in &files {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let (from, to) = name.split_once("-to-").expect("name is SENDER-to-RECEIVER");
        let reverse = dir().join(format!("{to}-to-{from}.bin"));
        let ours = messages(path);
        let theirs = messages(&reverse);
        let ctx = context(&open_of(&ours), &open_of(&theirs));
        for (i, raw) in ours.iter().enumerate() {
            let msg = decode(raw, &ctx).unwrap_or_else(|e| panic!("{name} #{i}: {e}"));
            if let Message::Update(u) = &msg {
                assert!(u.errors.is_empty(), "{name} #{i}: {:?}", u.errors);
            }
            let mut out = BytesMut::new();
            encode(&msg, &ctx, &mut out).unwrap();
            assert_eq!(
                &out[..],
                &raw[..],
                "{name} #{i} re-encodes differently: {msg:?}"
            );
            total += 1;
        }
    }
    assert!(total > 10, "only {total} messages in the fixtures");
}
