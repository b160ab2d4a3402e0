//! Crash recovery with sourcing on, through the real broker: orders arrive while `allot run`
//! (exactly once) is killed with SIGKILL at random moments and restarted. At the end every
//! order has exactly one decision in the committed decisions topic, with one outcome per
//! line, and the decisions and the final availability (reservations included) equal those of
//! a fault-free run over the same input.
//!
//! A decision depends on the supply the order meets, so both runs must read the same
//! sequence: the inventory (everything but orders) is read to its end first, and then the
//! orders, from one partition, decided one at a time (`batch_orders = 1`, so the batches do
//! not depend on when flushes happen). Order events are left out (a cancellation's effect
//! would depend on how the two topics interleave).
//!
//! Needs Kafka (started through deploy/local/kafka.sh; `KAFKA_BOOTSTRAP` for another one).
//! `ALLOT_CRASH_SOURCING_KILLS` sets the number of kills (default 12).

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use allot_connectors::kafka::{KafkaConfig, ensure_topics};
use allot_connectors::testkit;
use allot_loadtest::{Workload, WorkloadConfig};
use allot_schemas::*;
use common::Allot;

/// A small network, one busy day, plenty of orders.
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

const SOURCING: &str = "enabled = true\nbatch_orders = 1";

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

/// Orders the instance has applied in this life.
fn orders_applied(allot: &Allot) -> f64 {
    let (_, body) = allot.get("/metrics");
    body.lines()
        .filter(|l| l.starts_with("allot_records_applied_total{") && l.contains(".orders\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The final availability per sku, the fields that depend on how topics interleave cleared
/// (as in kafka_crash).
async fn availability(kafka: &KafkaConfig) -> BTreeMap<String, Availability> {
    let mut last = common::last_availability(kafka).await;
    for a in last.values_mut() {
        a.version = 0;
        a.event_id.clear();
        a.event_time = 0;
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_while_sourcing_each_order_is_decided_once_as_in_a_fault_free_run() {
    let reference = testkit::kafka_config("kafka_crash_src_ref", 1);
    let crashed = testkit::kafka_config("kafka_crash_src", 1);
    for kafka in [&reference, &crashed] {
        ensure_topics(kafka, &Topic::ALL).await.expect("topics");
    }
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

    // The fault-free run: the inventory to its end, then the orders.
    let config = common::crash_config(dir.path(), "ref", "", SOURCING);
    common::load(reference.clone(), inventory.clone(), 100, Duration::ZERO).await;
    common::run_to_the_end(&reference, &config, timeout);
    common::load(reference.clone(), orders.clone(), 100, Duration::ZERO).await;
    common::run_to_the_end(&reference, &config, timeout);
    let expected = common::decisions(&reference).await;
    let expected_availability = availability(&reference).await;
    assert_eq!(expected.len(), orders.len(), "one decision per order");

    // The same inventory; then the orders arrive over 25 s while the instance is killed.
    let config = common::crash_config(
        dir.path(),
        "crash",
        &format!(
            "state_dir = \"{}\"\nsnapshot_interval_ms = 700\n",
            dir.path().join("crash-state").display()
        ),
        SOURCING,
    );
    common::load(crashed.clone(), inventory, 100, Duration::ZERO).await;
    common::run_to_the_end(&crashed, &config, timeout);
    let loader = tokio::spawn(common::load(
        crashed.clone(),
        orders,
        100,
        Duration::from_secs(25),
    ));
    let (kills, mut seed) = common::kill_plan("ALLOT_CRASH_SOURCING_KILLS", 12);
    let mut mid_run = 0;
    for k in 0..kills {
        let allot = Allot::start(
            &crashed,
            "allot-crash",
            &[("ALLOT_CONFIG", config.to_str().unwrap())],
        );
        // Once it decides orders in this life, at a random moment of the next 1.5 s.
        let t = Instant::now();
        while orders_applied(&allot) < 1.0 && t.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(common::splitmix(&mut seed) % 1_500));
        mid_run += usize::from(orders_applied(&allot) >= 1.0);
        allot.signal("KILL");
        let (status, _) = allot.wait(Duration::from_secs(10));
        assert!(!status.success(), "kill {k}: exited by itself: {status:?}");
    }
    eprintln!("{kills} kills, {mid_run} while deciding orders");
    assert!(
        mid_run > kills as usize / 2,
        "only {mid_run} of {kills} kills while deciding"
    );
    loader.await.expect("the loader");
    common::run_to_the_end(&crashed, &config, timeout);

    let got = common::decisions(&crashed).await;
    common::assert_decided_once_as(&got, &lines, &expected, kills);
    let got_availability = availability(&crashed).await;
    assert_eq!(
        got_availability.keys().collect::<Vec<_>>(),
        expected_availability.keys().collect::<Vec<_>>()
    );
    let differ: Vec<&String> = expected_availability
        .keys()
        .filter(|sku| got_availability[*sku] != expected_availability[*sku])
        .collect();
    assert!(
        differ.is_empty(),
        "{} skus' availability differs, e.g. {:?}",
        differ.len(),
        differ.first()
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
