//! The routing task's I/O: it takes inputs from its channel in batches, wakes at the
//! core's next deadline, and passes the FIB's next-hop events on. Everything it decides is
//! in the core ([`Routing::handle`], [`Routing::poll`]), which is given the time.

use std::time::Instant;

use tokio::sync::mpsc;

use super::{Routing, RoutingInput};

/// How many inputs are applied before polling: coalesces bursts (a full table arrives as
/// thousands of UPDATEs) into one export pass.
const BATCH: usize = 256;

impl Routing {
    /// Runs until every sender is dropped. `next_hop_events` come from the FIB task.
    pub async fn run(
        mut self,
        mut rx: mpsc::Receiver<RoutingInput>,
        mut next_hop_events: Option<mpsc::Receiver<crate::fib::NextHopEvent>>,
    ) {
        self.poll(Instant::now());
        loop {
            let deadline = self.next_deadline();
            let events = async {
                match next_hop_events.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            let input = tokio::select! {
                i = rx.recv() => i,
                e = events => {
                    match e {
                        Some(_) => {
                            let now = Instant::now();
                            self.handle(now, RoutingInput::NextHopsChanged);
                            self.poll(now);
                        }
                        None => next_hop_events = None,
                    }
                    continue;
                }
                () = async {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d.into()).await,
                        None => std::future::pending().await,
                    }
                } => {
                    self.poll(Instant::now());
                    continue;
                }
            };
            let Some(input) = input else { return };
            let started = Instant::now();
            self.handle(started, input);
            for _ in 1..BATCH {
                match rx.try_recv() {
                    Ok(input) => self.handle(started, input),
                    Err(_) => break,
                }
            }
            self.poll(Instant::now());
            self.record_batch(started.elapsed());
        }
    }
}
