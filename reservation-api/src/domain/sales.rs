//! An event's sales as the operator's console shows them: seats free, held
//! and sold per section, and the revenue of the tickets that stand.

use super::seat_map::SeatView;
use super::status::SeatStatus;
use super::ticket::TicketStatus;

/// The tickets of one section in one status, counted by the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketCount {
    pub section: String,
    pub status: TicketStatus,
    pub tickets: u32,
    /// The sum of their prices.
    pub price_krw: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SectionSales {
    pub name: String,
    /// The section's price (its first seat's; sections have one price).
    pub price_krw: i64,
    pub total: u32,
    pub available: u32,
    pub held: u32,
    pub sold: u32,
    /// Prices of the section's issued and used tickets.
    pub revenue_krw: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sales {
    /// In the order their seats are numbered.
    pub sections: Vec<SectionSales>,
    pub available: u32,
    pub held: u32,
    pub sold: u32,
    pub revenue_krw: i64,
    pub tickets_issued: u32,
    pub tickets_used: u32,
    pub tickets_cancelled: u32,
}

/// Tallies `seats` (as seen now) and the event's `tickets`. A cancelled
/// ticket was refunded: it counts, but earns nothing.
pub fn tally(seats: &[SeatView], tickets: &[TicketCount]) -> Sales {
    let mut sales = Sales::default();
    for seat in seats {
        // Seats come section by section: the last section is nearly always
        // the seat's, so a venue costs one comparison a seat.
        let known = match sales.sections.last() {
            Some(last) if last.name == seat.section => Some(sales.sections.len() - 1),
            _ => sales.sections.iter().position(|s| s.name == seat.section),
        };
        let section = match known {
            Some(i) => &mut sales.sections[i],
            None => {
                sales.sections.push(SectionSales {
                    name: seat.section.clone(),
                    price_krw: seat.price_krw,
                    ..SectionSales::default()
                });
                sales.sections.last_mut().expect("just pushed")
            }
        };
        section.total += 1;
        let (in_section, overall) = match seat.status {
            SeatStatus::Available => (&mut section.available, &mut sales.available),
            SeatStatus::Held => (&mut section.held, &mut sales.held),
            SeatStatus::Sold => (&mut section.sold, &mut sales.sold),
        };
        *in_section += 1;
        *overall += 1;
    }
    for count in tickets {
        match count.status {
            TicketStatus::Issued => sales.tickets_issued += count.tickets,
            TicketStatus::Used => sales.tickets_used += count.tickets,
            TicketStatus::Cancelled => {
                sales.tickets_cancelled += count.tickets;
                continue;
            }
        }
        sales.revenue_krw += count.price_krw;
        if let Some(section) = sales.sections.iter_mut().find(|s| s.name == count.section) {
            section.revenue_krw += count.price_krw;
        }
    }
    sales
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seat(id: i64, section: &str, price_krw: i64, status: SeatStatus) -> SeatView {
        SeatView {
            id,
            section: section.into(),
            row: 1,
            number: id,
            price_krw,
            status,
        }
    }

    #[test]
    fn seats_by_status_and_revenue_of_the_tickets_that_stand() {
        let seats = [
            seat(1, "VIP", 200, SeatStatus::Sold),
            seat(2, "VIP", 200, SeatStatus::Held),
            seat(3, "A", 100, SeatStatus::Sold),
            seat(4, "A", 100, SeatStatus::Available),
            seat(5, "A", 100, SeatStatus::Available),
        ];
        let count = |section: &str, status, tickets, price_krw| TicketCount {
            section: section.into(),
            status,
            tickets,
            price_krw,
        };
        let tickets = [
            count("VIP", TicketStatus::Issued, 1, 200),
            count("A", TicketStatus::Used, 1, 100),
            count("A", TicketStatus::Cancelled, 1, 100),
        ];
        let sales = tally(&seats, &tickets);
        assert_eq!((sales.available, sales.held, sales.sold), (2, 1, 2));
        assert_eq!(sales.revenue_krw, 300);
        assert_eq!(
            (
                sales.tickets_issued,
                sales.tickets_used,
                sales.tickets_cancelled
            ),
            (1, 1, 1)
        );
        let names: Vec<&str> = sales.sections.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["VIP", "A"]);
        let a = &sales.sections[1];
        assert_eq!(
            (
                a.total,
                a.available,
                a.held,
                a.sold,
                a.revenue_krw,
                a.price_krw
            ),
            (3, 2, 0, 1, 100, 100)
        );
    }

    #[test]
    fn an_event_with_nothing_sold_earns_nothing() {
        let sales = tally(&[seat(1, "A", 100, SeatStatus::Available)], &[]);
        assert_eq!(sales.revenue_krw, 0);
        assert_eq!(sales.sections[0].available, 1);
    }
}
