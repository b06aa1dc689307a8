//! Commands to a session's task (start, stop, clear, incoming connections, reconfigure): a
//! bounded queue that allocates only while it holds commands. They are rare, and a tokio
//! channel keeps its first block (32 slots, with the channel about 1 KB) in each of
//! hundreds of idle Calico sessions.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc::error::{SendError, TrySendError};
use tokio::sync::Notify;

use super::PeerCommand;

/// Commands that may wait; a sender beyond waits ([`CommandSender::send`]) or is refused
/// ([`CommandSender::try_send`]).
const CAPACITY: usize = 64;

#[derive(Debug)]
struct Shared {
    queue: Mutex<VecDeque<PeerCommand>>,
    senders: AtomicUsize,
    receiver_gone: AtomicBool,
    /// Rung for the receiver: a command, or the last sender gone.
    item: Notify,
    /// Rung for waiting senders: room, or the receiver gone.
    space: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, VecDeque<PeerCommand>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A queue to one session's task.
pub fn channel() -> (CommandSender, CommandReceiver) {
    let shared = Arc::new(Shared {
        queue: Mutex::new(VecDeque::new()),
        senders: AtomicUsize::new(1),
        receiver_gone: AtomicBool::new(false),
        item: Notify::new(),
        space: Notify::new(),
    });
    (
        CommandSender {
            shared: shared.clone(),
        },
        CommandReceiver { shared },
    )
}

/// Sends commands to a session's task.
#[derive(Debug)]
pub struct CommandSender {
    shared: Arc<Shared>,
}

impl CommandSender {
    /// Queues a command unless the queue is full or the task has ended.
    pub fn try_send(&self, command: PeerCommand) -> Result<(), TrySendError<PeerCommand>> {
        let mut queue = self.shared.lock();
        // Checked under the lock the receiver sets it under: nothing is queued after.
        if self.shared.receiver_gone.load(Ordering::Acquire) {
            return Err(TrySendError::Closed(command));
        }
        if queue.len() >= CAPACITY {
            return Err(TrySendError::Full(command));
        }
        queue.push_back(command);
        drop(queue);
        self.shared.item.notify_one();
        Ok(())
    }

    /// Queues a command, waiting for room; an error when the task has ended.
    pub async fn send(&self, mut command: PeerCommand) -> Result<(), SendError<PeerCommand>> {
        loop {
            // Created before trying: room made in between leaves a permit behind.
            let space = self.shared.space.notified();
            match self.try_send(command) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Closed(c)) => return Err(SendError(c)),
                Err(TrySendError::Full(c)) => command = c,
            }
            space.await;
        }
    }
}

impl Clone for CommandSender {
    fn clone(&self) -> Self {
        self.shared.senders.fetch_add(1, Ordering::AcqRel);
        CommandSender {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for CommandSender {
    fn drop(&mut self) {
        if self.shared.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.item.notify_one();
        }
    }
}

/// The session task's end.
#[derive(Debug)]
pub struct CommandReceiver {
    shared: Arc<Shared>,
}

impl CommandReceiver {
    /// The next command; `None` once every sender is dropped and nothing is queued.
    /// Cancel-safe: a command is only taken when it is returned.
    pub async fn recv(&mut self) -> Option<PeerCommand> {
        loop {
            let item = self.shared.item.notified();
            {
                let mut queue = self.shared.lock();
                if let Some(command) = queue.pop_front() {
                    if queue.is_empty() {
                        // Drained: an idle session holds no queue.
                        *queue = VecDeque::new();
                    }
                    drop(queue);
                    self.shared.space.notify_one();
                    return Some(command);
                }
                if self.shared.senders.load(Ordering::Acquire) == 0 {
                    return None;
                }
            }
            item.await;
        }
    }
}

impl Drop for CommandReceiver {
    fn drop(&mut self) {
        let mut queue = self.shared.lock();
        self.shared.receiver_gone.store(true, Ordering::Release);
        // Commands not taken (an accepted connection, say) are dropped now.
        *queue = VecDeque::new();
        drop(queue);
        self.shared.space.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(5), f)
            .await
            .expect("timed out")
    }

    #[tokio::test]
    async fn order_bound_and_waiting_senders() {
        let (tx, mut rx) = channel();
        for _ in 0..CAPACITY {
            tx.try_send(PeerCommand::Refresh).unwrap();
        }
        assert!(matches!(
            tx.try_send(PeerCommand::Clear),
            Err(TrySendError::Full(_))
        ));
        // A sender waiting for room gets in once the task takes one.
        let waiting = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send(PeerCommand::Clear).await.is_ok() }
        });
        tokio::task::yield_now().await;
        assert!(matches!(
            within(rx.recv()).await,
            Some(PeerCommand::Refresh)
        ));
        assert!(within(waiting).await.unwrap());
        for _ in 1..CAPACITY {
            assert!(matches!(
                within(rx.recv()).await,
                Some(PeerCommand::Refresh)
            ));
        }
        assert!(matches!(within(rx.recv()).await, Some(PeerCommand::Clear)));
        assert_eq!(rx.shared.lock().capacity(), 0);
    }

    #[tokio::test]
    async fn ends_when_every_sender_is_gone() {
        let (tx, mut rx) = channel();
        let other = tx.clone();
        tx.try_send(PeerCommand::Start).unwrap();
        drop(tx);
        drop(other);
        assert!(matches!(within(rx.recv()).await, Some(PeerCommand::Start)));
        assert!(within(rx.recv()).await.is_none());
    }

    #[tokio::test]
    async fn senders_see_a_finished_task() {
        let (tx, rx) = channel();
        for _ in 0..CAPACITY {
            tx.try_send(PeerCommand::Refresh).unwrap();
        }
        let waiting = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send(PeerCommand::Clear).await.is_err() }
        });
        tokio::task::yield_now().await;
        drop(rx);
        assert!(within(waiting).await.unwrap());
        assert!(matches!(
            tx.try_send(PeerCommand::Start),
            Err(TrySendError::Closed(_))
        ));
    }
}
