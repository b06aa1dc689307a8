//! Prometheus metrics: the registry the daemon updates from plain numbers, and the
//! `GET /metrics` endpoint (text exposition format 0.0.4) on `[metrics] listen`.
//!
//! Names follow Prometheus conventions: `bgp_` prefix, `_total` for counters, seconds for
//! time. Per-neighbor series carry `neighbor`, `address` and `remote_as`; per-family ones add
//! `afi_safi` (`ipv4-unicast`, `ipv6-unicast`, as the configuration writes them); message counters add `type` (`open`,
//! `update`, `notification`, `keepalive`, `route_refresh`).
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `bgp_session_state` | gauge: RFC 4273 `bgpPeerState`, idle=1 connect=2 active=3 opensent=4 openconfirm=5 established=6 | neighbor |
//! | `bgp_session_uptime_seconds` | gauge, 0 when not Established | neighbor |
//! | `bgp_session_flaps_total` | counter | neighbor |
//! | `bgp_prefixes_received` / `_accepted` / `_advertised` | gauge | neighbor, afi_safi |
//! | `bgp_prefixes_advertised_limit` | gauge: `max_prefixes_out` | neighbor |
//! | `bgp_prefixes_advertised_held_back` | gauge: routes `max_prefixes_out` keeps from the neighbor | neighbor |
//! | `bgp_prefixes_received_limit` | gauge: `max_prefixes` | neighbor |
//! | `bgp_messages_received_total` / `bgp_messages_sent_total` | counter | neighbor, type |
//! | `bgp_last_error_info` | gauge 1, the reason in `error` | neighbor, error |
//! | `bgp_rib_prefixes` / `bgp_rib_paths` | gauge | afi_safi |
//! | `bgp_interned_attribute_sets` | gauge | |
//! | `bgp_update_processing_seconds` | histogram | |
//! | `bgp_export_groups` | gauge | |
//! | `bgp_export_group_members` | gauge | group |
//! | `bgp_restart_deferring` | gauge: 1 while a restart defers routes for the peers' End-of-RIB | |
//! | `bgp_restart_deferral_seconds` | gauge: how long the last deferral took | |
//! | `bgp_restart_deferral_timer_expired_total` | counter: deferrals the timer ended, not the peers | |
//! | `bgp_fib_routes` | gauge: prefixes bgpd wants in the kernel | |
//! | `bgp_fib_installs_total` / `bgp_fib_removes_total` | counter: kernel routes written / deleted | |
//! | `bgp_fib_errors_total` | counter: netlink requests the kernel refused | |
//! | `bgp_fib_resyncs_total` | counter: full re-reads of the kernel after a lost notification | |
//! | `bgp_bfd_session_up` | gauge: 1 when the BFD session is Up | bfd |
//! | `bgp_bfd_session_state` | gauge: RFC 5880 state, admin-down=0 down=1 init=2 up=3 | bfd |
//! | `bgp_bfd_state_changes_total` | counter | bfd |
//! | `bgp_bfd_detect_time_seconds` | gauge: silence that takes the session down; 0 until heard | bfd |
//! | `bgp_calico_block_conflicts` | gauge: Calico blocks announced by more than one node | |
//! | `bgp_calico_refused_prefixes` | gauge: a node's routes the pool guard refuses now | neighbor |
//! | `bgp_bmp_collector_up` | gauge: 1 while connected | collector |
//! | `bgp_bmp_messages_total` | counter: BMP messages written | collector |
//! | `bgp_bmp_dropped_messages_total` | counter: dropped because the queue was full | collector |
//! | `bgp_bmp_resyncs_total` | counter: restarts of the collector after an overflow | collector |
//! | `bgp_bmp_queue_bytes` | gauge: bytes waiting | collector |
//!
//! "bfd" in the labels column stands for `neighbor`, `address`.
//! "neighbor" in the labels column stands for `neighbor`, `address`, `remote_as`.
//! [`Metrics::remove_neighbor`] drops every series of a neighbor that went away.

mod bmp;
mod http;

pub use http::{serve_metrics, MetricsServer};

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::control::protocol::SessionState;

const PEER: [&str; 3] = ["neighbor", "address", "remote_as"];
const PEER_AFI: [&str; 4] = ["neighbor", "address", "remote_as", "afi_safi"];
const PEER_TYPE: [&str; 4] = ["neighbor", "address", "remote_as", "type"];
const PEER_ERROR: [&str; 4] = ["neighbor", "address", "remote_as", "error"];
const BFD: [&str; 2] = ["neighbor", "address"];

/// Buckets for UPDATE processing: 10 µs to about 5 s.
const UPDATE_BUCKETS: [f64; 12] = [
    0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0,
];

/// Who a per-neighbor series is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NeighborLabels {
    /// Configured name (for dynamic sessions, the name the daemon gives the session).
    pub neighbor: String,
    /// The peer's address.
    pub address: String,
    /// The peer's AS.
    pub remote_as: u32,
}

impl NeighborLabels {
    /// Labels for a neighbor.
    pub fn new(neighbor: impl Into<String>, address: impl Into<String>, remote_as: u32) -> Self {
        NeighborLabels {
            neighbor: neighbor.into(),
            address: address.into(),
            remote_as,
        }
    }

    fn values(&self) -> [String; 3] {
        [
            self.neighbor.clone(),
            self.address.clone(),
            self.remote_as.to_string(),
        ]
    }

    fn with(&self, extra: &str) -> [String; 4] {
        let [a, b, c] = self.values();
        [a, b, c, extra.to_string()]
    }
}

/// The extra label values set for one neighbor, so that its series can be removed.
#[derive(Debug, Default)]
struct Seen {
    afi_safi: BTreeSet<String>,
    received_types: BTreeSet<String>,
    sent_types: BTreeSet<String>,
    last_error: Option<String>,
}

/// The daemon's metrics; share it as `Arc<Metrics>`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    session_state: IntGaugeVec,
    session_uptime: IntGaugeVec,
    session_flaps: IntCounterVec,
    prefixes_received: IntGaugeVec,
    prefixes_accepted: IntGaugeVec,
    prefixes_advertised: IntGaugeVec,
    prefixes_advertised_limit: IntGaugeVec,
    prefixes_held_back: IntGaugeVec,
    prefixes_received_limit: IntGaugeVec,
    messages_received: IntCounterVec,
    messages_sent: IntCounterVec,
    last_error: IntGaugeVec,
    rib_prefixes: IntGaugeVec,
    rib_paths: IntGaugeVec,
    interned_attribute_sets: IntGauge,
    update_processing: Histogram,
    export_groups: IntGauge,
    export_group_members: IntGaugeVec,
    restart_deferring: IntGauge,
    restart_deferral_seconds: prometheus::Gauge,
    restart_deferral_expired: prometheus::IntCounter,
    fib_routes: IntGauge,
    fib_installs: prometheus::IntCounter,
    fib_removes: prometheus::IntCounter,
    fib_errors: prometheus::IntCounter,
    fib_resyncs: prometheus::IntCounter,
    bfd_up: IntGaugeVec,
    bfd_state: IntGaugeVec,
    bfd_changes: IntCounterVec,
    bfd_detect: prometheus::GaugeVec,
    seen: Mutex<HashMap<NeighborLabels, Seen>>,
    bfd_seen: Mutex<BTreeSet<[String; 2]>>,
    bmp: bmp::BmpMetrics,
    calico_conflicts: IntGauge,
    calico_refused: IntGaugeVec,
}

fn gauge_vec(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntGaugeVec> {
    let v = IntGaugeVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(v.clone()))?;
    Ok(v)
}

fn counter_vec(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntCounterVec> {
    let v = IntCounterVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(v.clone()))?;
    Ok(v)
}

fn counter(r: &Registry, name: &str, help: &str) -> prometheus::Result<prometheus::IntCounter> {
    let c = prometheus::IntCounter::new(name, help)?;
    r.register(Box::new(c.clone()))?;
    Ok(c)
}

fn gauge(r: &Registry, name: &str, help: &str) -> prometheus::Result<IntGauge> {
    let g = IntGauge::new(name, help)?;
    r.register(Box::new(g.clone()))?;
    Ok(g)
}

/// Saturating u64 to the i64 gauges hold.
fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Sets a neighbor's gauge, or removes its series when there is no value.
fn set_or_remove(vec: &IntGaugeVec, n: &NeighborLabels, value: Option<u64>) {
    match value {
        Some(v) => vec.with_label_values(&n.values()).set(int(v)),
        None => {
            let _ = vec.remove_label_values(&n.values());
        }
    }
}

/// Sets a counter to an absolute value; a smaller value (the source was reset) restarts it,
/// which Prometheus' `rate()` handles as a counter reset.
fn set_counter(c: &prometheus::IntCounter, value: u64) {
    let current = c.get();
    if value >= current {
        c.inc_by(value - current);
    } else {
        c.reset();
        c.inc_by(value);
    }
}

impl Metrics {
    /// A registry with every metric registered and no series yet.
    pub fn new() -> prometheus::Result<Self> {
        let r = Registry::new();
        let update_processing = Histogram::with_opts(
            HistogramOpts::new(
                "bgp_update_processing_seconds",
                "Time to process one received UPDATE: decode, import policy, decision.",
            )
            .buckets(UPDATE_BUCKETS.to_vec()),
        )?;
        r.register(Box::new(update_processing.clone()))?;
        Ok(Metrics {
            session_state: gauge_vec(&r, "bgp_session_state",
                "Session state as RFC 4273 bgpPeerState: 1 idle, 2 connect, 3 active, 4 opensent, 5 openconfirm, 6 established.", &PEER)?,
            session_uptime: gauge_vec(&r, "bgp_session_uptime_seconds",
                "Seconds since the session became Established; 0 when it is not.", &PEER)?,
            session_flaps: counter_vec(&r, "bgp_session_flaps_total",
                "Times the session left Established.", &PEER)?,
            prefixes_received: gauge_vec(&r, "bgp_prefixes_received",
                "Routes announced in UPDATEs since the session came up, before import policy; a route sent again (a route refresh) counts again.", &PEER_AFI)?,
            prefixes_accepted: gauge_vec(&r, "bgp_prefixes_accepted",
                "Prefixes accepted by import policy.", &PEER_AFI)?,
            prefixes_advertised: gauge_vec(&r, "bgp_prefixes_advertised",
                "Prefixes advertised to the neighbor.", &PEER_AFI)?,
            prefixes_advertised_limit: gauge_vec(&r, "bgp_prefixes_advertised_limit",
                "Configured max_prefixes_out: advertised prefixes never exceed it.", &PEER)?,
            messages_received: counter_vec(&r, "bgp_messages_received_total",
                "BGP messages received, by type.", &PEER_TYPE)?,
            messages_sent: counter_vec(&r, "bgp_messages_sent_total",
                "BGP messages sent, by type.", &PEER_TYPE)?,
            last_error: gauge_vec(&r, "bgp_last_error_info",
                "Always 1; the error label says why the session last went down.", &PEER_ERROR)?,
            rib_prefixes: gauge_vec(&r, "bgp_rib_prefixes",
                "Prefixes in the Loc-RIB.", &["afi_safi"])?,
            rib_paths: gauge_vec(&r, "bgp_rib_paths",
                "Paths in the Loc-RIB (all candidates, not only the best).", &["afi_safi"])?,
            interned_attribute_sets: gauge(&r, "bgp_interned_attribute_sets",
                "Distinct path attribute sets held (shared between paths).")?,
            export_groups: gauge(&r, "bgp_export_groups",
                "Export groups: neighbors sharing one Adj-RIB-Out computation.")?,
            export_group_members: gauge_vec(&r, "bgp_export_group_members",
                "Neighbors in each export group.", &["group"])?,
            restart_deferring: gauge(&r, "bgp_restart_deferring",
                "1 while a restart defers sending routes until the expected peers' End-of-RIB (RFC 4724 4.1).")?,
            restart_deferral_seconds: {
                let g = prometheus::Gauge::new("bgp_restart_deferral_seconds",
                    "How long the last restart's selection deferral took.")?;
                r.register(Box::new(g.clone()))?;
                g
            },
            restart_deferral_expired: {
                let c = prometheus::IntCounter::new("bgp_restart_deferral_timer_expired_total",
                    "Restart deferrals ended by the selection deferral timer, not by the peers' End-of-RIB.")?;
                r.register(Box::new(c.clone()))?;
                c
            },
            prefixes_held_back: gauge_vec(&r, "bgp_prefixes_advertised_held_back",
                "Routes that pass export but are held back by max_prefixes_out.", &PEER)?,
            prefixes_received_limit: gauge_vec(&r, "bgp_prefixes_received_limit",
                "Configured max_prefixes: more received prefixes close the session.", &PEER)?,
            fib_routes: gauge(&r, "bgp_fib_routes",
                "Prefixes bgpd wants installed in the kernel FIB.")?,
            fib_installs: counter(&r, "bgp_fib_installs_total",
                "Kernel routes installed or replaced.")?,
            fib_removes: counter(&r, "bgp_fib_removes_total", "Kernel routes removed.")?,
            fib_errors: counter(&r, "bgp_fib_errors_total",
                "Netlink requests the kernel refused.")?,
            fib_resyncs: counter(&r, "bgp_fib_resyncs_total",
                "Full re-reads of the kernel's links and routes after a lost notification.")?,
            bfd_up: gauge_vec(&r, "bgp_bfd_session_up",
                "1 when the BFD session to the neighbor is Up, else 0.", &BFD)?,
            bfd_state: gauge_vec(&r, "bgp_bfd_session_state",
                "BFD session state as RFC 5880 numbers it: 0 admin-down, 1 down, 2 init, 3 up.", &BFD)?,
            bfd_changes: counter_vec(&r, "bgp_bfd_state_changes_total",
                "BFD session state changes.", &BFD)?,
            bfd_detect: {
                let g = prometheus::GaugeVec::new(Opts::new("bgp_bfd_detect_time_seconds",
                    "BFD detection time: this long without a packet takes the session down; 0 until the neighbor is heard."), &BFD)?;
                r.register(Box::new(g.clone()))?;
                g
            },
            bmp: bmp::BmpMetrics::new(&r)?,
            calico_conflicts: gauge(&r, "bgp_calico_block_conflicts",
                "Calico blocks announced by more than one node (IPAM conflicts).")?,
            calico_refused: gauge_vec(&r, "bgp_calico_refused_prefixes",
                "Routes of a Calico node the pool guard refuses now (outside the pools or shorter than a block).", &PEER)?,
            update_processing,
            registry: r,
            seen: Mutex::new(HashMap::new()),
            bfd_seen: Mutex::new(BTreeSet::new()),
        })
    }

    /// The registry, to add more collectors or encode directly.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    fn seen<R>(&self, n: &NeighborLabels, f: impl FnOnce(&mut Seen) -> R) -> R {
        let mut map = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        f(map.entry(n.clone()).or_default())
    }

    /// Every BFD session's state; the series of sessions not listed are removed.
    pub fn set_bfd<'a>(
        &self,
        sessions: impl IntoIterator<Item = (&'a str, String, u8, u64, Option<Duration>)>,
    ) {
        let mut seen = self.bfd_seen.lock().unwrap_or_else(PoisonError::into_inner);
        let mut now = BTreeSet::new();
        for (neighbor, address, state, changes, detect) in sessions {
            let labels = [neighbor, address.as_str()];
            self.bfd_up
                .with_label_values(&labels)
                .set(i64::from(state == 3));
            self.bfd_state
                .with_label_values(&labels)
                .set(i64::from(state));
            set_counter(&self.bfd_changes.with_label_values(&labels), changes);
            self.bfd_detect
                .with_label_values(&labels)
                .set(detect.map_or(0.0, |d| d.as_secs_f64()));
            now.insert([neighbor.to_owned(), address]);
        }
        for gone in seen.difference(&now) {
            let labels = [gone[0].as_str(), gone[1].as_str()];
            let _ = self.bfd_up.remove_label_values(&labels);
            let _ = self.bfd_state.remove_label_values(&labels);
            let _ = self.bfd_changes.remove_label_values(&labels);
            let _ = self.bfd_detect.remove_label_values(&labels);
        }
        *seen = now;
    }

    /// Calico blocks in conflict.
    pub fn set_calico_conflicts(&self, blocks: usize) {
        self.calico_conflicts.set(int(blocks as u64));
    }

    /// A Calico node's refused routes.
    pub fn set_calico_refused(&self, n: &NeighborLabels, refused: usize) {
        self.seen(n, |_| ());
        self.calico_refused
            .with_label_values(&n.values())
            .set(int(refused as u64));
    }

    /// Every BMP collector's numbers.
    pub fn set_bmp(&self, collectors: &[crate::bmp::CollectorStatus]) {
        self.bmp.set(collectors);
    }

    /// Session state and uptime (`None` or not Established: 0).
    pub fn set_session(&self, n: &NeighborLabels, state: SessionState, uptime: Option<Duration>) {
        let v = n.values();
        let labels = [v[0].as_str(), v[1].as_str(), v[2].as_str()];
        self.seen(n, |_| ());
        self.session_state
            .with_label_values(&labels)
            .set(i64::from(state.number()));
        let up = match state {
            SessionState::Established => uptime.map_or(0, |d| int(d.as_secs())),
            _ => 0,
        };
        self.session_uptime.with_label_values(&labels).set(up);
    }

    /// Flap count (transitions out of Established), as an absolute number.
    pub fn set_flaps(&self, n: &NeighborLabels, flaps: u64) {
        self.seen(n, |_| ());
        set_counter(&self.session_flaps.with_label_values(&n.values()), flaps);
    }

    /// Prefixes received, accepted and advertised for one address family.
    pub fn set_prefixes(
        &self,
        n: &NeighborLabels,
        afi_safi: &str,
        received: u64,
        accepted: u64,
        advertised: u64,
    ) {
        self.seen(n, |s| s.afi_safi.insert(afi_safi.to_string()));
        let v = n.with(afi_safi);
        self.prefixes_received
            .with_label_values(&v)
            .set(int(received));
        self.prefixes_accepted
            .with_label_values(&v)
            .set(int(accepted));
        self.prefixes_advertised
            .with_label_values(&v)
            .set(int(advertised));
    }

    /// The `max_prefixes_out` limit; `None` removes the series.
    pub fn set_advertised_limit(&self, n: &NeighborLabels, limit: Option<u64>) {
        self.seen(n, |_| ());
        set_or_remove(&self.prefixes_advertised_limit, n, limit);
    }

    /// `max_prefixes` (no series without a limit) and the routes `max_prefixes_out` holds
    /// back from the neighbor.
    pub fn set_limits(&self, n: &NeighborLabels, received_limit: Option<u64>, held_back: u64) {
        self.seen(n, |_| ());
        set_or_remove(&self.prefixes_received_limit, n, received_limit);
        self.prefixes_held_back
            .with_label_values(&n.values())
            .set(int(held_back));
    }

    /// The kernel FIB's counters.
    pub fn set_fib(&self, routes: u64, installs: u64, removes: u64, errors: u64, resyncs: u64) {
        self.fib_routes.set(int(routes));
        set_counter(&self.fib_installs, installs);
        set_counter(&self.fib_removes, removes);
        set_counter(&self.fib_errors, errors);
        set_counter(&self.fib_resyncs, resyncs);
    }

    /// Messages received and sent, as absolute counts by type label (e.g. from
    /// `session::MessageCounts::by_name`).
    pub fn set_messages<'a>(
        &self,
        n: &NeighborLabels,
        received: impl IntoIterator<Item = (&'a str, u64)>,
        sent: impl IntoIterator<Item = (&'a str, u64)>,
    ) {
        for (kind, count) in received {
            self.seen(n, |s| s.received_types.insert(kind.to_string()));
            set_counter(
                &self.messages_received.with_label_values(&n.with(kind)),
                count,
            );
        }
        for (kind, count) in sent {
            self.seen(n, |s| s.sent_types.insert(kind.to_string()));
            set_counter(&self.messages_sent.with_label_values(&n.with(kind)), count);
        }
    }

    /// The last error (replacing the previous one), or `None` to clear it.
    pub fn set_last_error(&self, n: &NeighborLabels, error: Option<&str>) {
        let old = self.seen(n, |s| {
            std::mem::replace(&mut s.last_error, error.map(str::to_string))
        });
        if let Some(old) = old {
            if Some(old.as_str()) != error {
                let _ = self.last_error.remove_label_values(&n.with(&old));
            }
        }
        if let Some(e) = error {
            self.last_error.with_label_values(&n.with(e)).set(1);
        }
    }

    /// Removes every series of a neighbor (deleted from the config, or a dynamic session
    /// that ended).
    pub fn remove_neighbor(&self, n: &NeighborLabels) {
        let seen = {
            let mut map = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
            map.remove(n).unwrap_or_default()
        };
        let v = n.values();
        for vec in [
            &self.session_state,
            &self.session_uptime,
            &self.prefixes_advertised_limit,
            &self.prefixes_held_back,
            &self.prefixes_received_limit,
            &self.calico_refused,
        ] {
            let _ = vec.remove_label_values(&v);
        }
        let _ = self.session_flaps.remove_label_values(&v);
        for afi in &seen.afi_safi {
            for vec in [
                &self.prefixes_received,
                &self.prefixes_accepted,
                &self.prefixes_advertised,
            ] {
                let _ = vec.remove_label_values(&n.with(afi));
            }
        }
        for kind in &seen.received_types {
            let _ = self.messages_received.remove_label_values(&n.with(kind));
        }
        for kind in &seen.sent_types {
            let _ = self.messages_sent.remove_label_values(&n.with(kind));
        }
        if let Some(e) = &seen.last_error {
            let _ = self.last_error.remove_label_values(&n.with(e));
        }
    }

    /// Loc-RIB size for one address family.
    pub fn set_rib(&self, afi_safi: &str, prefixes: u64, paths: u64) {
        self.rib_prefixes
            .with_label_values(&[afi_safi])
            .set(int(prefixes));
        self.rib_paths
            .with_label_values(&[afi_safi])
            .set(int(paths));
    }

    /// Distinct interned attribute sets.
    pub fn set_interned_attribute_sets(&self, count: u64) {
        self.interned_attribute_sets.set(int(count));
    }

    /// Records the time one UPDATE took to process.
    pub fn observe_update_processing(&self, took: Duration) {
        self.update_processing.observe(took.as_secs_f64());
    }

    /// The export groups and their member counts, replacing the previous set.
    pub fn set_export_groups<'a>(&self, groups: impl IntoIterator<Item = (&'a str, u64)>) {
        self.export_group_members.reset();
        let mut count = 0u64;
        for (group, members) in groups {
            count = count.saturating_add(1);
            self.export_group_members
                .with_label_values(&[group])
                .set(int(members));
        }
        self.export_groups.set(int(count));
    }

    /// The restarting speaker's deferral.
    pub fn set_restart(&self, deferring: bool, last: Option<Duration>, timer_expired: u64) {
        self.restart_deferring.set(i64::from(deferring));
        if let Some(d) = last {
            self.restart_deferral_seconds.set(d.as_secs_f64());
        }
        set_counter(&self.restart_deferral_expired, timer_expired);
    }

    /// Everything in the text exposition format.
    pub fn encode(&self) -> Result<String, prometheus::Error> {
        let mut buf = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buf)?;
        String::from_utf8(buf).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}
