//! The OpenAPI descriptions in proto-notes/openapi/ against the running services (issue 15):
//! schemathesis generates requests from each description (valid and invalid ones), sends them to
//! a one-process runner of this test's own, and checks every answer: no 5xx, no answer the
//! description does not allow (status, content type, body schema, headers). This keeps the
//! descriptions true: a route, a field or an error that drifts from them fails here.
//! `.ci/schemathesis.sh` installs the pinned schemathesis when missing; a machine where it cannot
//! reports the test skipped, or fails it under `CI=true`. Rules JSON Schema cannot say are in
//! proto-notes/openapi/schemathesis_hooks.py and schemathesis.toml.

// This test reads only the services' addresses of the runner.
#[allow(dead_code)]
#[path = "support/mod.rs"]
mod support;

#[path = "support/ci_script.rs"]
mod ci_script;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use ci_script::ci_script_paths;
use support::Runner;

const ADMIN_KEY: &str = "contract-admin-key";
const TOKEN_SECRET: &str = "contract-token-secret-of-32-bytes!!";
/// Far over a run's length here (about 5 s and 30 s in a debug build).
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs schemathesis with `spec` against `base`; `None` when it passed, else what it printed.
async fn run(st: &Path, spec: &str, base: &str, scratch: &Path) -> Option<String> {
    let openapi = root().join("proto-notes/openapi");
    let mut command = tokio::process::Command::new(st);
    command
        .env("SCHEMATHESIS_HOOKS", openapi.join("schemathesis_hooks.py"))
        .arg("--config-file")
        .arg(openapi.join("schemathesis.toml"))
        .arg("run")
        .arg(openapi.join(spec))
        .args(["--url", base])
        .args(["-H", &format!("Authorization: Bearer {ADMIN_KEY}")])
        .args(["--checks", "all", "--max-examples", "50", "--seed", "1"])
        .args(["--workers", "1", "--request-timeout", "10"])
        .args(["--generation-database", "none", "--no-color"])
        // Hypothesis writes ./.hypothesis: not into the repository.
        .current_dir(scratch)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = match tokio::time::timeout(RUN_TIMEOUT, command.output()).await {
        Ok(output) => output.expect("running schemathesis"),
        Err(_) => return Some(format!("{spec}: schemathesis ran over {RUN_TIMEOUT:?}")),
    };
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    eprintln!("--- {spec} against {base}\n{text}");
    (!output.status.success()).then(|| format!("{spec}: schemathesis failed ({})", output.status))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_apis_answer_as_their_openapi_descriptions_say() {
    let Some(mut paths) = tokio::task::spawn_blocking(|| {
        ci_script_paths("schemathesis", ".ci/schemathesis.sh", &[], 1)
    })
    .await
    .expect("running .ci/schemathesis.sh") else {
        return;
    };
    let st = paths.pop().expect("one path");
    let dir = std::env::temp_dir().join(format!("ticketon-contract-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a test directory");
    let runner = Runner::start(
        &dir,
        &[
            ("TICKETON_ADMIN_KEY", ADMIN_KEY),
            ("TICKETON_TOKEN_SECRET", TOKEN_SECRET),
        ],
    )
    .await;
    let mut failed = Vec::new();
    for (spec, base) in [
        ("queue-server.yaml", runner.queue.as_str()),
        ("reservation-api.yaml", runner.reservations.as_str()),
    ] {
        failed.extend(run(&st, spec, base, &dir).await);
    }
    drop(runner);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        failed.is_empty(),
        "{}\n(the FAILURES above each end with a curl that reproduces them)",
        failed.join("\n")
    );
}
