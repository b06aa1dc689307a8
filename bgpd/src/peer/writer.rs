//! The writing half of a BGP connection, in its own task so that reading never waits on a
//! peer that is slow to read (two speakers each blocked writing to the other would never
//! read again).
//!
//! Two queues feed it: session control messages (OPEN, KEEPALIVE, NOTIFICATION,
//! ROUTE-REFRESH; few, unbounded, written first) and route updates from the routing task
//! (bounded; the routing task never waits on a full queue but resynchronises the peer).

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;

/// How many update messages may wait for one peer before the routing task stops queueing
/// and falls back to a resync.
pub const UPDATE_QUEUE: usize = 16 * 1024;

/// Where to send bytes for one connection. Dropping every handle closes the connection
/// once what was queued is written.
#[derive(Debug, Clone)]
pub struct WriterHandle {
    control: mpsc::UnboundedSender<Bytes>,
    updates: mpsc::Sender<Bytes>,
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
}

/// Starts the writer task for a connection's write half.
pub fn spawn(mut half: OwnedWriteHalf) -> WriterHandle {
    let (control, mut control_rx) = mpsc::unbounded_channel::<Bytes>();
    let (updates, mut updates_rx) = mpsc::channel::<Bytes>(UPDATE_QUEUE);
    tokio::spawn(async move {
        let mut control_open = true;
        let mut updates_open = true;
        while control_open || updates_open {
            let next = tokio::select! {
                biased;
                m = control_rx.recv(), if control_open => match m {
                    Some(m) => Some(m),
                    None => { control_open = false; None }
                },
                m = updates_rx.recv(), if updates_open => match m {
                    Some(m) => Some(m),
                    None => { updates_open = false; None }
                },
            };
            // Once the session lets go of the control queue the connection is closing:
            // routing's queued updates are no longer wanted.
            if !control_open {
                break;
            }
            if let Some(bytes) = next {
                if half.write_all(&bytes).await.is_err() {
                    return;
                }
            }
        }
        let _ = half.shutdown().await;
    });
    WriterHandle { control, updates }
}
