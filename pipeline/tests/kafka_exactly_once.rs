//! Exactly-once processing through the real broker: `allot run` with
//! `runtime.processing = "exactly_once"` publishes availability and commits its input
//! offsets in Kafka transactions. A run killed (SIGKILL) before its transaction commits
//! leaves nothing a `read_committed` consumer can see and no committed offset; its
//! successor (same instance name) fences it, processes the input again and commits, and a
//! `read_committed` reader sees every sku's values once, versions only growing, although
//! the aborted messages are on the log.
//!
//! Needs Kafka (started through deploy/local/kafka.sh; `KAFKA_BOOTSTRAP` for another one).

mod common;

use std::time::Duration;

use allot_connectors::ConnectorMetrics;
use allot_connectors::kafka::{KafkaConfig, KafkaSink, ensure_topics};
use allot_connectors::testkit;
use allot_schemas::*;
use common::{Allot, count};

/// 2026-01-05 08:00 UTC.
const T0: i64 = 1_767_600_000_000;
const SKUS: usize = 20;

/// Messages on `topic` as a `read_uncommitted` consumer sees them (until 3 s pass quietly).
fn uncommitted_messages(kafka: &KafkaConfig, topic: Topic) -> usize {
    use rdkafka::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &kafka.bootstrap_servers)
        .set("group.id", format!("{}-uncommitted", kafka.group_id))
        .set("isolation.level", "read_uncommitted")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer
        .subscribe(&[&kafka.topic_name(topic)])
        .expect("subscribe");
    let mut n = 0;
    let mut quiet = std::time::Instant::now();
    while quiet.elapsed() < Duration::from_secs(3) {
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            m.expect("consume");
            n += 1;
            quiet = std::time::Instant::now();
        }
    }
    n
}

/// Messages on `topic`'s log, committed or not (the sum of its high watermarks).
fn log_end(kafka: &KafkaConfig, topic: Topic) -> i64 {
    use rdkafka::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &kafka.bootstrap_servers)
        // The high watermark, not the last stable offset (librdkafka's default is
        // read_committed, which stops at an open transaction).
        .set("isolation.level", "read_uncommitted")
        .create()
        .expect("consumer");
    let name = kafka.topic_name(topic);
    let timeout = Duration::from_secs(10);
    let metadata = consumer
        .fetch_metadata(Some(&name), timeout)
        .expect("metadata");
    metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions())
        .map(|p| {
            consumer
                .fetch_watermarks(&name, p.id(), timeout)
                .expect("watermarks")
                .1
        })
        .sum()
}

fn on_hand(a: &Availability) -> Option<i64> {
    let web = a.channels.iter().find(|c| c.channel == Channel::Web)?;
    let loc = web.locations.iter().find(|l| l.location_id == "dc-1")?;
    Some(loc.on_hand)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_transaction_leaves_nothing_and_its_successor_publishes_each_value_once() {
    let kafka = testkit::kafka_config("kafka_exactly_once", 3);
    ensure_topics(&kafka, &Topic::ALL).await.expect("topics");
    let sink = KafkaSink::new(&kafka, ConnectorMetrics::unregistered()).unwrap();
    sink.send_any(&common::location(
        "dc-1",
        T0 - 86_400_000,
        LocationKind::Dc,
        &[Capability::Ship],
        &["ecom"],
    ))
    .await
    .unwrap();
    for i in 0..SKUS {
        let r = count(
            &format!("c-{i}"),
            T0,
            "dc-1",
            &format!("sku-{i}"),
            10 + i as i32,
        );
        sink.send_any(&r).await.unwrap();
    }
    let eos = [("ALLOT__RUNTIME__PROCESSING", "exactly_once")];

    // 1. A commit interval of 10 minutes: everything is published into the open
    //    transaction, and the process dies before it commits.
    let first = Allot::start(
        &kafka,
        "eos",
        &[eos[0], ("ALLOT__RUNTIME__COMMIT_INTERVAL_MS", "600000")],
    );
    first.wait_metric(
        "allot_availability_published_total",
        SKUS as f64,
        Duration::from_secs(60),
    );
    // `published` counts what was handed to the producer; wait until the brokers hold it
    // (inside the open transaction) before the kill, or the abort has nothing to hide.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while log_end(&kafka, Topic::Availability) < SKUS as i64 {
        assert!(
            std::time::Instant::now() < deadline,
            "the open transaction's availability never reached the brokers ({} messages)",
            log_end(&kafka, Topic::Availability)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    first.signal("KILL");
    let _ = first.wait(Duration::from_secs(10));
    // What the group reads and commits: the event topics (reference topics are global
    // tables, read outside the group, nothing committed).
    let inputs: Vec<Topic> = Topic::inputs()
        .filter(|t| t.retention() != Retention::Compacted)
        .collect();
    for (topic, partition, committed, _) in common::committed_and_ends(&kafka, &inputs) {
        assert_eq!(
            committed, None,
            "{topic}[{partition}] committed by a killed transaction"
        );
    }
    assert!(
        common::last_availability(&kafka).await.is_empty(),
        "a read_committed reader sees the killed run's output"
    );

    // 2. The successor, same instance name (same transactional id), commits every 200 ms.
    let second = Allot::start(
        &kafka,
        "eos",
        &[eos[0], ("ALLOT__RUNTIME__COMMIT_INTERVAL_MS", "200")],
    );
    second.wait_metric(
        "allot_records_applied_total",
        (1 + SKUS) as f64,
        Duration::from_secs(60),
    );
    second.wait_metric(
        "allot_transaction_commit_seconds_count",
        1.0,
        Duration::from_secs(30),
    );
    second.signal("TERM");
    let (status, report) = second.wait(Duration::from_secs(30));
    assert!(status.success(), "exit {status:?}\n{report}");

    // Each sku once, with its value; `last_availability` also asserts versions only grow,
    // which the aborted copies (same versions) would break had they been visible.
    let last = common::last_availability(&kafka).await;
    assert_eq!(last.len(), SKUS, "{:?}", last.keys());
    for i in 0..SKUS {
        let a = &last[&format!("sku-{i}")];
        assert_eq!(on_hand(a), Some(10 + i as i64), "sku-{i}: {a:?}");
    }
    // The aborted messages are on the log all the same.
    let all = uncommitted_messages(&kafka, Topic::Availability);
    assert!(
        all >= 2 * SKUS,
        "{all} messages, expected the aborted {SKUS} too"
    );
    // The input offsets committed with the last transaction are the ends.
    for (topic, partition, committed, high) in common::committed_and_ends(&kafka, &inputs) {
        if high > 0 {
            assert_eq!(committed, Some(high), "{topic}[{partition}]");
        }
    }
}
