//! [`KafkaSink`]: produces records as Confluent-framed Avro, keyed by the record's key.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use allot_schemas::{
    AnyRecord, ConfluentCodec, Record, RecordVisitor, SchemaResolver, StaticResolver, Topic,
};
use rdkafka::TopicPartitionList;
use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::error::KafkaError as RdKafkaError;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;

use super::{KafkaConfig, KafkaError};
use crate::metrics::ConnectorMetrics;

/// How long [`KafkaSink::send`] waits for room in librdkafka's local queue.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(30);

/// Writes records to their topics. Cheap to clone (clones share one producer).
///
/// Values are Confluent-framed Avro with schema ids from the resolver; the key is
/// [`Record::key`]. `allot_events_produced_total{topic}` counts acknowledged deliveries.
#[derive(Clone)]
pub struct KafkaSink {
    producer: FutureProducer,
    codec: Arc<ConfluentCodec<Arc<dyn SchemaResolver>>>,
    names: Arc<[String]>,
    metrics: ConnectorMetrics,
}

impl std::fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSink")
            .field("topics", &self.names)
            .finish_non_exhaustive()
    }
}

/// Where a message landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// The partition.
    pub partition: i32,
    /// The offset within the partition.
    pub offset: i64,
}

impl KafkaSink {
    /// A sink with schema ids from the [`StaticResolver`].
    pub fn new(config: &KafkaConfig, metrics: ConnectorMetrics) -> Result<Self, KafkaError> {
        Self::with_resolver(config, Arc::new(StaticResolver::new()), metrics)
    }

    /// A sink with schema ids from `resolver` (e.g. a Schema Registry client whose subjects
    /// are registered).
    pub fn with_resolver(
        config: &KafkaConfig,
        resolver: Arc<dyn SchemaResolver>,
        metrics: ConnectorMetrics,
    ) -> Result<Self, KafkaError> {
        config.validate().map_err(KafkaError::Config)?;
        let producer = config
            .producer_config()
            .create()
            .map_err(|source| KafkaError::Client {
                client: "producer",
                source,
            })?;
        Ok(Self {
            producer,
            codec: Arc::new(ConfluentCodec::new(resolver)),
            names: Topic::ALL.iter().map(|t| config.topic_name(*t)).collect(),
            metrics,
        })
    }

    /// The Kafka topic name of `topic` for this sink's deployment.
    pub fn topic_name(&self, topic: Topic) -> &str {
        &self.names[topic as usize]
    }

    fn frame<R: Record>(&self, record: &R) -> Result<(Vec<u8>, String), KafkaError> {
        let mut value = Vec::with_capacity(256);
        self.codec
            .encode(record, &mut value)
            .map_err(|source| KafkaError::Encode {
                topic: R::TOPIC,
                source,
            })?;
        Ok((value, record.key()))
    }

    /// Produces `record` and waits until the brokers acknowledge it (waiting up to 30 s for
    /// room in the local queue first).
    pub async fn send<R: Record>(&self, record: &R) -> Result<Delivered, KafkaError> {
        let (value, key) = self.frame(record)?;
        let topic = self.topic_name(R::TOPIC);
        let result = self
            .producer
            .send(
                FutureRecord::to(topic).key(&key).payload(&value),
                Timeout::After(QUEUE_TIMEOUT),
            )
            .await;
        match result {
            Ok(d) => {
                self.metrics.produced(R::TOPIC);
                Ok(Delivered {
                    partition: d.partition,
                    offset: d.offset,
                })
            }
            Err((source, _)) => Err(KafkaError::Produce {
                topic: topic.to_owned(),
                source,
            }),
        }
    }

    /// [`send`](Self::send) for a record of any topic.
    pub async fn send_any(&self, record: &AnyRecord) -> Result<Delivered, KafkaError> {
        self.enqueue_any(record)?.await
    }

    /// Queues `record` without waiting for the brokers; await the returned [`Delivery`] for
    /// the outcome (many can be in flight at once). Fails at once with a retryable `QueueFull`
    /// when librdkafka's local queue is full.
    pub fn enqueue<R: Record>(&self, record: &R) -> Result<Delivery, KafkaError> {
        let (value, key) = self.frame(record)?;
        self.enqueue_framed(R::TOPIC, key.as_bytes(), &value)
    }

    /// [`enqueue`](Self::enqueue) for a record of any topic.
    pub fn enqueue_any(&self, record: &AnyRecord) -> Result<Delivery, KafkaError> {
        struct Enqueue<'a>(&'a KafkaSink);
        impl RecordVisitor for Enqueue<'_> {
            type Output = Result<Delivery, KafkaError>;
            fn visit<R: Record>(self, record: &R) -> Self::Output {
                self.0.enqueue(record)
            }
        }
        record.visit(Enqueue(self))
    }

    /// Queues a value that is already Confluent-framed Avro of `topic` (written by a codec
    /// elsewhere, such as the availability engine's byte-level flush), with its key; counted
    /// like [`enqueue`](Self::enqueue).
    pub fn enqueue_framed(
        &self,
        topic: Topic,
        key: &[u8],
        value: &[u8],
    ) -> Result<Delivery, KafkaError> {
        self.enqueue_framed_at(topic, None, key, value)
    }

    /// [`enqueue_any`](Self::enqueue_any) to partition `partition` of the record's topic,
    /// whatever its key would pick (the intake's sku parts, whose partition is their skus').
    pub fn enqueue_any_to(
        &self,
        record: &AnyRecord,
        partition: i32,
    ) -> Result<Delivery, KafkaError> {
        struct Enqueue<'a>(&'a KafkaSink, i32);
        impl RecordVisitor for Enqueue<'_> {
            type Output = Result<Delivery, KafkaError>;
            fn visit<R: Record>(self, record: &R) -> Self::Output {
                let (value, key) = self.0.frame(record)?;
                self.0
                    .enqueue_framed_at(R::TOPIC, Some(self.1), key.as_bytes(), &value)
            }
        }
        record.visit(Enqueue(self, partition))
    }

    fn enqueue_framed_at(
        &self,
        topic: Topic,
        partition: Option<i32>,
        key: &[u8],
        value: &[u8],
    ) -> Result<Delivery, KafkaError> {
        let name = self.topic_name(topic);
        let mut record = FutureRecord::to(name).key(key).payload(value);
        record.partition = partition;
        match self.producer.send_result(record) {
            Ok(inner) => Ok(Delivery {
                inner,
                target: Target::Catalogue {
                    topic,
                    names: self.names.clone(),
                },
                metrics: self.metrics.clone(),
            }),
            Err((source, _)) => Err(KafkaError::Produce {
                topic: name.to_owned(),
                source,
            }),
        }
    }

    /// Queues raw bytes (or a tombstone, `None`) to a Kafka topic by name, unframed and
    /// uncounted: allot's changelog records, which are not Avro.
    pub fn enqueue_raw(
        &self,
        topic: &Arc<str>,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<Delivery, KafkaError> {
        self.enqueue_raw_at(topic, None, key, value)
    }

    /// [`enqueue_raw`](Self::enqueue_raw) to `partition` when given (else the key's
    /// partition): a partitioned changelog, where partition `p` holds sku partition `p`.
    pub fn enqueue_raw_at(
        &self,
        topic: &Arc<str>,
        partition: Option<i32>,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<Delivery, KafkaError> {
        let mut record = FutureRecord::<[u8], [u8]>::to(topic).key(key);
        record.partition = partition;
        if let Some(v) = value {
            record = record.payload(v);
        }
        match self.producer.send_result(record) {
            Ok(inner) => Ok(Delivery {
                inner,
                target: Target::Raw(topic.clone()),
                metrics: self.metrics.clone(),
            }),
            Err((source, _)) => Err(KafkaError::Produce {
                topic: topic.to_string(),
                source,
            }),
        }
    }

    /// Produces raw bytes to a Kafka topic by name, unframed and uncounted. For tools and
    /// tests that need to write what allot itself would not (e.g. corrupt messages).
    pub async fn send_raw(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        value: &[u8],
    ) -> Result<Delivered, KafkaError> {
        let mut record = FutureRecord::<[u8], [u8]>::to(topic).payload(value);
        if let Some(key) = key {
            record = record.key(key);
        }
        match self
            .producer
            .send(record, Timeout::After(QUEUE_TIMEOUT))
            .await
        {
            Ok(d) => Ok(Delivered {
                partition: d.partition,
                offset: d.offset,
            }),
            Err((source, _)) => Err(KafkaError::Produce {
                topic: topic.to_owned(),
                source,
            }),
        }
    }

    /// Waits until every queued message is delivered or has failed.
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.producer
            .flush(timeout)
            .map_err(|source| KafkaError::Produce {
                topic: "*".into(),
                source,
            })
    }

    /// A sink whose producer is transactional with `transactional_id` (one per instance,
    /// stable across its restarts, so a restarted instance fences its former self). Blocks
    /// until the brokers have aborted whatever an earlier producer with that id left open
    /// (up to `timeout`). Every message must then be sent inside a transaction
    /// ([`begin_transaction`](Self::begin_transaction) …
    /// [`commit_transaction`](Self::commit_transaction)).
    pub fn transactional(
        config: &KafkaConfig,
        resolver: Arc<dyn SchemaResolver>,
        metrics: ConnectorMetrics,
        transactional_id: &str,
        timeout: Duration,
    ) -> Result<Self, KafkaError> {
        let mut config = config.clone();
        config
            .properties
            .insert("transactional.id".into(), transactional_id.into());
        let sink = Self::with_resolver(&config, resolver, metrics)?;
        sink.producer
            .init_transactions(timeout)
            .map_err(|e| txn_error("initialise", e))?;
        Ok(sink)
    }

    /// Opens a transaction: what is produced from now until the commit is visible to
    /// `read_committed` consumers all at once, or never.
    pub fn begin_transaction(&self) -> Result<(), KafkaError> {
        self.producer
            .begin_transaction()
            .map_err(|e| txn_error("begin", e))
    }

    /// Commits the open transaction together with the consumer offsets `offsets` (the next
    /// offset to read of each input partition) of the group `group`. Blocks (call it from
    /// a blocking task) until every message of the transaction is delivered and the
    /// brokers have committed it, up to `timeout`.
    pub fn commit_transaction(
        &self,
        offsets: &TopicPartitionList,
        group: &ConsumerGroupMetadata,
        timeout: Duration,
    ) -> Result<(), KafkaError> {
        if offsets.count() > 0 {
            self.producer
                .send_offsets_to_transaction(offsets, group, timeout)
                .map_err(|e| txn_error("send offsets to", e))?;
        }
        self.producer
            .commit_transaction(timeout)
            .map_err(|e| txn_error("commit", e))
    }

    /// Aborts the open transaction: its messages are discarded and its offsets not
    /// committed. Blocks up to `timeout`.
    pub fn abort_transaction(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.producer
            .abort_transaction(timeout)
            .map_err(|e| txn_error("abort", e))
    }

    /// The underlying producer (for transactions and statistics).
    pub fn producer(&self) -> &FutureProducer {
        &self.producer
    }
}

/// A transaction step's failure, with librdkafka's verdict on it.
fn txn_error(step: &'static str, source: RdKafkaError) -> KafkaError {
    let (fatal, abortable) = match &source {
        RdKafkaError::Transaction(e) => (e.is_fatal(), e.txn_requires_abort()),
        _ => (false, false),
    };
    KafkaError::Transaction {
        step,
        fatal,
        abortable,
        source,
    }
}

/// The outcome of one [`KafkaSink::enqueue`]: resolves when the brokers acknowledge the
/// message (counting it in `allot_events_produced_total`) or refuse it.
#[must_use = "a delivery's failure is only seen by awaiting it"]
pub struct Delivery {
    inner: DeliveryFuture,
    target: Target,
    metrics: ConnectorMetrics,
}

/// Where a [`Delivery`]'s message went.
#[derive(Debug)]
enum Target {
    /// A topic of the catalogue (counted in `allot_events_produced_total`); `names` maps it
    /// to its Kafka name for errors.
    Catalogue { topic: Topic, names: Arc<[String]> },
    /// A topic by name, raw bytes, uncounted.
    Raw(Arc<str>),
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl Future for Delivery {
    type Output = Result<Delivered, KafkaError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let result = match Pin::new(&mut this.inner).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(r) => r,
        };
        let topic = || match &this.target {
            Target::Catalogue { topic, names } => names[*topic as usize].clone(),
            Target::Raw(name) => name.to_string(),
        };
        Poll::Ready(match result {
            Ok(Ok(d)) => {
                if let Target::Catalogue { topic, .. } = this.target {
                    this.metrics.produced(topic);
                }
                Ok(Delivered {
                    partition: d.partition,
                    offset: d.offset,
                })
            }
            Ok(Err((source, _))) => Err(KafkaError::Produce {
                topic: topic(),
                source,
            }),
            // the producer was dropped before reporting
            Err(_canceled) => Err(KafkaError::Produce {
                topic: topic(),
                source: RdKafkaError::Canceled,
            }),
        })
    }
}
