//! A connection's outgoing queues: session messages (OPEN, KEEPALIVE, NOTIFICATION,
//! ROUTE-REFRESH; few, unbounded, written first) and route updates from the routing task
//! (bounded; the routing task never waits on a full queue but resynchronises the peer).
//! The peer task's writer drains them; the routing task fills the update
//! queue through an [`UpdateSender`].

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::Notify;

/// How many update messages may wait for one peer before the routing task stops queueing
/// and falls back to a resync.
pub const UPDATE_QUEUE: usize = 16 * 1024;

/// What waits for the writer: session messages (few, unbounded, written first) and the
/// routing task's UPDATE buffers (bounded). Two locked queues that allocate only while they
/// hold something, rather than channels, whose first blocks (32 slots, 1 KB each, plus
/// about 500 bytes of channel) hundreds of idle sessions would hold.
#[derive(Debug)]
pub struct OutQueues {
    pending: Mutex<Queued>,
    /// Most UPDATE buffers that may wait.
    update_cap: usize,
    /// The handle was dropped: write the session messages queued, then close.
    closed: AtomicBool,
    /// The writer task has ended (the connection failed): nothing more is written.
    gone: AtomicBool,
    ready: Notify,
}

#[derive(Debug, Default)]
struct Queued {
    control: VecDeque<Bytes>,
    updates: VecDeque<Bytes>,
}

/// Takes the first of a queue, dropping its storage once empty.
fn pop(queue: &mut VecDeque<Bytes>) -> Option<Bytes> {
    let first = queue.pop_front();
    if queue.is_empty() && queue.capacity() != 0 {
        *queue = VecDeque::new();
    }
    first
}

impl OutQueues {
    /// Empty queues; at most `update_cap` UPDATE buffers may wait.
    pub fn new(update_cap: usize) -> Self {
        OutQueues {
            pending: Mutex::default(),
            update_cap,
            closed: AtomicBool::new(false),
            gone: AtomicBool::new(false),
            ready: Notify::new(),
        }
    }

    /// The routing task's end of the update queue.
    pub fn update_sender(self: &Arc<Self>) -> UpdateSender {
        UpdateSender(self.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queued> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a session message; false once the writer has ended.
    pub fn push_control(&self, bytes: Bytes) -> bool {
        let mut p = self.lock();
        // Checked under the lock the writer sets it under: nothing is queued after.
        if self.gone.load(Ordering::Acquire) {
            return false;
        }
        p.control.push_back(bytes);
        drop(p);
        self.ready.notify_one();
        true
    }

    /// The writer has ended: refuse and drop whatever comes.
    pub fn finish(&self) {
        let mut p = self.lock();
        self.gone.store(true, Ordering::Release);
        *p = Queued::default();
    }

    /// The handle was dropped (the session is done with the connection).
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Marks the handle dropped: the writer writes the session messages left, then ends.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.ready.notify_one();
    }

    /// The next message and whether it came from the routing task; session messages
    /// first. `None` once closed with no session message left (the routing task's queued
    /// updates are no longer wanted then). Cancel-safe: a message is only taken when it
    /// is returned.
    pub async fn next(&self) -> Option<(Bytes, bool)> {
        loop {
            // Created before the checks: a push in between leaves a permit behind.
            let notified = self.ready.notified();
            {
                let mut p = self.lock();
                if let Some(b) = pop(&mut p.control) {
                    return Some((b, false));
                }
                if self.closed.load(Ordering::Acquire) {
                    return None;
                }
                if let Some(b) = pop(&mut p.updates) {
                    return Some((b, true));
                }
            }
            notified.await;
        }
    }
}

/// The routing task's end of a connection's UPDATE queue: never waits; a full queue is
/// the caller's to handle (a resync).
#[derive(Debug, Clone)]
pub struct UpdateSender(Arc<OutQueues>);

impl UpdateSender {
    /// A queue of at most `cap` buffers with no writer (tests read it with
    /// [`UpdateSender::try_recv`]).
    #[cfg(test)]
    pub fn unattached(cap: usize) -> Self {
        UpdateSender(Arc::new(OutQueues::new(cap)))
    }

    /// Queues a buffer of whole UPDATE messages.
    pub fn try_send(&self, bytes: Bytes) -> Result<(), TrySendError<Bytes>> {
        let mut p = self.0.lock();
        if self.0.gone.load(Ordering::Acquire) {
            return Err(TrySendError::Closed(bytes));
        }
        if p.updates.len() >= self.0.update_cap {
            return Err(TrySendError::Full(bytes));
        }
        p.updates.push_back(bytes);
        drop(p);
        self.0.ready.notify_one();
        Ok(())
    }

    /// Queues several buffers of whole UPDATE messages, all or none.
    pub fn try_send_parts(&self, parts: &[Bytes]) -> Result<(), TrySendError<()>> {
        let mut p = self.0.lock();
        if self.0.gone.load(Ordering::Acquire) {
            return Err(TrySendError::Closed(()));
        }
        if p.updates.len() + parts.len() > self.0.update_cap {
            return Err(TrySendError::Full(()));
        }
        p.updates.extend(parts.iter().cloned());
        drop(p);
        self.0.ready.notify_one();
        Ok(())
    }

    /// Room left, in buffers.
    pub fn capacity(&self) -> usize {
        self.0
            .update_cap
            .saturating_sub(self.0.lock().updates.len())
    }

    /// Room when empty.
    pub fn max_capacity(&self) -> usize {
        self.0.update_cap
    }

    /// The first queued buffer (tests stand in for the writer).
    #[cfg(test)]
    pub fn try_recv(&self) -> Option<Bytes> {
        pop(&mut self.0.lock().updates)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn session_messages_first_and_updates_bounded() {
        let q = Arc::new(OutQueues::new(2));
        let tx = UpdateSender(q.clone());
        assert!(tx.try_send(Bytes::from_static(b"u1")).is_ok());
        assert!(tx.try_send(Bytes::from_static(b"u2")).is_ok());
        assert!(matches!(
            tx.try_send(Bytes::from_static(b"u3")),
            Err(TrySendError::Full(_))
        ));
        assert_eq!((tx.capacity(), tx.max_capacity()), (0, 2));
        assert!(q.push_control(Bytes::from_static(b"c1")));
        let order: Vec<(Bytes, bool)> = vec![
            q.next().await.unwrap(),
            q.next().await.unwrap(),
            q.next().await.unwrap(),
        ];
        assert_eq!(
            order,
            vec![
                (Bytes::from_static(b"c1"), false),
                (Bytes::from_static(b"u1"), true),
                (Bytes::from_static(b"u2"), true)
            ]
        );
        // Drained: nothing kept allocated.
        let p = q.lock();
        assert_eq!((p.control.capacity(), p.updates.capacity()), (0, 0));
    }

    #[tokio::test]
    async fn closing_writes_session_messages_but_not_updates() {
        let q = Arc::new(OutQueues::new(8));
        let tx = UpdateSender(q.clone());
        assert!(tx.try_send(Bytes::from_static(b"u")).is_ok());
        assert!(q.push_control(Bytes::from_static(b"notification")));
        q.close();
        assert_eq!(
            q.next().await,
            Some((Bytes::from_static(b"notification"), false))
        );
        assert_eq!(q.next().await, None);
        q.finish();
        assert!(matches!(
            tx.try_send(Bytes::from_static(b"late")),
            Err(TrySendError::Closed(_))
        ));
        assert!(!q.push_control(Bytes::from_static(b"late")));
    }

    #[tokio::test]
    async fn a_waiting_writer_wakes_for_an_update() {
        let q = Arc::new(OutQueues::new(8));
        let tx = UpdateSender(q.clone());
        let waiter = tokio::spawn({
            let q = q.clone();
            async move { q.next().await }
        });
        tokio::task::yield_now().await;
        assert!(tx.try_send(Bytes::from_static(b"u")).is_ok());
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), waiter).await;
        assert_eq!(
            got.ok().and_then(Result::ok).flatten(),
            Some((Bytes::from_static(b"u"), true))
        );
    }
}
