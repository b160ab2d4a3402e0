//! Graceful shutdown through the real broker: `allot run` as a child process, SIGTERM while
//! changes are still held back by pacing; it must publish them, commit exactly the end of
//! what it consumed, leave the consumer group at once and exit 0. A second signal during a
//! slow shutdown exits at once with 128 + 15.
//!
//! Needs Kafka (started through deploy/local/kafka.sh; `KAFKA_BOOTSTRAP` for another one).

mod common;

use std::time::{Duration, Instant};

use allot_connectors::ConnectorMetrics;
use allot_connectors::kafka::{KafkaSink, ensure_topics};
use allot_connectors::testkit;
use allot_schemas::*;
use common::{Allot, count};

/// 2026-01-05 08:00 UTC.
const T0: i64 = 1_767_600_000_000;
const SKUS: usize = 30;

fn dc() -> AnyRecord {
    common::location(
        "dc-1",
        T0 - 86_400_000,
        LocationKind::Dc,
        &[Capability::Ship],
        &["ecom"],
    )
}

/// One count per sku: `base + i` units of `sku-i` at dc-1, at `t`.
async fn counts(sink: &KafkaSink, round: &str, t: i64, base: i32) {
    for i in 0..SKUS {
        let r = count(
            &format!("{round}-{i}"),
            t,
            "dc-1",
            &format!("sku-{i}"),
            base + i as i32,
        );
        sink.send_any(&r).await.expect("produce");
    }
}

/// On hand at dc-1 as the WEB channel of the last published availability shows it.
fn on_hand(a: &Availability) -> Option<i64> {
    let web = a.channels.iter().find(|c| c.channel == Channel::Web)?;
    let loc = web.locations.iter().find(|l| l.location_id == "dc-1")?;
    Some(loc.on_hand)
}

fn wait_ready(allot: &Allot, timeout: Duration) -> String {
    let start = Instant::now();
    loop {
        let (status, body) = allot.get("/ready");
        if status == 200 {
            return body;
        }
        assert_eq!(status, 503, "{body}");
        assert!(
            start.elapsed() < timeout,
            "/ready stayed 503 for {timeout:?}: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_publishes_held_changes_commits_the_end_and_leaves_the_group() {
    let kafka = testkit::kafka_config("kafka_shutdown", 3);
    ensure_topics(&kafka, &Topic::ALL).await.expect("topics");
    let sink = KafkaSink::new(&kafka, ConnectorMetrics::unregistered()).unwrap();
    sink.send_any(&dc()).await.unwrap();
    counts(&sink, "r1", T0, 10).await;

    // A 30 s coalescing bound: a sku published once is held for 30 s after that.
    let allot = Allot::start(
        &kafka,
        &kafka.client_id,
        &[("ALLOT__RUNTIME__AVAILABILITY_COALESCE_MS", "30000")],
    );
    let applied = "allot_records_applied_total";
    allot.wait_metric(applied, (1 + SKUS) as f64, Duration::from_secs(60));
    let ready = wait_ready(&allot, Duration::from_secs(30));
    assert!(ready.contains("\"phase\":\"ready\""), "{ready}");
    allot.wait_metric(
        "allot_availability_published_total",
        SKUS as f64,
        Duration::from_secs(10),
    );

    // Round 2 changes every sku again, within the bound: held back by pacing.
    counts(&sink, "r2", T0 + 3_600_000, 100).await;
    allot.wait_metric(applied, (1 + 2 * SKUS) as f64, Duration::from_secs(30));
    let published = allot.metric("allot_availability_published_total");
    assert!(
        published < (2 * SKUS) as f64,
        "round 2 should still be held back, {published} published"
    );

    let stopped = Instant::now();
    allot.signal("TERM");
    let (status, report) = allot.wait(Duration::from_secs(25));
    let took = stopped.elapsed();
    assert!(status.success(), "exit {status:?}\n{report}");
    assert!(report.contains("allot run finished"), "{report}");
    // Well inside the 30 s hold: the last flush does not wait for pacing.
    assert!(took < Duration::from_secs(25), "{took:?}");

    // It left the group (no waiting for the session timeout).
    let (state, members) = common::group_state(&kafka);
    assert_eq!((state.as_str(), members), ("Empty", 0));

    // The committed offsets are the end of every input partition that has data.
    // What the group reads and commits: the event topics (reference topics are global
    // tables, read outside the group, nothing committed).
    let inputs: Vec<Topic> = Topic::inputs()
        .filter(|t| t.retention() != Retention::Compacted)
        .collect();
    let mut with_data = 0;
    for (topic, partition, committed, high) in common::committed_and_ends(&kafka, &inputs) {
        if high > 0 {
            with_data += 1;
            assert_eq!(
                committed,
                Some(high),
                "{topic}[{partition}]: committed {committed:?}, end {high}"
            );
        } else {
            assert_eq!(committed, None, "{topic}[{partition}] has no data");
        }
    }
    assert!(with_data >= 2, "locations and adjustments were written");

    // Every applied change is on the availability topic: round 2's values.
    let last = common::last_availability(&kafka).await;
    assert_eq!(last.len(), SKUS, "{:?}", last.keys());
    for i in 0..SKUS {
        let a = &last[&format!("sku-{i}")];
        assert_eq!(on_hand(a), Some(100 + i as i64), "sku-{i}: {a:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once_with_a_failure_code() {
    let kafka = testkit::kafka_config("kafka_shutdown_twice", 1);
    ensure_topics(&kafka, &Topic::ALL).await.expect("topics");
    let sink = KafkaSink::new(&kafka, ConnectorMetrics::unregistered()).unwrap();
    sink.send_any(&dc()).await.unwrap();
    counts(&sink, "r1", T0, 10).await;

    // Deliveries linger 20 s (under the 30 s message timeout), so the graceful stop waits for them.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("allot.toml");
    std::fs::write(&config, "[kafka.properties]\n\"linger.ms\" = \"20000\"\n").unwrap();
    let allot = Allot::start(
        &kafka,
        &kafka.client_id,
        &[("ALLOT_CONFIG", config.to_str().unwrap())],
    );
    allot.wait_metric(
        "allot_records_applied_total",
        (1 + SKUS) as f64,
        Duration::from_secs(60),
    );
    allot.signal("TERM");
    // Stopping: not ready, still waiting for the deliveries.
    let start = Instant::now();
    let body = loop {
        let (status, body) = allot.get("/ready");
        if body.contains("shutting_down") {
            assert_eq!(status, 503);
            break body;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{body}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(body.contains("leaving the group"), "{body}");
    std::thread::sleep(Duration::from_millis(500));
    allot.signal("TERM");
    let (status, _) = allot.wait(Duration::from_secs(10));
    assert_eq!(status.code(), Some(128 + 15), "{status:?}");
}
