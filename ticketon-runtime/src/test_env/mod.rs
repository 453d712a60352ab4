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

/// A port nothing listens on right now (the OS picks it).
pub fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}
