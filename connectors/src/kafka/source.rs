//! [`KafkaSource`]: a consumer-group member reading allot's input topics, decoding each
//! message by its topic and dead-lettering what it cannot decode; and how the member follows
//! the group: [`GroupEvent`]s for the runtime, deferred revocation for a clean hand-over, the
//! [`Readiness`] it keeps up to date, and [`KafkaSource::close`] to leave the group promptly.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use allot_schemas::codec::{SchemaRegistryClient, confluent};
use allot_schemas::{
    AnyRecord, CodecError, ConfluentCodec, DeadLetter, SchemaResolver, StaticResolver, Topic,
};
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, ConsumerGroupMetadata, StreamConsumer,
};
use rdkafka::message::Message;
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::{KafkaConfig, KafkaError, KafkaSink};
use crate::dead_letter::{DeadLetters, Origin};
use crate::http::Readiness;
use crate::metrics::ConnectorMetrics;

/// A change of this member's partitions, as the consumer group decided it. Read them with
/// [`KafkaSource::take_group_events`] after [`KafkaSource::group_changed`] resolves.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GroupEvent {
    /// Partitions were assigned to this member (the added ones, under cooperative
    /// rebalancing; the whole assignment under eager). They are already being fetched.
    Assigned {
        /// The partitions added.
        partitions: Vec<(Topic, i32)>,
        /// How many input partitions this member holds now.
        held: usize,
        /// When the callback ran.
        at: Instant,
    },
    /// Partitions are being revoked. When `deferred`, they stay assigned (and committable)
    /// until [`KafkaSource::release_revoked`]: the runtime publishes and commits first.
    Revoked {
        /// The partitions to give up.
        partitions: Vec<(Topic, i32)>,
        /// Whether the member still holds them, waiting for `release_revoked`.
        deferred: bool,
        /// When the callback ran.
        at: Instant,
    },
    /// Partitions were lost (the session timed out or the member was fenced): another member
    /// may already own them, so nothing may be committed for them. Released at once.
    Lost {
        /// The partitions lost.
        partitions: Vec<(Topic, i32)>,
        /// When the callback ran.
        at: Instant,
    },
}

/// Watches a [`KafkaSource::close`] from another thread.
#[derive(Clone)]
pub struct CloseWatch(Arc<Group>);

impl std::fmt::Debug for CloseWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloseWatch")
            .field("stuck", &self.stuck())
            .finish()
    }
}

impl CloseWatch {
    /// Whether the group handed this consumer partitions while it was closing (a join that
    /// was under way when the instance was told to stop). librdkafka then blocks in the
    /// assignment for good (librdkafka #4884), so the close never returns: stop waiting for
    /// it; the partitions move to the other members after the session timeout.
    pub fn stuck(&self) -> bool {
        self.0.assigned_while_closing.load(Ordering::Acquire)
    }
}

/// What the rebalance callback shares with the runtime.
struct Group {
    /// Keep revoked partitions until the runtime calls `release_revoked`.
    defer: AtomicBool,
    /// The consumer is closing: every revocation is released at once, or close would wait
    /// for a runtime that is no longer polling.
    closing: AtomicBool,
    /// An assignment arrived while closing: librdkafka's assign never returns then
    /// (librdkafka #4884), so close cannot finish; see [`CloseWatch`].
    assigned_while_closing: AtomicBool,
    /// A deferred revocation not yet released.
    pending: Mutex<Option<TopicPartitionList>>,
    events: Mutex<VecDeque<GroupEvent>>,
    notify: tokio::sync::Notify,
    readiness: Arc<Readiness>,
}

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
    /// The size of the message's value in bytes, as read.
    pub bytes: usize,
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
    /// The subscribed topics.
    topics: Vec<Topic>,
    dead_letters: DeadLetters,
    dead_letter_sink: KafkaSink,
    metrics: ConnectorMetrics,
    /// Set when ids come from a Schema Registry: an id not cached yet is fetched, not refused.
    registry: Option<Arc<SchemaRegistryClient>>,
    /// Shared with the rebalance callback.
    group: Arc<Group>,
}

/// Attempts to fetch a schema from the registry before giving up.
const FETCH_ATTEMPTS: u32 = 5;

/// A message as read, borrowed from the consumer.
struct Raw<'a> {
    name: &'a str,
    topic: Option<Topic>,
    partition: i32,
    offset: i64,
    key: Option<&'a [u8]>,
    payload: &'a [u8],
    timestamp: Option<i64>,
}

/// A message kept past an `.await` (borrowed messages are not `Send`).
struct OwnedRaw {
    name: String,
    topic: Option<Topic>,
    partition: i32,
    offset: i64,
    key: Option<Vec<u8>>,
    payload: Vec<u8>,
    timestamp: Option<i64>,
}

impl Raw<'_> {
    fn to_owned(&self) -> OwnedRaw {
        OwnedRaw {
            name: self.name.to_owned(),
            topic: self.topic,
            partition: self.partition,
            offset: self.offset,
            key: self.key.map(<[u8]>::to_vec),
            payload: self.payload.to_vec(),
            timestamp: self.timestamp,
        }
    }
}

impl OwnedRaw {
    fn borrow(&self) -> Raw<'_> {
        Raw {
            name: &self.name,
            topic: self.topic,
            partition: self.partition,
            offset: self.offset,
            key: self.key.as_deref(),
            payload: &self.payload,
            timestamp: self.timestamp,
        }
    }
}

enum Step {
    Refuse((String, DeadLetter)),
    Fetch(u32, OwnedRaw),
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
        let group = Arc::new(Group {
            defer: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            assigned_while_closing: AtomicBool::new(false),
            pending: Mutex::new(None),
            events: Mutex::new(VecDeque::new()),
            notify: tokio::sync::Notify::new(),
            readiness: Arc::new(Readiness::new()),
        });
        let context = SourceContext {
            config: config.clone(),
            cooperative: cooperative(config),
            metrics: metrics.clone(),
            group: group.clone(),
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
            topics: topics.to_vec(),
            dead_letters: DeadLetters::new(config.client_id.clone(), metrics.clone()),
            config: config.clone(),
            dead_letter_sink,
            metrics,
            registry: None,
            group,
        })
    }

    /// Reads every partition of `topics` from the beginning, outside any consumer group
    /// (manual assignment, nothing committed, read_committed): a *global table* that every
    /// instance holds whole, such as the reference data. Decodes and dead-letters like a
    /// group member; no [`GroupEvent`] ever comes. [`ends`](Self::ends) and
    /// [`reached`](Self::reached) tell when it has read what was there at start.
    pub fn read_all(
        config: &KafkaConfig,
        topics: &[Topic],
        dead_letter_sink: KafkaSink,
        metrics: ConnectorMetrics,
    ) -> Result<Self, KafkaError> {
        config.validate().map_err(KafkaError::Config)?;
        let group = Arc::new(Group {
            defer: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            assigned_while_closing: AtomicBool::new(false),
            pending: Mutex::new(None),
            events: Mutex::new(VecDeque::new()),
            notify: tokio::sync::Notify::new(),
            readiness: Arc::new(Readiness::new()),
        });
        let context = SourceContext {
            config: config.clone(),
            cooperative: cooperative(config),
            metrics: metrics.clone(),
            group: group.clone(),
        };
        let consumer: StreamConsumer<SourceContext> = config
            .consumer_config()
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .create_with_context(context)
            .map_err(|source| KafkaError::Client {
                client: "consumer",
                source,
            })?;
        let mut source = Self {
            consumer,
            codec: ConfluentCodec::new(Arc::new(StaticResolver::new()) as Arc<dyn SchemaResolver>),
            names: Topic::ALL.iter().map(|t| config.topic_name(*t)).collect(),
            topics: topics.to_vec(),
            dead_letters: DeadLetters::new(config.client_id.clone(), metrics.clone()),
            config: config.clone(),
            dead_letter_sink,
            metrics,
            registry: None,
            group,
        };
        let mut tpl = TopicPartitionList::new();
        for (topic, partition) in source.partitions(Duration::from_secs(30))? {
            tpl.add_partition_offset(&source.names[topic as usize], partition, Offset::Beginning)
                .map_err(|source| KafkaError::Consume { source })?;
        }
        source
            .consumer
            .assign(&tpl)
            .map_err(|source| KafkaError::Consume { source })?;
        source.topics = topics.to_vec();
        Ok(source)
    }

    /// The high watermark of every non-empty partition of the topics read (blocking, up to
    /// `timeout` per request, transient failures retried for a minute): where the data that
    /// exists now ends.
    pub fn ends(&self, timeout: Duration) -> Result<Vec<(Topic, i32, i64)>, KafkaError> {
        // Transient failures (a broker restarting: no leader yet) are retried for a while.
        let deadline = Instant::now() + ENDS_RETRY;
        loop {
            match self.ends_once(timeout) {
                Err(e) if e.action() == crate::ErrorAction::Retry && Instant::now() < deadline => {
                    tracing::warn!("{e}; asking again");
                    std::thread::sleep(Duration::from_millis(200));
                }
                other => return other,
            }
        }
    }

    fn ends_once(&self, timeout: Duration) -> Result<Vec<(Topic, i32, i64)>, KafkaError> {
        let partitions = self.partitions(timeout)?;
        // One query per partition, all at once: librdkafka answers each in about half a second
        // however small the topic, which one after another would add up at every start.
        let watermarks: Vec<_> = std::thread::scope(|scope| {
            let queries: Vec<_> = partitions
                .iter()
                .map(|&(topic, partition)| {
                    scope.spawn(move || {
                        self.consumer
                            .fetch_watermarks(&self.names[topic as usize], partition, timeout)
                            .map(|w| (topic, partition, w))
                    })
                })
                .collect();
            queries
                .into_iter()
                .map(|q| q.join().expect("a watermark query panicked"))
                .collect()
        });
        let mut ends = Vec::new();
        for watermark in watermarks {
            let (topic, partition, (low, high)) =
                watermark.map_err(|source| KafkaError::Consume { source })?;
            // An empty partition (or one compacted to nothing) has nothing to wait for.
            if high > low {
                ends.push((topic, partition, high));
            }
        }
        Ok(ends)
    }

    /// Whether this consumer's position has reached every `(topic, partition, end)` (control
    /// records of transactions move the position without a message).
    pub fn reached(&self, ends: &[(Topic, i32, i64)]) -> Result<bool, KafkaError> {
        let positions = self
            .consumer
            .position()
            .map_err(|source| KafkaError::Consume { source })?;
        Ok(ends.iter().all(|&(topic, partition, end)| {
            matches!(
                positions
                    .find_partition(&self.names[topic as usize], partition)
                    .map(|e| e.offset()),
                Some(Offset::Offset(o)) if o >= end
            )
        }))
    }

    /// Drops from `ends` every `(topic, partition, end)` this member has read up to, and
    /// tells whether none it holds is left: false while it holds nothing. A partition it
    /// does not hold is skipped, not dropped. One it holds but has not read from yet counts
    /// as read when the group's committed offset is at or past the end (blocking, up to
    /// `timeout`): a restart with nothing new in it.
    pub fn reached_assigned(
        &self,
        ends: &mut Vec<(Topic, i32, i64)>,
        timeout: Duration,
    ) -> Result<bool, KafkaError> {
        let consume = |source| KafkaError::Consume { source };
        let positions = self.consumer.position().map_err(consume)?;
        if positions.count() == 0 {
            return Ok(false);
        }
        let offset = |list: &TopicPartitionList, topic: Topic, partition: i32| {
            list.find_partition(&self.names[topic as usize], partition)
                .map(|e| e.offset())
        };
        let mut unread = TopicPartitionList::new();
        ends.retain(
            |&(topic, partition, end)| match offset(&positions, topic, partition) {
                Some(Offset::Offset(o)) if o >= end => false,
                Some(Offset::Offset(_)) | None => true,
                Some(_) => {
                    unread.add_partition(&self.names[topic as usize], partition);
                    true
                }
            },
        );
        if unread.count() > 0 {
            let committed = self
                .consumer
                .committed_offsets(unread, timeout)
                .map_err(consume)?;
            ends.retain(|&(topic, partition, end)| {
                !matches!(offset(&committed, topic, partition), Some(Offset::Offset(o)) if o >= end)
            });
        }
        Ok(ends
            .iter()
            .all(|&(topic, partition, _)| offset(&positions, topic, partition).is_none()))
    }

    /// Like [`new`](Self::new), with schema ids from a Schema Registry: a message naming an
    /// id that is not cached yet is decoded after fetching the schema (`GET
    /// /schemas/ids/{id}`); only an id the registry does not know is dead-lettered. If the
    /// registry cannot be reached after a few attempts, [`next`](Self::next) fails with
    /// [`KafkaError::SchemaFetch`] and the message is left unacked.
    pub fn with_registry(
        config: &KafkaConfig,
        topics: &[Topic],
        registry: Arc<SchemaRegistryClient>,
        dead_letter_sink: KafkaSink,
        metrics: ConnectorMetrics,
    ) -> Result<Self, KafkaError> {
        let mut source =
            Self::with_resolver(config, topics, registry.clone(), dead_letter_sink, metrics)?;
        source.registry = Some(registry);
        Ok(source)
    }

    /// The next record that decodes. Messages that do not are dead-lettered on the way.
    /// Cancel-safe between messages: dropping the future loses no decoded record.
    pub async fn next(&self) -> Result<Consumed, KafkaError> {
        loop {
            let step = {
                let msg = match self.consumer.recv().await {
                    Ok(msg) => msg,
                    Err(source) => {
                        let error = KafkaError::Consume { source };
                        if error.action() != crate::ErrorAction::Retry {
                            return Err(error);
                        }
                        // The brokers are away (restarting, a network blip): librdkafka
                        // reconnects by itself and fetching resumes where it was.
                        tracing::warn!("{error}; waiting for the brokers");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                };
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
                let raw = Raw {
                    name,
                    topic,
                    partition,
                    offset,
                    key: msg.key(),
                    payload: msg.payload().unwrap_or_default(),
                    timestamp: msg.timestamp().to_millis(),
                };
                match decoded {
                    Ok(record) => return Ok(self.consumed(&raw, record)),
                    // a Schema Registry id not cached yet: fetch it, then decode again
                    Err(KafkaError::Decode {
                        source: CodecError::UnknownSchema { id, .. },
                        ..
                    }) if self.registry.is_some() => Step::Fetch(id, raw.to_owned()),
                    Err(error) => Step::Refuse(self.refuse(&raw, &error)),
                }
            };
            let refused = match step {
                Step::Refuse(refused) => refused,
                Step::Fetch(id, owned) => {
                    let raw = owned.borrow();
                    match self.fetch_and_decode(id, &raw).await? {
                        Ok(record) => return Ok(self.consumed(&raw, record)),
                        Err(error) => self.refuse(&raw, &error),
                    }
                }
            };
            self.send_dead_letter(refused).await?;
        }
    }

    fn consumed(&self, raw: &Raw<'_>, record: AnyRecord) -> Consumed {
        let topic = record.topic();
        self.metrics.consumed(topic);
        Consumed {
            topic,
            partition: raw.partition,
            offset: raw.offset,
            key: raw.key.map(<[u8]>::to_vec),
            timestamp: raw.timestamp,
            bytes: raw.payload.len(),
            record,
        }
    }

    fn refuse(&self, raw: &Raw<'_>, error: &KafkaError) -> (String, DeadLetter) {
        let origin = Origin {
            topic: raw.name,
            partition: raw.partition,
            offset: raw.offset,
        };
        let mut letter = self.dead_letters.refuse(
            origin,
            raw.topic.map_or(raw.name, |t| t.name()),
            raw.key,
            raw.payload,
            error,
        );
        if letter.schema_id.is_none() {
            letter.schema_id = confluent::split(raw.payload)
                .ok()
                .and_then(|(id, _)| i32::try_from(id).ok());
        }
        (origin.to_string(), letter)
    }

    /// Fetches schema `id` from the registry (retrying passing faults with backoff) and
    /// decodes the message again. The outer error means the registry could not be reached:
    /// the message is then neither processed nor dead-lettered, and not acked.
    async fn fetch_and_decode(
        &self,
        id: u32,
        raw: &Raw<'_>,
    ) -> Result<Result<AnyRecord, KafkaError>, KafkaError> {
        let registry = self.registry.as_ref().expect("only called with a registry");
        let topic = raw
            .topic
            .expect("a registry fetch is only tried for a known topic");
        let decode_error = |e| decode_error(raw.name, raw.partition, raw.offset, e);
        let mut backoff = Duration::from_millis(100);
        for attempt in 1..=FETCH_ATTEMPTS {
            match registry.fetch(id).await {
                Ok(_) => {
                    return Ok(self
                        .codec
                        .decode_any(topic, raw.payload)
                        .map_err(decode_error));
                }
                Err(e @ CodecError::Registry { .. }) if attempt < FETCH_ATTEMPTS => {
                    tracing::warn!(id, attempt, "schema registry fetch failed, retrying: {e}");
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
                Err(e @ CodecError::Registry { .. }) => {
                    return Err(KafkaError::SchemaFetch { id, source: e });
                }
                // the registry does not know the id (or it is not Avro): a bad message
                Err(e) => return Ok(Err(decode_error(e))),
            }
        }
        unreachable!("the last attempt returns")
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
        self.ack_offset(consumed.topic, consumed.partition, consumed.offset)
    }

    /// Marks everything up to and including `offset` of `topic[partition]` as processed, like
    /// [`ack`](Self::ack) for a record no longer at hand.
    ///
    /// Fails with [`KafkaError::NotAssigned`] when the partition is no longer assigned to this
    /// member (lost, or revoked without waiting for the caller).
    pub fn ack_offset(&self, topic: Topic, partition: i32, offset: i64) -> Result<(), KafkaError> {
        let name = &self.names[topic as usize];
        self.consumer
            .store_offset(name, partition, offset)
            .map_err(|source| match source.rdkafka_error_code() {
                Some(rdkafka::types::RDKafkaErrorCode::State) => KafkaError::NotAssigned {
                    topic: name.clone(),
                    partition,
                },
                _ => KafkaError::Commit { source },
            })
    }

    /// Every partition of the subscribed topics, from the cluster's metadata (blocking, up to
    /// `timeout`): what this member may be assigned.
    pub fn partitions(&self, timeout: Duration) -> Result<Vec<(Topic, i32)>, KafkaError> {
        let mut all = Vec::new();
        for &topic in &self.topics {
            let name = &self.names[topic as usize];
            let metadata = self
                .consumer
                .fetch_metadata(Some(name), timeout)
                .map_err(|source| KafkaError::Consume { source })?;
            for t in metadata.topics() {
                all.extend(t.partitions().iter().map(|p| (topic, p.id())));
            }
        }
        Ok(all)
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

    /// The group's metadata (its generation and this member), which a transactional
    /// producer sends with the offsets it commits, so a member that lost its partitions in
    /// a rebalance cannot commit them (exactly-once processing).
    pub fn group_metadata(&self) -> Option<ConsumerGroupMetadata> {
        self.consumer.group_metadata()
    }

    /// The offsets to commit after processing up to and including each `(topic,
    /// partition, offset)`: the next offset to read of each.
    pub fn offsets_after(
        &self,
        processed: impl IntoIterator<Item = (Topic, i32, i64)>,
    ) -> Result<TopicPartitionList, KafkaError> {
        let mut list = TopicPartitionList::new();
        for (topic, partition, offset) in processed {
            list.add_partition_offset(
                &self.names[topic as usize],
                partition,
                Offset::Offset(offset + 1),
            )
            .map_err(|source| KafkaError::Commit { source })?;
        }
        Ok(list)
    }

    /// The partitions currently assigned to this member.
    pub fn assignment(&self) -> Result<TopicPartitionList, KafkaError> {
        self.consumer
            .assignment()
            .map_err(|source| KafkaError::Consume { source })
    }

    /// The readiness this member keeps: [`Phase::Rebalancing`](crate::http::Phase) when a
    /// revocation starts, [`Phase::Restoring`](crate::http::Phase) with the partition count
    /// when an assignment arrives. The caller sets it ready once the partitions are restored
    /// and marks shutdown; serve it with [`readiness_router`](crate::http::readiness_router).
    pub fn readiness(&self) -> Arc<Readiness> {
        self.group.readiness.clone()
    }

    /// From now on, revoked partitions stay assigned until [`release_revoked`]
    /// (Self::release_revoked), so the caller can publish what it read from them and commit
    /// before another member takes them. The caller must then watch
    /// [`group_changed`](Self::group_changed) and release promptly: the group waits (up to
    /// `max.poll.interval.ms`) for this member. Without it, revocations are released inside
    /// the callback and only the offsets already acknowledged are committed.
    pub fn defer_revocations(&self) {
        self.group.defer.store(true, Ordering::Release);
    }

    /// Resolves when a [`GroupEvent`] is waiting (also for one that arrived before the call).
    /// Rebalance callbacks run inside [`next`](Self::next), so keep polling it alongside.
    pub async fn group_changed(&self) {
        self.group.notify.notified().await;
    }

    /// The group events since the last call, oldest first.
    pub fn take_group_events(&self) -> Vec<GroupEvent> {
        self.group
            .events
            .lock()
            .expect("group events lock")
            .drain(..)
            .collect()
    }

    /// Gives up the partitions of a deferred revocation (no-op if none is pending). Call it
    /// once everything read from them is published and committed.
    pub fn release_revoked(&self) -> Result<(), KafkaError> {
        let pending = self.group.pending.lock().expect("pending lock").take();
        match pending {
            Some(tpl) => unassign(&self.consumer, self.consumer.context().cooperative, &tpl),
            None => Ok(()),
        }
    }

    /// Leaves the consumer group now (so its partitions move at once, not after the session
    /// timeout) and drops the consumer. Commit first: librdkafka commits the stored offsets
    /// while closing too, but does not report failures. Blocks until the broker confirms; call
    /// it from a blocking thread in async code.
    pub fn close(self) {
        self.group.closing.store(true, Ordering::Release);
        if let Err(e) = self.release_revoked() {
            tracing::warn!("failed to release revoked partitions while closing: {e}");
        }
        // Dropping the consumer closes it: revoke (released at once, see `closing`),
        // LeaveGroup, wait until closed.
        drop(self);
    }

    /// A handle that tells whether closing this source is stuck (see [`CloseWatch`]); take
    /// it before [`close`](Self::close).
    pub fn close_watch(&self) -> CloseWatch {
        CloseWatch(self.group.clone())
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

/// Gives up `tpl` (incrementally under cooperative rebalancing, everything under eager).
fn unassign<C: Consumer<X>, X: ConsumerContext>(
    consumer: &C,
    cooperative: bool,
    tpl: &TopicPartitionList,
) -> Result<(), KafkaError> {
    if cooperative {
        consumer.incremental_unassign(tpl)
    } else {
        consumer.unassign()
    }
    .map_err(|source| KafkaError::Consume { source })
}

/// Whether the consumer configured by `config` rebalances cooperatively (a
/// `cooperative-sticky` assignor), from the configuration rather than
/// `rd_kafka_rebalance_protocol`: asked inside a rebalance callback while the consumer closes,
/// that call never returns (librdkafka #4041), and an assignment can arrive while a stopping
/// instance closes.
fn cooperative(config: &KafkaConfig) -> bool {
    config
        .consumer_config()
        .get("partition.assignment.strategy")
        .is_some_and(|s| s.contains("cooperative"))
}

/// Receives librdkafka's statistics (consumer lag) and rebalance events.
struct SourceContext {
    config: KafkaConfig,
    /// See [`cooperative`].
    cooperative: bool,
    metrics: ConnectorMetrics,
    group: Arc<Group>,
}

impl SourceContext {
    fn partitions(&self, tpl: &TopicPartitionList) -> Vec<(Topic, i32)> {
        tpl.elements()
            .iter()
            .filter_map(|e| Some((self.config.topic_of(e.topic())?, e.partition())))
            .collect()
    }

    fn report(&self, event: GroupEvent) {
        self.group
            .events
            .lock()
            .expect("group events lock")
            .push_back(event);
        self.group.notify.notify_one();
    }
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
    /// Replaces rdkafka's default: assignments are taken at once and reported; a revocation
    /// is either released at once (lost partitions, closing, or no deferral asked for) or
    /// kept for the runtime's hand-over (see [`KafkaSource::defer_revocations`]).
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let at = Instant::now();
        let group = &self.config.group_id;
        let partitions = self.partitions(tpl);
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                if self.group.closing.load(Ordering::Acquire) {
                    self.group
                        .assigned_while_closing
                        .store(true, Ordering::Release);
                    tracing::warn!(%group, "partitions assigned while the consumer closes");
                }
                let done = if self.cooperative {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
                };
                if let Err(e) = done {
                    tracing::error!(%group, "failed to take the assigned partitions: {e}");
                }
                let held = consumer.assignment().map_or(0, |a| a.count());
                self.metrics.rebalance("assigned");
                self.group.readiness.assigned(held);
                tracing::info!(%group, ?partitions, held, "partitions assigned");
                self.report(GroupEvent::Assigned {
                    partitions,
                    held,
                    at,
                });
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let lost = consumer.assignment_lost();
                let closing = self.group.closing.load(Ordering::Acquire);
                let mut pending = self.group.pending.lock().expect("pending lock");
                let defer = self.group.defer.load(Ordering::Acquire)
                    && !lost
                    && !closing
                    && pending.is_none();
                self.group.readiness.rebalancing();
                if defer {
                    *pending = Some(tpl.clone());
                } else if let Err(e) = unassign(consumer, self.cooperative, tpl) {
                    tracing::error!(%group, "failed to release revoked partitions: {e}");
                }
                drop(pending);
                self.metrics
                    .rebalance(if lost { "lost" } else { "revoked" });
                tracing::info!(%group, ?partitions, lost, deferred = defer, "partitions revoked");
                self.report(if lost {
                    GroupEvent::Lost { partitions, at }
                } else {
                    GroupEvent::Revoked {
                        partitions,
                        deferred: defer,
                        at,
                    }
                });
            }
            other => {
                tracing::error!(%group, "consumer group rebalance failed: {other:?}");
            }
        }
    }
}

/// How long [`KafkaSource::ends`] retries transient failures.
const ENDS_RETRY: Duration = Duration::from_secs(60);

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
