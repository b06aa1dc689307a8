//! Export groups: peers that receive identical UPDATEs share one group, so each change is
//! filtered, rewritten and encoded once and the same bytes go to every member. Each group's
//! Adj-RIB-Out lives in the RIB (`rib::adj_out`).
//!
//! A member whose queue is full is not waited on (that would let one slow peer stall
//! everyone): it is handed back for a resync.

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;

use bgp_wire::attr::{Community, NextHop, PathAttributes};
use bgp_wire::{encode, Family, Message, Nlri, Update, UpdatePacker};
use bytes::{Bytes, BytesMut};
use hashbrown::{DefaultHashBuilder, HashMap as FastMap};
use ipnet::IpNet;
use rib::{Advertise, AttrId, DestId, GroupId, Located, NextHopId, PeerId, Rib};
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::export::{prepare, ExportRules, GroupKey, Local, PeerKind, Source};
use super::reflect::{reflect_encoded, Reflected};
use super::PeerUp;
use crate::exchange::updates::UpdateSender;
use crate::exchange::PeerKey;

/// Who a RIB peer is, for export.
#[derive(Debug, Clone)]
pub struct PeerView {
    /// Session kind; `None` for routes originated here.
    pub kind: Option<PeerKind>,
    /// The neighbor's name.
    pub name: String,
    /// Its BGP identifier.
    pub bgp_id: Ipv4Addr,
}

impl PeerView {
    /// The peer as a route's source, for export.
    fn source(&self) -> Source<'_> {
        Source {
            kind: self.kind,
            neighbor: (!self.name.is_empty()).then_some(self.name.as_str()),
            bgp_id: self.bgp_id,
        }
    }
}

/// What export reads besides the RIB.
#[derive(Debug)]
pub struct ExportCtx<'a> {
    /// Our AS and cluster ID.
    pub local: &'a Local,
    /// Every RIB peer.
    pub peers: &'a HashMap<PeerId, PeerView>,
}

#[derive(Debug)]
struct Group {
    rules: ExportRules,
    gid: GroupId,
    members: Vec<Member>,
    packer: UpdatePacker,
    /// The group's Adj-RIB-Out reflects the whole Loc-RIB.
    primed: bool,
    /// Prefixes held back by the advertised-route limit.
    suppressed: BTreeSet<IpNet>,
    warned_limit: bool,
    /// The export policy was replaced: everything must be exported again.
    policy_changed: bool,
    /// The export batch, kept between exports for its allocations.
    scratch: Pending,
}

/// A peer receiving a group's updates.
#[derive(Debug)]
struct Member {
    key: PeerKey,
    /// Its BGP identifier: routes whose ORIGINATOR_ID it is are not sent back to it.
    bgp_id: Ipv4Addr,
    tx: UpdateSender,
    /// The peer negotiated enhanced route refresh (RFC 7313): it can be resynchronised
    /// without a reset.
    enhanced_refresh: bool,
    /// Its queue overflowed: it gets nothing until it catches up with a whole table.
    lagging: bool,
}

/// Every export group.
#[derive(Debug, Default)]
pub struct Groups {
    groups: Vec<Option<Group>>,
    by_key: HashMap<GroupKey, usize>,
}

/// An exported route: the rewritten attribute set and next hop, interned in the RIB.
type Exported = (AttrId, NextHopId);

/// Encoded UPDATEs for a group, and where in them a member's own routes are: a route
/// reflector client discards a route carrying its own BGP identifier as ORIGINATOR_ID (RFC
/// 4456 section 8), so it is not sent one. Each member gets slices of the same buffers,
/// never a copy.
///
/// A member gets, in place of the announcement of its own route, the withdrawal of that
/// prefix (and path ID): whatever it had from us under that NLRI before (another node's
/// path, now replaced in the group's Adj-RIB-Out by its own) must go, or it would keep it
/// after that other path is gone. A withdrawal of something it never had is a no-op.
#[derive(Debug, Default)]
struct Encoded {
    bytes: Bytes,
    /// Whole messages of `bytes` (ascending), whose routes carry this ORIGINATOR_ID, and
    /// the range of `withdrawals` that withdraws the same routes.
    own: Vec<OwnRoutes>,
    withdrawals: Bytes,
}

/// See [`Encoded`].
#[derive(Debug, Clone)]
struct OwnRoutes {
    announced: std::ops::Range<usize>,
    originator: Ipv4Addr,
    withdrawn: std::ops::Range<usize>,
}

impl Encoded {
    fn new(bytes: BytesMut, mut own: Vec<OwnRoutes>, withdrawals: BytesMut) -> Self {
        // By member, then in buffer order: a member finds its slices by binary search (a
        // batch of 500 Calico nodes coming up holds routes of every member).
        own.sort_unstable_by_key(|o| (o.originator, o.announced.start));
        Encoded {
            bytes: bytes.freeze(),
            own,
            withdrawals: withdrawals.freeze(),
        }
    }

    /// What `member` gets: `None` for the whole buffer, else slices with its own routes
    /// replaced by their withdrawal.
    fn parts_for(&self, member: Ipv4Addr) -> Option<Vec<Bytes>> {
        let from = self.own.partition_point(|o| o.originator < member);
        let to = from + self.own[from..].partition_point(|o| o.originator == member);
        if from == to {
            return None;
        }
        let mut parts = Vec::with_capacity(2 * (to - from) + 1);
        let mut at = 0;
        for o in &self.own[from..to] {
            if o.announced.start > at {
                parts.push(self.bytes.slice(at..o.announced.start));
            }
            if !o.withdrawn.is_empty() {
                parts.push(self.withdrawals.slice(o.withdrawn.clone()));
            }
            at = o.announced.end;
        }
        if at < self.bytes.len() {
            parts.push(self.bytes.slice(at..));
        }
        Some(parts)
    }
}

/// The ORIGINATOR_ID of an interned attribute set, read from its encoding.
fn originator(rib: &Rib, attrs: AttrId) -> Option<Ipv4Addr> {
    bgp_wire::attr::raw_attributes(rib.attrs().wire(attrs))
        .filter_map(Result::ok)
        .find(|a| a.type_code == bgp_wire::attr::code::ORIGINATOR_ID)
        .and_then(|a| <[u8; 4]>::try_from(a.value).ok())
        .map(Ipv4Addr::from)
}

/// What decides how a path looks to a group when the export policy has no prefix
/// conditions: the same source set, next hop and peer give the same result for every
/// prefix of a family. A reflector sees three to four prefixes per set (one UPDATE), so the
/// rewrite and interning run once per set instead of once per prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Shape {
    attrs: AttrId,
    next_hop: NextHopId,
    peer: PeerId,
    llgr_stale: bool,
    v6: bool,
}

/// Routes to announce and withdraw for one group, in encounter order, keyed by interned ids
/// so that grouping prefixes into UPDATEs never hashes or clones attributes.
#[derive(Debug, Default)]
struct Pending {
    /// Export results per path shape; only used when `memoize` is set.
    memo: FastMap<Shape, Option<Exported>, DefaultHashBuilder>,
    memoize: bool,
    /// References this batch took on what it interned, given back by [`Pending::finish`].
    held: Vec<Exported>,
    index: FastMap<Exported, usize, DefaultHashBuilder>,
    announce: Vec<(Exported, Vec<Nlri>)>,
    withdraw: Vec<Nlri>,
    /// Scratch space of `export_prefix`, kept to avoid an allocation per prefix.
    wanted: Vec<(u32, Exported)>,
    sent: Vec<u32>,
    /// Scratch space of `reflect_path`.
    wire: BytesMut,
}

impl Pending {
    fn announce(&mut self, route: Exported, nlri: Nlri) {
        match self.index.get(&route) {
            Some(&i) => self.announce[i].1.push(nlri),
            None => {
                self.index.insert(route, self.announce.len());
                // A reflector sees three to four prefixes per set.
                let mut list = Vec::with_capacity(4);
                list.push(nlri);
                self.announce.push((route, list));
            }
        }
    }

    /// The group's view of `path` to `prefix`, interned; `None` when the group does not
    /// get it.
    fn export_path(
        &mut self,
        rib: &mut Rib,
        ctx: &ExportCtx<'_>,
        rules: &ExportRules,
        prefix: IpNet,
        path: &rib::Path,
    ) -> Option<Exported> {
        let shape = Shape {
            attrs: path.attrs(),
            next_hop: path.next_hop(),
            peer: path.peer(),
            llgr_stale: path.is_llgr_stale(),
            v6: matches!(prefix, IpNet::V6(_)),
        };
        if self.memoize {
            if let Some(done) = self.memo.get(&shape) {
                return *done;
            }
        }
        let out = match reflect_path(rib, ctx, rules, prefix, path, &mut self.wire) {
            Some(reflected) => reflected,
            None => {
                prepare_path(rib, ctx, rules, prefix, path).and_then(|(attrs, next_hop)| match rib
                    .intern_export(&attrs, next_hop)
                {
                    Ok(e) => Some(e),
                    Err(e) => {
                        warn!(%prefix, error = %e, "cannot record advertisement");
                        None
                    }
                })
            }
        };
        if let Some(e) = out {
            self.held.push(e);
        }
        if self.memoize {
            self.memo.insert(shape, out);
        }
        out
    }

    /// Encodes the batch into `out`. Routes whose ORIGINATOR_ID is one of `members`
    /// (sorted) are also encoded as withdrawals into `withdrawals`; returns where both went.
    fn encode(
        &self,
        rib: &Rib,
        packer: &UpdatePacker,
        members: &[Ipv4Addr],
        out: &mut BytesMut,
        withdrawals: &mut BytesMut,
    ) -> Vec<OwnRoutes> {
        let mut own: Vec<OwnRoutes> = Vec::new();
        for family in [Family::Ipv4Unicast, Family::Ipv6Unicast] {
            let w = of_family(&self.withdraw, family);
            if !w.is_empty() {
                if let Err(e) = packer.withdraw(family, &w, out) {
                    warn!(error = %e, "cannot encode withdrawals");
                }
            }
        }
        for ((attrs, next_hop), nlri) in &self.announce {
            let start = out.len();
            let next_hop = *rib.next_hops().get(*next_hop);
            // To a 4-octet AS session the stored encoding goes out as it is; else the set is
            // decoded once per distinct set of the batch, not per prefix.
            let decoded = if packer.context().four_octet_as {
                None
            } else {
                match rib.attrs().attributes(*attrs) {
                    Ok(a) => Some(a),
                    Err(e) => {
                        warn!(error = %e, "cannot decode an interned attribute set");
                        continue;
                    }
                }
            };
            for family in [Family::Ipv4Unicast, Family::Ipv6Unicast] {
                let n = of_family(nlri, family);
                if n.is_empty() {
                    continue;
                }
                let written = match &decoded {
                    None => packer.announce_encoded(rib.attrs().wire(*attrs), next_hop, &n, out),
                    Some(a) => packer.announce(a, next_hop, &n, out),
                };
                if let Err(e) = written {
                    warn!(error = %e, "cannot encode routes: attributes too large");
                }
            }
            if members.is_empty() {
                continue;
            }
            let Some(originator) =
                originator(rib, *attrs).filter(|o| members.binary_search(o).is_ok())
            else {
                continue;
            };
            let withdrawn_at = withdrawals.len();
            for family in [Family::Ipv4Unicast, Family::Ipv6Unicast] {
                let n = of_family(nlri, family);
                if !n.is_empty() {
                    if let Err(e) = packer.withdraw(family, &n, withdrawals) {
                        warn!(error = %e, "cannot encode withdrawals");
                    }
                }
            }
            match own.last_mut() {
                Some(o) if o.originator == originator && o.announced.end == start => {
                    o.announced.end = out.len();
                    o.withdrawn.end = withdrawals.len();
                }
                _ => own.push(OwnRoutes {
                    announced: start..out.len(),
                    originator,
                    withdrawn: withdrawn_at..withdrawals.len(),
                }),
            }
        }
        own
    }

    /// Encodes the batch for a group with these members' BGP identifiers (sorted).
    fn encoded(&self, rib: &Rib, packer: &UpdatePacker, members: &[Ipv4Addr]) -> Encoded {
        let mut out = BytesMut::new();
        let mut withdrawals = BytesMut::new();
        let own = self.encode(rib, packer, members, &mut out, &mut withdrawals);
        Encoded::new(out, own, withdrawals)
    }

    /// Readies the (reused) batch for a group with these rules.
    fn start(&mut self, rules: &ExportRules) {
        self.memoize = !rules.per_prefix();
    }

    /// Gives back the references taken while exporting and empties the batch, keeping
    /// its tables' capacity for the next one (regrowing them cost 4 % of a full-table load).
    fn finish(&mut self, rib: &mut Rib) {
        for (attrs, next_hop) in self.held.drain(..) {
            rib.release_export(attrs, next_hop);
        }
        self.memo.clear();
        self.index.clear();
        self.announce.clear();
        self.withdraw.clear();
    }
}

impl Group {
    /// The members' BGP identifiers, sorted; none for eBGP, where routes carry no
    /// ORIGINATOR_ID (RFC 4456 section 8: it is not sent outside the AS).
    fn member_ids(&self) -> Vec<Ipv4Addr> {
        if let PeerKind::Ebgp(_) = self.rules.key.kind {
            return Vec::new();
        }
        let mut ids: Vec<Ipv4Addr> = self.members.iter().map(|m| m.bgp_id).collect();
        ids.sort_unstable();
        ids
    }
}

impl Groups {
    /// Adds a peer to the group for its settings, creating it when needed.
    pub fn join(&mut self, rib: &mut Rib, up: &PeerUp, kind: PeerKind) -> usize {
        let key = GroupKey {
            kind,
            policy_name: up.export.export_policy.as_ref().map(|p| p.name.clone()),
            encode: up.negotiated.encode,
            families: up.negotiated.families.clone(),
            local_address: up.local_address,
            next_hop_self: up.export.next_hop_self,
            limit: up
                .export
                .max_prefixes_out
                .map(|l| (l.limit, l.warning_percent)),
            llgr: !up.negotiated.peer_llgr.is_empty(),
        };
        let member = Member {
            key: up.key,
            bgp_id: up.negotiated.peer_id,
            tx: up.updates.clone(),
            enhanced_refresh: up.negotiated.enhanced_route_refresh,
            lagging: false,
        };
        if let Some(&i) = self.by_key.get(&key) {
            if let Some(Some(g)) = self.groups.get_mut(i) {
                g.members.retain(|m| m.key != up.key);
                g.members.push(member);
                // A reload may have changed the policy behind the same name: the group
                // takes the new one (the caller re-exports).
                if g.rules.policy != up.export.export_policy {
                    g.rules.policy = up.export.export_policy.clone();
                    g.rules.limit = up.export.max_prefixes_out;
                    g.policy_changed = true;
                }
                return i;
            }
        }
        let group = Group {
            rules: ExportRules {
                key: key.clone(),
                policy: up.export.export_policy.clone(),
                limit: up.export.max_prefixes_out,
            },
            gid: rib.add_group(),
            members: vec![member],
            packer: UpdatePacker::new(key.encode),
            primed: false,
            suppressed: BTreeSet::new(),
            warned_limit: false,
            policy_changed: false,
            scratch: Pending::default(),
        };
        let i = match self.groups.iter().position(Option::is_none) {
            Some(i) => {
                self.groups[i] = Some(group);
                i
            }
            None => {
                self.groups.push(Some(group));
                self.groups.len() - 1
            }
        };
        self.by_key.insert(key, i);
        i
    }

    /// Removes a peer from its group, dropping the group when it was the last member.
    pub fn leave(&mut self, rib: &mut Rib, index: usize, key: PeerKey) {
        let Some(slot) = self.groups.get_mut(index) else {
            return;
        };
        let Some(g) = slot.as_mut() else { return };
        g.members.retain(|m| m.key != key);
        if g.members.is_empty() {
            rib.remove_group(g.gid);
            self.by_key.remove(&g.rules.key);
            *slot = None;
        }
    }

    /// Members of each group.
    pub fn member_counts(&self) -> Vec<u64> {
        self.groups
            .iter()
            .flatten()
            .map(|g| g.members.len() as u64)
            .collect()
    }

    /// Whether some group sends every path (ADD-PATH): then a change to any path matters,
    /// not only a change of the best one.
    pub fn any_add_path(&self) -> bool {
        self.groups
            .iter()
            .flatten()
            .any(|g| g.rules.key.encode.add_path != bgp_wire::FamilySet::EMPTY)
    }

    /// Advertised paths of the group a peer is in, and the prefixes held back.
    pub fn advertised(&self, rib: &Rib, index: usize) -> (u64, usize) {
        match self.groups.get(index) {
            Some(Some(g)) => (rib.advertised_count(g.gid), g.suppressed.len()),
            _ => (0, 0),
        }
    }

    /// What a group advertised for `prefix`.
    pub fn sent<'r>(&self, rib: &'r Rib, index: usize, prefix: IpNet) -> &'r [rib::Sent] {
        match self.groups.get(index) {
            Some(Some(g)) => rib.advertised(g.gid, prefix),
            _ => &[],
        }
    }

    /// Exports `prefixes` to every primed group; returns the members to resync.
    pub fn export(
        &mut self,
        rib: &mut Rib,
        ctx: &ExportCtx<'_>,
        prefixes: impl Iterator<Item = (IpNet, Option<DestId>)> + Clone,
    ) -> Vec<PeerKey> {
        let mut resync = Vec::new();
        let mut all: Option<Vec<IpNet>> = None;
        for g in self.groups.iter_mut().flatten() {
            if !g.primed {
                continue;
            }
            let mut pending = std::mem::take(&mut g.scratch);
            pending.start(&g.rules);
            if std::mem::take(&mut g.policy_changed) {
                let all = all.get_or_insert_with(|| loc_rib_prefixes(rib, None));
                let all = all.iter().map(|p| (*p, None));
                export_chunked(rib, ctx, g, all, None, &mut pending, &mut resync);
            }
            // The changed prefixes (after a policy change too: those that just lost their
            // last path are not in the Loc-RIB but may still need a withdraw; a repeat is a
            // no-op).
            let changed = prefixes.clone();
            export_chunked(rib, ctx, g, changed, None, &mut pending, &mut resync);
            release_suppressed(rib, ctx, g, &mut pending);
            flush(g, rib, &mut pending, None, &mut resync);
            g.scratch = pending;
        }
        resync
    }

    /// Answers a member's ROUTE-REFRESH request for `family`: with enhanced route refresh,
    /// the table between BoRR and EoRR (RFC 7313 section 4), else the table and End-of-RIB.
    pub fn refresh_member(
        &mut self,
        rib: &mut Rib,
        ctx: &ExportCtx<'_>,
        index: usize,
        member: PeerKey,
        family: Family,
    ) -> Vec<PeerKey> {
        let mut resync = Vec::new();
        let Some(Some(g)) = self.groups.get_mut(index) else {
            return resync;
        };
        let enhanced = g
            .members
            .iter()
            .any(|m| m.key == member && m.enhanced_refresh);
        if !enhanced || !g.primed || !g.rules.key.families.contains(&family) {
            return self.send_table(rib, ctx, index, member, Some(family));
        }
        let table = refresh_table(rib, g, &[family]);
        send(g, &table, Some(member), &mut resync);
        resync
    }

    /// Whether a group's export policy was replaced and its table awaits re-export.
    pub fn any_policy_changed(&self) -> bool {
        self.groups
            .iter()
            .flatten()
            .any(|g| g.primed && g.policy_changed)
    }

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

/// Prefixes exported into one batch before it is encoded and queued: bounds what a large
/// change (a full-table peer going down, a new member's table) holds in memory at once.
const EXPORT_CHUNK: usize = 16_384;

/// Exports `prefixes` to the group (or one member), queueing every [`EXPORT_CHUNK`] of
/// them.
fn export_chunked(
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
fn flush(
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
fn of_family(list: &[Nlri], family: Family) -> std::borrow::Cow<'_, [Nlri]> {
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
fn loc_rib_prefixes(rib: &Rib, family: Option<Family>) -> Vec<IpNet> {
    [Family::Ipv4Unicast, Family::Ipv6Unicast]
        .into_iter()
        .filter(|f| family.is_none_or(|x| x == *f))
        .flat_map(|f| rib.iter(f).map(|d| d.prefix).collect::<Vec<_>>())
        .collect()
}

/// Decides what the group should hold for `prefix` and records it: the best path, or with
/// ADD-PATH (RFC 7911) every path the group may have, numbered 1, 2, ... in (peer, path id)
/// order; the Adj-RIB-Out says what changed.
fn export_prefix(
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
fn collect_wanted(
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

/// The advertised-route limit: whether a prefix that would be `new` to the group may go
/// out. One held back is remembered and released when withdrawals make room.
fn within_limit(rib: &Rib, g: &mut Group, prefix: IpNet, new: bool) -> bool {
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
fn originated(rib: &Rib, ctx: &ExportCtx<'_>, prefix: IpNet) -> bool {
    rib.get(prefix)
        .and_then(|d| d.best().map(|b| b.peer()))
        .is_some_and(|peer| ctx.peers.get(&peer).is_some_and(|v| v.kind.is_none()))
}

/// Under the advertised-route limit our own routes come first (the cloud gateway must get
/// the pod aggregate, whenever it exists): at the limit, an originated prefix takes the
/// place of a learned one, which is withdrawn and held back until there is room again.
fn make_room(rib: &mut Rib, ctx: &ExportCtx<'_>, g: &mut Group, pending: &mut Pending) {
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
fn release_suppressed(rib: &mut Rib, ctx: &ExportCtx<'_>, g: &mut Group, pending: &mut Pending) {
    let Some(limit) = g.rules.limit else { return };
    while rib.advertised_count(g.gid) < u64::from(limit.limit) {
        let Some(prefix) = g.suppressed.pop_first() else {
            return;
        };
        export_prefix(rib, ctx, g, prefix, None, pending);
    }
}

/// Plain reflection of a path, rewritten on its stored encoding and interned (see
/// [`reflect_encoded`]): `Some(None)` when the group does not get it, `None` when the
/// general [`prepare_path`] must decide.
fn reflect_path(
    rib: &mut Rib,
    ctx: &ExportCtx<'_>,
    rules: &ExportRules,
    prefix: IpNet,
    path: &rib::Path,
    buf: &mut BytesMut,
) -> Option<Option<Exported>> {
    if path.is_llgr_stale() {
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
fn prepare_path(
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

/// Queues `bytes` to every member (or one). A member whose queue is full falls behind: with
/// enhanced route refresh it catches up later ([`Groups::catch_up`]); without, it is handed
/// back for a reset.
fn send(g: &mut Group, batch: &Encoded, only: Option<PeerKey>, resync: &mut Vec<PeerKey>) {
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
fn deliver(m: &Member, batch: &Encoded) -> Result<(), mpsc::error::TrySendError<()>> {
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
fn refresh_table(rib: &Rib, g: &Group, families: &[Family]) -> Encoded {
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

#[cfg(test)]
mod tests {
    use bgp_wire::attr::{AsPath, AttrValue, Origin};
    use bgp_wire::{decode, Context, Framer, RefreshSubtype};
    use rib::PeerInfo;

    use super::*;
    use crate::exchange::ExportSettings;
    use crate::session::{negotiate, PeerAs, SessionConfig};

    fn up(key: PeerKey, tx: UpdateSender) -> PeerUp {
        let mine = SessionConfig::new(64512, "192.0.2.1".parse().unwrap(), PeerAs::Fixed(64512));
        let theirs = SessionConfig::new(64512, "192.0.2.2".parse().unwrap(), PeerAs::Fixed(64512));
        let negotiated = negotiate(&mine, &mine.build_open(), &theirs.build_open()).unwrap();
        assert!(negotiated.enhanced_route_refresh);
        let (commands, _) = crate::exchange::commands::channel();
        PeerUp {
            key,
            name: "n".into(),
            address: "192.0.2.2".parse().unwrap(),
            local_address: Some("192.0.2.1".parse().unwrap()),
            negotiated,
            export: ExportSettings {
                export_policy: None,
                rr_client: true,
                next_hop_self: false,
                max_prefixes: None,
                max_prefixes_out: None,
            },
            updates: tx,
            commands,
        }
    }

    fn announce(rib: &mut Rib, peer: PeerId, prefixes: &[&str]) {
        let attrs = PathAttributes::from_values([
            AttrValue::Origin(Origin::Igp),
            AttrValue::AsPath(AsPath::default()),
        ]);
        let nlri: Vec<Nlri> = prefixes
            .iter()
            .map(|p| Nlri::new(p.parse().unwrap()))
            .collect();
        let mut b = rib.batch(peer);
        b.announce(&attrs, NextHop::V4("192.0.2.9".parse().unwrap()), &nlri)
            .unwrap();
        b.commit(&rib::AllReachable);
    }

    /// A RIB with one iBGP client (`src`) routes come from, as the reflector sees it.
    fn reflector() -> (Rib, PeerId, HashMap<PeerId, PeerView>, Local) {
        let mut rib = Rib::new(rib::Options::default());
        let src = rib
            .add_peer(PeerInfo::ibgp(
                "192.0.2.9".parse().unwrap(),
                "192.0.2.9".parse().unwrap(),
                64512,
            ))
            .unwrap();
        let mut peers = HashMap::new();
        peers.insert(
            src,
            PeerView {
                kind: Some(PeerKind::IbgpClient),
                name: "src".into(),
                bgp_id: "192.0.2.9".parse().unwrap(),
            },
        );
        let local = Local {
            asn: 64512,
            cluster_id: "192.0.2.1".parse().unwrap(),
        };
        (rib, src, peers, local)
    }

    /// Member 7 of a group with `max_prefixes_out = limit`, and its queue.
    fn limited_member(limit: u32) -> (PeerUp, UpdateSender) {
        let tx = UpdateSender::unattached(16);
        let rx = tx.clone();
        let mut member = up(7, tx);
        member.export.max_prefixes_out = Some(config::PrefixLimit {
            limit,
            warning_percent: 90,
        });
        (member, rx)
    }

    /// Adds the RIB peer our own (originated) routes come from.
    fn originator_peer(rib: &mut Rib, peers: &mut HashMap<PeerId, PeerView>) -> PeerId {
        let own = rib
            .add_peer(PeerInfo::ibgp(
                "192.0.2.1".parse().unwrap(),
                "192.0.2.1".parse().unwrap(),
                64512,
            ))
            .unwrap();
        peers.insert(
            own,
            PeerView {
                kind: None,
                name: String::new(),
                bgp_id: "192.0.2.1".parse().unwrap(),
            },
        );
        own
    }

    /// Message types and refresh subtypes in a buffer, with the routes announced.
    fn read(bytes: &Bytes) -> (Vec<String>, usize) {
        let mut buf = BytesMut::from(&bytes[..]);
        let (mut kinds, mut routes) = (Vec::new(), 0);
        while let Some(m) = Framer::new().next_message(&mut buf).unwrap() {
            match decode(&m, &Context::four_octet()).unwrap() {
                Message::RouteRefresh(r) => kinds.push(format!("{:?}", r.subtype)),
                Message::Update(u) => {
                    routes += u.announced().count();
                    kinds.push("update".into());
                }
                other => kinds.push(other.kind_name().into()),
            }
        }
        (kinds, routes)
    }

    #[test]
    fn a_member_that_overflows_catches_up_with_an_enhanced_route_refresh() {
        let (mut rib, src, peers, local) = reflector();
        let ctx = ExportCtx {
            local: &local,
            peers: &peers,
        };
        announce(&mut rib, src, &["198.18.0.0/26", "198.18.0.64/26"]);
        let tx = UpdateSender::unattached(1);
        let rx = tx.clone();
        let mut groups = Groups::default();
        let g = groups.join(&mut rib, &up(7, tx), PeerKind::IbgpClient);
        assert!(groups.send_table(&mut rib, &ctx, g, 7, None).is_empty());
        // The queue (one slot) is full: the next change does not fit.
        announce(&mut rib, src, &["198.18.0.128/26"]);
        let changed: IpNet = "198.18.0.128/26".parse().unwrap();
        assert!(
            groups
                .export(&mut rib, &ctx, [(changed, None)].into_iter())
                .is_empty(),
            "no reset"
        );
        assert!(groups.any_lagging());
        assert!(groups.catch_up(&rib).is_empty());
        assert!(groups.any_lagging(), "still full");
        let (first, routes) = read(&rx.try_recv().unwrap());
        assert_eq!(
            (first.first().map(String::as_str), routes),
            (Some("update"), 2)
        );
        // Drained: the whole table comes again, between BoRR and EoRR.
        assert!(groups.catch_up(&rib).is_empty());
        assert!(!groups.any_lagging());
        let (kinds, routes) = read(&rx.try_recv().unwrap());
        assert_eq!(
            kinds.first().map(String::as_str),
            Some(&*format!("{:?}", RefreshSubtype::Begin))
        );
        assert_eq!(
            kinds.last().map(String::as_str),
            Some(&*format!("{:?}", RefreshSubtype::End))
        );
        assert_eq!(routes, 3);
    }

    /// Announced and withdrawn prefixes in a buffer.
    fn routes_in(parts: &[Bytes]) -> (Vec<String>, Vec<String>) {
        let (mut announced, mut withdrawn) = (Vec::new(), Vec::new());
        for bytes in parts {
            let mut buf = BytesMut::from(&bytes[..]);
            while let Some(m) = Framer::new().next_message(&mut buf).unwrap() {
                if let Message::Update(u) = decode(&m, &Context::four_octet()).unwrap() {
                    announced.extend(u.announced().map(|a| a.nlri.prefix.to_string()));
                    withdrawn.extend(u.withdrawn_routes().map(|n| n.prefix.to_string()));
                }
            }
        }
        (announced, withdrawn)
    }

    fn drain(rx: &UpdateSender) -> Vec<Bytes> {
        std::iter::from_fn(|| rx.try_recv()).collect()
    }

    #[test]
    fn a_client_is_not_sent_its_own_routes_but_loses_what_they_replace() {
        let (mut rib, src, mut peers, local) = reflector();
        let other = rib
            .add_peer(PeerInfo::ibgp(
                "192.0.2.10".parse().unwrap(),
                "192.0.2.10".parse().unwrap(),
                64512,
            ))
            .unwrap();
        peers.insert(
            other,
            PeerView {
                kind: Some(PeerKind::IbgpClient),
                name: "other".into(),
                bgp_id: "192.0.2.10".parse().unwrap(),
            },
        );
        let ctx = ExportCtx {
            local: &local,
            peers: &peers,
        };
        announce(&mut rib, src, &["198.18.1.0/26"]);
        announce(&mut rib, other, &["198.18.2.0/26", "198.18.3.0/26"]);
        let (tx7, tx9) = (UpdateSender::unattached(16), UpdateSender::unattached(16));
        let (rx7, rx9) = (tx7.clone(), tx9.clone());
        let mut groups = Groups::default();
        let mut member9 = up(9, tx9);
        // The session of `src` itself: its BGP identifier is its routes' ORIGINATOR_ID.
        member9.negotiated.peer_id = "192.0.2.9".parse().unwrap();
        let g = groups.join(&mut rib, &up(7, tx7), PeerKind::IbgpClient);
        assert_eq!(groups.join(&mut rib, &member9, PeerKind::IbgpClient), g);
        assert!(groups.send_table(&mut rib, &ctx, g, 7, None).is_empty());
        assert!(groups.send_table(&mut rib, &ctx, g, 9, None).is_empty());
        let (a7, _) = routes_in(&drain(&rx7));
        assert_eq!(a7, ["198.18.1.0/26", "198.18.2.0/26", "198.18.3.0/26"]);
        let (a9, w9) = routes_in(&drain(&rx9));
        assert_eq!(a9, ["198.18.2.0/26", "198.18.3.0/26"], "not its own route");
        assert_eq!(w9, ["198.18.1.0/26"], "in its place: a no-op withdrawal");

        // `src` announces 198.18.3.0/26 too and wins (lower router ID): the group now
        // advertises src's path, which src must not get, and it must drop other's path.
        announce(&mut rib, src, &["198.18.3.0/26"]);
        let p: IpNet = "198.18.3.0/26".parse().unwrap();
        assert!(groups
            .export(&mut rib, &ctx, [(p, None)].into_iter())
            .is_empty());
        assert_eq!(routes_in(&drain(&rx7)).0, ["198.18.3.0/26"]);
        let (a9, w9) = routes_in(&drain(&rx9));
        assert!(a9.is_empty(), "{a9:?}");
        assert_eq!(w9, ["198.18.3.0/26"]);
    }

    #[test]
    fn at_the_limit_an_originated_route_takes_a_learned_ones_place() {
        let (mut rib, src, mut peers, local) = reflector();
        let own = originator_peer(&mut rib, &mut peers);
        let ctx = ExportCtx {
            local: &local,
            peers: &peers,
        };
        announce(&mut rib, src, &["198.18.1.0/26", "198.18.2.0/26"]);
        let (limited, rx) = limited_member(2);
        let mut groups = Groups::default();
        let g = groups.join(&mut rib, &limited, PeerKind::IbgpClient);
        assert!(groups.send_table(&mut rib, &ctx, g, 7, None).is_empty());
        assert_eq!(groups.advertised(&rib, g), (2, 0));
        drain(&rx);
        // The aggregate appears (a block came back after the limit was reached).
        announce(&mut rib, own, &["198.18.0.0/16"]);
        let agg: IpNet = "198.18.0.0/16".parse().unwrap();
        assert!(groups
            .export(&mut rib, &ctx, [(agg, None)].into_iter())
            .is_empty());
        let (announced, withdrawn) = routes_in(&drain(&rx));
        assert_eq!(announced, ["198.18.0.0/16"]);
        assert_eq!(withdrawn.len(), 1, "{withdrawn:?}");
        assert_eq!(
            groups.advertised(&rib, g),
            (2, 1),
            "the learned one held back"
        );
        // The aggregate goes: the learned route comes back.
        let mut b = rib.batch(own);
        b.withdraw(&[Nlri::new(agg)]);
        b.commit(&rib::AllReachable);
        assert!(groups
            .export(&mut rib, &ctx, [(agg, None)].into_iter())
            .is_empty());
        let (announced, withdrawn) = routes_in(&drain(&rx));
        assert_eq!(withdrawn, ["198.18.0.0/16"]);
        assert_eq!(announced.len(), 1);
        assert_eq!(groups.advertised(&rib, g), (2, 0));
    }

    /// Withdrawn NLRI in a buffer of messages.
    fn withdrawn_nlri(bytes: &Bytes) -> Vec<IpNet> {
        let mut buf = BytesMut::from(&bytes[..]);
        let mut out = Vec::new();
        while let Some(m) = Framer::new().next_message(&mut buf).unwrap() {
            if let Message::Update(u) = decode(&m, &Context::four_octet()).unwrap() {
                out.extend(u.withdrawn_routes().map(|n| n.prefix));
            }
        }
        out
    }

    #[test]
    fn a_member_moved_to_another_group_hears_the_withdraw_of_a_route_not_exported_yet() {
        let (mut rib, src, peers, local) = reflector();
        let ctx = ExportCtx {
            local: &local,
            peers: &peers,
        };
        announce(&mut rib, src, &["198.18.1.0/26", "198.18.1.1/32"]);
        let tx = UpdateSender::unattached(16);
        let rx = tx.clone();
        let member = up(7, tx);
        let mut groups = Groups::default();
        let old = groups.join(&mut rib, &member, PeerKind::IbgpClient);
        assert!(groups.send_table(&mut rib, &ctx, old, 7, None).is_empty());
        while rx.try_recv().is_some() {}
        // The /32 loses its last path; the export that would withdraw it has not run when
        // a reload moves the member (the export interval, or the same batch of inputs).
        let gone: IpNet = "198.18.1.1/32".parse().unwrap();
        let mut b = rib.batch(src);
        b.withdraw(&[Nlri::new(gone)]);
        b.commit(&rib::AllReachable);
        let told = groups.advertised_prefixes(&rib, old);
        assert!(told.iter().any(|n| n.prefix == gone), "{told:?}");
        groups.leave(&mut rib, old, 7);
        let mut moved = member.clone();
        moved.export.next_hop_self = true;
        let new = groups.join(&mut rib, &moved, PeerKind::IbgpClient);
        assert!(groups.send_table(&mut rib, &ctx, new, 7, None).is_empty());
        assert!(groups.withdraw_leftovers(&rib, new, 7, &told).is_empty());
        let mut withdrawn = Vec::new();
        while let Some(b) = rx.try_recv() {
            withdrawn.extend(withdrawn_nlri(&b));
        }
        assert_eq!(withdrawn, [gone]);
    }

    #[test]
    fn the_route_giving_way_to_an_originated_one_is_not_one_announced_in_the_same_batch() {
        let (mut rib, src, mut peers, local) = reflector();
        let own = originator_peer(&mut rib, &mut peers);
        let ctx = ExportCtx {
            local: &local,
            peers: &peers,
        };
        announce(&mut rib, src, &["10.0.0.0/24"]);
        let (limited, rx) = limited_member(2);
        let mut groups = Groups::default();
        let g = groups.join(&mut rib, &limited, PeerKind::IbgpClient);
        assert!(groups.send_table(&mut rib, &ctx, g, 7, None).is_empty());
        drain(&rx);
        // One export: a learned prefix that sorts last, then the aggregate, at the limit.
        announce(&mut rib, src, &["203.0.113.0/24"]);
        announce(&mut rib, own, &["198.18.0.0/16"]);
        let changed: Vec<(IpNet, Option<DestId>)> = ["203.0.113.0/24", "198.18.0.0/16"]
            .iter()
            .map(|p| (p.parse().unwrap(), None))
            .collect();
        assert!(groups
            .export(&mut rib, &ctx, changed.into_iter())
            .is_empty());
        let (announced, withdrawn) = routes_in(&drain(&rx));
        assert_eq!(withdrawn, ["10.0.0.0/24"], "announced: {announced:?}");
        assert_eq!(announced, ["203.0.113.0/24", "198.18.0.0/16"]);
    }

    #[test]
    fn a_held_back_prefix_that_is_withdrawn_is_no_longer_held_back() {
        let (mut rib, src, peers, local) = reflector();
        let ctx = ExportCtx {
            local: &local,
            peers: &peers,
        };
        announce(&mut rib, src, &["198.18.0.0/26", "198.18.0.64/26"]);
        let (limited, _rx) = limited_member(1);
        let mut groups = Groups::default();
        let g = groups.join(&mut rib, &limited, PeerKind::IbgpClient);
        assert!(groups.send_table(&mut rib, &ctx, g, 7, None).is_empty());
        assert_eq!(
            groups.advertised(&rib, g),
            (1, 1),
            "one sent, one held back"
        );
        // The held-back prefix loses its only path: it leaves the table and the list.
        let gone: IpNet = "198.18.0.64/26".parse().unwrap();
        let mut b = rib.batch(src);
        b.withdraw(&[Nlri::new(gone)]);
        b.commit(&rib::AllReachable);
        assert!(rib.locate(gone).is_none());
        assert!(groups
            .export(&mut rib, &ctx, [(gone, None)].into_iter())
            .is_empty());
        assert_eq!(groups.advertised(&rib, g), (1, 0));
    }
}
