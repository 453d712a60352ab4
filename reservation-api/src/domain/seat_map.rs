//! The compact seat map: what a seat-picker page needs to draw a venue,
//! small enough that every admitted fan can load it.
//!
//! Seats are grouped into *runs*: consecutive seats of one section and row,
//! numbered one after the other, at one price. A run carries its first
//! number, its price, its seat ids as ranges of consecutive ids, and its
//! statuses run-length encoded (`a48h2s3`: 48 available, 2 held, 3 sold).
//! A 50,000-seat venue is then about a thousand runs instead of 50,000
//! objects, and what changes between two reads is a few characters.

use super::SeatStatus;

/// A seat as buyers see it, with its status as of the read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatView {
    pub id: i64,
    pub section: String,
    pub row: i64,
    pub number: i64,
    pub price_krw: i64,
    pub status: SeatStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SeatMap {
    pub sections: Vec<SectionMap>,
    pub available: u32,
    pub held: u32,
    pub sold: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionMap {
    pub name: String,
    pub runs: Vec<SeatRun>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatRun {
    pub row: i64,
    pub first_number: i64,
    pub price_krw: i64,
    /// `(first id, count)` ranges, in seat-number order.
    pub ids: Vec<(i64, u32)>,
    /// Run-length encoded statuses, in seat-number order.
    pub statuses: String,
    seats: u32,
}

/// The status letter of the encoding.
fn letter(status: SeatStatus) -> char {
    match status {
        SeatStatus::Available => 'a',
        SeatStatus::Held => 'h',
        SeatStatus::Sold => 's',
    }
}

impl SeatRun {
    fn start(seat: &SeatView) -> SeatRun {
        SeatRun {
            row: seat.row,
            first_number: seat.number,
            price_krw: seat.price_krw,
            ids: Vec::new(),
            statuses: String::new(),
            seats: 0,
        }
    }

    /// Whether `seat` continues this run.
    fn continues(&self, seat: &SeatView) -> bool {
        seat.row == self.row
            && seat.price_krw == self.price_krw
            && seat.number == self.first_number + i64::from(self.seats)
    }

    fn push(&mut self, seat: &SeatView, status_run: &mut Option<(char, u32)>) {
        match self.ids.last_mut() {
            Some((first, count)) if *first + i64::from(*count) == seat.id => *count += 1,
            _ => self.ids.push((seat.id, 1)),
        }
        let c = letter(seat.status);
        match status_run {
            Some((run_letter, count)) if *run_letter == c => *count += 1,
            _ => {
                self.flush(status_run.take());
                *status_run = Some((c, 1));
            }
        }
        self.seats += 1;
    }

    fn flush(&mut self, status_run: Option<(char, u32)>) {
        if let Some((c, count)) = status_run {
            self.statuses.push(c);
            self.statuses.push_str(&count.to_string());
        }
    }
}

/// The map of `seats`, which come ordered by section, row and number (the
/// order they were created in, i.e. by id).
pub fn compact(seats: &[SeatView]) -> SeatMap {
    let mut map = SeatMap::default();
    let mut status_run: Option<(char, u32)> = None;
    for seat in seats {
        match seat.status {
            SeatStatus::Available => map.available += 1,
            SeatStatus::Held => map.held += 1,
            SeatStatus::Sold => map.sold += 1,
        }
        let same_section = map.sections.last().is_some_and(|s| s.name == seat.section);
        if !same_section {
            close_last_run(&mut map, &mut status_run);
            map.sections.push(SectionMap {
                name: seat.section.clone(),
                runs: Vec::new(),
            });
        }
        let section = map.sections.last_mut().expect("a section was just pushed");
        if !section.runs.last().is_some_and(|r| r.continues(seat)) {
            if let Some(run) = section.runs.last_mut() {
                run.flush(status_run.take());
            }
            section.runs.push(SeatRun::start(seat));
        }
        section
            .runs
            .last_mut()
            .expect("a run was just pushed")
            .push(seat, &mut status_run);
    }
    close_last_run(&mut map, &mut status_run);
    map
}

/// One section of an event as the event's page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionSummary {
    pub name: String,
    pub rows: i64,
    pub seats_per_row: i64,
    pub price_krw: i64,
    pub total_seats: i64,
    pub available_seats: i64,
}

/// The sections of `seats` (an event's seats in id order, so in section
/// order), each with its seats available as the views judged them. Sections
/// are rectangles: their size is their highest row and seat number.
pub fn section_summaries(seats: &[SeatView]) -> Vec<SectionSummary> {
    let mut out: Vec<SectionSummary> = Vec::new();
    for seat in seats {
        if out.last().is_none_or(|s| s.name != seat.section) {
            out.push(SectionSummary {
                name: seat.section.clone(),
                rows: 0,
                seats_per_row: 0,
                price_krw: seat.price_krw,
                total_seats: 0,
                available_seats: 0,
            });
        }
        let section = out.last_mut().expect("a section was just pushed");
        section.rows = section.rows.max(seat.row);
        section.seats_per_row = section.seats_per_row.max(seat.number);
        section.total_seats += 1;
        if seat.status == SeatStatus::Available {
            section.available_seats += 1;
        }
    }
    out
}

fn close_last_run(map: &mut SeatMap, status_run: &mut Option<(char, u32)>) {
    if let Some(run) = map.sections.last_mut().and_then(|s| s.runs.last_mut()) {
        run.flush(status_run.take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_summarized_in_order_with_their_free_seats() {
        let seats = [
            seat(1, "VIP", 1, 1, SeatStatus::Sold),
            seat(2, "VIP", 1, 2, SeatStatus::Available),
            seat(3, "VIP", 2, 1, SeatStatus::Held),
            seat(4, "VIP", 2, 2, SeatStatus::Available),
            seat(5, "R", 1, 1, SeatStatus::Held),
        ];
        let summaries = section_summaries(&seats);
        assert_eq!(
            summaries,
            [
                SectionSummary {
                    name: "VIP".into(),
                    rows: 2,
                    seats_per_row: 2,
                    price_krw: 150_000,
                    total_seats: 4,
                    available_seats: 2,
                },
                SectionSummary {
                    name: "R".into(),
                    rows: 1,
                    seats_per_row: 1,
                    price_krw: 70_000,
                    total_seats: 1,
                    available_seats: 0,
                },
            ]
        );
        assert!(section_summaries(&[]).is_empty());
    }

    fn seat(id: i64, section: &str, row: i64, number: i64, status: SeatStatus) -> SeatView {
        SeatView {
            id,
            section: section.to_string(),
            row,
            number,
            price_krw: if section == "VIP" { 150_000 } else { 70_000 },
            status,
        }
    }

    use SeatStatus::{Available as A, Held as H, Sold as S};

    #[test]
    fn a_row_is_one_run_with_its_statuses_run_length_encoded() {
        let seats: Vec<SeatView> = [A, A, H, H, S, A]
            .iter()
            .enumerate()
            .map(|(i, s)| seat(10 + i as i64, "A", 1, 1 + i as i64, *s))
            .collect();
        let map = compact(&seats);
        assert_eq!(map.sections.len(), 1);
        let run = &map.sections[0].runs[0];
        assert_eq!((run.row, run.first_number, run.price_krw), (1, 1, 70_000));
        assert_eq!(run.ids, vec![(10, 6)]);
        assert_eq!(run.statuses, "a2h2s1a1");
        assert_eq!((map.available, map.held, map.sold), (3, 2, 1));
    }

    #[test]
    fn rows_sections_gaps_and_id_jumps_start_new_runs_or_ranges() {
        let seats = vec![
            seat(1, "VIP", 1, 1, A),
            seat(2, "VIP", 1, 2, A),
            seat(3, "VIP", 2, 1, S),
            // An id jump within a row: same run, a second id range.
            seat(9, "VIP", 2, 2, S),
            // A gap in the numbers: a new run in the same row.
            seat(10, "VIP", 2, 4, H),
            seat(11, "A", 1, 1, A),
        ];
        let map = compact(&seats);
        let names: Vec<&str> = map.sections.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["VIP", "A"]);
        let vip = &map.sections[0].runs;
        assert_eq!(vip.len(), 3);
        assert_eq!((vip[0].row, vip[0].statuses.as_str()), (1, "a2"));
        assert_eq!(vip[1].ids, vec![(3, 1), (9, 1)]);
        assert_eq!(vip[1].statuses, "s2");
        assert_eq!((vip[2].first_number, vip[2].statuses.as_str()), (4, "h1"));
        assert_eq!(map.sections[1].runs[0].statuses, "a1");
        assert_eq!(map.sections[1].runs[0].price_krw, 70_000);
    }

    #[test]
    fn no_seats_is_an_empty_map() {
        assert_eq!(compact(&[]), SeatMap::default());
    }
}
