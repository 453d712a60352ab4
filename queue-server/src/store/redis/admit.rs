//! The lease holder's admission step for one queue.
//!
//! Take (or keep) the lease, ask the model's [`admission_budget`] how many
//! may go in now, and have `admit.lua` apply exactly that, fenced by the
//! lease's token. The reply updates this server's mirror at once and
//! becomes the tick's admissions and expirations (for events and metrics).

use redis::Value;

use super::health::bad_reply;
use super::lease::{LEASE_TTL, MAX_STEP};
use super::mirror::AdmitApplied;
use super::snapshot::Batch;
use super::{now_ms, Inner, Slot};
use crate::model::{
    admission_budget, Admission, LineOrder, LineSnapshot, QueueStatus, Seq, UserId,
};
use crate::store::{QueueTick, StoreError};

impl Inner {
    /// One queue's share of an admission tick: take or keep the lease, then
    /// (as holder) one paced, fenced admission step.
    pub(super) async fn tick_queue(
        &self,
        slot: &Slot,
        now: u64,
    ) -> Result<Option<QueueTick>, StoreError> {
        if slot.lease.lock().should_try(now) {
            self.try_acquire(slot).await?;
        }
        let (fence, budget) = {
            let mut lease = slot.lease.lock();
            let Some(held) = lease.held() else {
                return Ok(None);
            };
            let mirror = slot.mirror.read();
            let rate = mirror.settings.admission_rate_per_sec;
            if held.pacer.rate_per_sec() != rate {
                held.pacer.set_rate(rate);
            }
            let counters = mirror.counters();
            let budget = if mirror.status() == QueueStatus::Open {
                admission_budget(
                    &mut held.pacer,
                    now,
                    LineSnapshot {
                        waiting: counters.waiting.min(MAX_STEP),
                        active: counters.active,
                        max_active: u64::from(mirror.settings.max_active),
                    },
                )
            } else {
                0
            };
            (held.fence, budget)
        };
        let mut conn = self.conn.clone();
        let keys = &slot.keys;
        let reply: Value = self
            .run(
                self.scripts
                    .admit
                    .key(&keys.meta)
                    .key(&keys.line)
                    .key(&keys.left)
                    .key(&keys.active)
                    .key(&keys.admissions)
                    .key(&keys.lease)
                    .key(&keys.order)
                    .arg(&self.owner)
                    .arg(fence)
                    .arg(now)
                    .arg(budget)
                    .arg(LEASE_TTL.as_millis() as u64)
                    .invoke_async(&mut conn),
            )
            .await?;
        let step = AdmitStep::decode(reply).map_err(bad_reply)?;
        let Some(step) = step else {
            tracing::info!(queue = %slot.id, "admission lease lost");
            slot.lease.lock().lost(now);
            return Ok(None);
        };
        Ok(self.apply_step(slot, step, now))
    }

    /// Commits a draw made by this server as the lease holder; its mirror
    /// takes the order at once.
    pub(super) async fn commit_draw(
        &self,
        slot: &Slot,
        epoch: u64,
        order: LineOrder,
    ) -> Result<bool, StoreError> {
        let Some(fence) = slot.lease.lock().held().map(|held| held.fence) else {
            return Ok(false);
        };
        let mut conn = self.conn.clone();
        let keys = &slot.keys;
        let committed: i64 = self
            .run(
                self.scripts
                    .commit_draw
                    .key(&keys.meta)
                    .key(&keys.order)
                    .key(&keys.lease)
                    .key(&keys.places)
                    .arg(&self.owner)
                    .arg(fence)
                    .arg(epoch)
                    .arg(order.block())
                    .arg(order.to_bytes())
                    .arg(order.places_to_bytes())
                    .invoke_async(&mut conn),
            )
            .await?;
        if committed == -1 {
            slot.lease.lock().lost(now_ms());
        }
        if committed != 1 {
            return Ok(false);
        }
        let mut mirror = slot.mirror.write();
        if mirror.epoch == epoch {
            mirror.install_order(order);
        }
        drop(mirror);
        slot.publish_changes();
        Ok(true)
    }

    async fn try_acquire(&self, slot: &Slot) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let fence: i64 = self
            .run(
                self.scripts
                    .acquire_lease
                    .key(&slot.keys.meta)
                    .key(&slot.keys.lease)
                    .arg(&self.owner)
                    .arg(LEASE_TTL.as_millis() as u64)
                    .invoke_async(&mut conn),
            )
            .await?;
        if fence > 0 {
            let newly = !slot.lease.lock().is_held();
            if newly {
                // Admit from the latest state, including the last batches
                // of the previous holder.
                self.refresh_queue(&slot.id).await?;
                tracing::info!(queue = %slot.id, fence, owner = %self.owner, "admission lease taken");
            }
            let rate = slot.mirror.read().settings.admission_rate_per_sec;
            slot.lease.lock().acquired(fence as u64, rate);
        }
        Ok(())
    }

    fn apply_step(&self, slot: &Slot, step: AdmitStep, now: u64) -> Option<QueueTick> {
        let mut mirror = slot.mirror.write();
        let admitted: Vec<Admission> = step
            .admitted
            .iter()
            .filter_map(|(seq, user)| {
                Some(Admission {
                    seq: *seq,
                    user: UserId::parse(user).ok()?,
                    admitted_at_ms: now,
                    expires_at_ms: step.expires_ms,
                })
            })
            .collect();
        if !step.admitted.is_empty() {
            let applied = AdmitApplied {
                batch: Batch {
                    from: step.from,
                    to: step.to,
                    at_ms: now,
                    expires_ms: step.expires_ms,
                    admitted: step.admitted.len() as u32,
                },
                batch_count: step.batch_count,
                users: step.admitted,
                active: step.active,
            };
            mirror.record_admission(&applied, now);
        } else {
            mirror.record_skip(step.from, step.to, step.active);
        }
        let expired = mirror.users_of(&step.expired);
        let epoch = mirror.epoch;
        drop(mirror);
        slot.publish_changes();
        let draw_due = (step.to_draw > 0).then_some(step.to_draw);
        if admitted.is_empty() && expired.is_empty() && draw_due.is_none() {
            return None;
        }
        Some(QueueTick {
            queue_id: slot.id.clone(),
            epoch,
            admitted,
            expired,
            draw_due,
        })
    }
}

/// What `admit.lua` did.
struct AdmitStep {
    from: Seq,
    to: Seq,
    active: u64,
    batch_count: u64,
    expires_ms: u64,
    admitted: Vec<(Seq, String)>,
    expired: Vec<Seq>,
    /// A sealed pre-queue of this many entries waits for its draw.
    to_draw: u64,
}

type AdmitParts = (
    i64,
    u64,
    u64,
    u64,
    u64,
    u64,
    Vec<u64>,
    Vec<String>,
    Vec<u64>,
    u64,
);

impl AdmitStep {
    /// `Ok(None)`: the lease was lost.
    fn decode(reply: Value) -> Result<Option<AdmitStep>, redis::ParsingError> {
        if let Value::Array(items) = &reply {
            if items.len() == 1 {
                return Ok(None);
            }
        }
        let (_, from, to, active, batch_count, expires_ms, seqs, users, expired, to_draw): AdmitParts =
            redis::from_redis_value(reply)?;
        Ok(Some(AdmitStep {
            from,
            to,
            active,
            batch_count,
            expires_ms,
            admitted: seqs.into_iter().zip(users).collect(),
            expired,
            to_draw,
        }))
    }
}
