//! Keeping the mirrors current: the background refresh task and the
//! refresh of one queue (also forced after taking a lease and after admin
//! changes).
//!
//! The task also discovers queues created or deleted by other servers (the
//! registry set) and, by calling Redis every 50 ms whatever happens, is the
//! probe that notices when Redis is back after an outage.

use std::collections::HashSet;
use std::sync::{Arc, Weak};

use redis::Value;

use super::health::bad_reply;
use super::keys::QueueKeys;
use super::mirror::{self, Mirror, REFRESH_INTERVAL};
use super::snapshot::Snapshot;
use super::{now_ms, Inner, Slot};
use crate::model::{LineOrder, QueueId};
use crate::store::StoreError;

pub(super) async fn refresh_loop(inner: Weak<Inner>) {
    let mut interval = tokio::time::interval(REFRESH_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let _ = inner.refresh_all().await;
    }
}

impl Inner {
    /// Discovers created and deleted queues, then refreshes every mirror.
    pub(super) async fn refresh_all(self: &Arc<Self>) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let ids: Vec<String> = self
            .run(
                redis::cmd("SMEMBERS")
                    .arg(self.layout.registry())
                    .query_async(&mut conn),
            )
            .await?;
        let ids: HashSet<QueueId> = ids
            .iter()
            .filter_map(|id| QueueId::parse(id).ok())
            .collect();
        self.queues.write().retain(|id, _| ids.contains(id));
        let mut tasks = tokio::task::JoinSet::new();
        for id in ids {
            let inner = self.clone();
            tasks.spawn(async move { inner.refresh_queue(&id).await });
        }
        let mut result = Ok(());
        while let Some(done) = tasks.join_next().await {
            if let Ok(Err(e)) = done {
                result = Err(e);
            }
        }
        result
    }

    /// Brings one queue's mirror up to date (creating or dropping it).
    pub(super) async fn refresh_queue(&self, id: &QueueId) -> Result<(), StoreError> {
        let existing = self.queues.read().get(id).cloned();
        let cursor = existing
            .as_ref()
            .map(|slot| slot.mirror.read().cursor())
            .unwrap_or(mirror::Cursor::START);
        let keys = match &existing {
            Some(slot) => slot.keys.clone(),
            None => Arc::new(self.layout.queue(id)),
        };
        let snapshot = self.fetch_snapshot(&keys, cursor).await?;
        let Some(snapshot) = snapshot else {
            self.queues.write().remove(id);
            return Ok(());
        };
        let now = now_ms();
        match existing {
            Some(slot) if slot.mirror.read().same_incarnation(&snapshot) => {
                slot.mirror.write().apply(snapshot, now);
                self.fetch_order_if_missing(&slot).await?;
                slot.publish_changes();
            }
            _ => {
                // New to this server, or deleted and created again: build
                // the mirror from the start of the log.
                let snapshot = if cursor == mirror::Cursor::START {
                    Some(snapshot)
                } else {
                    self.fetch_snapshot(&keys, mirror::Cursor::START).await?
                };
                let Some(snapshot) = snapshot else {
                    self.queues.write().remove(id);
                    return Ok(());
                };
                let mut fresh = Mirror::new(&snapshot);
                fresh.apply(snapshot, now);
                let added = {
                    let mut queues = self.queues.write();
                    // Concurrent first lookups (a burst of joins on a queue
                    // new to this server) must end with one slot, not
                    // replace each other's: keep one that is already of
                    // this incarnation.
                    let current = queues.get(id).map(|slot| slot.mirror.read().epoch);
                    (current != Some(fresh.epoch)).then(|| {
                        let slot = self.new_slot(id.clone(), fresh);
                        queues.insert(id.clone(), slot.clone());
                        slot
                    })
                };
                if let Some(slot) = added {
                    self.fetch_order_if_missing(&slot).await?;
                    slot.publish_changes();
                }
            }
        }
        Ok(())
    }

    /// Downloads a committed draw's order, once per incarnation of the
    /// queue: until then the mirror shows the pre-queue.
    async fn fetch_order_if_missing(&self, slot: &Slot) -> Result<(), StoreError> {
        let (Some(block), epoch) = ({
            let mirror = slot.mirror.read();
            (mirror.order_missing(), mirror.epoch)
        }) else {
            return Ok(());
        };
        let mut conn = self.conn.clone();
        let raw: Vec<u8> = self
            .run(
                redis::cmd("GET")
                    .arg(&slot.keys.order)
                    .query_async(&mut conn),
            )
            .await?;
        let order = LineOrder::from_bytes(&raw).map_err(bad_reply)?;
        if order.block() != block {
            return Err(bad_reply(format!(
                "the drawn order holds {} entries, the queue says {block}",
                order.block()
            )));
        }
        let mut mirror = slot.mirror.write();
        if mirror.epoch == epoch {
            mirror.install_order(order);
        }
        Ok(())
    }

    async fn fetch_snapshot(
        &self,
        keys: &QueueKeys,
        cursor: mirror::Cursor,
    ) -> Result<Option<Snapshot>, StoreError> {
        let mut conn = self.conn.clone();
        let reply: Value = self
            .run(
                self.scripts
                    .refresh
                    .key(&keys.meta)
                    .key(&keys.line)
                    .key(&keys.left)
                    .key(&keys.active)
                    .key(&keys.admissions)
                    .arg(cursor.users_known)
                    .arg(cursor.batches_seen)
                    .arg(cursor.leaves_seen)
                    .arg(mirror::REFRESH_MAX_ITEMS)
                    .invoke_async(&mut conn),
            )
            .await?;
        Snapshot::decode(reply, cursor.users_known).map_err(bad_reply)
    }
}
