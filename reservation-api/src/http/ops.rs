//! `/metrics` in the Prometheus text format: the event bus as the
//! reservation-api sees it (outbox backlog, publishing, admissions consumed).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::error::Result;

fn counter(out: &mut String, name: &str, help: &str, series: &[(&str, &AtomicU64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
    for (label, value) in series {
        let _ = writeln!(
            out,
            "{name}{{outcome=\"{label}\"}} {}",
            value.load(Ordering::Relaxed)
        );
    }
}

pub(super) async fn metrics(State(state): State<AppState>) -> Result<Response> {
    let mut out = String::with_capacity(2048);
    let backlog = state.svc.outbox_backlog().await?;
    let _ = writeln!(
        out,
        "# HELP ticketon_reservation_outbox_unpublished Events committed but not yet published.\n\
         # TYPE ticketon_reservation_outbox_unpublished gauge\n\
         ticketon_reservation_outbox_unpublished {backlog}"
    );
    if let Some(bus) = &state.bus {
        let p = bus.stats();
        counter(
            &mut out,
            "ticketon_reservation_events_published_total",
            "Outbox events by outcome at the bus.",
            &[
                ("accepted", &p.accepted),
                ("delivered", &p.delivered),
                ("failed", &p.failed),
                ("refused_full", &p.rejected_full),
            ],
        );
        let _ = writeln!(
            out,
            "# HELP ticketon_reservation_events_buffered Events handed to the bus, not yet acknowledged.\n\
             # TYPE ticketon_reservation_events_buffered gauge\n\
             ticketon_reservation_events_buffered {}",
            p.buffered.load(Ordering::Relaxed)
        );
    }
    let c = &state.admissions_consumed;
    counter(
        &mut out,
        "ticketon_reservation_admission_events_total",
        "ticketon.admissions records by outcome.",
        &[
            ("applied", &c.applied),
            ("retried", &c.retried),
            ("rejected", &c.rejected),
            ("fetch_error", &c.fetch_errors),
        ],
    );
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        out,
    )
        .into_response())
}
