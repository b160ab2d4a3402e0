//! Schema ids: the [`SchemaResolver`] trait that maps a Confluent schema id to its writer
//! schema (and a topic to the id its records are written under), and the [`StaticResolver`]
//! built from the schemas committed in this repository.
//!
//! # The static id table
//!
//! The [`StaticResolver`] needs no registry: version `N` of the topic at position `i` of
//! [`Topic::ALL`] (0-based) has id `(i + 1) * 100 + N`, see [`static_id`]:
//!
//! | topic | v1 id | | topic | v1 id |
//! |---|---|---|---|---|
//! | pos_sales | 101 | | locations | 901 |
//! | receipts | 201 | | safety_stock_policies | 1001 |
//! | shipments | 301 | | sourcing_rules | 1101 |
//! | purchase_orders | 401 | | price_book | 1201 |
//! | inventory_adjustments | 501 | | availability | 1301 |
//! | orders | 601 | | sourcing_decisions | 1401 |
//! | order_events | 701 | | disruptions | 1501 |
//! | returns | 801 | | dead_letters | 1601 |
//!
//! So a topic's v2 will be 102, 202, ...; up to 99 versions per topic. The table is stable as
//! long as topics are only ever appended to [`Topic::ALL`]; the golden `confluent.bin` files
//! pin it.

use std::sync::{Arc, OnceLock};

use apache_avro::Schema;

use super::CodecError;
use crate::topic::Topic;

/// Maps schema ids to writer schemas, and topics to the id allot writes them under.
///
/// Both lookups are synchronous and must not do I/O: implementations that learn ids from
/// elsewhere (the Schema Registry) answer from a cache and report a miss as
/// [`CodecError::UnknownSchema`] / [`CodecError::Unregistered`], leaving the fetching to an
/// async method the caller awaits before retrying.
pub trait SchemaResolver: Send + Sync {
    /// The writer schema with this id.
    fn resolve(&self, id: u32) -> Result<Arc<WriterSchema>, CodecError>;

    /// The id that records of `topic` are written under (the id of its current schema).
    fn writer_id(&self, topic: Topic) -> Result<u32, CodecError>;

    /// Whether `id` is known, without any lookup, to name a schema with the same binary
    /// encoding as `topic`'s current schema (so the fast path can decode it). A `false` is
    /// not final: the caller then [resolves](SchemaResolver::resolve) the id.
    fn is_current(&self, topic: Topic, id: u32) -> bool {
        self.writer_id(topic).is_ok_and(|current| current == id)
    }
}

impl<T: SchemaResolver + ?Sized> SchemaResolver for Arc<T> {
    fn resolve(&self, id: u32) -> Result<Arc<WriterSchema>, CodecError> {
        (**self).resolve(id)
    }
    fn writer_id(&self, topic: Topic) -> Result<u32, CodecError> {
        (**self).writer_id(topic)
    }
    fn is_current(&self, topic: Topic, id: u32) -> bool {
        (**self).is_current(topic, id)
    }
}

impl<T: SchemaResolver + ?Sized> SchemaResolver for &T {
    fn resolve(&self, id: u32) -> Result<Arc<WriterSchema>, CodecError> {
        (**self).resolve(id)
    }
    fn writer_id(&self, topic: Topic) -> Result<u32, CodecError> {
        (**self).writer_id(topic)
    }
    fn is_current(&self, topic: Topic, id: u32) -> bool {
        (**self).is_current(topic, id)
    }
}

/// A schema some message was written with, as a resolver knows it.
#[derive(Debug)]
pub struct WriterSchema {
    /// The schema id.
    id: u32,
    /// The parsed schema, for schema resolution when it is not the current one.
    schema: Schema,
    /// The allot topic whose record this schema describes (matched by the record's full
    /// name), if any.
    topic: Option<Topic>,
    /// Which committed version of the topic's schema it encodes like, if any.
    version: Option<u32>,
    /// Whether it encodes like the topic's current schema, so the fast path can decode it.
    is_current: bool,
}

impl WriterSchema {
    /// Parses the schema text registered under `id` and works out which allot topic and
    /// version it is. Two schemas are taken as the same version when their Parsing Canonical
    /// Forms are equal, that is, when their binary encodings are the same.
    pub fn parse(id: u32, json: &str) -> Result<Self, apache_avro::Error> {
        let schema = Schema::parse_str(json)?;
        Ok(Self::from_schema(id, schema))
    }

    fn from_schema(id: u32, schema: Schema) -> Self {
        let name = schema.name().map(|n| n.fullname(None));
        let topic = name.and_then(|name| {
            Topic::ALL.into_iter().find(|t| {
                super::schema(*t)
                    .name()
                    .map(|n| n.fullname(None))
                    .as_deref()
                    == Some(&name)
            })
        });
        let (version, is_current) = match topic {
            None => (None, false),
            Some(topic) => {
                let canonical = schema.canonical_form();
                let version = committed(topic)
                    .iter()
                    .position(|v| v.canonical_form() == canonical)
                    .map(|i| u32::try_from(i + 1).expect("fewer than 2^32 versions"));
                (version, canonical == super::current_canonical_form(topic))
            }
        };
        Self {
            id,
            schema,
            topic,
            version,
            is_current,
        }
    }

    /// The schema id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The parsed schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The allot topic this schema belongs to, if any.
    pub fn topic(&self) -> Option<Topic> {
        self.topic
    }

    /// The committed version of the topic's schema this one encodes like, if any.
    pub fn version(&self) -> Option<u32> {
        self.version
    }

    /// Whether it encodes like the topic's current schema (the fast path decodes it).
    pub fn is_current(&self) -> bool {
        self.is_current
    }
}

/// The parsed committed versions of `topic`, oldest first.
fn committed(topic: Topic) -> &'static [Schema] {
    static PARSED: OnceLock<Vec<Vec<Schema>>> = OnceLock::new();
    &PARSED.get_or_init(|| {
        Topic::ALL
            .iter()
            .map(|t| {
                super::schema_versions(*t)
                    .iter()
                    .map(|json| Schema::parse_str(json).expect("committed schemas parse"))
                    .collect()
            })
            .collect()
    })[topic.index()]
}

/// How many ids each topic has in the static table (versions 1 to 99).
pub const STATIC_ID_STRIDE: u32 = 100;

/// The [`StaticResolver`] id of version `version` (1-based) of `topic`'s schema.
pub const fn static_id(topic: Topic, version: u32) -> u32 {
    (topic.index() as u32 + 1) * STATIC_ID_STRIDE + version
}

/// Resolves ids from the schemas committed in this repository, with the fixed id table of the
/// [module docs](self). The default resolver: no registry needed, and every allot process
/// built from the same commit agrees on the ids.
#[derive(Debug, Clone, Default)]
pub struct StaticResolver {
    _private: (),
}

impl StaticResolver {
    /// The resolver (all of its state is built once per process).
    pub fn new() -> Self {
        Self::default()
    }

    /// `(id, schema text)` of every committed version of every topic.
    pub fn ids() -> impl Iterator<Item = (u32, Topic, &'static str)> {
        Topic::ALL.into_iter().flat_map(|topic| {
            super::schema_versions(topic)
                .iter()
                .zip(1..)
                .map(move |(json, version)| (static_id(topic, version), topic, *json))
        })
    }

    fn table() -> &'static [Vec<Arc<WriterSchema>>] {
        static TABLE: OnceLock<Vec<Vec<Arc<WriterSchema>>>> = OnceLock::new();
        TABLE.get_or_init(|| {
            Topic::ALL
                .iter()
                .map(|topic| {
                    committed(*topic)
                        .iter()
                        .zip(1..)
                        .map(|(schema, version)| {
                            Arc::new(WriterSchema::from_schema(
                                static_id(*topic, version),
                                schema.clone(),
                            ))
                        })
                        .collect()
                })
                .collect()
        })
    }
}

impl SchemaResolver for StaticResolver {
    fn resolve(&self, id: u32) -> Result<Arc<WriterSchema>, CodecError> {
        let topic = (id / STATIC_ID_STRIDE) as usize;
        let version = (id % STATIC_ID_STRIDE) as usize;
        topic
            .checked_sub(1)
            .zip(version.checked_sub(1))
            .and_then(|(t, v)| Self::table().get(t)?.get(v))
            .cloned()
            .ok_or(CodecError::UnknownSchema {
                id,
                reason: "not the id of a committed allot schema",
            })
    }

    fn writer_id(&self, topic: Topic) -> Result<u32, CodecError> {
        Ok(static_id(topic, super::current_version(topic)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_ids_follow_the_documented_table() {
        let check = |topic: Topic, id: u32| assert_eq!(static_id(topic, 1), id, "{topic}");
        check(Topic::PosSales, 101);
        check(Topic::Receipts, 201);
        check(Topic::Shipments, 301);
        check(Topic::PurchaseOrders, 401);
        check(Topic::InventoryAdjustments, 501);
        check(Topic::Orders, 601);
        check(Topic::OrderEvents, 701);
        check(Topic::Returns, 801);
        check(Topic::Locations, 901);
        check(Topic::SafetyStockPolicies, 1001);
        check(Topic::SourcingRules, 1101);
        check(Topic::PriceBook, 1201);
        check(Topic::Availability, 1301);
        check(Topic::SourcingDecisions, 1401);
        check(Topic::Disruptions, 1501);
        check(Topic::DeadLetters, 1601);
        assert_eq!(static_id(Topic::Orders, 2), 602);
    }

    #[test]
    fn every_committed_version_resolves_to_its_topic() {
        let resolver = StaticResolver::new();
        for (id, topic, json) in StaticResolver::ids() {
            let writer = resolver.resolve(id).unwrap();
            assert_eq!(writer.id(), id);
            assert_eq!(writer.topic(), Some(topic));
            assert_eq!(writer.version(), Some(id % STATIC_ID_STRIDE));
            assert_eq!(
                writer.schema().canonical_form(),
                Schema::parse_str(json).unwrap().canonical_form()
            );
            let current = id == resolver.writer_id(topic).unwrap();
            assert_eq!(writer.is_current(), current);
            assert_eq!(resolver.is_current(topic, id), current);
        }
        assert_eq!(StaticResolver::ids().count(), Topic::ALL.len());
    }

    #[test]
    fn unknown_ids_are_refused() {
        let resolver = StaticResolver::new();
        for id in [
            0,
            1,
            100,
            199,
            1700,
            1701,
            u32::MAX,
            static_id(Topic::Returns, 99),
        ] {
            assert!(
                matches!(resolver.resolve(id), Err(CodecError::UnknownSchema { id: got, .. }) if got == id),
                "{id}"
            );
        }
    }

    #[test]
    fn writer_schema_recognises_topics_by_record_name() {
        let schema = |json: &str| WriterSchema::parse(7, json).unwrap();
        let current = schema(super::super::schema_json(Topic::Returns));
        assert_eq!(current.topic(), Some(Topic::Returns));
        assert!(current.is_current());
        assert_eq!(current.version(), Some(1));

        // Same name, another layout: the topic's, but no committed version and not current.
        let other = schema(
            r#"{"type":"record","name":"ReturnEvent","namespace":"allot","fields":[{"name":"x","type":"int"}]}"#,
        );
        assert_eq!(other.topic(), Some(Topic::Returns));
        assert!(!other.is_current());
        assert_eq!(other.version(), None);

        // Docs do not change the encoding: still the current version.
        let documented = super::super::schema_json(Topic::Returns).replacen(
            "\"doc\": \"",
            "\"doc\": \"Edited. ",
            1,
        );
        assert!(schema(&documented).is_current());

        let foreign = schema(r#"{"type":"record","name":"Other","namespace":"x","fields":[]}"#);
        assert_eq!(foreign.topic(), None);
        assert!(!foreign.is_current());
        assert_eq!(schema(r#""string""#).topic(), None);
    }
}
