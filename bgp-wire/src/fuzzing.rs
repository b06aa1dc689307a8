//! Checks shared by the fuzz targets (`bgp-wire/fuzz`) and the corpus smoke test: whatever
//! the bytes, nothing panics, and whatever decodes re-encodes to something that decodes to
//! the same message.

use bytes::BytesMut;

use crate::{decode, encode, Context, Family, FamilySet, Framer, Message};

/// The session contexts every input is decoded in.
pub fn contexts() -> [Context; 4] {
    let mut all = FamilySet::EMPTY;
    all.insert(Family::Ipv4Unicast);
    all.insert(Family::Ipv6Unicast);
    [
        Context::BASIC,
        Context::four_octet(),
        Context {
            add_path: all,
            ..Context::four_octet()
        },
        Context {
            extended_message: true,
            ebgp: true,
            ..Context::four_octet()
        },
    ]
}

/// Feeds `data` to the framer in one piece and decodes every message it cuts out.
pub fn framer(data: &[u8]) {
    for ctx in contexts() {
        let mut framer = Framer::new();
        framer.set_context(&ctx);
        let mut buf = BytesMut::from(data);
        while let Ok(Some(msg)) = framer.next_message(&mut buf) {
            check_message(&msg, &ctx);
        }
    }
}

/// Decodes `data` as one message in every context; what decodes must round-trip.
pub fn decoder(data: &[u8]) {
    for ctx in contexts() {
        check_message(data, &ctx);
    }
}

fn check_message(data: &[u8], ctx: &Context) {
    let Ok(msg) = decode(data, ctx) else { return };
    let mut msg = msg;
    if let Message::Update(u) = &mut msg {
        // Attributes dropped under RFC 7606 are not re-encoded; compare what was kept.
        u.errors.clear();
    }
    let mut out = BytesMut::new();
    if encode(&msg, ctx, &mut out).is_err() {
        // Legitimate: e.g. an AS4_PATH added for a 2-octet session makes it too long.
        return;
    }
    match decode(&out, ctx) {
        Ok(mut back) => {
            if let Message::Update(u) = &mut back {
                u.errors.clear();
            }
            assert_eq!(back, msg, "re-encoded message decodes differently");
        }
        Err(e) => panic!("re-encoded message does not decode: {e}"),
    }
}
