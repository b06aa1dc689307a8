//! The BFD Control packet (RFC 5880 section 4.1): decoding with the reception checks of
//! section 6.8.6 that need nothing but the packet, and encoding.

use std::time::Duration;

/// The mandatory part's length; an authentication section follows when the A bit is set.
pub const HEADER_LEN: usize = 24;
/// The only version there is.
pub const VERSION: u8 = 1;

/// `bfd.SessionState` and the packet's State field (RFC 5880 section 4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// 0: AdminDown.
    AdminDown,
    /// 1: Down.
    Down,
    /// 2: Init.
    Init,
    /// 3: Up.
    Up,
}

impl State {
    fn from_bits(bits: u8) -> State {
        match bits & 3 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }

    fn bits(self) -> u8 {
        match self {
            State::AdminDown => 0,
            State::Down => 1,
            State::Init => 2,
            State::Up => 3,
        }
    }

    /// The State field's value (RFC 5880 section 4.1): AdminDown 0 .. Up 3.
    pub fn number(self) -> u8 {
        self.bits()
    }

    /// The name `bgpctl` shows: `admin-down`, `down`, `init`, `up`.
    pub fn name(self) -> &'static str {
        match self {
            State::AdminDown => "admin-down",
            State::Down => "down",
            State::Init => "init",
            State::Up => "up",
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The Diagnostic field: why the sender's session last went down (RFC 5880 section 4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Diag(pub u8);

impl Diag {
    /// 0: No Diagnostic.
    pub const NONE: Diag = Diag(0);
    /// 1: Control Detection Time Expired.
    pub const DETECTION_TIME_EXPIRED: Diag = Diag(1);
    /// 3: Neighbor Signaled Session Down.
    pub const NEIGHBOR_DOWN: Diag = Diag(3);
    /// 7: Administratively Down.
    pub const ADMIN_DOWN: Diag = Diag(7);

    /// The RFC's name, in the words `bgpctl` and the logs use.
    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "none",
            1 => "control detection time expired",
            2 => "echo function failed",
            3 => "neighbor signaled session down",
            4 => "forwarding plane reset",
            5 => "path down",
            6 => "concatenated path down",
            7 => "administratively down",
            8 => "reverse concatenated path down",
            _ => "reserved",
        }
    }
}

impl std::fmt::Display for Diag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The authentication section, as received (RFC 5880 section 4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    /// Auth Type: 1 simple password, 2/3 (meticulous) keyed MD5, 4/5 (meticulous) keyed SHA1.
    pub auth_type: u8,
    /// The section after Auth Type and Auth Len.
    pub body: Vec<u8>,
}

/// A decoded BFD Control packet. Intervals are in microseconds on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlPacket {
    /// Why the sender's session last went down.
    pub diag: Diag,
    /// The sender's `bfd.SessionState`.
    pub state: State,
    /// P: the sender asks for a Final (parameter change, section 6.5).
    pub poll: bool,
    /// F: the answer to a Poll.
    pub final_: bool,
    /// C: the sender's BFD does not share fate with its control plane.
    pub control_plane_independent: bool,
    /// D: the sender wants Demand mode (not supported here: such a session stays asynchronous).
    pub demand: bool,
    /// Detect Mult.
    pub detect_mult: u8,
    /// My Discriminator (never zero).
    pub my_discriminator: u32,
    /// Your Discriminator (zero until the sender has heard from us).
    pub your_discriminator: u32,
    /// Desired Min TX Interval, µs.
    pub desired_min_tx_us: u32,
    /// Required Min RX Interval, µs (zero: send me nothing).
    pub required_min_rx_us: u32,
    /// Required Min Echo RX Interval, µs (we never send echo packets).
    pub required_min_echo_rx_us: u32,
    /// The authentication section when the A bit is set.
    pub auth: Option<Auth>,
}

/// Why a received packet was discarded (RFC 5880 section 6.8.6).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Shorter than the header or its own Length field.
    #[error("truncated: {got} bytes")]
    Truncated {
        /// Bytes received.
        got: usize,
    },
    /// Version is not 1.
    #[error("version {0}")]
    Version(u8),
    /// Length below 24 (26 with authentication) or above the datagram.
    #[error("bad length {length} in a {got}-byte datagram")]
    Length {
        /// The Length field.
        length: u8,
        /// Bytes received.
        got: usize,
    },
    /// Detect Mult is zero.
    #[error("detect multiplier 0")]
    DetectMult,
    /// The Multipoint bit is set.
    #[error("multipoint bit set")]
    Multipoint,
    /// My Discriminator is zero.
    #[error("my discriminator 0")]
    MyDiscriminator,
    /// Your Discriminator is zero in a packet whose State is Init or Up.
    #[error("your discriminator 0 in state {0}")]
    YourDiscriminator(State),
    /// The authentication section's own length is inconsistent.
    #[error("bad authentication section")]
    AuthSection,
}

fn be32(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(&[a, b2, c, d]) => u32::from_be_bytes([a, b2, c, d]),
        _ => 0,
    }
}

impl ControlPacket {
    /// Decodes a datagram, applying every check of section 6.8.6 that needs no session.
    pub fn decode(datagram: &[u8]) -> Result<ControlPacket, PacketError> {
        let got = datagram.len();
        let [b0, b1, detect_mult, length] = match datagram.get(..4) {
            Some(&[a, b, c, d]) => [a, b, c, d],
            _ => return Err(PacketError::Truncated { got }),
        };
        let version = b0 >> 5;
        if version != VERSION {
            return Err(PacketError::Version(version));
        }
        let auth_present = b1 & 0x04 != 0;
        let min_len = if auth_present { 26 } else { HEADER_LEN };
        if usize::from(length) < min_len || usize::from(length) > got {
            return Err(PacketError::Length { length, got });
        }
        if detect_mult == 0 {
            return Err(PacketError::DetectMult);
        }
        if b1 & 0x01 != 0 {
            return Err(PacketError::Multipoint);
        }
        let state = State::from_bits(b1 >> 6);
        let packet = ControlPacket {
            diag: Diag(b0 & 0x1f),
            state,
            poll: b1 & 0x20 != 0,
            final_: b1 & 0x10 != 0,
            control_plane_independent: b1 & 0x08 != 0,
            demand: b1 & 0x02 != 0,
            detect_mult,
            my_discriminator: be32(datagram, 4),
            your_discriminator: be32(datagram, 8),
            desired_min_tx_us: be32(datagram, 12),
            required_min_rx_us: be32(datagram, 16),
            required_min_echo_rx_us: be32(datagram, 20),
            auth: if auth_present {
                let section = datagram
                    .get(HEADER_LEN..usize::from(length))
                    .ok_or(PacketError::AuthSection)?;
                match section {
                    [auth_type, auth_len, body @ ..] if usize::from(*auth_len) == section.len() => {
                        Some(Auth {
                            auth_type: *auth_type,
                            body: body.to_vec(),
                        })
                    }
                    _ => return Err(PacketError::AuthSection),
                }
            } else {
                None
            },
        };
        if packet.my_discriminator == 0 {
            return Err(PacketError::MyDiscriminator);
        }
        if packet.your_discriminator == 0 && matches!(state, State::Init | State::Up) {
            return Err(PacketError::YourDiscriminator(state));
        }
        Ok(packet)
    }

    /// The packet on the wire (the authentication section included when present).
    pub fn encode(&self) -> Vec<u8> {
        let auth_len = self.auth.as_ref().map_or(0, |a| 2 + a.body.len());
        let length = u8::try_from(HEADER_LEN + auth_len).unwrap_or(u8::MAX);
        let mut flags = self.state.bits() << 6;
        for (set, bit) in [
            (self.poll, 0x20),
            (self.final_, 0x10),
            (self.control_plane_independent, 0x08),
            (self.auth.is_some(), 0x04),
            (self.demand, 0x02),
        ] {
            if set {
                flags |= bit;
            }
        }
        let mut out = Vec::with_capacity(usize::from(length));
        out.extend_from_slice(&[
            (VERSION << 5) | (self.diag.0 & 0x1f),
            flags,
            self.detect_mult,
            length,
        ]);
        for v in [
            self.my_discriminator,
            self.your_discriminator,
            self.desired_min_tx_us,
            self.required_min_rx_us,
            self.required_min_echo_rx_us,
        ] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        if let Some(a) = &self.auth {
            out.push(a.auth_type);
            out.push(u8::try_from(2 + a.body.len()).unwrap_or(u8::MAX));
            out.extend_from_slice(&a.body);
        }
        out
    }
}

/// An interval as the packet carries it (µs), saturating.
pub fn to_micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// An interval from the packet's µs.
pub fn from_micros(us: u32) -> Duration {
    Duration::from_micros(u64::from(us))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ControlPacket {
        ControlPacket {
            diag: Diag::DETECTION_TIME_EXPIRED,
            state: State::Up,
            poll: true,
            final_: false,
            control_plane_independent: false,
            demand: false,
            detect_mult: 3,
            my_discriminator: 0x0102_0304,
            your_discriminator: 7,
            desired_min_tx_us: 300_000,
            required_min_rx_us: 300_000,
            required_min_echo_rx_us: 0,
            auth: None,
        }
    }

    #[test]
    fn round_trip_and_wire_layout() {
        let p = sample();
        let wire = p.encode();
        // Version 1, diag 1; state Up (3 << 6) | P (0x20); mult 3; length 24.
        assert_eq!(&wire[..4], &[0x21, 0xe0, 3, 24]);
        assert_eq!(&wire[4..8], &[1, 2, 3, 4]);
        assert_eq!(&wire[12..16], &300_000u32.to_be_bytes());
        assert_eq!(ControlPacket::decode(&wire), Ok(p));
    }

    #[test]
    fn round_trip_with_auth() {
        let mut p = sample();
        p.auth = Some(Auth {
            auth_type: 4,
            body: vec![1, 0, 0, 0, 0, 9]
                .into_iter()
                .chain([0u8; 20])
                .collect(),
        });
        let wire = p.encode();
        assert_eq!(wire.len(), 24 + 28);
        assert_eq!(wire[1] & 0x04, 0x04);
        assert_eq!(ControlPacket::decode(&wire), Ok(p));
    }

    #[test]
    fn reception_checks_of_section_6_8_6() {
        let good = sample().encode();
        let with = |at: usize, v: u8| {
            let mut w = good.clone();
            w[at] = v;
            ControlPacket::decode(&w)
        };
        assert_eq!(with(0, 0x41), Err(PacketError::Version(2)));
        assert_eq!(
            with(3, 23),
            Err(PacketError::Length {
                length: 23,
                got: 24
            })
        );
        assert_eq!(
            with(3, 25),
            Err(PacketError::Length {
                length: 25,
                got: 24
            })
        );
        assert_eq!(with(2, 0), Err(PacketError::DetectMult));
        assert_eq!(with(1, 0xc1), Err(PacketError::Multipoint));
        let mut zero_my = good.clone();
        zero_my[4..8].fill(0);
        assert_eq!(
            ControlPacket::decode(&zero_my),
            Err(PacketError::MyDiscriminator)
        );
        let mut zero_your = good.clone();
        zero_your[8..12].fill(0);
        assert_eq!(
            ControlPacket::decode(&zero_your),
            Err(PacketError::YourDiscriminator(State::Up))
        );
        // Your Discriminator zero is how a Down session starts.
        zero_your[1] = 0x40;
        assert!(ControlPacket::decode(&zero_your).is_ok());
        // A bit set but no room for the section.
        assert!(matches!(with(1, 0xc4), Err(PacketError::Length { .. })));
        assert_eq!(
            ControlPacket::decode(&good[..10]),
            Err(PacketError::Length {
                length: 24,
                got: 10
            })
        );
        assert_eq!(
            ControlPacket::decode(&good[..2]),
            Err(PacketError::Truncated { got: 2 })
        );
        // A longer datagram than Length is fine (the rest is ignored).
        let mut padded = good.clone();
        padded.extend_from_slice(&[0; 8]);
        assert!(ControlPacket::decode(&padded).is_ok());
    }

    #[test]
    fn auth_section_length_must_match() {
        let mut p = sample();
        p.auth = Some(Auth {
            auth_type: 1,
            body: vec![1, b'k', b'e', b'y'],
        });
        let mut wire = p.encode();
        wire[25] = 9; // Auth Len disagrees with Length
        assert_eq!(ControlPacket::decode(&wire), Err(PacketError::AuthSection));
    }
}
