//! deploy/ checked against the real tools: nginx, systemd, Prometheus and
//! promtool, and the Compose specification. A tool missing from the
//! machine is installed by the project's `.ci/` script for it; one that
//! cannot be is reported skipped, or fails the run under `CI=true`.

#[path = "../support/mod.rs"]
mod support;

#[path = "../support/ci_script.rs"]
mod ci_script;

mod compose;
mod nginx;
mod prometheus;
mod scrape;
mod systemd;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The repository's root.
pub(crate) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The path a `.ci/` script prints last (see `ci_script_paths`).
pub(crate) fn ci_tool(tool: &str, script: &str, args: &[&str]) -> Option<PathBuf> {
    ci_script::ci_script_paths(tool, script, args, 1).and_then(|mut paths| paths.pop())
}

/// A directory of the test's own, removed when dropped.
pub(crate) struct Scratch(PathBuf);

impl Scratch {
    pub(crate) fn new(name: &str) -> Scratch {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        // A Unix socket path (the systemd test's) must fit in 108 bytes: a
        // long TMPDIR falls back to /tmp.
        let base = std::env::temp_dir();
        let base = if base.as_os_str().len() > 60 {
            PathBuf::from("/tmp")
        } else {
            base
        };
        let dir = base.join(format!("ticketon-deploy-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        Scratch(dir)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
