//! The distributed strategy's fencing check at the database write: a writer
//! holding an older token than the last one written is refused, and a lock
//! service that lost its counter is caught up instead of blocking sales.

use reservation_api::domain::SeatSelection;
use reservation_api::store::{Guard, PendingHold};
use reservation_api::{Buyer, SeatLockKind};
use reservation_api_testkit::*;

async fn fencing(db_url: &str, redis: Option<String>) {
    let s = start(db_url, SeatLockKind::Distributed, redis.clone(), false).await;
    let svc = s.handle.reservations();
    let (event_id, a, _) = s.create_event(1, 3, 300).await;
    let pending = |id: &str, seat: i64| PendingHold {
        reservation_id: id.into(),
        event_id: event_id.clone(),
        user_id: "u".into(),
        queue_id: QUEUE.into(),
        entry_id: "e".into(),
        selection: SeatSelection::new(&[seat], 4).unwrap(),
        now_ms: svc.now_ms(),
        expires_at_ms: svc.now_ms() + 60_000,
    };
    // Token 1000 writes; the seat is then released.
    assert!(svc
        .store
        .hold_conditional(&pending("r-new", a[0]), 1, &Guard::Fence(1_000))
        .await
        .unwrap());
    svc.store.release("r-new", "u", svc.now_ms()).await.unwrap();
    // A stale writer (token 999, its lock long expired) may not write.
    assert!(!svc
        .store
        .hold_conditional(&pending("r-stale", a[0]), 1, &Guard::Fence(999))
        .await
        .unwrap());
    assert!(svc
        .store
        .get_reservation("r-stale")
        .await
        .unwrap()
        .is_none());
    // The strategy itself, whose counter is far below 1000 (as after a
    // lock-service reset), catches up and holds the seat.
    let buyer = Buyer {
        user_id: "fan".into(),
        queue_id: QUEUE.into(),
        entry_id: "e-fan".into(),
        session_expires_at_ms: svc.now_ms() + 600_000,
    };
    let held = svc
        .hold(&buyer, &event_id, &[a[0]])
        .await
        .expect("hold after a counter reset");
    assert_eq!(held.seat_ids, vec![a[0]]);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fencing_on_sqlite_with_in_process_locks() {
    let db = TestDb::sqlite();
    fencing(db.url(), None).await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fencing_on_mariadb_with_redis() {
    let Some(redis) = redis_url().await else {
        return;
    };
    let Some(db) = TestDb::mysql().await else {
        return;
    };
    fencing(db.url(), Some(redis)).await;
    db.cleanup().await;
}
