//! ClickHouse: the connection config and client builder, the DDL of allot's tables, and a
//! batched, idempotent [`ClickHouseSink`].
//!
//! Everything here runs on the ClickHouse 18.16 that Debian ships (used by the tests) and on a
//! current ClickHouse: the client is built with `.with_validation(false)` (rows go as plain
//! `RowBinary`, 18.16 lacks `RowBinaryWithNamesAndTypes`) and sends no settings; the DDL uses
//! only `ReplacingMergeTree`, `PARTITION BY toYYYYMM(..)`, `Enum8`, `Nullable` and `DateTime`.
//!
//! Idempotency: every table is a `ReplacingMergeTree` whose sorting key ends with the event id
//! (and line number), so a replayed batch collapses into the rows already there when parts
//! merge; exact counts before a merge read the table with `FINAL`.

mod config;
mod rows;
mod sink;
mod tables;

pub use config::{ClickHouseConfig, client, create_database};
pub use rows::{DeadLetterRow, PosSalesLineRow};
pub use sink::ClickHouseSink;
pub use tables::{TABLES, Table, create_tables};

use crate::ErrorAction;

/// A failure of the ClickHouse connector.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClickHouseError {
    /// Creating the database or a table failed.
    #[error("failed to create {object}")]
    Ddl {
        /// The database or table.
        object: String,
        /// What the client reported.
        #[source]
        source: clickhouse::error::Error,
    },
    /// Inserting a batch failed; the sink keeps the rows, so the same batch can be inserted
    /// again (replaying it is harmless, see the module docs).
    #[error("failed to insert {rows} rows into {table}")]
    Insert {
        /// The table.
        table: &'static str,
        /// Rows in the failed batch.
        rows: usize,
        /// What the client reported.
        #[source]
        source: clickhouse::error::Error,
    },
}

impl ClickHouseError {
    /// Network faults and timeouts are worth a retry; anything the server refused (bad SQL,
    /// unknown table, type mismatch) will be refused again.
    pub fn action(&self) -> ErrorAction {
        let (ClickHouseError::Ddl { source, .. } | ClickHouseError::Insert { source, .. }) = self;
        match source {
            clickhouse::error::Error::Network(_) | clickhouse::error::Error::TimedOut => {
                ErrorAction::Retry
            }
            _ => ErrorAction::Stop,
        }
    }
}
