//! Path routing by plain string splitting: the API has a handful of path shapes,
//! and matching them byte by byte costs less than any regex or trie.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    Healthz,
    Readyz,
    Metrics,
    /// `/v1/api/queues`: every queue (admin).
    Queues,
    /// `/admin/config`: where the console finds the reservation-api.
    AdminConfig,
    /// `/v1/api/queues/{queueId}`
    Queue(&'a str),
    /// `/v1/api/queues/{queueId}/status`
    QueueStatus(&'a str),
    /// `/v1/api/queues/{queueId}/entries`
    Entries(&'a str),
    /// `/v1/api/queues/{queueId}/challenge`: a proof-of-work challenge.
    Challenge(&'a str),
    /// `/v1/api/queues/{queueId}/draw`: the pre-queue draw's public record.
    Draw(&'a str),
    /// `/v1/api/queues/{queueId}/entries/{entryId}`
    Entry(&'a str, &'a str),
    /// `/queues/{queueId}`: the waiting room page.
    WaitingRoom(&'a str),
    /// `/admin`: the operator's console.
    Admin,
}

const PAGES_PREFIX: &str = "/queues/";

const QUEUES_PREFIX: &str = "/v1/api/queues/";

pub fn route(path: &str) -> Option<Route<'_>> {
    match path {
        "/healthz" => return Some(Route::Healthz),
        "/readyz" => return Some(Route::Readyz),
        "/metrics" => return Some(Route::Metrics),
        "/v1/api/queues" => return Some(Route::Queues),
        "/admin/config" => return Some(Route::AdminConfig),
        "/admin" => return Some(Route::Admin),
        _ => {}
    }
    if let Some(queue_id) = path.strip_prefix(PAGES_PREFIX) {
        return (!queue_id.is_empty() && !queue_id.contains('/'))
            .then_some(Route::WaitingRoom(queue_id));
    }
    let mut parts = path.strip_prefix(QUEUES_PREFIX)?.split('/');
    let queue_id = parts.next().filter(|q| !q.is_empty())?;
    let route = match (parts.next(), parts.next()) {
        (None, _) => Route::Queue(queue_id),
        (Some("status"), None) => Route::QueueStatus(queue_id),
        (Some("entries"), None) => Route::Entries(queue_id),
        (Some("challenge"), None) => Route::Challenge(queue_id),
        (Some("draw"), None) => Route::Draw(queue_id),
        (Some("entries"), Some(entry_id)) if !entry_id.is_empty() => {
            Route::Entry(queue_id, entry_id)
        }
        _ => return None,
    };
    parts.next().is_none().then_some(route)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_path_routes() {
        assert_eq!(route("/healthz"), Some(Route::Healthz));
        assert_eq!(route("/readyz"), Some(Route::Readyz));
        assert_eq!(route("/metrics"), Some(Route::Metrics));
        assert_eq!(route("/v1/api/queues/q1"), Some(Route::Queue("q1")));
        assert_eq!(
            route("/v1/api/queues/q1/status"),
            Some(Route::QueueStatus("q1"))
        );
        assert_eq!(
            route("/v1/api/queues/q1/entries"),
            Some(Route::Entries("q1"))
        );
        assert_eq!(
            route("/v1/api/queues/q1/entries/abc"),
            Some(Route::Entry("q1", "abc"))
        );
        assert_eq!(
            route("/v1/api/queues/q1/challenge"),
            Some(Route::Challenge("q1"))
        );
        assert_eq!(route("/v1/api/queues/q1/draw"), Some(Route::Draw("q1")));
        assert_eq!(route("/queues/q1"), Some(Route::WaitingRoom("q1")));
        assert_eq!(route("/v1/api/queues"), Some(Route::Queues));
        assert_eq!(route("/admin/config"), Some(Route::AdminConfig));
        assert_eq!(route("/admin"), Some(Route::Admin));
    }

    #[test]
    fn anything_else_does_not() {
        for path in [
            "/",
            "/v1/api/queues/",
            "/admin/",
            "/v1/api/queues//entries",
            "/v1/api/queues/q1/",
            "/v1/api/queues/q1/entries/",
            "/v1/api/queues/q1/entries/abc/x",
            "/v1/api/queues/q1/other",
            "/healthz/",
            "/queues/",
            "/queues/q1/",
            "/queues/q1/x",
        ] {
            assert_eq!(route(path), None, "{path}");
        }
    }
}
