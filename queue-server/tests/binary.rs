//! The `queue-server` binary as an operator runs it: configuration from the
//! environment, one warning for generated secrets, secrets never logged, and
//! a clean exit on SIGTERM.

use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_until_up(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sigterm_and_wait(child: &mut std::process::Child) -> std::process::ExitStatus {
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "no exit within 20 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn configured_secrets_are_never_logged_and_sigterm_exits_cleanly() {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_queue-server"))
        .env("TICKETON_QUEUE_LISTEN", format!("127.0.0.1:{port}"))
        .env("TICKETON_ADMIN_KEY", "admin-key-that-must-not-leak")
        .env("TICKETON_TOKEN_SECRET", "token-secret-that-must-not-leak")
        .env("RUST_LOG", "debug")
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until_up(port);
    let status = sigterm_and_wait(&mut child);
    assert!(status.success(), "exit status {status:?}");
    let mut logs = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    assert!(
        !logs.contains("must-not-leak"),
        "a secret reached the logs:\n{logs}"
    );
    assert!(
        !logs.contains("WARN"),
        "no warning expected with both secrets set:\n{logs}"
    );
    assert!(logs.contains("shutting down"), "{logs}");
}

#[test]
fn unset_secrets_are_generated_with_one_warning() {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_queue-server"))
        .env("TICKETON_QUEUE_LISTEN", format!("127.0.0.1:{port}"))
        .env_remove("TICKETON_ADMIN_KEY")
        .env_remove("TICKETON_TOKEN_SECRET")
        .env_remove("TICKETON_KAFKA_BROKERS")
        .env_remove("TICKETON_REDIS_URL")
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until_up(port);
    assert!(sigterm_and_wait(&mut child).success());
    let mut logs = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    let warnings: Vec<&str> = logs.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 1, "exactly one warning:\n{logs}");
    assert!(
        warnings[0].contains("generated admin key"),
        "{}",
        warnings[0]
    );
}
