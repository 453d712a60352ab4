//! Rendered seat maps (`GET /v1/api/events/{eventId}/seat-map`), one per
//! event, reused while a fresh render could not differ: same shared rows
//! snapshot (`store/seat_maps.rs`), and no hold in it has run out since.
//! Thousands of admitted fans poll the map of one sale; this way a poll
//! costs a hash lookup and, unchanged, a 304, instead of rebuilding and
//! hashing a 50,000-seat map each time.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use crate::domain::{SeatStatus, SeatView, SectionSummary};
use crate::error::Result;
use crate::store::{seat_views, SeatRow};

/// Events whose rendered map is kept; past this the cache starts over.
const MAX_EVENTS: usize = 256;

/// One rendered map: its JSON and the ETag over it, and the per-section
/// summary the event's own answer carries (the same snapshot, so the
/// thousands of fans who read the venue while they wait for a seat cost a
/// lookup too, not two queries each).
#[derive(Debug)]
pub(super) struct Rendered {
    pub(super) body: Bytes,
    pub(super) etag: String,
    pub(super) sections: Vec<SectionSummary>,
}

#[derive(Debug)]
struct Entry {
    rows: Arc<[SeatRow]>,
    /// When the first hold of the snapshot runs out (the map changes then).
    valid_until_ms: i64,
    rendered: Arc<Rendered>,
}

#[derive(Debug, Default)]
pub struct SeatMapRenders {
    maps: Mutex<HashMap<String, Entry>>,
}

impl SeatMapRenders {
    /// The map of `rows` as of `now_ms`: the one kept, or `render`'s.
    pub(super) fn get_or_render(
        &self,
        event_id: &str,
        rows: &Arc<[SeatRow]>,
        now_ms: i64,
        render: impl FnOnce(&[SeatView]) -> Result<Rendered>,
    ) -> Result<Arc<Rendered>> {
        if let Some(entry) = self.maps.lock().get(event_id) {
            if Arc::ptr_eq(&entry.rows, rows) && now_ms < entry.valid_until_ms {
                return Ok(entry.rendered.clone());
            }
        }
        let views = seat_views(rows, None, now_ms);
        let rendered = Arc::new(render(&views)?);
        let valid_until_ms = rows
            .iter()
            .filter(|row| row.status == SeatStatus::Held)
            .filter_map(|row| row.hold_expires_at_ms)
            .filter(|&at| at > now_ms)
            .min()
            .unwrap_or(i64::MAX);
        let mut maps = self.maps.lock();
        if maps.len() >= MAX_EVENTS && !maps.contains_key(event_id) {
            maps.clear();
        }
        maps.insert(
            event_id.to_string(),
            Entry {
                rows: rows.clone(),
                valid_until_ms,
                rendered: rendered.clone(),
            },
        );
        Ok(rendered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, status: SeatStatus, hold_expires_at_ms: Option<i64>) -> SeatRow {
        SeatRow {
            id,
            section: "A".into(),
            row: 1,
            number: id,
            price_krw: 1000,
            status,
            hold_expires_at_ms,
        }
    }

    fn render_count(renders: &SeatMapRenders, rows: &Arc<[SeatRow]>, now_ms: i64) -> String {
        renders
            .get_or_render("e", rows, now_ms, |views| {
                let held = views
                    .iter()
                    .filter(|v| v.status == SeatStatus::Held)
                    .count();
                Ok(Rendered {
                    body: Bytes::from(format!("{now_ms}:{held}")),
                    etag: String::new(),
                    sections: Vec::new(),
                })
            })
            .map(|r| String::from_utf8(r.body.to_vec()).unwrap())
            .unwrap()
    }

    #[test]
    fn a_map_is_reused_until_its_rows_change_or_a_hold_runs_out() {
        let renders = SeatMapRenders::default();
        let rows: Arc<[SeatRow]> = vec![
            row(1, SeatStatus::Held, Some(1_000)),
            row(2, SeatStatus::Available, None),
        ]
        .into();
        assert_eq!(render_count(&renders, &rows, 100), "100:1");
        assert_eq!(render_count(&renders, &rows, 999), "100:1", "reused");
        assert_eq!(
            render_count(&renders, &rows, 1_000),
            "1000:0",
            "the hold ran out"
        );
        let reread: Arc<[SeatRow]> = rows.to_vec().into();
        assert_eq!(render_count(&renders, &reread, 1_001), "1001:0", "new rows");
    }
}
