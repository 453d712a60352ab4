//! The lease holder's admission step for one queue.
//!
//! Take (or keep) the lease, ask the model's [`admission_budget`] how many
//! may go in now, and have `admit.lua` apply exactly that, fenced by the
//! lease's token. The reply updates this server's mirror at once and
//! becomes the tick's admissions and expirations (for events and metrics).
//!
//! Each batch's events are announced exactly once in effect: the batch log
//! in Redis doubles as the outbox. The holder publishes a batch's events from
//! the step's reply and marks the batch announced (`mark_announced.lua`)
//! once the bus has delivered them; a server taking the lease first
//! publishes again every batch after that cursor, rebuilt from the log
//! (`unannounced.lua`), in case the holder before it died in between.

use std::sync::atomic::Ordering;

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
        if !slot.lease.lock().is_held() {
            return Ok(None);
        }
        let epoch = slot.mirror.read().epoch;
        let republished = if slot.republish_due.load(Ordering::Relaxed) {
            let unannounced = self.unannounced(slot, epoch).await?;
            slot.republish_due.store(false, Ordering::Relaxed);
            Some(unannounced)
        } else {
            None
        };
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
        Ok(self.apply_step(slot, step, now, republished.unwrap_or_default()))
    }

    /// The admissions of every batch after the announced cursor, rebuilt
    /// from the log, and the last of those batches.
    async fn unannounced(&self, slot: &Slot, epoch: u64) -> Result<Unannounced, StoreError> {
        /// Admissions per script call: a takeover after a long broker outage
        /// reads thousands, and one call must not hold Redis for long.
        const PER_CALL: u64 = 5000;
        let mut found = Unannounced::default();
        let mut after = 0;
        loop {
            let mut conn = self.conn.clone();
            let keys = &slot.keys;
            let (count, last, lost, seqs, users, ats, expires): UnannouncedParts = self
                .run(
                    self.scripts
                        .unannounced
                        .key(&keys.meta)
                        .key(&keys.line)
                        .key(&keys.left)
                        .key(&keys.admissions)
                        .key(&keys.order)
                        .arg(epoch)
                        .arg(after)
                        .arg(PER_CALL)
                        .invoke_async(&mut conn),
                )
                .await?;
            if lost > 0 {
                tracing::warn!(queue = %slot.id, batches = lost, "admission batches trimmed before they were announced (their sessions had ended)");
            }
            found.admissions.extend(
                seqs.into_iter()
                    .zip(users)
                    .zip(ats.into_iter().zip(expires))
                    .filter_map(|((seq, user), (at, expires))| {
                        Some(Admission {
                            seq,
                            user: UserId::parse(&user).ok()?,
                            admitted_at_ms: at,
                            expires_at_ms: expires,
                        })
                    }),
            );
            if last > after {
                found.last_batch = Some(last);
            }
            if last >= count || last <= after {
                break;
            }
            after = last;
        }
        if !found.admissions.is_empty() {
            tracing::info!(queue = %slot.id, admissions = found.admissions.len(), "publishing again the admissions not marked announced");
        }
        Ok(found)
    }

    pub(super) async fn mark_announced(
        &self,
        slot: &Slot,
        epoch: u64,
        batch: u64,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let _moved: i64 = self
            .run(
                self.scripts
                    .mark_announced
                    .key(&slot.keys.meta)
                    .arg(epoch)
                    .arg(batch)
                    .invoke_async(&mut conn),
            )
            .await?;
        Ok(())
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
            if newly {
                // The holder before may have died between a batch and its
                // events' delivery.
                slot.republish_due.store(true, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    fn apply_step(
        &self,
        slot: &Slot,
        step: AdmitStep,
        now: u64,
        republished: Unannounced,
    ) -> Option<QueueTick> {
        let last_batch = if step.admitted.is_empty() {
            republished.last_batch
        } else {
            Some(step.batch_count)
        };
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
        if admitted.is_empty()
            && expired.is_empty()
            && draw_due.is_none()
            && republished.admissions.is_empty()
        {
            return None;
        }
        Some(QueueTick {
            queue_id: slot.id.clone(),
            epoch,
            admitted,
            expired,
            draw_due,
            republished: republished.admissions,
            last_batch,
        })
    }
}

/// What `unannounced.lua` found.
#[derive(Debug, Default)]
struct Unannounced {
    admissions: Vec<Admission>,
    last_batch: Option<u64>,
}

type UnannouncedParts = (u64, u64, u64, Vec<u64>, Vec<String>, Vec<u64>, Vec<u64>);

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
