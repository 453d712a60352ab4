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

fn scheduled(prequeue: bool, opens_at_ms: u64) -> Queue {
    let settings = settings(1000, 1000, 60)
        .with_schedule(opens_at_ms, prequeue)
        .unwrap();
    Queue::new(settings, settings.initial_status())
}

fn drawn_for(q: &Queue, block: u64) -> super::LineOrder {
    let participants: Vec<[u8; 16]> = (1..=block)
        .map(|seq| {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&seq.to_be_bytes());
            id
        })
        .collect();
    let order = crate::model::draw::draw(&[42; 32], &participants);
    assert_eq!(q.order().block(), 0);
    order
}

fn admit_all(q: &mut Queue, from_ms: u64) -> Vec<Seq> {
    let mut seqs = Vec::new();
    for tick in 0..200 {
        seqs.extend(q.tick(from_ms + tick * 10).admitted.iter().map(|a| a.seq));
    }
    seqs
}

#[test]
fn a_prequeue_admits_nobody_and_shows_no_position_until_its_draw() {
    let opens = T0 + 10_000;
    let mut q = scheduled(true, opens);
    assert_eq!(q.status(), QueueStatus::Prequeue);
    for i in 0..40 {
        q.join(user(&format!("early{i}"))).unwrap();
    }
    assert!(q.tick(T0).admitted.is_empty());
    assert_eq!(q.open_if_due(opens - 1), None);
    let undrawn = q.undrawn(7).expect("no place before the draw");
    assert_eq!(undrawn.participants, 40);
    assert_eq!(undrawn.opens_at_ms, opens);
    assert_eq!((undrawn.eta_p25_ms, undrawn.eta_p75_ms), (10, 30), "1000/s");
    // The opening seals the block; later joins line up behind it.
    assert_eq!(q.open_if_due(opens), Some(40));
    for i in 0..10 {
        q.join(user(&format!("late{i}"))).unwrap();
    }
    assert!(q.undrawn(40).is_some() && q.undrawn(41).is_none());
    assert_eq!(q.position(41), 41, "the whole block is ahead");
    assert!(
        q.tick(opens).admitted.is_empty(),
        "sealed, not drawn: nobody goes in"
    );
    assert_eq!(q.open_if_due(opens + 5), Some(40), "still due");

    let order = drawn_for(&q, 40);
    assert!(!q.commit_draw(drawn_for(&q, 39)), "not the sealed block");
    assert!(q.commit_draw(order.clone()));
    assert!(!q.commit_draw(order.clone()), "drawn once");
    assert_eq!(q.status(), QueueStatus::Open);
    assert_eq!(q.open_if_due(opens + 6), None);
    assert!(q.undrawn(3).is_none());
    let first = order.seq_at(1);
    assert_eq!(q.position(first), 1);

    let seqs = admit_all(&mut q, opens + 10);
    let expected: Vec<Seq> = (1..=50).map(|place| order.seq_at(place)).collect();
    assert_eq!(seqs, expected, "the block by the draw, then join order");
    assert_eq!(&seqs[40..], &(41..=50).collect::<Vec<_>>()[..]);
}

#[test]
fn the_drawn_line_skips_who_left_and_keeps_positions_falling() {
    let opens = T0 + 1_000;
    let mut q = scheduled(true, opens);
    for i in 0..20 {
        q.join(user(&format!("u{i}"))).unwrap();
    }
    q.open_if_due(opens);
    let order = drawn_for(&q, 20);
    q.commit_draw(order.clone());
    let gone = order.seq_at(2);
    assert_eq!(q.leave(gone), Some(LeaveOutcome::LeftWaiting));
    let watched = order.seq_at(10);
    let mut last = q.position(watched);
    let mut seqs = Vec::new();
    for tick in 0..100 {
        seqs.extend(q.tick(opens + tick).admitted.iter().map(|a| a.seq));
        assert!(q.position(watched) <= last);
        last = q.position(watched);
    }
    assert_eq!(seqs.len(), 19);
    assert!(!seqs.contains(&gone));
    assert_eq!(q.counters().active, 19);
}

#[test]
fn a_schedule_without_a_prequeue_opens_a_paused_line_first_come_first_served() {
    let opens = T0 + 1_000;
    let mut q = scheduled(false, opens);
    assert_eq!(q.status(), QueueStatus::Paused);
    for i in 0..5 {
        q.join(user(&format!("u{i}"))).unwrap();
    }
    assert!(q.undrawn(1).is_none());
    assert_eq!(q.position(3), 3);
    assert!(q.tick(opens - 1).admitted.is_empty());
    assert_eq!(q.open_if_due(opens), None);
    assert_eq!(q.status(), QueueStatus::Open);
    assert_eq!(admit_all(&mut q, opens), vec![1, 2, 3, 4, 5]);
}

#[test]
fn an_operator_who_reopens_a_closed_prequeue_still_waits_for_the_draw() {
    let opens = T0 + 1_000;
    let mut q = scheduled(true, opens);
    q.join(user("a")).unwrap();
    q.set_status(QueueStatus::Closed);
    q.set_status(QueueStatus::Open);
    assert!(q.tick(opens - 1).admitted.is_empty());
    assert_eq!(q.open_if_due(opens), Some(1));
    assert!(q.tick(opens).admitted.is_empty());
}

#[test]
fn a_prequeue_nobody_joined_opens_at_its_time() {
    let opens = T0 + 1_000;
    let mut q = scheduled(true, opens);
    assert_eq!(q.open_if_due(opens), Some(0));
    assert!(q.commit_draw(super::LineOrder::default()));
    assert_eq!(q.status(), QueueStatus::Open);
    q.join(user("first")).unwrap();
    assert_eq!(admit_all(&mut q, opens), vec![1]);
}
