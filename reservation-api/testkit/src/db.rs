//! Real services per test: a fresh database (a SQLite temp file, or a
//! uniquely named MariaDB database dropped afterwards) and Redis.

use std::path::PathBuf;

use sqlx::Connection;
use ticketon_runtime::test_env::{env_or, service_unavailable};

/// One test's database.
#[derive(Debug)]
pub enum TestDb {
    Sqlite {
        url: String,
        path: PathBuf,
    },
    MySql {
        url: String,
        admin_url: String,
        name: String,
    },
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let path = std::env::temp_dir().join(format!(
            "ticketon-resv-test-{}.db",
            uuid::Uuid::new_v4().simple()
        ));
        TestDb::Sqlite {
            url: format!("sqlite://{}", path.display()),
            path,
        }
    }

    /// None (after reporting) when MariaDB is unreachable.
    pub async fn mysql() -> Option<TestDb> {
        let admin_url = env_or("TICKETON_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306");
        let admin_url = admin_url.trim_end_matches('/').to_string();
        let mut conn = match sqlx::MySqlConnection::connect(&admin_url).await {
            Ok(c) => c,
            Err(e) => {
                service_unavailable("MariaDB", e);
                return None;
            }
        };
        let name = format!("ticketon_resv_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::raw_sql(&format!("CREATE DATABASE `{name}`"))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let _ = conn.close().await;
        Some(TestDb::MySql {
            url: format!("{admin_url}/{name}"),
            admin_url,
            name,
        })
    }

    pub fn url(&self) -> &str {
        match self {
            TestDb::Sqlite { url, .. } | TestDb::MySql { url, .. } => url,
        }
    }

    pub async fn cleanup(self) {
        match self {
            TestDb::Sqlite { path, .. } => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            TestDb::MySql {
                admin_url, name, ..
            } => {
                if let Ok(mut conn) = sqlx::MySqlConnection::connect(&admin_url).await {
                    let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS `{name}`"))
                        .execute(&mut conn)
                        .await;
                    let _ = conn.close().await;
                }
            }
        }
    }
}

/// A Redis URL for the distributed strategy, or None (after reporting).
pub async fn redis_url() -> Option<String> {
    let url = env_or("TICKETON_TEST_REDIS_URL", "redis://127.0.0.1:6379");
    let reachable = async {
        let client = redis::Client::open(url.as_str())?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    match reachable.await {
        Ok(_) => Some(url),
        Err(e) => {
            service_unavailable("Redis", e);
            None
        }
    }
}

pub async fn redis_cleanup(url: &str, prefix: &str) {
    if let Ok(client) = redis::Client::open(url) {
        if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{prefix}*"))
                .query_async(&mut conn)
                .await
                .unwrap_or_default();
            if !keys.is_empty() {
                let _: Result<i64, _> = redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
            }
        }
    }
}
