use std::collections::HashMap;

use proptest::prelude::*;

use super::*;

const T0: u64 = 1_800_000_000_000;

fn settings(rate: u32, max_active: u32, ttl: u32) -> QueueSettings {
    QueueSettings::new(rate, max_active, ttl).unwrap()
}

fn user(name: &str) -> UserId {
    UserId::parse(name).unwrap()
}

fn open_queue(rate: u32, max_active: u32, ttl: u32) -> Queue {
    Queue::new(settings(rate, max_active, ttl), QueueStatus::Open)
}

#[test]
fn joining_twice_returns_the_same_entry() {
    let mut q = open_queue(10, 10, 60);
    let first = q.join(user("alice")).unwrap();
    let again = q.join(user("alice")).unwrap();
    assert!(first.created);
    assert!(!again.created);
    assert_eq!(first.seq, again.seq);
    assert_eq!(q.counters().waiting, 1);
}

#[test]
fn admission_is_fifo() {
    let mut q = open_queue(1000, 1000, 60);
    for i in 0..50 {
        q.join(user(&format!("u{i}"))).unwrap();
    }
    let mut admitted = Vec::new();
    for tick in 0..20 {
        admitted.extend(q.tick(T0 + tick * 10).admitted);
    }
    let seqs: Vec<Seq> = admitted.iter().map(|a| a.seq).collect();
    assert_eq!(seqs, (1..=50).collect::<Vec<_>>());
    assert_eq!(admitted[0].user.as_str(), "u0");
}

#[test]
fn positions_count_down_as_the_frontier_moves() {
    let mut q = open_queue(1, 100, 60);
    for i in 0..5 {
        q.join(user(&format!("u{i}"))).unwrap();
    }
    assert_eq!(q.position(5), 5);
    q.tick(T0);
    assert_eq!(q.position(5), 4);
    assert_eq!(q.eta_ms(4), 4000, "one admitted in the first second: 1/s");
}

#[test]
fn max_active_holds_until_a_slot_frees() {
    let mut q = open_queue(1000, 2, 60);
    for i in 0..5 {
        q.join(user(&format!("u{i}"))).unwrap();
    }
    let admitted = q.tick(T0 + 1000).admitted;
    assert_eq!(admitted.len(), 2);
    assert!(q.tick(T0 + 2000).admitted.is_empty());
    assert_eq!(q.leave(1), Some(LeaveOutcome::LeftActive));
    let next = q.tick(T0 + 3000).admitted;
    assert_eq!(next.iter().map(|a| a.seq).collect::<Vec<_>>(), vec![3]);
}

#[test]
fn expired_sessions_free_their_slots() {
    let mut q = open_queue(1000, 1, 10);
    q.join(user("a")).unwrap();
    q.join(user("b")).unwrap();
    assert_eq!(q.tick(T0).admitted.len(), 1);
    let before_expiry = q.tick(T0 + 9_999);
    assert!(before_expiry.admitted.is_empty() && before_expiry.expired.is_empty());
    let at_expiry = q.tick(T0 + 10_000);
    assert_eq!(at_expiry.expired.len(), 1);
    assert_eq!(at_expiry.admitted[0].user.as_str(), "b");
    assert_eq!(q.entry(1).unwrap().1, EntryState::Expired);
}

#[test]
fn entries_that_left_while_waiting_are_skipped_without_using_a_slot() {
    let mut q = open_queue(1, 10, 60);
    for name in ["a", "b", "c"] {
        q.join(user(name)).unwrap();
    }
    assert_eq!(q.leave(1), Some(LeaveOutcome::LeftWaiting));
    assert_eq!(q.leave(2), Some(LeaveOutcome::LeftWaiting));
    let admitted = q.tick(T0).admitted;
    assert_eq!(admitted.len(), 1);
    assert_eq!(admitted[0].user.as_str(), "c");
    assert_eq!(q.leave(2), Some(LeaveOutcome::AlreadyEnded));
    assert_eq!(q.leave(99), None);
    assert_eq!(q.counters().waiting, 0);
}

#[test]
fn paused_accepts_joins_but_admits_nobody() {
    let mut q = Queue::new(settings(100, 100, 60), QueueStatus::Paused);
    q.join(user("a")).unwrap();
    assert!(q.tick(T0).admitted.is_empty());
    q.set_status(QueueStatus::Open);
    assert_eq!(q.tick(T0 + 100).admitted.len(), 1);
}

#[test]
fn closed_refuses_new_joins_but_returns_existing_entries() {
    let mut q = open_queue(100, 100, 60);
    let seq = q.join(user("a")).unwrap().seq;
    q.set_status(QueueStatus::Closed);
    assert_eq!(q.join(user("b")), Err(QueueClosed));
    assert_eq!(q.join(user("a")).unwrap().seq, seq);
    assert!(
        q.tick(T0).admitted.is_empty(),
        "a closed queue admits nobody"
    );
}

#[test]
fn with_the_slots_taken_and_no_session_ended_the_ttl_sets_the_eta() {
    // Configured for 100/s, but 6 slots of 600 s keep it to 6 admissions
    // until sessions end: at the latest after 600 s, so one a 100 s.
    let mut q = open_queue(100, 6, 600);
    for i in 0..100 {
        q.join(user(&format!("u{i}"))).unwrap();
    }
    for tick in 0..=450 {
        q.tick(T0 + tick * 20);
    }
    assert_eq!(q.eta_ms(10), 1_000_000);
    // A session ends: one a second is all there is to go by now (one end,
    // measured over at least a second).
    assert_eq!(q.leave(1), Some(LeaveOutcome::LeftActive));
    q.tick(T0 + 10_000);
    assert_eq!(q.eta_ms(10), 10_000);
}

#[derive(Debug, Clone)]
enum Op {
    Join(u8),
    Leave(u8),
    Advance(u16),
    Pause,
    Resume,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<u8>().prop_map(Op::Join),
        1 => any::<u8>().prop_map(Op::Leave),
        4 => (1u16..400).prop_map(Op::Advance),
        1 => Just(Op::Pause),
        1 => Just(Op::Resume),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Whatever the interleaving of joins, leaves, pauses and time: FIFO,
    /// rate and max_active hold, and waiting positions never increase.
    #[test]
    fn the_queue_invariants_hold(
        rate in 1u32..60,
        max_active in 1u32..20,
        ttl in 1u32..5,
        ops in prop::collection::vec(op(), 1..300),
    ) {
        let mut q = open_queue(rate, max_active, ttl);
        let mut now = T0;
        let mut admissions: Vec<(u64, Seq)> = Vec::new();
        let mut last_position: HashMap<Seq, u64> = HashMap::new();
        for op in ops {
            match op {
                Op::Join(u) => {
                    let outcome = q.join(user(&format!("u{u}"))).unwrap();
                    let again = q.join(user(&format!("u{u}"))).unwrap();
                    prop_assert_eq!(outcome.seq, again.seq);
                }
                Op::Leave(u) => {
                    if let Some(seq) = q.seq_of(&format!("u{u}")) {
                        q.leave(seq);
                    }
                }
                Op::Advance(ms) => {
                    now += u64::from(ms);
                    for a in q.tick(now).admitted {
                        admissions.push((now, a.seq));
                    }
                }
                Op::Pause => q.set_status(QueueStatus::Paused),
                Op::Resume => q.set_status(QueueStatus::Open),
            }
            prop_assert!(q.counters().active <= u64::from(max_active));
            for seq in 1..=q.counters().joined_total {
                if q.entry(seq).unwrap().1 == EntryState::Waiting {
                    let pos = q.position(seq);
                    if let Some(prev) = last_position.insert(seq, pos) {
                        prop_assert!(pos <= prev, "position of {} rose from {} to {}", seq, prev, pos);
                    }
                }
            }
        }
        // FIFO: admitted in strictly increasing sequence order.
        prop_assert!(admissions.windows(2).all(|w| w[0].1 < w[1].1));
        // Rate: no one-second window holds more than `rate` admissions.
        for (i, &(t, _)) in admissions.iter().enumerate() {
            let in_window = admissions[i..].iter().take_while(|(t2, _)| *t2 < t + 1000).count();
            prop_assert!(in_window as u32 <= rate, "{} admissions within 1 s at rate {}", in_window, rate);
        }
        // Nobody who was still waiting was overtaken: every admitted seq was
        // waiting in order, so counters add up.
        let c = q.counters();
        prop_assert_eq!(c.admitted_total, admissions.len() as u64);
    }
}
