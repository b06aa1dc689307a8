//! What a group sends: routes collected per export pass, encoded once into UPDATEs, with
//! the places where a member's own routes are cut out.

use std::net::Ipv4Addr;

use bgp_wire::Family;
use bgp_wire::Nlri;
use bgp_wire::UpdatePacker;
use bytes::Bytes;
use bytes::BytesMut;
use hashbrown::DefaultHashBuilder;
use hashbrown::HashMap as FastMap;
use ipnet::IpNet;
use rib::AttrId;
use rib::NextHopId;
use rib::PeerId;
use rib::Rib;
use tracing::warn;

use super::prefix::of_family;
use super::prefix::prepare_path;
use super::prefix::reflect_path;
use super::ExportCtx;
use crate::routing::export::ExportRules;

/// An exported route: the rewritten attribute set and next hop, interned in the RIB.
pub(super) type Exported = (AttrId, NextHopId);

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
pub(super) struct Encoded {
    pub(super) bytes: Bytes,
    /// Whole messages of `bytes` (ascending), whose routes carry this ORIGINATOR_ID, and
    /// the range of `withdrawals` that withdraws the same routes.
    pub(super) own: Vec<OwnRoutes>,
    pub(super) withdrawals: Bytes,
}

/// See [`Encoded`].
#[derive(Debug, Clone)]
pub(super) struct OwnRoutes {
    pub(super) announced: std::ops::Range<usize>,
    pub(super) originator: Ipv4Addr,
    pub(super) withdrawn: std::ops::Range<usize>,
}

impl Encoded {
    pub(super) fn new(bytes: BytesMut, mut own: Vec<OwnRoutes>, withdrawals: BytesMut) -> Self {
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
    pub(super) fn parts_for(&self, member: Ipv4Addr) -> Option<Vec<Bytes>> {
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
pub(super) fn originator(rib: &Rib, attrs: AttrId) -> Option<Ipv4Addr> {
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
pub(super) struct Shape {
    pub(super) attrs: AttrId,
    pub(super) next_hop: NextHopId,
    pub(super) peer: PeerId,
    pub(super) llgr_stale: bool,
    v6: bool,
}

/// Routes to announce and withdraw for one group, in encounter order, keyed by interned ids
/// so that grouping prefixes into UPDATEs never hashes or clones attributes.
#[derive(Debug, Default)]
pub(super) struct Pending {
    /// Export results per path shape; only used when `memoize` is set.
    pub(super) memo: FastMap<Shape, Option<Exported>, DefaultHashBuilder>,
    pub(super) memoize: bool,
    /// References this batch took on what it interned, given back by [`Pending::finish`].
    pub(super) held: Vec<Exported>,
    pub(super) index: FastMap<Exported, usize, DefaultHashBuilder>,
    pub(super) announce: Vec<(Exported, Vec<Nlri>)>,
    pub(super) withdraw: Vec<Nlri>,
    /// Scratch space of `export_prefix`, kept to avoid an allocation per prefix.
    pub(super) wanted: Vec<(u32, Exported)>,
    pub(super) sent: Vec<u32>,
    /// Scratch space of `reflect_path`.
    pub(super) wire: BytesMut,
}

impl Pending {
    pub(super) fn announce(&mut self, route: Exported, nlri: Nlri) {
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
    pub(super) fn export_path(
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
    pub(super) fn encode(
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
    pub(super) fn encoded(
        &self,
        rib: &Rib,
        packer: &UpdatePacker,
        members: &[Ipv4Addr],
    ) -> Encoded {
        let mut out = BytesMut::new();
        let mut withdrawals = BytesMut::new();
        let own = self.encode(rib, packer, members, &mut out, &mut withdrawals);
        Encoded::new(out, own, withdrawals)
    }

    /// Readies the (reused) batch for a group with these rules.
    pub(super) fn start(&mut self, rules: &ExportRules) {
        self.memoize = !rules.per_prefix();
    }

    /// Gives back the references taken while exporting and empties the batch, keeping
    /// its tables' capacity for the next one (regrowing them cost 4 % of a full-table load).
    pub(super) fn finish(&mut self, rib: &mut Rib) {
        for (attrs, next_hop) in self.held.drain(..) {
            rib.release_export(attrs, next_hop);
        }
        self.memo.clear();
        self.index.clear();
        self.announce.clear();
        self.withdraw.clear();
    }
}
