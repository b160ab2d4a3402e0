//! The Confluent wire format: `0x00`, a 4-byte big-endian schema id, then the Avro body; and
//! [`ConfluentCodec`], which frames and unframes records with ids from a [`SchemaResolver`].

use super::{CodecError, SchemaResolver, StaticResolver};
use crate::any::{AnyRecord, RecordBuilder, RecordVisitor};
use crate::topic::{Record, Topic};

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

/// One decoded record per topic, kept to be decoded into again by
/// [`ConfluentCodec::decode_slot`] so that decoding reuses their strings and vectors.
#[derive(Debug, Clone)]
pub struct RecordSlots {
    slots: Vec<Option<AnyRecord>>,
}

impl Default for RecordSlots {
    fn default() -> Self {
        RecordSlots {
            slots: vec![None; Topic::ALL.len()],
        }
    }
}

/// Encodes and decodes records in the Confluent wire format, with schema ids from `S`.
///
/// Decoding takes the fast path when the message's schema is the topic's current one (the
/// normal case, checked without locks), and falls back to Avro schema resolution (writer to
/// reader, through `apache_avro`) for an older or other version of the topic's schema.
///
/// Every method is synchronous and cheap to call from async code: resolving an id is a cache
/// lookup. With the [`SchemaRegistryClient`](super::SchemaRegistryClient) a message naming an
/// id not cached yet fails with [`CodecError::UnknownSchema`]; the caller then awaits
/// [`SchemaRegistryClient::fetch`](super::SchemaRegistryClient::fetch) and decodes again
/// (or uses [`ConfluentCodec::decode_fetching`]).
#[derive(Debug, Clone, Default)]
pub struct ConfluentCodec<S = StaticResolver> {
    /// Maps schema ids to writer schemas and topics to the id they are written under.
    resolver: S,
}

impl<S: SchemaResolver> ConfluentCodec<S> {
    /// A codec resolving schema ids with `resolver`.
    pub fn new(resolver: S) -> Self {
        Self { resolver }
    }

    /// The resolver this codec uses.
    pub fn resolver(&self) -> &S {
        &self.resolver
    }

    /// Appends the header (with the id of the topic's current schema) and the Avro body of
    /// `record` to `out`. On error `out` is left as it was.
    pub fn encode<R: Record>(&self, record: &R, out: &mut Vec<u8>) -> Result<(), CodecError> {
        let id = self.resolver.writer_id(R::TOPIC)?;
        let start = out.len();
        write_header(id, out);
        super::encode(record, out).inspect_err(|_| out.truncate(start))
    }

    /// Decodes a framed message of `R`'s topic, whatever version of the topic's schema it was
    /// written with.
    pub fn decode<R: Record>(&self, message: &[u8]) -> Result<R, CodecError> {
        let (id, body) = split(message)?;
        if self.resolver.is_current(R::TOPIC, id) {
            return super::decode(body);
        }
        let writer = self.resolver.resolve(id)?;
        if writer.topic() != Some(R::TOPIC) {
            return Err(CodecError::WrongTopic {
                id,
                expected: R::TOPIC,
                found: writer.topic(),
            });
        }
        if writer.is_current() {
            super::decode(body)
        } else {
            super::decode_resolving(writer.schema(), body)
        }
    }

    /// Decodes a framed message of `R`'s topic into `record`, reusing its strings and vectors
    /// when the message has the topic's current schema (see [`super::decode_into`]); an older
    /// schema version is resolved and replaces `record`. On error `record` holds a mix of old
    /// and new values; overwrite it before using it.
    pub fn decode_into<R: Record>(&self, message: &[u8], record: &mut R) -> Result<(), CodecError> {
        let (id, body) = split(message)?;
        if self.resolver.is_current(R::TOPIC, id) {
            return super::decode_into(body, record);
        }
        *record = self.decode(message)?;
        Ok(())
    }

    /// [`decode_into`](Self::decode_into) for a topic known only at run time: reuses
    /// `record` if it is of `topic`, replaces it otherwise.
    pub fn decode_any_into(
        &self,
        topic: Topic,
        message: &[u8],
        record: &mut AnyRecord,
    ) -> Result<(), CodecError> {
        if record.topic() == topic {
            super::with_inner!(record, r => self.decode_into(message, r))
        } else {
            *record = self.decode_any(topic, message)?;
            Ok(())
        }
    }

    /// Decodes a framed message of `topic` into the slot `slots` keeps for that topic
    /// (see [`RecordSlots`]) and returns it. The fastest way to decode a stream of mixed
    /// topics: once the slots have grown, decoding allocates nothing.
    pub fn decode_slot<'a>(
        &self,
        topic: Topic,
        message: &[u8],
        slots: &'a mut RecordSlots,
    ) -> Result<&'a AnyRecord, CodecError> {
        let slot = &mut slots.slots[topic.index()];
        let decoded = match slot {
            Some(record) => self.decode_any_into(topic, message, record),
            None => self.decode_any(topic, message).map(|r| *slot = Some(r)),
        };
        match decoded {
            Ok(()) => Ok(slot.as_ref().expect("filled above")),
            Err(e) => {
                // Do not leave a half-overwritten record around.
                *slot = None;
                Err(e)
            }
        }
    }

    /// Frames and encodes a record of any topic.
    pub fn encode_any(&self, record: &AnyRecord, out: &mut Vec<u8>) -> Result<(), CodecError> {
        struct Encode<'a, S>(&'a ConfluentCodec<S>, &'a mut Vec<u8>);
        impl<S: SchemaResolver> RecordVisitor for Encode<'_, S> {
            type Output = Result<(), CodecError>;
            fn visit<R: Record>(self, record: &R) -> Self::Output {
                self.0.encode(record, self.1)
            }
        }
        record.visit(Encode(self, out))
    }

    /// Decodes a framed message of `topic`, known only at run time.
    pub fn decode_any(&self, topic: Topic, message: &[u8]) -> Result<AnyRecord, CodecError> {
        struct Decode<'a, S>(&'a ConfluentCodec<S>, &'a [u8]);
        impl<S: SchemaResolver> RecordBuilder for Decode<'_, S> {
            type Error = CodecError;
            fn build<R: Record>(self) -> Result<R, CodecError> {
                self.0.decode(self.1)
            }
        }
        AnyRecord::build(topic, Decode(self, message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::resolver::static_id;
    use crate::testkit;
    use crate::types::*;

    fn check_split(message: &[u8], expected: Result<(u32, &[u8]), &str>) {
        match (split(message), expected) {
            (Ok(got), Ok(want)) => assert_eq!(got, want),
            (Err(CodecError::NotFramed(got)), Err(want)) => assert_eq!(got, want),
            (got, want) => panic!("split({message:?}) = {got:?}, expected {want:?}"),
        }
    }

    #[test]
    fn split_reads_the_header() {
        check_split(&[0, 0, 0, 1, 45, 7, 8], Ok((301, &[7, 8])));
        check_split(&[0, 0xff, 0xff, 0xff, 0xff], Ok((u32::MAX, &[])));
        check_split(&[0, 0, 0, 1], Err("shorter than the 5-byte header"));
        check_split(&[], Err("shorter than the 5-byte header"));
        check_split(
            &[1, 0, 0, 0, 1, 2],
            Err("first byte is not the magic byte 0"),
        );
    }

    #[test]
    fn write_header_is_split_back() {
        for id in [0, 1, 101, 1601, 0x0102_0304, u32::MAX] {
            let mut out = vec![9];
            write_header(id, &mut out);
            assert_eq!(out.len(), 1 + HEADER_LEN);
            assert_eq!(split(&out[1..]).unwrap(), (id, &[][..]));
        }
    }

    #[test]
    fn encode_writes_the_static_id_then_the_fast_body() {
        let codec = ConfluentCodec::new(StaticResolver::new());
        let record: InventoryAdjustment = testkit::sample();
        let mut framed = Vec::new();
        codec.encode(&record, &mut framed).unwrap();
        let mut body = Vec::new();
        crate::codec::encode(&record, &mut body).unwrap();
        assert_eq!(framed[0], MAGIC);
        assert_eq!(
            u32::from_be_bytes(framed[1..5].try_into().unwrap()),
            static_id(Topic::InventoryAdjustments, 1)
        );
        assert_eq!(&framed[HEADER_LEN..], &body[..]);
        assert_eq!(
            codec.decode::<InventoryAdjustment>(&framed).unwrap(),
            record
        );
    }

    #[test]
    fn decode_refuses_ids_of_other_topics_and_unknown_ids() {
        let codec = ConfluentCodec::new(StaticResolver::new());
        let record: Order = testkit::sample();
        let mut framed = Vec::new();
        codec.encode(&record, &mut framed).unwrap();

        let err = codec.decode::<PosTransaction>(&framed).unwrap_err();
        assert!(
            matches!(
                err,
                CodecError::WrongTopic {
                    expected: Topic::PosSales,
                    found: Some(Topic::Orders),
                    ..
                }
            ),
            "{err:?}"
        );

        for id in [0, 99, 199, 1700, static_id(Topic::Orders, 2), u32::MAX] {
            framed[1..5].copy_from_slice(&id.to_be_bytes());
            let err = codec.decode::<Order>(&framed).unwrap_err();
            assert!(
                matches!(err, CodecError::UnknownSchema { id: got, .. } if got == id),
                "{id}: {err:?}"
            );
        }
    }

    #[test]
    fn any_record_round_trips_for_every_topic() {
        let codec = ConfluentCodec::new(StaticResolver::new());
        for topic in Topic::ALL {
            let record = testkit::sample_any(topic);
            let mut framed = Vec::new();
            codec.encode_any(&record, &mut framed).unwrap();
            assert_eq!(split(&framed).unwrap().0, static_id(topic, 1));
            assert_eq!(codec.decode_any(topic, &framed).unwrap(), record);
            let other = Topic::ALL[(topic.index() + 1) % Topic::ALL.len()];
            assert!(matches!(
                codec.decode_any(other, &framed),
                Err(CodecError::WrongTopic { .. })
            ));
        }
    }

    #[test]
    fn a_failed_encode_leaves_the_buffer_as_it_was() {
        /// A resolver that knows no ids at all.
        #[derive(Debug)]
        struct Empty;
        impl SchemaResolver for Empty {
            fn resolve(
                &self,
                id: u32,
            ) -> Result<std::sync::Arc<super::super::WriterSchema>, CodecError> {
                Err(CodecError::UnknownSchema {
                    id,
                    reason: "empty resolver",
                })
            }
            fn writer_id(&self, topic: Topic) -> Result<u32, CodecError> {
                Err(CodecError::Unregistered { topic })
            }
        }
        let codec = ConfluentCodec::new(Empty);
        let mut out = vec![1, 2, 3];
        let record: Receipt = testkit::sample();
        assert!(matches!(
            codec.encode(&record, &mut out),
            Err(CodecError::Unregistered {
                topic: Topic::Receipts
            })
        ));
        assert_eq!(out, [1, 2, 3]);
    }
}
