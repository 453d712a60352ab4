//! The reservation use cases, independent of HTTP: what a request means
//! once it is authenticated and parsed. The HTTP layer and the benchmark
//! both drive this, so the benchmark measures what the API does.

use std::sync::Arc;

use uuid::Uuid;

use crate::clock::Clock;
use crate::config::Config;
use crate::domain::hold::{effective_reservation_status, hold_expires_at};
use crate::domain::sales::{self, Sales};
use crate::domain::session::SessionStatus;
use crate::domain::SeatStatus;
use crate::domain::{EventStatus, NewEvent, ReservationStatus, SeatSelection};
use crate::error::{Error, ErrorCode, Result};
use crate::metrics::{HoldResult, Metrics};
use crate::seat_lock::{
    Distributed, Locks, MemoryLocks, Optimistic, Pessimistic, RedisLocks, SeatLock, SeatLockKind,
    SeatLocker,
};
use crate::store::{
    seat_views, EventRecord, IdemBegin, PendingHold, ReservationRecord, SeatRow, SeatView,
    SessionRef, SqlStore, StuckRefund,
};

/// Who is buying, as stated by a verified admission token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buyer {
    pub user_id: String,
    pub queue_id: String,
    pub entry_id: String,
    /// When the admission (the token) ends, Unix ms.
    pub session_expires_at_ms: i64,
}

impl Buyer {
    pub fn session(&self) -> SessionRef {
        SessionRef {
            queue_id: self.queue_id.clone(),
            entry_id: self.entry_id.clone(),
            user_id: self.user_id.clone(),
        }
    }
}

#[derive(Debug)]
pub struct Reservations {
    pub store: SqlStore,
    /// The same database through a small pool of its own, for the work
    /// that frees capacity: the outbox relay (session ends free slots in
    /// the waiting room), the sweeper and the admissions consumer (see
    /// `SqlStore::with_own_pool`).
    pub background_store: SqlStore,
    pub locker: SeatLocker,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
}

/// One for each background loop on `background_store`: the outbox relay,
/// the hold sweeper with the sold-out check, the admissions consumer.
const BACKGROUND_CONNECTIONS: u32 = 3;

impl Reservations {
    /// Connects to the database (running migrations) and to the lock
    /// service the configured strategy needs.
    pub async fn open(config: &Config, clock: Arc<dyn Clock>) -> Result<Self> {
        let store = SqlStore::connect(&config.database_url, config.database_max_connections)
            .await?
            .with_seat_map_max_age(config.seat_map_max_age);
        let background_store = store
            .with_own_pool(&config.database_url, BACKGROUND_CONNECTIONS)
            .await?;
        let metrics = Arc::new(Metrics::new(config.seat_lock));
        let retries = metrics.hold_lock_retries.clone();
        let locker = match config.seat_lock {
            SeatLockKind::Pessimistic => SeatLocker::Pessimistic(Pessimistic),
            SeatLockKind::Optimistic => SeatLocker::Optimistic(Optimistic {
                retries,
                ..Optimistic::default()
            }),
            SeatLockKind::Distributed => {
                let locks = match &config.redis_url {
                    Some(url) => Locks::Redis(RedisLocks::connect(url).await?),
                    None => {
                        tracing::warn!(
                            "--seat-lock distributed without TICKETON_REDIS_URL: using in-process \
                             locks, correct for a single instance only"
                        );
                        Locks::Memory(MemoryLocks::default())
                    }
                };
                SeatLocker::Distributed(Distributed {
                    retries,
                    ..Distributed::new(locks, config.redis_prefix.clone())
                })
            }
        };
        Ok(Reservations {
            store,
            background_store,
            locker,
            clock,
            metrics,
        })
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub async fn create_event(&self, event: NewEvent) -> Result<EventRecord> {
        event.validate()?;
        let id = Uuid::now_v7().to_string();
        Ok(self.store.insert_event(&id, &event, self.now_ms()).await?)
    }

    /// An event as buyers may see it: drafts are not found unless `admin`.
    pub async fn visible_event(&self, event_id: &str, admin: bool) -> Result<EventRecord> {
        match self.store.get_event(event_id).await? {
            Some(e) if admin || e.status != EventStatus::Draft => Ok(e),
            _ => Err(Error::rejected(
                ErrorCode::EventNotFound,
                format!("no event {event_id:?}"),
            )),
        }
    }

    /// Takes every seat in `seat_ids` for the buyer, or none.
    pub async fn hold(
        &self,
        buyer: &Buyer,
        event_id: &str,
        seat_ids: &[i64],
    ) -> Result<ReservationRecord> {
        let result = self.try_hold(buyer, event_id, seat_ids).await;
        self.metrics.record_hold(HoldResult::of(&result));
        result
    }

    async fn try_hold(
        &self,
        buyer: &Buyer,
        event_id: &str,
        seat_ids: &[i64],
    ) -> Result<ReservationRecord> {
        let event = self.visible_event(event_id, false).await?;
        if buyer.queue_id != event.queue_id {
            return Err(Error::rejected(
                ErrorCode::WrongQueue,
                "the admission token was issued by another queue than this event's",
            ));
        }
        match event.status {
            EventStatus::OnSale => {}
            EventStatus::SoldOut => {
                return Err(Error::rejected(
                    ErrorCode::SoldOut,
                    "every seat of this event is sold",
                ))
            }
            other => {
                return Err(Error::rejected(
                    ErrorCode::EventNotOnSale,
                    format!("the event is {}", other.as_str()),
                ))
            }
        }
        let selection = SeatSelection::new(seat_ids, event.max_seats_per_order)?;
        let now_ms = self.now_ms();
        self.store
            .ensure_session_active(&buyer.session(), buyer.session_expires_at_ms, now_ms)
            .await?;
        let pending = PendingHold {
            reservation_id: Uuid::now_v7().to_string(),
            event_id: event.id.clone(),
            user_id: buyer.user_id.clone(),
            queue_id: buyer.queue_id.clone(),
            entry_id: buyer.entry_id.clone(),
            selection,
            now_ms,
            expires_at_ms: hold_expires_at(now_ms, event.hold_ttl_sec),
        };
        let amount_krw = self.locker.hold(&self.store, &pending).await?;
        Ok(ReservationRecord {
            id: pending.reservation_id,
            event_id: pending.event_id,
            user_id: pending.user_id,
            queue_id: pending.queue_id,
            entry_id: pending.entry_id,
            status: ReservationStatus::Held,
            amount_krw,
            created_at_ms: now_ms,
            expires_at_ms: pending.expires_at_ms,
            seat_ids: pending.selection.ids().to_vec(),
        })
    }

    /// The buyer's own reservation, with its status as of now.
    pub async fn get_reservation(&self, user_id: &str, id: &str) -> Result<ReservationRecord> {
        match self.store.get_reservation(id).await? {
            Some(mut r) if r.user_id == user_id => {
                r.status = effective_reservation_status(r.status, r.expires_at_ms, self.now_ms());
                Ok(r)
            }
            _ => Err(Error::rejected(
                ErrorCode::ReservationNotFound,
                format!("no reservation {id:?} for this user"),
            )),
        }
    }

    pub async fn release(&self, user_id: &str, id: &str) -> Result<ReservationRecord> {
        Ok(self.store.release(id, user_id, self.now_ms()).await?)
    }

    /// The buyer leaves the sale: holds released, session ended, slot freed.
    pub async fn leave(&self, buyer: &Buyer) -> Result<SessionStatus> {
        Ok(self
            .store
            .leave_session(&buyer.session(), self.now_ms())
            .await?)
    }

    /// A page of events, newest first; drafts only for `admin`.
    pub async fn list_events(
        &self,
        limit: i64,
        offset: i64,
        admin: bool,
    ) -> Result<Vec<EventRecord>> {
        Ok(self.store.list_events(limit, offset, admin).await?)
    }

    /// An event's stored seat rows, as the snapshot all readers share.
    pub async fn seat_rows(&self, event_id: &str) -> Result<Arc<[SeatRow]>> {
        Ok(self.store.seat_rows_shared(event_id, None).await?)
    }

    /// The event's seats by status and its revenue, as of now.
    pub async fn sales(&self, event_id: &str) -> Result<Sales> {
        let rows = self.seat_rows(event_id).await?;
        let seats = seat_views(&rows, None, self.now_ms());
        let tickets = self.store.ticket_counts(event_id).await?;
        Ok(sales::tally(&seats, &tickets))
    }

    /// Charges an operator must settle by hand (a refused full refund).
    pub async fn stuck_refunds(&self) -> Result<Vec<StuckRefund>> {
        Ok(self.store.stuck_refunds(200).await?)
    }

    /// The seats of one event (optionally one section, one status), now.
    pub async fn seats(
        &self,
        event_id: &str,
        section: Option<&str>,
        status: Option<SeatStatus>,
    ) -> Result<Vec<SeatView>> {
        Ok(self
            .store
            .list_seats(event_id, section, status, self.now_ms())
            .await?)
    }

    /// An operator moves an event on (`onsale`, `closed`, ...).
    pub async fn set_event_status(
        &self,
        event_id: &str,
        status: EventStatus,
    ) -> Result<EventRecord> {
        if !self.store.set_event_status(event_id, status).await? {
            return Err(Error::rejected(
                ErrorCode::EventNotFound,
                format!("no event {event_id:?}"),
            ));
        }
        self.visible_event(event_id, true).await
    }

    /// Where the purchase session of an admission stands, if the
    /// reservation-api has heard of it.
    pub async fn session_status(&self, entry_id: &str) -> Result<Option<SessionStatus>> {
        Ok(self.store.session_status(entry_id).await?)
    }

    /// Starts an idempotent request: new, a replay of a finished one, still
    /// running, or the key reused with another body.
    pub async fn idempotency_begin(
        &self,
        scope: &str,
        key: &str,
        fingerprint: &str,
    ) -> Result<IdemBegin> {
        Ok(self
            .store
            .idempotency_begin(scope, key, fingerprint, self.now_ms())
            .await?)
    }

    /// Records the answer a replay of the request will get.
    pub async fn idempotency_complete(
        &self,
        scope: &str,
        key: &str,
        status: u16,
        body: &[u8],
    ) -> Result<()> {
        Ok(self
            .store
            .idempotency_complete(scope, key, status, body)
            .await?)
    }

    /// Forgets the key after a server error, so that a retry runs again.
    pub async fn idempotency_abandon(&self, scope: &str, key: &str) -> Result<()> {
        Ok(self.store.idempotency_abandon(scope, key).await?)
    }
}
