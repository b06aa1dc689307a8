//! Capabilities advertised in OPEN (RFC 5492) and their values.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{checked_len, DecodeError, EncodeError, Reason};
use crate::family::Family;

/// Capability codes (IANA "Capability Codes").
pub mod code {
    /// Multiprotocol Extensions (RFC 4760).
    pub const MULTIPROTOCOL: u8 = 1;
    /// Route Refresh (RFC 2918).
    pub const ROUTE_REFRESH: u8 = 2;
    /// Extended Next Hop Encoding (RFC 8950).
    pub const EXTENDED_NEXT_HOP: u8 = 5;
    /// Extended Message (RFC 8654).
    pub const EXTENDED_MESSAGE: u8 = 6;
    /// BGP Role (RFC 9234).
    pub const ROLE: u8 = 9;
    /// Graceful Restart (RFC 4724).
    pub const GRACEFUL_RESTART: u8 = 64;
    /// 4-octet AS number (RFC 6793).
    pub const FOUR_OCTET_AS: u8 = 65;
    /// ADD-PATH (RFC 7911).
    pub const ADD_PATH: u8 = 69;
    /// Enhanced Route Refresh (RFC 7313).
    pub const ENHANCED_ROUTE_REFRESH: u8 = 70;
    /// Long-Lived Graceful Restart (RFC 9494).
    pub const LONG_LIVED_GRACEFUL_RESTART: u8 = 71;
    /// FQDN (draft-walton-bgp-hostname-capability).
    pub const FQDN: u8 = 73;
}

/// ADD-PATH send/receive mode for one family (RFC 7911 section 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddPathMode {
    /// The sender can receive multiple paths.
    Receive,
    /// The sender can send multiple paths.
    Send,
    /// Both.
    Both,
}

impl AddPathMode {
    fn from_wire(v: u8) -> Option<Self> {
        match v {
            1 => Some(Self::Receive),
            2 => Some(Self::Send),
            3 => Some(Self::Both),
            _ => None,
        }
    }

    fn to_wire(self) -> u8 {
        match self {
            Self::Receive => 1,
            Self::Send => 2,
            Self::Both => 3,
        }
    }

    /// Whether this side will send path identifiers.
    pub fn sends(self) -> bool {
        matches!(self, Self::Send | Self::Both)
    }

    /// Whether this side accepts path identifiers.
    pub fn receives(self) -> bool {
        matches!(self, Self::Receive | Self::Both)
    }
}

/// Graceful restart per-family entry (RFC 4724 section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GracefulRestartFamily {
    /// The family.
    pub family: Family,
    /// Flags for the family; bit 0x80 is "forwarding state preserved".
    pub flags: u8,
}

impl GracefulRestartFamily {
    /// Whether forwarding state was preserved across the restart.
    pub fn forwarding_preserved(&self) -> bool {
        self.flags & 0x80 != 0
    }
}

/// Graceful restart capability value (RFC 4724 section 3, RFC 8538 section 2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GracefulRestart {
    /// The four restart flag bits, in the high nibble: 0x8 restarting (R), 0x4 notification
    /// (N, RFC 8538).
    pub flags: u8,
    /// Restart time in seconds (12 bits).
    pub restart_time: u16,
    /// The families whose state is preserved.
    pub families: Vec<GracefulRestartFamily>,
}

impl GracefulRestart {
    /// Restart State (R) bit: the sender has restarted.
    pub const RESTARTING: u8 = 0x8;
    /// Graceful Notification (N) bit, RFC 8538.
    pub const NOTIFICATION: u8 = 0x4;
}

/// Long-lived graceful restart per-family entry (RFC 9494 section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LlgrFamily {
    /// The family.
    pub family: Family,
    /// Flags; 0x80 is "forwarding state preserved".
    pub flags: u8,
    /// Long-lived stale time in seconds (24 bits).
    pub stale_time: u32,
}

/// One capability. Unknown ones are kept raw so that nothing is lost.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Capability {
    /// Multiprotocol Extensions for one family (RFC 4760 section 8).
    Multiprotocol(Family),
    /// Route Refresh (RFC 2918).
    RouteRefresh,
    /// Extended Next Hop Encoding (RFC 8950): (NLRI family, next hop AFI) pairs.
    ExtendedNextHop(Vec<(Family, u16)>),
    /// Extended Message (RFC 8654).
    ExtendedMessage,
    /// BGP Role (RFC 9234 section 4.1): 0 provider, 1 route server, 2 route server client,
    /// 3 customer, 4 peer.
    Role(u8),
    /// Graceful Restart (RFC 4724).
    GracefulRestart(GracefulRestart),
    /// 4-octet AS number (RFC 6793).
    FourOctetAs(u32),
    /// ADD-PATH (RFC 7911).
    AddPath(Vec<(Family, AddPathMode)>),
    /// Enhanced Route Refresh (RFC 7313).
    EnhancedRouteRefresh,
    /// Long-Lived Graceful Restart (RFC 9494).
    LongLivedGracefulRestart(Vec<LlgrFamily>),
    /// FQDN: host and domain name.
    Fqdn {
        /// Host name.
        hostname: String,
        /// Domain name.
        domain: String,
    },
    /// Any other capability, or a known one whose value this crate does not accept.
    Unknown {
        /// Capability code.
        code: u8,
        /// Raw value.
        value: Bytes,
    },
}

/// AFI (2 octets), reserved (1), SAFI (1): the multiprotocol capability layout.
fn family_at(v: &[u8]) -> Family {
    Family::from_afi_safi(u16::from_be_bytes([v[0], v[1]]), v[3])
}

fn malformed(what: &'static str) -> DecodeError {
    DecodeError::reset("OPEN capability", Reason::MalformedOpen(what))
}

impl Capability {
    /// Decodes one capability value.
    pub(crate) fn decode(code: u8, v: &[u8]) -> Result<Self, DecodeError> {
        use self::code::*;
        let cap = match code {
            MULTIPROTOCOL if v.len() == 4 => Capability::Multiprotocol(family_at(v)),
            MULTIPROTOCOL => return Err(malformed("multiprotocol capability length")),
            ROUTE_REFRESH if v.is_empty() => Capability::RouteRefresh,
            EXTENDED_NEXT_HOP if v.len() % 6 == 0 => Capability::ExtendedNextHop(
                v.chunks_exact(6)
                    .map(|c| {
                        let afi = u16::from_be_bytes([c[0], c[1]]);
                        let safi = u16::from_be_bytes([c[2], c[3]]);
                        let nh_afi = u16::from_be_bytes([c[4], c[5]]);
                        let safi = u8::try_from(safi).unwrap_or(u8::MAX);
                        (Family::from_afi_safi(afi, safi), nh_afi)
                    })
                    .collect(),
            ),
            EXTENDED_MESSAGE if v.is_empty() => Capability::ExtendedMessage,
            ROLE if v.len() == 1 => Capability::Role(v[0]),
            GRACEFUL_RESTART if v.len() >= 2 && (v.len() - 2) % 4 == 0 => {
                Capability::GracefulRestart(GracefulRestart {
                    flags: v[0] >> 4,
                    restart_time: u16::from_be_bytes([v[0] & 0x0f, v[1]]),
                    families: v[2..]
                        .chunks_exact(4)
                        .map(|c| GracefulRestartFamily {
                            // AFI (2 octets), SAFI (1), flags (1).
                            family: Family::from_afi_safi(u16::from_be_bytes([c[0], c[1]]), c[2]),
                            flags: c[3],
                        })
                        .collect(),
                })
            }
            FOUR_OCTET_AS if v.len() == 4 => {
                Capability::FourOctetAs(u32::from_be_bytes([v[0], v[1], v[2], v[3]]))
            }
            FOUR_OCTET_AS => return Err(malformed("4-octet AS capability length")),
            ADD_PATH if v.len() % 4 == 0 => {
                let mut entries = Vec::with_capacity(v.len() / 4);
                for c in v.chunks_exact(4) {
                    let family = Family::from_afi_safi(u16::from_be_bytes([c[0], c[1]]), c[2]);
                    match AddPathMode::from_wire(c[3]) {
                        Some(mode) => entries.push((family, mode)),
                        None => return Ok(Self::unknown(code, v)),
                    }
                }
                Capability::AddPath(entries)
            }
            ENHANCED_ROUTE_REFRESH if v.is_empty() => Capability::EnhancedRouteRefresh,
            LONG_LIVED_GRACEFUL_RESTART if v.len() % 7 == 0 => {
                Capability::LongLivedGracefulRestart(
                    v.chunks_exact(7)
                        .map(|c| LlgrFamily {
                            family: Family::from_afi_safi(u16::from_be_bytes([c[0], c[1]]), c[2]),
                            flags: c[3],
                            stale_time: u32::from_be_bytes([0, c[4], c[5], c[6]]),
                        })
                        .collect(),
                )
            }
            FQDN => match decode_fqdn(v) {
                Some((hostname, domain)) => Capability::Fqdn { hostname, domain },
                None => Self::unknown(code, v),
            },
            _ => Self::unknown(code, v),
        };
        Ok(cap)
    }

    fn unknown(code: u8, v: &[u8]) -> Self {
        Capability::Unknown {
            code,
            value: Bytes::copy_from_slice(v),
        }
    }

    /// The capability code.
    pub fn code(&self) -> u8 {
        use self::code::*;
        match self {
            Capability::Multiprotocol(_) => MULTIPROTOCOL,
            Capability::RouteRefresh => ROUTE_REFRESH,
            Capability::ExtendedNextHop(_) => EXTENDED_NEXT_HOP,
            Capability::ExtendedMessage => EXTENDED_MESSAGE,
            Capability::Role(_) => ROLE,
            Capability::GracefulRestart(_) => GRACEFUL_RESTART,
            Capability::FourOctetAs(_) => FOUR_OCTET_AS,
            Capability::AddPath(_) => ADD_PATH,
            Capability::EnhancedRouteRefresh => ENHANCED_ROUTE_REFRESH,
            Capability::LongLivedGracefulRestart(_) => LONG_LIVED_GRACEFUL_RESTART,
            Capability::Fqdn { .. } => FQDN,
            Capability::Unknown { code, .. } => *code,
        }
    }

    /// Writes code, length and value.
    pub(crate) fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let mut v = BytesMut::new();
        match self {
            Capability::Multiprotocol(f) => {
                v.put_u16(f.afi());
                v.put_u8(0);
                v.put_u8(f.safi());
            }
            Capability::RouteRefresh
            | Capability::ExtendedMessage
            | Capability::EnhancedRouteRefresh => {}
            Capability::ExtendedNextHop(entries) => {
                for (f, nh_afi) in entries {
                    v.put_u16(f.afi());
                    v.put_u16(u16::from(f.safi()));
                    v.put_u16(*nh_afi);
                }
            }
            Capability::Role(r) => v.put_u8(*r),
            Capability::GracefulRestart(gr) => {
                if gr.restart_time > 0x0fff || gr.flags > 0x0f {
                    return Err(EncodeError::Invalid("graceful restart time over 4095 s"));
                }
                v.put_u16(u16::from(gr.flags) << 12 | gr.restart_time);
                for f in &gr.families {
                    v.put_u16(f.family.afi());
                    v.put_u8(f.family.safi());
                    v.put_u8(f.flags);
                }
            }
            Capability::FourOctetAs(asn) => v.put_u32(*asn),
            Capability::AddPath(entries) => {
                for (f, mode) in entries {
                    v.put_u16(f.afi());
                    v.put_u8(f.safi());
                    v.put_u8(mode.to_wire());
                }
            }
            Capability::LongLivedGracefulRestart(entries) => {
                for e in entries {
                    if e.stale_time > 0x00ff_ffff {
                        return Err(EncodeError::Invalid("LLGR stale time over 24 bits"));
                    }
                    v.put_u16(e.family.afi());
                    v.put_u8(e.family.safi());
                    v.put_u8(e.flags);
                    v.put_slice(&e.stale_time.to_be_bytes()[1..]);
                }
            }
            Capability::Fqdn { hostname, domain } => {
                v.put_u8(checked_len("FQDN host name", hostname.len(), 255)?);
                v.put_slice(hostname.as_bytes());
                v.put_u8(checked_len("FQDN domain name", domain.len(), 255)?);
                v.put_slice(domain.as_bytes());
            }
            Capability::Unknown { value, .. } => v.put_slice(value),
        }
        out.put_u8(self.code());
        out.put_u8(checked_len("capability value", v.len(), 255)?);
        out.put_slice(&v);
        Ok(())
    }
}

fn decode_fqdn(v: &[u8]) -> Option<(String, String)> {
    let (&hlen, rest) = v.split_first()?;
    let host = rest.get(..usize::from(hlen))?;
    let rest = &rest[usize::from(hlen)..];
    let (&dlen, rest) = rest.split_first()?;
    let domain = rest.get(..usize::from(dlen))?;
    if rest.len() != usize::from(dlen) {
        return None;
    }
    Some((
        String::from_utf8(host.to_vec()).ok()?,
        String::from_utf8(domain.to_vec()).ok()?,
    ))
}
