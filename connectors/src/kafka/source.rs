//! [`KafkaSource`]: a consumer-group member reading allot's input topics, decoding each
//! message by its topic and dead-lettering what it cannot decode.

use std::sync::Arc;

use allot_schemas::{
    AnyRecord, CodecError, ConfluentCodec, DeadLetter, SchemaResolver, StaticResolver, Topic,
    codec::confluent,
};
use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, TopicPartitionList};

use super::{KafkaConfig, KafkaError, KafkaSink};
use crate::dead_letter::{DeadLetters, Origin};
use crate::metrics::ConnectorMetrics;

/// One decoded message.
#[derive(Debug, Clone, PartialEq)]
pub struct Consumed {
    /// The allot topic it was read from.
    pub topic: Topic,
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
    /// The message key, as read (allot's sinks write [`Record::key`](allot_schemas::Record::key)).
    pub key: Option<Vec<u8>>,
    /// The message timestamp (create or log-append time), epoch milliseconds, if set.
    pub timestamp: Option<i64>,
    /// The decoded value.
    pub record: AnyRecord,
}

/// Reads a set of allot topics as a member of `config.group_id`.
///
/// [`next`](Self::next) yields decoded records. A message that cannot be decoded (no value,
/// truncated, not Confluent-framed, an unknown schema id, the id of another topic's schema) is
/// written as a `DeadLetter` to the dead-letter topic (and must be acknowledged by the
/// brokers before the source moves on), counted in `allot_dead_letters_total{topic,kind}`,
/// logged, and skipped.
///
/// Offsets: only what the application [`ack`](Self::ack)s is committed (auto-commit of stored
/// offsets). A dead-lettered message is not acked by itself; the next ack in its partition
/// covers it. If the process stops first, it is read and dead-lettered again after the
/// restart, with the same letter `event_id`.
pub struct KafkaSource {
    consumer: StreamConsumer<SourceContext>,
    codec: ConfluentCodec<Arc<dyn SchemaResolver>>,
    config: KafkaConfig,
    names: Arc<[String]>,
    dead_letters: DeadLetters,
    dead_letter_sink: KafkaSink,
    metrics: ConnectorMetrics,
}

impl std::fmt::Debug for KafkaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSource")
            .field("group_id", &self.config.group_id)
            .finish_non_exhaustive()
    }
}

impl KafkaSource {
    /// Subscribes to `topics` with schema ids from the [`StaticResolver`]; dead letters go
    /// through `dead_letter_sink` to its deployment's dead-letter topic.
    pub fn new(
        config: &KafkaConfig,
        topics: &[Topic],
        dead_letter_sink: KafkaSink,
        metrics: ConnectorMetrics,
    ) -> Result<Self, KafkaError> {
        Self::with_resolver(
            config,
            topics,
            Arc::new(StaticResolver::new()),
            dead_letter_sink,
            metrics,
        )
    }

    /// Like [`new`](Self::new), with schema ids resolved by `resolver`.
    pub fn with_resolver(
        config: &KafkaConfig,
        topics: &[Topic],
        resolver: Arc<dyn SchemaResolver>,
        dead_letter_sink: KafkaSink,
        metrics: ConnectorMetrics,
    ) -> Result<Self, KafkaError> {
        config.validate().map_err(KafkaError::Config)?;
        if topics.is_empty() {
            return Err(KafkaError::Config(
                "the source was given no topics to read".into(),
            ));
        }
        let context = SourceContext {
            config: config.clone(),
            metrics: metrics.clone(),
        };
        let consumer: StreamConsumer<SourceContext> = config
            .consumer_config()
            .create_with_context(context)
            .map_err(|source| KafkaError::Client {
                client: "consumer",
                source,
            })?;
        let subscribed: Vec<String> = topics.iter().map(|t| config.topic_name(*t)).collect();
        let refs: Vec<&str> = subscribed.iter().map(String::as_str).collect();
        consumer
            .subscribe(&refs)
            .map_err(|source| KafkaError::Subscribe {
                topics: subscribed.join(","),
                source,
            })?;
        Ok(Self {
            consumer,
            codec: ConfluentCodec::new(resolver),
            names: Topic::ALL.iter().map(|t| config.topic_name(*t)).collect(),
            dead_letters: DeadLetters::new(config.client_id.clone(), metrics.clone()),
            config: config.clone(),
            dead_letter_sink,
            metrics,
        })
    }

    /// The next record that decodes. Messages that do not are dead-lettered on the way.
    /// Cancel-safe between messages: dropping the future loses no decoded record.
    pub async fn next(&self) -> Result<Consumed, KafkaError> {
        loop {
            let refused = {
                let msg = self
                    .consumer
                    .recv()
                    .await
                    .map_err(|source| KafkaError::Consume { source })?;
                let (name, partition, offset) = (msg.topic(), msg.partition(), msg.offset());
                let topic = self.config.topic_of(name);
                let decoded = match (topic, msg.payload()) {
                    (None, _) => Err(KafkaError::UnknownTopic {
                        topic: name.to_owned(),
                        partition,
                        offset,
                    }),
                    (Some(_), None) => Err(decode_error(
                        name,
                        partition,
                        offset,
                        CodecError::NotFramed("the message has no value (a tombstone)"),
                    )),
                    (Some(topic_), Some(payload)) => self
                        .codec
                        .decode_any(topic_, payload)
                        .map_err(|e| decode_error(name, partition, offset, e)),
                };
                match decoded {
                    Ok(record) => {
                        let topic = record.topic();
                        self.metrics.consumed(topic);
                        return Ok(Consumed {
                            topic,
                            partition,
                            offset,
                            key: msg.key().map(<[u8]>::to_vec),
                            timestamp: msg.timestamp().to_millis(),
                            record,
                        });
                    }
                    Err(error) => {
                        let payload = msg.payload().unwrap_or_default();
                        let origin = Origin {
                            topic: name,
                            partition,
                            offset,
                        };
                        let mut letter = self.dead_letters.refuse(
                            origin,
                            topic.map_or(name, |t| t.name()),
                            msg.key(),
                            payload,
                            &error,
                        );
                        if letter.schema_id.is_none() {
                            letter.schema_id = confluent::split(payload)
                                .ok()
                                .and_then(|(id, _)| i32::try_from(id).ok());
                        }
                        (origin.to_string(), letter)
                    }
                }
            };
            self.send_dead_letter(refused).await?;
        }
    }

    async fn send_dead_letter(
        &self,
        (origin, letter): (String, DeadLetter),
    ) -> Result<(), KafkaError> {
        self.dead_letter_sink
            .send(&letter)
            .await
            .map(|_| ())
            .map_err(|e| KafkaError::DeadLetter {
                origin,
                source: Box::new(e),
            })
    }

    /// Marks `consumed` as processed: its offset (and everything before it in its partition)
    /// is committed with the next auto-commit.
    pub fn ack(&self, consumed: &Consumed) -> Result<(), KafkaError> {
        self.consumer
            .store_offset(
                &self.names[consumed.topic as usize],
                consumed.partition,
                consumed.offset,
            )
            .map_err(|source| KafkaError::Commit { source })
    }

    /// Commits the acked offsets now and waits for the broker to confirm.
    pub fn commit(&self) -> Result<(), KafkaError> {
        match self.consumer.commit_consumer_state(CommitMode::Sync) {
            // nothing acked since the last commit
            Err(rdkafka::error::KafkaError::ConsumerCommit(
                rdkafka::error::RDKafkaErrorCode::NoOffset,
            )) => Ok(()),
            other => other.map_err(|source| KafkaError::Commit { source }),
        }
    }

    /// The partitions currently assigned to this member.
    pub fn assignment(&self) -> Result<TopicPartitionList, KafkaError> {
        self.consumer
            .assignment()
            .map_err(|source| KafkaError::Consume { source })
    }

    /// The underlying consumer (for transactions: group metadata, positions).
    pub fn consumer(&self) -> &StreamConsumer<impl ConsumerContext + use<>> {
        &self.consumer
    }
}

fn decode_error(topic: &str, partition: i32, offset: i64, source: CodecError) -> KafkaError {
    KafkaError::Decode {
        topic: topic.to_owned(),
        partition,
        offset,
        source,
    }
}

/// Receives librdkafka's statistics (consumer lag) and rebalance events.
struct SourceContext {
    config: KafkaConfig,
    metrics: ConnectorMetrics,
}

impl ClientContext for SourceContext {
    fn stats(&self, statistics: Statistics) {
        for (name, topic) in &statistics.topics {
            let Some(t) = self.config.topic_of(name) else {
                continue;
            };
            for (partition, p) in &topic.partitions {
                // -1 is librdkafka's internal unassigned partition; lag -1 means unknown
                if *partition >= 0 && p.consumer_lag >= 0 {
                    self.metrics
                        .set_consumer_lag(t.name(), *partition, p.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for SourceContext {
    fn post_rebalance(
        &self,
        _base_consumer: &rdkafka::consumer::BaseConsumer<Self>,
        rebalance: &rdkafka::consumer::Rebalance<'_>,
    ) {
        tracing::info!(group = %self.config.group_id, ?rebalance, "consumer group rebalanced");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The runtime spawns sources on tokio's multi-threaded scheduler.
    #[allow(dead_code)]
    fn next_is_send_and_the_source_is_shareable(source: &KafkaSource) {
        fn is_send<T: Send>(_: &T) {}
        fn is_sync<T: Send + Sync>() {}
        is_send(&source.next());
        is_sync::<KafkaSource>();
        is_sync::<KafkaSink>();
    }
}
