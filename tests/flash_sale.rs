//! A small flash sale through the one-process runner on embedded defaults
//! (SQLite, the embedded Toss sandbox, the in-process bus): 2,000 fans for
//! 500 seats, some watching by push, some leaving, declined or abandoning,
//! and every promise checked at the end by the simulator (bench/flash-sale).
//! It asserts the invariants, never timings.

mod support;

use std::process::{Command, Stdio};

use support::{wait_until_up, Runner};
use ticketon_bench::flash_sale::{run, Args};
use ticketon_runtime::test_env::{free_port, http_client};

const ADMIN_KEY: &str = "flash-sale-admin-key";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_sale_keeps_every_promise() {
    let [queue_port, reservation_port, sandbox_port] =
        [(); 3].map(|_| free_port().expect("a free port"));
    let dir = std::env::temp_dir().join(format!("ticketon-flash-sale-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let database_url = format!("sqlite://{}", dir.join("reservations.db").display());
    let queue = format!("http://127.0.0.1:{queue_port}");
    let reservations = format!("http://127.0.0.1:{reservation_port}");
    let sandbox = format!("http://127.0.0.1:{sandbox_port}");
    let _runner = Runner(
        Command::new(env!("CARGO_BIN_EXE_ticketon"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "warn")
            .env("TICKETON_ADMIN_KEY", ADMIN_KEY)
            .env("TICKETON_QUEUE_LISTEN", format!("127.0.0.1:{queue_port}"))
            .env(
                "TICKETON_RESERVATION_LISTEN",
                format!("127.0.0.1:{reservation_port}"),
            )
            .env(
                "TICKETON_TOSS_SANDBOX_LISTEN",
                format!("127.0.0.1:{sandbox_port}"),
            )
            .env("TICKETON_DATABASE_URL", &database_url)
            .stdout(Stdio::null())
            .spawn()
            .expect("starting the ticketon runner"),
    );
    let http = http_client();
    wait_until_up(&http, &format!("{queue}/healthz")).await;
    wait_until_up(&http, &format!("{reservations}/healthz")).await;

    let args = Args {
        queue_urls: vec![queue],
        reservation_url: reservations,
        sandbox_url: sandbox,
        admin_key: ADMIN_KEY.into(),
        sandbox_secret_key: reservation_api::toss::SANDBOX_SECRET_KEY.into(),
        database_url,
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
        leave_share: 0.05,
        second_tab_share: 0.05,
        decline_share: 0.05,
        abandon_share: 0.05,
        think_scale: 0.1,
        seed: 1,
        max_in_flight: 512,
        join_workers: 64,
        poll_workers: 64,
        max_secs: 240,
        pids: Vec::new(),
        report: dir.join("report"),
    };
    let checks = run(&args).await.expect("the sale ran");
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| !c.passed())
        .map(|c| format!("{}: {} ({})", c.name, c.violations, c.detail))
        .collect();
    assert!(failed.is_empty(), "failed checks:\n{}", failed.join("\n"));
    assert_eq!(checks.len(), 10, "every check ran");
    let _ = std::fs::remove_dir_all(&dir);
}
