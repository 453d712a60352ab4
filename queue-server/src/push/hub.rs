//! One hub per watched queue: the task that decides which of the queue's
//! watchers is due a message, woken only by the queue's change signal, by
//! a new watcher, or by the earliest deadline among its watchers. A
//! million watchers are a million entries in two maps here, not a million
//! timers.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::mailbox::{Mailbox, Outgoing};
use super::shaping::{heartbeat_ms, unpark_delay_ms, update_interval_ms};
use super::StatusMessage;
use crate::model::Seq;
use crate::store::QueueSignal;

/// What a hub needs from the service: an entry's message as a poll would
/// answer it now, and the clock.
pub trait EntryMessages: Send + Sync + std::fmt::Debug + 'static {
    /// `None`: the entry (or its queue) no longer exists.
    fn message(&self, queue_id: &str, entry_id: &str, seq: Seq) -> Option<StatusMessage>;
    fn now_ms(&self) -> u64;
    fn message_sent(&self);
}

/// A stream handed to the hub after its first message was sent.
#[derive(Debug)]
pub struct NewWatcher {
    pub seq: Seq,
    pub entry_id: Box<str>,
    pub mailbox: Arc<Mailbox>,
    pub first: StatusMessage,
}

#[derive(Debug)]
pub enum HubCommand {
    Watch(NewWatcher),
    /// This server changed the entry at this place itself (a leave): tell
    /// its watchers now.
    EntryChanged(u64),
}

#[derive(Debug)]
struct Watcher {
    seq: Seq,
    entry_id: Box<str>,
    mailbox: Arc<Mailbox>,
    last_position: Option<u64>,
    /// The ETA its last message gave.
    last_eta_ms: u64,
    next_update_ms: u64,
    next_heartbeat_ms: u64,
    heartbeat_every_ms: u64,
    /// The line has not moved since its last position: no update is due
    /// until it does (it still gets heartbeats).
    parked: bool,
    /// Its entry in the deadline heap (older heap entries are stale).
    key_ms: u64,
}

impl Watcher {
    /// The ETA at `position`, scaled from the last one it was told (the
    /// line's pace per place is taken as unchanged).
    fn eta_at(&self, position: u64) -> u64 {
        match self.last_position {
            Some(last) if last > 0 => {
                (u128::from(self.last_eta_ms) * u128::from(position) / u128::from(last)) as u64
            }
            _ => self.last_eta_ms,
        }
    }
}

/// (place in admission order, watcher id): the frontier passes watchers in
/// key order.
type WatcherKey = (u64, u64);

/// The hub's state and decisions, without the task around it.
#[derive(Debug)]
pub struct HubState {
    queue_id: Box<str>,
    heartbeat_min_ms: u64,
    signal: QueueSignal,
    next_id: u64,
    watchers: BTreeMap<WatcherKey, Watcher>,
    deadlines: BinaryHeap<Reverse<(u64, WatcherKey)>>,
    parked: Vec<WatcherKey>,
}

impl HubState {
    pub fn new(queue_id: &str, signal: QueueSignal, heartbeat_min_ms: u64) -> Self {
        HubState {
            queue_id: queue_id.into(),
            heartbeat_min_ms,
            signal,
            next_id: 0,
            watchers: BTreeMap::new(),
            deadlines: BinaryHeap::new(),
            parked: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.watchers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.watchers.is_empty()
    }

    /// The earliest deadline, if any watcher has one.
    pub fn next_deadline_ms(&self) -> Option<u64> {
        self.deadlines.peek().map(|Reverse((at, _))| *at)
    }

    pub fn add(&mut self, new: NewWatcher, now_ms: u64, source: &dyn EntryMessages) {
        let id = self.next_id;
        self.next_id += 1;
        let heartbeat_every_ms = heartbeat_ms(id, self.heartbeat_min_ms);
        let key = (new.first.place, id);
        self.watchers.insert(
            key,
            Watcher {
                seq: new.seq,
                entry_id: new.entry_id,
                mailbox: new.mailbox,
                last_position: new.first.position,
                last_eta_ms: new.first.eta_ms,
                next_update_ms: now_ms + update_interval_ms(new.first.eta_ms),
                next_heartbeat_ms: now_ms + heartbeat_every_ms,
                heartbeat_every_ms,
                parked: false,
                key_ms: 0,
            },
        );
        if key.0 <= self.signal.frontier {
            // Admitted between its first message and its arrival here.
            self.deliver(key, now_ms, source);
        } else {
            self.schedule(key);
        }
    }

    /// The queue's signal changed: admissions and status changes go out at
    /// once; everyone else's next update follows its own schedule.
    pub fn on_signal(&mut self, signal: QueueSignal, now_ms: u64, source: &dyn EntryMessages) {
        let before = std::mem::replace(&mut self.signal, signal);
        if signal.status != before.status {
            let keys: Vec<WatcherKey> = self.watchers.keys().copied().collect();
            for key in keys {
                self.deliver(key, now_ms, source);
            }
        } else if signal.frontier > before.frontier {
            let passed: Vec<WatcherKey> = self
                .watchers
                .range((before.frontier + 1, 0)..=(signal.frontier, u64::MAX))
                .map(|(key, _)| *key)
                .collect();
            for key in passed {
                self.deliver(key, now_ms, source);
            }
        }
        if signal != before {
            // Spread, not at once (`shaping::unpark_delay_ms`), over the
            // interval of the position each watcher has now.
            for key in std::mem::take(&mut self.parked) {
                if let Some(watcher) = self.watchers.get_mut(&key) {
                    watcher.parked = false;
                    let interval =
                        update_interval_ms(watcher.eta_at(key.0 - signal.frontier.min(key.0)));
                    watcher.next_update_ms = watcher
                        .next_update_ms
                        .max(now_ms + unpark_delay_ms(key.1, interval));
                    self.schedule(key);
                }
            }
        }
    }

    /// Tells every watcher of the entry at `place` its state now.
    pub fn entry_changed(&mut self, place: u64, now_ms: u64, source: &dyn EntryMessages) {
        let keys: Vec<WatcherKey> = self
            .watchers
            .range((place, 0)..=(place, u64::MAX))
            .map(|(key, _)| *key)
            .collect();
        for key in keys {
            self.deliver(key, now_ms, source);
        }
    }

    /// Visits every watcher whose deadline has come.
    pub fn run_due(&mut self, now_ms: u64, source: &dyn EntryMessages) {
        while let Some(Reverse((at, key))) = self.deadlines.peek().copied() {
            if at > now_ms {
                break;
            }
            self.deadlines.pop();
            let Some(watcher) = self.watchers.get(&key) else {
                continue;
            };
            if watcher.key_ms != at {
                continue;
            }
            if watcher.mailbox.is_closed() {
                self.watchers.remove(&key);
                continue;
            }
            if !watcher.parked && now_ms >= watcher.next_update_ms {
                match source.message(&self.queue_id, &watcher.entry_id, watcher.seq) {
                    Some(message)
                        if message.terminal || message.position != watcher.last_position =>
                    {
                        self.send(key, message, now_ms, source);
                        continue;
                    }
                    Some(_) => {
                        let watcher = self.watchers.get_mut(&key).expect("looked up above");
                        watcher.parked = true;
                        self.parked.push(key);
                    }
                    None => {
                        self.finish(key, Outgoing::Gone);
                        continue;
                    }
                }
            }
            let watcher = self.watchers.get_mut(&key).expect("looked up above");
            if now_ms >= watcher.next_heartbeat_ms {
                watcher.mailbox.put(Outgoing::Heartbeat);
                watcher.next_heartbeat_ms = now_ms + watcher.heartbeat_every_ms;
            }
            self.schedule(key);
        }
    }

    /// Sends `final_message` to every watcher and forgets them all.
    pub fn finish_all(&mut self, final_message: Outgoing) {
        for (_, watcher) in std::mem::take(&mut self.watchers) {
            watcher.mailbox.put(final_message.clone());
        }
        self.deadlines.clear();
        self.parked.clear();
    }

    fn deliver(&mut self, key: WatcherKey, now_ms: u64, source: &dyn EntryMessages) {
        let Some(watcher) = self.watchers.get(&key) else {
            return;
        };
        if watcher.mailbox.is_closed() {
            self.watchers.remove(&key);
            return;
        }
        match source.message(&self.queue_id, &watcher.entry_id, watcher.seq) {
            Some(message) => self.send(key, message, now_ms, source),
            None => self.finish(key, Outgoing::Gone),
        }
    }

    fn send(
        &mut self,
        key: WatcherKey,
        message: StatusMessage,
        now_ms: u64,
        source: &dyn EntryMessages,
    ) {
        source.message_sent();
        if message.terminal {
            self.finish(
                key,
                Outgoing::Status {
                    json: message.json,
                    terminal: true,
                },
            );
            return;
        }
        let Some(watcher) = self.watchers.get_mut(&key) else {
            return;
        };
        watcher.mailbox.put(Outgoing::Status {
            json: message.json,
            terminal: false,
        });
        watcher.last_position = message.position;
        watcher.last_eta_ms = message.eta_ms;
        watcher.next_update_ms = now_ms + update_interval_ms(message.eta_ms);
        watcher.next_heartbeat_ms = now_ms + watcher.heartbeat_every_ms;
        if watcher.parked {
            watcher.parked = false;
            self.parked.retain(|k| *k != key);
        }
        let key = self.move_to_place(key, message.place);
        self.schedule(key);
    }

    /// A draw gave the entry its place: its watcher moves there, so that the
    /// frontier reaches it in draw order. Its old deadlines go stale.
    fn move_to_place(&mut self, key: WatcherKey, place: u64) -> WatcherKey {
        if place == key.0 {
            return key;
        }
        let Some(watcher) = self.watchers.remove(&key) else {
            return key;
        };
        let moved = (place, key.1);
        self.watchers.insert(moved, watcher);
        moved
    }

    fn finish(&mut self, key: WatcherKey, final_message: Outgoing) {
        if let Some(watcher) = self.watchers.remove(&key) {
            watcher.mailbox.put(final_message);
        }
    }

    fn schedule(&mut self, key: WatcherKey) {
        let Some(watcher) = self.watchers.get_mut(&key) else {
            return;
        };
        let at = if watcher.parked {
            watcher.next_heartbeat_ms
        } else {
            watcher.next_update_ms.min(watcher.next_heartbeat_ms)
        };
        watcher.key_ms = at;
        self.deadlines.push(Reverse((at, key)));
    }
}

/// What a hub runs on, besides its queue's signal.
#[derive(Debug)]
pub struct HubLinks {
    pub source: Arc<dyn EntryMessages>,
    pub commands: mpsc::UnboundedReceiver<HubCommand>,
    pub shutdown: watch::Receiver<bool>,
    pub heartbeat_min_ms: u64,
}

/// Runs one queue's hub until the queue is deleted or the server shuts down.
pub async fn run(queue_id: String, mut signal: watch::Receiver<QueueSignal>, links: HubLinks) {
    let HubLinks {
        source,
        mut commands,
        mut shutdown,
        heartbeat_min_ms,
    } = links;
    let mut state = HubState::new(&queue_id, *signal.borrow_and_update(), heartbeat_min_ms);
    loop {
        let now = source.now_ms();
        let sleep = state
            .next_deadline_ms()
            .map(|at| Duration::from_millis(at.saturating_sub(now)))
            .unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            changed = signal.changed() => {
                if changed.is_err() {
                    state.finish_all(Outgoing::Gone);
                    return;
                }
                let current = *signal.borrow_and_update();
                state.on_signal(current, source.now_ms(), &*source);
            }
            command = commands.recv() => match command {
                Some(HubCommand::Watch(new)) => state.add(new, source.now_ms(), &*source),
                Some(HubCommand::EntryChanged(place)) => {
                    state.entry_changed(place, source.now_ms(), &*source)
                }
                None => return,
            },
            _ = tokio::time::sleep(sleep) => {}
            _ = shutdown.wait_for(|stop| *stop) => {
                state.finish_all(Outgoing::Reconnect);
                return;
            }
        }
        state.run_due(source.now_ms(), &*source);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::QueueStatus;
    use bytes::Bytes;
    use parking_lot::Mutex;
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A line whose frontier and left entries the test sets.
    #[derive(Default, Debug)]
    struct FakeLine {
        frontier: AtomicU64,
        left: Mutex<Vec<Seq>>,
        gone: std::sync::atomic::AtomicBool,
        sent: AtomicU64,
        status: Mutex<&'static str>,
        /// Places a draw gave (seq → place); others are at their seq.
        places: Mutex<HashMap<Seq, u64>>,
    }

    impl EntryMessages for FakeLine {
        fn message(&self, _queue: &str, _entry: &str, seq: Seq) -> Option<StatusMessage> {
            if self.gone.load(Ordering::Relaxed) {
                return None;
            }
            let frontier = self.frontier.load(Ordering::Relaxed);
            if self.left.lock().contains(&seq) {
                return Some(StatusMessage::terminal(Bytes::from_static(b"left")));
            }
            let place = self.places.lock().get(&seq).copied().unwrap_or(seq);
            if place <= frontier {
                return Some(StatusMessage::terminal(Bytes::from_static(b"admitted")));
            }
            let position = place - frontier;
            let status = *self.status.lock();
            Some(StatusMessage::waiting(
                Bytes::from(format!("{status}:{position}")),
                place,
                position,
                position * 100, // 10 admissions a second
            ))
        }
        fn now_ms(&self) -> u64 {
            0
        }
        fn message_sent(&self) {
            self.sent.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn signal(frontier: Seq) -> QueueSignal {
        QueueSignal {
            frontier,
            status: QueueStatus::Open,
        }
    }

    fn watch(hub: &mut HubState, line: &FakeLine, seq: Seq, now: u64) -> Arc<Mailbox> {
        let mailbox = Arc::new(Mailbox::default());
        let first = line.message("q", "e", seq).unwrap();
        hub.add(
            NewWatcher {
                seq,
                entry_id: "e".into(),
                mailbox: mailbox.clone(),
                first,
            },
            now,
            line,
        );
        mailbox
    }

    fn take(mailbox: &Mailbox) -> Option<Outgoing> {
        mailbox.try_recv()
    }

    fn text(message: Option<Outgoing>) -> String {
        match message {
            Some(Outgoing::Status { json, .. }) => String::from_utf8(json.to_vec()).unwrap(),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn admissions_go_out_at_once_and_end_the_watch() {
        let line = FakeLine::default();
        *line.status.lock() = "open";
        let mut hub = HubState::new("q", signal(0), 15_000);
        let front = watch(&mut hub, &line, 2, 0);
        let back = watch(&mut hub, &line, 500, 0);
        line.frontier.store(2, Ordering::Relaxed);
        hub.on_signal(signal(2), 10, &line);
        assert_eq!(text(take(&front)), "admitted");
        assert_eq!(take(&back), None, "position updates wait for their time");
        assert_eq!(hub.len(), 1);
    }

    #[test]
    fn position_updates_follow_the_eta_and_stop_while_the_line_stands() {
        let line = FakeLine::default();
        *line.status.lock() = "open";
        let mut hub = HubState::new("q", signal(0), 15_000);
        // Position 40 at 10/s: eta 4 s, so an update at most every second.
        let mailbox = watch(&mut hub, &line, 40, 0);
        line.frontier.store(1, Ordering::Relaxed);
        hub.on_signal(signal(1), 100, &line);
        hub.run_due(500, &line);
        assert_eq!(take(&mailbox), None, "not before its interval");
        hub.run_due(1_000, &line);
        assert_eq!(text(take(&mailbox)), "open:39");
        // The line stands: the watcher is parked, nothing is sent.
        hub.run_due(5_000, &line);
        assert_eq!(take(&mailbox), None);
        // It moves again: the parked watcher is due within its interval.
        line.frontier.store(5, Ordering::Relaxed);
        hub.on_signal(signal(5), 6_000, &line);
        hub.run_due(6_000 + 999, &line);
        assert_eq!(text(take(&mailbox)), "open:35");
    }

    #[test]
    fn idle_watchers_get_heartbeats_and_closed_ones_are_forgotten() {
        let line = FakeLine::default();
        *line.status.lock() = "open";
        let mut hub = HubState::new("q", signal(0), 15_000);
        let idle = watch(&mut hub, &line, 10, 0);
        let closed = watch(&mut hub, &line, 11, 0);
        closed.close();
        hub.run_due(14_999, &line);
        hub.run_due(26_000, &line);
        assert_eq!(take(&idle), Some(Outgoing::Heartbeat));
        assert_eq!(hub.len(), 1);
    }

    #[test]
    fn after_a_draw_the_frontier_reaches_watchers_in_draw_order() {
        let line = FakeLine::default();
        *line.status.lock() = "prequeue";
        let mut hub = HubState::new("q", signal(0), 15_000);
        let boxes: Vec<_> = (1..=3).map(|seq| watch(&mut hub, &line, seq, 0)).collect();
        // The draw puts seq 3 first, then 1, then 2, and opens the queue.
        *line.places.lock() = HashMap::from([(3, 1), (1, 2), (2, 3)]);
        *line.status.lock() = "open";
        hub.on_signal(
            QueueSignal {
                frontier: 0,
                status: QueueStatus::Paused,
            },
            10,
            &line,
        );
        let told: Vec<String> = boxes.iter().map(|b| text(take(b))).collect();
        assert_eq!(told, ["open:2", "open:3", "open:1"]);
        line.frontier.store(1, Ordering::Relaxed);
        hub.on_signal(
            QueueSignal {
                frontier: 1,
                status: QueueStatus::Paused,
            },
            20,
            &line,
        );
        assert_eq!(text(take(&boxes[2])), "admitted", "place 1 is seq 3");
        assert_eq!(take(&boxes[0]), None, "seq 1 waits at place 2");
        assert_eq!(hub.len(), 2);
    }

    #[test]
    fn a_status_change_reaches_everyone_and_a_deletion_ends_everyone() {
        let line = FakeLine::default();
        *line.status.lock() = "open";
        let mut hub = HubState::new("q", signal(0), 15_000);
        let boxes: Vec<_> = (1..=100)
            .map(|seq| watch(&mut hub, &line, seq * 1000, 0))
            .collect();
        *line.status.lock() = "paused";
        hub.on_signal(
            QueueSignal {
                frontier: 0,
                status: QueueStatus::Paused,
            },
            50,
            &line,
        );
        for (i, mailbox) in boxes.iter().enumerate() {
            assert_eq!(text(take(mailbox)), format!("paused:{}", (i + 1) * 1000));
        }
        line.gone.store(true, Ordering::Relaxed);
        hub.finish_all(Outgoing::Gone);
        assert!(boxes.iter().all(|m| take(m) == Some(Outgoing::Gone)));
        assert!(hub.is_empty());
    }

    #[test]
    fn a_leave_on_this_server_is_told_at_once() {
        let line = FakeLine::default();
        *line.status.lock() = "open";
        let mut hub = HubState::new("q", signal(0), 15_000);
        let tab1 = watch(&mut hub, &line, 7, 0);
        let tab2 = watch(&mut hub, &line, 7, 0);
        let other = watch(&mut hub, &line, 8, 0);
        line.left.lock().push(7);
        hub.entry_changed(7, 10, &line);
        assert_eq!(text(take(&tab1)), "left");
        assert_eq!(text(take(&tab2)), "left");
        assert_eq!(take(&other), None);
        assert_eq!(hub.len(), 1);
    }

    #[test]
    fn a_line_that_moves_after_standing_still_wakes_its_watchers_gradually() {
        // 10,000 watchers far back (positions 1,001-11,000 at 10/s: intervals
        // of 25-30 s), parked while the line stands for a minute.
        let line = FakeLine::default();
        *line.status.lock() = "open";
        let mut hub = HubState::new("q", signal(0), 60_000);
        let boxes: Vec<_> = (1_001..=11_000)
            .map(|seq| watch(&mut hub, &line, seq, 0))
            .collect();
        hub.run_due(60_000, &line);
        let drain = |boxes: &[Arc<Mailbox>]| boxes.iter().filter_map(|m| take(m)).count();
        drain(&boxes);
        let before = line.sent.load(Ordering::Relaxed);
        // Then it moves: the admission goes out at once, the positions are
        // spread over the watchers' intervals instead of all in this instant.
        line.frontier.store(1_001, Ordering::Relaxed);
        hub.on_signal(signal(1_001), 61_000, &line);
        hub.run_due(61_000, &line);
        let at_once = line.sent.load(Ordering::Relaxed) - before;
        assert!(
            (1..=5).contains(&at_once),
            "the admission and hardly anyone else: {at_once}"
        );
        let mut per_second = Vec::new();
        for second in 1..=30 {
            let sent_before = line.sent.load(Ordering::Relaxed);
            for tick in 1..=10 {
                hub.run_due(61_000 + (second - 1) * 1_000 + tick * 100, &line);
            }
            per_second.push(line.sent.load(Ordering::Relaxed) - sent_before);
            drain(&boxes);
        }
        let most = *per_second.iter().max().unwrap();
        // Unspread, all 10,000 would go in the first instant.
        assert!(
            most <= 1_000,
            "at most {most} in one second: {per_second:?}"
        );
        assert_eq!(
            at_once + per_second.iter().sum::<u64>(),
            10_000,
            "everyone hears in the end"
        );
    }

    #[test]
    fn messages_to_many_watchers_stay_under_the_bound() {
        // 10,000 watchers, 10 admitted a second (FakeLine's ETA), for 60
        // simulated seconds.
        let line = FakeLine::default();
        *line.status.lock() = "open";
        let mut hub = HubState::new("q", signal(0), 15_000);
        let boxes: HashMap<u64, Arc<Mailbox>> = (1..=10_000)
            .map(|seq| (seq, watch(&mut hub, &line, seq, 0)))
            .collect();
        let mut now = 0;
        for _ in 0..600 {
            now += 100;
            let frontier = now / 100;
            line.frontier.store(frontier, Ordering::Relaxed);
            hub.on_signal(signal(frontier), now, &line);
            hub.run_due(now, &line);
            for mailbox in boxes.values() {
                take(mailbox);
            }
        }
        let sent = line.sent.load(Ordering::Relaxed) as f64;
        let bound = super::super::shaping::message_rate_bound(10_000, 10) * 60.0;
        assert!(sent <= bound, "{sent} messages, bound {bound}");
        assert!(sent >= 600.0, "every admission is a message: {sent}");
    }
}
