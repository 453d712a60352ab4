//! Faults 1, 2 and 5 of issue 17 in one short sale on the production layout
//! (two queue-servers on a Redis of their own, the reservation-api on
//! MariaDB, tansu, the Toss sandbox in a process of its own): the queue-server
//! holding the admission lease is killed with SIGKILL and restarted, the
//! broker is frozen (SIGSTOP) and resumed, and the reservation-api is killed
//! with payments in flight and restarted. Afterwards every check of the sale
//! holds and every admission was announced on `ticketon.admissions`. It
//! asserts invariants, never timings; `bench/faults.sh` measures them.

use std::path::{Path, PathBuf};
use std::process::Command;

use ticketon_bench::faults::stack::StackOptions;
use ticketon_bench::faults::{self, Fault, Injection};
use ticketon_bench::flash_sale;
use ticketon_runtime::test_env::{env_or, service_unavailable};

const BINARIES: [&str; 3] = ["queue-server", "reservation-api", "toss-sandbox"];

/// The services' binaries of this build: `cargo test --workspace` has built
/// them beside the runner (their packages' tests use them); a narrower run
/// builds them here.
fn service_binaries() -> PathBuf {
    let dir = faults::bin_dir_beside(Path::new(env!("CARGO_BIN_EXE_ticketon")));
    if BINARIES.iter().all(|b| dir.join(b).exists()) {
        return dir;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "-p", "queue-server", "-p", "reservation-api"]);
    for binary in BINARIES {
        build.args(["--bin", binary]);
    }
    let status = build.status().expect("running cargo build");
    assert!(status.success(), "building the services' binaries");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_through_kills_and_a_frozen_broker_keeps_every_promise() {
    if Command::new("redis-server")
        .arg("--version")
        .output()
        .is_err()
    {
        return service_unavailable("redis-server", "not on PATH");
    }
    let mysql_url = env_or("TICKETON_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306");
    match ticketon_bench::scratch_db::ScratchDatabase::create(&mysql_url).await {
        Ok(probe) => probe
            .drop_database()
            .await
            .expect("dropping the probe database"),
        Err(e) => return service_unavailable("MariaDB", e),
    }
    let options = StackOptions {
        bin_dir: service_binaries(),
        repo: PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        mysql_url,
        appendfsync: "everysec".into(),
        toss_timeout_ms: 2_000,
    };
    let report = std::env::temp_dir().join(format!("ticketon-faults-{}", std::process::id()));
    let sale = flash_sale::Args {
        fans: 3_000,
        seats: 800,
        sections: 4,
        admission_rate: 40,
        checkout_secs: 2.0,
        session_ttl_sec: 60,
        hold_ttl_sec: 10,
        spike_secs: 3.0,
        tail_secs: 20.0,
        think_scale: 0.1,
        max_streams: 200,
        stream_addresses: 4,
        max_in_flight: 256,
        queue_in_flight: 256,
        join_workers: 64,
        poll_workers: 64,
        settle_secs: 90,
        max_secs: 300,
        report: report.clone(),
        ..flash_sale::Args::defaults()
    };
    let injections = [
        Injection {
            fault: Fault::KillQueueHolder,
            at_secs: 4.0,
            outage_secs: 0.0,
        },
        Injection {
            fault: Fault::FreezeKafka,
            at_secs: 8.0,
            outage_secs: 5.0,
        },
        Injection {
            fault: Fault::KillReservations,
            at_secs: 16.0,
            outage_secs: 0.0,
        },
    ];
    let run = faults::run(&options, sale, &injections)
        .await
        .expect("the sale ran through its faults");
    let violations = run.violations();
    assert!(
        violations.is_empty(),
        "broken promises:\n{}",
        violations.join("\n")
    );
    assert_eq!(run.injections.len(), 3, "every fault struck");
    assert_eq!(run.summary.checks.len(), 11, "every check of the sale ran");
    assert!(
        !run.summary.admitted_entries.is_empty(),
        "fans were admitted, so the announcement audit had something to find"
    );
    let _ = std::fs::remove_dir_all(report);
}
