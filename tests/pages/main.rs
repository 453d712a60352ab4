//! The pages in a real browser (issue 18): Debian's chromium driven by playwright-core through
//! every page, against the one-process runner, with axe-core on every state of each page:
//! - `waiting-room.mjs`: the waiting room the queue-server serves at `/queues/{queueId}`;
//! - `journey.mjs`: a fan's whole purchase, from the waiting room through the seat picker, the
//!   sandbox's checkout and the tickets, and the other paths (a declined card, a hold that runs
//!   out, the keyboard alone, both languages, a 50,000-seat venue);
//! - `admin.mjs`: the operator's console at `/admin`.
//!
//! The scripts share `harness.mjs`. They run one after another (chromium and the runner share two
//! cores, and some steps measure how soon a page shows a change). `.ci/playwright.sh` installs
//! chromium, playwright-core and axe-core when missing; a machine where it cannot reports the test
//! skipped, or fails it under `CI=true`. Each step's screenshot is left in
//! `<CARGO_TARGET_TMPDIR>/pages/<script>/`.

#[path = "../support/mod.rs"]
mod support;

#[path = "../support/ci_script.rs"]
mod ci_script;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use ci_script::ci_script_paths;
use support::Runner;

const ADMIN_KEY: &str = "pages-admin-key";
const TOKEN_SECRET: &str = "pages-token-secret-of-at-least-32-bytes";
/// Over every script's own budget (at most 150 s, and the browser's shutdown).
const NODE_TIMEOUT: Duration = Duration::from_secs(210);

/// The scripts, in the order they run.
const SCRIPTS: &[&str] = &["waiting-room", "journey", "admin"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Chromium's path and the node_modules directory `.ci/playwright.sh` prints (it installs them
/// first when missing). `None` once reported unavailable; under `CI=true` that panics instead.
fn browser_tools() -> Option<(PathBuf, PathBuf)> {
    let mut paths = ci_script_paths("chromium and playwright", ".ci/playwright.sh", &[], 2)?;
    let modules = paths.pop()?;
    let chromium = paths.pop()?;
    Some((chromium, modules))
}

/// A fresh directory, emptied first.
fn fresh_dir(dir: &Path) -> &Path {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("a test directory");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_in_chromium() {
    let Some((chromium, modules)) = tokio::task::spawn_blocking(browser_tools)
        .await
        .expect("running .ci/playwright.sh")
    else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("ticketon-pages-{}", std::process::id()));
    let runner = Runner::start(
        fresh_dir(&dir),
        &[
            ("TICKETON_ADMIN_KEY", ADMIN_KEY),
            ("TICKETON_TOKEN_SECRET", TOKEN_SECRET),
        ],
    )
    .await;
    let out_root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pages");
    fresh_dir(&out_root);

    let mut failed = Vec::new();
    for name in SCRIPTS {
        let script = root().join(format!("tests/pages/{name}.mjs"));
        let out_dir = out_root.join(name);
        let mut node = tokio::process::Command::new("node")
            .arg(&script)
            .current_dir(root())
            .env("CHROMIUM", &chromium)
            .env("PAGES_NODE_MODULES", &modules)
            .env("QUEUE_URL", runner.queue.as_str())
            .env("RESERVATION_URL", runner.reservations.as_str())
            .env("SANDBOX_URL", runner.sandbox.as_str())
            .env("ADMIN_KEY", ADMIN_KEY)
            .env("OUT_DIR", &out_dir)
            .env_remove("NODE_OPTIONS")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("starting node (.ci/playwright.sh found it on PATH)");
        let status = match tokio::time::timeout(NODE_TIMEOUT, node.wait()).await {
            Ok(status) => status.expect("waiting for node"),
            Err(_) => {
                let _ = node.kill().await;
                failed.push(format!("{name}.mjs ran over {NODE_TIMEOUT:?}"));
                continue;
            }
        };
        if !status.success() {
            failed.push(format!(
                "{name}.mjs failed ({status}): its `not ok` lines above say which step and why; \
                 screenshots in {}",
                out_dir.display()
            ));
        }
    }
    drop(runner);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    eprintln!("screenshots of every step in {}", out_root.display());
}
