//! The dead-letter path: a record that cannot be decoded becomes an
//! [`allot_schemas::DeadLetter`] (original key and payload bytes, kind, the error chain as
//! text, the schema id if any), is counted in `allot_dead_letters_total{topic,kind}`, logged
//! with `tracing::warn!`, and handed to a destination; the reader then carries on with the next
//! record. Nothing is dropped silently.
//!
//! [`DeadLetters`] builds and counts the letters; where they go depends on the connector: the
//! Kafka source produces them to the dead-letter topic, the file readers hand them to a
//! [`DeadLetterWriter`] (a file writer, or a `Vec` in tests).

use std::error::Error;
use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use allot_schemas::{CodecError, DeadLetter, DeadLetterKind, EpochMillis};
use serde_bytes::ByteBuf;

use crate::metrics::{ConnectorMetrics, kind_label};

/// Where a refused record was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin<'a> {
    /// The topic as read: the Kafka topic name (with any deployment prefix), or the logical
    /// topic name for files.
    pub topic: &'a str,
    /// The Kafka partition, or -1 for files.
    pub partition: i32,
    /// The Kafka offset, or the 1-based line (JSON lines) or record (Avro files) number.
    pub offset: i64,
}

impl std::fmt::Display for Origin<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}[{}]@{}", self.topic, self.partition, self.offset)
    }
}

/// Builds, counts and logs dead letters. Cheap to clone.
#[derive(Debug, Clone)]
pub struct DeadLetters {
    source: String,
    metrics: ConnectorMetrics,
}

impl DeadLetters {
    /// `source` goes into each letter's `source` field (the client id of the reader, e.g.
    /// `allot`); `metrics` gets the `allot_dead_letters_total` count.
    pub fn new(source: impl Into<String>, metrics: ConnectorMetrics) -> Self {
        Self {
            source: source.into(),
            metrics,
        }
    }

    /// The metrics this path counts into.
    pub fn metrics(&self) -> &ConnectorMetrics {
        &self.metrics
    }

    /// Turns a refused record into a dead letter: counts it under `metric_topic` (the logical
    /// topic name when known), logs a warning with the full error chain, and returns the letter
    /// to send on. The letter's event id is derived from the origin, so dead-lettering the same
    /// record twice (a replay) yields the same id.
    pub fn refuse(
        &self,
        origin: Origin<'_>,
        metric_topic: &str,
        key: Option<&[u8]>,
        payload: &[u8],
        error: &(dyn Error + 'static),
    ) -> DeadLetter {
        let (kind, schema_id) = classify(error);
        self.letter(
            origin,
            metric_topic,
            key,
            payload,
            kind,
            error_chain(error),
            schema_id,
        )
    }

    /// Like [`refuse`](Self::refuse), for a record that decoded but that a processor refused
    /// (`VALIDATION`, `UNKNOWN_REFERENCE`), with the processor's reason.
    pub fn refuse_as(
        &self,
        origin: Origin<'_>,
        metric_topic: &str,
        key: Option<&[u8]>,
        payload: &[u8],
        kind: DeadLetterKind,
        reason: &str,
    ) -> DeadLetter {
        self.letter(
            origin,
            metric_topic,
            key,
            payload,
            kind,
            reason.to_owned(),
            None,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn letter(
        &self,
        origin: Origin<'_>,
        metric_topic: &str,
        key: Option<&[u8]>,
        payload: &[u8],
        kind: DeadLetterKind,
        reason: String,
        schema_id: Option<i32>,
    ) -> DeadLetter {
        self.metrics.dead_letter(metric_topic, kind);
        tracing::warn!(
            topic = origin.topic,
            partition = origin.partition,
            offset = origin.offset,
            kind = kind_label(kind),
            schema_id,
            "dead-lettered a record: {reason}"
        );
        DeadLetter {
            event_id: format!("dead-letter:{origin}"),
            event_time: now_millis(),
            source: self.source.clone(),
            topic: origin.topic.to_owned(),
            partition: origin.partition,
            offset: origin.offset,
            key: key.map(|k| ByteBuf::from(k.to_vec())),
            payload: ByteBuf::from(payload.to_vec()),
            error_kind: kind,
            reason,
            schema_id,
        }
    }
}

/// The kind of a refusal and the Confluent schema id it named, found by walking the error
/// chain to the [`CodecError`] that caused it. A schema id that is unknown, or that names a
/// schema of another topic, is `UNKNOWN_SCHEMA`; anything else is a `DECODE` failure.
pub fn classify(error: &(dyn Error + 'static)) -> (DeadLetterKind, Option<i32>) {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(codec) = e.downcast_ref::<CodecError>() {
            return match codec {
                CodecError::UnknownSchema { id, .. } | CodecError::WrongTopic { id, .. } => {
                    (DeadLetterKind::UnknownSchema, i32::try_from(*id).ok())
                }
                _ => (DeadLetterKind::Decode, None),
            };
        }
        next = e.source();
    }
    (DeadLetterKind::Decode, None)
}

/// The error and its sources as one line, `outer: inner: innermost`. A source whose text its
/// parent already printed (many errors put their source in their own message) is skipped.
pub fn error_chain(error: &(dyn Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut next = error.source();
    while let Some(e) = next {
        let text = e.to_string();
        if !out.contains(&text) {
            let _ = write!(out, ": {text}");
        }
        next = e.source();
    }
    out
}

/// Wall-clock time in epoch milliseconds (the time a letter was written).
pub fn now_millis() -> EpochMillis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as EpochMillis)
        .unwrap_or(0)
}

/// A failure to hand a dead letter to its destination. The refused record is then neither
/// processed nor recorded, so the reader must stop (or retry) rather than carry on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeadLetterError {
    /// Writing the letter to its destination failed.
    #[error("failed to write the dead letter for {origin}")]
    Write {
        /// Where the refused record came from (`topic[partition]@offset`).
        origin: String,
        /// What the destination reported.
        #[source]
        source: Box<dyn Error + Send + Sync>,
    },
}

impl DeadLetterError {
    /// Losing a dead letter would drop a record silently: stop, unless the destination says
    /// it was a passing fault (not known here).
    pub fn action(&self) -> crate::ErrorAction {
        crate::ErrorAction::Stop
    }
}

/// A synchronous destination for dead letters (files, memory).
pub trait DeadLetterWriter: Send {
    /// Writes one letter.
    fn write_dead_letter(&mut self, letter: &DeadLetter) -> Result<(), DeadLetterError>;
    /// Makes every letter written so far durable.
    fn flush_dead_letters(&mut self) -> Result<(), DeadLetterError> {
        Ok(())
    }
}

/// Collects letters in memory (tests, tools that print them at the end).
impl DeadLetterWriter for Vec<DeadLetter> {
    fn write_dead_letter(&mut self, letter: &DeadLetter) -> Result<(), DeadLetterError> {
        self.push(letter.clone());
        Ok(())
    }
}

impl<W: DeadLetterWriter + ?Sized> DeadLetterWriter for &mut W {
    fn write_dead_letter(&mut self, letter: &DeadLetter) -> Result<(), DeadLetterError> {
        (**self).write_dead_letter(letter)
    }
    fn flush_dead_letters(&mut self) -> Result<(), DeadLetterError> {
        (**self).flush_dead_letters()
    }
}

impl<W: DeadLetterWriter + ?Sized> DeadLetterWriter for Box<W> {
    fn write_dead_letter(&mut self, letter: &DeadLetter) -> Result<(), DeadLetterError> {
        (**self).write_dead_letter(letter)
    }
    fn flush_dead_letters(&mut self) -> Result<(), DeadLetterError> {
        (**self).flush_dead_letters()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use allot_schemas::{Order, Topic, codec};

    #[derive(Debug, thiserror::Error)]
    #[error("failed to decode {origin}")]
    struct Outer {
        origin: String,
        #[source]
        source: CodecError,
    }

    fn decode_error(bytes: &[u8]) -> CodecError {
        codec::decode::<Order>(bytes).unwrap_err()
    }

    fn check(error: &(dyn Error + 'static), kind: DeadLetterKind, schema_id: Option<i32>) {
        assert_eq!(classify(error), (kind, schema_id), "{}", error_chain(error));
    }

    #[test]
    fn classify_finds_the_codec_error_in_the_chain() {
        let unknown = CodecError::UnknownSchema {
            id: 77,
            reason: "not registered",
        };
        check(&unknown, DeadLetterKind::UnknownSchema, Some(77));
        let wrapped = Outer {
            origin: "allot.orders[2]@1234".into(),
            source: CodecError::UnknownSchema {
                id: 9,
                reason: "belongs to allot.receipts",
            },
        };
        check(&wrapped, DeadLetterKind::UnknownSchema, Some(9));
        let foreign = CodecError::WrongTopic {
            id: 201,
            expected: Topic::Orders,
            found: Some(Topic::Receipts),
        };
        check(&foreign, DeadLetterKind::UnknownSchema, Some(201));
        check(&decode_error(&[0x02]), DeadLetterKind::Decode, None);
        check(
            &CodecError::NotFramed("shorter than the 5-byte header"),
            DeadLetterKind::Decode,
            None,
        );
        check(&std::io::Error::other("disk"), DeadLetterKind::Decode, None);
    }

    #[test]
    fn chain_names_every_layer_once() {
        let e = Outer {
            origin: "allot.orders[2]@1234".into(),
            source: decode_error(&[0x02]),
        };
        let text = error_chain(&e);
        assert!(
            text.starts_with(
                "failed to decode allot.orders[2]@1234: failed to decode a allot.orders record: "
            ),
            "{text}"
        );
        // the Avro error is printed by CodecError's own message and not repeated
        let avro = e.source.source().unwrap().to_string();
        assert_eq!(text.matches(&avro).count(), 1, "{text}");
    }

    #[test]
    fn refuse_builds_the_letter_and_counts_it() {
        let metrics = ConnectorMetrics::unregistered();
        let dl = DeadLetters::new("allot-test", metrics.clone());
        let err = Outer {
            origin: "p.allot.orders[2]@1234".into(),
            source: CodecError::UnknownSchema {
                id: 5,
                reason: "unknown",
            },
        };
        let origin = Origin {
            topic: "p.allot.orders",
            partition: 2,
            offset: 1234,
        };
        let letter = dl.refuse(
            origin,
            Topic::Orders.name(),
            Some(b"o-1"),
            b"\0\0\0\0\x05",
            &err,
        );
        assert_eq!(letter.topic, "p.allot.orders");
        assert_eq!((letter.partition, letter.offset), (2, 1234));
        assert_eq!(letter.key.as_deref().map(|k| &k[..]), Some(&b"o-1"[..]));
        assert_eq!(&letter.payload[..], b"\0\0\0\0\x05");
        assert_eq!(letter.error_kind, DeadLetterKind::UnknownSchema);
        assert_eq!(letter.schema_id, Some(5));
        assert_eq!(letter.source, "allot-test");
        assert_eq!(letter.event_id, "dead-letter:p.allot.orders[2]@1234");
        assert!(
            letter.reason.contains("unknown schema id 5"),
            "{}",
            letter.reason
        );
        assert_eq!(
            metrics.dead_letters_total("allot.orders", DeadLetterKind::UnknownSchema),
            1
        );
        // the letter itself is a valid record of the dead-letter topic
        let mut bytes = Vec::new();
        codec::encode(&letter, &mut bytes).unwrap();
        assert_eq!(codec::decode::<DeadLetter>(&bytes).unwrap(), letter);
    }
}
