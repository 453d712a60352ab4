//! What the tests of the one-process runner share: the runner as a child
//! process on free ports, and waiting for its services to answer.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ticketon_runtime::test_env::{free_port, http_client};

/// The runner as a child process, killed when the test ends.
pub(crate) struct Runner {
    child: Child,
    pub(crate) queue: String,
    pub(crate) reservations: String,
    pub(crate) sandbox: String,
}

/// The runner's database for a test directory.
pub(crate) fn database_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("reservations.db").display())
}

/// The runner's base URLs.
pub(crate) struct Urls {
    pub(crate) queue: String,
    pub(crate) reservations: String,
    pub(crate) sandbox: String,
}

/// The `ticketon` command with nothing from the test's environment but
/// `PATH`, on free ports, with a SQLite database in `dir`, and where it
/// will answer.
pub(crate) fn runner_command(dir: &Path) -> (Command, Urls) {
    let [queue_port, reservation_port, sandbox_port] =
        [(); 3].map(|_| free_port().expect("a free port"));
    let mut command = Command::new(env!("CARGO_BIN_EXE_ticketon"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .env("TICKETON_QUEUE_LISTEN", format!("127.0.0.1:{queue_port}"))
        .env(
            "TICKETON_RESERVATION_LISTEN",
            format!("127.0.0.1:{reservation_port}"),
        )
        .env(
            "TICKETON_TOSS_SANDBOX_LISTEN",
            format!("127.0.0.1:{sandbox_port}"),
        )
        .env("TICKETON_DATABASE_URL", database_url(dir));
    let urls = Urls {
        queue: format!("http://127.0.0.1:{queue_port}"),
        reservations: format!("http://127.0.0.1:{reservation_port}"),
        sandbox: format!("http://127.0.0.1:{sandbox_port}"),
    };
    (command, urls)
}

impl Runner {
    /// Starts [`runner_command`] plus `envs`; returns once both services
    /// answer.
    pub(crate) async fn start(dir: &Path, envs: &[(&str, &str)]) -> Runner {
        let (mut command, urls) = runner_command(dir);
        command.stdout(Stdio::null());
        for (name, value) in envs {
            command.env(name, value);
        }
        let runner = Runner {
            child: command.spawn().expect("starting the ticketon runner"),
            queue: urls.queue,
            reservations: urls.reservations,
            sandbox: urls.sandbox,
        };
        let http = http_client();
        wait_until_up(&http, &format!("{}/healthz", runner.queue)).await;
        wait_until_up(&http, &format!("{}/healthz", runner.reservations)).await;
        runner
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn wait_until_up(http: &reqwest::Client, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http.get(url).send().await {
            if r.status().is_success() {
                return;
            }
        }
        assert!(Instant::now() < deadline, "{url} did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
