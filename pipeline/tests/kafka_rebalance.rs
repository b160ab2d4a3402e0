//! Rebalance hand-over through the real broker, and the pause it costs: one `allot run`
//! instance under steady input, a second joins the same group mid-run, takes over partitions
//! (range assignment, eager protocol: all are revoked, half come back), and processing
//! resumes on both.
//! Every input record is applied exactly once across the two (the first instance publishes
//! and commits before it lets its partitions go), and the offsets end at the end of the
//! input. Prints the pauses (the figure in BENCHMARKS.md):
//!
//! ```sh
//! cargo test -p allot-pipeline --features integration --test kafka_rebalance -- --nocapture
//! ALLOT_REBALANCE_RATE=5000 cargo test ...   # input records/s (default 1,000)
//! ```
//!
//! Needs Kafka (started through deploy/local/kafka.sh; `KAFKA_BOOTSTRAP` for another one).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use allot_connectors::ConnectorMetrics;
use allot_connectors::kafka::{KafkaSink, ensure_topics};
use allot_connectors::testkit;
use allot_schemas::*;
use common::{Allot, count};

/// 2026-01-05 08:00 UTC.
const T0: i64 = 1_767_600_000_000;
const PARTITIONS: i32 = 6;
/// Input records per second while the feeder runs: `ALLOT_REBALANCE_RATE`, default 1,000.
fn rate() -> u64 {
    std::env::var("ALLOT_REBALANCE_RATE")
        .ok()
        .and_then(|r| r.parse().ok())
        .filter(|r| *r >= 50)
        .unwrap_or(1_000)
}
const SKUS: u64 = 500;

/// Sends counts over `SKUS` skus at `RATE`/s until `stop`; returns how many it sent.
async fn feed(sink: KafkaSink, stop: Arc<AtomicBool>, sent: Arc<AtomicU64>) {
    // The location first, so that the counts change published availability (pacing holds).
    let dc = common::location(
        "dc-1",
        T0 - 86_400_000,
        LocationKind::Dc,
        &[Capability::Ship],
        &["ecom"],
    );
    sink.send_any(&dc).await.expect("delivered");
    // (`sent` counts the counts only: see `applied`.)
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let per_tick = rate() / 50;
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let mut deliveries = Vec::new();
        for _ in 0..per_tick {
            let sku = format!("sku-{}", n % SKUS);
            let r = count(
                &format!("c-{n}"),
                T0 + n as i64,
                "dc-1",
                &sku,
                (n % 97) as i32,
            );
            deliveries.push(sink.enqueue_any(&r).expect("enqueue"));
            n += 1;
        }
        for d in deliveries {
            d.await.expect("delivered");
        }
        sent.store(n, Ordering::Relaxed);
    }
}

/// The `(cause, seconds, event_at_ms, resumed_at_ms)` of every "rebalance pause" log line.
fn pauses(log: &[String]) -> Vec<(String, f64, u128, u128)> {
    log.iter()
        .filter_map(|l| {
            let rest = l.strip_prefix("allot: rebalance pause ")?;
            let (secs, rest) = rest.split_once(" s (")?;
            let cause = rest.split_whitespace().next()?.to_owned();
            let field = |name: &str| -> Option<u128> {
                rest.split_whitespace()
                    .find_map(|w| w.strip_prefix(name))?
                    .parse()
                    .ok()
            };
            Some((
                cause,
                secs.parse().ok()?,
                field("event_at_ms=")?,
                field("resumed_at_ms=")?,
            ))
        })
        .collect()
}

/// The event records (counts) the instance applied, accepted or duplicate: the reference
/// record (the location) is read whole by every instance, outside the group, so it is not
/// shared out.
fn applied(allot: &Allot) -> f64 {
    let (_, body) = allot.get("/metrics");
    body.lines()
        .filter(|l| {
            l.starts_with("allot_records_applied_total{")
                && l.contains("inventory-adjustments")
                && !l.contains("refused")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Polls until `allot` has applied a count, at most a minute.
fn wait_applied(allot: &Allot) {
    let start = Instant::now();
    while applied(allot) < 1.0 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no count applied within 60 s; stderr:\n{}",
            allot.log().join("\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_instance_takes_over_partitions_and_processing_resumes() {
    let kafka = testkit::kafka_config("kafka_rebalance", PARTITIONS);
    ensure_topics(&kafka, &Topic::ALL).await.expect("topics");
    let sink = KafkaSink::new(&kafka, ConnectorMetrics::unregistered()).unwrap();
    let (stop, sent) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let feeder = tokio::spawn(feed(sink, stop.clone(), sent.clone()));

    // A 5 s coalescing bound: a sku published once is held for 5 s, and the offsets read
    // since are parked until it goes out. Without a hand-over at the revocation, those
    // offsets would be uncommitted and the second instance would apply their records again.
    let env = [("ALLOT__RUNTIME__AVAILABILITY_COALESCE_MS", "5000")];
    let a = Allot::start(&kafka, &format!("{}-a", kafka.client_id), &env);
    wait_applied(&a);
    tokio::time::sleep(Duration::from_secs(5)).await;

    let joined = Instant::now();
    let a_before = applied(&a);
    let b = Allot::start(&kafka, &format!("{}-b", kafka.client_id), &env);
    wait_applied(&b);
    let b_first = joined.elapsed();
    tokio::time::sleep(Duration::from_secs(5)).await;
    stop.store(true, Ordering::Relaxed);
    feeder.await.unwrap();
    let total = sent.load(Ordering::Relaxed) as f64;

    // Both catch up with everything sent; together they applied each record once.
    let start = Instant::now();
    while applied(&a) + applied(&b) < total {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "applied {} + {} of {total}",
            applied(&a),
            applied(&b)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (on_a, on_b) = (applied(&a), applied(&b));
    assert_eq!(
        on_a + on_b,
        total,
        "each record applied once: {on_a} + {on_b}"
    );
    assert!(
        on_b > 0.0 && on_a > a_before,
        "both processed after the join"
    );
    for (name, x) in [("first", &a), ("second", &b)] {
        let (status, body) = x.get("/ready");
        assert_eq!(
            status, 200,
            "{name} instance not ready after the rebalance: {body}"
        );
    }
    // The source's rebalance counters moved: the first instance was revoked once and
    // assigned twice (start, after the join), the second assigned once.
    let rebalances =
        |x: &Allot, event: &str| x.metric(&format!("allot_rebalances_total{{event=\"{event}\"}}"));
    assert_eq!(rebalances(&a, "revoked"), 1.0);
    assert_eq!(rebalances(&a, "assigned"), 2.0);
    assert_eq!(rebalances(&b, "assigned"), 1.0);
    assert_eq!(rebalances(&b, "revoked"), 0.0);
    let hist = |x: &Allot, part: &str| x.metric(&format!("allot_rebalance_pause_seconds_{part}"));
    let (a_log, b_log) = (a.log(), b.log());
    let (a_pauses, b_pauses) = (pauses(&a_log), pauses(&b_log));
    let (a_count, b_count) = (hist(&a, "count"), hist(&b, "count"));
    let (a_sum, b_sum) = (hist(&a, "sum"), hist(&b, "sum"));

    a.signal("TERM");
    b.signal("TERM");
    let (sa, _) = a.wait(Duration::from_secs(30));
    let (sb, _) = b.wait(Duration::from_secs(30));
    assert!(sa.success() && sb.success(), "{sa:?} {sb:?}");
    for (topic, partition, committed, high) in
        common::committed_and_ends(&kafka, &[Topic::InventoryAdjustments])
    {
        assert_eq!(committed, Some(high), "{topic}[{partition}]");
    }

    assert!(
        a_pauses.iter().any(|p| p.0 == "revoked"),
        "the first instance gave partitions up: {a_log:?}"
    );
    let b_assigned = b_pauses
        .iter()
        .find(|p| p.0 == "assigned")
        .expect("the second instance was assigned partitions");
    let a_revoked = a_pauses.iter().find(|p| p.0 == "revoked").expect("revoked");
    // The pause the moved partitions saw: first instance's revocation to the second
    // instance's first record.
    let handover_ms = b_assigned.3.saturating_sub(a_revoked.2);
    println!(
        "\nrebalance: {total} records at {}/s over {PARTITIONS} partitions; second instance joined after ~5 s",
        rate()
    );
    println!("  second instance: start to first record applied {b_first:.2?}");
    for (who, list) in [("first", &a_pauses), ("second", &b_pauses)] {
        for (cause, secs, ..) in list.iter() {
            println!(
                "  {who} instance: pause after {cause:<8} {:>8.1} ms",
                secs * 1e3
            );
        }
    }
    println!(
        "  moved partitions: first instance's revocation to the second's first record {handover_ms} ms"
    );
    println!(
        "  allot_rebalance_pause_seconds: first count {a_count} sum {a_sum:.3} s; second count {b_count} sum {b_sum:.3} s"
    );
    println!("  applied: first {on_a}, second {on_b} (each record once)");
    assert_eq!(a_count as usize, a_pauses.len(), "metric and log agree");
    assert_eq!(b_count as usize, b_pauses.len(), "metric and log agree");
}
