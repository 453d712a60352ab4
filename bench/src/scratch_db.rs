//! A MariaDB database of a benchmark run's own, dropped afterwards, and
//! the on-sale event the in-process benchmarks put in it.

use anyhow::Context;
use reservation_api::domain::{EventStatus, NewEvent, SectionSpec};
use sqlx::Connection;

/// An on-sale event of one section, `rows` × `seats_per_row` at `price_krw`,
/// on queue `bench-q`.
pub fn bench_event(rows: u32, seats_per_row: u32, price_krw: i64) -> NewEvent {
    NewEvent {
        name: "Bench".into(),
        venue: "Hall".into(),
        starts_at_ms: 0,
        queue_id: "bench-q".into(),
        hold_ttl_sec: 300,
        max_seats_per_order: 4,
        status: EventStatus::OnSale,
        sections: vec![SectionSpec {
            name: "A".into(),
            rows,
            seats_per_row,
            price_krw,
        }],
    }
}

#[derive(Debug)]
pub struct ScratchDatabase {
    /// The URL the system under test connects to.
    pub url: String,
    name: String,
    admin: sqlx::MySqlConnection,
}

impl ScratchDatabase {
    /// Creates `ticketon_bench_<uuid>` on the server at `admin_url`.
    pub async fn create(admin_url: &str) -> anyhow::Result<Self> {
        let admin_url = admin_url.trim_end_matches('/');
        let name = format!("ticketon_bench_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::MySqlConnection::connect(admin_url)
            .await
            .context("MariaDB")?;
        sqlx::raw_sql(&format!("CREATE DATABASE `{name}`"))
            .execute(&mut admin)
            .await?;
        Ok(ScratchDatabase {
            url: format!("{admin_url}/{name}"),
            name,
            admin,
        })
    }

    pub async fn drop_database(mut self) -> anyhow::Result<()> {
        sqlx::raw_sql(&format!("DROP DATABASE `{}`", self.name))
            .execute(&mut self.admin)
            .await?;
        Ok(())
    }
}
