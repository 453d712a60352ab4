//! Contention: 64 concurrent buyers make thousands of hold attempts on
//! overlapping seat sets (and keeping at most one hold each for a while, so seats keep
//! changing hands), through the HTTP API, for each strategy. Afterwards:
//!
//! * no seat was in two holds that were both certainly live at one time,
//!   and no seat is in two live holds in the database;
//! * every 201 matches the database (seats, amount, status, seat rows);
//! * every 409 names only requested seats, each of which some winner held
//!   during that request.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use rand::Rng;
use reservation_api::domain::ReservationStatus;
use reservation_api::SeatLockKind;
use reservation_api_testkit::*;
use tokio::sync::Mutex;

const TASKS: usize = 64;
const SEAT_ROWS: u32 = 4;
const SEATS_PER_ROW: u32 = 10;
const PRICE: i64 = 100_000;

#[derive(Debug, Clone)]
struct Win {
    id: String,
    /// The admission token it was taken with (one admission per hold: a
    /// release ends the purchase session).
    tok: String,
    seats: Vec<i64>,
    amount: i64,
    sent: f64,
    received: f64,
    /// (release sent, release answered) when this buyer released it.
    released: Option<(f64, f64)>,
}

#[derive(Debug, Clone)]
struct Loss {
    requested: Vec<i64>,
    named: Vec<i64>,
    sent: f64,
    received: f64,
}

#[derive(Default)]
struct Log {
    wins: Vec<Win>,
    losses: Vec<Loss>,
    busy: usize,
}

async fn race(db_url: &str, lock: SeatLockKind, redis: Option<String>, attempts: usize) {
    let s = Arc::new(start(db_url, lock, redis, false).await);
    let (event_id, seats, _) = s.create_event(SEAT_ROWS, SEATS_PER_ROW, 300).await;
    let seats = Arc::new(seats);
    let log = Arc::new(Mutex::new(Log::default()));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let (s, seats, log, event_id) = (s.clone(), seats.clone(), log.clone(), event_id.clone());
        tasks.push(tokio::spawn(async move {
            let mut wins: Vec<Win> = Vec::new();
            // Each buyer keeps at most one hold for a while, so seats keep
            // changing hands instead of running out.
            let mut kept: Option<usize> = None;
            for n in 0..attempts {
                let tok = token(&format!("buyer-{t}-{n}"));
                let (want, keep, drop_kept) = {
                    let mut rng = rand::rng();
                    let k = rng.random_range(1..=3usize);
                    let start = rng.random_range(0..=seats.len() - k);
                    (
                        seats[start..start + k].to_vec(),
                        rng.random_bool(0.5),
                        rng.random_bool(0.3),
                    )
                };
                if let (Some(i), true) = (kept, drop_kept) {
                    release_logged(&s, &mut wins[i], t0).await;
                    kept = None;
                }
                let sent = t0.elapsed().as_secs_f64();
                let (status, body) = s.hold(&tok, &event_id, &want).await;
                let received = t0.elapsed().as_secs_f64();
                match status {
                    201 => {
                        let id = body["reservationId"]
                            .as_str()
                            .expect("reservationId")
                            .to_string();
                        let got: Vec<i64> =
                            serde_json::from_value(body["seatIds"].clone()).expect("seatIds");
                        assert_eq!(got, want, "a 201 holds exactly the seats asked for");
                        let mut win = Win {
                            id,
                            tok: tok.clone(),
                            seats: got,
                            amount: body["amount"].as_i64().expect("amount"),
                            sent,
                            received,
                            released: None,
                        };
                        if keep && kept.is_none() {
                            kept = Some(wins.len());
                        } else {
                            release_logged(&s, &mut win, t0).await;
                        }
                        wins.push(win);
                    }
                    409 => {
                        assert_eq!(body["error"]["code"], "seat_unavailable", "{body}");
                        let named: Vec<i64> =
                            serde_json::from_value(body["error"]["seatIds"].clone())
                                .expect("seatIds");
                        log.lock().await.losses.push(Loss {
                            requested: want,
                            named,
                            sent,
                            received,
                        });
                    }
                    503 => log.lock().await.busy += 1,
                    other => panic!("unexpected status {other}: {body}"),
                }
            }
            log.lock().await.wins.extend(wins);
        }));
    }
    for t in tasks {
        t.await.expect("buyer task");
    }
    let log = log.lock().await;
    assert!(log.wins.len() + log.losses.len() + log.busy == TASKS * attempts);
    assert!(
        !log.wins.is_empty() && !log.losses.is_empty(),
        "the race must produce winners and losers"
    );
    eprintln!(
        "{:?}: {} holds, {} conflicts, {} busy",
        lock,
        log.wins.len(),
        log.losses.len(),
        log.busy
    );

    // 1. No seat in two holds that were certainly live at the same time:
    //    a hold is certainly live from its 201 until its release was sent.
    let mut by_seat: HashMap<i64, Vec<(f64, f64)>> = HashMap::new();
    for w in &log.wins {
        let until = w.released.map(|(sent, _)| sent).unwrap_or(f64::INFINITY);
        for seat in &w.seats {
            by_seat.entry(*seat).or_default().push((w.received, until));
        }
    }
    for (seat, mut spans) in by_seat {
        spans.sort_by(|a, b| a.0.total_cmp(&b.0));
        for pair in spans.windows(2) {
            assert!(
                pair[0].1 <= pair[1].0,
                "seat {seat} was in two live holds: {pair:?}"
            );
        }
    }

    // 2. Every 201 matches the database.
    let svc = s.handle.reservations();
    let now = svc.now_ms();
    for w in &log.wins {
        let r = svc
            .store
            .get_reservation(&w.id)
            .await
            .unwrap()
            .expect("a 201 reservation is stored");
        assert_eq!(r.seat_ids, w.seats);
        assert_eq!(r.amount_krw, w.amount);
        assert_eq!(w.amount, PRICE * w.seats.len() as i64);
        let expected = if w.released.is_some() {
            ReservationStatus::Released
        } else {
            ReservationStatus::Held
        };
        assert_eq!(r.status, expected);
    }
    let live = svc.store.live_holds(&event_id, now).await.unwrap();
    let unreleased = log.wins.iter().filter(|w| w.released.is_none()).count();
    assert_eq!(
        live.len(),
        unreleased,
        "live holds in the database = unreleased 201s"
    );
    let mut owner: HashMap<i64, String> = HashMap::new();
    for r in &live {
        for seat in &r.seat_ids {
            assert!(
                owner.insert(*seat, r.id.clone()).is_none(),
                "seat {seat} is in two live holds"
            );
        }
    }
    let held_rows: HashMap<i64, String> = svc
        .store
        .held_seats(&event_id, now)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(held_rows, owner, "seat rows agree with live holds");

    // 3. Every 409 names requested seats that a winner held during the request.
    for l in &log.losses {
        assert!(!l.named.is_empty());
        for seat in &l.named {
            assert!(l.requested.contains(seat), "409 named an unrequested seat");
            let explained = log.wins.iter().any(|w| {
                w.seats.contains(seat)
                    && w.sent <= l.received
                    && w.released.is_none_or(|(_, answered)| answered >= l.sent)
            });
            assert!(
                explained,
                "409 named seat {seat} that no hold had at the time: {l:?}"
            );
        }
    }

    drop(log);
    match Arc::try_unwrap(s) {
        Ok(s) => s.stop().await,
        Err(_) => panic!("server still shared"),
    }
}

async fn release_logged(s: &TestServer, win: &mut Win, t0: Instant) {
    let sent = t0.elapsed().as_secs_f64();
    let (st, _) = s.release(&win.tok, &win.id).await;
    assert_eq!(st, 200, "releasing one's own live hold");
    win.released = Some((sent, t0.elapsed().as_secs_f64()));
}

// 64 buyers x 50 attempts = 3,200 attempts per strategy on MariaDB.
const MARIADB_ATTEMPTS: usize = 50;
// SQLite serializes writers; fewer attempts keep the suite quick.
const SQLITE_ATTEMPTS: usize = 15;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_pessimistic_never_double_books() {
    let Some(db) = TestDb::mysql().await else {
        return;
    };
    race(db.url(), SeatLockKind::Pessimistic, None, MARIADB_ATTEMPTS).await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_optimistic_never_double_books() {
    let Some(db) = TestDb::mysql().await else {
        return;
    };
    race(db.url(), SeatLockKind::Optimistic, None, MARIADB_ATTEMPTS).await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_distributed_never_double_books() {
    let Some(redis) = redis_url().await else {
        return;
    };
    let Some(db) = TestDb::mysql().await else {
        return;
    };
    race(
        db.url(),
        SeatLockKind::Distributed,
        Some(redis),
        MARIADB_ATTEMPTS,
    )
    .await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_every_strategy_never_double_books() {
    for lock in [
        SeatLockKind::Pessimistic,
        SeatLockKind::Optimistic,
        SeatLockKind::Distributed,
    ] {
        let db = TestDb::sqlite();
        race(db.url(), lock, None, SQLITE_ATTEMPTS).await;
        db.cleanup().await;
    }
}
