//! The operator's endpoints: `/healthz` (alive), `/readyz` (every
//! dependency answers) and `/metrics` (named in `crate::metrics`).

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ticketon_wire::{DependencyCheck, Readiness};

use super::AppState;
use crate::error::Result;
use crate::metrics::Scrape;

/// How long `/readyz` waits for each dependency.
const READY_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub(super) async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// Checks one dependency, bounded by [`READY_CHECK_TIMEOUT`].
async fn check<E: std::fmt::Display>(
    name: &str,
    probe: impl std::future::Future<Output = std::result::Result<(), E>>,
) -> DependencyCheck {
    match tokio::time::timeout(READY_CHECK_TIMEOUT, probe).await {
        Ok(Ok(())) => DependencyCheck::up(name),
        Ok(Err(e)) => DependencyCheck::down(name, e.to_string()),
        Err(_) => DependencyCheck::down(name, "no answer in time"),
    }
}

pub(super) async fn readyz(State(state): State<AppState>) -> Response {
    // Side by side: a slow dependency costs one timeout, not one each.
    let redis = async {
        match state.svc.locker.redis() {
            Some(redis) => Some(check("redis", redis.ping()).await),
            None => None,
        }
    };
    let bus = async {
        match &state.bus {
            Some(bus) => Some(check(bus.name(), bus.check(READY_CHECK_TIMEOUT)).await),
            None => None,
        }
    };
    let (database, redis, bus) =
        tokio::join!(check("database", state.svc.store.ping()), redis, bus);
    let checks: Vec<DependencyCheck> = std::iter::once(database).chain(redis).chain(bus).collect();
    let readiness = Readiness::from_checks(checks);
    let status = if readiness.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(readiness)).into_response()
}

pub(super) async fn metrics(State(state): State<AppState>) -> Result<Response> {
    let svc = &state.svc;
    // A database that does not answer leaves its gauges out of this scrape
    // instead of failing it: the request and payment series are what tell
    // the operator about it.
    let backlogs = match svc.store.backlogs().await {
        Ok(backlogs) => Some(backlogs),
        Err(e) => {
            tracing::warn!(error = %e, "/metrics without the database's figures");
            None
        }
    };
    let scrape = Scrape {
        now_ms: svc.now_ms(),
        backlogs,
        pool: svc.store.pool_use(),
        bus: state.bus.as_ref().map(|bus| bus.stats()),
        admissions: &state.admissions_consumed,
    };
    Ok((
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        )],
        svc.metrics.render(&scrape),
    )
        .into_response())
}
