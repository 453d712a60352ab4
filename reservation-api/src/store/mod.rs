//! Storage: one implementation over sqlx's `Any` driver that runs on MySQL
//! (MariaDB in production) and on SQLite (the embedded default, and the
//! in-memory store for tests when given `sqlite::memory:`).
//!
//! Why one implementation and not two: nearly all SQL is the same on both
//! backends, and one code path means one set of behaviours to test. Where
//! the dialects differ, [`Dialect`] supplies the fragment (`FOR UPDATE`,
//! `INSERT IGNORE`) or the transaction opener. Times are Unix ms in BIGINT
//! columns because `Any` carries no date types.
//!
//! Concurrency per backend:
//! * MySQL: InnoDB row locks. Sessions run at READ COMMITTED so that every
//!   locking statement (always by primary key) takes record locks only,
//!   never gap locks that would make unrelated holds wait on each other.
//! * SQLite: one writer at a time. Every write transaction starts with
//!   `BEGIN IMMEDIATE`, which takes the database's write lock up front; a
//!   read inside it therefore sees the state no one else can change before
//!   commit, which is the guarantee `FOR UPDATE` gives on MySQL.

mod backlogs;
mod error;
mod events;
mod holds;
mod idempotency;
mod outbox;
mod payments;
mod refunds;
mod reservations;
mod seat_maps;
mod sessions;
mod settlement;
mod tickets;

pub use backlogs::{Backlog, Backlogs};
pub use error::{Result, StoreError};
pub use events::{EventRecord, SeatRow, SeatView, SectionSummary};
pub use holds::{Guard, PendingHold};
pub use idempotency::IdemBegin;
pub use outbox::OutboxRecord;
pub use payments::{ChargedInfo, PaymentRecord};
pub use refunds::{RefundRecord, RefundTarget, StuckRefund};
pub use reservations::ReservationRecord;
pub(crate) use seat_maps::seat_views;
pub use sessions::SessionRef;
pub use settlement::{Order, OrderSeat, Settlement};
pub use tickets::{CancelStart, TicketRecord};

use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, Executor, Row, Transaction};

use crate::domain::{SeatState, SeatStatus};
use seat_maps::SeatMaps;

/// A pool on `url` as the backend wants it (session settings, SQLite's WAL
/// and busy timeout), without migrations.
async fn open_pool(url: &str, max_connections: u32) -> Result<(sqlx::AnyPool, Dialect)> {
    sqlx::any::install_default_drivers();
    let dialect = Dialect::from_url(url)?;
    let (url, options) = match dialect {
        Dialect::MySql => (
            url.replacen("mariadb:", "mysql:", 1),
            AnyPoolOptions::new()
                .max_connections(max_connections.max(1))
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                            .await?;
                        Ok(())
                    })
                }),
        ),
        Dialect::Sqlite => {
            // An in-memory database exists per connection: keep exactly one.
            let memory = url.contains(":memory:");
            let max = if memory {
                1
            } else {
                max_connections.clamp(1, 8)
            };
            let options = AnyPoolOptions::new()
                .max_connections(max)
                .min_connections(if memory { 1 } else { 0 })
                .idle_timeout(if memory {
                    None
                } else {
                    Some(Duration::from_secs(600))
                })
                .max_lifetime(if memory {
                    None
                } else {
                    Some(Duration::from_secs(1800))
                })
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        if !memory {
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                            conn.execute("PRAGMA synchronous = NORMAL").await?;
                        }
                        Ok(())
                    })
                });
            (sqlite_url_creating_file(url), options)
        }
    };
    let pool = options
        .acquire_timeout(POOL_ACQUIRE_TIMEOUT)
        // sqlx warns about every acquire slower than 2 s: a sale that
        // saturates the pool wrote 400,000 such lines (100 MB) in 15
        // minutes. A request that waits too long is answered 503
        // `database_unavailable` and counted; that is the signal.
        .acquire_slow_threshold(POOL_ACQUIRE_TIMEOUT)
        .connect(&url)
        .await?;
    Ok((pool, dialect))
}

/// How long a request waits for a database connection before it is
/// answered 503 `database_unavailable`.
const POOL_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

static MYSQL_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/mysql");
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    MySql,
    Sqlite,
}

impl Dialect {
    pub fn from_url(url: &str) -> Result<Self> {
        if url.starts_with("mysql:") || url.starts_with("mariadb:") {
            Ok(Dialect::MySql)
        } else if url.starts_with("sqlite:") {
            Ok(Dialect::Sqlite)
        } else {
            Err(StoreError::Inconsistent(
                "the database URL must start with mysql:// or sqlite:".into(),
            ))
        }
    }

    fn for_update(self) -> &'static str {
        match self {
            Dialect::MySql => " FOR UPDATE",
            Dialect::Sqlite => "",
        }
    }

    fn insert_ignore(self) -> &'static str {
        match self {
            Dialect::MySql => "INSERT IGNORE",
            Dialect::Sqlite => "INSERT OR IGNORE",
        }
    }
}

/// The reservation store. Cheap to clone (a pool handle).
#[derive(Clone, Debug)]
pub struct SqlStore {
    pool: AnyPool,
    dialect: Dialect,
    /// Seat maps read recently (`seat_maps.rs`); none kept unless
    /// [`SqlStore::with_seat_map_max_age`] says how long.
    seat_maps: Arc<SeatMaps>,
}

/// Adds `mode=rwc` to a SQLite file URL so the file is created on first start.
fn sqlite_url_creating_file(url: &str) -> String {
    if url.contains(":memory:") || url.contains("mode=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

impl SqlStore {
    /// Serve seat maps up to `max_age` old from memory (see `seat_maps.rs`).
    pub fn with_seat_map_max_age(mut self, max_age: Duration) -> Self {
        self.seat_maps = Arc::new(SeatMaps::new(max_age));
        self
    }

    /// Seats were written: the next reader of every map reads again.
    pub(crate) fn seats_changed(&self) {
        self.seat_maps.changed();
    }

    /// Connects and runs the backend's migrations.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self> {
        let (pool, dialect) = open_pool(url, max_connections).await?;
        match dialect {
            Dialect::MySql => MYSQL_MIGRATIONS.run(&pool).await?,
            Dialect::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
        }
        Ok(SqlStore {
            pool,
            dialect,
            seat_maps: Arc::new(SeatMaps::new(Duration::ZERO)),
        })
    }

    /// The same database through a pool of its own of `max_connections`,
    /// sharing this store's seat-map cache (so that its seat writes mark
    /// the maps stale as any other). For the background work that frees
    /// capacity (publishing session ends, expiring holds, applying
    /// admissions): under a sale's load every connection of the request
    /// pool has a queue of waiting requests, and that work must not wait
    /// behind the load it relieves. An in-memory SQLite database exists
    /// once per connection, so it keeps its one connection.
    pub async fn with_own_pool(&self, url: &str, max_connections: u32) -> Result<Self> {
        if self.dialect == Dialect::Sqlite && url.contains(":memory:") {
            return Ok(self.clone());
        }
        let (pool, dialect) = open_pool(url, max_connections).await?;
        Ok(SqlStore {
            pool,
            dialect,
            seat_maps: self.seat_maps.clone(),
        })
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Opens a write transaction: `BEGIN IMMEDIATE` on SQLite (see module doc).
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Any>> {
        Ok(match self.dialect {
            Dialect::MySql => self.pool.begin().await?,
            Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
        })
    }

    /// Reads seat rows without locking them (optimistic and distributed
    /// strategies judge from this and let a conditional write confirm).
    pub async fn read_seats(&self, ids: &[i64]) -> Result<Vec<SeatState>> {
        let sql = format!(
            "SELECT id, event_id, status, hold_expires_at_ms, price_krw, version \
             FROM seats WHERE id IN ({}) ORDER BY id",
            placeholders(ids.len())
        );
        let mut q = sqlx::query(&sql);
        for id in ids {
            q = q.bind(*id);
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter().map(seat_state).collect()
    }
}

pub(crate) fn placeholders(n: usize) -> String {
    let mut s = String::with_capacity(n * 2);
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        s.push('?');
    }
    s
}

pub(crate) fn seat_state(row: &AnyRow) -> Result<SeatState> {
    Ok(SeatState {
        id: row.try_get("id")?,
        event_id: row.try_get("event_id")?,
        status: stored_seat_status(row.try_get("status")?)?,
        hold_expires_at_ms: row.try_get("hold_expires_at_ms")?,
        price_krw: row.try_get("price_krw")?,
        version: row.try_get("version")?,
    })
}

fn stored_seat_status(s: String) -> Result<SeatStatus> {
    SeatStatus::parse(&s)
        .map_err(|_| StoreError::Inconsistent(format!("unknown seat status {s:?} in the database")))
}

/// True for failures that a retry of the whole transaction resolves:
/// InnoDB deadlocks and lock-wait timeouts, SQLite busy/locked.
pub(crate) fn is_retryable(e: &StoreError) -> bool {
    match e {
        StoreError::Database(e) => is_retryable_sqlx(e),
        _ => false,
    }
}

/// [`is_retryable`] on the driver's error.
pub(crate) fn is_retryable_sqlx(e: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = e else {
        return false;
    };
    if let Some(my) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        return matches!(my.number(), 1205 | 1213);
    }
    matches!(
        db.code().as_deref(),
        Some("5" | "6" | "261" | "517" | "262")
    )
}

/// How many times a transaction that hit a retryable failure is re-run.
pub(crate) const DB_RETRIES: usize = 5;

/// Runs `op` again (with backoff) while it fails with a retryable error.
pub async fn retrying<T, F, Fut>(mut op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut attempt = 0;
    loop {
        match op().await {
            Err(e) if is_retryable(&e) && attempt < DB_RETRIES => {
                attempt += 1;
                retry_pause(attempt).await;
            }
            other => return other,
        }
    }
}

pub(crate) async fn retry_pause(attempt: usize) {
    let ms = 2u64 << attempt.min(5);
    tokio::time::sleep(Duration::from_millis(ms + rand::random_range(0..ms))).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_file_urls_create_the_file_and_memory_urls_stay() {
        assert_eq!(
            sqlite_url_creating_file("sqlite://a.db"),
            "sqlite://a.db?mode=rwc"
        );
        assert_eq!(
            sqlite_url_creating_file("sqlite://a.db?x=1"),
            "sqlite://a.db?x=1&mode=rwc"
        );
        assert_eq!(
            sqlite_url_creating_file("sqlite::memory:"),
            "sqlite::memory:"
        );
        assert_eq!(placeholders(3), "?,?,?");
        assert_eq!(Dialect::from_url("mariadb://x").unwrap(), Dialect::MySql);
        assert!(Dialect::from_url("postgres://x").is_err());
    }
}
