//! A MariaDB database of a benchmark run's own, dropped afterwards.

use anyhow::Context;
use sqlx::Connection;

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
