//! The cargo-fuzz targets in fuzz/ (issue 15) run for a few seconds each: the paths the
//! queue-server routes, the bodies both services parse (with the proof of work a join carries),
//! and the entryIds clients send back. Each target asserts what must hold besides not crashing.
//! Coverage-guided, with debug assertions, without the address sanitizer: both services link C
//! libraries (librdkafka, zstd) whose own build scripts fail once their objects are instrumented,
//! and the code under test is safe Rust.
//! `.ci/fuzz.sh` installs cargo-fuzz when missing; a machine without the nightly toolchain reports
//! the test skipped, or fails it under `CI=true`. Long runs and their figures: bench/RESULTS.md,
//! "Fuzzing".

#[path = "support/ci_script.rs"]
mod ci_script;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use ci_script::ci_script_paths;

const TARGETS: [&str; 4] = [
    "queue_routing",
    "queue_bodies",
    "entry_ids",
    "reservation_bodies",
];
/// Seconds of fuzzing per target: enough to find what a typo breaks, short enough for the suite.
const SECONDS_EACH: u32 = 10;

#[test]
fn the_fuzz_targets_find_nothing_in_a_short_run() {
    let Some(mut paths) = ci_script_paths("cargo-fuzz", ".ci/fuzz.sh", &[], 1) else {
        return;
    };
    let cargo_fuzz = paths.pop().expect("one path");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let cache = std::env::var_os("TICKETON_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/ticketon")))
        .expect("HOME or TICKETON_CACHE");
    // Corpus and crash files in a scratch directory, not in the repository.
    let scratch = std::env::temp_dir().join(format!("ticketon-fuzz-{}", std::process::id()));
    let mut failed = Vec::new();
    for target in TARGETS {
        let corpus = scratch.join(target);
        std::fs::create_dir_all(&corpus).expect("a corpus directory");
        let output = Command::new(&cargo_fuzz)
            .env("RUSTUP_TOOLCHAIN", "nightly")
            .current_dir(&root)
            .args(["fuzz", "run", "--fuzz-dir", "fuzz", "--sanitizer", "none"])
            .arg("--target-dir")
            .arg(cache.join("fuzz-target"))
            .arg(target)
            .arg(&corpus)
            .arg("--")
            .arg(format!("-max_total_time={SECONDS_EACH}"))
            .arg(format!("-artifact_prefix={}/", scratch.display()))
            .arg("-rss_limit_mb=4096")
            .stdin(Stdio::null())
            .output()
            .expect("running cargo-fuzz");
        let text = String::from_utf8_lossy(&output.stderr);
        let done = text
            .lines()
            .rev()
            .find(|l| l.starts_with("Done "))
            .unwrap_or("");
        eprintln!("{target}: {done}");
        if !output.status.success() {
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            failed.push(format!(
                "{target} ({}):\n{}",
                output.status,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}
