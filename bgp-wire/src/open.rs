//! OPEN messages (RFC 4271 section 4.2) with capabilities (RFC 5492) and extended optional
//! parameters (RFC 9072).
//!
//! ```text
//! version(1) my_as(2) hold_time(2) bgp_id(4) opt_len(1) optional parameters...
//! RFC 9072: opt_len = 255, then type 255, ext_len(2), parameters with 2-octet lengths
//! ```

use std::net::Ipv4Addr;

use bytes::{BufMut, Bytes, BytesMut};
use nom::bytes::complete::take;
use nom::number::complete::{be_u16, be_u32, be_u8};
use nom::Parser;

use crate::capability::{AddPathMode, Capability};
use crate::error::{checked_len, DecodeError, EncodeError, ErrorHandling, Reason};
use crate::family::{Family, FamilySet};

/// AS_TRANS, the 2-octet stand-in for a 4-octet AS (RFC 6793 section 9).
pub const AS_TRANS: u16 = 23456;
const PARAM_CAPABILITIES: u8 = 2;
const PARAM_EXTENDED: u8 = 255;

/// One optional parameter of an OPEN.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OptionalParameter {
    /// Type 2: one or more capabilities (RFC 5492 section 4).
    Capabilities(Vec<Capability>),
    /// Any other type, kept raw (RFC 4271 says to refuse them; the daemon decides).
    Unknown {
        /// Parameter type.
        kind: u8,
        /// Raw value.
        value: Bytes,
    },
}

/// An OPEN message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Open {
    /// The 2-octet My Autonomous System field: AS_TRANS when the AS needs four octets.
    pub my_as: u16,
    /// Proposed hold time in seconds: 0 or at least 3.
    pub hold_time: u16,
    /// BGP identifier.
    pub bgp_id: Ipv4Addr,
    /// Optional parameters in wire order (grouping kept for exact re-encoding).
    pub parameters: Vec<OptionalParameter>,
    /// Whether the RFC 9072 extended encoding is used even if the parameters would fit
    /// without it (it is always used when they do not).
    pub extended_parameters: bool,
}

impl Open {
    /// An OPEN for `asn` with every capability in one optional parameter; `my_as` is
    /// AS_TRANS when `asn` needs four octets (add [`Capability::FourOctetAs`] yourself).
    pub fn new(asn: u32, hold_time: u16, bgp_id: Ipv4Addr, capabilities: Vec<Capability>) -> Self {
        Self {
            my_as: u16::try_from(asn).unwrap_or(AS_TRANS),
            hold_time,
            bgp_id,
            parameters: vec![OptionalParameter::Capabilities(capabilities)],
            extended_parameters: false,
        }
    }

    /// Every capability, across all parameters, in order.
    pub fn capabilities(&self) -> impl Iterator<Item = &Capability> {
        self.parameters.iter().flat_map(|p| match p {
            OptionalParameter::Capabilities(caps) => caps.as_slice(),
            OptionalParameter::Unknown { .. } => &[],
        })
    }

    /// The speaker's AS: from the 4-octet AS capability if present, else `my_as`.
    pub fn asn(&self) -> u32 {
        self.capabilities()
            .find_map(|c| match c {
                Capability::FourOctetAs(asn) => Some(*asn),
                _ => None,
            })
            .unwrap_or(u32::from(self.my_as))
    }

    /// The families announced with the multiprotocol capability; IPv4 unicast when none
    /// is announced at all (RFC 4760 section 8).
    pub fn families(&self) -> Vec<Family> {
        let fams: Vec<Family> = self
            .capabilities()
            .filter_map(|c| match c {
                Capability::Multiprotocol(f) => Some(*f),
                _ => None,
            })
            .collect();
        if fams.is_empty() {
            vec![Family::Ipv4Unicast]
        } else {
            fams
        }
    }

    /// Whether a capability with this code is present.
    pub fn has(&self, code: u8) -> bool {
        self.capabilities().any(|c| c.code() == code)
    }

    /// ADD-PATH mode announced for a family, if any.
    pub fn add_path(&self, family: Family) -> Option<AddPathMode> {
        self.capabilities().find_map(|c| match c {
            Capability::AddPath(entries) => entries
                .iter()
                .find(|(f, _)| *f == family)
                .map(|(_, mode)| *mode),
            _ => None,
        })
    }

    /// The families in which `local` will receive path identifiers from `remote`
    /// (RFC 7911 section 4: local receives and remote sends).
    pub fn add_path_receive(local: &Open, remote: &Open) -> FamilySet {
        let mut set = FamilySet::EMPTY;
        for family in [Family::Ipv4Unicast, Family::Ipv6Unicast] {
            let ours = local.add_path(family).is_some_and(AddPathMode::receives);
            let theirs = remote.add_path(family).is_some_and(AddPathMode::sends);
            if ours && theirs {
                set.insert(family);
            }
        }
        set
    }

    pub(crate) fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let fail = |what| DecodeError::reset("OPEN", Reason::MalformedOpen(what));
        let (rest, (version, my_as, hold_time, bgp_id, opt_len)) =
            (be_u8, be_u16, be_u16, be_u32, be_u8)
                .parse(body)
                .map_err(|_: nom::Err<()>| fail("shorter than 10 octets"))?;
        if version != 4 {
            // RFC 4271 section 6.2: the data is the largest supported version.
            return Err(DecodeError::with_data(
                "OPEN",
                Reason::UnsupportedVersion(version),
                ErrorHandling::SessionReset,
                Bytes::from_static(&[0, 4]),
            ));
        }
        if hold_time == 1 || hold_time == 2 {
            return Err(DecodeError::reset(
                "OPEN",
                Reason::UnacceptableHoldTime(hold_time),
            ));
        }
        let bgp_id = Ipv4Addr::from(bgp_id);
        if bgp_id.is_unspecified() {
            return Err(DecodeError::reset("OPEN", Reason::BadBgpIdentifier(bgp_id)));
        }
        let (params, extended) = match rest {
            // RFC 9072 section 2: a non-extended length of 255 followed by type 255.
            [PARAM_EXTENDED, rest @ ..] if opt_len == PARAM_EXTENDED => {
                let (params, len) =
                    be_u16(rest).map_err(|_: nom::Err<()>| fail("extended length"))?;
                if params.len() != usize::from(len) {
                    return Err(fail("extended parameters length"));
                }
                (params, true)
            }
            _ => {
                if rest.len() != usize::from(opt_len) {
                    return Err(fail("optional parameters length"));
                }
                (rest, false)
            }
        };
        Ok(Self {
            my_as,
            hold_time,
            bgp_id,
            parameters: decode_parameters(params, extended)?,
            extended_parameters: extended,
        })
    }

    pub(crate) fn encode_body(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let mut params = BytesMut::new();
        let mut values = Vec::with_capacity(self.parameters.len());
        for p in &self.parameters {
            let mut v = BytesMut::new();
            let kind = match p {
                OptionalParameter::Capabilities(caps) => {
                    for c in caps {
                        c.encode(&mut v)?;
                    }
                    PARAM_CAPABILITIES
                }
                OptionalParameter::Unknown { kind, value } => {
                    v.put_slice(value);
                    *kind
                }
            };
            values.push((kind, v));
        }
        let fits = values.iter().all(|(_, v)| v.len() <= 255)
            && values.iter().map(|(_, v)| v.len() + 2).sum::<usize>() < 255;
        let extended = self.extended_parameters || !fits;
        for (kind, v) in &values {
            params.put_u8(*kind);
            if extended {
                params.put_u16(checked_len("optional parameter", v.len(), 0xffff)?);
            } else {
                params.put_u8(checked_len("optional parameter", v.len(), 255)?);
            }
            params.put_slice(v);
        }
        out.put_u8(4);
        out.put_u16(self.my_as);
        out.put_u16(self.hold_time);
        out.put_u32(u32::from(self.bgp_id));
        if extended {
            out.put_u8(PARAM_EXTENDED);
            out.put_u8(PARAM_EXTENDED);
            out.put_u16(checked_len("optional parameters", params.len(), 0xffff)?);
        } else {
            out.put_u8(checked_len("optional parameters", params.len(), 254)?);
        }
        out.put_slice(&params);
        Ok(())
    }
}

fn decode_parameters(
    mut input: &[u8],
    extended: bool,
) -> Result<Vec<OptionalParameter>, DecodeError> {
    let fail = |what| DecodeError::reset("OPEN", Reason::MalformedOpen(what));
    let mut params = Vec::new();
    while !input.is_empty() {
        let parsed: nom::IResult<&[u8], (u8, &[u8]), ()> = if extended {
            (be_u8, be_u16.flat_map(take)).parse(input)
        } else {
            (be_u8, be_u8.flat_map(take)).parse(input)
        };
        let (rest, (kind, value)) = parsed.map_err(|_| fail("optional parameter overruns"))?;
        input = rest;
        params.push(match kind {
            PARAM_CAPABILITIES => OptionalParameter::Capabilities(decode_capabilities(value)?),
            kind => OptionalParameter::Unknown {
                kind,
                value: Bytes::copy_from_slice(value),
            },
        });
    }
    Ok(params)
}

fn decode_capabilities(mut input: &[u8]) -> Result<Vec<Capability>, DecodeError> {
    let mut caps = Vec::new();
    while !input.is_empty() {
        let (rest, (code, value)) =
            (be_u8, be_u8.flat_map(take))
                .parse(input)
                .map_err(|_: nom::Err<()>| {
                    DecodeError::reset("OPEN", Reason::MalformedOpen("capability overruns"))
                })?;
        input = rest;
        caps.push(Capability::decode(code, value)?);
    }
    Ok(caps)
}
