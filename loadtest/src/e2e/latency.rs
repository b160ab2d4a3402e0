//! Latency from an event to the availability it changes, through a running `allot run`.
//!
//! Trading events are sent at a paced rate with their `event_time` rewritten to the wall
//! clock at the moment they are handed to the producer. allot stamps each availability
//! message with the event time of the newest change it includes, so for a reader of the
//! availability topic `receive wall time − availability.event_time` is the time from that
//! event to its effect being readable: producer batching, the broker, allot's consume,
//! apply and coalescing wait, allot's producer, the broker again and the reader's fetch.
//! The Kafka timestamp allot's producer sets gives the same up to allot's `produce()` call
//! ("publish" latency). One machine, one clock.
//!
//! An availability message can also include older changes of its sku, made earlier in the
//! same coalescing window: those waited up to `availability_coalesce_ms` longer than the
//! newest one measured here.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use allot_connectors::kafka::KafkaConfig;
use allot_schemas::{AnyRecord, EpochMillis};
use anyhow::Context;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Milliseconds since the Unix epoch now.
pub fn now_ms() -> EpochMillis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as EpochMillis)
}

/// Sets the `event_time` of any record.
pub fn set_event_time(record: &mut AnyRecord, t: EpochMillis) {
    match record {
        AnyRecord::PosSale(r) => r.event_time = t,
        AnyRecord::Receipt(r) => r.event_time = t,
        AnyRecord::Shipment(r) => r.event_time = t,
        AnyRecord::PurchaseOrder(r) => r.event_time = t,
        AnyRecord::Adjustment(r) => r.event_time = t,
        AnyRecord::Order(r) => r.event_time = t,
        AnyRecord::OrderEvent(r) => r.event_time = t,
        AnyRecord::Return(r) => r.event_time = t,
        AnyRecord::Location(r) => r.event_time = t,
        AnyRecord::SafetyStock(r) => r.event_time = t,
        AnyRecord::SourcingRule(r) => r.event_time = t,
        AnyRecord::Price(r) => r.event_time = t,
        AnyRecord::Availability(r) => r.event_time = t,
        AnyRecord::Decision(r) => r.event_time = t,
        AnyRecord::Disruption(r) => r.event_time = t,
        AnyRecord::DeadLetter(r) => r.event_time = t,
    }
}

/// The `event_time` of a Confluent-framed Avro message of any allot topic, read without
/// decoding the rest: every schema starts with `event_id` (a string) and `event_time` (a
/// long), so it is the second value after the 5-byte header.
pub fn peek_event_time(message: &[u8]) -> Option<EpochMillis> {
    if message.first() != Some(&0) {
        return None;
    }
    let body = message.get(5..)?;
    let (len, n) = read_long(body)?;
    let rest = body.get(n + usize::try_from(len).ok()?..)?;
    read_long(rest).map(|(t, _)| t)
}

/// An Avro long (zig-zag varint) and the bytes it took.
fn read_long(bytes: &[u8]) -> Option<(i64, usize)> {
    let mut value = 0u64;
    for (i, b) in bytes.iter().take(10).enumerate() {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((((value >> 1) as i64) ^ -((value & 1) as i64), i + 1));
        }
    }
    None
}

/// Latency percentiles in milliseconds (nearest rank).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Smallest.
    pub min_ms: i64,
    /// Median.
    pub p50_ms: i64,
    /// 90th percentile.
    pub p90_ms: i64,
    /// 99th percentile.
    pub p99_ms: i64,
    /// 99.9th percentile.
    pub p999_ms: i64,
    /// Largest.
    pub max_ms: i64,
    /// Mean.
    pub mean_ms: f64,
}

impl Percentiles {
    /// The percentiles of `samples`; `None` when there are none.
    pub fn of(mut samples: Vec<i64>) -> Option<Percentiles> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let n = samples.len();
        let rank = |q: f64| samples[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
        Some(Percentiles {
            count: n as u64,
            min_ms: samples[0],
            p50_ms: rank(0.50),
            p90_ms: rank(0.90),
            p99_ms: rank(0.99),
            p999_ms: rank(0.999),
            max_ms: samples[n - 1],
            mean_ms: samples.iter().sum::<i64>() as f64 / n as f64,
        })
    }
}

/// What a [`TopicReader`] saw.
#[derive(Debug, Default)]
pub struct Observed {
    /// `receive wall time − event_time` of each message of the measured window.
    pub consume: Vec<i64>,
    /// `Kafka timestamp (allot's produce call) − event_time` of the same messages.
    pub publish: Vec<i64>,
    /// Messages about changes older than the window (the opening stock), not measured.
    pub before: u64,
    /// Messages whose event time could not be read.
    pub unreadable: u64,
    /// Wall-clock milliseconds when the last measured message was read (0: none).
    pub last_received_ms: EpochMillis,
}

/// Reads topics in the background and measures each message against its event time: the
/// availability topic (from the beginning), or the input topics (from their end, to measure
/// the broker hop alone with allot's consumer settings).
#[derive(Debug)]
pub struct TopicReader {
    stop: watch::Sender<bool>,
    task: JoinHandle<anyhow::Result<Observed>>,
    /// Wall-clock milliseconds of the last message read (any message).
    last_ms: Arc<AtomicI64>,
    /// Messages measured so far.
    measured: Arc<AtomicU64>,
    /// Messages read so far, measured or not.
    read: Arc<AtomicU64>,
}

impl TopicReader {
    /// Starts reading `topics` (`partitions` partitions each) from `offset`; messages whose
    /// event time is before `since_ms` are counted but not measured.
    pub fn start(
        config: &KafkaConfig,
        topics: &[String],
        partitions: i32,
        offset: Offset,
        since_ms: EpochMillis,
    ) -> anyhow::Result<TopicReader> {
        let consumer: StreamConsumer = config
            .consumer_config()
            .set("enable.auto.commit", "false")
            .set("statistics.interval.ms", "0")
            .create()
            .context("failed to create a reader")?;
        let mut tpl = TopicPartitionList::new();
        for topic in topics {
            for p in 0..partitions {
                tpl.add_partition_offset(topic, p, offset)
                    .context("failed to list the partitions to read")?;
            }
        }
        consumer
            .assign(&tpl)
            .context("failed to assign the partitions to read")?;
        let (stop, mut stopped) = watch::channel(false);
        let last_ms = Arc::new(AtomicI64::new(0));
        let measured = Arc::new(AtomicU64::new(0));
        let read = Arc::new(AtomicU64::new(0));
        let (last, count, all) = (last_ms.clone(), measured.clone(), read.clone());
        let task = tokio::spawn(async move {
            let mut seen = Observed::default();
            loop {
                tokio::select! {
                    _ = stopped.changed() => break,
                    msg = consumer.recv() => {
                        let received = now_ms();
                        let msg = msg.context("a reader failed to consume")?;
                        last.store(received, Ordering::Relaxed);
                        all.fetch_add(1, Ordering::Relaxed);
                        let Some(t) = msg.payload().and_then(peek_event_time) else {
                            seen.unreadable += 1;
                            continue;
                        };
                        if t < since_ms {
                            seen.before += 1;
                            continue;
                        }
                        seen.consume.push(received - t);
                        seen.last_received_ms = received;
                        if let Some(ts) = msg.timestamp().to_millis() {
                            seen.publish.push(ts - t);
                        }
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            Ok(seen)
        });
        Ok(TopicReader {
            stop,
            task,
            last_ms,
            measured,
            read,
        })
    }

    /// Messages measured so far.
    pub fn measured(&self) -> u64 {
        self.measured.load(Ordering::Relaxed)
    }

    /// Messages read so far, measured or not.
    pub fn read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }

    /// Waits until no message has arrived for `quiet`, at most `limit`.
    pub async fn settle(&self, quiet: Duration, limit: Duration) {
        let until = tokio::time::Instant::now() + limit;
        let quiet_ms = quiet.as_millis() as i64;
        while tokio::time::Instant::now() < until {
            let last = self.last_ms.load(Ordering::Relaxed);
            if now_ms() - last >= quiet_ms {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops reading and returns what was seen.
    pub async fn finish(self) -> anyhow::Result<Observed> {
        let _ = self.stop.send(true);
        self.task.await.context("a reader panicked")?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use allot_schemas::{Availability, ConfluentCodec, StaticResolver};

    fn check(samples: &[i64], expected: Option<(i64, i64, i64, i64)>) {
        let got =
            Percentiles::of(samples.to_vec()).map(|p| (p.p50_ms, p.p90_ms, p.p99_ms, p.max_ms));
        assert_eq!(got, expected, "{samples:?}");
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        check(&[], None);
        check(&[7], Some((7, 7, 7, 7)));
        check(&[3, 1, 2, 4], Some((2, 4, 4, 4)));
        let hundred: Vec<i64> = (1..=100).rev().collect();
        check(&hundred, Some((50, 90, 99, 100)));
        let thousand: Vec<i64> = (1..=1000).collect();
        check(&thousand, Some((500, 900, 990, 1000)));
    }

    #[test]
    fn peeks_the_event_time_the_codec_wrote() {
        let codec = ConfluentCodec::new(StaticResolver::new());
        for (id, t) in [
            ("", 0),
            ("availability/sku-1/7", 1_767_600_000_123),
            (&"x".repeat(300) as &str, -5),
        ] {
            let a = Availability {
                event_id: id.to_string(),
                event_time: t,
                source: "allot".into(),
                sku: "sku-1".into(),
                version: 7,
                channels: vec![],
            };
            let mut bytes = Vec::new();
            codec.encode(&a, &mut bytes).expect("encode");
            assert_eq!(peek_event_time(&bytes), Some(t), "{id:?}");
            assert_eq!(peek_event_time(&bytes[..6]), None, "truncated");
        }
        assert_eq!(peek_event_time(b"\x01\0\0\0\x01\0\0"), None, "not framed");
    }

    #[test]
    fn every_record_takes_a_new_event_time() {
        let workload = crate::Workload::new(crate::WorkloadConfig {
            stores: 3,
            skus: 40,
            days: 1,
            ..crate::WorkloadConfig::default()
        })
        .expect("valid");
        let mut topics = std::collections::BTreeSet::new();
        for mut r in workload.take(20_000) {
            topics.insert(r.topic());
            set_event_time(&mut r, 42);
            assert_eq!(r.event_time(), 42);
        }
        assert!(topics.len() >= 8, "{topics:?}");
    }
}
