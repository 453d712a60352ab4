//! What a test does when a real service it needs (Redis, MariaDB, Kafka) is
//! unreachable: on a developer's machine it says so loudly and skips; under
//! `CI=true` (or `TICKETON_REQUIRE_SERVICES=1`) it fails, so that a
//! real-service test never skips silently in CI.

mod kafka_broker;

pub use kafka_broker::Broker;

use std::fmt::Display;
use std::net::TcpListener;

/// True when missing services must fail the run instead of skipping.
pub fn services_required() -> bool {
    let set = |name: &str| {
        std::env::var(name)
            .map(|v| matches!(v.trim(), "1" | "true" | "TRUE" | "yes"))
            .unwrap_or(false)
    };
    set("CI") || set("TICKETON_REQUIRE_SERVICES")
}

/// Reports an unreachable service. Panics when services are required;
/// otherwise prints a `SKIPPED` line the caller follows with an early return.
pub fn service_unavailable(service: &str, detail: impl Display) {
    if services_required() {
        panic!("{service} is required (CI=true) but unavailable: {detail}");
    }
    eprintln!("SKIPPED: {service} unavailable ({detail}); set CI=true to make this a failure");
}

/// The value of an environment variable, or a default.
pub fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// The HTTP client every test uses: never through a proxy from the
/// environment (a CI machine's `HTTP_PROXY` must not capture loopback
/// calls), a bounded connect, and a 30 s bound on every request, so that a
/// server that hangs fails the test instead of hanging it.
#[cfg(feature = "test-support")]
pub fn http_client() -> reqwest::Client {
    client_builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("the test HTTP client builds")
}

/// [`http_client`] without the per-request bound, for push streams that a
/// test keeps open while it reads them (it bounds its own waits).
#[cfg(feature = "test-support")]
pub fn streaming_http_client() -> reqwest::Client {
    client_builder()
        .build()
        .expect("the test HTTP client builds")
}

#[cfg(feature = "test-support")]
fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(std::time::Duration::from_secs(5))
        .pool_max_idle_per_host(128)
}

/// A port nothing listens on right now (the OS picks it).
pub fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// What a spawned binary writes to stdout and stderr, collected by two
/// threads while it runs, so that a test can wait for a log line (the
/// address a server bound to port 0 reports) and still read everything
/// after the process exits.
#[derive(Debug, Clone, Default)]
pub struct ChildOutput {
    lines: std::sync::Arc<(std::sync::Mutex<Vec<String>>, std::sync::Condvar)>,
    readers: std::sync::Arc<std::sync::Mutex<Vec<std::thread::JoinHandle<()>>>>,
}

impl ChildOutput {
    /// Takes the child's piped stdout and stderr (whichever were piped).
    pub fn capture(child: &mut std::process::Child) -> Self {
        let output = Self::default();
        if let Some(out) = child.stdout.take() {
            output.collect(out);
        }
        if let Some(err) = child.stderr.take() {
            output.collect(err);
        }
        output
    }

    fn collect(&self, stream: impl std::io::Read + Send + 'static) {
        let lines = self.lines.clone();
        let reader = std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                let (store, changed) = &*lines;
                store.lock().unwrap_or_else(|e| e.into_inner()).push(line);
                changed.notify_all();
            }
        });
        self.readers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(reader);
    }

    /// The first line containing `needle`, waiting up to `timeout`.
    pub fn wait_for(&self, needle: &str, timeout: std::time::Duration) -> Option<String> {
        let deadline = std::time::Instant::now() + timeout;
        let (store, changed) = &*self.lines;
        let mut lines = store.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(line) = lines.iter().find(|l| l.contains(needle)) {
                return Some(line.clone());
            }
            let left = deadline.checked_duration_since(std::time::Instant::now())?;
            lines = changed
                .wait_timeout(lines, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// The `addr=` field of the first log line containing `needle`: where a
    /// server started on port 0 actually listens.
    pub fn listening_addr(
        &self,
        needle: &str,
        timeout: std::time::Duration,
    ) -> Option<std::net::SocketAddr> {
        let line = self.wait_for(needle, timeout)?;
        let plain = strip_ansi(&line);
        let value = plain.split("addr=").nth(1)?.split_whitespace().next()?;
        value.parse().ok()
    }

    /// Everything the child wrote, once it has exited and closed its pipes.
    pub fn text_after_exit(&self) -> String {
        let readers = std::mem::take(&mut *self.readers.lock().unwrap_or_else(|e| e.into_inner()));
        for reader in readers {
            let _ = reader.join();
        }
        self.text()
    }

    /// Everything collected so far, one line per line.
    pub fn text(&self) -> String {
        let lines = self.lines.0.lock().unwrap_or_else(|e| e.into_inner());
        lines.join("\n")
    }
}

fn strip_ansi(line: &str) -> String {
    let mut plain = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}
