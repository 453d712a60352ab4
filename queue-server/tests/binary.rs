//! The `queue-server` binary as an operator runs it: configuration from the
//! environment, one warning for generated secrets, secrets never logged, and
//! a clean exit on SIGTERM.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ticketon_runtime::test_env::ChildOutput;

/// Starts the binary on port 0 and waits for the address it reports, so that
/// no other process can take the port between choosing and binding it.
fn start(command: &mut Command) -> (Child, ChildOutput) {
    let mut child = command
        .env("TICKETON_QUEUE_LISTEN", "127.0.0.1:0")
        .env("TICKETON_LOG_FORMAT", "text")
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let output = ChildOutput::capture(&mut child);
    let addr = output.listening_addr("queue-server listening", Duration::from_secs(20));
    if addr.is_none() {
        let _ = child.kill();
        let status = child.wait();
        panic!(
            "the server did not report its address ({status:?}):\n{}",
            output.text_after_exit()
        );
    }
    (child, output)
}

/// Sends SIGTERM, waits for the exit, and returns the status with every line
/// the process wrote.
fn sigterm_and_wait(child: &mut Child, output: &ChildOutput) -> (std::process::ExitStatus, String) {
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (status, output.text_after_exit());
        }
        assert!(
            Instant::now() < deadline,
            "no exit within 20 s of SIGTERM:\n{}",
            output.text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn configured_secrets_are_never_logged_and_sigterm_exits_cleanly() {
    let (mut child, output) = start(
        Command::new(env!("CARGO_BIN_EXE_queue-server"))
            .env("TICKETON_ADMIN_KEY", "admin-key-that-must-not-leak")
            .env(
                "TICKETON_TOKEN_SECRET",
                "token-secret-that-must-not-leak-anywhere",
            )
            .env("RUST_LOG", "debug"),
    );
    let (status, logs) = sigterm_and_wait(&mut child, &output);
    assert!(status.success(), "exit status {status:?}:\n{logs}");
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
    let (mut child, output) = start(
        Command::new(env!("CARGO_BIN_EXE_queue-server"))
            .env_remove("TICKETON_ADMIN_KEY")
            .env_remove("TICKETON_TOKEN_SECRET")
            .env_remove("TICKETON_KAFKA_BROKERS")
            .env_remove("TICKETON_REDIS_URL")
            .env("RUST_LOG", "info"),
    );
    let (status, logs) = sigterm_and_wait(&mut child, &output);
    assert!(status.success(), "exit status {status:?}:\n{logs}");
    let warnings: Vec<&str> = logs.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 1, "exactly one warning:\n{logs}");
    assert!(
        warnings[0].contains("generated admin key"),
        "{}",
        warnings[0]
    );
}

/// A configured token secret too short to sign with is refused at start,
/// with the reason; nothing is served.
#[test]
fn a_short_token_secret_is_refused_at_start() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_queue-server"))
        .env("TICKETON_QUEUE_LISTEN", "127.0.0.1:0")
        .env("TICKETON_ADMIN_KEY", "admin")
        .env("TICKETON_TOKEN_SECRET", "change-me")
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let output = ChildOutput::capture(&mut child);
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("the server started with a short secret:\n{}", output.text());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = output.text_after_exit();
    assert!(!status.success(), "{text}");
    assert!(text.contains("at least 32"), "{text}");
}

/// Sends one request on a fresh connection and returns the status line, or
/// the error that ended the exchange.
fn status_line(addr: std::net::SocketAddr) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer.lines().next().unwrap_or_default().to_string())
}

/// More half-open requests than the process has file descriptors (issue
/// 15): the server, started with 256 open files at most, keeps answering
/// (a 503 past its connection cap, never a hang), and once the header read
/// timeout has closed the half-open ones, it serves again.
#[test]
fn half_open_requests_beyond_the_file_limit_do_not_stop_the_server() {
    use std::io::Write;
    let (mut child, output) = start(
        Command::new("prlimit")
            .args(["--nofile=256:256", "--"])
            .arg(env!("CARGO_BIN_EXE_queue-server"))
            // Only the listener's own sockets under the low file limit.
            .env_remove("TICKETON_REDIS_URL")
            .env_remove("TICKETON_KAFKA_BROKERS")
            .env("TICKETON_ADMIN_KEY", "admin")
            .env("TICKETON_MAX_CONNECTIONS", "200")
            .env("TICKETON_HEADER_READ_TIMEOUT_MS", "1000"),
    );
    let addr = output
        .listening_addr("queue-server listening", Duration::from_secs(1))
        .unwrap();
    let mut half_open = Vec::new();
    for _ in 0..400 {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
            .unwrap();
        half_open.push(stream);
    }
    let during = status_line(addr).expect("an answer while 400 half-open requests are held");
    assert!(
        during.starts_with("HTTP/1.1 503") || during.starts_with("HTTP/1.1 200"),
        "{during}"
    );
    // The header read timeout closes the half-open ones; the server serves again.
    std::thread::sleep(Duration::from_millis(1500));
    let after = status_line(addr).unwrap();
    assert!(after.starts_with("HTTP/1.1 200"), "{after}");
    drop(half_open);
    let (status, logs) = sigterm_and_wait(&mut child, &output);
    assert!(status.success(), "exit status {status:?}:\n{logs}");
}
