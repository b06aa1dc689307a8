//! The BMP collectors' series, labelled `collector` (its `ADDRESS:PORT`).

use std::collections::BTreeSet;
use std::sync::{Mutex, PoisonError};

use prometheus::{IntCounterVec, IntGaugeVec, Registry};

use super::{counter_vec, gauge_vec, set_counter};
use crate::bmp::CollectorStatus;

const COLLECTOR: [&str; 1] = ["collector"];

/// `bgp_bmp_*`.
#[derive(Debug)]
pub(super) struct BmpMetrics {
    up: IntGaugeVec,
    messages: IntCounterVec,
    dropped: IntCounterVec,
    resyncs: IntCounterVec,
    queued: IntGaugeVec,
    seen: Mutex<BTreeSet<String>>,
}

impl BmpMetrics {
    #[rustfmt::skip]
    pub(super) fn new(r: &Registry) -> prometheus::Result<BmpMetrics> {
        Ok(BmpMetrics {
            up: gauge_vec(r, "bgp_bmp_collector_up",
                "1 while the BMP collector is connected, else 0.", &COLLECTOR)?,
            messages: counter_vec(r, "bgp_bmp_messages_total",
                "BMP messages written to the collector (an Adj-RIB-Out write of several UPDATEs counts once).", &COLLECTOR)?,
            dropped: counter_vec(r, "bgp_bmp_dropped_messages_total",
                "BMP messages dropped because the collector's queue was full (counted as bgp_bmp_messages_total).", &COLLECTOR)?,
            resyncs: counter_vec(r, "bgp_bmp_resyncs_total",
                "Times the collector was started over after its queue overflowed.", &COLLECTOR)?,
            queued: gauge_vec(r, "bgp_bmp_queue_bytes",
                "Bytes waiting to be written to the collector.", &COLLECTOR)?,
            seen: Mutex::new(BTreeSet::new()),
        })
    }

    /// Every collector's numbers; the series of collectors not listed are removed.
    pub(super) fn set(&self, collectors: &[CollectorStatus]) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let mut now = BTreeSet::new();
        for c in collectors {
            let name = c.address.to_string();
            let l = [name.as_str()];
            self.up.with_label_values(&l).set(i64::from(c.up));
            set_counter(&self.messages.with_label_values(&l), c.messages);
            set_counter(&self.dropped.with_label_values(&l), c.dropped);
            set_counter(&self.resyncs.with_label_values(&l), c.resyncs);
            self.queued
                .with_label_values(&l)
                .set(i64::try_from(c.queued_bytes).unwrap_or(i64::MAX));
            now.insert(name);
        }
        for gone in seen.difference(&now) {
            let l = [gone.as_str()];
            let _ = self.up.remove_label_values(&l);
            let _ = self.messages.remove_label_values(&l);
            let _ = self.dropped.remove_label_values(&l);
            let _ = self.resyncs.remove_label_values(&l);
            let _ = self.queued.remove_label_values(&l);
        }
        *seen = now;
    }
}
