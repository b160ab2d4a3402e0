//! Sourcing under partitioned state, through the real broker: `allot intake` splits the
//! inventory by sku into 4 co-partitioned `bysku.` topics, two `allot run` instances (a, b)
//! hold the sku partitions and publish every changed sku's supply to the supply feed, and
//! two `allot source` instances (s1 deciding, s2 its standby) read the orders from their one
//! partition, mirror that supply, decide, and write the decisions, the reserved units (which
//! the run instances follow into availability) and their own changelog in one transaction
//! with the orders' offsets. While the orders arrive, a run instance and a sourcing instance
//! (mostly the deciding one) are killed in turn with SIGKILL at random moments (20 kills by
//! default) and restarted; once, the deciding sourcing instance stays down until the
//! standby has taken the orders over; half-way the broker itself restarts (a process that
//! stops on a failed transaction is started again). At the end every order has exactly one
//! decision in the committed decisions topic, with one outcome per line, and the decisions
//! and the final availability (reservations included) equal those of a fault-free run of
//! one intake, one `allot run` and one `allot source` over the same input.
//!
//! A decision depends on the supply the order meets, so both runs must read the same
//! sequence (as in kafka_crash_sourcing): the inventory and reference records are produced
//! first and read to their end (split, applied, published, mirrored by the sourcing stage),
//! and only then the orders, from one partition, decided one at a time (`batch_orders = 1`,
//! so the batches do not depend on when flushes happen). Order events are left out (a
//! cancellation's effect would depend on how the two topics interleave). The inventory is
//! produced before any process starts, so every process reads the reference tables whole at
//! start, in each life and in both runs alike.
//!
//! Exactly once, static membership (a restarted instance takes its partitions back without
//! a rebalance; the standby gets the orders only when the deciding instance's session
//! expires), snapshots every 700 ms. The intake is not killed (see kafka_partitioned).
//!
//! Needs Kafka (started through deploy/local/kafka.sh; `KAFKA_BOOTSTRAP` for another one).
//! `ALLOT_CRASH_PARTITIONED_SOURCING_KILLS` sets the number of kills (default 20).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use allot_connectors::kafka::{KafkaConfig, changelog_topic, ensure_topics, partition_count};
use allot_connectors::testkit;
use allot_loadtest::{Workload, WorkloadConfig};
use allot_schemas::*;
use common::Allot;

const SKU_PARTITIONS: u32 = 4;

const SOURCING: &str = "enabled = true\nbatch_orders = 1";

/// How long the orders take to arrive in the run with faults.
const ORDERS_OVER: Duration = Duration::from_secs(75);

/// A small network, one busy day, plenty of orders (as kafka_crash_sourcing).
fn workload() -> WorkloadConfig {
    WorkloadConfig {
        days: 1,
        stores: 12,
        skus: 300,
        pos_baskets_per_store_per_day: 200.0,
        orders_per_day: 3_000.0,
        ..WorkloadConfig::default()
    }
}

/// The workload's inventory and reference records (phase 1) and its orders (phase 2).
fn phases() -> (Vec<AnyRecord>, Vec<AnyRecord>) {
    let (mut inventory, mut orders) = (Vec::new(), Vec::new());
    for r in Workload::new(workload()).expect("workload") {
        match r {
            AnyRecord::Order(_) => orders.push(r),
            AnyRecord::OrderEvent(_) => {}
            _ => inventory.push(r),
        }
    }
    (inventory, orders)
}

/// What the run group reads and commits: the `bysku.` topics.
fn bysku(kafka: &KafkaConfig) -> KafkaConfig {
    KafkaConfig {
        topic_prefix: format!("{}bysku.", kafka.topic_prefix),
        ..kafka.clone()
    }
}

/// What the intake group reads and commits.
fn intake_group(kafka: &KafkaConfig) -> KafkaConfig {
    KafkaConfig {
        group_id: format!("{}.intake", kafka.group_id),
        ..kafka.clone()
    }
}

/// What the sourcing group reads and commits: the original orders and order events.
fn sourcing_group(kafka: &KafkaConfig) -> KafkaConfig {
    KafkaConfig {
        group_id: format!("{}.sourcing", kafka.group_id),
        ..kafka.clone()
    }
}

/// The event topics of phase 1 (every one but orders and order events).
fn inventory_topics() -> Vec<Topic> {
    Topic::inputs()
        .filter(|t| t.retention() != Retention::Compacted)
        .filter(|t| !matches!(t, Topic::Orders | Topic::OrderEvents))
        .collect()
}

/// The topic of the run group's supply records, which the sourcing stage mirrors: the
/// supply feed, `<prefix>allot.changelog.supply`.
fn supply_topic(kafka: &KafkaConfig) -> String {
    changelog_topic(kafka, "supply")
}

/// Whether `kafka.group_id` has committed the end of every partition of `topics` (empty
/// partitions count as read).
fn committed_all(kafka: &KafkaConfig, topics: &[Topic]) -> bool {
    common::committed_and_ends(kafka, topics)
        .into_iter()
        .all(|(_, _, committed, high)| high == 0 || committed == Some(high))
}

/// The high watermark of every partition of the Kafka topic `name` (empty if it does not
/// exist; -1 for a partition whose watermarks could not be read).
fn ends(kafka: &KafkaConfig, name: &str) -> Vec<i64> {
    use rdkafka::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let timeout = Duration::from_secs(10);
    // Not subscribed, no group: it only asks for metadata and watermarks.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &kafka.bootstrap_servers)
        .create()
        .expect("consumer");
    let Ok(metadata) = consumer.fetch_metadata(Some(name), timeout) else {
        return Vec::new();
    };
    let Some(topic) = metadata.topics().first().filter(|t| t.error().is_none()) else {
        return Vec::new();
    };
    topic
        .partitions()
        .iter()
        .map(|p| {
            consumer
                .fetch_watermarks(name, p.id(), timeout)
                .map_or(-1, |(_, high)| high)
        })
        .collect()
}

/// Polls `done` every 250 ms until it holds, at most `timeout`.
fn wait_until(
    what: &str,
    timeout: Duration,
    mut done: impl FnMut() -> bool,
    logs: impl Fn() -> String,
) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < timeout,
            "{what}: not within {timeout:?}; logs:\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Waits until the Kafka topic `name` exists, holds something, and its ends have not moved
/// for `quiet`.
fn wait_still(
    kafka: &KafkaConfig,
    name: &str,
    quiet: Duration,
    timeout: Duration,
    logs: impl Fn() -> String,
) {
    let start = Instant::now();
    let (mut last, mut since) = (ends(kafka, name), Instant::now());
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let now = ends(kafka, name);
        if now != last {
            (last, since) = (now, Instant::now());
        } else if last.iter().any(|h| *h > 0) && since.elapsed() >= quiet {
            return;
        }
        assert!(
            start.elapsed() < timeout,
            "{name} did not settle within {timeout:?} (ends {last:?}); logs:\n{}",
            logs()
        );
    }
}

/// Phase 1's end: the intake has split every inventory record, the run group applied and
/// published them (their supply included: committed in the same transaction), and the
/// supply and availability topics have been still for a while; then a few seconds more for
/// the sourcing stage's supply mirror, which follows the supply feed outside any group.
fn wait_inventory(kafka: &KafkaConfig, timeout: Duration, logs: impl Fn() -> String) {
    let inventory = inventory_topics();
    wait_until(
        "the inventory split and applied",
        timeout,
        || {
            committed_all(&intake_group(kafka), &inventory)
                && committed_all(&bysku(kafka), &inventory)
        },
        &logs,
    );
    let quiet = Duration::from_secs(3);
    wait_still(kafka, &supply_topic(kafka), quiet, timeout, &logs);
    let availability = kafka.topic_name(Topic::Availability);
    wait_still(kafka, &availability, quiet, timeout, &logs);
    std::thread::sleep(Duration::from_secs(5));
}

/// Phase 2's end: the sourcing group has committed every order, each run instance is ready
/// (its sku partitions restored), and availability, which follows the reservations, has been
/// still for 4 s.
fn wait_decided(kafka: &KafkaConfig, run: &[&Allot], timeout: Duration, logs: impl Fn() -> String) {
    wait_until(
        "every order decided",
        timeout,
        || committed_all(&sourcing_group(kafka), &[Topic::Orders, Topic::OrderEvents]),
        &logs,
    );
    wait_until(
        "the run instances ready",
        timeout,
        || run.iter().all(|a| held(a).is_some_and(|(ready, _)| ready)),
        &logs,
    );
    let availability = kafka.topic_name(Topic::Availability);
    wait_still(kafka, &availability, Duration::from_secs(4), timeout, &logs);
}

/// `/ready`: whether the instance is ready and how many input partitions it holds (`None`
/// from one that does not answer).
fn held(allot: &Allot) -> Option<(bool, u64)> {
    let (status, body) = allot.try_get("/ready").ok()?;
    let body: serde_json::Value = serde_json::from_str(&body).ok()?;
    Some((status == 200, body["partitions"].as_u64().unwrap_or(0)))
}

/// Orders the instance has applied in this life (0 from one that has just exited).
fn orders_applied(allot: &Allot) -> f64 {
    let body = allot
        .try_get("/metrics")
        .map(|(_, b)| b)
        .unwrap_or_default();
    body.lines()
        .filter(|l| l.starts_with("allot_records_applied_total{") && l.contains(".orders\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// One process of a run: its command (`intake`, `run`, `source`), name and config file.
struct Member {
    command: &'static str,
    name: String,
    config: PathBuf,
}

impl Member {
    /// Partitioned, sourcing on, its own state folder, snapshots every 700 ms, static
    /// membership under its name.
    fn new(dir: &Path, command: &'static str, name: &str) -> Member {
        let state = dir.join(format!("{name}-state"));
        let config = common::crash_config(
            dir,
            name,
            &format!(
                "sku_partitions = {SKU_PARTITIONS}\nstate_dir = \"{}\"\nsnapshot_interval_ms = 700\n",
                state.display()
            ),
            SOURCING,
        );
        Member {
            command,
            name: name.to_owned(),
            config,
        }
    }

    fn start(&self, kafka: &KafkaConfig) -> Allot {
        Allot::start_command(
            self.command,
            kafka,
            &self.name,
            &[("ALLOT_CONFIG", self.config.to_str().unwrap())],
        )
    }
}

fn stop(allot: Allot) {
    allot.signal("TERM");
    let (status, report) = allot.wait(Duration::from_secs(60));
    assert!(status.success(), "exit {status:?}\n{report}");
}

/// Topics of their own, each with one partition (the sourcing stage refuses orders and
/// order events with more).
async fn topics(test: &str) -> KafkaConfig {
    let kafka = testkit::kafka_config(test, 1);
    ensure_topics(&kafka, &Topic::ALL).await.expect("topics");
    for topic in [Topic::Orders, Topic::OrderEvents] {
        let name = kafka.topic_name(topic);
        let n = partition_count(&kafka, &name, Duration::from_secs(10)).expect("metadata");
        assert_eq!(n, 1, "{name} has {n} partitions");
    }
    kafka
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_and_sourcing_instances_killed_decide_each_order_once_as_one_fault_free_group() {
    let reference = topics("kafka_part_src_ref").await;
    let crashed = topics("kafka_part_src").await;
    let (inventory, orders) = phases();
    let lines: BTreeMap<String, Vec<String>> = orders
        .iter()
        .map(|r| match r {
            AnyRecord::Order(o) => (
                o.order_id.clone(),
                o.lines.iter().map(|l| l.line_id.clone()).collect(),
            ),
            _ => unreachable!(),
        })
        .collect();
    eprintln!(
        "{} inventory records, {} orders",
        inventory.len(),
        orders.len()
    );
    let dir = tempfile::tempdir().unwrap();
    let timeout = Duration::from_secs(300);

    // The fault-free run: the intake, one instance holding every sku partition and one
    // sourcing instance; the inventory to its end, then the orders.
    common::load(reference.clone(), inventory.clone(), 100, Duration::ZERO).await;
    let intake = Member::new(dir.path(), "intake", "ref-intake").start(&reference);
    let one = Member::new(dir.path(), "run", "ref").start(&reference);
    let src = Member::new(dir.path(), "source", "ref-src").start(&reference);
    let logs = || [intake.log(), one.log(), src.log()].concat().join("\n");
    wait_inventory(&reference, timeout, logs);
    let log = one.log();
    assert!(
        log.iter()
            .any(|l| l.contains(&format!("restored {SKU_PARTITIONS} sku partitions"))),
        "the one instance did not restore every sku partition:\n{}",
        log.join("\n")
    );
    common::load(reference.clone(), orders.clone(), 100, Duration::ZERO).await;
    wait_decided(&reference, &[&one], timeout, logs);
    stop(src);
    stop(one);
    stop(intake);
    let expected = common::decisions(&reference).await;
    let expected_availability = common::last_availability(&reference).await;
    assert_eq!(expected.len(), orders.len(), "one decision per order");
    assert!(
        expected_availability.len() > 100,
        "{} skus",
        expected_availability.len()
    );

    // The same inventory through instances a and b (run) and s1 and s2 (source), s1 first
    // so that it holds the orders and s2 is its standby.
    common::load(crashed.clone(), inventory, 100, Duration::ZERO).await;
    let intake_member = Member::new(dir.path(), "intake", "intake");
    let mut intake = intake_member.start(&crashed);
    let members = [
        Member::new(dir.path(), "run", "a"),
        Member::new(dir.path(), "run", "b"),
        Member::new(dir.path(), "source", "s1"),
        Member::new(dir.path(), "source", "s2"),
    ];
    let mut running: Vec<Option<Allot>> = vec![
        Some(members[0].start(&crashed)),
        Some(members[1].start(&crashed)),
        Some(members[2].start(&crashed)),
        None,
    ];
    wait_until(
        "s1 holding the orders",
        timeout,
        || held(running[2].as_ref().unwrap()).is_some_and(|(ready, n)| ready && n > 0),
        || running[2].as_ref().unwrap().log().join("\n"),
    );
    running[3] = Some(members[3].start(&crashed));
    let all_logs = |running: &[Option<Allot>], intake: &Allot| {
        running
            .iter()
            .flatten()
            .flat_map(Allot::log)
            .chain(intake.log())
            .collect::<Vec<_>>()
            .join("\n")
    };
    wait_inventory(&crashed, timeout, || all_logs(&running, &intake));
    assert!(
        held(running[2].as_ref().unwrap()).is_some_and(|(_, n)| n > 0),
        "s1 no longer holds the orders after s2 joined"
    );

    // The orders arrive over 75 s while a run instance (even kills) or a sourcing instance
    // (odd kills: mostly the deciding one, every third the standby) is killed and restarted.
    let (kills, mut seed) = common::kill_plan("ALLOT_CRASH_PARTITIONED_SOURCING_KILLS", 20);
    let loader = tokio::spawn(common::load(crashed.clone(), orders, 25, ORDERS_OVER));
    let (mut run_kills, mut run_ready, mut restores, mut from_snapshot) = (0, 0, 0, 0);
    let (mut source_kills, mut deciding_kills, mut deciding, mut standby_kills) = (0, 0, 0, 0);
    let (mut takeovers, mut stopped_by_broker) = (0, 0);
    for k in 0..kills {
        if k == kills / 2 {
            eprintln!("the broker restarts");
            testkit::restart_kafka();
        }
        // A process that stopped by itself (a transaction failed while the broker was away)
        // is started again; any other exit is a failure.
        for (i, slot) in running.iter_mut().enumerate() {
            if slot.as_mut().is_some_and(|a| !a.running()) {
                let (status, report) = slot.take().unwrap().wait(Duration::from_secs(10));
                assert!(
                    k >= kills / 2,
                    "instance {} exited by itself: {status:?}\n{report}",
                    members[i].name
                );
                stopped_by_broker += 1;
                *slot = Some(members[i].start(&crashed));
            }
        }
        if !intake.running() {
            let (status, report) = intake.wait(Duration::from_secs(10));
            assert!(
                k >= kills / 2,
                "the intake exited by itself: {status:?}\n{report}"
            );
            stopped_by_broker += 1;
            intake = intake_member.start(&crashed);
        }
        let sourcing_kill = k % 2 == 1;
        // The sourcing instance that holds the orders now, if any.
        let active = (2..4).find(|i| {
            running[*i]
                .as_ref()
                .and_then(held)
                .is_some_and(|(_, n)| n > 0)
        });
        let victim = if sourcing_kill {
            source_kills += 1;
            match active {
                Some(a) if source_kills % 3 != 0 => a,
                Some(a) => 5 - a,
                None => 2 + (common::splitmix(&mut seed) % 2) as usize,
            }
        } else {
            run_kills += 1;
            (common::splitmix(&mut seed) % 2) as usize
        };
        let decides = active == Some(victim);
        {
            let allot = running[victim].as_mut().unwrap();
            let t = Instant::now();
            let limit = Duration::from_secs(20);
            if decides {
                // Once it decides orders in this life (while there are orders to decide).
                while allot.running()
                    && orders_applied(allot) < 1.0
                    && !loader.is_finished()
                    && t.elapsed() < limit
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
            } else if !sourcing_kill && run_kills % 3 != 0 {
                // A run instance mostly once it is ready (its sku partitions restored); every
                // third at a random moment of its start-up.
                while allot.running()
                    && !held(allot).is_some_and(|(ready, _)| ready)
                    && t.elapsed() < limit
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(common::splitmix(&mut seed) % 1_500));
        let mut allot = running[victim].take().unwrap();
        if !allot.running() {
            // (stopped by itself since: picked up at the next round)
            running[victim] = Some(allot);
            continue;
        }
        let orders_arriving = !loader.is_finished();
        if decides {
            deciding_kills += usize::from(orders_arriving);
            deciding += usize::from(orders_arriving && orders_applied(&allot) >= 1.0);
        } else if sourcing_kill {
            standby_kills += 1;
        } else {
            run_ready += usize::from(held(&allot).is_some_and(|(ready, _)| ready));
            let log = allot.log();
            for line in log.iter().filter(|l| l.contains("restored sku partition")) {
                restores += 1;
                from_snapshot += usize::from(line.contains("from a snapshot"));
            }
            assert!(
                !log.iter()
                    .any(|l| l.contains("does not continue the snapshot")
                        || l.contains("covers changelog partitions")),
                "kill {k}: a snapshot was refused:\n{}",
                log.join("\n")
            );
        }
        allot.signal("KILL");
        let (status, _) = allot.wait(Duration::from_secs(10));
        assert!(!status.success(), "kill {k}: exited by itself: {status:?}");
        eprintln!(
            "kill {k}: instance {}{}",
            members[victim].name,
            if decides { " (deciding)" } else { "" }
        );
        if decides && takeovers == 0 {
            // The first time, the deciding instance stays down until its session expires
            // and the standby holds the orders.
            let standby = 5 - victim;
            if let Some(other) = running[standby].as_ref() {
                let t = Instant::now();
                wait_until(
                    "the standby taking the orders over",
                    Duration::from_secs(90),
                    || held(other).is_some_and(|(ready, n)| ready && n > 0),
                    || other.log().join("\n"),
                );
                takeovers += 1;
                eprintln!(
                    "instance {} took the orders over after {:.1?}",
                    members[standby].name,
                    t.elapsed()
                );
            }
        }
        running[victim] = Some(members[victim].start(&crashed));
    }
    loader.await.expect("the loader");
    // (once more: a process may have stopped on the broker restart since the last round)
    for (i, slot) in running.iter_mut().enumerate() {
        if slot.as_mut().is_some_and(|a| !a.running()) {
            let (status, _) = slot.take().unwrap().wait(Duration::from_secs(10));
            eprintln!(
                "instance {} had stopped by itself: {status:?}",
                members[i].name
            );
            stopped_by_broker += 1;
            *slot = Some(members[i].start(&crashed));
        }
    }
    if !intake.running() {
        let (status, _) = intake.wait(Duration::from_secs(10));
        eprintln!("the intake had stopped by itself: {status:?}");
        stopped_by_broker += 1;
        intake = intake_member.start(&crashed);
    }
    eprintln!(
        "{kills} kills: {run_kills} of run instances ({run_ready} ready; {restores} partition \
         restores, {from_snapshot} from a snapshot), {source_kills} of sourcing instances \
         ({deciding_kills} of the deciding one while orders arrived, {deciding} of them once it \
         had decided in that life; {standby_kills} of the standby; {takeovers} takeover by the \
         standby); \
         {stopped_by_broker} processes stopped by themselves after the broker restart"
    );
    assert!(
        run_ready * 2 >= run_kills,
        "only {run_ready} of {run_kills} run instance kills once ready"
    );
    assert!(
        deciding_kills > 0 && deciding * 2 > deciding_kills,
        "only {deciding} of {deciding_kills} kills of the deciding instance while deciding"
    );
    assert_eq!(takeovers, 1, "the standby never took the orders over");
    let run: Vec<&Allot> = running[..2].iter().flatten().collect();
    wait_decided(&crashed, &run, timeout, || all_logs(&running, &intake));
    for allot in running.into_iter().flatten() {
        stop(allot);
    }
    stop(intake);

    let got = common::decisions(&crashed).await;
    common::assert_decided_once_as(&got, &lines, &expected, kills);
    let got_availability = common::last_availability(&crashed).await;
    common::assert_same_availability(
        &expected_availability,
        &got_availability,
        &format!("{kills} kills"),
    );
    let outcomes = got
        .values()
        .flat_map(|d| d[0].lines.iter().map(|l| format!("{:?}", l.outcome)))
        .fold(BTreeMap::<String, usize>::new(), |mut m, o| {
            *m.entry(o).or_default() += 1;
            m
        });
    eprintln!(
        "{} orders decided once each; line outcomes {outcomes:?}",
        got.len()
    );
}
