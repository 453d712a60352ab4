//! The hand-off between a queue's hub and one stream: a one-message slot
//! that always holds the latest thing worth sending. A slow client never
//! makes the hub wait or queue: a newer position replaces an unsent older
//! one, and a final message (terminal status, reconnect, queue gone) is
//! never replaced.

use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::Notify;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// The poll's JSON body; `terminal` after admitted, expired or left.
    Status { json: Bytes, terminal: bool },
    /// Nothing new: keep the connection warm.
    Heartbeat,
    /// The server is shutting down: reconnect (to another server).
    Reconnect,
    /// The queue was deleted.
    Gone,
}

impl Outgoing {
    pub fn is_final(&self) -> bool {
        match self {
            Outgoing::Status { terminal, .. } => *terminal,
            Outgoing::Heartbeat => false,
            Outgoing::Reconnect | Outgoing::Gone => true,
        }
    }
}

#[derive(Debug, Default)]
pub struct Mailbox {
    slot: Mutex<Option<Outgoing>>,
    notify: Notify,
    closed: AtomicBool,
}

impl Mailbox {
    pub fn put(&self, message: Outgoing) {
        {
            let mut slot = self.slot.lock();
            match (&*slot, &message) {
                (Some(current), _) if current.is_final() => return,
                (Some(_), Outgoing::Heartbeat) => return,
                _ => *slot = Some(message),
            }
        }
        self.notify.notify_one();
    }

    /// The next message; waits for one.
    pub async fn recv(&self) -> Outgoing {
        loop {
            if let Some(message) = self.slot.lock().take() {
                return message;
            }
            self.notify.notified().await;
        }
    }

    /// The message waiting now, if any.
    pub fn try_recv(&self) -> Option<Outgoing> {
        self.slot.lock().take()
    }

    /// The stream is gone; the hub forgets it on its next visit.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(json: &'static str, terminal: bool) -> Outgoing {
        Outgoing::Status {
            json: Bytes::from_static(json.as_bytes()),
            terminal,
        }
    }

    #[tokio::test]
    async fn the_latest_status_wins_and_a_final_one_stays() {
        let mailbox = Mailbox::default();
        mailbox.put(status("1", false));
        mailbox.put(status("2", false));
        mailbox.put(Outgoing::Heartbeat);
        assert_eq!(mailbox.recv().await, status("2", false));
        mailbox.put(Outgoing::Heartbeat);
        assert_eq!(mailbox.recv().await, Outgoing::Heartbeat);
        mailbox.put(status("admitted", true));
        mailbox.put(status("3", false));
        mailbox.put(Outgoing::Reconnect);
        assert_eq!(mailbox.recv().await, status("admitted", true));
    }

    #[tokio::test]
    async fn a_waiting_receiver_is_woken() {
        let mailbox = std::sync::Arc::new(Mailbox::default());
        let receiver = tokio::spawn({
            let mailbox = mailbox.clone();
            async move { mailbox.recv().await }
        });
        tokio::task::yield_now().await;
        mailbox.put(Outgoing::Gone);
        assert_eq!(receiver.await.unwrap(), Outgoing::Gone);
    }
}
