//! Locally originated routes (`[[originate]]`): the pod CIDR aggregate towards the cloud,
//! advertised only while a more specific route exists when `require_more_specific` says so.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use bgp_wire::attr::{AsPath, AttrValue, NextHop, Origin, PathAttributes};
use bgp_wire::Nlri;
use ipnet::IpNet;
use rib::{PeerId, Resolver, Rib};

use super::dirty::Dirty;
use tracing::{info, warn};

/// The configured aggregates and whether each is in the table.
#[derive(Debug)]
pub struct Originator {
    entries: Vec<(config::Originate, bool)>,
    peer: PeerId,
    warned_cover: BTreeSet<IpNet>,
}

impl Originator {
    /// Originates `entries` as routes of the RIB peer `peer` (our own).
    pub fn new(entries: Vec<config::Originate>, peer: PeerId) -> Self {
        Self {
            entries: entries.into_iter().map(|e| (e, false)).collect(),
            peer,
            warned_cover: BTreeSet::new(),
        }
    }

    /// The RIB peer that holds our own routes.
    pub fn peer(&self) -> PeerId {
        self.peer
    }

    /// Replaces the configured entries (reload): entries no longer configured are
    /// withdrawn, new ones are originated on the next [`Originator::run`].
    pub fn reconfigure(
        &mut self,
        rib: &mut Rib,
        entries: Vec<config::Originate>,
        resolver: &dyn Resolver,
    ) -> Vec<IpNet> {
        let mut changed = Vec::new();
        let gone: Vec<Nlri> = self
            .entries
            .iter()
            .filter(|(e, active)| *active && !entries.iter().any(|n| n.prefix == e.prefix))
            .map(|(e, _)| Nlri::new(e.prefix))
            .collect();
        if !gone.is_empty() {
            let mut batch = rib.batch(self.peer);
            batch.withdraw(&gone);
            changed.extend(batch.commit(resolver).into_iter().map(|c| c.prefix));
        }
        let old = std::mem::take(&mut self.entries);
        self.entries = entries
            .into_iter()
            .map(|e| {
                // Still originated only if its condition allows; `run` re-checks.
                let active = old.iter().any(|(o, a)| *a && o.prefix == e.prefix);
                (e, active)
            })
            .collect();
        changed
    }

    /// Brings the aggregates in line with the table; returns the prefixes whose
    /// selection changed. `dirty` are the prefixes changed since the last run, checked for
    /// imported routes that cover an aggregate.
    pub fn run(&mut self, rib: &mut Rib, dirty: &Dirty, resolver: &dyn Resolver) -> Vec<IpNet> {
        let mut changed = Vec::new();
        for (entry, active) in &mut self.entries {
            let want = !entry.require_more_specific || rib.has_more_specific(entry.prefix);
            if want == *active {
                continue;
            }
            *active = want;
            let nlri = [Nlri::new(entry.prefix)];
            let mut batch = rib.batch(self.peer);
            if want {
                info!(prefix = %entry.prefix, "originating");
                if let Err(e) = batch.announce(&local_attrs(), unspecified(&entry.prefix), &nlri) {
                    warn!(prefix = %entry.prefix, error = %e, "cannot originate");
                }
            } else {
                info!(prefix = %entry.prefix, "no more specific route left: withdrawing");
                batch.withdraw(&nlri);
            }
            changed.extend(batch.commit(resolver).into_iter().map(|c| c.prefix));
        }
        for (entry, _) in &self.entries {
            for p in dirty.iter() {
                let covers = p.contains(&entry.prefix) && p != entry.prefix;
                if covers && rib.get(p).is_some() && self.warned_cover.insert(p) {
                    warn!(route = %p, aggregate = %entry.prefix, "an imported route covers an originated aggregate: traffic for unused parts of the aggregate follows it");
                }
            }
        }
        changed
    }
}

fn local_attrs() -> PathAttributes {
    PathAttributes::from_values([
        AttrValue::Origin(Origin::Igp),
        AttrValue::AsPath(AsPath::default()),
    ])
}

/// Locally originated routes have no next hop of their own: export puts ours.
fn unspecified(prefix: &IpNet) -> NextHop {
    match prefix {
        IpNet::V4(_) => NextHop::V4(Ipv4Addr::UNSPECIFIED),
        IpNet::V6(_) => NextHop::V6 {
            global: Ipv6Addr::UNSPECIFIED,
            link_local: None,
        },
    }
}
