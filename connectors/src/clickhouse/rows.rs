//! Row types of allot's tables and how records become rows. Field order and names mirror
//! the DDL in `tables.rs` (with validation off the client sends plain `RowBinary`, so the
//! order matters; the integration test proves it against a server).

use allot_schemas::{DeadLetter, DeadLetterKind, EpochMillis, PosLineKind, PosTransaction};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

/// A row of `pos_sales_lines`.
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
pub struct PosSalesLineRow {
    /// The transaction's event id.
    pub event_id: String,
    /// The line's 0-based position in the basket; with `event_id` the row's identity.
    pub line_no: u32,
    /// Event time, seconds (`DateTime`, for partitioning and time filters).
    pub event_time: u32,
    /// Event time, milliseconds, exactly as in the event.
    pub event_time_ms: i64,
    /// The emitting system.
    pub source: String,
    /// The store.
    pub store_id: String,
    /// The register within the store.
    pub register_id: String,
    /// The store's own transaction number.
    pub transaction_id: String,
    /// The SKU sold or returned.
    pub sku: String,
    /// `Enum8`: 1 = SALE, 2 = RETURN.
    pub kind: i8,
    /// Units, always positive.
    pub quantity: i32,
    /// Price per unit in minor currency units.
    pub unit_price_cents: i64,
    /// ISO 4217 currency code.
    pub currency: String,
}

impl PosSalesLineRow {
    /// One row per line of the transaction.
    pub fn from_transaction(t: &PosTransaction) -> impl Iterator<Item = PosSalesLineRow> + '_ {
        t.lines.iter().enumerate().map(|(i, line)| PosSalesLineRow {
            event_id: t.event_id.clone(),
            line_no: u32::try_from(i).unwrap_or(u32::MAX),
            event_time: datetime(t.event_time),
            event_time_ms: t.event_time,
            source: t.source.clone(),
            store_id: t.store_id.clone(),
            register_id: t.register_id.clone(),
            transaction_id: t.transaction_id.clone(),
            sku: line.sku.clone(),
            kind: match line.kind {
                PosLineKind::Sale => 1,
                PosLineKind::Return => 2,
            },
            quantity: line.quantity,
            unit_price_cents: line.unit_price_cents,
            currency: t.currency.clone(),
        })
    }
}

/// A row of `dead_letters`.
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
pub struct DeadLetterRow {
    /// The letter's event id (derived from where the record was read).
    pub event_id: String,
    /// When the record was refused, seconds.
    pub event_time: u32,
    /// When the record was refused, milliseconds.
    pub event_time_ms: i64,
    /// The system that refused it.
    pub source: String,
    /// Topic (or file topic) the record was read from.
    pub topic: String,
    /// Kafka partition, -1 for files.
    pub partition: i32,
    /// Kafka offset, or line/record number for files.
    pub offset: i64,
    /// The record's key bytes.
    pub key: Option<ByteBuf>,
    /// The record's value bytes.
    pub payload: ByteBuf,
    /// `Enum8`: 1 = DECODE, 2 = UNKNOWN_SCHEMA, 3 = VALIDATION, 4 = UNKNOWN_REFERENCE.
    pub error_kind: i8,
    /// The error chain as text.
    pub reason: String,
    /// The Confluent schema id the record named.
    pub schema_id: Option<i32>,
}

impl From<&DeadLetter> for DeadLetterRow {
    fn from(d: &DeadLetter) -> Self {
        Self {
            event_id: d.event_id.clone(),
            event_time: datetime(d.event_time),
            event_time_ms: d.event_time,
            source: d.source.clone(),
            topic: d.topic.clone(),
            partition: d.partition,
            offset: d.offset,
            key: d.key.clone(),
            payload: d.payload.clone(),
            error_kind: match d.error_kind {
                DeadLetterKind::Decode => 1,
                DeadLetterKind::UnknownSchema => 2,
                DeadLetterKind::Validation => 3,
                DeadLetterKind::UnknownReference => 4,
            },
            reason: d.reason.clone(),
            schema_id: d.schema_id,
        }
    }
}

/// Epoch milliseconds as a `DateTime` (seconds, unsigned 32-bit): floored, clamped to
/// 1970-01-01..2106-02-07.
fn datetime(ms: EpochMillis) -> u32 {
    u32::try_from(ms.div_euclid(1000).max(0)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples::sample_of;

    #[test]
    fn datetime_floors_and_clamps() {
        let check = |ms, s| assert_eq!(datetime(ms), s, "{ms}");
        check(0, 0);
        check(1_999, 1);
        check(1_704_067_200_123, 1_704_067_200);
        check(-1, 0);
        check(i64::MAX, u32::MAX);
    }

    #[test]
    fn a_transaction_becomes_one_row_per_line() {
        let mut t: PosTransaction = sample_of(3);
        t.lines.push(allot_schemas::PosLine {
            sku: "sku-r".into(),
            quantity: 2,
            kind: PosLineKind::Return,
            unit_price_cents: 499,
        });
        let rows: Vec<_> = PosSalesLineRow::from_transaction(&t).collect();
        assert_eq!(rows.len(), t.lines.len());
        for (i, (row, line)) in rows.iter().zip(&t.lines).enumerate() {
            assert_eq!(row.line_no as usize, i);
            assert_eq!((&row.event_id, &row.sku), (&t.event_id, &line.sku));
            assert_eq!(row.event_time_ms, t.event_time);
        }
        let last = rows.last().unwrap();
        assert_eq!(
            (last.kind, last.quantity, last.unit_price_cents),
            (2, 2, 499)
        );
    }
}
