//! Schema migrations keep the rows they find: a payment written by the
//! schema before payments named their provider (migration 0004) reads back
//! as a Toss payment with its status, on SQLite and on MariaDB.

use std::borrow::Cow;
use std::str::FromStr;

use reservation_api::store::SqlStore;
use reservation_api_testkit::TestDb;
use sqlx::migrate::Migrator;

/// The migrations as they were before `0004_payment_provider`.
fn before_provider(all: &Migrator) -> Migrator {
    let mut old = Migrator {
        migrations: Cow::Owned(all.migrations[..3].to_vec()),
        ..Migrator::DEFAULT
    };
    old.set_locking(true);
    old
}

const OLD_PAYMENT: &str = "INSERT INTO payments (id, reservation_id, user_id, payment_key, \
    amount_krw, status, toss_status, created_at_ms, updated_at_ms) \
    VALUES ('pay-1', 'res-1', 'fan-1', 'pk-1', 70000, 'done', 'DONE', 1, 2)";

async fn reads_back_as_a_toss_payment(url: &str) {
    let store = SqlStore::connect(url, 2)
        .await
        .expect("migrating to the current schema");
    let payment = store
        .find_attempt("res-1", "pk-1")
        .await
        .unwrap()
        .expect("the payment written before the migration");
    assert_eq!(payment.provider, "toss");
    assert_eq!(payment.provider_status.as_deref(), Some("DONE"));
    assert_eq!(payment.amount_krw, 70_000);
    store.close().await;
}

#[tokio::test]
async fn sqlite_keeps_old_payments() {
    let all = sqlx::migrate!("./migrations/sqlite");
    let db = TestDb::sqlite();
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(db.url())
        .unwrap()
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    before_provider(&all).run(&pool).await.unwrap();
    sqlx::query(OLD_PAYMENT).execute(&pool).await.unwrap();
    pool.close().await;
    reads_back_as_a_toss_payment(db.url()).await;
    db.cleanup().await;
}

#[tokio::test]
async fn mysql_keeps_old_payments() {
    let Some(db) = TestDb::mysql().await else {
        return;
    };
    let all = sqlx::migrate!("./migrations/mysql");
    let pool = sqlx::MySqlPool::connect(db.url()).await.unwrap();
    before_provider(&all).run(&pool).await.unwrap();
    sqlx::query(OLD_PAYMENT).execute(&pool).await.unwrap();
    pool.close().await;
    reads_back_as_a_toss_payment(db.url()).await;
    db.cleanup().await;
}
