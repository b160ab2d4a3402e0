//! The DDL of allot's raw tables. Each is a `ReplacingMergeTree` partitioned by month of the
//! event time, with a sorting key that starts with what analysts filter on and ends with the
//! event's identity (so a replayed row replaces itself).

use super::ClickHouseError;

/// One ClickHouse table allot writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    /// The table name (unqualified: the client's database is used).
    pub name: &'static str,
    /// `CREATE TABLE IF NOT EXISTS ...`, valid on ClickHouse 18.16 and current releases.
    pub ddl: &'static str,
}

/// One row per POS line (sales and in-store returns), from `allot.pos-sales`.
pub const POS_SALES_LINES: Table = Table {
    name: "pos_sales_lines",
    ddl: "CREATE TABLE IF NOT EXISTS pos_sales_lines (
    event_id String,
    line_no UInt32,
    event_time DateTime,
    event_time_ms Int64,
    source String,
    store_id String,
    register_id String,
    transaction_id String,
    sku String,
    kind Enum8('SALE' = 1, 'RETURN' = 2),
    quantity Int32,
    unit_price_cents Int64,
    currency String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(event_time)
ORDER BY (sku, store_id, event_time, event_id, line_no)",
};

/// Every dead letter, from `allot.dead-letters`. Keyed by where the refused record was read,
/// so dead-lettering the same record again replaces the row.
pub const DEAD_LETTERS: Table = Table {
    name: "dead_letters",
    ddl: "CREATE TABLE IF NOT EXISTS dead_letters (
    event_id String,
    event_time DateTime,
    event_time_ms Int64,
    source String,
    topic String,
    `partition` Int32,
    `offset` Int64,
    key Nullable(String),
    payload String,
    error_kind Enum8('DECODE' = 1, 'UNKNOWN_SCHEMA' = 2, 'VALIDATION' = 3, 'UNKNOWN_REFERENCE' = 4),
    reason String,
    schema_id Nullable(Int32)
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(event_time)
ORDER BY (topic, `partition`, `offset`, event_id)",
};

/// Every table, in creation order.
pub const TABLES: [Table; 2] = [POS_SALES_LINES, DEAD_LETTERS];

/// Creates every table of [`TABLES`] that does not exist yet, in the client's database.
pub async fn create_tables(client: &clickhouse::Client) -> Result<(), ClickHouseError> {
    for table in TABLES {
        client
            .query(table.ddl)
            .execute()
            .await
            .map_err(|source| ClickHouseError::Ddl {
                object: format!("table {}", table.name),
                source,
            })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddl_names_its_table_and_is_idempotent() {
        for t in TABLES {
            assert!(
                t.ddl
                    .starts_with(&format!("CREATE TABLE IF NOT EXISTS {} (", t.name)),
                "{}",
                t.name
            );
            assert!(
                t.ddl.contains("ENGINE = ReplacingMergeTree()"),
                "{}",
                t.name
            );
            assert!(
                t.ddl.contains("PARTITION BY toYYYYMM(event_time)"),
                "{}",
                t.name
            );
            // 18.16 lacks these; a current server would accept them, 18.16 would not
            for missing in [
                "DateTime64",
                "LowCardinality",
                "CODEC",
                "TTL",
                " Map(",
                " Bool",
            ] {
                assert!(!t.ddl.contains(missing), "{} uses {missing}", t.name);
            }
        }
    }
}
