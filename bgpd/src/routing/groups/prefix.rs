//! Per-prefix export: what a group should hold for a prefix (best path, or every path with
//! ADD-PATH), the rewrite of a path for the group, and exports in bounded chunks.

use bgp_wire::attr::Community;
use bgp_wire::attr::NextHop;
use bgp_wire::attr::PathAttributes;
use bgp_wire::Family;
use bgp_wire::Nlri;
use bytes::BytesMut;
use ipnet::IpNet;
use rib::Advertise;
use rib::DestId;
use rib::Located;
use rib::Rib;
use tracing::warn;

use super::delivery::send;
use super::limit::make_room;
use super::limit::originated;
use super::limit::within_limit;
use super::outgoing::Exported;
use super::outgoing::Pending;
use super::ExportCtx;
use super::Group;
use crate::exchange::PeerKey;
use crate::routing::export::prepare;
use crate::routing::export::ExportRules;
use crate::routing::reflect::Reflected;
use crate::routing::reflect::{next_hop_unchanged, reflect_encoded};

/// Prefixes exported into one batch before it is encoded and queued: bounds what a large
/// change (a full-table peer going down, a new member's table) holds in memory at once.
pub(super) const EXPORT_CHUNK: usize = 16_384;

/// Exports `prefixes` to the group (or one member), queueing every [`EXPORT_CHUNK`] of
/// them.
pub(super) fn export_chunked(
    rib: &mut Rib,
    ctx: &ExportCtx<'_>,
    g: &mut Group,
    prefixes: impl Iterator<Item = (IpNet, Option<DestId>)>,
    only: Option<PeerKey>,
    pending: &mut Pending,
    resync: &mut Vec<PeerKey>,
) {
    for (n, (prefix, hint)) in prefixes.enumerate() {
        if n > 0 && n % EXPORT_CHUNK == 0 {
            flush(g, rib, pending, only, resync);
        }
        export_prefix(rib, ctx, g, prefix, hint, pending);
    }
}

/// Encodes a batch, queues it to the group (or one member), and starts a new one.
pub(super) fn flush(
    g: &mut Group,
    rib: &mut Rib,
    pending: &mut Pending,
    only: Option<PeerKey>,
    resync: &mut Vec<PeerKey>,
) {
    let batch = pending.encoded(rib, &g.packer, &g.member_ids());
    pending.finish(rib);
    send(g, &batch, only, resync);
}

/// The routes of `list` in `family`: the list itself in the usual single-family case,
/// else a filtered copy.
pub(super) fn of_family(list: &[Nlri], family: Family) -> std::borrow::Cow<'_, [Nlri]> {
    if list.iter().all(|n| n.family() == family) {
        std::borrow::Cow::Borrowed(list)
    } else {
        list.iter()
            .filter(|n| n.family() == family)
            .copied()
            .collect()
    }
}

/// Every prefix of the Loc-RIB (of one family, or both).
pub(super) fn loc_rib_prefixes(rib: &Rib, family: Option<Family>) -> Vec<IpNet> {
    [Family::Ipv4Unicast, Family::Ipv6Unicast]
        .into_iter()
        .filter(|f| family.is_none_or(|x| x == *f))
        .flat_map(|f| rib.iter(f).map(|d| d.prefix).collect::<Vec<_>>())
        .collect()
}

/// Decides what the group should hold for `prefix` and records it: the best path, or with
/// ADD-PATH (RFC 7911) every path the group may have, numbered 1, 2, ... in (peer, path id)
/// order; the Adj-RIB-Out says what changed.
pub(super) fn export_prefix(
    rib: &mut Rib,
    ctx: &ExportCtx<'_>,
    g: &mut Group,
    prefix: IpNet,
    hint: Option<DestId>,
    pending: &mut Pending,
) {
    let family = Nlri::new(prefix).family();
    // RFC 4760 section 7: only families the session negotiated.
    if !g.rules.key.families.contains(&family) {
        return;
    }
    // One lookup for the whole prefix, none when the change came with its dest. Not in the
    // table: no paths and nothing advertised.
    let at = match hint {
        Some(id) => rib.locate_hinted(prefix, id),
        None => rib.locate(prefix),
    };
    let Some(at) = at else {
        g.suppressed.remove(&prefix.trunc());
        return;
    };
    let prefix = at.prefix();
    let mut wanted = std::mem::take(&mut pending.wanted);
    let mut sent = std::mem::take(&mut pending.sent);
    wanted.clear();
    sent.clear();
    collect_wanted(rib, ctx, g, at, pending, &mut wanted);
    sent.extend(rib.advertised_at(g.gid, at).iter().map(|s| s.path_id));
    let new = !wanted.is_empty() && sent.is_empty();
    if new && originated(rib, ctx, prefix) {
        make_room(rib, ctx, g, pending);
    }
    if within_limit(rib, g, prefix, new) {
        // Withdrawing the last advertisement of a path-less prefix removes it from the
        // table; `at` is not used after that (nothing is wanted then).
        for id in sent.iter().filter(|id| !wanted.iter().any(|w| w.0 == **id)) {
            if rib.withdraw_advertised_at(g.gid, at, *id) {
                pending.withdraw.push(Nlri::with_path_id(prefix, *id));
            }
        }
        for &(id, (attrs, next_hop)) in &wanted {
            if rib.advertise_at(g.gid, at, id, attrs, next_hop) == Advertise::Send {
                pending.announce((attrs, next_hop), Nlri::with_path_id(prefix, id));
            }
        }
    }
    pending.wanted = wanted;
    pending.sent = sent;
}

/// What the group should have for `prefix`: the best path, or with ADD-PATH every path it
/// may have, numbered from 1 in (peer, path id) order.
pub(super) fn collect_wanted(
    rib: &mut Rib,
    ctx: &ExportCtx<'_>,
    g: &Group,
    at: Located,
    pending: &mut Pending,
    wanted: &mut Vec<(u32, Exported)>,
) {
    let prefix = at.prefix();
    let add_path = g
        .rules
        .key
        .encode
        .add_path
        .contains(Nlri::new(prefix).family());
    if !add_path {
        let Some(best) = rib.get_at(at).and_then(|d| d.best().copied()) else {
            return;
        };
        if let Some(e) = pending.export_path(rib, ctx, &g.rules, prefix, &best) {
            wanted.push((0, e));
        }
        return;
    }
    let Some(dest) = rib.get_at(at) else { return };
    let mut all: Vec<rib::Path> = dest.paths.to_vec();
    all.sort_by_key(|p| (p.peer(), p.path_id()));
    for path in &all {
        if let Some(e) = pending.export_path(rib, ctx, &g.rules, prefix, path) {
            let id = u32::try_from(wanted.len() + 1).unwrap_or(u32::MAX);
            wanted.push((id, e));
        }
    }
}

/// Plain reflection of a path, rewritten on its stored encoding and interned (see
/// [`reflect_encoded`]): `Some(None)` when the group does not get it, `None` when the
/// general [`prepare_path`] must decide.
pub(super) fn reflect_path(
    rib: &mut Rib,
    ctx: &ExportCtx<'_>,
    rules: &ExportRules,
    prefix: IpNet,
    path: &rib::Path,
    buf: &mut BytesMut,
) -> Option<Option<Exported>> {
    if path.is_llgr_stale()
        || !next_hop_unchanged(rules, &prefix, rib.next_hops().get(path.next_hop()))
    {
        return None;
    }
    let source = ctx.peers.get(&path.peer())?.source();
    buf.clear();
    match reflect_encoded(
        rules,
        ctx.local,
        &source,
        rib.attrs().wire(path.attrs()),
        buf,
    )? {
        Reflected::Refused => Some(None),
        Reflected::Written => match rib.intern_export_wire(buf, path.next_hop()) {
            Ok(e) => Some(Some(e)),
            Err(e) => {
                warn!(%prefix, error = %e, "cannot record advertisement");
                Some(None)
            }
        },
    }
}

/// One path as the group would receive it.
pub(super) fn prepare_path(
    rib: &Rib,
    ctx: &ExportCtx<'_>,
    rules: &ExportRules,
    prefix: IpNet,
    path: &rib::Path,
) -> Option<(PathAttributes, NextHop)> {
    let view = ctx.peers.get(&path.peer())?;
    let mut attrs = rib.attrs().attributes(path.attrs()).ok()?;
    // RFC 9494 4.3 and 4.5: a long-lived stale path carries LLGR_STALE and goes only to
    // peers that understand it.
    if path.is_llgr_stale() {
        if !rules.key.llgr {
            return None;
        }
        let mut cs = attrs.communities().cloned().unwrap_or_default();
        if !cs.contains(&Community::LLGR_STALE) {
            cs.push(Community::LLGR_STALE);
        }
        attrs.set(bgp_wire::attr::AttrValue::Communities(cs));
    }
    let next_hop = *rib.next_hops().get(path.next_hop());
    prepare(rules, ctx.local, &prefix, &view.source(), attrs, next_hop)
}
