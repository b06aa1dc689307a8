//! `bfd` on a neighbor: BFD (RFC 5880, RFC 5881) watches the forwarding path; nothing of it
//! is negotiated in OPEN, so a change is applied without a session reset.

use std::time::Duration;

use super::helpers::Checker;
use crate::model::{Bfd, Peer};
use crate::schema::BfdSchema;

/// `bfd = true | false | { min_rx, min_tx, multiplier }`; `Some(None)` when off.
pub(super) fn bfd(
    ck: &mut Checker<'_, '_>,
    b: &toml::Spanned<BfdSchema>,
    peer: Option<Peer>,
) -> Option<Option<Bfd>> {
    let default = Bfd::default();
    let settings = match b.get_ref() {
        BfdSchema::Flag(false) => return Some(None),
        BfdSchema::Flag(true) => Some(default),
        BfdSchema::Table(t) => {
            let (lo, hi) = (Bfd::MIN_INTERVAL_MS as i64, Bfd::MAX_INTERVAL_MS as i64);
            let mut interval = |v: &Option<crate::schema::Int>, key: &str, default: Duration| {
                v.as_ref().map_or(Some(default), |v| {
                    ck.int_as::<u64>(v, key, lo, hi).map(Duration::from_millis)
                })
            };
            let min_rx = interval(&t.min_rx, "min_rx", default.min_rx);
            let min_tx = interval(&t.min_tx, "min_tx", default.min_tx);
            let multiplier = t.multiplier.as_ref().map_or(Some(default.multiplier), |m| {
                ck.int_as::<u8>(m, "multiplier", 1, 255)
            });
            Some(Bfd {
                min_rx: min_rx?,
                min_tx: min_tx?,
                multiplier: multiplier?,
            })
        }
    };
    if let Some(Peer::Range(_)) = peer {
        ck.error(
            b.span(),
            "`bfd` needs a fixed `address`: a range's peers are not known before they connect",
        );
        return None;
    }
    settings.map(Some)
}
