//! A small flash sale through the one-process runner on embedded defaults
//! (SQLite, the embedded Toss sandbox, the in-process bus): 2,000 fans for
//! 500 seats, some watching by push, some leaving, declined or abandoning,
//! and every promise checked at the end by the simulator (bench/flash-sale).
//! It asserts the invariants, never timings.

mod support;

use support::{database_url, Runner};
use ticketon_bench::flash_sale::{run, Args};

const ADMIN_KEY: &str = "flash-sale-admin-key";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_sale_keeps_every_promise() {
    let dir = std::env::temp_dir().join(format!("ticketon-flash-sale-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let runner = Runner::start(&dir, &[("TICKETON_ADMIN_KEY", ADMIN_KEY)]).await;

    let args = Args {
        queue_urls: vec![runner.queue.clone()],
        reservation_url: runner.reservations.clone(),
        sandbox_url: runner.sandbox.clone(),
        admin_key: ADMIN_KEY.into(),
        sandbox_secret_key: reservation_api::toss::SANDBOX_SECRET_KEY.into(),
        database_url: database_url(&dir),
        fans: 2_000,
        seats: 500,
        sections: 4,
        admission_rate: 100,
        checkout_secs: 2.0,
        session_ttl_sec: 60,
        hold_ttl_sec: 10,
        spike_share: 0.6,
        spike_secs: 3.0,
        tail_secs: 10.0,
        push_share: 0.1,
        max_streams: 500,
        stream_addresses: 4,
        leave_share: 0.05,
        second_tab_share: 0.05,
        decline_share: 0.05,
        abandon_share: 0.05,
        think_scale: 0.1,
        seed: 1,
        max_in_flight: 512,
        queue_in_flight: 512,
        join_workers: 64,
        poll_workers: 64,
        settle_secs: 60,
        max_secs: 240,
        pids: Vec::new(),
        report: dir.join("report"),
    };
    let checks = run(&args).await.expect("the sale ran").checks;
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| !c.passed())
        .map(|c| format!("{}: {} ({})", c.name, c.violations, c.detail))
        .collect();
    assert!(failed.is_empty(), "failed checks:\n{}", failed.join("\n"));
    assert_eq!(checks.len(), 11, "every check ran");
    let _ = std::fs::remove_dir_all(&dir);
}
