//! The in-memory queue store: the embedded default, and the reference the
//! other stores are tested against. It is authoritative and answers every
//! call directly; a restart loses the line (use the Redis store to survive
//! one).
//!
//! Each queue sits behind its own `RwLock`: polls of one sale share a read
//! lock, a join holds the write lock for a few hash-map operations, and
//! sales never contend with each other.

use std::collections::HashMap;
use std::sync::Arc;

use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};

use super::{
    ChangeFeed, EntryView, JoinedEntry, QueueInfo, QueueSignal, QueueStore, QueueTick, StoreError,
};
use crate::model::{
    LeaveOutcome, LineOrder, Queue, QueueId, QueueSettings, QueueStatus, Seq, UserId,
};

#[derive(Debug)]
struct Slot {
    epoch: u64,
    queue: RwLock<Queue>,
    changes: ChangeFeed,
}

fn signal(queue: &Queue) -> QueueSignal {
    QueueSignal {
        frontier: queue.counters().frontier,
        status: queue.status(),
    }
}

fn wall_clock_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[derive(Default, Debug)]
pub struct MemoryStore {
    queues: RwLock<HashMap<QueueId, Arc<Slot>>>,
    claims: Mutex<Claims>,
}

/// One-time tokens used, with when each may be forgotten.
#[derive(Default, Debug)]
struct Claims {
    until: HashMap<(QueueId, Box<str>), Instant>,
    /// Claims since the last sweep of the forgettable ones.
    since_sweep: usize,
}

impl Claims {
    /// Sweeps once per this many claims, so the map holds about the claims
    /// of one remembering period.
    const SWEEP_EVERY: usize = 4096;

    fn claim(&mut self, key: (QueueId, Box<str>), remember: Duration, now: Instant) -> bool {
        self.since_sweep += 1;
        if self.since_sweep >= Self::SWEEP_EVERY {
            self.since_sweep = 0;
            self.until.retain(|_, until| *until > now);
        }
        match self.until.get(&key) {
            Some(until) if *until > now => false,
            _ => {
                self.until.insert(key, now + remember);
                true
            }
        }
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn slot(&self, queue_id: &str) -> Option<Arc<Slot>> {
        self.queues.read().get(queue_id).cloned()
    }

    fn info(slot: &Slot, queue: &Queue) -> QueueInfo {
        QueueInfo {
            epoch: slot.epoch,
            settings: queue.settings(),
            status: queue.status(),
            counters: queue.counters(),
            view_age_ms: 0,
            schedule: queue.schedule(),
            drawn: queue.order().block(),
        }
    }

    fn view(slot: &Slot, queue: &Queue, seq: Seq) -> Option<EntryView> {
        let (user, state) = queue.entry(seq)?;
        let undrawn = queue.undrawn(seq);
        let position = match undrawn {
            Some(_) => 0,
            None => queue.position(seq),
        };
        Some(EntryView {
            epoch: slot.epoch,
            user: user.clone(),
            state,
            queue_status: queue.status(),
            position,
            eta_ms: queue.eta_ms(position),
            place: queue.place_of(seq),
            undrawn,
        })
    }
}

impl QueueStore for MemoryStore {
    async fn put_queue(
        &self,
        id: QueueId,
        settings: QueueSettings,
        initial_status: QueueStatus,
    ) -> Result<(QueueInfo, bool), StoreError> {
        let mut queues = self.queues.write();
        if let Some(slot) = queues.get(id.as_str()) {
            let mut queue = slot.queue.write();
            queue.update_settings(settings);
            return Ok((Self::info(slot, &queue), false));
        }
        let queue = Queue::new(settings, initial_status);
        let slot = Arc::new(Slot {
            epoch: rand::random(),
            changes: ChangeFeed::new(signal(&queue)),
            queue: RwLock::new(queue),
        });
        let info = Self::info(&slot, &slot.queue.read());
        queues.insert(id, slot);
        Ok((info, true))
    }

    async fn set_status(&self, id: &str, status: QueueStatus) -> Result<QueueInfo, StoreError> {
        let slot = self
            .slot(id)
            .ok_or_else(|| StoreError::QueueNotFound(id.to_string()))?;
        let mut queue = slot.queue.write();
        queue.set_status(status);
        slot.changes.publish(signal(&queue));
        Ok(Self::info(&slot, &queue))
    }

    async fn claim_once(
        &self,
        queue_id: &str,
        token: &str,
        remember_ms: u64,
    ) -> Result<bool, StoreError> {
        let id =
            QueueId::parse(queue_id).map_err(|_| StoreError::QueueNotFound(queue_id.into()))?;
        Ok(self.claims.lock().claim(
            (id, token.into()),
            Duration::from_millis(remember_ms),
            Instant::now(),
        ))
    }

    async fn delete_queue(&self, id: &str) -> Result<(), StoreError> {
        match self.queues.write().remove(id) {
            Some(_) => Ok(()),
            None => Err(StoreError::QueueNotFound(id.to_string())),
        }
    }

    async fn join(&self, queue_id: &str, user: UserId) -> Result<JoinedEntry, StoreError> {
        let queues = self.queues.read();
        let slot = queues
            .get(queue_id)
            .ok_or_else(|| StoreError::QueueNotFound(queue_id.to_string()))?;
        let mut queue = slot.queue.write();
        // No join after the opening may enter the pre-queue, whether or not
        // the admission loop has run since.
        if queue.open_if_due(wall_clock_ms()).is_some() {
            slot.changes.publish(signal(&queue));
        }
        let outcome = queue
            .join(user)
            .map_err(|_| StoreError::QueueClosed(queue_id.to_string()))?;
        let view =
            Self::view(slot, &queue, outcome.seq).expect("an entry that was just joined exists");
        Ok(JoinedEntry {
            created: outcome.created,
            seq: outcome.seq,
            view,
        })
    }

    async fn leave(&self, queue_id: &str, seq: Seq) -> Result<Option<LeaveOutcome>, StoreError> {
        let slot = self
            .slot(queue_id)
            .ok_or_else(|| StoreError::QueueNotFound(queue_id.to_string()))?;
        let outcome = slot.queue.write().leave(seq);
        Ok(outcome)
    }

    async fn tick(&self, now_ms: u64) -> Result<Vec<QueueTick>, StoreError> {
        let slots: Vec<(QueueId, Arc<Slot>)> = self
            .queues
            .read()
            .iter()
            .map(|(id, slot)| (id.clone(), slot.clone()))
            .collect();
        let mut ticks = Vec::new();
        for (queue_id, slot) in slots {
            let (outcome, draw_due) = {
                let mut queue = slot.queue.write();
                let draw_due = queue.open_if_due(now_ms);
                let outcome = queue.tick(now_ms);
                slot.changes.publish(signal(&queue));
                (outcome, draw_due)
            };
            if !outcome.admitted.is_empty() || !outcome.expired.is_empty() || draw_due.is_some() {
                ticks.push(QueueTick {
                    queue_id,
                    epoch: slot.epoch,
                    admitted: outcome.admitted,
                    expired: outcome.expired,
                    draw_due,
                    republished: Vec::new(),
                    last_batch: None,
                });
            }
        }
        Ok(ticks)
    }

    async fn commit_draw(
        &self,
        queue_id: &str,
        epoch: u64,
        order: LineOrder,
    ) -> Result<bool, StoreError> {
        let slot = self
            .slot(queue_id)
            .ok_or_else(|| StoreError::QueueNotFound(queue_id.to_string()))?;
        if slot.epoch != epoch {
            return Ok(false);
        }
        let mut queue = slot.queue.write();
        let committed = queue.commit_draw(order);
        slot.changes.publish(signal(&queue));
        Ok(committed)
    }

    fn drawn_order(&self, queue_id: &str) -> Option<LineOrder> {
        let queues = self.queues.read();
        let order = queues.get(queue_id)?.queue.read().order().clone();
        (order.block() > 0).then_some(order)
    }

    // Reads work under the map's read guard instead of cloning the slot's
    // `Arc`: every poll of a hot queue would otherwise bump the same
    // reference count from both cores.
    fn queue_info(&self, queue_id: &str) -> Option<QueueInfo> {
        let queues = self.queues.read();
        let slot = queues.get(queue_id)?;
        let queue = slot.queue.read();
        Some(Self::info(slot, &queue))
    }

    fn entry_view(&self, queue_id: &str, seq: Seq) -> Option<EntryView> {
        let queues = self.queues.read();
        let slot = queues.get(queue_id)?;
        let queue = slot.queue.read();
        Self::view(slot, &queue, seq)
    }

    fn queues(&self) -> Vec<(QueueId, QueueInfo)> {
        self.queues
            .read()
            .iter()
            .map(|(id, slot)| (id.clone(), Self::info(slot, &slot.queue.read())))
            .collect()
    }

    fn subscribe(&self, queue_id: &str) -> Option<tokio::sync::watch::Receiver<QueueSignal>> {
        Some(self.queues.read().get(queue_id)?.changes.subscribe())
    }

    fn healthy(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "memory"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::EntryState;

    fn settings() -> QueueSettings {
        QueueSettings::new(1000, 10, 60).unwrap()
    }

    #[test]
    fn a_claim_is_refused_while_remembered_and_forgotten_after() {
        let mut claims = Claims::default();
        let key = || (QueueId::parse("q").unwrap(), Box::<str>::from("nonce-1"));
        let t0 = Instant::now();
        let remember = Duration::from_secs(120);
        assert!(claims.claim(key(), remember, t0));
        assert!(!claims.claim(key(), remember, t0 + Duration::from_secs(119)));
        let other_queue = (QueueId::parse("r").unwrap(), Box::<str>::from("nonce-1"));
        assert!(claims.claim(other_queue, remember, t0));
        assert!(claims.claim(key(), remember, t0 + Duration::from_secs(121)));
        // Sweeps keep the map to what is still remembered.
        let later = t0 + Duration::from_secs(1000);
        for i in 0..Claims::SWEEP_EVERY {
            claims.claim(
                (QueueId::parse("q").unwrap(), format!("n{i}").into()),
                remember,
                later,
            );
        }
        assert_eq!(claims.until.len(), Claims::SWEEP_EVERY);
    }

    #[tokio::test]
    async fn a_queue_is_created_then_updated() {
        let store = MemoryStore::new();
        let id = QueueId::parse("q").unwrap();
        let (info, created) = store
            .put_queue(id.clone(), settings(), QueueStatus::Open)
            .await
            .unwrap();
        assert!(created);
        let new_settings = QueueSettings::new(5, 5, 5).unwrap();
        let (again, created) = store
            .put_queue(id, new_settings, QueueStatus::Paused)
            .await
            .unwrap();
        assert!(!created);
        assert_eq!(again.epoch, info.epoch);
        assert_eq!(again.settings, new_settings);
        assert_eq!(
            again.status,
            QueueStatus::Open,
            "an update keeps the status"
        );
    }

    #[tokio::test]
    async fn join_tick_and_leave_through_the_store() {
        let store = MemoryStore::new();
        store
            .put_queue(QueueId::parse("q").unwrap(), settings(), QueueStatus::Open)
            .await
            .unwrap();
        let joined = store.join("q", UserId::parse("u").unwrap()).await.unwrap();
        assert!(joined.created);
        assert_eq!(joined.view.position, 1);
        let ticks = store.tick(1_000_000).await.unwrap();
        assert_eq!(ticks[0].admitted.len(), 1);
        assert!(matches!(
            store.entry_view("q", joined.seq).unwrap().state,
            EntryState::Admitted { .. }
        ));
        assert_eq!(
            store.leave("q", joined.seq).await.unwrap(),
            Some(LeaveOutcome::LeftActive)
        );
        assert_eq!(store.queue_info("q").unwrap().counters.active, 0);
    }

    #[tokio::test]
    async fn unknown_and_closed_queues_are_reported() {
        let store = MemoryStore::new();
        let user = UserId::parse("u").unwrap();
        assert_eq!(
            store.join("nope", user.clone()).await,
            Err(StoreError::QueueNotFound("nope".into()))
        );
        store
            .put_queue(
                QueueId::parse("q").unwrap(),
                settings(),
                QueueStatus::Closed,
            )
            .await
            .unwrap();
        assert_eq!(
            store.join("q", user).await,
            Err(StoreError::QueueClosed("q".into()))
        );
        assert!(store.delete_queue("q").await.is_ok());
        assert!(store.delete_queue("q").await.is_err());
    }
}
