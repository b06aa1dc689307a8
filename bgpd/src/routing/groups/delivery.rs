//! Getting the bytes to the members: queueing without waiting, members that fall behind
//! and catch up (RFC 7313), whole tables for a new or moved member.

use bgp_wire::encode;
use bgp_wire::Family;
use bgp_wire::Message;
use bgp_wire::Nlri;
use bgp_wire::Update;
use bytes::BytesMut;
use ipnet::IpNet;
use rib::Rib;
use tokio::sync::mpsc;
use tracing::info;
use tracing::warn;

use super::limit::originated;
use super::outgoing::Encoded;
use super::outgoing::Pending;
use super::prefix::export_chunked;
use super::prefix::flush;
use super::prefix::loc_rib_prefixes;
use super::prefix::EXPORT_CHUNK;
use super::ExportCtx;
use super::Group;
use super::Groups;
use super::Member;
use crate::exchange::PeerKey;

impl Groups {
    /// Whether a member is waiting to catch up.
    pub fn any_lagging(&self) -> bool {
        self.groups
            .iter()
            .flatten()
            .any(|g| g.members.iter().any(|m| m.lagging))
    }

    /// Resynchronises lagging members whose queue has room again: Beginning of Route
    /// Refresh, the group's whole table, End of Route Refresh (RFC 7313 section 4), so the
    /// peer drops whatever it missed the withdrawal of. Returns members to reset (their
    /// queue is closed).
    pub fn catch_up(&mut self, rib: &Rib) -> Vec<PeerKey> {
        let mut reset = Vec::new();
        for g in self.groups.iter_mut().flatten() {
            let ready = |m: &Member| m.lagging && m.tx.capacity() >= m.tx.max_capacity() / 2;
            if !g.members.iter().any(ready) {
                continue;
            }
            let table = refresh_table(rib, g, &g.rules.key.families);
            for m in g.members.iter_mut().filter(|m| ready(m)) {
                match deliver(m, &table) {
                    Ok(()) => {
                        info!(
                            peer = m.key,
                            "caught up: table resent inside an enhanced route refresh"
                        );
                        m.lagging = false;
                    }
                    Err(mpsc::error::TrySendError::Full(_)) => {}
                    Err(mpsc::error::TrySendError::Closed(_)) => reset.push(m.key),
                }
            }
        }
        reset
    }

    /// The routes a group has advertised (for moving a member between groups), from its
    /// Adj-RIB-Out itself: a prefix that lost its last path since the last export is no
    /// longer in the Loc-RIB but still advertised, and the member must hear its withdraw.
    pub fn advertised_prefixes(&self, rib: &Rib, index: usize) -> Vec<Nlri> {
        let Some(Some(g)) = self.groups.get(index) else {
            return Vec::new();
        };
        rib.advertised_routes(g.gid)
            .into_iter()
            .map(|(p, s)| Nlri::with_path_id(p, s.path_id))
            .collect()
    }

    /// Whether a member is drained (RFC 8326) and has been handed all of it: in a
    /// graceful-shutdown group, not behind, its queue empty (the writer took everything).
    pub fn drain_delivered(&self, index: usize, member: PeerKey) -> bool {
        let Some(Some(g)) = self.groups.get(index) else {
            return false;
        };
        g.rules.key.graceful_shutdown
            && g.members
                .iter()
                .any(|m| m.key == member && !m.lagging && m.tx.capacity() == m.tx.max_capacity())
    }

    /// Whether a member fell behind (its queue overflowed) and awaits a whole table.
    pub fn is_lagging(&self, index: usize, member: PeerKey) -> bool {
        match self.groups.get(index) {
            Some(Some(g)) => g.members.iter().any(|m| m.key == member && m.lagging),
            _ => false,
        }
    }

    /// Marks a member as fallen behind: [`Groups::catch_up`] sends it the whole table
    /// between BoRR and EoRR, which removes whatever else it holds.
    pub fn set_lagging(&mut self, index: usize, member: PeerKey) {
        if let Some(Some(g)) = self.groups.get_mut(index) {
            for m in g.members.iter_mut().filter(|m| m.key == member) {
                m.lagging = m.enhanced_refresh;
            }
        }
    }

    /// Withdraws, towards one member only, what its old group told it and its new group
    /// does not advertise.
    pub fn withdraw_leftovers(
        &mut self,
        rib: &Rib,
        index: usize,
        member: PeerKey,
        old: &[Nlri],
    ) -> Vec<PeerKey> {
        let mut resync = Vec::new();
        let Some(Some(g)) = self.groups.get_mut(index) else {
            return resync;
        };
        let pending = Pending {
            withdraw: old
                .iter()
                .filter(|n| {
                    !rib.advertised(g.gid, n.prefix)
                        .iter()
                        .any(|s| s.path_id == n.path_id)
                })
                .copied()
                .collect(),
            ..Pending::default()
        };
        let withdrawals = pending.encoded(rib, &g.packer, &[]);
        send(g, &withdrawals, Some(member), &mut resync);
        resync
    }

    /// Sends one member its group's table and End-of-RIB (the whole table, or one family
    /// for a route refresh). Primes a new group by exporting the Loc-RIB to it.
    pub fn send_table(
        &mut self,
        rib: &mut Rib,
        ctx: &ExportCtx<'_>,
        index: usize,
        member: PeerKey,
        family: Option<Family>,
    ) -> Vec<PeerKey> {
        let mut resync = Vec::new();
        let Some(Some(g)) = self.groups.get_mut(index) else {
            return resync;
        };
        let families: Vec<Family> = g
            .rules
            .key
            .families
            .iter()
            .copied()
            .filter(|f| family.is_none_or(|x| x == *f))
            .collect();
        let prefixes: Vec<IpNet> = families
            .iter()
            .flat_map(|f| loc_rib_prefixes(rib, Some(*f)))
            .collect();
        let mut pending = std::mem::take(&mut g.scratch);
        pending.start(&g.rules);
        if g.primed {
            for (n, prefix) in prefixes.iter().enumerate() {
                if n > 0 && n % EXPORT_CHUNK == 0 {
                    flush(g, rib, &mut pending, Some(member), &mut resync);
                }
                for sent in rib.advertised(g.gid, *prefix) {
                    pending.announce(
                        (sent.attrs, sent.next_hop),
                        Nlri::with_path_id(*prefix, sent.path_id),
                    );
                }
            }
        } else {
            // Originated routes first: under an advertised-route limit they are the ones
            // kept (the cloud gateway must get the aggregate).
            let (local, others): (Vec<IpNet>, Vec<IpNet>) =
                prefixes.iter().partition(|p| originated(rib, ctx, **p));
            let all = local.iter().chain(&others).map(|p| (*p, None));
            export_chunked(rib, ctx, g, all, Some(member), &mut pending, &mut resync);
            g.primed = true;
        }
        let mut out = BytesMut::new();
        let mut withdrawals = BytesMut::new();
        let own = pending.encode(rib, &g.packer, &g.member_ids(), &mut out, &mut withdrawals);
        pending.finish(rib);
        g.scratch = pending;
        for f in families {
            let eor = Message::Update(Update::end_of_rib(f));
            if let Err(e) = encode(&eor, &g.rules.key.encode, &mut out) {
                warn!(error = %e, "cannot encode End-of-RIB");
            }
        }
        let table = Encoded::new(out, own, withdrawals);
        send(g, &table, Some(member), &mut resync);
        resync
    }
}

/// Queues `bytes` to every member (or one). A member whose queue is full falls behind: with
/// enhanced route refresh it catches up later ([`Groups::catch_up`]); without, it is handed
/// back for a reset.
pub(super) fn send(
    g: &mut Group,
    batch: &Encoded,
    only: Option<PeerKey>,
    resync: &mut Vec<PeerKey>,
) {
    if batch.bytes.is_empty() {
        return;
    }
    for m in &mut g.members {
        if only.is_some_and(|o| o != m.key) || m.lagging {
            continue;
        }
        if let Err(e) = deliver(m, batch) {
            // A closed queue is a session going down: its PeerDown follows.
            if matches!(e, mpsc::error::TrySendError::Closed(_)) {
                continue;
            }
            if m.enhanced_refresh {
                warn!(
                    peer = m.key,
                    "peer is not keeping up: it will get the whole table again"
                );
                m.lagging = true;
            } else {
                resync.push(m.key);
            }
        }
    }
}

/// Queues a batch to one member, without the routes it originated.
pub(super) fn deliver(m: &Member, batch: &Encoded) -> Result<(), mpsc::error::TrySendError<()>> {
    match batch.parts_for(m.bgp_id) {
        None => m.tx.try_send(batch.bytes.clone()).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => mpsc::error::TrySendError::Full(()),
            mpsc::error::TrySendError::Closed(_) => mpsc::error::TrySendError::Closed(()),
        }),
        Some(parts) if parts.is_empty() => Ok(()),
        Some(parts) => m.tx.try_send_parts(&parts),
    }
}

/// BoRR, every route the group has advertised, EoRR, for each of `families`.
pub(super) fn refresh_table(rib: &Rib, g: &Group, families: &[Family]) -> Encoded {
    let ctx = &g.rules.key.encode;
    let members = g.member_ids();
    let mut out = BytesMut::new();
    let mut withdrawals = BytesMut::new();
    let mut own = Vec::new();
    for family in families {
        let marker = |subtype| {
            Message::RouteRefresh(bgp_wire::RouteRefresh {
                family: *family,
                subtype,
            })
        };
        let _ = encode(&marker(bgp_wire::RefreshSubtype::Begin), ctx, &mut out);
        // Ids the Adj-RIB-Out holds: nothing is interned, so nothing to give back.
        let mut pending = Pending::default();
        for prefix in loc_rib_prefixes(rib, Some(*family)) {
            for sent in rib.advertised(g.gid, prefix) {
                pending.announce(
                    (sent.attrs, sent.next_hop),
                    Nlri::with_path_id(prefix, sent.path_id),
                );
            }
        }
        own.extend(pending.encode(rib, &g.packer, &members, &mut out, &mut withdrawals));
        let _ = encode(&marker(bgp_wire::RefreshSubtype::End), ctx, &mut out);
    }
    Encoded::new(out, own, withdrawals)
}
