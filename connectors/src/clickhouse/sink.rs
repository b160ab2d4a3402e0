//! [`ClickHouseSink`]: buffers rows per table and inserts them in batches.

use super::tables::{DEAD_LETTERS, POS_SALES_LINES};
use super::{ClickHouseConfig, ClickHouseError, DeadLetterRow, PosSalesLineRow, client};
use crate::metrics::ConnectorMetrics;
use allot_schemas::{AnyRecord, DeadLetter, PosTransaction};

/// Writes records of the topics that have a table ([`super::TABLES`]) to ClickHouse, in
/// batches of `batch_rows` rows per table. A failed insert keeps its rows: call
/// [`flush`](Self::flush) again to retry the same batch (replaying it is harmless, the tables
/// are keyed by event id). Call `flush` before dropping the sink.
#[derive(Debug)]
pub struct ClickHouseSink {
    client: clickhouse::Client,
    batch_rows: usize,
    pos_sales_lines: Batch<PosSalesLineRow>,
    dead_letters: Batch<DeadLetterRow>,
    metrics: ConnectorMetrics,
}

#[derive(Debug)]
struct Batch<R> {
    table: &'static str,
    rows: Vec<R>,
}

impl<R> Batch<R>
where
    R: clickhouse::RowOwned + clickhouse::RowWrite,
{
    async fn insert(
        &mut self,
        client: &clickhouse::Client,
        metrics: &ConnectorMetrics,
    ) -> Result<u64, ClickHouseError> {
        if self.rows.is_empty() {
            return Ok(0);
        }
        let err = |source, rows| ClickHouseError::Insert {
            table: self.table,
            rows,
            source,
        };
        let n = self.rows.len();
        let mut insert = client
            .insert::<R>(self.table)
            .await
            .map_err(|e| err(e, n))?;
        for row in &self.rows {
            insert.write(row).await.map_err(|e| err(e, n))?;
        }
        insert.end().await.map_err(|e| err(e, n))?;
        self.rows.clear();
        metrics.rows_inserted(self.table, n as u64);
        Ok(n as u64)
    }
}

impl ClickHouseSink {
    /// A sink for `config`'s database; the tables must exist ([`super::create_tables`]).
    pub fn new(config: &ClickHouseConfig, metrics: ConnectorMetrics) -> Self {
        Self::with_client(client(config), config.batch_rows, metrics)
    }

    /// A sink over an existing client.
    pub fn with_client(
        client: clickhouse::Client,
        batch_rows: usize,
        metrics: ConnectorMetrics,
    ) -> Self {
        Self {
            client,
            batch_rows: batch_rows.max(1),
            pos_sales_lines: Batch {
                table: POS_SALES_LINES.name,
                rows: Vec::new(),
            },
            dead_letters: Batch {
                table: DEAD_LETTERS.name,
                rows: Vec::new(),
            },
            metrics,
        }
    }

    /// Buffers `record` if its topic has a table, inserting the table's batch once it is full.
    /// Returns whether the record was taken (records of topics without a table are not).
    pub async fn write(&mut self, record: &AnyRecord) -> Result<bool, ClickHouseError> {
        match record {
            AnyRecord::PosSale(t) => self.write_pos_sale(t).await.map(|()| true),
            AnyRecord::DeadLetter(d) => self.write_dead_letter(d).await.map(|()| true),
            _ => Ok(false),
        }
    }

    /// Buffers one row per line of a POS transaction.
    pub async fn write_pos_sale(&mut self, t: &PosTransaction) -> Result<(), ClickHouseError> {
        self.pos_sales_lines
            .rows
            .extend(PosSalesLineRow::from_transaction(t));
        if self.pos_sales_lines.rows.len() >= self.batch_rows {
            self.pos_sales_lines
                .insert(&self.client, &self.metrics)
                .await?;
        }
        Ok(())
    }

    /// Buffers one dead letter.
    pub async fn write_dead_letter(&mut self, d: &DeadLetter) -> Result<(), ClickHouseError> {
        self.dead_letters.rows.push(DeadLetterRow::from(d));
        if self.dead_letters.rows.len() >= self.batch_rows {
            self.dead_letters
                .insert(&self.client, &self.metrics)
                .await?;
        }
        Ok(())
    }

    /// Rows buffered and not inserted yet.
    pub fn pending_rows(&self) -> usize {
        self.pos_sales_lines.rows.len() + self.dead_letters.rows.len()
    }

    /// Inserts every buffered row; returns how many were inserted.
    pub async fn flush(&mut self) -> Result<u64, ClickHouseError> {
        let a = self
            .pos_sales_lines
            .insert(&self.client, &self.metrics)
            .await?;
        let b = self
            .dead_letters
            .insert(&self.client, &self.metrics)
            .await?;
        Ok(a + b)
    }

    /// The client, for queries alongside the sink.
    pub fn client(&self) -> &clickhouse::Client {
        &self.client
    }
}
