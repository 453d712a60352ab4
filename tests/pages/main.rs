//! The pages in a real browser (issue 18): `tests/pages/waiting-room.mjs` drives Debian's
//! chromium with playwright-core through the waiting room the queue-server serves at
//! `/queues/{queueId}`, against the one-process runner, and runs axe-core on every state of the
//! page. `.ci/playwright.sh` installs chromium, playwright-core and axe-core when missing; a
//! machine where it cannot reports the test skipped, or fails it under `CI=true`. Each step's
//! screenshot is left in `<CARGO_TARGET_TMPDIR>/pages`.

// This test reads only the queue-server's address of the runner.
#[allow(dead_code)]
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
/// Over the script's own budget (120 s and the browser's shutdown).
const NODE_TIMEOUT: Duration = Duration::from_secs(180);

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
async fn the_waiting_room_in_chromium() {
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
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pages");
    fresh_dir(&out_dir);

    let script = root().join("tests/pages/waiting-room.mjs");
    let mut node = tokio::process::Command::new("node")
        .arg(&script)
        .current_dir(root())
        .env("CHROMIUM", chromium)
        .env("PAGES_NODE_MODULES", modules)
        .env("QUEUE_URL", runner.queue.as_str())
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
            panic!(
                "{} ran over {NODE_TIMEOUT:?}; screenshots in {}",
                script.display(),
                out_dir.display()
            );
        }
    };
    drop(runner);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        status.success(),
        "{} failed ({status}): its `not ok` lines above say which step and why; screenshots in {}",
        script.display(),
        out_dir.display()
    );
    eprintln!("screenshots of every step in {}", out_dir.display());
}
