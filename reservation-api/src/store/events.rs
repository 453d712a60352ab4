//! Events, sections and the seat map: created once by an admin, then read
//! by buyers. Availability is computed at read time from `now`, so an
//! expired hold shows its seats as available before the sweeper runs.

use sqlx::any::AnyRow;
use sqlx::Row;

use std::sync::Arc;
use std::time::Instant;

use super::seat_maps::{seat_views, Lookup};
use super::{stored_seat_status, SqlStore};
use super::{Result, StoreError};
use crate::domain::hold::effective_seat_status;
use crate::domain::{EventStatus, NewEvent, SeatStatus};
pub use crate::domain::{SeatView, SectionSummary};
use ticketon_wire::{SessionEvent, EVENT_SCHEMA_VERSION};

/// Rows per multi-row INSERT when writing a seat map: 6 binds each stays far
/// below SQLite's and MySQL's placeholder limits.
const SEAT_INSERT_CHUNK: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    pub id: String,
    pub name: String,
    pub venue: String,
    pub starts_at_ms: i64,
    pub queue_id: String,
    pub hold_ttl_sec: u32,
    pub max_seats_per_order: u32,
    pub status: EventStatus,
    pub created_at_ms: i64,
}

/// Whether event `e` has a seat that is not sold (index `seats_by_status`).
const UNSOLD_SEAT: &str = "EXISTS (SELECT 1 FROM seats s \
     WHERE s.event_id = e.id AND s.status IN ('available', 'held'))";

/// An event whose last seat was sold, and the queue whose line it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoldOutEvent {
    pub event_id: String,
    pub queue_id: String,
}

/// A seat as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatRow {
    pub id: i64,
    pub section: String,
    pub row: i64,
    pub number: i64,
    pub price_krw: i64,
    /// As stored: a hold that ran out is still `Held` here.
    pub status: SeatStatus,
    pub hold_expires_at_ms: Option<i64>,
}

impl SeatRow {
    /// The seat as a client sees it at `now_ms`.
    pub fn view_at(&self, now_ms: i64) -> SeatView {
        SeatView {
            id: self.id,
            section: self.section.clone(),
            row: self.row,
            number: self.number,
            price_krw: self.price_krw,
            status: effective_seat_status(self.status, self.hold_expires_at_ms, now_ms),
        }
    }
}

const EVENT_COLUMNS: &str = "id, name, venue, starts_at_ms, queue_id, hold_ttl_sec, \
    max_seats_per_order, status, created_at_ms";

fn event_record(row: &AnyRow) -> Result<EventRecord> {
    let status: String = row.try_get("status")?;
    let small = |col: &str| -> Result<u32> {
        let v: i64 = row.try_get(col)?;
        u32::try_from(v)
            .map_err(|_| StoreError::Inconsistent(format!("{col} out of range in the database")))
    };
    Ok(EventRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        venue: row.try_get("venue")?,
        starts_at_ms: row.try_get("starts_at_ms")?,
        queue_id: row.try_get("queue_id")?,
        hold_ttl_sec: small("hold_ttl_sec")?,
        max_seats_per_order: small("max_seats_per_order")?,
        status: EventStatus::parse(&status)
            .map_err(|_| StoreError::Inconsistent(format!("unknown event status {status:?}")))?,
        created_at_ms: row.try_get("created_at_ms")?,
    })
}

impl SqlStore {
    /// Writes the event, its sections and every seat in one transaction.
    pub async fn insert_event(&self, id: &str, e: &NewEvent, now_ms: i64) -> Result<EventRecord> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO events (id, name, venue, starts_at_ms, queue_id, hold_ttl_sec, \
             max_seats_per_order, status, created_at_ms) VALUES (?,?,?,?,?,?,?,?,?)",
        )
        .bind(id)
        .bind(&e.name)
        .bind(&e.venue)
        .bind(e.starts_at_ms)
        .bind(&e.queue_id)
        .bind(i64::from(e.hold_ttl_sec))
        .bind(i64::from(e.max_seats_per_order))
        .bind(e.status.as_str())
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        for (pos, s) in e.sections.iter().enumerate() {
            sqlx::query(
                "INSERT INTO sections (event_id, name, position, row_count, seats_per_row, price_krw) \
                 VALUES (?,?,?,?,?,?)",
            )
            .bind(id)
            .bind(&s.name)
            .bind(pos as i64)
            .bind(i64::from(s.rows))
            .bind(i64::from(s.seats_per_row))
            .bind(s.price_krw)
            .execute(&mut *tx)
            .await?;
        }
        let seats: Vec<_> = e.seats().collect();
        for chunk in seats.chunks(SEAT_INSERT_CHUNK) {
            let values = vec!["(?,?,?,?,?,'available')"; chunk.len()].join(",");
            let sql = format!(
                "INSERT INTO seats (event_id, section, row_no, seat_no, price_krw, status) VALUES {values}"
            );
            let mut q = sqlx::query(&sql);
            for (section, row, number, price) in chunk {
                q = q
                    .bind(id)
                    .bind(*section)
                    .bind(i64::from(*row))
                    .bind(i64::from(*number))
                    .bind(*price);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(EventRecord {
            id: id.to_string(),
            name: e.name.clone(),
            venue: e.venue.clone(),
            starts_at_ms: e.starts_at_ms,
            queue_id: e.queue_id.clone(),
            hold_ttl_sec: e.hold_ttl_sec,
            max_seats_per_order: e.max_seats_per_order,
            status: e.status,
            created_at_ms: now_ms,
        })
    }

    /// Newest first. Drafts only when `include_drafts` (admins).
    pub async fn list_events(
        &self,
        limit: i64,
        offset: i64,
        include_drafts: bool,
    ) -> Result<Vec<EventRecord>> {
        let filter = if include_drafts {
            ""
        } else {
            "WHERE status <> 'draft' "
        };
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events {filter}ORDER BY created_at_ms DESC, id DESC LIMIT ? OFFSET ?"
        );
        let rows = sqlx::query(&sql)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(event_record).collect()
    }

    pub async fn get_event(&self, id: &str) -> Result<Option<EventRecord>> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = ?");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(event_record).transpose()
    }

    /// Returns false when the event does not exist.
    pub async fn set_event_status(&self, id: &str, status: EventStatus) -> Result<bool> {
        let done = sqlx::query("UPDATE events SET status = ? WHERE id = ?")
            .bind(status.as_str())
            .bind(id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 1 {
            return Ok(true);
        }
        // MySQL counts unchanged rows as unaffected: setting the same status again.
        Ok(self.get_event(id).await?.is_some())
    }

    /// Moves every `on_sale` event with no seat left (none available, none
    /// held) to `sold_out`, announcing it to the waiting room through the
    /// outbox in the same transaction, and every `sold_out` event that got a
    /// seat back (a refund) to `on_sale` again. Returns the events that sold
    /// out in this call.
    pub async fn settle_sold_out(&self, now_ms: i64) -> Result<Vec<SoldOutEvent>> {
        let candidates = sqlx::query(&format!(
            "SELECT id, queue_id FROM events e WHERE status = 'on_sale' AND NOT {UNSOLD_SEAT}"
        ))
        .fetch_all(&self.pool)
        .await?;
        let mut sold_out = Vec::new();
        for row in &candidates {
            let event = SoldOutEvent {
                event_id: row.try_get("id")?,
                queue_id: row.try_get("queue_id")?,
            };
            let mut tx = self.begin_write().await?;
            // Checked again under the write: a refund may have landed since.
            let done = sqlx::query(&format!(
                "UPDATE events AS e SET status = 'sold_out' \
                 WHERE id = ? AND status = 'on_sale' AND NOT {UNSOLD_SEAT}"
            ))
            .bind(&event.event_id)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() != 1 {
                tx.rollback().await?;
                continue;
            }
            let announcement = SessionEvent::SoldOut {
                schema: EVENT_SCHEMA_VERSION,
                queue_id: event.queue_id.clone(),
                event_id: event.event_id.clone(),
                at: now_ms,
            };
            self.enqueue_in_tx(&mut tx, &announcement, now_ms).await?;
            tx.commit().await?;
            sold_out.push(event);
        }
        sqlx::query(&format!(
            "UPDATE events AS e SET status = 'on_sale' WHERE status = 'sold_out' AND {UNSOLD_SEAT}"
        ))
        .execute(&self.pool)
        .await?;
        Ok(sold_out)
    }

    /// The seat map, each seat with its status as of `now_ms`, optionally
    /// narrowed to a section and/or a status.
    pub async fn list_seats(
        &self,
        event_id: &str,
        section: Option<&str>,
        status: Option<SeatStatus>,
        now_ms: i64,
    ) -> Result<Vec<SeatView>> {
        let rows = self.seat_rows_shared(event_id, section).await?;
        Ok(seat_views(&rows, status, now_ms))
    }

    /// The seats of an event (or one section) as stored, in id order, from
    /// the snapshot every reader of this process shares (`seat_maps.rs`):
    /// the same `Arc` until it is read again.
    pub async fn seat_rows_shared(
        &self,
        event_id: &str,
        section: Option<&str>,
    ) -> Result<Arc<[SeatRow]>> {
        match self.seat_maps.lookup(event_id, section, Instant::now()) {
            Lookup::Fresh(rows) => Ok(rows),
            Lookup::Refresh(refresh) => {
                // Let go when this future is dropped before storing (an
                // error, or the client went away mid-read).
                let claim = self.seat_maps.claim(event_id, section, refresh);
                let read_at = Instant::now();
                let rows: Arc<[SeatRow]> = self.seat_rows(event_id, section).await?.into();
                claim.store(rows.clone(), read_at);
                Ok(rows)
            }
        }
    }

    /// The seats of an event (or one section) as stored, in id order.
    pub async fn seat_rows(&self, event_id: &str, section: Option<&str>) -> Result<Vec<SeatRow>> {
        let sql = format!(
            "SELECT id, section, row_no, seat_no, price_krw, status, hold_expires_at_ms FROM seats \
             WHERE event_id = ?{} ORDER BY id",
            if section.is_some() { " AND section = ?" } else { "" }
        );
        let mut q = sqlx::query(&sql).bind(event_id);
        if let Some(s) = section {
            q = q.bind(s);
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(SeatRow {
                    id: r.try_get("id")?,
                    section: r.try_get("section")?,
                    row: r.try_get("row_no")?,
                    number: r.try_get("seat_no")?,
                    price_krw: r.try_get("price_krw")?,
                    status: stored_seat_status(r.try_get("status")?)?,
                    hold_expires_at_ms: r.try_get("hold_expires_at_ms")?,
                })
            })
            .collect()
    }

    /// Seat ids of an event in id order (tests and benchmarks pick from it).
    pub async fn seat_ids(&self, event_id: &str) -> Result<Vec<i64>> {
        let rows = sqlx::query("SELECT id FROM seats WHERE event_id = ? ORDER BY id")
            .bind(event_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
    }

    /// The highest fencing token written to any seat of the event.
    pub async fn max_fence(&self, event_id: &str) -> Result<i64> {
        let row =
            sqlx::query("SELECT fence FROM seats WHERE event_id = ? ORDER BY fence DESC LIMIT 1")
                .bind(event_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(match row {
            Some(r) => r.try_get("fence")?,
            None => 0,
        })
    }
}
