//! Kafka: [`KafkaConfig`], topic admin ([`ensure_topics`]), [`KafkaSink`] (Confluent-framed
//! Avro values keyed by [`Record::key`](allot_schemas::Record::key), delivery confirmed) and
//! [`KafkaSource`] (a consumer-group member that decodes each message by its topic into an
//! [`AnyRecord`](allot_schemas::AnyRecord) and dead-letters what it cannot decode).
//!
//! Schema ids come from an [`allot_schemas::SchemaResolver`]; the default is the
//! [`allot_schemas::StaticResolver`] (fixed ids for the committed schemas, no registry).

mod admin;
mod changelog;
mod config;
mod sink;
mod source;

pub use admin::{delete_topics, ensure_changelog, ensure_topics};
pub use changelog::{
    ChangelogFollower, ChangelogRead, changelog_topic, partition_count, read_changelog,
    read_changelog_partitions,
};
pub use config::KafkaConfig;
pub use sink::{Delivered, Delivery, KafkaSink};
pub use source::{CloseWatch, Consumed, GroupEvent, KafkaSource};

use allot_schemas::{CodecError, Topic};
use rdkafka::error::{KafkaError as RdKafkaError, RDKafkaErrorCode};

use crate::ErrorAction;

/// A failure of the Kafka connector.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KafkaError {
    /// The configuration cannot work; the message says what to change.
    #[error("invalid Kafka configuration: {0}")]
    Config(String),
    /// librdkafka refused to create a client (a bad property, usually).
    #[error("failed to create the Kafka {client}")]
    Client {
        /// `producer`, `consumer` or `admin client`.
        client: &'static str,
        /// What librdkafka reported.
        #[source]
        source: RdKafkaError,
    },
    /// Creating or deleting a topic failed.
    #[error("failed to {operation} topic {topic}")]
    Admin {
        /// `create` or `delete`.
        operation: &'static str,
        /// The Kafka topic name (`*` when the request as a whole failed).
        topic: String,
        /// What the broker or librdkafka reported.
        #[source]
        source: RdKafkaError,
    },
    /// A record does not fit its topic's schema (a bug in the producing code).
    #[error("failed to encode a {topic} record")]
    Encode {
        /// The record's topic.
        topic: Topic,
        /// What the codec reported.
        #[source]
        source: CodecError,
    },
    /// A message was not delivered (not acknowledged by the brokers in time, or refused).
    #[error("failed to produce to {topic}")]
    Produce {
        /// The Kafka topic name.
        topic: String,
        /// What librdkafka reported.
        #[source]
        source: RdKafkaError,
    },
    /// A consumed message could not be decoded. The source dead-letters these itself.
    #[error("failed to decode {topic}[{partition}]@{offset}")]
    Decode {
        /// The Kafka topic name.
        topic: String,
        /// The partition.
        partition: i32,
        /// The offset.
        offset: i64,
        /// Why: not framed, truncated, unknown schema id, a schema id of another topic.
        #[source]
        source: CodecError,
    },
    /// A message arrived from a topic this source does not map to an allot topic.
    #[error("failed to decode {topic}[{partition}]@{offset}: not a topic of this deployment")]
    UnknownTopic {
        /// The Kafka topic name.
        topic: String,
        /// The partition.
        partition: i32,
        /// The offset.
        offset: i64,
    },
    /// Subscribing to the input topics failed.
    #[error("failed to subscribe to {topics}")]
    Subscribe {
        /// The topics, comma-separated.
        topics: String,
        /// What librdkafka reported.
        #[source]
        source: RdKafkaError,
    },
    /// Receiving from the brokers failed.
    #[error("failed to consume")]
    Consume {
        /// What librdkafka reported.
        #[source]
        source: RdKafkaError,
    },
    /// An offset was acknowledged for a partition this member no longer holds (it was lost
    /// or revoked without a hand-over). It cannot be committed by this member; the new owner
    /// reads the partition from its last committed offset. Skip it.
    #[error(
        "failed to store the offset of {topic}[{partition}]: the partition is no longer assigned here"
    )]
    NotAssigned {
        /// The Kafka topic name.
        topic: String,
        /// The partition.
        partition: i32,
    },
    /// Storing or committing consumer offsets failed.
    #[error("failed to commit offsets")]
    Commit {
        /// What librdkafka reported.
        #[source]
        source: RdKafkaError,
    },
    /// The Schema Registry could not be reached to fetch the schema a message names (after
    /// retries). The message is neither processed nor dead-lettered and not acked: stop, and
    /// a restart reads it again from the committed offset.
    #[error("failed to fetch schema id {id} from the schema registry")]
    SchemaFetch {
        /// The id the message named.
        id: u32,
        /// What the registry client reported.
        #[source]
        source: CodecError,
    },
    /// A step of a Kafka transaction failed (exactly-once processing). What was produced in
    /// the transaction is discarded by the brokers and its input offsets are not committed:
    /// after an abortable failure, abort and process again from the last committed state;
    /// after a fatal one (another instance took over this `transactional.id`, or the
    /// producer's epoch is gone), stop: the state in memory is no longer this instance's.
    #[error("failed to {step} a Kafka transaction{}", if *.fatal { " (fatal: this producer is fenced; restart to restore from the changelog)" } else { "" })]
    Transaction {
        /// `initialise`, `begin`, `send offsets to`, `commit`, `abort`.
        step: &'static str,
        /// librdkafka says the producer cannot go on.
        fatal: bool,
        /// librdkafka says the transaction must be aborted (it cannot be committed).
        abortable: bool,
        /// What librdkafka reported.
        #[source]
        source: RdKafkaError,
    },
    /// A changelog record could not be applied while restoring state: stop (restoring from
    /// a changelog with a record skipped would be wrong state).
    #[error("failed to restore from {topic}[{partition}]@{offset}: {reason}")]
    Restore {
        /// The changelog topic.
        topic: String,
        /// The partition (-1: the read as a whole).
        partition: i32,
        /// The offset (-1: the read as a whole).
        offset: i64,
        /// Why.
        reason: String,
    },
    /// A refused message could not be written to the dead-letter topic, so it is neither
    /// processed nor recorded: the source does not move past it.
    #[error("failed to dead-letter {origin}")]
    DeadLetter {
        /// The refused message, `topic[partition]@offset`.
        origin: String,
        /// Why producing the letter failed.
        #[source]
        source: Box<KafkaError>,
    },
}

impl KafkaError {
    /// What the caller should do with this failure.
    pub fn action(&self) -> ErrorAction {
        match self {
            KafkaError::Decode { .. } | KafkaError::UnknownTopic { .. } => ErrorAction::DeadLetter,
            // Nothing to retry and nothing wrong with the process: the caller skips it.
            KafkaError::NotAssigned { .. } => ErrorAction::DeadLetter,
            KafkaError::Config(_)
            | KafkaError::Client { .. }
            | KafkaError::Encode { .. }
            | KafkaError::Subscribe { .. }
            | KafkaError::SchemaFetch { .. }
            | KafkaError::Restore { .. } => ErrorAction::Stop,
            KafkaError::Admin { source, .. }
            | KafkaError::Produce { source, .. }
            | KafkaError::Consume { source }
            | KafkaError::Commit { source } => retry_or_stop(source),
            KafkaError::Transaction { fatal: true, .. } => ErrorAction::Stop,
            KafkaError::Transaction { source, .. } => retry_or_stop(source),
            KafkaError::DeadLetter { source, .. } => match source.action() {
                ErrorAction::Retry => ErrorAction::Retry,
                _ => ErrorAction::Stop,
            },
        }
    }
}

/// Transient broker and network conditions are retried; anything else (authorization, a
/// message too large, an invalid topic) would fail again.
fn retry_or_stop(e: &RdKafkaError) -> ErrorAction {
    use RDKafkaErrorCode::*;
    match e.rdkafka_error_code() {
        Some(
            QueueFull
            | MessageTimedOut
            | RequestTimedOut
            | OperationTimedOut
            | BrokerTransportFailure
            | AllBrokersDown
            | NetworkException
            | LeaderNotAvailable
            | NotLeaderForPartition
            | NotEnoughReplicas
            | NotEnoughReplicasAfterAppend
            | CoordinatorLoadInProgress
            | NotCoordinator
            | RebalanceInProgress,
        ) => ErrorAction::Retry,
        _ => ErrorAction::Stop,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(e: KafkaError, action: ErrorAction, display: &str) {
        assert_eq!(e.action(), action, "{e}");
        assert_eq!(e.to_string(), display);
    }

    #[test]
    fn each_error_says_what_to_do() {
        check(
            KafkaError::Decode {
                topic: "allot.orders".into(),
                partition: 2,
                offset: 1234,
                source: CodecError::NotFramed("shorter than the 5-byte header"),
            },
            ErrorAction::DeadLetter,
            "failed to decode allot.orders[2]@1234",
        );
        check(
            KafkaError::Produce {
                topic: "allot.orders".into(),
                source: RdKafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut),
            },
            ErrorAction::Retry,
            "failed to produce to allot.orders",
        );
        check(
            KafkaError::Produce {
                topic: "allot.orders".into(),
                source: RdKafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge),
            },
            ErrorAction::Stop,
            "failed to produce to allot.orders",
        );
        check(
            KafkaError::DeadLetter {
                origin: "allot.orders[0]@7".into(),
                source: Box::new(KafkaError::Produce {
                    topic: "allot.dead-letters".into(),
                    source: RdKafkaError::MessageProduction(RDKafkaErrorCode::QueueFull),
                }),
            },
            ErrorAction::Retry,
            "failed to dead-letter allot.orders[0]@7",
        );
        check(
            KafkaError::NotAssigned {
                topic: "allot.orders".into(),
                partition: 3,
            },
            ErrorAction::DeadLetter,
            "failed to store the offset of allot.orders[3]: the partition is no longer assigned here",
        );
        check(
            KafkaError::Config("kafka.partitions is 0".into()),
            ErrorAction::Stop,
            "invalid Kafka configuration: kafka.partitions is 0",
        );
    }
}
