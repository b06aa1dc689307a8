//! AS_PATH and AS4_PATH (RFC 4271 section 4.3, RFC 5065 confederation segments, RFC 6793
//! for 4-octet AS numbers and the AS4_PATH merge).
//!
//! ```text
//! segment: type(1) count(1) count x ASN (2 or 4 octets)
//! ```

use bytes::{BufMut, BytesMut};

use crate::error::Reason;
use crate::open::AS_TRANS;

/// The kind of an AS_PATH segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SegmentType {
    /// AS_SET (1): unordered; counts as one hop.
    Set,
    /// AS_SEQUENCE (2): ordered, nearest AS first.
    Sequence,
    /// AS_CONFED_SEQUENCE (3, RFC 5065): counts zero hops.
    ConfedSequence,
    /// AS_CONFED_SET (4, RFC 5065): counts zero hops.
    ConfedSet,
}

impl SegmentType {
    fn from_wire(v: u8) -> Option<Self> {
        match v {
            1 => Some(Self::Set),
            2 => Some(Self::Sequence),
            3 => Some(Self::ConfedSequence),
            4 => Some(Self::ConfedSet),
            _ => None,
        }
    }

    fn to_wire(self) -> u8 {
        match self {
            Self::Set => 1,
            Self::Sequence => 2,
            Self::ConfedSequence => 3,
            Self::ConfedSet => 4,
        }
    }

    /// Whether this is a confederation segment.
    pub fn is_confed(self) -> bool {
        matches!(self, Self::ConfedSequence | Self::ConfedSet)
    }
}

/// One segment of an AS path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Segment {
    /// Set, sequence, or their confederation forms.
    pub kind: SegmentType,
    /// The AS numbers, at least one.
    pub asns: Vec<u32>,
}

impl Segment {
    /// Hops this segment adds to the path length (RFC 4271 section 9.1.2.2 a, RFC 5065
    /// section 5.3): a sequence counts each AS, a set counts one, confederation segments
    /// count none.
    pub fn hops(&self) -> usize {
        match self.kind {
            SegmentType::Sequence => self.asns.len(),
            SegmentType::Set => 1,
            SegmentType::ConfedSequence | SegmentType::ConfedSet => 0,
        }
    }
}

/// An AS path: the segments in wire order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct AsPath {
    /// The segments, nearest first.
    pub segments: Vec<Segment>,
}

impl AsPath {
    /// A path of one AS_SEQUENCE (empty path for an empty slice).
    pub fn sequence(asns: &[u32]) -> Self {
        if asns.is_empty() {
            return Self::default();
        }
        Self {
            segments: vec![Segment {
                kind: SegmentType::Sequence,
                asns: asns.to_vec(),
            }],
        }
    }

    /// Path length for the decision process (RFC 4271 section 9.1.2.2 a).
    pub fn hops(&self) -> usize {
        self.segments.iter().map(Segment::hops).sum()
    }

    /// Whether `asn` appears anywhere in the path (loop detection, RFC 4271 section 9.1.2).
    pub fn contains(&self, asn: u32) -> bool {
        self.segments.iter().any(|s| s.asns.contains(&asn))
    }

    /// The AS that originated the route: the last AS of the path when the last segment is a
    /// sequence.
    pub fn origin_as(&self) -> Option<u32> {
        let last = self.segments.last()?;
        match last.kind {
            SegmentType::Sequence => last.asns.last().copied(),
            _ => None,
        }
    }

    /// The neighboring AS (RFC 4271 section 9.1.2.2 c: the first AS of the first
    /// AS_SEQUENCE, skipping confederation segments); `None` for a local route.
    pub fn neighbor_as(&self) -> Option<u32> {
        let first = self.segments.iter().find(|s| !s.kind.is_confed())?;
        match first.kind {
            SegmentType::Sequence => first.asns.first().copied(),
            _ => None,
        }
    }

    /// Prepends `asn` `count` times to the leading AS_SEQUENCE, opening a new one where the
    /// path starts with anything else or the leading one is full (RFC 4271 section 5.1.2).
    pub fn prepend(&mut self, asn: u32, count: usize) {
        for _ in 0..count {
            match self.segments.first_mut() {
                Some(s) if s.kind == SegmentType::Sequence && s.asns.len() < 255 => {
                    s.asns.insert(0, asn)
                }
                _ => self.segments.insert(
                    0,
                    Segment {
                        kind: SegmentType::Sequence,
                        asns: vec![asn],
                    },
                ),
            }
        }
    }

    /// Whether some AS number does not fit two octets (a 2-octet peer then needs AS4_PATH).
    pub fn has_four_octet_asn(&self) -> bool {
        self.segments
            .iter()
            .any(|s| s.asns.iter().any(|&a| a > u32::from(u16::MAX)))
    }

    /// Decodes segments; `four_octet` selects the AS number width.
    pub(crate) fn decode(mut input: &[u8], four_octet: bool) -> Result<Self, Reason> {
        let width = if four_octet { 4 } else { 2 };
        // Nearly every path is one AS_SEQUENCE.
        let mut segments = Vec::with_capacity(1);
        while !input.is_empty() {
            let [kind, count, rest @ ..] = input else {
                return Err(Reason::MalformedAsPath("truncated segment header"));
            };
            let kind = SegmentType::from_wire(*kind)
                .ok_or(Reason::MalformedAsPath("unknown segment type"))?;
            if *count == 0 {
                // RFC 7606 section 7.2: a zero-length segment is malformed.
                return Err(Reason::MalformedAsPath("empty segment"));
            }
            let len = usize::from(*count) * width;
            let body = rest
                .get(..len)
                .ok_or(Reason::MalformedAsPath("segment overruns the attribute"))?;
            let asns = if four_octet {
                body.chunks_exact(4)
                    .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                    .collect()
            } else {
                body.chunks_exact(2)
                    .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
                    .collect()
            };
            segments.push(Segment { kind, asns });
            input = &rest[len..];
        }
        Ok(Self { segments })
    }

    /// Encodes the segments, splitting any longer than 255 AS numbers. With
    /// `four_octet == false`, AS numbers over 65535 are written as AS_TRANS (RFC 6793
    /// section 4.2.2).
    pub(crate) fn encode(&self, four_octet: bool, out: &mut BytesMut) {
        for s in &self.segments {
            for chunk in s.asns.chunks(255) {
                out.put_u8(s.kind.to_wire());
                // chunks(255) bounds the count.
                out.put_u8(u8::try_from(chunk.len()).unwrap_or(u8::MAX));
                for &asn in chunk {
                    if four_octet {
                        out.put_u32(asn);
                    } else {
                        out.put_u16(u16::try_from(asn).unwrap_or(AS_TRANS));
                    }
                }
            }
        }
    }

    /// Bytes of the encoding.
    pub(crate) fn encoded_len(&self, four_octet: bool) -> usize {
        let width = if four_octet { 4 } else { 2 };
        self.segments
            .iter()
            .map(|s| s.asns.len() * width + 2 * s.asns.len().div_ceil(255))
            .sum()
    }

    /// RFC 6793 section 4.2.3: rebuilds the real path from a 2-octet AS_PATH (`self`) and the
    /// AS4_PATH. When AS_PATH is shorter than AS4_PATH, AS4_PATH is ignored; otherwise the
    /// leading hops that AS4_PATH lacks are taken from AS_PATH and AS4_PATH follows.
    pub fn merge_as4(&self, as4: &AsPath) -> AsPath {
        let as4_hops = as4.hops();
        let hops = self.hops();
        if hops < as4_hops {
            return self.clone();
        }
        let mut keep = hops - as4_hops;
        let mut segments = Vec::new();
        for s in &self.segments {
            if keep == 0 && !s.kind.is_confed() {
                break;
            }
            match s.kind {
                SegmentType::ConfedSequence | SegmentType::ConfedSet => segments.push(s.clone()),
                SegmentType::Set => {
                    segments.push(s.clone());
                    keep -= 1;
                }
                SegmentType::Sequence => {
                    let n = keep.min(s.asns.len());
                    segments.push(Segment {
                        kind: s.kind,
                        asns: s.asns[..n].to_vec(),
                    });
                    keep -= n;
                }
            }
        }
        // AS4_PATH must not carry confederation segments (RFC 6793 section 3): drop them.
        segments.extend(as4.segments.iter().filter(|s| !s.kind.is_confed()).cloned());
        AsPath { segments }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(kind: SegmentType, asns: &[u32]) -> Segment {
        Segment {
            kind,
            asns: asns.to_vec(),
        }
    }

    #[test]
    fn hops_count_sets_once_and_confeds_never() {
        let p = AsPath {
            segments: vec![
                seg(SegmentType::ConfedSequence, &[65001, 65002]),
                seg(SegmentType::Sequence, &[1, 2, 3]),
                seg(SegmentType::Set, &[4, 5, 6]),
            ],
        };
        assert_eq!(p.hops(), 4);
        assert_eq!(p.neighbor_as(), Some(1));
        assert_eq!(p.origin_as(), None);
    }

    #[test]
    fn merges_as4_path() {
        // A 2-octet speaker saw 4200000001 as AS_TRANS: AS_PATH 100 23456 23456,
        // AS4_PATH 4200000001 4200000002.
        let two = AsPath::sequence(&[100, 23456, 23456]);
        let four = AsPath::sequence(&[4_200_000_001, 4_200_000_002]);
        let merged = two.merge_as4(&four);
        assert_eq!(
            merged.segments,
            vec![
                seg(SegmentType::Sequence, &[100]),
                seg(SegmentType::Sequence, &[4_200_000_001, 4_200_000_002])
            ]
        );
        assert_eq!(merged.hops(), 3);
        // AS4_PATH longer than AS_PATH is ignored.
        assert_eq!(
            AsPath::sequence(&[100]).merge_as4(&four),
            AsPath::sequence(&[100])
        );
    }

    #[test]
    fn prepend_and_split_long_segments() {
        let mut p = AsPath::default();
        p.prepend(64512, 300);
        assert_eq!(p.hops(), 300);
        let mut out = BytesMut::new();
        p.encode(true, &mut out);
        assert_eq!(out.len(), p.encoded_len(true));
        let back = AsPath::decode(&out, true).unwrap();
        assert_eq!(back.hops(), 300);
        assert_eq!(back.segments.len(), 2);
    }

    #[test]
    fn rejects_malformed() {
        assert!(AsPath::decode(&[2, 0], true).is_err());
        assert!(AsPath::decode(&[2, 2, 0, 1, 0], false).is_err());
        assert!(AsPath::decode(&[9, 1, 0, 1], false).is_err());
        assert!(AsPath::decode(&[2], false).is_err());
    }
}
