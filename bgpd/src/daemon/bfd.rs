//! The daemon's side of BFD: a failed path takes the neighbor's BGP session down through the
//! liveness entry point ([`PeerCommand::PathDown`]); `bgpctl show bfd`; the BFD metrics.

use std::time::Instant;

use tracing::warn;

use crate::bfd::{BfdEvent, BfdRow};
use crate::control::protocol::{BfdSession, Response};
use crate::daemon::Daemon;
use crate::exchange::PeerCommand;

impl Daemon {
    /// A BFD session changed state: when the forwarding path failed, the BGP session over it
    /// goes down now (RFC 5882 section 3.2), its routes withdrawn rather than kept stale.
    /// When it came up, a session waiting to retry tries now.
    pub(super) async fn on_bfd(&mut self, event: BfdEvent) {
        let up = event.transition.to == crate::bfd::State::Up;
        if !event.transition.path_failed && !up {
            return;
        }
        let key = self
            .peers
            .iter()
            .find(|(_, h)| {
                h.status
                    .lock()
                    .is_ok_and(|s| s.name == event.neighbor && s.address == event.address)
            })
            .map(|(k, _)| *k);
        let Some(handle) = key.and_then(|k| self.peers.get(&k)) else {
            return;
        };
        if up {
            let _ = handle.commands.send(PeerCommand::PathUp).await;
            return;
        }
        warn!(
            neighbor = %event.neighbor,
            address = %event.address,
            diag = %event.transition.diag,
            "BFD: forwarding path down, closing the BGP session"
        );
        let _ = handle
            .commands
            .send(PeerCommand::PathDown { source: "bfd" })
            .await;
    }

    /// `bgpctl show bfd`.
    pub(super) async fn show_bfd(&self) -> Response {
        let now = Instant::now();
        Response::Bfd(
            self.bfd
                .show()
                .await
                .into_iter()
                .map(|r| bfd_session(r, now))
                .collect(),
        )
    }

    /// The BFD series of the metrics.
    pub(super) async fn update_bfd_metrics(&self, m: &crate::metrics::Metrics) {
        let rows = self.bfd.show().await;
        m.set_bfd(rows.iter().map(|r| {
            (
                r.peer.neighbor.as_str(),
                r.peer.address.to_string(),
                r.status.state.number(),
                r.status.state_changes,
                r.status.detect_time,
            )
        }));
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn bfd_session(row: BfdRow, now: Instant) -> BfdSession {
    let (p, s) = (row.peer, row.status);
    BfdSession {
        neighbor: p.neighbor,
        address: p.address,
        local_address: p.local,
        multihop: row.multihop,
        state: s.state.name().to_owned(),
        remote_state: s.remote_state.name().to_owned(),
        local_discriminator: s.local_discriminator,
        remote_discriminator: s.remote_discriminator,
        diagnostic: s.diag.name().to_owned(),
        remote_diagnostic: s.remote_diag.name().to_owned(),
        tx_interval_ms: millis(s.tx_interval),
        rx_interval_ms: millis(s.rx_interval),
        multiplier: s.multiplier,
        remote_multiplier: s.remote_multiplier,
        detect_time_ms: s.detect_time.map_or(0, millis),
        uptime_secs: s
            .up_since
            .map(|t| now.saturating_duration_since(t).as_secs()),
        flaps: s.flaps,
        packets_in: s.packets_in,
        packets_out: s.packets_out,
    }
}
