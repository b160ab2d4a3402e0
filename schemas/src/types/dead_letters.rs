//! Rust types of `schemas/avro/dead_letters/v1.avsc`: An input record that could not be decoded or validated, with the reason. Topic `allot.dead-letters`, key = original topic.

use super::EpochMillis;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

/// An input record that could not be decoded or validated, with the reason. Topic
/// `allot.dead-letters`, key = original topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Globally unique id of this dead letter, set by the source system; allot applies each
    /// event id at most once (idempotency key).
    pub event_id: String,
    /// When the dead letter happened at the source, in milliseconds since the Unix epoch (UTC).
    pub event_time: EpochMillis,
    /// The system that emitted this event (for example `pos-store-0042`, `oms-web`,
    /// `wms-dc-01`).
    pub source: String,
    /// Topic the record was read from.
    pub topic: String,
    /// Partition it was read from (-1 for non-Kafka sources).
    pub partition: i32,
    /// Offset (or line/record number for files).
    pub offset: i64,
    /// The record's key bytes, as read.
    pub key: Option<ByteBuf>,
    /// The record's value bytes, as read.
    pub payload: ByteBuf,
    /// Why the record was refused.
    pub error_kind: DeadLetterKind,
    /// The error chain as text: what failed and why.
    pub reason: String,
    /// The Confluent schema id the record named, if any.
    pub schema_id: Option<i32>,
}

/// Why the record was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeadLetterKind {
    Decode,
    UnknownSchema,
    Validation,
    UnknownReference,
}
