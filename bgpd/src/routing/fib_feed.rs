//! The routing task's side of the kernel FIB: after each export pass the changed prefixes'
//! selections (best path and its ECMP set) go to the FIB task, filtered by the `[kernel]`
//! export policy; next-hop reachability from the kernel comes back as a resolver.

use std::sync::Arc;

use super::dirty::Dirty;

use bgp_wire::attr::NextHop;
use config::Policy;
use ipnet::IpNet;
use rib::{PeerId, Resolver, Rib};
use tracing::info;

use crate::fib::{Fib, FibRoute, NextHops};
use crate::policy::{evaluate, Outcome};

/// The kernel FIB as the routing task feeds it (`[kernel]`; the FIB task itself is `crate::fib`).
#[derive(Debug)]
pub struct FibFeed {
    fib: Fib,
    next_hops: NextHops,
    export: Option<Arc<Policy>>,
    local: PeerId,
    local_as: u32,
    synced: bool,
}

/// Resolves next hops through the kernel; our own routes (unspecified next hop) always
/// resolve.
#[derive(Debug)]
pub struct FibResolver<'a>(pub Option<&'a NextHops>);

impl<'a> FibResolver<'a> {
    /// Through the kernel's next hops when there is a kernel; without one every next hop
    /// resolves.
    pub fn of(fib: &'a Option<FibFeed>) -> Self {
        FibResolver(fib.as_ref().map(FibFeed::next_hops))
    }
}

impl Resolver for FibResolver<'_> {
    fn igp_cost(&self, next_hop: &NextHop) -> Option<u32> {
        match self.0 {
            Some(_) if next_hop.addr().is_unspecified() => Some(0),
            Some(n) => n.igp_cost(next_hop.addr()),
            None => Some(0),
        }
    }
}

impl FibFeed {
    /// The FIB task's counters.
    pub fn stats(&self) -> crate::fib::FibStats {
        self.fib.stats()
    }

    /// Drives `fib`; routes of `local` (our own aggregates) are not forwarding routes.
    pub fn new(fib: Fib, export: Option<Arc<Policy>>, local: PeerId, local_as: u32) -> Self {
        FibFeed {
            next_hops: fib.next_hops(),
            fib,
            export,
            local,
            local_as,
            synced: false,
        }
    }

    /// The resolver the decision process uses.
    pub fn next_hops(&self) -> &NextHops {
        &self.next_hops
    }

    /// Sends the selection of every prefix in `prefixes` to the kernel.
    pub fn sync(&self, rib: &Rib, prefixes: &Dirty, names: &dyn Fn(PeerId) -> Option<String>) {
        for (prefix, _) in prefixes.targets() {
            match self.route_for(rib, prefix, names) {
                Some(route) => self.fib.replace(route),
                None => self.fib.delete(prefix),
            }
        }
    }

    fn route_for(
        &self,
        rib: &Rib,
        prefix: IpNet,
        names: &dyn Fn(PeerId) -> Option<String>,
    ) -> Option<FibRoute> {
        let dest = rib.get(prefix)?;
        let selected = dest.selected();
        let best = selected.best?;
        if best.peer == self.local {
            return Some(FibRoute::Blackhole { prefix });
        }
        if let Some(policy) = &self.export {
            let mut attrs = rib.attrs().attributes(best.attrs).ok()?;
            let from = names(best.peer);
            if evaluate(policy, &prefix, from.as_deref(), &mut attrs, self.local_as)
                == Outcome::Reject
            {
                return None;
            }
        }
        let next_hops: Vec<NextHop> = selected
            .all()
            .map(|r| *rib.next_hops().get(r.next_hop))
            .filter(|nh| !nh.addr().is_unspecified())
            .collect();
        (!next_hops.is_empty()).then_some(FibRoute::Unicast { prefix, next_hops })
    }

    /// Once the restart's deferral is over and the kernel has every selection, routes a
    /// previous run left in the kernel and nobody re-learned are removed (RFC 4724 section
    /// 4.1). Only the first call does anything.
    pub fn finish_initial_sync(&mut self) {
        if self.synced {
            return;
        }
        self.synced = true;
        if self.fib.stats().adopted_at_start > 0 {
            info!("initial table complete: removing kernel routes nobody re-learned");
        }
        self.fib.initial_sync_done();
    }
}
