//! The advertised-route limit (`max_prefixes_out`): prefixes beyond it are held back and
//! released when withdrawals make room; our own routes come first.

use bgp_wire::Nlri;
use ipnet::IpNet;
use rib::Rib;
use tracing::info;
use tracing::warn;

use super::outgoing::Pending;
use super::prefix::export_prefix;
use super::prefix::loc_rib_prefixes;
use super::ExportCtx;
use super::Group;

/// The advertised-route limit: whether a prefix that would be `new` to the group may go
/// out. One held back is remembered and released when withdrawals make room.
pub(super) fn within_limit(rib: &Rib, g: &mut Group, prefix: IpNet, new: bool) -> bool {
    if new {
        if let Some(limit) = g.rules.limit {
            let count = rib.advertised_count(g.gid);
            if count >= u64::from(limit.limit) {
                if g.suppressed.insert(prefix) && !g.warned_limit {
                    g.warned_limit = true;
                    warn!(limit = limit.limit, %prefix, "advertised-route limit reached: holding routes back");
                }
                return false;
            }
            if count + 1 >= u64::from(limit.warning_threshold()) && !g.warned_limit {
                info!(
                    limit = limit.limit,
                    advertised = count + 1,
                    "advertised routes near the limit"
                );
            }
        }
    }
    g.suppressed.remove(&prefix);
    true
}

/// Whether the best path to `prefix` is one we originate.
pub(super) fn originated(rib: &Rib, ctx: &ExportCtx<'_>, prefix: IpNet) -> bool {
    rib.get(prefix)
        .and_then(|d| d.best().map(|b| b.peer()))
        .is_some_and(|peer| ctx.peers.get(&peer).is_some_and(|v| v.kind.is_none()))
}

/// Under the advertised-route limit our own routes come first (the cloud gateway must get
/// the pod aggregate, whenever it exists): at the limit, an originated prefix takes the
/// place of a learned one, which is withdrawn and held back until there is room again.
pub(super) fn make_room(rib: &mut Rib, ctx: &ExportCtx<'_>, g: &mut Group, pending: &mut Pending) {
    let Some(limit) = g.rules.limit else { return };
    if rib.advertised_count(g.gid) < u64::from(limit.limit) {
        return;
    }
    // Rare (an aggregate appearing while the limit is reached): a walk of the table is fine.
    // Not one announced in this very batch: its withdrawal would be encoded before its
    // announcement, and the peer would keep it.
    let in_batch = |p: IpNet| {
        pending
            .announce
            .iter()
            .any(|(_, nlri)| nlri.iter().any(|n| n.prefix == p))
    };
    let victim = loc_rib_prefixes(rib, None).into_iter().rev().find(|p| {
        !originated(rib, ctx, *p) && !rib.advertised(g.gid, *p).is_empty() && !in_batch(*p)
    });
    let Some((victim, at)) = victim.and_then(|v| rib.locate(v).map(|at| (v, at))) else {
        return;
    };
    let ids: Vec<u32> = rib
        .advertised_at(g.gid, at)
        .iter()
        .map(|s| s.path_id)
        .collect();
    for id in ids {
        if rib.withdraw_advertised_at(g.gid, at, id) {
            pending.withdraw.push(Nlri::with_path_id(victim, id));
        }
    }
    g.suppressed.insert(victim);
    info!(
        limit = limit.limit,
        %victim,
        "advertised-route limit: an originated route takes the place of a learned one"
    );
}

/// When withdrawals made room under the limit, held-back prefixes go out in order.
pub(super) fn release_suppressed(
    rib: &mut Rib,
    ctx: &ExportCtx<'_>,
    g: &mut Group,
    pending: &mut Pending,
) {
    let Some(limit) = g.rules.limit else { return };
    while rib.advertised_count(g.gid) < u64::from(limit.limit) {
        let Some(prefix) = g.suppressed.pop_first() else {
            return;
        };
        export_prefix(rib, ctx, g, prefix, None, pending);
    }
}
