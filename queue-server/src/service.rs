//! The application layer: what each API call means, independent of HTTP.
//!
//! It validates input into model types, calls the store, turns entry state
//! into answers (entryIds, admission tokens, poll hints), and runs the
//! admission loop. It is generic over the store so that the hot paths are
//! static calls with no boxing.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use ticketon_bus::ApplyError;
use ticketon_wire::{
    AdmissionClaims, AdmissionEvent, EntryEvent, EntryStatus, QueueState, SessionEvent,
    ADMISSION_ISSUER, EVENT_SCHEMA_VERSION,
};

use crate::entry_id::EntryIdCodec;
use crate::error::QueueError;
use crate::events::{AnnounceMark, EventOutbox};
use crate::join_limits::JoinLimits;
use crate::metrics::Metrics;
use crate::model::draw::{self, ALGORITHM};
use crate::model::{
    poll_after_ms, EntryState, LeaveOutcome, PollHintPolicy, QueueId, QueueSettings, QueueStatus,
    Schedule, Seq, UserId,
};
use crate::prequeue::{self, DrawKeys, DrawRecord};
use crate::proof_of_work::{self, PowRefusal, ProofOfWork};
use crate::push::{
    self, EntryMessages, NewWatcher, Outgoing, StatusMessage, StreamGuard, StreamKind, Watchers,
};
use crate::store::{EntryView, QueueInfo, QueueStore, QueueTick, StoreError};

/// The shortest poll interval a pre-queue entry is told: its place is only
/// known once the draw is made, and the push says when.
const PREQUEUE_MIN_POLL_MS: u64 = 1_000;

/// How often the admission loop runs; also the pacer's catch-up allowance.
pub const ADMISSION_TICK: Duration = Duration::from_millis(10);

pub struct QueueService<S> {
    store: S,
    entry_ids: EntryIdCodec,
    token_secret: Arc<[u8]>,
    poll_hints: PollHintPolicy,
    metrics: Arc<Metrics>,
    /// Where admission events go; `None` when nothing consumes them (a
    /// queue-server on its own, without Kafka).
    events: Option<Arc<EventOutbox>>,
    /// Never lets "now" go backwards when the wall clock is stepped back.
    last_now_ms: AtomicU64,
    watchers: Arc<Watchers>,
    join_limits: JoinLimits,
    proof_of_work: ProofOfWork,
    draw_keys: DrawKeys,
    /// Each drawn queue's record, by queue id, with the epoch it is of.
    draw_records: parking_lot::Mutex<std::collections::HashMap<String, (u64, Bytes)>>,
}

/// A join's answer.
impl<S> std::fmt::Debug for QueueService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueService").finish_non_exhaustive()
    }
}

/// A poll's answer.
#[derive(Debug)]
pub struct Polled {
    pub status: EntryStatus,
    /// Set while the store is cut off from its backend: the age, in ms, of
    /// the state the answer comes from.
    pub stale_ms: Option<u64>,
}

#[derive(Debug)]
pub struct Joined {
    pub created: bool,
    pub entry_id: String,
    pub user: UserId,
    pub status: EntryStatus,
}

impl<S: QueueStore> QueueService<S> {
    pub fn new(store: S, token_secret: &[u8], metrics: Arc<Metrics>) -> Self {
        QueueService {
            store,
            entry_ids: EntryIdCodec::new(token_secret),
            token_secret: token_secret.into(),
            poll_hints: PollHintPolicy::default(),
            metrics,
            events: None,
            last_now_ms: AtomicU64::new(0),
            watchers: Arc::new(Watchers::new(0, push::shaping::DEFAULT_HEARTBEAT)),
            join_limits: JoinLimits::default(),
            proof_of_work: ProofOfWork::new(token_secret),
            draw_keys: DrawKeys::new(token_secret),
            draw_records: Default::default(),
        }
    }

    /// Sets the push layer's per-IP stream cap (0: none) and heartbeat.
    pub fn with_push(mut self, max_streams_per_ip: u32, heartbeat_min: Duration) -> Self {
        self.watchers = Arc::new(Watchers::new(max_streams_per_ip, heartbeat_min));
        self
    }

    pub fn watchers(&self) -> &Watchers {
        &self.watchers
    }

    pub fn with_events(mut self, events: Arc<EventOutbox>) -> Self {
        self.events = Some(events);
        self
    }

    pub fn events(&self) -> Option<&EventOutbox> {
        self.events.as_deref()
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn metrics_handle(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    pub fn now_ms(&self) -> u64 {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let previous = self.last_now_ms.fetch_max(wall, Ordering::Relaxed);
        wall.max(previous)
    }

    pub async fn put_queue(
        &self,
        queue_id: &str,
        settings: QueueSettings,
        initial_status: Option<QueueStatus>,
    ) -> Result<(QueueId, QueueInfo, bool), QueueError> {
        let id = QueueId::parse(queue_id)?;
        let existing = match self.store.load_queue(queue_id).await {
            Ok(info) => Some(info.settings),
            Err(StoreError::QueueNotFound(_)) => None,
            Err(e) => return Err(e.into()),
        };
        let settings = self.schedule_of(settings, existing, initial_status)?;
        let (info, created) = self
            .store
            .put_queue(
                id.clone(),
                settings,
                initial_status.unwrap_or(settings.initial_status()),
            )
            .await?;
        tracing::info!(queue = %id, created, ?settings, status = info.status.as_str(), "queue put");
        Ok((id, info, created))
    }

    /// The schedule a `PUT` gives: fixed when the queue is created (in the
    /// future, and not with a status of the operator's, which the opening
    /// would overrule), and kept by later `PUT`s that leave it out.
    fn schedule_of(
        &self,
        settings: QueueSettings,
        existing: Option<QueueSettings>,
        initial_status: Option<QueueStatus>,
    ) -> Result<QueueSettings, QueueError> {
        let asked = (settings.opens_at_ms, settings.prequeue);
        if let Some(existing) = existing {
            let fixed = (existing.opens_at_ms, existing.prequeue);
            if asked != (0, false) && asked != fixed {
                return Err(QueueError::ScheduleFixed(
                    "opensAt and prequeue are fixed when the queue is created; delete it and create it again to reschedule".into(),
                ));
            }
            return Ok(settings.with_schedule(fixed.0, fixed.1)?);
        }
        if settings.opens_at_ms == 0 {
            return Ok(settings);
        }
        if settings.opens_at_ms <= self.now_ms() {
            return Err(QueueError::InvalidField(
                "opensAt must be in the future".into(),
            ));
        }
        if initial_status.is_some() {
            return Err(QueueError::InvalidField(
                "status cannot be given with opensAt: a scheduled queue waits for its opening"
                    .into(),
            ));
        }
        Ok(settings)
    }

    pub async fn set_status(
        &self,
        queue_id: &str,
        status: QueueStatus,
    ) -> Result<QueueInfo, QueueError> {
        if status == QueueStatus::Prequeue {
            return Err(QueueError::InvalidField(
                "prequeue is not set by hand: schedule the queue with opensAt and prequeue".into(),
            ));
        }
        let current = self.known_queue(queue_id).await?;
        if current.status == QueueStatus::Prequeue && status != QueueStatus::Closed {
            return Err(QueueError::ScheduleFixed(
                "the queue is in its pre-queue: it opens by its draw at opensAt, and can only be closed before".into(),
            ));
        }
        let info = self.store.set_status(queue_id, status).await?;
        tracing::info!(
            queue = queue_id,
            status = status.as_str(),
            "queue status changed"
        );
        Ok(info)
    }

    pub async fn delete_queue(&self, queue_id: &str) -> Result<(), QueueError> {
        self.store.delete_queue(queue_id).await?;
        tracing::info!(queue = queue_id, "queue deleted");
        Ok(())
    }

    pub fn queue_info(&self, queue_id: &str) -> Result<QueueInfo, QueueError> {
        self.store
            .queue_info(queue_id)
            .ok_or_else(|| QueueError::QueueNotFound(queue_id.to_string()))
    }

    /// The per-queue gates in front of a join: a join that brings no proof
    /// of work where one is asked for is sent to get one, without using the
    /// address's allowance (the page's first try is such a join); then the
    /// address's allowance, before the solution is claimed, so that a
    /// refused address does not burn a fan's solution; then the solution.
    async fn admit_to_join(
        &self,
        queue_id: &str,
        info: &QueueInfo,
        client: Option<IpAddr>,
        altcha: Option<&str>,
    ) -> Result<(), QueueError> {
        let asks_for_work = info.settings.pow_difficulty > 0;
        if asks_for_work && altcha.is_none() {
            return Err(PowRefusal::Required.into());
        }
        if let Some(ip) = client {
            let limit = info.settings.joins_per_ip_per_minute;
            if let Err(wait) = self.join_limits.check(queue_id, limit, ip) {
                return Err(QueueError::TooManyJoins {
                    limit,
                    retry_after_sec: u32::try_from(wait.as_secs() + 1).unwrap_or(u32::MAX),
                });
            }
        }
        let (true, Some(altcha)) = (asks_for_work, altcha) else {
            return Ok(());
        };
        let solution = self.proof_of_work.check(queue_id, altcha)?;
        let first_use = self
            .store
            .claim_once(queue_id, &solution.nonce, solution.remember_ms)
            .await?;
        if !first_use {
            return Err(PowRefusal::Replayed.into());
        }
        Ok(())
    }

    /// The queue's settings and counters, read from the backing store when
    /// this server has not seen the queue yet.
    async fn known_queue(&self, queue_id: &str) -> Result<QueueInfo, QueueError> {
        match self.store.queue_info(queue_id) {
            Some(info) => Ok(info),
            None => Ok(self.store.load_queue(queue_id).await?),
        }
    }

    /// A proof-of-work challenge for the next join of `queue_id`, at the
    /// queue's difficulty now; `None` when the queue asks for none.
    pub async fn challenge(&self, queue_id: &str) -> Result<Option<altcha::Challenge>, QueueError> {
        let info = self.known_queue(queue_id).await?;
        let settings = info.settings;
        let difficulty = proof_of_work::difficulty(
            settings.pow_difficulty,
            settings.pow_adaptive,
            info.counters.waiting,
        );
        if difficulty == 0 {
            return Ok(None);
        }
        Ok(Some(self.proof_of_work.challenge(
            queue_id,
            difficulty,
            self.now_ms() / 1000,
        )))
    }

    /// Joins `user_id` once the queue's gates let it in
    /// ([`QueueService::admit_to_join`]).
    pub async fn join(
        &self,
        queue_id: &str,
        user_id: &str,
        client: Option<IpAddr>,
        altcha: Option<&str>,
    ) -> Result<Joined, QueueError> {
        let user = UserId::parse(user_id)?;
        let gates = async {
            let info = self.known_queue(queue_id).await?;
            self.admit_to_join(queue_id, &info, client, altcha).await
        };
        if let Err(refused) = gates.await {
            self.metrics.joins_refused.inc();
            return Err(refused);
        }
        let joined = match self.store.join(queue_id, user).await {
            Ok(joined) => joined,
            Err(StoreError::QueueClosed(id))
                if self
                    .store
                    .queue_info(queue_id)
                    .is_some_and(|info| info.status == QueueStatus::SoldOut) =>
            {
                self.metrics.joins_refused.inc();
                return Err(QueueError::SoldOut(id));
            }
            Err(e) => {
                self.metrics.joins_refused.inc();
                return Err(e.into());
            }
        };
        let counter = if joined.created {
            &self.metrics.joins_created
        } else {
            &self.metrics.joins_existing
        };
        counter.inc();
        let entry_id = self
            .entry_ids
            .encode(queue_id, joined.view.epoch, joined.seq);
        let status = self.answer(queue_id, &entry_id, joined.seq, &joined.view);
        if let (true, Some(events)) = (joined.created, &self.events) {
            if events.publishes_entries() {
                events.joined(&EntryEvent::Joined {
                    schema: EVENT_SCHEMA_VERSION,
                    queue_id: queue_id.to_string(),
                    entry_id: entry_id.clone(),
                    user_id: joined.view.user.as_str().to_string(),
                    seq: joined.seq,
                    at: self.now_ms() as i64,
                });
            }
        }
        Ok(Joined {
            created: joined.created,
            entry_id,
            user: joined.view.user,
            status,
        })
    }

    /// Answers a poll from memory: one HMAC check and one read lock.
    pub fn poll(&self, queue_id: &str, entry_id: &str) -> Result<Polled, QueueError> {
        let (seq, view) = self.find_entry(queue_id, entry_id)?;
        let status = self.answer(queue_id, entry_id, seq, &view);
        let stale_ms = match self.store.healthy() {
            true => None,
            false => self.store.queue_info(queue_id).map(|info| info.view_age_ms),
        };
        Ok(Polled { status, stale_ms })
    }

    /// Whether the store reaches its backend. A Redis store that lost Redis
    /// keeps answering polls from its last known state, but takes no joins.
    pub fn store_healthy(&self) -> bool {
        self.store.healthy()
    }

    pub fn store_name(&self) -> &'static str {
        self.store.name()
    }

    /// Every queue with its counters, for `/metrics`.
    pub fn queues(&self) -> Vec<(QueueId, QueueInfo)> {
        self.store.queues()
    }

    pub async fn leave(&self, queue_id: &str, entry_id: &str) -> Result<LeaveOutcome, QueueError> {
        let (seq, view) = self.find_entry(queue_id, entry_id)?;
        let outcome = self
            .store
            .leave(queue_id, seq)
            .await?
            .ok_or_else(|| QueueError::EntryNotFound(queue_id.to_string()))?;
        if outcome != LeaveOutcome::AlreadyEnded {
            self.metrics.leaves.inc();
            self.watchers.entry_changed(queue_id, view.place);
        }
        if let Some(events) = &self.events {
            let trace = events.take_join_trace(entry_id);
            if outcome == LeaveOutcome::LeftActive {
                let event = AdmissionEvent::Left {
                    schema: EVENT_SCHEMA_VERSION,
                    queue_id: queue_id.to_string(),
                    entry_id: entry_id.to_string(),
                    user_id: view.user.as_str().to_string(),
                    at: self.now_ms() as i64,
                };
                events.send(&event, trace);
            }
        }
        Ok(outcome)
    }

    /// Applies a `ticketon.sessions` event: the buyer paid, gave up or ran
    /// out of time, so the slot frees now; or the sale sold out, so the
    /// line stops. Idempotent: a redelivered event finds the entry already
    /// ended, or the queue already sold out, and changes nothing.
    pub async fn apply_session_event(&self, event: &SessionEvent) -> Result<(), ApplyError> {
        let Some(entry_id) = event.entry_id() else {
            return self.sold_out(event.queue_id()).await;
        };
        match self.leave(event.queue_id(), entry_id).await {
            Ok(_) => Ok(()),
            // The queue was deleted or the id is not ours: nothing to free.
            Err(QueueError::QueueNotFound(_) | QueueError::EntryNotFound(_)) => {
                tracing::debug!(
                    queue = event.queue_id(),
                    "session event for an unknown entry"
                );
                Ok(())
            }
            Err(e @ QueueError::Unavailable { .. }) => Err(ApplyError::Retry(e.to_string())),
            Err(e) => Err(ApplyError::Reject(e.to_string())),
        }
    }

    /// The queues whose admission this server runs now.
    pub fn admission_leases(&self) -> usize {
        self.store
            .queues()
            .iter()
            .filter(|(id, _)| self.store.runs_admission(id.as_str()))
            .count()
    }

    pub fn join_limit_addresses(&self) -> usize {
        self.join_limits.addresses()
    }

    /// Forgets the per-address join counts that are full again, every
    /// minute until `stop`: memory stays proportional to the addresses that
    /// joined in the last minute.
    pub async fn run_join_limit_upkeep(
        self: Arc<Self>,
        stop: impl std::future::Future<Output = ()>,
    ) {
        let upkeep = async {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                self.join_limits.forget_idle(|queue| {
                    self.store
                        .queue_info(queue)
                        .is_some_and(|info| info.settings.joins_per_ip_per_minute > 0)
                });
            }
        };
        tokio::select! {
            () = upkeep => {}
            () = stop => {}
        }
    }

    /// The reservation-api sold the last seat. A queue the operator closed
    /// stays closed (it already takes nobody); an open or paused one stops
    /// admitting and tells its line. Only an operator reopens it: seats that
    /// come back later (a refund) are released when the organiser decides.
    async fn sold_out(&self, queue_id: &str) -> Result<(), ApplyError> {
        let Some(info) = self.store.queue_info(queue_id) else {
            tracing::debug!(queue = queue_id, "sold out for an unknown queue");
            return Ok(());
        };
        if !info.status.takes_joins() {
            return Ok(());
        }
        match self.set_status(queue_id, QueueStatus::SoldOut).await {
            Ok(_) => {
                tracing::info!(queue = queue_id, "every seat is sold: the line stops");
                Ok(())
            }
            Err(QueueError::QueueNotFound(_)) => Ok(()),
            Err(e @ QueueError::Unavailable { .. }) => Err(ApplyError::Retry(e.to_string())),
            Err(e) => Err(ApplyError::Reject(e.to_string())),
        }
    }

    /// Opens a stream on the entry: checked like a poll (a 404 before any
    /// stream opens), counted against the per-IP cap, and sent its first
    /// message at once. A waiting entry is handed to its queue's hub, which
    /// sends the rest.
    pub fn watch(
        self: &Arc<Self>,
        queue_id: &str,
        entry_id: &str,
        kind: StreamKind,
        peer: Option<IpAddr>,
    ) -> Result<StreamGuard, QueueError> {
        let (seq, view) = self.find_entry(queue_id, entry_id)?;
        if self.watchers.is_shutting_down() {
            return Err(QueueError::Unavailable {
                reason: "the server is shutting down".into(),
                retry_after_sec: 1,
            });
        }
        let stream = self
            .watchers
            .open(kind, peer)
            .map_err(|e| QueueError::TooManyStreams { limit: e.limit })?;
        let first = self.status_message(queue_id, entry_id, seq, &view);
        stream.mailbox().put(Outgoing::Status {
            json: first.json.clone(),
            terminal: first.terminal,
        });
        self.watchers.count_message();
        if first.terminal {
            return Ok(stream);
        }
        let (Some(signal), Ok(queue)) = (self.store.subscribe(queue_id), QueueId::parse(queue_id))
        else {
            return Err(QueueError::QueueNotFound(queue_id.to_string()));
        };
        let watcher = NewWatcher {
            seq,
            entry_id: entry_id.into(),
            mailbox: stream.mailbox().clone(),
            first,
        };
        let source: Arc<dyn EntryMessages> = self.clone();
        let hub_queue = queue_id.to_string();
        self.watchers
            .register(&queue, watcher, source, move |links| {
                tokio::spawn(push::hub::run(hub_queue, signal, links));
            });
        Ok(stream)
    }

    fn status_message(
        &self,
        queue_id: &str,
        entry_id: &str,
        seq: Seq,
        view: &EntryView,
    ) -> StatusMessage {
        let body = self.answer(queue_id, entry_id, seq, view);
        let json = Bytes::from(serde_json::to_vec(&body).unwrap_or_default());
        match body {
            EntryStatus::Waiting { position, .. } => {
                StatusMessage::waiting(json, view.place, position, view.eta_ms)
            }
            EntryStatus::Prequeue { .. } => StatusMessage::undrawn(json, view.place),
            _ => StatusMessage::terminal(json),
        }
    }

    fn find_entry(&self, queue_id: &str, entry_id: &str) -> Result<(Seq, EntryView), QueueError> {
        let not_found = || QueueError::EntryNotFound(queue_id.to_string());
        let id = EntryIdCodec::parse(entry_id).ok_or_else(not_found)?;
        let Some(view) = self.store.entry_view(queue_id, id.seq) else {
            // Distinguish a missing queue from a missing entry for the client.
            return Err(match self.store.queue_info(queue_id) {
                None => QueueError::QueueNotFound(queue_id.to_string()),
                Some(_) => not_found(),
            });
        };
        if !self.entry_ids.verify(&id, queue_id, view.epoch) {
            return Err(not_found());
        }
        Ok((id.seq, view))
    }

    fn answer(&self, queue_id: &str, entry_id: &str, seq: Seq, view: &EntryView) -> EntryStatus {
        match (view.state, view.undrawn) {
            (EntryState::Waiting, Some(undrawn)) => {
                let until_open_ms = undrawn.opens_at_ms.saturating_sub(self.now_ms());
                let seconds = |wait_ms: u64| (until_open_ms + wait_ms + 500) / 1000;
                EntryStatus::Prequeue {
                    opens_at: rfc3339(undrawn.opens_at_ms),
                    participants: undrawn.participants,
                    eta_seconds_p25: seconds(undrawn.eta_p25_ms),
                    eta_seconds_p75: seconds(undrawn.eta_p75_ms),
                    // Nothing moves before the opening; right after it, the
                    // draw takes a moment (and the push says when it is done).
                    poll_after_ms: poll_after_ms(&self.poll_hints, until_open_ms, seq)
                        .max(PREQUEUE_MIN_POLL_MS),
                    draw_id: prequeue::hex(self.draw_keys.participant_id(entry_id)),
                }
            }
            (EntryState::Waiting, None) => EntryStatus::Waiting {
                position: view.position,
                // Rounded, not truncated or ceiled: the nearest whole second is
                // the estimate with no bias either way.
                eta_seconds: (view.eta_ms + 500) / 1000,
                poll_after_ms: poll_after_ms(
                    &self.poll_hints,
                    view.eta_ms,
                    seq ^ view.position << 32,
                ),
                queue_status: queue_state(view.queue_status),
            },
            (
                EntryState::Admitted {
                    admitted_at_ms,
                    expires_at_ms,
                },
                _,
            ) => EntryStatus::Admitted {
                admission_token: self.admission_token(
                    queue_id,
                    entry_id,
                    &view.user,
                    admitted_at_ms,
                    expires_at_ms,
                ),
                expires_at: rfc3339(expires_at_ms),
            },
            (EntryState::Left, _) => EntryStatus::Left,
            (EntryState::Expired, _) => EntryStatus::Expired,
        }
    }

    /// Signed on demand rather than stored: only admitted fans ask, a few
    /// times each, and every queue-server of a fleet can sign the same claims.
    fn admission_token(
        &self,
        queue_id: &str,
        entry_id: &str,
        user: &UserId,
        admitted_at_ms: u64,
        expires_at_ms: u64,
    ) -> String {
        AdmissionClaims {
            sub: user.as_str().to_string(),
            qid: queue_id.to_string(),
            eid: entry_id.to_string(),
            iat: (admitted_at_ms / 1000) as i64,
            exp: (expires_at_ms / 1000) as i64,
            iss: ADMISSION_ISSUER.to_string(),
        }
        .sign(&self.token_secret)
    }

    /// One admission step over every queue.
    pub async fn admission_tick(&self) -> Result<Vec<QueueTick>, QueueError> {
        if let Some(events) = &self.events {
            self.settle_announcements(events).await;
            if !events.drain() {
                // The bus is backed up: admitting now would produce events
                // with nowhere to go. Admission resumes once they drain.
                self.metrics.admission_paused_ticks.inc();
                return Ok(Vec::new());
            }
        }
        let ticks = self.store.tick(self.now_ms()).await?;
        // A draw that fails (Redis away) is due again at the next tick; the
        // tick's admissions in other queues still get their events below.
        for tick in &ticks {
            if let Some(block) = tick.draw_due {
                if let Err(e) = self
                    .make_draw(tick.queue_id.as_str(), tick.epoch, block)
                    .await
                {
                    tracing::warn!(queue = %tick.queue_id, error = %e, "pre-queue draw failed; retrying");
                }
            }
        }
        if let Some(events) = &self.events {
            self.publish_tick_events(events, &ticks);
        }
        for tick in &ticks {
            self.metrics.admissions.inc_by(tick.admitted.len() as u64);
            self.metrics
                .admissions_republished
                .inc_by(tick.republished.len() as u64);
            self.metrics.expirations.inc_by(tick.expired.len() as u64);
        }
        Ok(ticks)
    }

    /// Draws a sealed pre-queue and commits the order. A crash before the
    /// commit leaves the queue sealed, and the next lease holder draws
    /// again with the same seed, so to the same order.
    async fn make_draw(&self, queue_id: &str, epoch: u64, block: u64) -> Result<(), QueueError> {
        let (keys, codec, id) = (
            self.draw_keys.clone(),
            self.entry_ids.clone(),
            queue_id.to_string(),
        );
        // About a second for a million participants: off the admission loop's thread.
        let order = tokio::task::spawn_blocking(move || keys.draw(&codec, &id, epoch, block))
            .await
            .map_err(|e| QueueError::Unavailable {
                reason: format!("the draw did not finish: {e}"),
                retry_after_sec: 1,
            })?;
        let committed = self.store.commit_draw(queue_id, epoch, order).await?;
        if committed {
            self.metrics.draws.inc();
            tracing::info!(
                queue = queue_id,
                participants = block,
                "pre-queue drawn: the queue is open"
            );
        }
        Ok(())
    }

    /// The draw's public record (`GET .../draw`), as JSON. Once drawn it
    /// never changes, and with a large pre-queue it is costly to make (an
    /// HMAC or two per participant), so it is made once, off the runtime's
    /// threads, and kept.
    pub async fn draw_record(&self, queue_id: &str) -> Result<Bytes, QueueError> {
        let info = self.queue_info(queue_id)?;
        if !info.settings.prequeue {
            return Err(QueueError::NoDraw(queue_id.to_string()));
        }
        if let Some((epoch, json)) = self.draw_records.lock().get(queue_id) {
            if *epoch == info.epoch {
                return Ok(json.clone());
            }
        }
        let (stage, participants) = match info.schedule {
            Schedule::Pending { .. } => ("pending", info.counters.joined_total),
            Schedule::Sealed { block } => ("sealed", block),
            Schedule::Opened => ("drawn", info.drawn),
        };
        let order = self.store.drawn_order(queue_id);
        let drawn = order.is_some();
        let (keys, codec, id) = (
            self.draw_keys.clone(),
            self.entry_ids.clone(),
            queue_id.to_string(),
        );
        let opened = self.now_ms() >= info.settings.opens_at_ms;
        let json = tokio::task::spawn_blocking(move || {
            let seed = keys.seed(&id, info.epoch);
            let (ids, places) = match &order {
                Some(order) => prequeue::published_places(&keys, &codec, &id, info.epoch, order),
                None => (Vec::new(), Vec::new()),
            };
            let record = DrawRecord {
                queue_id: id,
                algorithm: ALGORITHM,
                opens_at: rfc3339(info.settings.opens_at_ms),
                stage,
                commitment: prequeue::hex(draw::commitment(&seed)),
                seed: opened.then(|| prequeue::hex(seed)),
                participants,
                ids,
                places,
            };
            Bytes::from(serde_json::to_vec(&record).unwrap_or_default())
        })
        .await
        .map_err(|e| QueueError::Unavailable {
            reason: format!("the draw's record could not be made: {e}"),
            retry_after_sec: 1,
        })?;
        if drawn {
            let mut records = self.draw_records.lock();
            // Records of queues deleted since (on this server or another) go.
            records.retain(|id, _| self.store.queue_info(id).is_some());
            records.insert(queue_id.to_string(), (info.epoch, json.clone()));
        }
        Ok(json)
    }

    /// Marks in the store the admission batches whose events the bus has
    /// delivered; a failed mark is made by a later one (the cursor only
    /// moves forward) or, at worst, the batch is published twice.
    pub(crate) async fn settle_announcements(&self, events: &EventOutbox) {
        let settled = events.settle();
        if settled.republish {
            tracing::error!("an admission event was lost on the way to the bus; publishing again what is not marked delivered");
            self.store.republish_unannounced();
        }
        for mark in settled.announced {
            if let Err(e) = self
                .store
                .mark_announced(&mark.queue_id, mark.epoch, mark.batch)
                .await
            {
                tracing::warn!(queue = %mark.queue_id, error = %e, "could not mark admissions announced");
            }
        }
    }

    fn publish_tick_events(&self, events: &EventOutbox, ticks: &[QueueTick]) {
        for tick in ticks {
            let queue_id = tick.queue_id.as_str();
            for (seq, user) in &tick.expired {
                let entry_id = self.entry_ids.encode(queue_id, tick.epoch, *seq);
                let trace = events.take_join_trace(&entry_id);
                let event = AdmissionEvent::Expired {
                    schema: EVENT_SCHEMA_VERSION,
                    queue_id: queue_id.to_string(),
                    entry_id,
                    user_id: user.as_str().to_string(),
                    at: self.now_ms() as i64,
                };
                events.send(&event, trace);
            }
            let admissions = tick.republished.iter().chain(&tick.admitted);
            let last = tick.republished.len() + tick.admitted.len();
            for (n, admission) in admissions.enumerate() {
                let entry_id = self.entry_ids.encode(queue_id, tick.epoch, admission.seq);
                // The admission continues the join's trace: the reservation-api
                // applies it in a span of that trace. The entry keeps it for
                // its expiry or leave.
                let trace = events.join_trace(&entry_id);
                let mark = tick
                    .last_batch
                    .filter(|_| n + 1 == last)
                    .map(|batch| AnnounceMark {
                        queue_id: queue_id.to_string(),
                        epoch: tick.epoch,
                        batch,
                    });
                let event = AdmissionEvent::Admitted {
                    schema: EVENT_SCHEMA_VERSION,
                    queue_id: queue_id.to_string(),
                    entry_id,
                    user_id: admission.user.as_str().to_string(),
                    admitted_at: admission.admitted_at_ms as i64,
                    expires_at: admission.expires_at_ms as i64,
                };
                events.send_marked(&event, trace, mark);
            }
        }
    }

    /// Runs admission until `shutdown` resolves.
    pub async fn run_admission(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        let mut interval = tokio::time::interval(ADMISSION_TICK);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = interval.tick() => {
                    if let Err(e) = self.admission_tick().await {
                        tracing::warn!(error = %e, "admission tick failed");
                    }
                }
            }
        }
    }
}

impl<S: QueueStore> EntryMessages for QueueService<S> {
    fn message(&self, queue_id: &str, entry_id: &str, seq: Seq) -> Option<StatusMessage> {
        let view = self.store.entry_view(queue_id, seq)?;
        Some(self.status_message(queue_id, entry_id, seq, &view))
    }

    fn now_ms(&self) -> u64 {
        QueueService::now_ms(self)
    }

    fn message_sent(&self) {
        self.watchers.count_message();
    }
}

fn queue_state(status: QueueStatus) -> QueueState {
    match status {
        QueueStatus::Open => QueueState::Open,
        QueueStatus::Paused => QueueState::Paused,
        QueueStatus::Closed => QueueState::Closed,
        QueueStatus::SoldOut => QueueState::SoldOut,
        QueueStatus::Prequeue => QueueState::Prequeue,
    }
}

pub fn rfc3339(unix_ms: u64) -> String {
    let at = time::OffsetDateTime::UNIX_EPOCH + Duration::from_millis(unix_ms);
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
