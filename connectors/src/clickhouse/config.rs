//! [`ClickHouseConfig`] and the client built from it.

use serde::{Deserialize, Serialize};

use super::ClickHouseError;

/// Where ClickHouse is and how rows are batched.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClickHouseConfig {
    /// The HTTP interface, e.g. `http://127.0.0.1:8123`.
    #[serde(default = "ClickHouseConfig::default_url")]
    pub url: String,
    /// The database holding allot's tables (created by [`create_database`] if missing).
    #[serde(default = "ClickHouseConfig::default_database")]
    pub database: String,
    /// The user to connect as.
    #[serde(default = "ClickHouseConfig::default_user")]
    pub user: String,
    /// That user's password (empty for none).
    #[serde(default)]
    pub password: String,
    /// Rows buffered per table before the sink inserts them as one batch. Larger batches make
    /// fewer parts for the server to merge; ClickHouse prefers thousands of rows per insert.
    #[serde(default = "ClickHouseConfig::default_batch_rows")]
    pub batch_rows: usize,
    /// Compress inserted data with LZ4 on the wire.
    #[serde(default = "ClickHouseConfig::default_compression")]
    pub lz4: bool,
}

impl std::fmt::Debug for ClickHouseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickHouseConfig")
            .field("url", &self.url)
            .field("database", &self.database)
            .field("user", &self.user)
            .field(
                "password",
                &if self.password.is_empty() { "" } else { "***" },
            )
            .field("batch_rows", &self.batch_rows)
            .field("lz4", &self.lz4)
            .finish()
    }
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        Self {
            url: Self::default_url(),
            database: Self::default_database(),
            user: Self::default_user(),
            password: String::new(),
            batch_rows: Self::default_batch_rows(),
            lz4: Self::default_compression(),
        }
    }
}

impl ClickHouseConfig {
    fn default_url() -> String {
        "http://127.0.0.1:8123".into()
    }
    fn default_database() -> String {
        "allot".into()
    }
    fn default_user() -> String {
        "default".into()
    }
    fn default_batch_rows() -> usize {
        10_000
    }
    fn default_compression() -> bool {
        true
    }

    /// Refuses settings that cannot work, saying what to change.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(format!(
                "clickhouse.url {:?} must be an http:// or https:// URL of the HTTP interface (port 8123 by default)",
                self.url
            ));
        }
        if self.database.is_empty()
            || !self
                .database
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(format!(
                "clickhouse.database {:?} must be non-empty ASCII letters, digits and '_'",
                self.database
            ));
        }
        if self.batch_rows == 0 {
            return Err("clickhouse.batch_rows must be at least 1".into());
        }
        Ok(())
    }
}

/// A client for `config`'s database. Validation is off and no settings are sent, so it works
/// with ClickHouse 18.16 as well as a current server.
pub fn client(config: &ClickHouseConfig) -> clickhouse::Client {
    server_client(config).with_database(&config.database)
}

fn server_client(config: &ClickHouseConfig) -> clickhouse::Client {
    let client = clickhouse::Client::default()
        .with_url(&config.url)
        .with_user(&config.user)
        .with_validation(false)
        .with_compression(if config.lz4 {
            clickhouse::Compression::Lz4
        } else {
            clickhouse::Compression::None
        });
    if config.password.is_empty() {
        client
    } else {
        client.with_password(&config.password)
    }
}

/// Creates `config.database` unless it exists.
pub async fn create_database(config: &ClickHouseConfig) -> Result<(), ClickHouseError> {
    config.validate().map_err(|reason| ClickHouseError::Ddl {
        object: format!("database {}", config.database),
        source: clickhouse::error::Error::InvalidParams(reason.into()),
    })?;
    server_client(config)
        .query(&format!(
            "CREATE DATABASE IF NOT EXISTS {}",
            config.database
        ))
        .execute()
        .await
        .map_err(|source| ClickHouseError::Ddl {
            object: format!("database {}", config.database),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_an_empty_config_and_unknown_fields_are_refused() {
        let c: ClickHouseConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c, ClickHouseConfig::default());
        assert_eq!(c.url, "http://127.0.0.1:8123");
        assert!(c.validate().is_ok());
        assert!(serde_json::from_str::<ClickHouseConfig>(r#"{"batch_size": 5}"#).is_err());
    }

    #[test]
    fn validate_names_the_field_to_change() {
        let check = |c: ClickHouseConfig, field: &str| {
            let e = c.validate().unwrap_err();
            assert!(e.contains(field), "{e}");
        };
        let ok = ClickHouseConfig::default();
        check(
            ClickHouseConfig {
                url: "127.0.0.1:8123".into(),
                ..ok.clone()
            },
            "clickhouse.url",
        );
        check(
            ClickHouseConfig {
                database: "a-b; DROP".into(),
                ..ok.clone()
            },
            "clickhouse.database",
        );
        check(
            ClickHouseConfig {
                batch_rows: 0,
                ..ok
            },
            "clickhouse.batch_rows",
        );
    }

    #[test]
    fn debug_hides_the_password() {
        let c = ClickHouseConfig {
            password: "hunter2".into(),
            ..Default::default()
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
