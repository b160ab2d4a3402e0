//! Crash recovery through the real broker: a generated workload runs through `allot run`
//! in exactly-once mode while the instance is killed with SIGKILL at random moments (at
//! least 20 times) and restarted; each restart restores the engine from its changelog and
//! carries on from the last committed transaction. At the end the availability topic's
//! final value per sku equals that of a fault-free run over the same input.
//!
//! Half-way the broker itself is restarted under the running instance.
//!
//! One instance (static group membership, so a restart takes its partitions back at once),
//! sourcing off. The crashed instance writes a local snapshot every 700 ms, so most restarts
//! restore a snapshot and then the changelog after it, some killed mid-write.
//!
//! Needs Kafka (started through deploy/local/kafka.sh; `KAFKA_BOOTSTRAP` for another one).
//! `ALLOT_CRASH_KILLS` sets the number of kills (default 20).

mod common;

use std::time::{Duration, Instant};

use allot_connectors::kafka::{KafkaConfig, ensure_topics};
use allot_connectors::testkit;
use allot_loadtest::{Workload, WorkloadConfig};
use allot_schemas::*;
use common::Allot;

/// A small network, one busy day: a few tens of thousands of records.
fn workload() -> WorkloadConfig {
    WorkloadConfig {
        days: 1,
        stores: 12,
        skus: 300,
        pos_baskets_per_store_per_day: 400.0,
        orders_per_day: 2_000.0,
        ..WorkloadConfig::default()
    }
}

/// Loads the generated workload over `over`; returns how many records it holds.
async fn load(kafka: KafkaConfig, over: Duration) -> u64 {
    let records: Vec<AnyRecord> = Workload::new(workload()).expect("workload").collect();
    let n = records.len() as u64;
    common::load(kafka, records, 250, over).await;
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_twenty_times_the_final_availability_equals_a_fault_free_run() {
    // One partition per topic, so each topic is read in the same order by both runs.
    let reference = testkit::kafka_config("kafka_crash_ref", 1);
    let crashed = testkit::kafka_config("kafka_crash", 1);
    ensure_topics(&reference, &Topic::ALL)
        .await
        .expect("topics");
    ensure_topics(&crashed, &Topic::ALL).await.expect("topics");
    let n = load(reference.clone(), Duration::ZERO).await;
    eprintln!("{n} records");
    let dir = tempfile::tempdir().unwrap();

    // The fault-free run.
    common::run_to_the_end(
        &reference,
        &common::crash_config(dir.path(), "ref", "", "enabled = false"),
        Duration::from_secs(300),
    );
    let expected = common::last_availability(&reference).await;
    assert!(expected.len() > 100, "{} skus", expected.len());

    // The same input, arriving over 40 s while the instance is killed and restarted.
    let (kills, mut seed) = common::kill_plan("ALLOT_CRASH_KILLS", 20);
    let loader = tokio::spawn(load(crashed.clone(), Duration::from_secs(40)));
    // Local snapshots every 700 ms, so kills land before, during and after their writes and
    // restores start from a snapshot and the changelog after it.
    let state = dir.path().join("crash-state");
    let config = common::crash_config(
        dir.path(),
        "crash",
        &format!(
            "state_dir = \"{}\"\nsnapshot_interval_ms = 700\n",
            state.display()
        ),
        "enabled = false",
    );
    let (mut restored, mut from_snapshot, mut mid_run) = (0, 0, 0);
    let mut broker_restarted = false;
    for k in 0..kills {
        let mut allot = Allot::start(
            &crashed,
            "allot-crash",
            &[("ALLOT_CONFIG", config.to_str().unwrap())],
        );
        // Half-way, the broker itself restarts under the running instance (and the loader):
        // the instance either rides it out or stops on a failed transaction; either way it
        // is killed or gone before the next start.
        if k == kills / 2 {
            let t = Instant::now();
            while common::events_applied(&allot) < 1.0 && t.elapsed() < Duration::from_secs(20) {
                std::thread::sleep(Duration::from_millis(20));
            }
            testkit::restart_kafka();
            broker_restarted = true;
            std::thread::sleep(Duration::from_millis(common::splitmix(&mut seed) % 3_000));
            if allot.running() {
                allot.signal("KILL");
            }
            let (status, _) = allot.wait(Duration::from_secs(30));
            eprintln!("broker restarted under instance {k}; it ended with {status:?}");
            continue;
        }
        // Mostly while it processes (once it has applied a record in this life), at a
        // random moment of the next 1.5 s; every fourth kill at a random moment of its
        // start-up (restoring, joining the group).
        if k % 4 != 3 {
            let t = Instant::now();
            while common::events_applied(&allot) < 1.0 && t.elapsed() < Duration::from_secs(20) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        std::thread::sleep(Duration::from_millis(common::splitmix(&mut seed) % 1_500));
        let log = allot.log();
        let restores = log
            .iter()
            .filter(|l| l.contains("allot: restored ") && l.contains(" positions from "));
        for line in restores {
            restored += 1;
            from_snapshot += usize::from(line.contains("from a snapshot"));
            assert!(
                !log.iter().any(|l| l.contains("not using the snapshot")
                    || l.contains("does not continue the snapshot")),
                "kill {k}: a snapshot was refused:\n{}",
                log.join("\n")
            );
        }
        mid_run += usize::from(common::events_applied(&allot) >= 1.0);
        allot.signal("KILL");
        let (status, _) = allot.wait(Duration::from_secs(10));
        assert!(!status.success(), "kill {k}: exited by itself: {status:?}");
    }
    eprintln!(
        "{kills} kills, {mid_run} after records were applied, {restored} restores, \
         {from_snapshot} from a snapshot"
    );
    assert!(broker_restarted || kills < 2);
    assert!(
        restored > kills as usize / 2,
        "{restored} restores in {kills} starts"
    );
    assert!(
        from_snapshot > kills as usize / 4,
        "{from_snapshot} of {restored} restores from a snapshot"
    );
    assert!(
        mid_run > kills as usize / 2,
        "only {mid_run} of {kills} kills while processing"
    );
    assert_eq!(loader.await.expect("the loader"), n);
    // The last start finds its snapshot damaged: it says so and restores from the whole
    // changelog instead.
    let snapshots: Vec<_> = std::fs::read_dir(&state)
        .expect("the state folder")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "snap"))
        .collect();
    assert_eq!(snapshots.len(), 1, "{snapshots:?}");
    let mut bytes = std::fs::read(&snapshots[0]).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&snapshots[0], bytes).unwrap();
    let log = common::run_to_the_end(&crashed, &config, Duration::from_secs(300));
    assert!(
        log.iter()
            .any(|l| l.contains("not using the snapshot") && l.contains("checksum")),
        "the damaged snapshot was not reported:\n{}",
        log.join("\n")
    );
    let got = common::last_availability(&crashed).await;

    common::assert_same_availability(&expected, &got, &format!("{kills} kills"));
}
