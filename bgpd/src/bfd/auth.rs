//! Keyed SHA1 and Meticulous Keyed SHA1 authentication of BFD Control packets (RFC 5880
//! section 6.7.4): the hash is SHA-1 over the whole packet with the key, zero-padded to 20
//! bytes, in the hash's place; the sequence number guards against replay.

use config::BfdAuth;
use sha1::{Digest, Sha1};

use super::packet::{Auth, ControlPacket, HEADER_LEN};

/// Auth Type 4.
pub const KEYED_SHA1: u8 = 4;
/// Auth Type 5.
pub const METICULOUS_KEYED_SHA1: u8 = 5;
/// The section after Auth Type and Auth Len: key id, reserved, sequence, hash.
const BODY_LEN: usize = 26;
/// Where the hash starts in the encoded packet.
const HASH_AT: usize = HEADER_LEN + 2 + 6;

/// Why a received packet fails authentication; it is dropped (section 6.8.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The A bit is clear but authentication is configured.
    #[error("not authenticated")]
    Missing,
    /// Another Auth Type than ours.
    #[error("auth type {0}")]
    Type(u8),
    /// Auth Len is not 28.
    #[error("bad auth length")]
    Length,
    /// Another key id than ours.
    #[error("key id {0}")]
    KeyId(u8),
    /// The sequence number is outside the window after the last one accepted.
    #[error("sequence number {got} out of window after {last}")]
    Sequence {
        /// Received.
        got: u32,
        /// The last accepted.
        last: u32,
    },
    /// The hash does not match: wrong key, or the packet was altered.
    #[error("hash mismatch")]
    Hash,
}

/// One session's authentication: the key and both sequence numbers (section 6.8.1's
/// bfd.XmitAuthSeq, bfd.RcvAuthSeq and bfd.AuthSeqKnown).
#[derive(Debug, Clone)]
pub struct AuthState {
    key: BfdAuth,
    xmit_seq: u32,
    rcv_seq: Option<u32>,
}

impl AuthState {
    /// Starts sending at `initial_seq` (section 6.8.1: a random value).
    pub fn new(key: BfdAuth, initial_seq: u32) -> AuthState {
        AuthState {
            key,
            xmit_seq: initial_seq,
            rcv_seq: None,
        }
    }

    /// The last sequence number sent.
    pub fn xmit_seq(&self) -> u32 {
        self.xmit_seq
    }

    /// The settings this state was made for.
    pub fn key(&self) -> &BfdAuth {
        &self.key
    }

    fn auth_type(&self) -> u8 {
        if self.key.meticulous {
            METICULOUS_KEYED_SHA1
        } else {
            KEYED_SHA1
        }
    }

    /// The packet on the wire with its authentication section. The sequence number rises
    /// with every packet, which both variants allow (section 6.7.4).
    pub fn sign(&mut self, packet: &ControlPacket) -> Vec<u8> {
        self.xmit_seq = self.xmit_seq.wrapping_add(1);
        let mut p = packet.clone();
        p.auth = Some(Auth {
            auth_type: self.auth_type(),
            body: self.body(self.xmit_seq),
        });
        let mut bytes = p.encode();
        let hash = Sha1::digest(&bytes);
        if let Some(slot) = bytes.get_mut(HASH_AT..HASH_AT + 20) {
            slot.copy_from_slice(&hash);
        }
        bytes
    }

    /// Checks a received packet (section 6.7.4, reception); on success the sequence number
    /// is remembered.
    pub fn verify(&mut self, packet: &ControlPacket) -> Result<(), AuthError> {
        let auth = packet.auth.as_ref().ok_or(AuthError::Missing)?;
        if auth.auth_type != self.auth_type() {
            return Err(AuthError::Type(auth.auth_type));
        }
        let [key_id, reserved, s0, s1, s2, s3, received_hash @ ..] = auth.body.as_slice() else {
            return Err(AuthError::Length);
        };
        if auth.body.len() != BODY_LEN {
            return Err(AuthError::Length);
        }
        if *key_id != self.key.key_id {
            return Err(AuthError::KeyId(*key_id));
        }
        let seq = u32::from_be_bytes([*s0, *s1, *s2, *s3]);
        if let Some(last) = self.rcv_seq {
            // Within 3 × Detect Mult after the last accepted; meticulous: strictly after it.
            let ahead = seq.wrapping_sub(last);
            let window = 3 * u32::from(packet.detect_mult);
            let first = u32::from(self.key.meticulous);
            if ahead < first || ahead > window {
                return Err(AuthError::Sequence { got: seq, last });
            }
        }
        // The Reserved byte is ignored on receipt but covered by the hash as sent.
        let mut body = self.body(seq);
        if let Some(r) = body.get_mut(1) {
            *r = *reserved;
        }
        let mut with_key = packet.clone();
        with_key.auth = Some(Auth {
            auth_type: auth.auth_type,
            body,
        });
        let hash = Sha1::digest(with_key.encode());
        if hash.as_slice() != received_hash {
            return Err(AuthError::Hash);
        }
        self.rcv_seq = Some(seq);
        Ok(())
    }

    /// Section 6.8.1: after a long enough silence any sequence number is accepted again.
    pub fn forget_sequence(&mut self) {
        self.rcv_seq = None;
    }

    /// Key id, reserved, the sequence number, and the padded key in the hash's place.
    fn body(&self, seq: u32) -> Vec<u8> {
        let mut body = Vec::with_capacity(BODY_LEN);
        body.push(self.key.key_id);
        body.push(0);
        body.extend_from_slice(&seq.to_be_bytes());
        body.extend_from_slice(self.key.padded_key());
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bfd::packet::{Diag, State};

    fn packet() -> ControlPacket {
        ControlPacket {
            diag: Diag::NONE,
            state: State::Up,
            poll: false,
            final_: false,
            control_plane_independent: false,
            demand: false,
            detect_mult: 3,
            my_discriminator: 1,
            your_discriminator: 2,
            desired_min_tx_us: 300_000,
            required_min_rx_us: 300_000,
            required_min_echo_rx_us: 0,
            auth: None,
        }
    }

    fn key(meticulous: bool, id: u8, k: &[u8]) -> BfdAuth {
        BfdAuth::new(meticulous, id, k).unwrap_or_else(|| panic!("key"))
    }

    fn decode(bytes: &[u8]) -> ControlPacket {
        ControlPacket::decode(bytes).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn signed_packets_verify_and_the_hash_is_sha1_over_the_keyed_packet() {
        let mut tx = AuthState::new(key(false, 1, b"secret"), 99);
        let mut rx = AuthState::new(key(false, 1, b"secret"), 0);
        let wire = tx.sign(&packet());
        assert_eq!(wire.len(), 24 + 28);
        // Auth Type 4, Len 28, key id 1, reserved, sequence 100.
        assert_eq!(&wire[24..32], &[4, 28, 1, 0, 0, 0, 0, 100]);
        let mut keyed = wire.clone();
        keyed[32..52].fill(0);
        keyed[32..38].copy_from_slice(b"secret");
        assert_eq!(&wire[32..52], Sha1::digest(&keyed).as_slice());
        assert_eq!(rx.verify(&decode(&wire)), Ok(()));
    }

    #[test]
    fn wrong_key_type_id_or_a_changed_bit_is_refused() {
        let mut tx = AuthState::new(key(false, 1, b"secret"), 0);
        let wire = tx.sign(&packet());
        let p = decode(&wire);
        assert_eq!(
            AuthState::new(key(false, 1, b"Secret"), 0).verify(&p),
            Err(AuthError::Hash)
        );
        assert_eq!(
            AuthState::new(key(false, 2, b"secret"), 0).verify(&p),
            Err(AuthError::KeyId(1))
        );
        assert_eq!(
            AuthState::new(key(true, 1, b"secret"), 0).verify(&p),
            Err(AuthError::Type(4))
        );
        let mut changed = wire.clone();
        changed[2] = 4; // Detect Mult
        assert_eq!(
            AuthState::new(key(false, 1, b"secret"), 0).verify(&decode(&changed)),
            Err(AuthError::Hash)
        );
        assert_eq!(
            AuthState::new(key(false, 1, b"secret"), 0).verify(&packet()),
            Err(AuthError::Missing)
        );
    }

    #[test]
    fn sequence_windows_keyed_and_meticulous() {
        for meticulous in [false, true] {
            let mut tx = AuthState::new(key(meticulous, 1, b"k"), 1000);
            let mut rx = AuthState::new(key(meticulous, 1, b"k"), 0);
            let first = tx.sign(&packet());
            assert_eq!(rx.verify(&decode(&first)), Ok(()));
            // A replay: keyed accepts the same number again, meticulous does not.
            assert_eq!(rx.verify(&decode(&first)).is_ok(), !meticulous);
            // Up to 3 × Detect Mult ahead is fine (packets lost); beyond is not.
            let mut far = AuthState::new(key(meticulous, 1, b"k"), 1001 + 8);
            assert_eq!(rx.verify(&decode(&far.sign(&packet()))), Ok(()));
            let mut too_far = AuthState::new(key(meticulous, 1, b"k"), 1010 + 9);
            assert!(matches!(
                rx.verify(&decode(&too_far.sign(&packet()))),
                Err(AuthError::Sequence { .. })
            ));
            // After a silence anything goes.
            rx.forget_sequence();
            assert_eq!(rx.verify(&decode(&too_far.sign(&packet()))), Ok(()));
        }
        // Wrapping around 2^32 is inside the window.
        let mut tx = AuthState::new(key(true, 1, b"k"), u32::MAX - 1);
        let mut rx = AuthState::new(key(true, 1, b"k"), 0);
        for _ in 0..4 {
            assert_eq!(rx.verify(&decode(&tx.sign(&packet()))), Ok(()));
        }
    }
}
