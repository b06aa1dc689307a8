//! The writing half of a BGP connection, in its own task so that reading never waits on a
//! peer that is slow to read (two speakers each blocked writing to the other would never
//! read again). It drains the connection's [`OutQueues`]: session messages first, then the
//! routing task's updates.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::Notify;

use crate::exchange::updates::{OutQueues, UpdateSender, UPDATE_QUEUE};
use crate::exchange::PeerKey;
use crate::observe::{Observed, Observers};

/// Where to send bytes for one connection. Dropping the handle closes the connection once
/// what was queued is written.
#[derive(Debug)]
pub struct WriterHandle {
    queues: Arc<OutQueues>,
    /// UPDATE messages from the routing task written since the last `take_updates_sent`.
    updates_sent: Arc<AtomicU64>,
    /// Rung after such messages were written, so the session can count them.
    pub wrote_updates: Arc<Notify>,
}

impl WriterHandle {
    /// Queues a session message; false when the connection is gone.
    pub fn send_control(&self, bytes: Bytes) -> bool {
        self.queues.push_control(bytes)
    }

    /// The queue the routing task writes updates into.
    pub fn updates(&self) -> UpdateSender {
        self.queues.update_sender()
    }

    /// UPDATE messages written from the routing task's queue since the last call.
    pub fn take_updates_sent(&self) -> u64 {
        self.updates_sent.swap(0, Ordering::Relaxed)
    }
}

impl Drop for WriterHandle {
    fn drop(&mut self) {
        self.queues.close();
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

/// Starts the writer task for a connection's write half; what it writes from the routing
/// task is reported to `observers` as sent by session `key`.
pub fn spawn(mut half: OwnedWriteHalf, key: PeerKey, observers: Observers) -> WriterHandle {
    let queues = Arc::new(OutQueues::new(UPDATE_QUEUE));
    let updates_sent = Arc::new(AtomicU64::new(0));
    let wrote_updates = Arc::new(Notify::new());
    let (sent, wrote, queue) = (updates_sent.clone(), wrote_updates.clone(), queues.clone());
    tokio::spawn(async move {
        let write = async {
            while let Some((bytes, from_routing)) = queue.next().await {
                if half.write_all(&bytes).await.is_err() {
                    return;
                }
                if from_routing {
                    sent.fetch_add(count_messages(&bytes), Ordering::Relaxed);
                    wrote.notify_one();
                    if observers.is_watched() && !queue.is_closed() {
                        observers.report(&Observed::Sent {
                            key,
                            messages: &bytes,
                        });
                    }
                }
            }
            let _ = half.shutdown().await;
        };
        write.await;
        // What is still queued will not be written.
        queue.finish();
    });
    WriterHandle {
        queues,
        updates_sent,
        wrote_updates,
    }
}
