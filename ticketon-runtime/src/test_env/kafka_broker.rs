//! A tansu broker for one test, started through `.ci/tansu.sh` on a free
//! loopback port and stopped when the guard drops (also when the test panics).
//! It lives in the library (not under `tests/`) so that every crate's tests
//! start brokers the same way.

use std::path::PathBuf;
use std::process::Command;

#[derive(Debug)]
pub struct Broker {
    /// `host:port` for bootstrap.servers.
    pub brokers: String,
    /// Set when this test started the broker (and may stop/pause it).
    port: Option<u16>,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.ci/tansu.sh")
}

fn run(args: &[&str]) -> Result<String, String> {
    let out = Command::new("bash")
        .arg(script())
        .args(args)
        .env("TANSU_PARENT_PID", std::process::id().to_string())
        .output()
        .map_err(|e| format!("running .ci/tansu.sh: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            ".ci/tansu.sh {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

use super::free_port;

impl Broker {
    /// A broker of this test's own: needed by tests that stop or pause it.
    pub fn own() -> Result<Broker, String> {
        let port = free_port()?;
        run(&["start", &port.to_string()])?;
        Ok(Broker {
            brokers: format!("127.0.0.1:{port}"),
            port: Some(port),
        })
    }

    /// `TICKETON_KAFKA_BROKERS` when set, else a broker of this test's own.
    pub fn any() -> Result<Broker, String> {
        match std::env::var("TICKETON_KAFKA_BROKERS") {
            Ok(b) if !b.trim().is_empty() => Ok(Broker {
                brokers: b,
                port: None,
            }),
            _ => Broker::own(),
        }
    }

    pub fn owned(&self) -> bool {
        self.port.is_some()
    }

    fn port_arg(&self) -> String {
        self.port.map(|p| p.to_string()).unwrap_or_default()
    }

    /// Kills the broker; with memory storage everything it held is gone.
    pub fn stop(&self) -> Result<(), String> {
        run(&["stop", &self.port_arg()]).map(|_| ())
    }

    /// Starts a fresh broker on the same port (topics created anew).
    pub fn start_again(&self) -> Result<(), String> {
        run(&["start", &self.port_arg()]).map(|_| ())
    }

    /// Freezes the broker (SIGSTOP): connections stay open, nothing answers.
    pub fn pause(&self) -> Result<(), String> {
        run(&["pause", &self.port_arg()]).map(|_| ())
    }

    pub fn resume(&self) -> Result<(), String> {
        run(&["resume", &self.port_arg()]).map(|_| ())
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if self.port.is_some() {
            let _ = self.stop();
        }
    }
}
