//! The writing half of a BGP connection, in its own task so that reading never waits on a
//! peer that is slow to read (two speakers each blocked writing to the other would never
//! read again).
//!
//! Two queues feed it: session control messages (OPEN, KEEPALIVE, NOTIFICATION,
//! ROUTE-REFRESH; few, unbounded, written first) and route updates from the routing task
//! (bounded; the routing task never waits on a full queue but resynchronises the peer).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{mpsc, Notify};

/// How many update messages may wait for one peer before the routing task stops queueing
/// and falls back to a resync.
pub const UPDATE_QUEUE: usize = 16 * 1024;

/// Session messages waiting for the writer. They are few (OPEN, KEEPALIVE, NOTIFICATION),
/// so a locked queue that allocates only when used rather than a channel, whose first block
/// (32 slots, 1 KB) each of hundreds of idle sessions would hold.
#[derive(Debug, Default)]
struct ControlQueue {
    queue: Mutex<VecDeque<Bytes>>,
    /// The handle was dropped: write what is queued, then close.
    closed: AtomicBool,
    /// The writer task has ended (the connection failed): nothing more is written.
    gone: AtomicBool,
    ready: Notify,
}

impl ControlQueue {
    fn push(&self, bytes: Bytes) -> bool {
        if self.gone.load(Ordering::Acquire) {
            return false;
        }
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(bytes);
        self.ready.notify_one();
        true
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.ready.notify_one();
    }

    /// The next message; `None` once closed and empty. Cancel-safe: a message is only taken
    /// when it is returned.
    async fn next(&self) -> Option<Bytes> {
        loop {
            // Created before the checks: a push in between leaves a permit behind.
            let notified = self.ready.notified();
            if let Some(b) = self
                .queue
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop_front()
            {
                return Some(b);
            }
            if self.closed.load(Ordering::Acquire) {
                return None;
            }
            notified.await;
        }
    }
}

/// Where to send bytes for one connection. Dropping the handle closes the connection once
/// what was queued is written.
#[derive(Debug)]
pub struct WriterHandle {
    control: Arc<ControlQueue>,
    updates: mpsc::Sender<Bytes>,
    /// UPDATE messages from the routing task written since the last `take_updates_sent`.
    updates_sent: Arc<AtomicU64>,
    /// Rung after such messages were written, so the session can count them.
    pub wrote_updates: Arc<Notify>,
}

impl WriterHandle {
    /// Queues a session message; false when the connection is gone.
    pub fn send_control(&self, bytes: Bytes) -> bool {
        self.control.push(bytes)
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

impl Drop for WriterHandle {
    fn drop(&mut self) {
        self.control.close();
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
    let control = Arc::new(ControlQueue::default());
    let (updates, mut updates_rx) = mpsc::channel::<Bytes>(UPDATE_QUEUE);
    let updates_sent = Arc::new(AtomicU64::new(0));
    let wrote_updates = Arc::new(Notify::new());
    let (sent, wrote, queue) = (updates_sent.clone(), wrote_updates.clone(), control.clone());
    tokio::spawn(async move {
        let write = async {
            let mut updates_open = true;
            loop {
                let next = tokio::select! {
                    biased;
                    m = queue.next() => match m {
                        Some(m) => Some((m, false)),
                        // The session let go of the connection: it is closing, and
                        // routing's queued updates are no longer wanted.
                        None => break,
                    },
                    m = updates_rx.recv(), if updates_open => match m {
                        Some(m) => Some((m, true)),
                        None => { updates_open = false; None }
                    },
                };
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
        };
        write.await;
        queue.gone.store(true, Ordering::Release);
    });
    WriterHandle {
        control,
        updates,
        updates_sent,
        wrote_updates,
    }
}
