//! Avro encoding and decoding of every topic's records.
//!
//! Two paths produce the same bytes:
//! - the generic path through `apache_avro::Value` ([`encode_generic`], [`decode_generic`]),
//!   the reference implementation, also used for schema resolution across versions;
//! - the fast path ([`encode`], [`decode`]) that the runtime uses on every record: the Avro
//!   encoding written out per type ([`wire`]), with no schema lookups at run time.
//!
//! The Confluent wire format (magic byte 0, 4-byte big-endian schema id, Avro body) is in
//! [`confluent`]; schema ids are resolved by a [`SchemaResolver`]: the [`StaticResolver`] built
//! from the committed schemas, or the [`SchemaRegistryClient`].
//!
//! The committed versions of each topic's schema (`schemas/avro/<topic>/v<N>.avsc`) are
//! compiled in by `build.rs`; [`evolution`] checks that each is compatible with the one before.

pub mod confluent;
pub mod evolution;
pub mod registry;
pub mod resolver;
pub mod wire;

use std::sync::OnceLock;

use apache_avro::Schema;

use crate::any::{AnyRecord, RecordBuilder, RecordVisitor};
use crate::topic::{Record, Topic};

pub use confluent::{ConfluentCodec, RecordSlots};
pub use registry::{SchemaRegistryClient, SchemaRegistryConfig};
pub use resolver::{SchemaResolver, StaticResolver, WriterSchema};
pub use wire::{AvroDatum, WireError};

/// A failure to encode or decode a record. Each variant says what the caller should do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The bytes are not a valid Avro body for the topic's schema (truncated, corrupt, trailing
    /// bytes). Dead-letter the record.
    #[error("failed to decode a {topic} record: {source}")]
    Decode {
        /// The topic whose schema was used.
        topic: Topic,
        /// What the Avro reader reported.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The record does not fit the topic's schema. A bug in the producing code: stop.
    #[error("failed to encode a {topic} record: {source}")]
    Encode {
        /// The topic whose schema was used.
        topic: Topic,
        /// What the Avro writer reported.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The message does not start with the Confluent magic byte and a schema id. Dead-letter
    /// the record.
    #[error("not in the Confluent wire format: {0}")]
    NotFramed(&'static str),
    /// The schema id in the message is not known to the schema resolver. With the
    /// [`StaticResolver`] the id is not one of allot's: dead-letter the record. With the
    /// [`SchemaRegistryClient`] the id is not cached yet: fetch it
    /// ([`SchemaRegistryClient::fetch`]) and decode again; dead-letter only if the fetch says
    /// the registry does not know the id either.
    #[error("unknown schema id {id}: {reason}")]
    UnknownSchema {
        /// The id the message named.
        id: u32,
        /// Why it could not be resolved.
        reason: &'static str,
    },
    /// The schema id names a schema of another topic (or no allot topic at all). Dead-letter
    /// the record.
    #[error(
        "schema id {id} is not a schema of {expected} (it belongs to {})",
        found.map_or("no allot topic", Topic::name)
    )]
    WrongTopic {
        /// The id the message named.
        id: u32,
        /// The topic being decoded.
        expected: Topic,
        /// The topic the schema belongs to, if it is an allot topic at all.
        found: Option<Topic>,
    },
    /// The resolver has no schema id to write this topic under yet. With the
    /// [`SchemaRegistryClient`], register or look up the topic's schema first
    /// ([`SchemaRegistryClient::register`], [`SchemaRegistryClient::lookup`]).
    #[error("no schema id for writing {topic}: register or look up its schema first")]
    Unregistered {
        /// The topic being encoded.
        topic: Topic,
    },
    /// Talking to the Schema Registry failed (network, HTTP status, unexpected answer). Retry
    /// later; an answer that the id or subject does not exist is reported as
    /// [`CodecError::UnknownSchema`] or [`CodecError::Unregistered`] instead.
    #[error("schema registry request failed: {operation}: {source}")]
    Registry {
        /// What the client was doing (`GET /schemas/ids/{id}`, ...).
        operation: &'static str,
        /// What failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

include!(concat!(env!("OUT_DIR"), "/schema_versions.rs"));

/// The `.avsc` text of every committed version of every topic, oldest first (version `N` is at
/// index `N - 1`). Generated from `schemas/avro/<topic>/v<N>.avsc` by `build.rs`.
pub fn schema_versions(topic: Topic) -> &'static [&'static str] {
    committed_versions(topic.dir())
}

/// The `.avsc` text of the version allot writes (the newest).
pub fn schema_json(topic: Topic) -> &'static str {
    schema_versions(topic)
        .last()
        .expect("every topic has a schema")
}

/// The version number allot writes for `topic` (the newest committed, 1-based).
pub fn current_version(topic: Topic) -> u32 {
    u32::try_from(schema_versions(topic).len()).expect("fewer than 2^32 versions")
}

/// Everything compiled once per topic.
struct Compiled {
    /// The current schema for the generic path.
    avro: Schema,
    /// Parsing Canonical Form of the current schema: two schemas with the same form have the
    /// same binary encoding.
    canonical: String,
}

fn compiled(topic: Topic) -> &'static Compiled {
    static COMPILED: OnceLock<Vec<Compiled>> = OnceLock::new();
    let all = COMPILED.get_or_init(|| {
        Topic::ALL
            .iter()
            .map(|t| {
                let json = schema_json(*t);
                let avro = Schema::parse_str(json).expect("committed schemas parse");
                let canonical = avro.canonical_form();
                Compiled { avro, canonical }
            })
            .collect()
    });
    &all[topic.index()]
}

/// The parsed schema allot writes for `topic`, parsed once.
pub fn schema(topic: Topic) -> &'static Schema {
    &compiled(topic).avro
}

/// The Parsing Canonical Form of the schema allot writes for `topic`.
pub(crate) fn current_canonical_form(topic: Topic) -> &'static str {
    &compiled(topic).canonical
}

/// Appends the Avro body of `record` to `out` (generic path, through `apache_avro::Value`).
/// On error `out` is left as it was.
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
    let start = out.len();
    writer
        .write_value_ref(out, &value)
        .map_err(err)
        .inspect_err(|_| out.truncate(start))?;
    Ok(())
}

/// Decodes an Avro body written with the current schema of `R`'s topic (generic path).
pub fn decode_generic<R: Record>(body: &[u8]) -> Result<R, CodecError> {
    decode_resolving(schema(R::TOPIC), body)
}

/// Decodes an Avro body written with `writer_schema` (any version of `R`'s topic) into `R`,
/// resolving it against the current schema with Avro's schema resolution rules (fields added
/// since take their defaults, fields removed since are skipped).
pub fn decode_resolving<R: Record>(
    writer_schema: &Schema,
    mut body: &[u8],
) -> Result<R, CodecError> {
    let err = |e: apache_avro::Error| CodecError::Decode {
        topic: R::TOPIC,
        source: Box::new(e),
    };
    let reader_schema = schema(R::TOPIC);
    let reader = apache_avro::reader::datum::GenericDatumReader::builder(writer_schema)
        .maybe_reader_schema((!std::ptr::eq(writer_schema, reader_schema)).then_some(reader_schema))
        .build()
        .map_err(err)?;
    let value = reader.read_value(&mut body).map_err(err)?;
    check_consumed::<R>(body.len())?;
    apache_avro::from_value(&value).map_err(err)
}

fn check_consumed<R: Record>(left: usize) -> Result<(), CodecError> {
    if left == 0 {
        Ok(())
    } else {
        Err(CodecError::Decode {
            topic: R::TOPIC,
            source: "bytes left over after the record (wrong schema or corrupt message)".into(),
        })
    }
}

/// Appends the Avro body of `record` to `out` (fast path).
///
/// Allocates nothing beyond the growth of `out`: reuse one buffer across records. Cannot fail
/// for allot's own types; the `Result` leaves room for records checked against their schema.
pub fn encode<R: Record>(record: &R, out: &mut Vec<u8>) -> Result<(), CodecError> {
    record.write_avro(out);
    Ok(())
}

/// Decodes an Avro body written with the current schema of `R`'s topic (fast path).
///
/// The whole of `body` must be the record: trailing bytes are an error, as they mean the
/// writer used another schema than the one assumed.
pub fn decode<R: Record>(mut body: &[u8]) -> Result<R, CodecError> {
    let record = R::read_avro(&mut body).map_err(|e| CodecError::Decode {
        topic: R::TOPIC,
        source: Box::new(e),
    })?;
    check_consumed::<R>(body.len())?;
    Ok(record)
}

/// Decodes an Avro body written with the current schema of `R`'s topic into `record` (fast
/// path), reusing its strings and vectors: once they have grown to the sizes the input
/// needs, decoding allocates nothing. The result equals [`decode`]'s.
///
/// On error `record` holds a mix of old and new values; overwrite it before using it.
pub fn decode_into<R: Record>(mut body: &[u8], record: &mut R) -> Result<(), CodecError> {
    record
        .read_avro_into(&mut body)
        .map_err(|e| CodecError::Decode {
            topic: R::TOPIC,
            source: Box::new(e),
        })?;
    check_consumed::<R>(body.len())
}

/// Calls `$body` with `$r` bound to the record inside any variant of `$record`.
macro_rules! with_inner {
    ($record:expr, $r:ident => $body:expr) => {
        match $record {
            AnyRecord::PosSale($r) => $body,
            AnyRecord::Receipt($r) => $body,
            AnyRecord::Shipment($r) => $body,
            AnyRecord::PurchaseOrder($r) => $body,
            AnyRecord::Adjustment($r) => $body,
            AnyRecord::Order($r) => $body,
            AnyRecord::OrderEvent($r) => $body,
            AnyRecord::Return($r) => $body,
            AnyRecord::Location($r) => $body,
            AnyRecord::SafetyStock($r) => $body,
            AnyRecord::SourcingRule($r) => $body,
            AnyRecord::Price($r) => $body,
            AnyRecord::Availability($r) => $body,
            AnyRecord::Decision($r) => $body,
            AnyRecord::Disruption($r) => $body,
            AnyRecord::DeadLetter($r) => $body,
        }
    };
}
pub(crate) use with_inner;

/// [`decode_into`] for a topic known only at run time: reuses `record` if it is of
/// `topic`, replaces it otherwise.
pub fn decode_any_into(
    topic: Topic,
    body: &[u8],
    record: &mut AnyRecord,
) -> Result<(), CodecError> {
    if record.topic() == topic {
        with_inner!(record, r => decode_into(body, r))
    } else {
        *record = decode_any(topic, body)?;
        Ok(())
    }
}

/// Appends the Avro body of any topic's record to `out` (fast path).
pub fn encode_any(record: &AnyRecord, out: &mut Vec<u8>) -> Result<(), CodecError> {
    struct Encode<'a>(&'a mut Vec<u8>);
    impl RecordVisitor for Encode<'_> {
        type Output = Result<(), CodecError>;
        fn visit<R: Record>(self, record: &R) -> Self::Output {
            encode(record, self.0)
        }
    }
    record.visit(Encode(out))
}

/// Decodes an Avro body written with the current schema of `topic` (fast path), for a topic
/// known only at run time.
pub fn decode_any(topic: Topic, body: &[u8]) -> Result<AnyRecord, CodecError> {
    struct Decode<'a>(&'a [u8]);
    impl RecordBuilder for Decode<'_> {
        type Error = CodecError;
        fn build<R: Record>(self) -> Result<R, CodecError> {
            decode(self.0)
        }
    }
    AnyRecord::build(topic, Decode(body))
}

#[cfg(test)]
mod golden;
#[cfg(test)]
mod tests;
