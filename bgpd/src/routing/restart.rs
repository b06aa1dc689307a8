//! Graceful restart's lifecycle in the routing task, both roles (RFC 4724, RFC 9494).
//!
//! As the helper for a restarting peer: a session that ends without NOTIFICATION (or with
//! one under the N bit, RFC 8538) keeps its routes as stale for the peer's restart time
//! ([`Routing::peer_down`]), then with long-lived graceful restart as LLGR_STALE, least
//! preferred, for its stale time ([`Routing::sweep_expired`]); the peer's End-of-RIB sweeps
//! what it did not send again ([`Routing::end_of_rib`]). A peer that drops again before its
//! End-of-RIB keeps its first deadline.
//!
//! As the restarting speaker: whom we wait for, and until when.
//!
//! RFC 4724 section 4.1: after a restart that kept forwarding state, the restarting speaker
//! defers route selection, and so every UPDATE and End-of-RIB it sends, until it has the
//! End-of-RIB marker from every peer it expects, or until the Selection_Deferral_Timer runs
//! out. Sending earlier is what loses traffic: an End-of-RIB sent before the routes it should
//! carry (the pod aggregate exists only once a node's block is back) makes the peer flush the
//! stale route it still forwards on, and ending the kernel's initial sync early removes
//! routes a peer that is not back yet would have re-learned.
//!
//! Whom we expect: the peers that were Established with graceful restart when the previous
//! run stopped, as its state file recorded them (`restart_state.rs`). Dynamic
//! neighbors cannot be known otherwise; a node of a range that was never seen is not waited
//! for. Peers that come up during the deferral with graceful restart are waited for too
//! (their End-of-RIB is on its way); peers without it send no End-of-RIB and are not (RFC
//! 4724 section 4.1). The timer bounds the wait for a peer that does not come back (Calico
//! issue 7144: nodes held everything back for minutes waiting for a rebooting peer).
//!
//! This is a sans-IO machine: `now` is passed in, the deadline is read out.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use bgp_wire::Family;
use tracing::{info, warn};

use super::fib_feed::FibResolver;
use super::{touch_all_paths_of, Routing};
use crate::exchange::PeerKey;

/// What the restarting speaker knows at start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestartPlan {
    /// Peers (by address) whose End-of-RIB we wait for.
    pub expected: BTreeSet<IpAddr>,
    /// The Selection_Deferral_Timer.
    pub deferral: Duration,
    /// Only the timer ends the wait: the expected set is known to be incomplete (kept
    /// kernel routes but no usable record of the dynamic neighbors).
    pub until_timer: bool,
}

/// Why a deferral ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeferralEnd {
    /// Every expected peer sent End-of-RIB for each of its families.
    AllEndOfRib,
    /// The Selection_Deferral_Timer ran out first.
    TimerExpired,
}

/// A peer the deferral waits for.
#[derive(Debug, Clone, Default)]
struct Awaited {
    /// Families still owing an End-of-RIB; `None` until the session is up.
    owing: Option<BTreeSet<Family>>,
}

/// The restarting speaker's selection deferral.
#[derive(Debug)]
pub struct Deferral {
    started: Instant,
    deadline: Instant,
    until_timer: bool,
    awaited: BTreeMap<IpAddr, Awaited>,
}

impl Deferral {
    /// Starts deferring at `now`.
    pub fn new(plan: &RestartPlan, now: Instant) -> Self {
        Deferral {
            started: now,
            deadline: now + plan.deferral,
            until_timer: plan.until_timer,
            awaited: plan
                .expected
                .iter()
                .map(|a| (*a, Awaited::default()))
                .collect(),
        }
    }

    /// When the timer runs out.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// How long it has run at `now`.
    pub fn elapsed(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.started)
    }

    /// A session came up. With graceful restart negotiated its End-of-RIB is awaited for
    /// each of `families`; without, it sends none and is not waited for. (RFC 4724 4.1 also
    /// excludes peers with Restart State set; see `Routing::peer_up` for why we do not.)
    pub fn peer_up(&mut self, address: IpAddr, graceful_restart: bool, families: &[Family]) {
        if graceful_restart {
            self.awaited.insert(
                address,
                Awaited {
                    owing: Some(families.iter().copied().collect()),
                },
            );
        } else {
            self.awaited.remove(&address);
        }
    }

    /// A session went down before its End-of-RIB: it is awaited again when it comes back
    /// (still bounded by the timer).
    pub fn peer_down(&mut self, address: IpAddr) {
        if let Some(a) = self.awaited.get_mut(&address) {
            a.owing = None;
        }
    }

    /// The peer sent End-of-RIB for `family` (RFC 4724 section 2).
    pub fn end_of_rib(&mut self, address: IpAddr, family: Family) {
        let done = match self.awaited.get_mut(&address) {
            Some(Awaited { owing: Some(f) }) => {
                f.remove(&family);
                f.is_empty()
            }
            _ => false,
        };
        if done {
            self.awaited.remove(&address);
        }
    }

    /// Whether the deferral is over at `now`, and why.
    pub fn ended(&self, now: Instant) -> Option<DeferralEnd> {
        if self.awaited.is_empty() && !self.until_timer {
            Some(DeferralEnd::AllEndOfRib)
        } else if now >= self.deadline {
            Some(DeferralEnd::TimerExpired)
        } else {
            None
        }
    }

    /// The peers still awaited, for the log line when the timer ends the wait.
    pub fn awaited(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.awaited.keys().copied()
    }
}

impl Routing {
    /// A session left Established. With graceful restart its routes stay as stale for the
    /// peer's restart time (RFC 4724 4.2), then, with long-lived graceful restart, as
    /// least-preferred LLGR-stale for its stale time (RFC 9494 4.2); otherwise they go.
    pub(super) fn peer_down(
        &mut self,
        now: Instant,
        key: PeerKey,
        stale_for: Duration,
        llgr_for: Duration,
    ) {
        let r = FibResolver::of(&self.fib);
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        if let Some(g) = peer.group.take() {
            self.groups.leave(&mut self.rib, g, key);
        }
        peer.commands = None;
        if let (Some(d), Some(up)) = (&mut self.deferral, &peer.up) {
            d.peer_down(up.address);
        }
        peer.up = None;
        let id = peer.id;
        touch_all_paths_of(&self.groups, &self.rib, &mut self.dirty, id);
        // Changes go straight into `dirty`: a full table's worth of `Change` records would
        // be the largest allocation of a session going down.
        if stale_for.is_zero() && llgr_for.is_zero() {
            self.peers.remove(&key);
            self.by_id.remove(&id);
            self.rib.remove_peer_into(id, &r, &mut self.dirty);
        } else if stale_for.is_zero() {
            peer.llgr_for = Duration::ZERO;
            peer.stale_until = Some(now + llgr_for);
            self.rib
                .mark_stale_into(id, None, true, &r, &mut self.dirty);
        } else {
            peer.llgr_for = llgr_for;
            // A peer that drops again before its End-of-RIB does not get a fresh restart
            // time: stale routes live at most one restart window, however often it flaps.
            let deadline = now + stale_for;
            peer.stale_until = Some(peer.stale_until.map_or(deadline, |d| d.min(deadline)));
            self.rib
                .mark_stale_into(id, None, false, &r, &mut self.dirty);
        }
    }

    pub(super) fn sweep_expired(&mut self, now: Instant) {
        let r = FibResolver::of(&self.fib);
        let expired: Vec<PeerKey> = self
            .peers
            .iter()
            .filter(|(_, p)| p.stale_until.is_some_and(|t| t <= now))
            .map(|(k, _)| *k)
            .collect();
        for key in expired {
            let Some(peer) = self.peers.get_mut(&key) else {
                continue;
            };
            peer.stale_until = None;
            let id = peer.id;
            touch_all_paths_of(&self.groups, &self.rib, &mut self.dirty, id);
            if peer.group.is_none() && !peer.llgr_for.is_zero() {
                info!(neighbor = %peer.name, "restart time over: keeping the routes as long-lived stale");
                peer.stale_until = Some(now + peer.llgr_for);
                peer.llgr_for = Duration::ZERO;
                self.rib
                    .mark_stale_into(id, None, true, &r, &mut self.dirty);
                continue;
            }
            self.rib.sweep_stale_into(id, None, &r, &mut self.dirty);
            if peer.group.is_none() {
                // Still down: forget it.
                self.rib.remove_peer_into(id, &r, &mut self.dirty);
                self.peers.remove(&key);
                self.by_id.remove(&id);
            }
        }
    }

    /// End-of-RIB from a peer for `family` (RFC 4724 section 2): its routes of the family
    /// that it did not send again since it came back are stale no longer but gone (helper,
    /// section 4.2), and a restarting speaker's deferral counts it (section 4.1).
    pub(super) fn end_of_rib(&mut self, key: PeerKey, family: Family) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        if let (Some(d), Some(up)) = (&mut self.deferral, &peer.up) {
            d.end_of_rib(up.address, family);
        }
        if peer.stale_until.is_some() {
            let r = FibResolver::of(&self.fib);
            self.rib
                .sweep_stale_into(peer.id, Some(family), &r, &mut self.dirty);
            peer.stale_until = None;
        }
    }

    /// Ends the deferral once every expected peer sent End-of-RIB or the timer ran out:
    /// then the aggregates are decided on the whole table, the kernel gets every selection
    /// (and its initial sync ends), and every peer gets its table and End-of-RIB.
    pub(super) fn check_deferral(&mut self, now: Instant) {
        let Some(d) = &self.deferral else { return };
        let Some(end) = d.ended(now) else { return };
        let took = d.elapsed(now);
        let took_ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
        match end {
            DeferralEnd::AllEndOfRib => info!(
                took_ms,
                "selection deferral over: every expected peer sent End-of-RIB"
            ),
            DeferralEnd::TimerExpired => {
                let waiting: Vec<String> = d.awaited().map(|a| a.to_string()).collect();
                warn!(
                    took_ms,
                    waiting = %waiting.join(" "),
                    "selection deferral timer expired: sending routes without these peers' End-of-RIB"
                );
                self.restart_stats.timer_expired += 1;
            }
        }
        self.deferral = None;
        self.restart_stats.deferring = false;
        self.deferring
            .store(false, std::sync::atomic::Ordering::Release);
        self.restart_stats.last_deferral = Some(took);
        self.originate();
        self.export();
        let up: Vec<PeerKey> = self
            .peers
            .iter()
            .filter(|(_, p)| p.group.is_some())
            .map(|(k, _)| *k)
            .collect();
        for key in up {
            self.resend(key, None);
        }
        self.check_kernel_sync();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V4: Family = Family::Ipv4Unicast;
    const V6: Family = Family::Ipv6Unicast;

    fn addr(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn plan(peers: &[&str]) -> RestartPlan {
        RestartPlan {
            expected: peers.iter().map(|p| addr(p)).collect(),
            deferral: Duration::from_secs(15),
            until_timer: false,
        }
    }

    #[test]
    fn ends_when_every_expected_peer_sent_end_of_rib() {
        let t0 = Instant::now();
        let mut d = Deferral::new(&plan(&["192.0.2.11", "203.0.113.2"]), t0);
        assert_eq!(d.ended(t0), None);
        d.peer_up(addr("203.0.113.2"), true, &[V4]);
        d.end_of_rib(addr("203.0.113.2"), V4);
        // The VBR is back; the node is not: keep waiting (the kernel must not drop its /26).
        assert_eq!(d.ended(t0 + Duration::from_secs(3)), None);
        d.peer_up(addr("192.0.2.11"), true, &[V4]);
        assert_eq!(d.ended(t0 + Duration::from_secs(4)), None);
        d.end_of_rib(addr("192.0.2.11"), V4);
        assert_eq!(
            d.ended(t0 + Duration::from_secs(4)),
            Some(DeferralEnd::AllEndOfRib)
        );
    }

    #[test]
    fn a_peer_that_does_not_come_back_delays_the_others_by_the_timer_at_most() {
        let t0 = Instant::now();
        let mut d = Deferral::new(&plan(&["192.0.2.11", "192.0.2.12"]), t0);
        d.peer_up(addr("192.0.2.11"), true, &[V4]);
        d.end_of_rib(addr("192.0.2.11"), V4);
        assert_eq!(d.ended(t0 + Duration::from_millis(14_999)), None);
        assert_eq!(d.deadline(), t0 + Duration::from_secs(15));
        assert_eq!(
            d.ended(t0 + Duration::from_secs(15)),
            Some(DeferralEnd::TimerExpired)
        );
        assert_eq!(d.awaited().collect::<Vec<_>>(), vec![addr("192.0.2.12")]);
    }

    #[test]
    fn every_family_needs_its_end_of_rib() {
        let t0 = Instant::now();
        let mut d = Deferral::new(&plan(&["203.0.113.2"]), t0);
        d.peer_up(addr("203.0.113.2"), true, &[V4, V6]);
        d.end_of_rib(addr("203.0.113.2"), V4);
        assert_eq!(d.ended(t0), None);
        d.end_of_rib(addr("203.0.113.2"), V6);
        assert_eq!(d.ended(t0), Some(DeferralEnd::AllEndOfRib));
    }

    #[test]
    fn an_end_of_rib_before_the_session_is_known_does_not_count() {
        let t0 = Instant::now();
        let mut d = Deferral::new(&plan(&["192.0.2.11"]), t0);
        d.end_of_rib(addr("192.0.2.11"), V4);
        assert_eq!(d.ended(t0), None);
    }

    #[test]
    fn a_new_peer_with_graceful_restart_is_waited_for_one_without_is_not() {
        let t0 = Instant::now();
        let d = Deferral::new(&plan(&[]), t0);
        // Nothing expected: over at once (a cold start of the same kind).
        assert_eq!(d.ended(t0), Some(DeferralEnd::AllEndOfRib));
        let mut d = Deferral::new(&plan(&["192.0.2.11"]), t0);
        d.peer_up(addr("192.0.2.13"), true, &[V4]);
        d.peer_up(addr("192.0.2.11"), false, &[V4]);
        assert_eq!(d.awaited().collect::<Vec<_>>(), vec![addr("192.0.2.13")]);
        d.end_of_rib(addr("192.0.2.13"), V4);
        assert_eq!(d.ended(t0), Some(DeferralEnd::AllEndOfRib));
    }

    #[test]
    fn an_incomplete_plan_waits_for_the_timer() {
        let t0 = Instant::now();
        let mut p = plan(&["203.0.113.2"]);
        p.until_timer = true;
        let mut d = Deferral::new(&p, t0);
        d.peer_up(addr("203.0.113.2"), true, &[V4]);
        d.end_of_rib(addr("203.0.113.2"), V4);
        assert_eq!(d.ended(t0 + Duration::from_secs(14)), None);
        assert_eq!(
            d.ended(t0 + Duration::from_secs(15)),
            Some(DeferralEnd::TimerExpired)
        );
    }

    #[test]
    fn a_peer_that_drops_before_its_end_of_rib_is_awaited_again() {
        let t0 = Instant::now();
        let mut d = Deferral::new(&plan(&["192.0.2.11"]), t0);
        d.peer_up(addr("192.0.2.11"), true, &[V4]);
        d.peer_down(addr("192.0.2.11"));
        d.end_of_rib(addr("192.0.2.11"), V4);
        assert_eq!(d.ended(t0), None, "an End-of-RIB of a session that is down");
        d.peer_up(addr("192.0.2.11"), true, &[V4]);
        d.end_of_rib(addr("192.0.2.11"), V4);
        assert_eq!(d.ended(t0), Some(DeferralEnd::AllEndOfRib));
    }
}
