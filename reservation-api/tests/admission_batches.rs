//! The admissions consumer applies `ticketon.admissions` events in batches
//! (one transaction, conditional writes, no reads). A batch must leave every
//! session exactly as applying its events one by one does, on SQLite and on
//! MariaDB, and a redelivered batch must change nothing.

use reservation_api::domain::session::SessionStatus;
use reservation_api::store::{SessionRef, SqlStore};
use reservation_api_testkit::TestDb;
use sqlx::Row;
use ticketon_wire::{AdmissionEvent, EVENT_SCHEMA_VERSION};

const QUEUE: &str = "q-batches";
const NOW_MS: i64 = 1_750_000_000_000;

fn entry(run: &str, fan: &str) -> String {
    format!("{run}/{fan}")
}

fn admitted(run: &str, fan: &str) -> AdmissionEvent {
    AdmissionEvent::Admitted {
        schema: EVENT_SCHEMA_VERSION,
        queue_id: QUEUE.into(),
        entry_id: entry(run, fan),
        user_id: format!("user-{fan}"),
        admitted_at: NOW_MS - 1_000,
        expires_at: NOW_MS + 600_000,
    }
}

fn left(run: &str, fan: &str) -> AdmissionEvent {
    AdmissionEvent::Left {
        schema: EVENT_SCHEMA_VERSION,
        queue_id: QUEUE.into(),
        entry_id: entry(run, fan),
        user_id: format!("user-{fan}"),
        at: NOW_MS - 500,
    }
}

fn expired(run: &str, fan: &str) -> AdmissionEvent {
    AdmissionEvent::Expired {
        schema: EVENT_SCHEMA_VERSION,
        queue_id: QUEUE.into(),
        entry_id: entry(run, fan),
        user_id: format!("user-{fan}"),
        at: NOW_MS - 200,
    }
}

/// A's session ends and its late `admitted` must not reopen it; B stays
/// active; C's end arrives for a session this side never saw; D was opened
/// by its token's first use before any event arrived.
fn events(run: &str) -> Vec<AdmissionEvent> {
    vec![
        admitted(run, "A"),
        admitted(run, "B"),
        left(run, "A"),
        admitted(run, "A"),
        expired(run, "C"),
        admitted(run, "D"),
        expired(run, "D"),
    ]
}

/// D's session as its token's first use opens it.
async fn open_by_token(store: &SqlStore, run: &str) {
    let session = SessionRef {
        queue_id: QUEUE.into(),
        entry_id: entry(run, "D"),
        user_id: "user-D".into(),
    };
    store
        .ensure_session_active(&session, NOW_MS + 600_000, NOW_MS - 2_000)
        .await
        .expect("token opens the session");
}

/// (fan, queue, user, status, expires_at_ms, updated_at_ms) of `run`'s sessions.
type SessionRow = (String, String, String, String, i64, i64);

async fn rows(pool: &sqlx::AnyPool, run: &str) -> Vec<SessionRow> {
    let found = sqlx::query(
        "SELECT entry_id, queue_id, user_id, status, expires_at_ms, updated_at_ms \
         FROM admission_sessions WHERE entry_id LIKE ? ORDER BY entry_id",
    )
    .bind(format!("{run}/%"))
    .fetch_all(pool)
    .await
    .expect("read sessions");
    found
        .iter()
        .map(|r| -> SessionRow {
            let entry_id: String = r.try_get("entry_id").unwrap();
            (
                entry_id.trim_start_matches(&format!("{run}/")).to_string(),
                r.try_get("queue_id").unwrap(),
                r.try_get("user_id").unwrap(),
                r.try_get("status").unwrap(),
                r.try_get("expires_at_ms").unwrap(),
                r.try_get("updated_at_ms").unwrap(),
            )
        })
        .collect()
}

async fn batch_matches_one_by_one(url: &str) {
    let store = SqlStore::connect(url, 2).await.expect("connect");
    // `SqlStore::connect` installed the `Any` drivers and created the schema.
    let pool = sqlx::AnyPool::connect(url).await.expect("second pool");

    open_by_token(&store, "one").await;
    for event in events("one") {
        store
            .apply_admission_event(&event, NOW_MS)
            .await
            .expect("apply one event");
    }
    open_by_token(&store, "batch").await;
    store
        .apply_admission_events(&events("batch"), NOW_MS)
        .await
        .expect("apply the batch");

    let one = rows(&pool, "one").await;
    let batch = rows(&pool, "batch").await;
    assert_eq!(batch, one, "a batch ends where its events one by one end");

    let status = |fan: &str| {
        batch
            .iter()
            .find(|r| r.0 == fan)
            .map(|r| r.3.clone())
            .unwrap_or_else(|| panic!("no session for {fan}"))
    };
    assert_eq!(status("A"), SessionStatus::Left.as_str(), "{batch:?}");
    assert_eq!(status("B"), SessionStatus::Active.as_str(), "{batch:?}");
    assert_eq!(status("C"), SessionStatus::Expired.as_str(), "{batch:?}");
    assert_eq!(status("D"), SessionStatus::Expired.as_str(), "{batch:?}");
    assert_eq!(
        store
            .session_status(&entry("batch", "A"))
            .await
            .expect("read status"),
        Some(SessionStatus::Left)
    );

    // A redelivered batch (a crash before the bus commit) changes nothing.
    store
        .apply_admission_events(&events("batch"), NOW_MS + 1_000)
        .await
        .expect("apply the batch again");
    assert_eq!(
        rows(&pool, "batch").await,
        batch,
        "redelivery changed a session"
    );
    // And an empty batch is nothing to do.
    store
        .apply_admission_events(&[], NOW_MS)
        .await
        .expect("empty batch");

    pool.close().await;
    store.close().await;
}

#[tokio::test]
async fn batch_matches_one_by_one_on_sqlite() {
    let db = TestDb::sqlite();
    batch_matches_one_by_one(db.url()).await;
    db.cleanup().await;
}

#[tokio::test]
async fn batch_matches_one_by_one_on_mariadb() {
    let Some(db) = TestDb::mysql().await else {
        return;
    };
    batch_matches_one_by_one(db.url()).await;
    db.cleanup().await;
}
