//! Push: waiting fans watch their entry over Server-Sent Events or a
//! WebSocket instead of polling (the contract is in
//! proto-notes/queue-server.md). This layer sits beside the service:
//! - [`Watchers`]: the registry of every open stream of this server, the
//!   per-IP cap, and one [`hub`] task per watched queue;
//! - [`hub`]: who is due a message and when, woken by the store's
//!   [`QueueSignal`](crate::store::QueueSignal) (the one change notification
//!   of the store layer) and by its own earliest deadline;
//! - [`shaping`]: the rate-shaping rule and the bound on the total rate;
//! - [`mailbox`]: the latest-message slot between a hub and one stream.
//!
//! The HTTP layer only frames what a [`StreamGuard`] yields (`http/stream.rs`).

pub mod hub;
pub mod mailbox;
pub mod shaping;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use prometheus_client::metrics::counter::Counter;
use tokio::sync::{mpsc, watch};

pub use hub::{EntryMessages, HubCommand, HubLinks, NewWatcher};
pub use mailbox::{Mailbox, Outgoing};

use crate::model::QueueId;

/// One message for a watcher, with what the hub needs to schedule the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusMessage {
    pub json: Bytes,
    pub terminal: bool,
    /// While waiting with a place.
    pub position: Option<u64>,
    pub eta_ms: u64,
    /// The entry's place in admission order (its seq unless a draw placed
    /// it): the hub keeps its watchers in this order.
    pub place: u64,
}

impl StatusMessage {
    pub fn waiting(json: Bytes, place: u64, position: u64, eta_ms: u64) -> Self {
        StatusMessage {
            json,
            terminal: false,
            position: Some(position),
            eta_ms,
            place,
        }
    }

    /// In a pre-queue not drawn yet: nothing changes for it until the draw,
    /// which changes the queue's status and so reaches every watcher.
    pub fn undrawn(json: Bytes, place: u64) -> Self {
        StatusMessage {
            json,
            terminal: false,
            position: None,
            eta_ms: 0,
            place,
        }
    }

    pub fn terminal(json: Bytes) -> Self {
        StatusMessage {
            json,
            terminal: true,
            position: None,
            eta_ms: 0,
            place: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    Sse,
    WebSocket,
}

impl StreamKind {
    pub const ALL: [StreamKind; 2] = [StreamKind::Sse, StreamKind::WebSocket];

    pub fn as_str(self) -> &'static str {
        match self {
            StreamKind::Sse => "sse",
            StreamKind::WebSocket => "websocket",
        }
    }
}

/// Counters of the push layer, rendered by `metrics.rs`.
#[derive(Debug, Default)]
pub struct PushStats {
    pub open: [AtomicU64; 2],
    pub messages: Counter,
    pub refused_per_ip: Counter,
}

impl PushStats {
    pub fn open(&self, kind: StreamKind) -> u64 {
        self.open[kind as usize].load(Ordering::Relaxed)
    }
}

/// Every stream this server holds, grouped by queue.
#[derive(Debug)]
pub struct Watchers {
    hubs: Mutex<HashMap<QueueId, mpsc::UnboundedSender<HubCommand>>>,
    per_ip: Mutex<HashMap<IpAddr, u32>>,
    /// 0: no cap.
    max_per_ip: u32,
    heartbeat_min_ms: u64,
    shutdown: watch::Sender<bool>,
    stats: PushStats,
}

/// The per-IP cap on open streams was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyStreams {
    pub limit: u32,
}

impl Watchers {
    /// `max_per_ip`: open streams one address may hold (0: no cap);
    /// `heartbeat_min`: the shortest heartbeat period (see `shaping`).
    pub fn new(max_per_ip: u32, heartbeat_min: Duration) -> Self {
        Watchers {
            hubs: Mutex::new(HashMap::new()),
            per_ip: Mutex::new(HashMap::new()),
            max_per_ip,
            heartbeat_min_ms: (heartbeat_min.as_millis() as u64).max(1),
            shutdown: watch::Sender::new(false),
            stats: PushStats::default(),
        }
    }

    pub fn stats(&self) -> &PushStats {
        &self.stats
    }

    /// Counts a new stream from `peer` against the cap; the guard uncounts it.
    pub fn open(
        self: &Arc<Self>,
        kind: StreamKind,
        peer: Option<IpAddr>,
    ) -> Result<StreamGuard, TooManyStreams> {
        if let (Some(ip), limit @ 1..) = (peer, self.max_per_ip) {
            let mut per_ip = self.per_ip.lock();
            let open = per_ip.entry(ip).or_insert(0);
            if *open >= limit {
                self.stats.refused_per_ip.inc();
                return Err(TooManyStreams { limit });
            }
            *open += 1;
        }
        self.stats.open[kind as usize].fetch_add(1, Ordering::Relaxed);
        Ok(StreamGuard {
            watchers: self.clone(),
            kind,
            peer: peer.filter(|_| self.max_per_ip > 0),
            mailbox: Arc::new(Mailbox::default()),
        })
    }

    /// Hands a stream to its queue's hub, starting the hub when the queue
    /// has none (`spawn_hub` starts one on the links it is given).
    pub fn register(
        &self,
        queue: &QueueId,
        watcher: NewWatcher,
        source: Arc<dyn EntryMessages>,
        spawn_hub: impl FnOnce(HubLinks),
    ) {
        let mut hubs = self.hubs.lock();
        let command = HubCommand::Watch(watcher);
        let command = match hubs.get(queue) {
            Some(hub) => match hub.send(command) {
                Ok(()) => return,
                // That hub ended (its queue was deleted): start a new one.
                Err(mpsc::error::SendError(command)) => command,
            },
            None => command,
        };
        // Hubs of deleted queues have ended; forget them while starting one.
        hubs.retain(|_, hub| !hub.is_closed());
        let (sender, receiver) = mpsc::unbounded_channel();
        let _ = sender.send(command);
        hubs.insert(queue.clone(), sender);
        spawn_hub(HubLinks {
            source,
            commands: receiver,
            shutdown: self.shutdown.subscribe(),
            heartbeat_min_ms: self.heartbeat_min_ms,
        });
    }

    /// This server changed the entry at `place` itself: its watchers hear
    /// at once.
    pub fn entry_changed(&self, queue_id: &str, place: u64) {
        if let Some(hub) = self.hubs.lock().get(queue_id) {
            let _ = hub.send(HubCommand::EntryChanged(place));
        }
    }

    /// Tells every stream to reconnect elsewhere, then waits up to `grace`
    /// for them to close.
    pub async fn shutdown(&self, grace: Duration) {
        let _ = self.shutdown.send(true);
        let deadline = tokio::time::Instant::now() + grace;
        while self.open_streams() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    pub fn open_streams(&self) -> u64 {
        StreamKind::ALL.iter().map(|k| self.stats.open(*k)).sum()
    }

    pub fn count_message(&self) {
        self.stats.messages.inc();
    }
}

/// One open stream: its mailbox, and its place in the counts until dropped.
#[derive(Debug)]
pub struct StreamGuard {
    watchers: Arc<Watchers>,
    kind: StreamKind,
    peer: Option<IpAddr>,
    mailbox: Arc<Mailbox>,
}

impl StreamGuard {
    pub fn mailbox(&self) -> &Arc<Mailbox> {
        &self.mailbox
    }

    pub async fn recv(&self) -> Outgoing {
        self.mailbox.recv().await
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.mailbox.close();
        self.watchers.stats.open[self.kind as usize].fetch_sub(1, Ordering::Relaxed);
        if let Some(ip) = self.peer {
            let mut per_ip = self.watchers.per_ip.lock();
            if let Some(open) = per_ip.get_mut(&ip) {
                *open -= 1;
                if *open == 0 {
                    per_ip.remove(&ip);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_per_ip_cap_counts_open_streams_only() {
        let watchers = Arc::new(Watchers::new(2, Duration::from_secs(15)));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let a = watchers.open(StreamKind::Sse, Some(ip)).unwrap();
        let _b = watchers.open(StreamKind::WebSocket, Some(ip)).unwrap();
        assert_eq!(
            watchers.open(StreamKind::Sse, Some(ip)).err(),
            Some(TooManyStreams { limit: 2 })
        );
        assert!(watchers
            .open(StreamKind::Sse, Some("10.0.0.2".parse().unwrap()))
            .is_ok());
        drop(a);
        assert!(watchers.open(StreamKind::Sse, Some(ip)).is_ok());
        assert_eq!(watchers.stats().refused_per_ip.get(), 1);
        assert_eq!(watchers.stats().open(StreamKind::WebSocket), 1);
    }
}
