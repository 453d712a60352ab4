//! The tools a test drives (nginx, promtool, chromium, ...) come from the
//! project's `.ci/` scripts, which install them when missing and print where
//! they are: a fresh machine needs nothing but `cargo test --workspace`.

use std::path::PathBuf;
use std::process::Command;

/// The last `count` lines a `.ci/` script printed, as paths. `None` once
/// `tool` was reported unavailable (a machine without root or apt-get);
/// under `CI=true` that fails the test instead.
pub(crate) fn ci_script_paths(
    tool: &str,
    script: &str,
    args: &[&str],
    count: usize,
) -> Option<Vec<PathBuf>> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(script);
    let detail = match Command::new("bash").arg(&script).args(args).output() {
        Ok(out) if out.status.success() => {
            let stdout = String::from_utf8_lossy(&out.stdout);
            let lines: Vec<&str> = stdout
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            match lines.len().checked_sub(count) {
                Some(first) => return Some(lines[first..].iter().map(PathBuf::from).collect()),
                None => format!(
                    "{} printed {:?}, not {count} path(s)",
                    script.display(),
                    stdout.trim()
                ),
            }
        }
        Ok(out) => format!(
            "{} failed ({}): {}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => format!("running {}: {e}", script.display()),
    };
    ticketon_runtime::test_env::service_unavailable(tool, detail);
    None
}
