//! One collector's task: connect (with backoff), Initiation, attach to the monitor (the
//! Peer Ups, then a route refresh from every session so that the collector gets each
//! Adj-RIB-In), write what the monitor queues, Statistics Reports on the interval, and
//! Termination when stopped. A queue that overflowed starts the collector over.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bgp_wire::bmp;
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tracing::{info, warn};

use super::monitor::{Attach, CollectorCounters, Monitor, PeerStats};
use crate::exchange::PeerCommand;
use crate::routing::{RoutingInput, RoutingQuery, RoutingReply};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const FIRST_RETRY: Duration = Duration::from_secs(1);
const LAST_RETRY: Duration = Duration::from_secs(30);
/// A connection that lasted this long resets the backoff.
const STABLE: Duration = Duration::from_secs(60);
/// Writes are batched up to this size.
const BATCH: usize = 256 * 1024;
/// A collector that takes no bytes for this long has stopped reading: start it over.
const WRITE_STALL: Duration = Duration::from_secs(30);
/// The sessions are asked for their routes once a connection has lasted this long: a
/// collector that accepts and closes at once does not make every peer resend its table.
const REFRESH_DELAY: Duration = Duration::from_secs(2);
/// After an overflow the collector waits at least this long: it was too slow.
const AFTER_OVERFLOW: Duration = Duration::from_secs(10);

/// Why a collector task stops for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    /// Keep going.
    Run,
    /// bgpd stops: Termination "administratively closed".
    Shutdown,
    /// The collector was removed from the configuration: "permanently closed".
    Removed,
    /// Its settings changed: closed, and started again at once.
    Restart,
}

/// What the task needs.
pub(super) struct Collector {
    pub id: u64,
    pub config: config::Bmp,
    pub queue_limit: usize,
    pub monitor: Arc<Monitor>,
    pub routing: mpsc::Sender<RoutingInput>,
    /// sysDescr and sysName for the Initiation.
    pub sys: Arc<(String, String)>,
    pub counters: Arc<CollectorCounters>,
}

enum Ended {
    Stopped,
    Overflowed,
    Lost(io::Error),
}

impl Collector {
    /// Runs until `stop` says otherwise.
    pub(super) async fn run(self, mut stop: watch::Receiver<Stop>) {
        let address = self.config.address;
        let mut retry = FIRST_RETRY;
        let mut failures = 0u32;
        loop {
            if *stop.borrow() != Stop::Run {
                return;
            }
            let connect = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address));
            let stream = tokio::select! {
                r = connect => r.unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into())),
                _ = stop.changed() => continue,
            };
            let stream = match stream {
                Ok(s) => s,
                Err(e) => {
                    // Logged on the first failure and then every tenth: a collector that is
                    // down for a day does not fill the journal.
                    if failures % 10 == 0 {
                        warn!(collector = %address, error = %e, retry_s = retry.as_secs(), "cannot connect to the BMP collector");
                    }
                    failures += 1;
                    tokio::select! {
                        _ = tokio::time::sleep(retry) => {}
                        _ = stop.changed() => {}
                    }
                    retry = (retry * 2).min(LAST_RETRY);
                    continue;
                }
            };
            failures = 0;
            let _ = stream.set_nodelay(true);
            info!(collector = %address, "BMP collector connected");
            let since = Instant::now();
            let ended = self.serve(stream, &mut stop).await;
            self.monitor.detach(self.id);
            self.counters.up.store(false, Ordering::Relaxed);
            if since.elapsed() >= STABLE {
                retry = FIRST_RETRY;
            }
            match ended {
                Ended::Stopped => {
                    info!(collector = %address, "BMP collector closed");
                    return;
                }
                Ended::Overflowed => {
                    self.counters.resyncs.fetch_add(1, Ordering::Relaxed);
                    retry = retry.max(AFTER_OVERFLOW);
                    warn!(collector = %address, limit_bytes = self.queue_limit, "BMP collector too slow: its queue overflowed; starting it over");
                }
                Ended::Lost(e) => {
                    warn!(collector = %address, error = %e, "BMP collector connection lost");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(retry) => {}
                _ = stop.changed() => {}
            }
            retry = (retry * 2).min(LAST_RETRY);
        }
    }

    async fn serve(&self, stream: TcpStream, stop: &mut watch::Receiver<Stop>) -> Ended {
        let (mut reader, mut writer) = stream.into_split();
        let mut init = BytesMut::new();
        let _ = bmp::encode_initiation(&self.sys.0, &self.sys.1, &mut init);
        if let Err(e) = writer.write_all(&init).await {
            return Ended::Lost(e);
        }
        self.counters.messages.fetch_add(1, Ordering::Relaxed);
        let ready = Arc::new(Notify::new());
        let (refresh, cannot) = self.monitor.attach(Attach {
            id: self.id,
            adj_rib_out: self.config.adj_rib_out,
            limit: self.queue_limit,
            ready: ready.clone(),
            counters: self.counters.clone(),
        });
        self.counters.up.store(true, Ordering::Relaxed);
        // The Adj-RIB-In before policy is not kept: each session sends it again, once the
        // connection has lasted REFRESH_DELAY.
        let mut refresh = Some(refresh);
        let refresh_at = tokio::time::sleep(REFRESH_DELAY);
        tokio::pin!(refresh_at);
        if cannot > 0 {
            warn!(collector = %self.config.address, sessions = cannot, "sessions without route refresh: the collector sees their routes from their next UPDATE on");
        }
        let interval = self
            .config
            .statistics_interval
            .map(|s| Duration::from_secs(u64::from(s)));
        let mut stats =
            interval.map(|i| tokio::time::interval_at(tokio::time::Instant::now() + i, i));
        let mut scratch = [0u8; 1024];
        loop {
            tokio::select! {
                _ = ready.notified() => {
                    let taken = self.monitor.take(self.id);
                    if taken.overflowed {
                        let _ = terminate(&mut writer, bmp::termination::OUT_OF_RESOURCES, "queue overflowed; resynchronising").await;
                        return Ended::Overflowed;
                    }
                    // Never cut a batch short (a message half written breaks the framing);
                    // a stop is seen after it, a stalled collector by WRITE_STALL.
                    if let Err(e) = write_batched(&mut writer, &taken.messages).await {
                        return Ended::Lost(e);
                    }
                    self.counters.messages.fetch_add(taken.messages.len() as u64, Ordering::Relaxed);
                }
                () = &mut refresh_at, if refresh.is_some() => {
                    for commands in refresh.take().unwrap_or_default() {
                        let _ = commands.try_send(PeerCommand::Refresh);
                    }
                }
                _ = tick(&mut stats) => {
                    let counts = self.counts().await;
                    self.monitor.queue_statistics(self.id, &counts);
                }
                // RFC 7854 section 3.3: the collector sends nothing; a close ends the session.
                r = reader.read(&mut scratch) => match r {
                    Ok(0) => return Ended::Lost(io::ErrorKind::UnexpectedEof.into()),
                    Ok(_) => {}
                    Err(e) => return Ended::Lost(e),
                },
                _ = stop.changed() => {
                    let why = *stop.borrow();
                    return self.stopped(&mut writer, why).await;
                }
            }
        }
    }

    /// Flushes what is queued (the Peer Downs of a stopping daemon), then Termination.
    async fn stopped(&self, writer: &mut OwnedWriteHalf, why: Stop) -> Ended {
        let (reason, text) = match why {
            Stop::Removed => (
                bmp::termination::PERMANENTLY_CLOSED,
                "collector removed from the configuration",
            ),
            Stop::Restart => (
                bmp::termination::ADMINISTRATIVELY_CLOSED,
                "collector settings changed: reconnecting",
            ),
            _ => (bmp::termination::ADMINISTRATIVELY_CLOSED, "bgpd stopping"),
        };
        let taken = self.monitor.take(self.id);
        if !taken.overflowed {
            let _ = write_batched(writer, &taken.messages).await;
        }
        let _ = terminate(writer, reason, text).await;
        Ended::Stopped
    }

    /// Each session's route counts, from the routing task.
    async fn counts(&self) -> HashMap<u32, PeerStats> {
        let (tx, rx) = oneshot::channel();
        if self
            .routing
            .send(RoutingInput::Query(RoutingQuery::Counts, tx))
            .await
            .is_err()
        {
            return HashMap::new();
        }
        match rx.await {
            Ok(RoutingReply::Counts(v)) => v
                .into_iter()
                .map(|(k, c)| {
                    (
                        k,
                        PeerStats {
                            adj_rib_in: c.accepted.total(),
                            adj_rib_out: c.advertised.total(),
                        },
                    )
                })
                .collect(),
            _ => HashMap::new(),
        }
    }
}

async fn tick(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

async fn write_batched(writer: &mut OwnedWriteHalf, messages: &[bytes::Bytes]) -> io::Result<()> {
    let mut batch = BytesMut::with_capacity(BATCH);
    for m in messages {
        if batch.len() + m.len() > BATCH && !batch.is_empty() {
            write_some(writer, &batch).await?;
            batch.clear();
        }
        if m.len() >= BATCH {
            write_some(writer, m).await?;
        } else {
            batch.extend_from_slice(m);
        }
    }
    if !batch.is_empty() {
        write_some(writer, &batch).await?;
    }
    Ok(())
}

/// One write, failed when the collector takes nothing for WRITE_STALL.
async fn write_some(writer: &mut OwnedWriteHalf, bytes: &[u8]) -> io::Result<()> {
    match tokio::time::timeout(WRITE_STALL, writer.write_all(bytes)).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the collector has read nothing for 30 s",
        )),
    }
}

async fn terminate(writer: &mut OwnedWriteHalf, reason: u16, text: &str) -> io::Result<()> {
    let mut out = BytesMut::new();
    let _ = bmp::encode_termination(reason, text, &mut out);
    tokio::time::timeout(Duration::from_secs(1), async {
        writer.write_all(&out).await?;
        writer.shutdown().await
    })
    .await
    .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
}
