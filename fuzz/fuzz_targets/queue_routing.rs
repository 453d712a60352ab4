//! Any path the queue-server can be sent routes to one route or none, and a
//! route's ids are pieces of the path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use queue_server::http::router::{route, Route};

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    let ids: Vec<&str> = match route(path) {
        Some(
            Route::Queue(q)
            | Route::QueueStatus(q)
            | Route::Entries(q)
            | Route::Challenge(q)
            | Route::WaitingRoom(q),
        ) => vec![q],
        Some(Route::Entry(q, e)) => vec![q, e],
        _ => Vec::new(),
    };
    for id in ids {
        assert!(!id.is_empty() && !id.contains('/') && path.contains(id));
    }
});
