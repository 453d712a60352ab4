//! The fans' HTTP: one hyper client with keep-alive pools, a bound on the
//! requests in flight (the file limit: every request in flight is a
//! socket), and the answers as status plus JSON.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::sync::Semaphore;

/// Every request gives up after this long; the fan then counts an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How a request authenticates.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Auth<'a> {
    None,
    /// `Authorization: Bearer` (admission, access or admin tokens).
    Bearer(&'a str),
    /// The reservation-api's `x-admin-key`.
    AdminKey(&'a str),
    /// Toss's `Basic base64(secret:)`.
    TossSecret(&'a str),
}

/// An answer: the status and the body, parsed when asked (a seat map is
/// large, and most callers read one field).
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Bytes,
    /// From sending the request to the whole answer.
    pub(crate) latency_ms: f64,
    /// The answer said when to try again (`Retry-After`).
    pub(crate) retry_after: bool,
    pub(crate) etag: Option<String>,
}

impl Reply {
    /// The body as JSON (`Null` when it is not).
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The `error.code` of a Ticketon error body, or the status.
    pub(crate) fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("http_{}", self.status))
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
    in_flight: Arc<Semaphore>,
}

impl Http {
    pub(crate) fn new(max_in_flight: usize) -> Self {
        Self::from_address(max_in_flight, None)
    }

    /// A client whose connections leave from `source` (for example one of
    /// 127.0.0.x), so that a share of the fans look like another address to
    /// the server's per-address limits and its ephemeral ports.
    pub(crate) fn from_address(max_in_flight: usize, source: Option<IpAddr>) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_local_address(source);
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(max_in_flight)
            .build(connector);
        Http {
            client,
            in_flight: Arc::new(Semaphore::new(max_in_flight)),
        }
    }

    pub(crate) async fn send(
        &self,
        method: Method,
        url: &str,
        auth: Auth<'_>,
        body: Option<&Value>,
    ) -> Result<Reply, String> {
        self.exchange(build(method, url, auth, body, &[])?).await
    }

    /// A `GET` that the server answers 304 while its `ETag` is still `etag`.
    pub(crate) async fn get_unless_unchanged(
        &self,
        url: &str,
        etag: Option<&str>,
    ) -> Result<Reply, String> {
        let condition: Vec<_> = etag.map(|e| ("if-none-match", e)).into_iter().collect();
        self.exchange(build(Method::GET, url, Auth::None, None, &condition)?)
            .await
    }

    async fn exchange(&self, request: Request<Full<Bytes>>) -> Result<Reply, String> {
        let _permit = self.in_flight.acquire().await.map_err(|e| e.to_string())?;
        let sent = std::time::Instant::now();
        let call = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| e.to_string())?;
            let status = response.status().as_u16();
            let retry_after = response.headers().contains_key("retry-after");
            let etag = response
                .headers()
                .get("etag")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            Ok(Reply {
                status,
                body: bytes,
                latency_ms: sent.elapsed().as_secs_f64() * 1000.0,
                retry_after,
                etag,
            })
        };
        tokio::time::timeout(REQUEST_TIMEOUT, call)
            .await
            .map_err(|_| format!("no answer within {REQUEST_TIMEOUT:?}"))?
    }

    /// Opens a Server-Sent Events stream. Streams are not counted against
    /// the requests in flight: the caller bounds how many it opens.
    pub(crate) async fn event_stream(&self, url: &str) -> Result<Response<Incoming>, String> {
        let request = build(
            Method::GET,
            url,
            Auth::None,
            None,
            &[("accept", "text/event-stream")],
        )?;
        tokio::time::timeout(Duration::from_secs(10), self.client.request(request))
            .await
            .map_err(|_| "the stream did not open within 10 s".to_string())?
            .map_err(|e| e.to_string())
    }
}

fn build(
    method: Method,
    url: &str,
    auth: Auth<'_>,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> Result<Request<Full<Bytes>>, String> {
    let mut builder = Request::builder().method(method).uri(url);
    builder = match auth {
        Auth::None => builder,
        Auth::Bearer(token) => builder.header("authorization", format!("Bearer {token}")),
        Auth::AdminKey(key) => builder.header("x-admin-key", key),
        Auth::TossSecret(secret) => {
            let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{secret}:"));
            builder.header("authorization", format!("Basic {encoded}"))
        }
    };
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let bytes = match body {
        Some(json) => {
            builder = builder.header("content-type", "application/json");
            Bytes::from(serde_json::to_vec(json).map_err(|e| e.to_string())?)
        }
        None => Bytes::new(),
    };
    builder.body(Full::new(bytes)).map_err(|e| e.to_string())
}

/// The queue's join order of an entry: an entryId is
/// `base64url(seq as 8 bytes big-endian ‖ MAC)` (proto-notes/queue-server.md).
pub(crate) fn entry_seq(entry_id: &str) -> Option<u64> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(entry_id)
        .ok()?;
    let seq: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
    Some(u64::from_be_bytes(seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seq_is_read_from_the_entry_id() {
        // The example of proto-notes/queue-server.md.
        assert_eq!(entry_seq("AAAAAAAAAAEaRROzIkhc0-dymdA"), Some(1));
        assert_eq!(entry_seq("garbage!"), None);
    }
}
