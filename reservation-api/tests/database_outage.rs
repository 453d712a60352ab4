//! The database going away under a running reservation-api: the API
//! answers 503 `database_unavailable` with `Retry-After` at once instead of
//! holding requests for the pool's acquire timeout, the pages and the
//! operator's endpoints keep answering, and service resumes by itself when
//! the database is back. The outage is a TCP proxy in front of MariaDB that
//! cuts every connection and then swallows new ones without a word, as a
//! network partition does: the case where waiting is longest (the shared
//! MariaDB itself is never stopped).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use reservation_api::SeatLockKind;
use reservation_api_testkit::*;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Forwards connections to `upstream` while open; `cut` drops them all,
/// and until `restore` new ones are accepted and never answered.
struct Proxy {
    port: u16,
    open: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    swallowed: Arc<Mutex<Vec<TcpStream>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: &'static str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let swallowed: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let accept = tokio::spawn({
            let (open, links, swallowed) = (open.clone(), links.clone(), swallowed.clone());
            async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    if !open.load(Ordering::Relaxed) {
                        swallowed.lock().push(client);
                        continue;
                    }
                    let link = tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    links.lock().push(link);
                }
            }
        });
        Proxy {
            port,
            open,
            links,
            swallowed,
            accept,
        }
    }

    fn cut(&self) {
        self.open.store(false, Ordering::Relaxed);
        for link in self.links.lock().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.open.store(true, Ordering::Relaxed);
        self.swallowed.lock().clear();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_refused_at_once_and_service_resumes_by_itself() {
    let Some(db) = TestDb::mysql().await else {
        return;
    };
    let proxy = Proxy::start("127.0.0.1:3306").await;
    let through_proxy =
        db.url()
            .replacen("127.0.0.1:3306", &format!("127.0.0.1:{}", proxy.port), 1);
    assert_ne!(
        through_proxy,
        db.url(),
        "the test database is on 127.0.0.1:3306"
    );
    let s = start(&through_proxy, SeatLockKind::Pessimistic, None, false).await;
    let events = s.url("/v1/api/events");
    assert_eq!(s.http.get(&events).send().await.unwrap().status(), 200);

    proxy.cut();
    let refused_at_once = Instant::now();
    let mut refused = None;
    while refused.is_none() && refused_at_once.elapsed() < Duration::from_secs(30) {
        let r = s.http.get(&events).send().await.unwrap();
        if r.status() == 503 {
            refused = Some(r);
        }
    }
    let refused = refused.expect("the API refuses while the database is away");
    assert_eq!(refused.headers()["retry-after"], "1");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "database_unavailable");
    // Known down: refused without waiting for a connection (the pool would
    // hold it for 30 s); the bound is the test's, far above the real figure.
    let asked = Instant::now();
    let again = s.http.get(&events).send().await.unwrap();
    assert_eq!(again.status(), 503);
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "refused at once, not after the pool's acquire timeout"
    );
    assert_eq!(
        s.http.get(s.url("/healthz")).send().await.unwrap().status(),
        200
    );
    assert_eq!(
        s.http.get(s.url("/readyz")).send().await.unwrap().status(),
        503
    );

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = s.http.get(&events).send().await.unwrap().status();
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "service did not resume: {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.stop().await;
    db.cleanup().await;
}
