//! The baseline allot is compared with: a plain consume → produce loop over the same input
//! topics on the same broker, with allot's own consumer and producer settings
//! ([`KafkaConfig::consumer_config`], [`KafkaConfig::producer_config`]), that copies every
//! message's key and value unchanged to one output topic. No decoding, no state: what the
//! broker and librdkafka cost, and nothing more.
//!
//! Like `allot run` it is at-least-once: a message's offset is stored for commit only after
//! its copy is acknowledged by the broker. [`Copier`] is the same copy running in the
//! background, for the latency baseline.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use allot_connectors::kafka::KafkaConfig;
use anyhow::Context;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Most copies awaited at once (librdkafka's own queue holds 100,000 messages).
const MAX_IN_FLIGHT: usize = 50_000;

/// What the passthrough measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PassthroughReport {
    /// Messages consumed and copied.
    pub records: u64,
    /// From subscribing until every copy was acknowledged.
    pub elapsed_secs: f64,
    /// `records / elapsed_secs`.
    pub records_per_sec: f64,
    /// From subscribing until the first message arrived (group join and first fetch).
    pub first_record_secs: f64,
}

struct InFlight {
    delivery: DeliveryFuture,
    topic: usize,
    partition: i32,
    offset: i64,
}

/// Copies `expected` messages from the input topics `inputs` of `config` to `output`;
/// fails if they have not all been copied within `timeout`. `progress` is called about once
/// a second with the count so far.
pub async fn run(
    config: &KafkaConfig,
    inputs: &[String],
    output: &str,
    expected: u64,
    timeout: Duration,
    mut progress: impl FnMut(u64, Duration),
) -> anyhow::Result<PassthroughReport> {
    let consumer: StreamConsumer = config
        .consumer_config()
        .create()
        .context("failed to create the passthrough consumer")?;
    let producer: FutureProducer = config
        .producer_config()
        .create()
        .context("failed to create the passthrough producer")?;
    let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    consumer
        .subscribe(&refs)
        .context("failed to subscribe to the input topics")?;
    let started = Instant::now();
    let deadline = started + timeout;
    let mut first = None;
    let mut in_flight: VecDeque<InFlight> = VecDeque::new();
    let mut consumed = 0u64;
    let mut last_note = started;
    while consumed < expected {
        let msg = match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Ok(msg) => msg.context("the passthrough failed to consume")?,
            Err(_) => anyhow::bail!(
                "the passthrough copied only {consumed} of {expected} records in {timeout:?}"
            ),
        };
        first.get_or_insert_with(|| started.elapsed());
        let topic = inputs
            .iter()
            .position(|t| t == msg.topic())
            .context("a message from a topic the passthrough did not subscribe to")?;
        let mut record =
            FutureRecord::<[u8], [u8]>::to(output).payload(msg.payload().unwrap_or_default());
        if let Some(key) = msg.key() {
            record = record.key(key);
        }
        loop {
            match producer.send_result(record) {
                Ok(delivery) => {
                    in_flight.push_back(InFlight {
                        delivery,
                        topic,
                        partition: msg.partition(),
                        offset: msg.offset(),
                    });
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    for _ in 0..(in_flight.len() / 4).max(1) {
                        settle(&consumer, inputs, &mut in_flight).await?;
                    }
                    if in_flight.is_empty() {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
                Err((e, _)) => return Err(e).context("the passthrough failed to produce"),
            }
        }
        consumed += 1;
        while in_flight.len() > MAX_IN_FLIGHT {
            settle(&consumer, inputs, &mut in_flight).await?;
        }
        if consumed.is_multiple_of(1024) && last_note.elapsed() >= Duration::from_secs(1) {
            last_note = Instant::now();
            progress(consumed, started.elapsed());
        }
    }
    while !in_flight.is_empty() {
        settle(&consumer, inputs, &mut in_flight).await?;
    }
    let elapsed = started.elapsed();
    consumer
        .commit_consumer_state(CommitMode::Sync)
        .context("the passthrough failed to commit its offsets")?;
    let secs = elapsed.as_secs_f64();
    Ok(PassthroughReport {
        records: consumed,
        elapsed_secs: secs,
        records_per_sec: consumed as f64 / secs.max(1e-9),
        first_record_secs: first.unwrap_or_default().as_secs_f64(),
    })
}

/// Waits for the oldest copy, then stores its source offset for the next commit.
async fn settle(
    consumer: &StreamConsumer,
    inputs: &[String],
    in_flight: &mut VecDeque<InFlight>,
) -> anyhow::Result<()> {
    let Some(f) = in_flight.pop_front() else {
        return Ok(());
    };
    delivered(f.delivery).await?;
    consumer
        .store_offset(&inputs[f.topic], f.partition, f.offset)
        .context("the passthrough failed to store an offset")
}

/// A passthrough that runs until stopped: copies every message that reaches the input topics
/// after it starts (it reads from their end, without a consumer group) to `output`. The
/// latency baseline: what a consume → produce hop costs on this broker at a given rate.
#[derive(Debug)]
pub struct Copier {
    stop: watch::Sender<bool>,
    task: JoinHandle<anyhow::Result<u64>>,
}

impl Copier {
    /// Starts copying from the end of `inputs` (`config.partitions` partitions each).
    pub async fn start(
        config: &KafkaConfig,
        inputs: &[String],
        output: &str,
    ) -> anyhow::Result<Copier> {
        let consumer: StreamConsumer = config
            .consumer_config()
            .set("enable.auto.commit", "false")
            .set("statistics.interval.ms", "0")
            .create()
            .context("failed to create the passthrough consumer")?;
        let producer: FutureProducer = config
            .producer_config()
            .create()
            .context("failed to create the passthrough producer")?;
        // Start at the end as it is now (a concrete offset, so that every message produced
        // after `start` returns is copied; a logical `End` is resolved later).
        let consumer = Arc::new(consumer);
        let (query, names) = (consumer.clone(), inputs.to_vec());
        let partitions = config.partitions;
        let tpl = tokio::task::spawn_blocking(move || end_offsets(&*query, &names, partitions))
            .await
            .context("the end offset query panicked")??;
        consumer
            .assign(&tpl)
            .context("failed to assign the input partitions")?;
        let (stop, mut stopped) = watch::channel(false);
        let output = output.to_owned();
        let task = tokio::spawn(async move {
            let mut in_flight: VecDeque<DeliveryFuture> = VecDeque::new();
            let mut copied = 0u64;
            loop {
                tokio::select! {
                    _ = stopped.changed() => break,
                    msg = consumer.recv() => {
                        let msg = msg.context("the passthrough failed to consume")?;
                        let mut record = FutureRecord::<[u8], [u8]>::to(&output)
                            .payload(msg.payload().unwrap_or_default());
                        if let Some(key) = msg.key() {
                            record = record.key(key);
                        }
                        loop {
                            match producer.send_result(record) {
                                Ok(delivery) => {
                                    in_flight.push_back(delivery);
                                    break;
                                }
                                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                                    record = back;
                                    if let Some(d) = in_flight.pop_front() {
                                        delivered(d).await?;
                                    }
                                }
                                Err((e, _)) => return Err(e).context("the passthrough failed to produce"),
                            }
                        }
                        copied += 1;
                        while in_flight.len() > MAX_IN_FLIGHT {
                            if let Some(d) = in_flight.pop_front() {
                                delivered(d).await?;
                            }
                        }
                    }
                }
            }
            for d in in_flight {
                delivered(d).await?;
            }
            Ok(copied)
        });
        Ok(Copier { stop, task })
    }

    /// Stops copying; returns how many messages were copied.
    pub async fn finish(self) -> anyhow::Result<u64> {
        let _ = self.stop.send(true);
        self.task.await.context("the passthrough panicked")?
    }
}

/// The current end of every partition of `topics`, retried for a while: a topic created a
/// moment ago may have no leader yet.
fn end_offsets(
    consumer: &impl Consumer,
    topics: &[String],
    partitions: i32,
) -> anyhow::Result<TopicPartitionList> {
    let mut tpl = TopicPartitionList::new();
    for t in topics {
        for p in 0..partitions {
            let mut attempt = 0;
            let high = loop {
                match consumer.fetch_watermarks(t, p, Duration::from_secs(5)) {
                    Ok((_, high)) => break high,
                    Err(_) if attempt < 50 => {
                        attempt += 1;
                        std::thread::sleep(Duration::from_millis(200));
                    }
                    Err(e) => {
                        return Err(e)
                            .with_context(|| format!("failed to read the end of {t}[{p}]"));
                    }
                }
            };
            tpl.add_partition_offset(t, p, Offset::Offset(high))
                .context("failed to list the input partitions")?;
        }
    }
    Ok(tpl)
}

async fn delivered(delivery: DeliveryFuture) -> anyhow::Result<()> {
    match delivery.await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err((e, _))) => Err(e).context("a passthrough copy was not delivered"),
        Err(_) => anyhow::bail!("the passthrough producer went away"),
    }
}
