//! Recently read seat rows, shared by every buyer reading the same map.
//!
//! In a flash sale thousands of admitted fans read the same sections within
//! a second, and a seat map is the most expensive read there is (one row per
//! seat: a 1,000-seat section is 1,000 rows decoded through sqlx's `Any`
//! driver, which allocates per row and per column). Measured in a 30,000-fan
//! sale, that decoding was most of the reservation-api's CPU. So the rows of
//! a map are read at most once per `max_age` and per (event, section), and
//! every reader in between is served from that snapshot.
//!
//! What a reader may see, and why it is safe:
//! - a map at most `max_age` old, except after this process's own seat
//!   writes (holds, releases, sales, cancellations): each marks every
//!   snapshot stale, so the next reader reads again (a fan who just held
//!   sees the seats held);
//! - the status of a held seat is judged at the moment of the read from its
//!   `hold_expires_at_ms` (as the database's rows are), so an expired hold
//!   shows as free without waiting for a refresh;
//! - a stale map can only offer a seat that is already taken: the hold is
//!   judged by the database (409 `seat_unavailable`), never by this cache.
//!
//! While one reader refreshes a stale snapshot, the others are served the
//! stale one (a refresh at a time per map), so a burst of readers is one
//! query, not one each. A write that lands while a refresh reads leaves the
//! refreshed snapshot stale (the rows may predate it), so a buyer's own hold
//! is never hidden by a refresh that raced it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::{SeatRow, SeatView};
use crate::domain::SeatStatus;

/// (event id, section or the whole event).
type MapKey = (String, Option<String>);

/// Maps unread for this many `max_age`s are dropped.
const FORGET_AFTER_MAX_AGES: u32 = 60;

#[derive(Debug)]
struct Snapshot {
    rows: Arc<[SeatRow]>,
    read_at: Instant,
    /// Marked by a write of this process: refresh before serving it to a
    /// reader that is not racing a refresh already under way.
    stale: bool,
    refreshing: bool,
}

/// What a reader told to refresh needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Refresh {
    /// Seat writes of this process seen before the read.
    writes_before: u64,
    /// Whether this reader holds the map's one refresh (others are served
    /// the old rows meanwhile); a reader of a map not cached yet does not.
    owns_the_refresh: bool,
}

/// A reader's duty to refresh a map; see [`SeatMaps::claim`].
#[derive(Debug)]
pub(super) struct RefreshClaim<'a> {
    maps: &'a SeatMaps,
    event_id: &'a str,
    section: Option<&'a str>,
    refresh: Refresh,
    stored: bool,
}

impl RefreshClaim<'_> {
    /// The rows just read, read after `read_at`.
    pub(super) fn store(mut self, rows: Arc<[SeatRow]>, read_at: Instant) {
        self.maps.store(
            self.event_id,
            self.section,
            rows,
            read_at,
            self.refresh.writes_before,
        );
        self.stored = true;
    }
}

impl Drop for RefreshClaim<'_> {
    fn drop(&mut self) {
        // Only the owner may let go: a reader of a map not cached yet must
        // not end the refresh another reader has claimed since.
        if !self.stored && self.refresh.owns_the_refresh {
            self.maps.release(self.event_id, self.section);
        }
    }
}

/// The seat-map snapshots of this process.
#[derive(Debug)]
pub(super) struct SeatMaps {
    max_age: Duration,
    snapshots: Mutex<HashMap<MapKey, Snapshot>>,
    /// Seat writes of this process so far.
    writes: AtomicU64,
}

/// What a reader is to do.
#[derive(Debug)]
pub(super) enum Lookup {
    /// Serve these rows.
    Fresh(Arc<[SeatRow]>),
    /// Read the rows and store them through [`SeatMaps::claim`].
    Refresh(Refresh),
}

impl SeatMaps {
    /// `max_age` zero: every read goes to the database.
    pub(super) fn new(max_age: Duration) -> Self {
        SeatMaps {
            max_age,
            snapshots: Mutex::new(HashMap::new()),
            writes: AtomicU64::new(0),
        }
    }

    /// The snapshot to serve for a map, or that the caller is to read it.
    pub(super) fn lookup(&self, event_id: &str, section: Option<&str>, now: Instant) -> Lookup {
        let writes_before = self.writes.load(Ordering::Acquire);
        let unowned = Lookup::Refresh(Refresh {
            writes_before,
            owns_the_refresh: false,
        });
        if self.max_age.is_zero() {
            return unowned;
        }
        let mut snapshots = self.snapshots.lock();
        let key = (event_id.to_owned(), section.map(str::to_owned));
        match snapshots.get_mut(&key) {
            Some(snapshot) => {
                let due = snapshot.stale || now.duration_since(snapshot.read_at) >= self.max_age;
                if due && !snapshot.refreshing {
                    snapshot.refreshing = true;
                    Lookup::Refresh(Refresh {
                        writes_before,
                        owns_the_refresh: true,
                    })
                } else {
                    Lookup::Fresh(snapshot.rows.clone())
                }
            }
            None => unowned,
        }
    }

    /// The rows just read for a map: read after `read_at`, by a reader
    /// that was told [`Lookup::Refresh`] with `writes_before`.
    pub(super) fn store(
        &self,
        event_id: &str,
        section: Option<&str>,
        rows: Arc<[SeatRow]>,
        read_at: Instant,
        writes_before: u64,
    ) {
        if self.max_age.is_zero() {
            return;
        }
        let mut snapshots = self.snapshots.lock();
        // Maps of events nobody reads any more go with the next store.
        snapshots.retain(|_, s| {
            read_at.duration_since(s.read_at) < self.max_age * FORGET_AFTER_MAX_AGES
        });
        snapshots.insert(
            (event_id.to_owned(), section.map(str::to_owned)),
            Snapshot {
                rows,
                read_at,
                stale: self.writes.load(Ordering::Acquire) != writes_before,
                refreshing: false,
            },
        );
    }

    /// The refresh a reader was told to do ([`Lookup::Refresh`]): stored
    /// with [`RefreshClaim::store`], or let go when dropped unstored, so
    /// that the next reader tries. A request whose client goes away is
    /// dropped at its await, mid-read: without this the map would stay
    /// claimed, and every later reader would get the old rows for good.
    pub(super) fn claim<'a>(
        &'a self,
        event_id: &'a str,
        section: Option<&'a str>,
        refresh: Refresh,
    ) -> RefreshClaim<'a> {
        RefreshClaim {
            maps: self,
            event_id,
            section,
            refresh,
            stored: false,
        }
    }

    /// A refresh failed or was abandoned: let the next reader try.
    fn release(&self, event_id: &str, section: Option<&str>) {
        let key = (event_id.to_owned(), section.map(str::to_owned));
        if let Some(snapshot) = self.snapshots.lock().get_mut(&key) {
            snapshot.refreshing = false;
        }
    }

    /// This process changed seats: every map is read again by its next
    /// reader. Every map, not the event's: some writes (a cancelled ticket)
    /// do not know their event, and a flash sale is one event anyway.
    pub(super) fn changed(&self) {
        self.writes.fetch_add(1, Ordering::AcqRel);
        for snapshot in self.snapshots.lock().values_mut() {
            snapshot.stale = true;
        }
    }
}

/// The seats of `rows` as a reader sees them at `now_ms`, optionally only
/// those of one status.
pub(crate) fn seat_views(
    rows: &[SeatRow],
    status: Option<SeatStatus>,
    now_ms: i64,
) -> Vec<SeatView> {
    rows.iter()
        .map(|row| row.view_at(now_ms))
        .filter(|view| status.is_none_or(|want| want == view.status))
        .collect()
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

    fn rows() -> Arc<[SeatRow]> {
        Arc::from(vec![
            row(1, SeatStatus::Available, None),
            row(2, SeatStatus::Held, Some(5_000)),
            row(3, SeatStatus::Sold, None),
        ])
    }

    #[test]
    fn a_map_is_read_once_per_max_age_and_served_in_between() {
        let maps = SeatMaps::new(Duration::from_millis(250));
        let t0 = Instant::now();
        assert!(matches!(
            maps.lookup("e", Some("A"), t0),
            Lookup::Refresh(_)
        ));
        maps.store("e", Some("A"), rows(), t0, 0);
        let later = t0 + Duration::from_millis(200);
        assert!(matches!(maps.lookup("e", Some("A"), later), Lookup::Fresh(r) if r.len() == 3));
        assert!(
            matches!(maps.lookup("e", None, later), Lookup::Refresh(_)),
            "another map"
        );
        let old = t0 + Duration::from_millis(300);
        assert!(matches!(
            maps.lookup("e", Some("A"), old),
            Lookup::Refresh(_)
        ));
        // While that refresh runs, everyone else gets the old rows.
        assert!(matches!(maps.lookup("e", Some("A"), old), Lookup::Fresh(_)));
        maps.release("e", Some("A"));
        assert!(matches!(
            maps.lookup("e", Some("A"), old),
            Lookup::Refresh(_)
        ));
    }

    #[test]
    fn a_refresh_abandoned_mid_read_lets_the_next_reader_refresh() {
        let maps = SeatMaps::new(Duration::from_millis(250));
        let t0 = Instant::now();
        maps.store("e", None, rows(), t0, 0);
        let old = t0 + Duration::from_millis(300);
        let Lookup::Refresh(refresh) = maps.lookup("e", None, old) else {
            panic!("a refresh is due");
        };
        // The request's client went away: its future, and the claim, are dropped unstored.
        drop(maps.claim("e", None, refresh));
        let Lookup::Refresh(refresh) = maps.lookup("e", None, old) else {
            panic!("the map stayed claimed by a reader that is gone");
        };
        maps.claim("e", None, refresh).store(rows(), old);
        assert!(matches!(maps.lookup("e", None, old), Lookup::Fresh(_)));
    }

    #[test]
    fn only_the_owner_of_a_refresh_lets_it_go() {
        let maps = SeatMaps::new(Duration::from_millis(250));
        let t0 = Instant::now();
        // A first reader, before anything is cached, owns no refresh...
        let Lookup::Refresh(first) = maps.lookup("e", None, t0) else {
            panic!("nothing cached yet");
        };
        maps.store("e", None, rows(), t0, 0);
        let old = t0 + Duration::from_millis(300);
        let Lookup::Refresh(owner) = maps.lookup("e", None, old) else {
            panic!("a refresh is due");
        };
        // ...so dropping its claim leaves the owner's refresh alone.
        drop(maps.claim("e", None, first));
        assert!(matches!(maps.lookup("e", None, old), Lookup::Fresh(_)));
        drop(maps.claim("e", None, owner));
        assert!(matches!(maps.lookup("e", None, old), Lookup::Refresh(_)));
    }

    #[test]
    fn a_write_of_this_process_makes_the_next_reader_read_again() {
        let maps = SeatMaps::new(Duration::from_secs(60));
        let t0 = Instant::now();
        maps.store("e", Some("A"), rows(), t0, 0);
        maps.store("e", None, rows(), t0, 0);
        assert!(matches!(maps.lookup("e", Some("A"), t0), Lookup::Fresh(_)));
        maps.changed();
        assert!(matches!(
            maps.lookup("e", Some("A"), t0),
            Lookup::Refresh(_)
        ));
        assert!(matches!(maps.lookup("e", None, t0), Lookup::Refresh(_)));
    }

    #[test]
    fn a_write_during_a_refresh_leaves_the_refreshed_map_stale() {
        let maps = SeatMaps::new(Duration::from_secs(60));
        let t0 = Instant::now();
        let Lookup::Refresh(before) = maps.lookup("e", None, t0) else {
            panic!("nothing to serve yet");
        };
        // A hold commits while the rows are being read...
        maps.changed();
        maps.claim("e", None, before).store(rows(), t0);
        // ...so the rows may miss it: the next reader reads again.
        assert!(matches!(maps.lookup("e", None, t0), Lookup::Refresh(_)));
    }

    #[test]
    fn zero_max_age_caches_nothing() {
        let maps = SeatMaps::new(Duration::ZERO);
        let t0 = Instant::now();
        maps.store("e", None, rows(), t0, 0);
        assert!(matches!(maps.lookup("e", None, t0), Lookup::Refresh(_)));
    }

    #[test]
    fn a_hold_that_ran_out_shows_free_without_a_refresh() {
        let rows = rows();
        let before = seat_views(&rows, Some(SeatStatus::Available), 4_999);
        assert_eq!(before.iter().map(|s| s.id).collect::<Vec<_>>(), vec![1]);
        let after = seat_views(&rows, Some(SeatStatus::Available), 5_000);
        assert_eq!(after.iter().map(|s| s.id).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(seat_views(&rows, None, 5_000).len(), 3);
    }
}
