//! The writing half of a BGP connection, in its own task so that reading never waits on a
//! peer that is slow to read (two speakers each blocked writing to the other would never
//! read again).
//!
//! Two queues feed it: session control messages (OPEN, KEEPALIVE, NOTIFICATION,
//! ROUTE-REFRESH; few, unbounded, written first) and route updates from the routing task
//! (bounded; the routing task never waits on a full queue but resynchronises the peer).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{mpsc, Notify};

/// How many update messages may wait for one peer before the routing task stops queueing
/// and falls back to a resync.
pub const UPDATE_QUEUE: usize = 16 * 1024;

/// Where to send bytes for one connection. Dropping every handle closes the connection
/// once what was queued is written.
#[derive(Debug, Clone)]
pub struct WriterHandle {
    control: mpsc::UnboundedSender<Bytes>,
    updates: mpsc::Sender<Bytes>,
    /// UPDATE messages from the routing task written since the last `take_updates_sent`.
    updates_sent: Arc<AtomicU64>,
    /// Rung after such messages were written, so the session can count them.
    pub wrote_updates: Arc<Notify>,
}

impl WriterHandle {
    /// Queues a session message; false when the connection is gone.
    pub fn send_control(&self, bytes: Bytes) -> bool {
        self.control.send(bytes).is_ok()
    }

    /// The queue the routing task writes updates into.
    pub fn updates(&self) -> mpsc::Sender<Bytes> {
        self.updates.clone()
    }

    /// UPDATE messages written from the routing task's queue since the last call.
    pub fn take_updates_sent(&self) -> u64 {
        self.updates_sent.swap(0, Ordering::Relaxed)
    }
}

/// Counts the messages in a buffer of whole messages (the routing task's buffers hold
/// UPDATEs and End-of-RIB markers, which are UPDATEs too).
fn count_messages(bytes: &[u8]) -> u64 {
    let mut n = 0;
    let mut at = 0;
    while let Some(len) = bytes.get(at + 16..at + 18) {
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        if len < 19 {
            break;
        }
        n += 1;
        at += len;
    }
    n
}

/// Starts the writer task for a connection's write half.
pub fn spawn(mut half: OwnedWriteHalf) -> WriterHandle {
    let (control, mut control_rx) = mpsc::unbounded_channel::<Bytes>();
    let (updates, mut updates_rx) = mpsc::channel::<Bytes>(UPDATE_QUEUE);
    let updates_sent = Arc::new(AtomicU64::new(0));
    let wrote_updates = Arc::new(Notify::new());
    let (sent, wrote) = (updates_sent.clone(), wrote_updates.clone());
    tokio::spawn(async move {
        let mut control_open = true;
        let mut updates_open = true;
        while control_open || updates_open {
            let next = tokio::select! {
                biased;
                m = control_rx.recv(), if control_open => match m {
                    Some(m) => Some((m, false)),
                    None => { control_open = false; None }
                },
                m = updates_rx.recv(), if updates_open => match m {
                    Some(m) => Some((m, true)),
                    None => { updates_open = false; None }
                },
            };
            // Once the session lets go of the control queue the connection is closing:
            // routing's queued updates are no longer wanted.
            if !control_open {
                break;
            }
            if let Some((bytes, from_routing)) = next {
                if half.write_all(&bytes).await.is_err() {
                    return;
                }
                if from_routing {
                    sent.fetch_add(count_messages(&bytes), Ordering::Relaxed);
                    wrote.notify_one();
                }
            }
        }
        let _ = half.shutdown().await;
    });
    WriterHandle {
        control,
        updates,
        updates_sent,
        wrote_updates,
    }
}
