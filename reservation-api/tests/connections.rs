//! The reservation-api's defences against slow and malformed clients
//! (issue 15), over raw sockets: a connection that never finishes its
//! request head is closed, a body that stops coming is answered 408, a body
//! too large is answered 413 and the answer is readable by a client that
//! writes its whole body first, a head too large is answered 431, and past
//! the connection cap a new connection reads a 503 at once.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use reservation_api::Config;
use reservation_api_testkit::*;
use ticketon_runtime::connections::ConnectionLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn server(db: &TestDb, max_connections: usize, header_read_timeout: Duration) -> TestServer {
    let config = Config {
        listen: "127.0.0.1:0".into(),
        database_url: db.url().into(),
        admin_key: Some(ADMIN_KEY.into()),
        token_secret: Some(SECRET.into()),
        connections: ConnectionLimits {
            max_connections,
            header_read_timeout,
        },
        payments: reservation_api::config::PaymentsConfig {
            toss: reservation_api::toss::TossConfig::sandbox(([127, 0, 0, 1], 0).into()),
            ..Default::default()
        },
        ..Config::default()
    };
    reservation_api_testkit::server::serve(config, false).await
}

/// Writes `request` whole, then reads until the server closes (or 5 s).
async fn exchange(addr: SocketAddr, request: &[u8]) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(request).await?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .map_err(|_| std::io::Error::other("the server kept the connection open"))??;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

/// A complete request any server here answers 200, if it answers.
const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";

fn post(path: &str, length: usize, extra: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
         X-Admin-Key: {ADMIN_KEY}\r\nContent-Length: {length}\r\nConnection: close\r\n{extra}\r\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_malformed_clients_are_answered_and_let_go() {
    let db = TestDb::sqlite();
    let s = server(&db, 64, Duration::from_millis(300)).await;
    let addr = s.handle.local_addr();

    // Half a request head: closed once the header read timeout passes.
    let started = Instant::now();
    let answer = exchange(addr, b"GET /v1/api/events HTTP/1.1\r\nHost: t\r\n")
        .await
        .expect("the server closes a half-open request instead of keeping it");
    assert!(!answer.contains("200 OK"), "{answer}");
    assert!(started.elapsed() >= Duration::from_millis(300));

    // A body that stops coming: 408 in the API's error shape.
    let mut request = post("/v1/api/events", 200, "").into_bytes();
    request.extend_from_slice(b"{\"name\":");
    let answer = exchange(addr, &request).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");

    // A body trickled a byte at a time, each pause under the timeout: the
    // whole body is bounded too (three timeouts), then 408.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(post("/v1/api/events", 200, "").as_bytes())
        .await
        .unwrap();
    let started = Instant::now();
    let trickle = async {
        loop {
            tokio::time::sleep(Duration::from_millis(150)).await;
            if stream.write_all(b" ").await.is_err() {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), trickle).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the server kept reading a trickled body"
    );
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");

    // A client that waits for 100 Continue gets the 413 and no invitation
    // to send its body.
    let request = post("/v1/api/events", 8 << 20, "Expect: 100-continue\r\n");
    let answer = exchange(addr, request.as_bytes()).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // A body too large, written whole before reading: the 413 is read.
    let big = vec![b' '; 8 << 20];
    let mut request = post("/v1/api/events", big.len(), "").into_bytes();
    request.extend_from_slice(&big);
    let answer = exchange(addr, &request)
        .await
        .expect("the 413 is readable after writing the whole body");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("\"code\":\"payload_too_large\""),
        "{answer}"
    );

    // A request head over 16 KiB.
    let huge = format!("X-Filler: {}\r\n", "f".repeat(20 * 1024));
    let answer = exchange(addr, post("/v1/api/events", 0, &huge).as_bytes())
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");

    // Still serving.
    let answer = exchange(addr, HEALTHZ).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    s.stop().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_connection_cap_a_new_connection_reads_503_at_once() {
    let db = TestDb::sqlite();
    // A long header timeout: the held connections must still be held when the fifth comes,
    // however slowly a busy machine opens them.
    let s = server(&db, 4, Duration::from_secs(5)).await;
    let addr = s.handle.local_addr();
    // Four idle connections (each sent a byte, so each was accepted and
    // holds its place until the header read timeout).
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"G").await.unwrap();
        held.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let answer = exchange(addr, HEALTHZ).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("\"code\":\"over_capacity\""), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 1"),
        "{answer}"
    );
    // The held connections close, and the server takes new ones again.
    drop(held);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let answer = exchange(addr, HEALTHZ).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    s.stop().await;
    db.cleanup().await;
}
