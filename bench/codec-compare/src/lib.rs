//! The four Rust BGP codecs on the same UPDATE stream: what each one's measured call does.
//!
//! Decoding (framing + full decode of attributes and NLRI into owned values, then dropped):
//! - `bgp-wire`: `Framer::next_message` cuts each message from a `BytesMut` (zero-copy
//!   `split_to().freeze()`), `bgp_wire::decode` checks the header and decodes the UPDATE:
//!   NLRI into `Vec<Nlri>`, attributes into typed values with RFC 7606 classification.
//! - `rustbgpd-wire`: `decode_message` (header + lazy UPDATE: three `Bytes` slices) followed
//!   by `UpdateMessage::parse` (legacy, errors abort) or `parse_revised` (RFC 7606: per
//!   attribute dispositions, like ours). Both are reported.
//! - `netgauze-bgp-pkt`: `BgpMessage::parse` over a `SliceReader` with the default
//!   `BgpParsingContext` (4-octet AS).
//! - `bgpkit-parser`: `parse_bgp_message` over a `Bytes` with `AsnLength::Bits32`.
//!
//! Encoding (whole stream, from each codec's own attribute and prefix types built beforehand):
//! - `bgp-wire`: `UpdatePacker::announce` per set, into one `BytesMut`.
//! - `rustbgpd-wire`: `UpdateMessage::try_build` + `encode` into one `BytesMut`.
//! - `netgauze-bgp-pkt`: `WritablePdu::write` of prebuilt `BgpMessage::Update` values into
//!   one `Vec<u8>` (its update type owns its parts, so the messages are built beforehand and
//!   only the serialisation is timed: a generous choice for it).
//! - `bgpkit-parser`: `BgpMessage::encode` of prebuilt messages (returns a fresh `Bytes`
//!   per message), appended to one `Vec<u8>`; built beforehand for the same reason.

#[path = "../../../bgp-wire/benches/stream.rs"]
pub mod stream;

use std::net::IpAddr;

use bytes::{Bytes, BytesMut};
use ipnet::{IpNet, Ipv4Net};

pub use stream::{build, Stream};

/// Decoders: each returns the number of prefixes announced in the stream.
pub mod decode {
    use super::*;

    /// bgp-wire.
    pub fn bgp_wire(mut buf: BytesMut, ctx: &bgp_wire::Context) -> usize {
        let framer = bgp_wire::Framer::new();
        let mut n = 0;
        while let Ok(Some(msg)) = framer.next_message(&mut buf) {
            if let Ok(bgp_wire::Message::Update(u)) = bgp_wire::decode(&msg, ctx) {
                n += u.nlri.len();
                std::hint::black_box(&u);
            }
        }
        n
    }

    /// rustbgpd-wire, `decode_message` + `UpdateMessage::parse`.
    pub fn rustbgpd(mut buf: Bytes) -> usize {
        let mut n = 0;
        while !buf.is_empty() {
            let Ok(msg) = rustbgpd_wire::decode_message(&mut buf, 4096) else {
                break;
            };
            if let rustbgpd_wire::Message::Update(u) = msg {
                if let Ok(p) = u.parse(true, false, &[]) {
                    n += p.announced.len();
                    std::hint::black_box(&p);
                }
            }
        }
        n
    }

    /// rustbgpd-wire, `decode_message` + `UpdateMessage::parse_revised` (RFC 7606).
    pub fn rustbgpd_revised(mut buf: Bytes) -> usize {
        let mut n = 0;
        while !buf.is_empty() {
            let Ok(msg) = rustbgpd_wire::decode_message(&mut buf, 4096) else {
                break;
            };
            if let rustbgpd_wire::Message::Update(u) = msg {
                if let Ok(p) = u.parse_revised(true, false, false, &[]) {
                    n += p.update.announced.len();
                    std::hint::black_box(&p);
                }
            }
        }
        n
    }

    /// netgauze-bgp-pkt.
    pub fn netgauze(buf: &[u8]) -> usize {
        use netgauze_parse_utils::traits::ParseFromWithOneInput;
        let mut ctx = netgauze_bgp_pkt::wire::deserializer::BgpParsingContext::default();
        let mut cur = netgauze_parse_utils::reader::SliceReader::new(buf);
        let mut n = 0;
        while !cur.is_empty() {
            match netgauze_bgp_pkt::BgpMessage::parse(&mut cur, &mut ctx) {
                Ok(netgauze_bgp_pkt::BgpMessage::Update(u)) => {
                    n += u.nlri().len();
                    std::hint::black_box(&u);
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        n
    }

    /// bgpkit-parser.
    pub fn bgpkit(mut buf: Bytes) -> usize {
        use bgpkit_parser::models::{AsnLength, BgpMessage};
        let mut n = 0;
        while !buf.is_empty() {
            match bgpkit_parser::parser::bgp::messages::parse_bgp_message(
                &mut buf,
                false,
                &AsnLength::Bits32,
            ) {
                Ok(BgpMessage::Update(u)) => {
                    n += u.announced_prefixes.len();
                    std::hint::black_box(&u);
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        n
    }
}

/// Each codec's own representation of the stream's content, built before encoding.
pub mod content {
    use super::*;

    fn v4(n: &bgp_wire::Nlri) -> Ipv4Net {
        match n.prefix {
            IpNet::V4(p) => p,
            IpNet::V6(_) => Ipv4Net::default(),
        }
    }

    /// bgp-wire: the stream's own sets.
    pub fn bgp_wire(s: &Stream) -> Vec<(bgp_wire::attr::PathAttributes, Vec<bgp_wire::Nlri>)> {
        s.sets
            .iter()
            .map(|r| (r.attributes.clone(), r.nlri.clone()))
            .collect()
    }

    /// rustbgpd-wire: attributes (NEXT_HOP included) and prefixes per UPDATE.
    pub type Rustbgpd = Vec<(
        Vec<rustbgpd_wire::PathAttribute>,
        Vec<rustbgpd_wire::Ipv4NlriEntry>,
    )>;

    /// rustbgpd-wire.
    pub fn rustbgpd(s: &Stream) -> Rustbgpd {
        use rustbgpd_wire::{AsPath, AsPathSegment, LargeCommunity, Origin, PathAttribute};
        s.sets
            .iter()
            .map(|r| {
                let p = &r.plain;
                let mut attrs = vec![
                    PathAttribute::Origin(match p.origin {
                        0 => Origin::Igp,
                        1 => Origin::Egp,
                        _ => Origin::Incomplete,
                    }),
                    PathAttribute::AsPath(AsPath {
                        segments: vec![AsPathSegment::AsSequence(p.as_path.clone())],
                    }),
                    PathAttribute::NextHop(stream::NEXT_HOP),
                ];
                if let Some(m) = p.med {
                    attrs.push(PathAttribute::Med(m));
                }
                if !p.communities.is_empty() {
                    attrs.push(PathAttribute::Communities(p.communities.clone()));
                }
                if !p.large.is_empty() {
                    attrs.push(PathAttribute::LargeCommunities(
                        p.large
                            .iter()
                            .map(|&(g, l1, l2)| LargeCommunity {
                                global_admin: g,
                                local_data1: l1,
                                local_data2: l2,
                            })
                            .collect(),
                    ));
                }
                let nlri = r
                    .nlri
                    .iter()
                    .map(|n| {
                        let p = v4(n);
                        rustbgpd_wire::Ipv4NlriEntry {
                            path_id: 0,
                            prefix: rustbgpd_wire::Ipv4Prefix::new(p.addr(), p.prefix_len()),
                        }
                    })
                    .collect();
                (attrs, nlri)
            })
            .collect()
    }

    /// netgauze-bgp-pkt: one message per set.
    pub fn netgauze(s: &Stream) -> Vec<netgauze_bgp_pkt::BgpMessage> {
        use netgauze_bgp_pkt::community::{Community, LargeCommunity};
        use netgauze_bgp_pkt::nlri::{Ipv4Unicast, Ipv4UnicastAddress};
        use netgauze_bgp_pkt::path_attribute::{
            As4PathSegment, AsPath, AsPathSegmentType, Communities, LargeCommunities,
            MultiExitDiscriminator, NextHop, Origin, PathAttribute, PathAttributeValue,
        };
        let attr = |opt: bool, trans: bool, v: PathAttributeValue| {
            PathAttribute::from(opt, trans, false, false, v).ok()
        };
        s.sets
            .iter()
            .map(|r| {
                let p = &r.plain;
                let mut attrs = vec![
                    attr(
                        false,
                        true,
                        PathAttributeValue::Origin(match p.origin {
                            0 => Origin::IGP,
                            1 => Origin::EGP,
                            _ => Origin::Incomplete,
                        }),
                    ),
                    attr(
                        false,
                        true,
                        PathAttributeValue::AsPath(AsPath::As4PathSegments(
                            vec![As4PathSegment::new(
                                AsPathSegmentType::AsSequence,
                                p.as_path.clone(),
                            )]
                            .into(),
                        )),
                    ),
                    attr(
                        false,
                        true,
                        PathAttributeValue::NextHop(NextHop::new(stream::NEXT_HOP)),
                    ),
                ];
                if let Some(m) = p.med {
                    attrs.push(attr(
                        true,
                        false,
                        PathAttributeValue::MultiExitDiscriminator(MultiExitDiscriminator::new(m)),
                    ));
                }
                if !p.communities.is_empty() {
                    attrs.push(attr(
                        true,
                        true,
                        PathAttributeValue::Communities(Communities::new(
                            p.communities
                                .iter()
                                .map(|&c| Community::new(c))
                                .collect::<Vec<_>>(),
                        )),
                    ));
                }
                if !p.large.is_empty() {
                    attrs.push(attr(
                        true,
                        true,
                        PathAttributeValue::LargeCommunities(LargeCommunities::new(
                            p.large
                                .iter()
                                .map(|&(g, l1, l2)| LargeCommunity::new(g, l1, l2))
                                .collect::<Vec<_>>(),
                        )),
                    ));
                }
                let attrs: Vec<_> = attrs.into_iter().flatten().collect();
                let nlri: Vec<_> = r
                    .nlri
                    .iter()
                    .filter_map(|n| {
                        Ipv4Unicast::from_net(v4(n))
                            .ok()
                            .map(Ipv4UnicastAddress::new_no_path_id)
                    })
                    .collect();
                netgauze_bgp_pkt::BgpMessage::Update(
                    netgauze_bgp_pkt::update::BgpUpdateMessage::new(Vec::new(), attrs, nlri),
                )
            })
            .collect()
    }

    /// bgpkit-parser: one message per set.
    pub fn bgpkit(s: &Stream) -> Vec<bgpkit_parser::models::BgpMessage> {
        use bgpkit_parser::models::{
            AsPath, Asn, AttributeValue, BgpMessage, BgpUpdateMessage, Community, LargeCommunity,
            NetworkPrefix, Origin,
        };
        s.sets
            .iter()
            .map(|r| {
                let p = &r.plain;
                let mut attrs = vec![
                    AttributeValue::Origin(match p.origin {
                        0 => Origin::IGP,
                        1 => Origin::EGP,
                        _ => Origin::INCOMPLETE,
                    }),
                    AttributeValue::AsPath(AsPath::from_sequence(&p.as_path)),
                    AttributeValue::NextHop(IpAddr::V4(stream::NEXT_HOP)),
                ];
                if let Some(m) = p.med {
                    attrs.push(AttributeValue::MultiExitDiscriminator(m));
                }
                if !p.communities.is_empty() {
                    attrs.push(AttributeValue::Communities(
                        p.communities
                            .iter()
                            .map(|&c| {
                                Community::Custom(
                                    Asn::new_32bit(c >> 16),
                                    u16::try_from(c & 0xffff).unwrap_or(0),
                                )
                            })
                            .collect(),
                    ));
                }
                if !p.large.is_empty() {
                    attrs.push(AttributeValue::LargeCommunities(
                        p.large
                            .iter()
                            .map(|&(g, l1, l2)| LargeCommunity::new(g, [l1, l2]))
                            .collect(),
                    ));
                }
                BgpMessage::Update(BgpUpdateMessage {
                    withdrawn_prefixes: Vec::new(),
                    attributes: attrs.into_iter().collect(),
                    announced_prefixes: r
                        .nlri
                        .iter()
                        .map(|n| NetworkPrefix::new(n.prefix, None))
                        .collect(),
                })
            })
            .collect()
    }
}

/// Encoders: each appends the whole stream to `out` and returns the number of messages.
pub mod encode {
    use super::*;

    /// bgp-wire.
    pub fn bgp_wire(
        c: &[(bgp_wire::attr::PathAttributes, Vec<bgp_wire::Nlri>)],
        out: &mut BytesMut,
    ) -> usize {
        let packer = bgp_wire::UpdatePacker::new(stream::context());
        let nh = bgp_wire::attr::NextHop::V4(stream::NEXT_HOP);
        c.iter()
            .map(|(a, n)| packer.announce(a, nh, n, out).unwrap_or(0))
            .sum()
    }

    /// rustbgpd-wire.
    pub fn rustbgpd(c: &content::Rustbgpd, out: &mut BytesMut) -> usize {
        let mut n = 0;
        for (attrs, nlri) in c {
            let Ok(u) = rustbgpd_wire::UpdateMessage::try_build(
                nlri,
                &[],
                attrs,
                true,
                false,
                rustbgpd_wire::Ipv4UnicastMode::Body,
            ) else {
                continue;
            };
            if u.encode(out).is_ok() {
                n += 1;
            }
        }
        n
    }

    /// netgauze-bgp-pkt.
    pub fn netgauze(c: &[netgauze_bgp_pkt::BgpMessage], out: &mut Vec<u8>) -> usize {
        use netgauze_parse_utils::WritablePdu;
        let mut n = 0;
        for msg in c {
            if msg.write(out).is_ok() {
                n += 1;
            }
        }
        n
    }

    /// bgpkit-parser.
    pub fn bgpkit(c: &[bgpkit_parser::models::BgpMessage], out: &mut Vec<u8>) -> usize {
        use bgpkit_parser::models::AsnLength;
        let mut n = 0;
        for msg in c {
            if let Ok(b) = msg.encode(AsnLength::Bits32) {
                out.extend_from_slice(&b);
                n += 1;
            }
        }
        n
    }
}
