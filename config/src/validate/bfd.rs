//! `bfd` on a neighbor: BFD (RFC 5880, RFC 5881) watches the forwarding path; nothing of it
//! is negotiated in OPEN, so a change is applied without a session reset.

use std::time::Duration;

use super::helpers::Checker;
use crate::model::{Bfd, BfdAuth, Peer};
use crate::schema::{BfdSchema, BfdTableSchema};

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
            let auth = auth(ck, t);
            Some(Bfd {
                min_rx: min_rx?,
                min_tx: min_tx?,
                multiplier: multiplier?,
                auth: auth?,
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

/// `auth = "keyed-sha1" | "meticulous-keyed-sha1"`, `key_id`, `password`: all or none
/// (`key_id` defaults to 1); `Some(None)` when off.
fn auth(ck: &mut Checker<'_, '_>, t: &BfdTableSchema) -> Option<Option<BfdAuth>> {
    let Some(kind) = &t.auth else {
        if let Some(p) = &t.password {
            ck.error(
                p.span(),
                "`password` needs `auth = \"keyed-sha1\"` (or `\"meticulous-keyed-sha1\"`)",
            );
            return None;
        }
        if let Some(k) = &t.key_id {
            ck.error(k.span(), "`key_id` needs `auth`");
            return None;
        }
        return Some(None);
    };
    let meticulous = match kind.get_ref().as_str() {
        "keyed-sha1" => Some(false),
        "meticulous-keyed-sha1" => Some(true),
        other => {
            ck.error(
                kind.span(),
                format!("`auth` must be `keyed-sha1` or `meticulous-keyed-sha1`, not `{other}`"),
            );
            None
        }
    };
    let key_id = t
        .key_id
        .as_ref()
        .map_or(Some(1), |k| ck.int_as::<u8>(k, "key_id", 0, 255));
    let key = match &t.password {
        None => {
            ck.error(kind.span(), "`auth` needs a `password`");
            None
        }
        Some(p) if p.get_ref().is_empty() || p.get_ref().len() > BfdAuth::MAX_KEY => {
            ck.error(
                p.span(),
                format!("a BFD `password` is 1..={} bytes", BfdAuth::MAX_KEY),
            );
            None
        }
        Some(p) => Some(p.get_ref().as_bytes()),
    };
    BfdAuth::new(meticulous?, key_id?, key?).map(Some)
}
