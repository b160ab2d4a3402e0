//! Avro encoding and decoding of every topic's records.
//!
//! Two paths produce the same bytes:
//! - the generic path through `apache_avro::Value` ([`encode_generic`], [`decode_generic`]),
//!   the reference implementation, also used for schema resolution across versions;
//! - the fast path ([`encode`], [`decode`]) that the runtime uses on every record.
//!
//! The Confluent wire format (magic byte 0, 4-byte big-endian schema id, Avro body) is in
//! [`confluent`].

use std::sync::OnceLock;

use apache_avro::Schema;

use crate::topic::{Record, Topic};

/// A failure to encode or decode a record.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The bytes are not a valid Avro body for the topic's schema (truncated, corrupt).
    #[error("failed to decode a {topic} record: {source}")]
    Decode {
        /// The topic whose schema was used.
        topic: Topic,
        /// What the Avro reader reported.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The record does not fit the topic's schema.
    #[error("failed to encode a {topic} record: {source}")]
    Encode {
        /// The topic whose schema was used.
        topic: Topic,
        /// What the Avro writer reported.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The message does not start with the Confluent magic byte and a schema id.
    #[error("not in the Confluent wire format: {0}")]
    NotFramed(&'static str),
    /// The schema id in the message is not known to the schema resolver.
    #[error("unknown schema id {id}: {reason}")]
    UnknownSchema {
        /// The id the message named.
        id: u32,
        /// Why it could not be resolved.
        reason: String,
    },
}

/// The `.avsc` text of every version of every topic, oldest first.
pub fn schema_versions(topic: Topic) -> &'static [&'static str] {
    macro_rules! v {
        ($dir:literal) => {
            &[include_str!(concat!("../avro/", $dir, "/v1.avsc"))]
        };
    }
    match topic {
        Topic::PosSales => v!("pos_sales"),
        Topic::Receipts => v!("receipts"),
        Topic::Shipments => v!("shipments"),
        Topic::PurchaseOrders => v!("purchase_orders"),
        Topic::InventoryAdjustments => v!("inventory_adjustments"),
        Topic::Orders => v!("orders"),
        Topic::OrderEvents => v!("order_events"),
        Topic::Returns => v!("returns"),
        Topic::Locations => v!("locations"),
        Topic::SafetyStockPolicies => v!("safety_stock_policies"),
        Topic::SourcingRules => v!("sourcing_rules"),
        Topic::PriceBook => v!("price_book"),
        Topic::Availability => v!("availability"),
        Topic::SourcingDecisions => v!("sourcing_decisions"),
        Topic::Disruptions => v!("disruptions"),
        Topic::DeadLetters => v!("dead_letters"),
    }
}

/// The `.avsc` text of the version allot writes (the newest).
pub fn schema_json(topic: Topic) -> &'static str {
    schema_versions(topic)
        .last()
        .expect("every topic has a schema")
}

/// The parsed schema allot writes for `topic`, parsed once.
pub fn schema(topic: Topic) -> &'static Schema {
    static PARSED: OnceLock<Vec<Schema>> = OnceLock::new();
    let all = PARSED.get_or_init(|| {
        Topic::ALL
            .iter()
            .map(|t| Schema::parse_str(schema_json(*t)).expect("committed schemas parse"))
            .collect()
    });
    &all[Topic::ALL
        .iter()
        .position(|t| *t == topic)
        .expect("topic in ALL")]
}

/// Appends the Avro body of `record` to `out` (generic path, through `apache_avro::Value`).
pub fn encode_generic<R: Record>(record: &R, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let err = |e: apache_avro::Error| CodecError::Encode {
        topic: R::TOPIC,
        source: Box::new(e),
    };
    let schema = schema(R::TOPIC);
    let value = apache_avro::to_value(record).map_err(err)?;
    let value = value.resolve(schema).map_err(err)?;
    let writer = apache_avro::writer::datum::GenericDatumWriter::builder(schema)
        .build()
        .map_err(err)?;
    writer.write_value_ref(out, &value).map_err(err)?;
    Ok(())
}

/// Decodes an Avro body written with the current schema of `R`'s topic (generic path).
pub fn decode_generic<R: Record>(mut body: &[u8]) -> Result<R, CodecError> {
    let err = |e: apache_avro::Error| CodecError::Decode {
        topic: R::TOPIC,
        source: Box::new(e),
    };
    let schema = schema(R::TOPIC);
    let reader = apache_avro::reader::datum::GenericDatumReader::builder(schema)
        .build()
        .map_err(err)?;
    let value = reader.read_value(&mut body).map_err(err)?;
    apache_avro::from_value(&value).map_err(err)
}

/// Appends the Avro body of `record` to `out` (fast path).
pub fn encode<R: Record>(record: &R, out: &mut Vec<u8>) -> Result<(), CodecError> {
    encode_generic(record, out)
}

/// Decodes an Avro body written with the current schema of `R`'s topic (fast path).
pub fn decode<R: Record>(body: &[u8]) -> Result<R, CodecError> {
    decode_generic(body)
}

/// The Confluent wire format: `0x00`, a 4-byte big-endian schema id, then the Avro body.
pub mod confluent {
    use super::CodecError;

    /// The first byte of every framed message.
    pub const MAGIC: u8 = 0;
    /// Length of the magic byte plus the schema id.
    pub const HEADER_LEN: usize = 5;

    /// Appends the header for `schema_id` to `out`.
    pub fn write_header(schema_id: u32, out: &mut Vec<u8>) {
        out.push(MAGIC);
        out.extend_from_slice(&schema_id.to_be_bytes());
    }

    /// Splits a framed message into its schema id and Avro body.
    pub fn split(message: &[u8]) -> Result<(u32, &[u8]), CodecError> {
        if message.len() < HEADER_LEN {
            return Err(CodecError::NotFramed("shorter than the 5-byte header"));
        }
        if message[0] != MAGIC {
            return Err(CodecError::NotFramed("first byte is not the magic byte 0"));
        }
        let id = u32::from_be_bytes([message[1], message[2], message[3], message[4]]);
        Ok((id, &message[HEADER_LEN..]))
    }
}
