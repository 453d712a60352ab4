//! Hold expiry on every strategy and backend: an expired hold stops
//! blocking its seats at once (before any sweep), and the sweeper later
//! marks it `expired` without touching the seats' new holder.

use reservation_api::domain::ReservationStatus;
use reservation_api::{Buyer, Error, SeatLockKind};
use reservation_api_testkit::*;

fn buyer(user: &str) -> Buyer {
    Buyer {
        user_id: user.into(),
        queue_id: QUEUE.into(),
        entry_id: format!("e-{user}"),
        session_expires_at_ms: i64::MAX,
    }
}

async fn expiry(db_url: &str, lock: SeatLockKind, redis: Option<String>) {
    let s = start(db_url, lock, redis, true).await;
    let clock = s.clock.clone().expect("manual clock");
    let svc = s.handle.reservations();
    let (event_id, a, _) = s.create_event(1, 4, 30).await;

    let first = svc
        .hold(&buyer("u1"), &event_id, &[a[0], a[1]])
        .await
        .expect("first hold");
    // Still live one millisecond before the end.
    clock.advance_ms(29_999);
    let err = svc
        .hold(&buyer("u2"), &event_id, &[a[1], a[2]])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::SeatUnavailable { seat_ids } if seat_ids == &vec![a[1]]),
        "{err:?}"
    );
    // At the end it no longer blocks: the seats can be taken at once.
    clock.advance_ms(1);
    let second = svc
        .hold(&buyer("u2"), &event_id, &[a[1], a[2]])
        .await
        .expect("seat of an expired hold");
    assert_eq!(
        svc.get_reservation("u1", &first.id).await.unwrap().status,
        ReservationStatus::Expired
    );

    // The sweeper expires the first hold; a[1] stays with the second, a[0] is freed.
    let mut swept = false;
    for _ in 0..200 {
        let stored = svc.store.get_reservation(&first.id).await.unwrap().unwrap();
        if stored.status == ReservationStatus::Expired {
            swept = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(swept, "the sweeper marks the expired hold");
    let held = svc.store.held_seats(&event_id, svc.now_ms()).await.unwrap();
    assert_eq!(
        held,
        vec![(a[1], second.id.clone()), (a[2], second.id.clone())]
    );
    let third = svc
        .hold(&buyer("u3"), &event_id, &[a[0]])
        .await
        .expect("a freed seat");
    assert_eq!(third.seat_ids, vec![a[0]]);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_on_sqlite_every_strategy() {
    for lock in [
        SeatLockKind::Pessimistic,
        SeatLockKind::Optimistic,
        SeatLockKind::Distributed,
    ] {
        let db = TestDb::sqlite();
        expiry(db.url(), lock, None).await;
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_on_mariadb_every_strategy() {
    let Some(redis) = redis_url().await else {
        return;
    };
    for lock in [
        SeatLockKind::Pessimistic,
        SeatLockKind::Optimistic,
        SeatLockKind::Distributed,
    ] {
        let Some(db) = TestDb::mysql().await else {
            return;
        };
        let r = (lock == SeatLockKind::Distributed).then(|| redis.clone());
        expiry(db.url(), lock, r).await;
        db.cleanup().await;
    }
}
