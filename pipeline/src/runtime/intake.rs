//! `allot intake`: the repartitioning stage of partitioned state. It reads the event topics
//! as they are produced (keyed by store, document or order, lines of many skus in one
//! record) in its own consumer group, `<kafka.group_id>.intake`, splits every record by sku
//! ([`crate::partition::split`]) and writes each part to its partition of the
//! co-partitioned `bysku.` topics, which `allot run` reads with `runtime.sku_partitions`.
//!
//! At least once: a record's offset is acknowledged only once every part of it is
//! acknowledged by the brokers, so nothing read is lost; after a crash the parts of records
//! read since the last commit are written again, and the engines drop them as duplicates
//! (same event id, inside the lateness window). A record that does not decode, or does not
//! validate (a bad line refuses the whole record, as one engine would), goes to the
//! dead-letter topic whole, and no part of it is written.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use allot_connectors::kafka::{Consumed, Delivery, KafkaError, KafkaSink, KafkaSource};
use allot_connectors::{DeadLetters, Origin};
use allot_schemas::codec::{ConfluentCodec, StaticResolver};
use allot_schemas::{DeadLetterKind, Topic};
use anyhow::Context;

use super::{
    RunLimits, Signals, Stop, bysku_kafka, close_source, ensure_bysku_topics, event_topics,
    registries, serve_http,
};
use crate::config::AllotConfig;

/// Records read whose parts are not all acknowledged yet, at most (then the intake waits).
const MAX_PENDING: usize = 20_000;

/// What an intake run did.
#[derive(Debug, Clone, Default)]
pub struct IntakeReport {
    /// Records read (dead-lettered ones included).
    pub records: u64,
    /// Parts written to the `bysku.` topics.
    pub parts: u64,
    /// Records refused whole (dead letters), decoding failures excluded (the source
    /// letters those itself).
    pub refused: u64,
    /// Sku partitions.
    pub partitions: u32,
    pub elapsed: Duration,
}

impl fmt::Display for IntakeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "allot intake: {} records read, {} parts written to {} sku partitions, {} refused \
             (dead letters) in {:.1} s",
            self.records,
            self.parts,
            self.partitions,
            self.refused,
            self.elapsed.as_secs_f64()
        )
    }
}

/// One record read: the deliveries of its parts (or its dead letter), then its offset.
struct Pending {
    deliveries: Vec<Delivery>,
    topic: Topic,
    partition: i32,
    offset: i64,
}

/// Runs the intake until a signal, `limits.max_records` or `limits.idle_exit_ms`.
pub async fn run_intake(config: &AllotConfig, limits: RunLimits) -> anyhow::Result<IntakeReport> {
    let count = config.runtime.sku_partitions;
    anyhow::ensure!(
        count > 0,
        "allot intake splits records into runtime.sku_partitions partitions, which is 0; set \
         it (e.g. ALLOT__RUNTIME__SKU_PARTITIONS=12) to the same value for intake and run"
    );
    let mut signals = Signals::listen().context("failed to listen for SIGTERM and SIGINT")?;
    let (registry, _metrics, connector_metrics) = registries()?;
    let bysku = bysku_kafka(config);
    ensure_bysku_topics(&bysku, count).await?;
    let sink = KafkaSink::new(&bysku, connector_metrics.clone())
        .context("failed to create the Kafka producer; check kafka.bootstrap_servers")?;
    let letters_sink = KafkaSink::new(&config.kafka, connector_metrics.clone())?;
    let mut consumer = config.kafka.clone();
    consumer.group_id = format!("{}.intake", config.kafka.group_id);
    let source = KafkaSource::new(
        &consumer,
        &event_topics(),
        KafkaSink::new(&config.kafka, connector_metrics.clone())?,
        connector_metrics.clone(),
    )
    .context(
        "failed to create the Kafka consumer; check kafka.bootstrap_servers and kafka.group_id",
    )?;
    let readiness = source.readiness();
    let (server, _view) = serve_http(config, &registry, readiness.clone()).await?;
    let dead_letters = DeadLetters::new(
        format!("{}-intake", config.runtime.instance_name),
        connector_metrics.clone(),
    );
    let codec = ConfluentCodec::new(StaticResolver::new());
    let topic_names: Vec<String> = Topic::ALL
        .iter()
        .map(|t| config.kafka.topic_name(*t))
        .collect();
    eprintln!(
        "allot intake: splitting {} into {count} sku partitions of {}*",
        event_topics()
            .iter()
            .map(|t| config.kafka.topic_name(*t))
            .collect::<Vec<_>>()
            .join(", "),
        bysku.topic_prefix
    );
    let mut report = IntakeReport {
        partitions: count,
        ..IntakeReport::default()
    };
    let started = Instant::now();
    let mut pending: VecDeque<Pending> = VecDeque::new();
    let mut last_input = Instant::now();
    let mut last_progress = Instant::now();
    let idle = limits.idle_exit_ms.map(Duration::from_millis);
    let mut stopped_by: Option<Stop> = None;
    let mut next = Box::pin(source.next());
    loop {
        if limits.max_records.is_some_and(|m| report.records >= m) {
            break;
        }
        if last_progress.elapsed() >= Duration::from_secs(10) {
            last_progress = Instant::now();
            eprintln!(
                "allot intake: {} records read, {} parts written, {} refused, {} awaiting the \
                 brokers",
                report.records,
                report.parts,
                report.refused,
                pending.len()
            );
        }
        tokio::select! {
            biased;
            signal = signals.recv() => {
                stopped_by = Some(signal);
                break;
            }
            _ = source.group_changed() => {
                for event in source.take_group_events() {
                    readiness.restored();
                    tracing::info!("intake group event: {event:?}");
                }
            }
            acked = ack_front(&mut pending, &source), if pending.len() >= MAX_PENDING => acked?,
            consumed = &mut next, if pending.len() < MAX_PENDING => {
                next.set(source.next());
                let consumed = consumed.context("failed to read from Kafka")?;
                last_input = Instant::now();
                report.records += 1;
                let deliveries = split_and_send(
                    &consumed,
                    count,
                    &sink,
                    &letters_sink,
                    &dead_letters,
                    &codec,
                    &topic_names,
                    &mut report,
                )
                .await?;
                pending.push_back(Pending {
                    deliveries,
                    topic: consumed.topic,
                    partition: consumed.partition,
                    offset: consumed.offset,
                });
            }
            _ = tokio::time::sleep(Duration::from_millis(100)) => {
                while !pending.is_empty() {
                    ack_front(&mut pending, &source).await?;
                }
                if idle.is_some_and(|i| last_input.elapsed() >= i) {
                    break;
                }
            }
        }
        // Acknowledge what is done without waiting.
        while pending.front().is_some_and(|p| p.deliveries.is_empty()) {
            ack_front(&mut pending, &source).await?;
        }
    }
    drop(next);
    readiness.shutting_down();
    if let Some(signal) = stopped_by {
        eprintln!(
            "allot intake: {} received: waiting for the parts in flight, committing, leaving \
             the group",
            signal.name
        );
    }
    while !pending.is_empty() {
        ack_front(&mut pending, &source).await?;
    }
    source
        .commit()
        .context("failed to commit the intake's offsets while stopping; they are read again")?;
    close_source(source).await?;
    if let Some(server) = server {
        server.shutdown().await?;
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Splits one record and queues its parts, or its dead letter; returns the deliveries.
#[allow(clippy::too_many_arguments)]
async fn split_and_send(
    consumed: &Consumed,
    count: u32,
    sink: &KafkaSink,
    letters_sink: &KafkaSink,
    dead_letters: &DeadLetters,
    codec: &ConfluentCodec<StaticResolver>,
    topic_names: &[String],
    report: &mut IntakeReport,
) -> anyhow::Result<Vec<Delivery>> {
    let mut deliveries = Vec::new();
    match crate::partition::split(&consumed.record, count) {
        Ok(parts) => {
            for (partition, part) in parts {
                deliveries.push(send(|| sink.enqueue_any_to(&part, partition as i32)).await?);
                report.parts += 1;
            }
        }
        Err(reason) => {
            let letter = super::refusal(
                dead_letters,
                codec,
                Origin {
                    topic: &topic_names[consumed.topic.index()],
                    partition: consumed.partition,
                    offset: consumed.offset,
                },
                consumed.key.as_deref(),
                &consumed.record,
                DeadLetterKind::Validation,
                &reason,
            );
            deliveries.push(send(|| letters_sink.enqueue(&letter)).await?);
            report.refused += 1;
        }
    }
    // Awaited last first, so the first to resolve frees the most.
    deliveries.reverse();
    Ok(deliveries)
}

/// Queues with `enqueue`, waiting a moment while the producer's local queue is full.
async fn send(
    mut enqueue: impl FnMut() -> Result<Delivery, KafkaError>,
) -> anyhow::Result<Delivery> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match enqueue() {
            Ok(d) => return Ok(d),
            Err(e)
                if e.action() == allot_connectors::ErrorAction::Retry
                    && Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(e) => return Err(e).context("failed to write to the bysku. topics"),
        }
    }
}

/// Waits for the oldest record's parts and acknowledges its offset. Cancel-safe: a delivery
/// is removed only once it has resolved. An offset of a partition no longer held is
/// skipped: its new owner reads it again (the engines drop the repeated parts).
async fn ack_front(pending: &mut VecDeque<Pending>, source: &KafkaSource) -> anyhow::Result<()> {
    let Some(front) = pending.front_mut() else {
        return Ok(());
    };
    while let Some(delivery) = front.deliveries.last_mut() {
        delivery
            .await
            .context("failed to write a part to the bysku. topics")?;
        front.deliveries.pop();
    }
    let done = pending.pop_front().expect("front exists");
    match source.ack_offset(done.topic, done.partition, done.offset) {
        Err(e @ KafkaError::NotAssigned { .. }) => {
            tracing::warn!("{e}; its new owner reads it again");
            Ok(())
        }
        other => Ok(other?),
    }
}
