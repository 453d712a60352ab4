//! The venue as an admitted fan's seat picker reads it: the compact seat map
//! (`GET /v1/api/events/{eventId}/seat-map`, proto-notes/reservation-api.md),
//! asked again with `If-None-Match` so that an unchanged map is a 304.
//!
//! Every fan sends its own requests, as every phone would. What the fans
//! share is the decoding: one process plays thousands of phones, and
//! decoding the same 50,000-seat map once per fan would spend the client's
//! share of the machine's two cores on work the server never sees.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::Deserialize;

/// The seats available in each section, as of one rendering of the map.
#[derive(Debug, Default)]
pub(crate) struct Venue {
    pub(crate) etag: String,
    available: HashMap<String, Vec<i64>>,
}

impl Venue {
    /// The seats available in `section` (none for a section it does not name).
    pub(crate) fn available(&self, section: &str) -> &[i64] {
        self.available.get(section).map_or(&[], Vec::as_slice)
    }

    /// The sections, by name, with any seat available.
    pub(crate) fn sections_with_seats(&self) -> impl Iterator<Item = &str> {
        self.available
            .iter()
            .filter(|(_, seats)| !seats.is_empty())
            .map(|(name, _)| name.as_str())
    }

    /// Decodes a compact seat map; `None` when the body is not one.
    pub(crate) fn decode(etag: String, body: &[u8]) -> Option<Venue> {
        let map: SeatMapBody = serde_json::from_slice(body).ok()?;
        let mut available = HashMap::with_capacity(map.sections.len());
        for section in map.sections {
            let mut free = Vec::new();
            for run in section.runs {
                let mut ids = run
                    .ids
                    .iter()
                    .flat_map(|&(first, count)| (0..i64::from(count)).map(move |k| first + k));
                for (status, count) in statuses(&run.status)? {
                    for _ in 0..count {
                        let id = ids.next()?;
                        if status == 'a' {
                            free.push(id);
                        }
                    }
                }
            }
            available.insert(section.name, free);
        }
        Some(Venue { etag, available })
    }
}

/// The map decoded last, shared by every fan: a fan whose answer carries
/// its ETag uses it instead of decoding the body again.
#[derive(Debug, Default)]
pub(crate) struct SharedVenue {
    latest: Mutex<Option<Arc<Venue>>>,
}

impl SharedVenue {
    /// The venue of an answer with `etag` and `body`, decoded only when
    /// `etag` is not the one decoded last.
    pub(crate) fn of(&self, etag: Option<&str>, body: &[u8]) -> Option<Arc<Venue>> {
        if let Some(etag) = etag {
            if let Some(known) = self.latest.lock().as_ref().filter(|v| v.etag == etag) {
                return Some(known.clone());
            }
        }
        let venue = Arc::new(Venue::decode(etag.unwrap_or_default().to_string(), body)?);
        if etag.is_some() {
            *self.latest.lock() = Some(venue.clone());
        }
        Some(venue)
    }
}

#[derive(Deserialize)]
struct SeatMapBody {
    sections: Vec<SectionBody>,
}

#[derive(Deserialize)]
struct SectionBody {
    name: String,
    runs: Vec<RunBody>,
}

#[derive(Deserialize)]
struct RunBody {
    ids: Vec<(i64, u32)>,
    status: String,
}

/// `a48h2s3` as `[('a', 48), ('h', 2), ('s', 3)]`; `None` when malformed.
fn statuses(encoded: &str) -> Option<Vec<(char, u32)>> {
    let mut out = Vec::new();
    let mut chars = encoded.char_indices().peekable();
    while let Some((start, letter)) = chars.next() {
        let digits_from = start + letter.len_utf8();
        let mut digits_to = digits_from;
        while let Some(&(i, c)) = chars.peek() {
            if !c.is_ascii_digit() {
                break;
            }
            digits_to = i + 1;
            chars.next();
        }
        out.push((letter, encoded[digits_from..digits_to].parse().ok()?));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAP: &str = r#"{"eventId":"e","available":5,"held":2,"sold":1,"sections":[
        {"name":"A","runs":[{"row":1,"from":1,"price":100,"ids":[[10,3],[20,2]],"status":"a2h1s1a1"}]},
        {"name":"B","runs":[{"row":1,"from":1,"price":50,"ids":[[30,3]],"status":"h1a2"}]}]}"#;

    #[test]
    fn a_compact_map_decodes_to_the_available_seats_of_each_section() {
        let venue = Venue::decode("W/\"x\"".into(), MAP.as_bytes()).unwrap();
        assert_eq!(venue.available("A"), &[10, 11, 21]);
        assert_eq!(venue.available("B"), &[31, 32]);
        assert!(venue.available("C").is_empty());
        let mut open: Vec<_> = venue.sections_with_seats().collect();
        open.sort_unstable();
        assert_eq!(open, ["A", "B"]);
    }

    #[test]
    fn a_malformed_map_is_none() {
        assert!(Venue::decode(String::new(), b"[]").is_none());
        let short = MAP.replace("a2h1s1a1", "a9");
        assert!(Venue::decode(String::new(), short.as_bytes()).is_none());
        assert_eq!(statuses("a12h3"), Some(vec![('a', 12), ('h', 3)]));
        assert_eq!(statuses("ax"), None);
    }

    #[test]
    fn fans_share_one_decoding_per_etag() {
        let shared = SharedVenue::default();
        let first = shared.of(Some("W/\"1\""), MAP.as_bytes()).unwrap();
        // A body that would not decode: the ETag says it is the same map.
        let again = shared.of(Some("W/\"1\""), b"not json").unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        assert!(shared.of(Some("W/\"2\""), b"not json").is_none());
    }
}
