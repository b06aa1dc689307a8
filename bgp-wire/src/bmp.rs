//! The BGP Monitoring Protocol (RFC 7854, with RFC 8671's Adj-RIB-Out flag), sans-IO:
//! messages into a buffer, and a reader of the framing for collectors and tests.
//!
//! ```text
//! common header: version u8 (3) | length u32 (whole message) | type u8
//! per-peer header (42 bytes): peer type u8 | flags u8 (V 0x80, L 0x40, A 0x20, O 0x10) |
//!     distinguisher u64 | address 16 bytes (IPv4 in the last 4, the rest zero) |
//!     AS u32 | BGP ID | timestamp seconds u32 | microseconds u32
//! Route Monitoring (0): per-peer header | one whole BGP UPDATE
//! Statistics Report (1): per-peer header | count u32 | count x (type u16 | len u16 | value)
//! Peer Down (2): per-peer header | reason u8 | NOTIFICATION or FSM event u16, by reason
//! Peer Up (3): per-peer header | local address 16 | local port u16 | remote port u16 |
//!     the OPEN sent | the OPEN received
//! Initiation (4), Termination (5): TLVs type u16 | len u16 | value
//! ```

use std::net::{IpAddr, Ipv4Addr};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{BufMut, BytesMut};

use crate::error::{checked_len, EncodeError};

/// The protocol version this module writes (RFC 7854 section 4.1).
pub const VERSION: u8 = 3;
/// Length of the common header.
pub const COMMON_HEADER_LEN: usize = 6;
/// Length of the per-peer header.
pub const PEER_HEADER_LEN: usize = 42;

/// Message types (RFC 7854 section 4.1).
pub mod kind {
    /// Route Monitoring.
    pub const ROUTE_MONITORING: u8 = 0;
    /// Statistics Report.
    pub const STATISTICS_REPORT: u8 = 1;
    /// Peer Down Notification.
    pub const PEER_DOWN: u8 = 2;
    /// Peer Up Notification.
    pub const PEER_UP: u8 = 3;
    /// Initiation.
    pub const INITIATION: u8 = 4;
    /// Termination.
    pub const TERMINATION: u8 = 5;
}

/// Information TLV types of Initiation (RFC 7854 section 4.4).
pub mod info {
    /// Free text.
    pub const STRING: u16 = 0;
    /// sysDescr: the software and its version.
    pub const SYS_DESCR: u16 = 1;
    /// sysName: the router's name.
    pub const SYS_NAME: u16 = 2;
}

/// Termination reasons (RFC 7854 section 4.5).
pub mod termination {
    /// Session administratively closed (the router stops).
    pub const ADMINISTRATIVELY_CLOSED: u16 = 0;
    /// Unspecified reason.
    pub const UNSPECIFIED: u16 = 1;
    /// Out of resources: the router dropped messages for this collector and starts over.
    pub const OUT_OF_RESOURCES: u16 = 2;
    /// Redundant connection.
    pub const REDUNDANT_CONNECTION: u16 = 3;
    /// Session permanently administratively closed (the collector was deconfigured).
    pub const PERMANENTLY_CLOSED: u16 = 4;
}

/// Statistics types used here (RFC 7854 section 4.8, RFC 8671 section 5).
pub mod stat {
    /// Prefixes rejected by inbound policy (32-bit counter).
    pub const REJECTED_BY_POLICY: u16 = 0;
    /// Routes in the Adj-RIB-In (64-bit gauge).
    pub const ADJ_RIB_IN_ROUTES: u16 = 7;
    /// Routes in the post-policy Adj-RIB-Out (64-bit gauge, RFC 8671).
    pub const ADJ_RIB_OUT_POST_POLICY_ROUTES: u16 = 15;
}

/// Peer flags of the per-peer header (RFC 7854 section 4.2, RFC 8671 section 4).
pub mod flag {
    /// The peer address is IPv6.
    pub const IPV6: u8 = 0x80;
    /// Post-policy (the L flag); clear for pre-policy.
    pub const POST_POLICY: u8 = 0x40;
    /// The AS_PATH is in the legacy 2-byte format (the A flag).
    pub const LEGACY_AS_PATH: u8 = 0x20;
    /// Adj-RIB-Out (the O flag, RFC 8671); clear for Adj-RIB-In.
    pub const ADJ_RIB_OUT: u8 = 0x10;
}

/// Who a per-message header is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerHeader {
    /// Flags: [`flag::POST_POLICY`], [`flag::LEGACY_AS_PATH`], [`flag::ADJ_RIB_OUT`]; the
    /// IPv6 flag is set from `address`.
    pub flags: u8,
    /// The peer's address.
    pub address: IpAddr,
    /// The peer's AS.
    pub asn: u32,
    /// The peer's BGP identifier.
    pub bgp_id: Ipv4Addr,
    /// When the event happened (RFC 7854: the time the routes were received, or the event).
    pub timestamp: SystemTime,
}

impl PeerHeader {
    /// The same peer, with `flags` and stamped `timestamp`.
    pub fn with(&self, flags: u8, timestamp: SystemTime) -> PeerHeader {
        PeerHeader {
            flags,
            timestamp,
            ..*self
        }
    }

    fn write(&self, out: &mut BytesMut) {
        let v6 = if self.address.is_ipv6() {
            flag::IPV6
        } else {
            0
        };
        out.put_u8(0); // Global Instance Peer
        out.put_u8((self.flags & !flag::IPV6) | v6);
        out.put_u64(0); // the distinguisher of a global instance peer
        put_address(self.address, out);
        out.put_u32(self.asn);
        out.put_slice(&self.bgp_id.octets());
        let since = self
            .timestamp
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        out.put_u32(u32::try_from(since.as_secs()).unwrap_or(u32::MAX));
        out.put_u32(since.subsec_micros());
    }
}

/// Why a peer went down (RFC 7854 section 4.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerDownReason<'a> {
    /// 1: we closed the session with this NOTIFICATION (the whole BGP message).
    LocalNotification(&'a [u8]),
    /// 2: we closed the session without a NOTIFICATION, on this FSM event (RFC 4271
    /// section 8.1; 0 when none applies).
    LocalNoNotification(u16),
    /// 3: the peer closed the session with this NOTIFICATION (the whole BGP message).
    RemoteNotification(&'a [u8]),
    /// 4: the peer closed the session without a NOTIFICATION (the connection was lost).
    RemoteNoNotification,
    /// 5: the peer was deconfigured; nothing more is sent about it.
    Deconfigured,
}

/// IPv4 in the last four of 16 bytes, the rest zero (RFC 7854 sections 4.2, 4.10).
fn put_address(address: IpAddr, out: &mut BytesMut) {
    match address {
        IpAddr::V4(a) => {
            out.put_slice(&[0; 12]);
            out.put_slice(&a.octets());
        }
        IpAddr::V6(a) => out.put_slice(&a.octets()),
    }
}

/// Writes the common header for a message whose body is `out[start + 6..]`, which the
/// caller has just appended after reserving 6 bytes at `start`.
fn finish(out: &mut BytesMut, start: usize, kind: u8) -> Result<(), EncodeError> {
    let len: u32 = checked_len("BMP message", out.len() - start, u32::MAX as usize)?;
    let header = &mut out[start..start + COMMON_HEADER_LEN];
    header[0] = VERSION;
    header[1..5].copy_from_slice(&len.to_be_bytes());
    header[5] = kind;
    Ok(())
}

fn begin(out: &mut BytesMut) -> usize {
    let start = out.len();
    out.put_slice(&[0; COMMON_HEADER_LEN]);
    start
}

fn put_tlv(kind: u16, value: &[u8], out: &mut BytesMut) -> Result<(), EncodeError> {
    out.put_u16(kind);
    out.put_u16(checked_len("BMP TLV", value.len(), 0xffff)?);
    out.put_slice(value);
    Ok(())
}

/// Appends an Initiation message (RFC 7854 section 4.3): sysDescr and sysName are required.
pub fn encode_initiation(
    sys_descr: &str,
    sys_name: &str,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let start = begin(out);
    put_tlv(info::SYS_DESCR, sys_descr.as_bytes(), out)?;
    put_tlv(info::SYS_NAME, sys_name.as_bytes(), out)?;
    finish(out, start, kind::INITIATION)
}

/// Appends a Termination message (RFC 7854 section 4.5) with a reason and a text.
pub fn encode_termination(reason: u16, text: &str, out: &mut BytesMut) -> Result<(), EncodeError> {
    let start = begin(out);
    put_tlv(0, text.as_bytes(), out)?;
    put_tlv(1, &reason.to_be_bytes(), out)?;
    finish(out, start, kind::TERMINATION)
}

/// Appends a Peer Up Notification (RFC 7854 section 4.10). `sent_open` and
/// `received_open` are whole BGP OPEN messages, header included.
pub fn encode_peer_up(
    peer: &PeerHeader,
    local: (IpAddr, u16),
    remote_port: u16,
    sent_open: &[u8],
    received_open: &[u8],
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let start = begin(out);
    peer.write(out);
    put_address(local.0, out);
    out.put_u16(local.1);
    out.put_u16(remote_port);
    out.put_slice(sent_open);
    out.put_slice(received_open);
    finish(out, start, kind::PEER_UP)
}

/// Appends a Peer Down Notification (RFC 7854 section 4.9).
pub fn encode_peer_down(
    peer: &PeerHeader,
    reason: PeerDownReason<'_>,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let start = begin(out);
    peer.write(out);
    match reason {
        PeerDownReason::LocalNotification(n) => {
            out.put_u8(1);
            out.put_slice(n);
        }
        PeerDownReason::LocalNoNotification(event) => {
            out.put_u8(2);
            out.put_u16(event);
        }
        PeerDownReason::RemoteNotification(n) => {
            out.put_u8(3);
            out.put_slice(n);
        }
        PeerDownReason::RemoteNoNotification => out.put_u8(4),
        PeerDownReason::Deconfigured => out.put_u8(5),
    }
    finish(out, start, kind::PEER_DOWN)
}

/// Appends a Route Monitoring message (RFC 7854 section 4.6) carrying `update`, one whole
/// BGP UPDATE message as the session carried it (its ADD-PATH use follows the OPENs of the
/// Peer Up; the A flag says whether its AS_PATH has 2-byte numbers).
pub fn encode_route_monitoring(
    peer: &PeerHeader,
    update: &[u8],
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let start = begin(out);
    peer.write(out);
    out.put_slice(update);
    finish(out, start, kind::ROUTE_MONITORING)
}

/// One statistic of a Statistics Report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stat {
    /// A 32-bit counter of this type.
    Counter(u16, u32),
    /// A 64-bit gauge of this type.
    Gauge(u16, u64),
}

/// Appends a Statistics Report (RFC 7854 section 4.8).
pub fn encode_statistics(
    peer: &PeerHeader,
    stats: &[Stat],
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let start = begin(out);
    peer.write(out);
    out.put_u32(checked_len(
        "BMP statistics",
        stats.len(),
        u32::MAX as usize,
    )?);
    for s in stats {
        match *s {
            Stat::Counter(kind, v) => put_tlv(kind, &v.to_be_bytes(), out)?,
            Stat::Gauge(kind, v) => put_tlv(kind, &v.to_be_bytes(), out)?,
        }
    }
    finish(out, start, kind::STATISTICS_REPORT)
}

/// One message read back: its type, its per-peer header when it has one, and its body
/// after the headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received<'a> {
    /// The message type.
    pub kind: u8,
    /// The per-peer header's flags, address, AS and BGP ID, for the types that have one.
    pub peer: Option<(u8, IpAddr, u32, Ipv4Addr)>,
    /// What follows the headers.
    pub body: &'a [u8],
}

/// Splits the first whole message off `buf`: `None` when `buf` holds no whole message yet,
/// `Err` when the header is not BMP version 3 or is shorter than its own headers.
pub fn split(buf: &[u8]) -> Result<Option<(Received<'_>, usize)>, &'static str> {
    if buf.len() < COMMON_HEADER_LEN {
        return Ok(None);
    }
    if buf[0] != VERSION {
        return Err("not BMP version 3");
    }
    let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
    let kind = buf[5];
    let has_peer = !matches!(kind, kind::INITIATION | kind::TERMINATION);
    let min = COMMON_HEADER_LEN + if has_peer { PEER_HEADER_LEN } else { 0 };
    if len < min {
        return Err("BMP message shorter than its headers");
    }
    if buf.len() < len {
        return Ok(None);
    }
    let msg = &buf[COMMON_HEADER_LEN..len];
    let (peer, body) = if has_peer {
        let (h, body) = msg.split_at(PEER_HEADER_LEN);
        let mut a = [0u8; 16];
        a.copy_from_slice(&h[10..26]);
        let address = if h[1] & flag::IPV6 != 0 {
            IpAddr::from(a)
        } else {
            IpAddr::from([a[12], a[13], a[14], a[15]])
        };
        let asn = u32::from_be_bytes([h[26], h[27], h[28], h[29]]);
        let id = Ipv4Addr::new(h[30], h[31], h[32], h[33]);
        (Some((h[1], address, asn, id)), body)
    } else {
        (None, msg)
    };
    Ok(Some((Received { kind, peer, body }, len)))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn peer(address: IpAddr) -> PeerHeader {
        PeerHeader {
            flags: 0,
            address,
            asn: 4_200_000_001,
            bgp_id: Ipv4Addr::new(192, 0, 2, 1),
            timestamp: UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_000),
        }
    }

    #[test]
    fn per_peer_header_is_laid_out_as_rfc_7854_section_4_2() {
        let mut out = BytesMut::new();
        let p = peer("192.0.2.7".parse().unwrap()).with(flag::POST_POLICY, peer_time());
        encode_route_monitoring(&p, &[0xff; 19], &mut out).unwrap();
        assert_eq!(out.len(), 6 + 42 + 19);
        assert_eq!(&out[..6], &[3, 0, 0, 0, 67, 0]);
        let h = &out[6..48];
        assert_eq!(h[0], 0, "global instance peer");
        assert_eq!(h[1], flag::POST_POLICY);
        assert_eq!(&h[2..10], &[0; 8]);
        assert_eq!(
            &h[10..26],
            &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 192, 0, 2, 7]
        );
        assert_eq!(&h[26..30], &4_200_000_001u32.to_be_bytes());
        assert_eq!(&h[30..34], &[192, 0, 2, 1]);
        assert_eq!(&h[34..38], &1_700_000_000u32.to_be_bytes());
        assert_eq!(&h[38..42], &123_456u32.to_be_bytes());
    }

    fn peer_time() -> SystemTime {
        UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_000)
    }

    #[test]
    fn ipv6_peers_set_the_v_flag_and_read_back() {
        let mut out = BytesMut::new();
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        encode_peer_down(&peer(a), PeerDownReason::RemoteNoNotification, &mut out).unwrap();
        let (m, used) = split(&out).unwrap().unwrap();
        assert_eq!(used, out.len());
        assert_eq!(m.kind, kind::PEER_DOWN);
        let (flags, address, asn, id) = m.peer.unwrap();
        assert_eq!(flags, flag::IPV6);
        assert_eq!(
            (address, asn, id),
            (a, 4_200_000_001, Ipv4Addr::new(192, 0, 2, 1))
        );
        assert_eq!(m.body, &[4]);
    }

    #[test]
    fn peer_up_carries_both_opens_and_the_ports() {
        let mut out = BytesMut::new();
        let p = peer("198.51.100.2".parse().unwrap());
        let local = ("198.51.100.1".parse().unwrap(), 179);
        encode_peer_up(&p, local, 40000, &[1, 2, 3], &[4, 5], &mut out).unwrap();
        let (m, _) = split(&out).unwrap().unwrap();
        assert_eq!(m.kind, kind::PEER_UP);
        assert_eq!(&m.body[12..16], &[198, 51, 100, 1]);
        assert_eq!(&m.body[16..20], &[0, 179, 0x9c, 0x40]);
        assert_eq!(&m.body[20..], &[1, 2, 3, 4, 5]);
    }

    #[test]
    fn initiation_and_termination_are_tlvs_without_a_peer_header() {
        let mut out = BytesMut::new();
        encode_initiation("bgpd 1", "edge", &mut out).unwrap();
        encode_termination(termination::OUT_OF_RESOURCES, "queue full", &mut out).unwrap();
        let (m, used) = split(&out).unwrap().unwrap();
        assert_eq!((m.kind, m.peer), (kind::INITIATION, None));
        assert_eq!(m.body, b"\0\x01\0\x06bgpd 1\0\x02\0\x04edge");
        let (t, _) = split(&out[used..]).unwrap().unwrap();
        assert_eq!(t.kind, kind::TERMINATION);
        assert_eq!(&t.body[t.body.len() - 6..], &[0, 1, 0, 2, 0, 2]);
    }

    #[test]
    fn statistics_count_and_widths() {
        let mut out = BytesMut::new();
        let stats = [
            Stat::Counter(stat::REJECTED_BY_POLICY, 5),
            Stat::Gauge(stat::ADJ_RIB_IN_ROUTES, 1 << 40),
        ];
        encode_statistics(&peer("192.0.2.9".parse().unwrap()), &stats, &mut out).unwrap();
        let (m, _) = split(&out).unwrap().unwrap();
        assert_eq!(&m.body[..4], &[0, 0, 0, 2]);
        assert_eq!(&m.body[4..12], &[0, 0, 0, 4, 0, 0, 0, 5]);
        assert_eq!(&m.body[12..16], &[0, 7, 0, 8]);
        assert_eq!(&m.body[16..], &(1u64 << 40).to_be_bytes());
    }

    #[test]
    fn split_waits_for_whole_messages_and_refuses_garbage() {
        let mut out = BytesMut::new();
        encode_initiation("d", "n", &mut out).unwrap();
        for cut in 0..out.len() {
            assert_eq!(split(&out[..cut]), Ok(None));
        }
        assert!(split(&[2, 0, 0, 0, 6, 4]).is_err());
        assert!(
            split(&[3, 0, 0, 0, 7, 0, 0]).is_err(),
            "shorter than a peer header"
        );
    }
}
