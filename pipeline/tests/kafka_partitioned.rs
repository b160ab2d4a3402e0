//! Partitioned state through the real broker: `allot intake` splits the inputs by sku into
//! 4 co-partitioned `bysku.` topics, and a group of `allot run` instances (one engine per
//! sku partition held, each restored from its changelog partition and snapshot when
//! assigned) processes them while a random instance is killed with SIGKILL at random
//! moments (20 times by default) and restarted, and a third instance joins mid-run and
//! later stops, so partitions move between instances. At the end the availability topic's
//! final value per sku equals that of a fault-free run of one instance over the same input.
//!
//! Half-way the broker itself is restarted under the running instances (and the intake);
//! an instance that stops on a failed transaction is started again.
//!
//! Exactly once, static membership (a restarted instance takes its partitions back without
//! a rebalance), snapshots every 700 ms. The intake is not killed here (it is at least
//! once; its repeats are dropped as duplicates, which `kafka_crash` style byte equality
//! would not tell apart anyway).
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

const SKU_PARTITIONS: u32 = 4;

/// A small network, one busy day.
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

/// Waits until the intake has committed every input and the run group every part.
fn wait_caught_up(kafka: &KafkaConfig, timeout: Duration, logs: impl Fn() -> String) {
    let start = Instant::now();
    while !(common::caught_up(&intake_group(kafka)) && common::caught_up(&bysku(kafka))) {
        assert!(
            start.elapsed() < timeout,
            "not caught up within {timeout:?}; logs:\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn start_intake(kafka: &KafkaConfig, config: &std::path::Path) -> Allot {
    Allot::start_command(
        "intake",
        kafka,
        "intake",
        &[("ALLOT_CONFIG", config.to_str().unwrap())],
    )
}

/// An instance's config: partitioned, its own state folder, snapshots every 700 ms.
fn member_config(dir: &std::path::Path, member: &str) -> std::path::PathBuf {
    let state = dir.join(format!("{member}-state"));
    common::crash_config(
        dir,
        member,
        &format!(
            "sku_partitions = {SKU_PARTITIONS}\nstate_dir = \"{}\"\nsnapshot_interval_ms = 700\n",
            state.display()
        ),
        "enabled = false",
    )
}

fn stop(allot: Allot) {
    allot.signal("TERM");
    let (status, report) = allot.wait(Duration::from_secs(60));
    assert!(status.success(), "exit {status:?}\n{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_and_three_instances_killed_twenty_times_equal_one_fault_free_instance() {
    // One partition per input topic, so the intake writes each topic's parts in the same
    // order in both runs.
    let reference = testkit::kafka_config("kafka_part_ref", 1);
    let crashed = testkit::kafka_config("kafka_part", 1);
    ensure_topics(&reference, &Topic::ALL)
        .await
        .expect("topics");
    ensure_topics(&crashed, &Topic::ALL).await.expect("topics");
    let records: Vec<AnyRecord> = Workload::new(workload()).expect("workload").collect();
    let n = records.len();
    common::load(reference.clone(), records.clone(), 250, Duration::ZERO).await;
    eprintln!("{n} records");
    let dir = tempfile::tempdir().unwrap();

    // The fault-free run: the intake and one instance holding every sku partition.
    let config = member_config(dir.path(), "ref");
    let intake = start_intake(&reference, &config);
    let one = Allot::start(
        &reference,
        "ref",
        &[("ALLOT_CONFIG", config.to_str().unwrap())],
    );
    wait_caught_up(&reference, Duration::from_secs(300), || {
        [intake.log(), one.log()].concat().join("\n")
    });
    let log = one.log();
    assert!(
        log.iter()
            .any(|l| l.contains(&format!("restored {SKU_PARTITIONS} sku partitions"))),
        "the one instance did not restore every sku partition:\n{}",
        log.join("\n")
    );
    stop(one);
    stop(intake);
    let expected = common::last_availability(&reference).await;
    assert!(expected.len() > 100, "{} skus", expected.len());

    // The same input arriving over 40 s, through instances a and b (c joins for a while),
    // a random one killed and restarted every moment.
    let (kills, mut seed) = common::kill_plan("ALLOT_CRASH_KILLS", 20);
    let loader = tokio::spawn(common::load(
        crashed.clone(),
        records,
        250,
        Duration::from_secs(40),
    ));
    let intake = start_intake(&crashed, &member_config(dir.path(), "intake"));
    let members = ["a", "b", "c"];
    let configs: Vec<_> = members
        .iter()
        .map(|m| member_config(dir.path(), m))
        .collect();
    let start = |i: usize| {
        Allot::start(
            &crashed,
            members[i],
            &[("ALLOT_CONFIG", configs[i].to_str().unwrap())],
        )
    };
    let mut running: Vec<Option<Allot>> = vec![Some(start(0)), Some(start(1)), None];
    let (mut mid_run, mut restores, mut from_snapshot, mut stopped_by_broker) = (0, 0, 0, 0);
    let mut intake = intake;
    for k in 0..kills {
        if k == kills / 2 {
            eprintln!("the broker restarts");
            testkit::restart_kafka();
        }
        // An instance (or the intake) that stopped by itself (a transaction failed while the
        // broker was away) is started again; any other exit is a failure.
        for (i, slot) in running.iter_mut().enumerate() {
            if slot.as_mut().is_some_and(|a| !a.running()) {
                let (status, report) = slot.take().unwrap().wait(Duration::from_secs(10));
                assert!(
                    k >= kills / 2,
                    "instance {} exited by itself: {status:?}\n{report}",
                    members[i]
                );
                stopped_by_broker += 1;
                *slot = Some(start(i));
            }
        }
        if !intake.running() {
            let (status, report) = intake.wait(Duration::from_secs(10));
            assert!(
                k >= kills / 2,
                "the intake exited by itself: {status:?}\n{report}"
            );
            stopped_by_broker += 1;
            intake = start_intake(&crashed, &member_config(dir.path(), "intake"));
        }
        if k == kills / 3 {
            eprintln!("instance c joins");
            running[2] = Some(start(2));
        }
        if k == 2 * kills / 3
            && let Some(c) = running[2].take()
        {
            eprintln!("instance c stops");
            stop(c);
        }
        let alive: Vec<usize> = (0..3).filter(|i| running[*i].is_some()).collect();
        let victim = alive[(common::splitmix(&mut seed) % alive.len() as u64) as usize];
        // Mostly once it has applied a record in this life; every fourth kill at a random
        // moment of its start-up (restoring, joining the group).
        {
            let allot = running[victim].as_mut().unwrap();
            if k % 4 != 3 {
                let t = Instant::now();
                while allot.running()
                    && common::events_applied(allot) < 1.0
                    && t.elapsed() < Duration::from_secs(20)
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
        mid_run += usize::from(common::events_applied(&allot) >= 1.0);
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
        allot.signal("KILL");
        let (status, _) = allot.wait(Duration::from_secs(10));
        assert!(!status.success(), "kill {k}: exited by itself: {status:?}");
        eprintln!("kill {k}: instance {}", members[victim]);
        running[victim] = Some(start(victim));
    }
    loader.await.expect("the loader");
    eprintln!(
        "{kills} kills, {mid_run} after records were applied, {restores} partition restores, \
         {from_snapshot} from a snapshot; {stopped_by_broker} processes stopped by themselves \
         after the broker restart"
    );
    // Three kills in four wait (up to 20 s) for the victim to apply a record in this life;
    // late in the run, with the load all read, a fresh instance may have none left to apply.
    // Half the kills mid-processing is the coverage this test needs.
    assert!(
        2 * mid_run >= kills as usize,
        "only {mid_run} of {kills} kills while processing"
    );
    assert!(
        restores >= kills as usize,
        "{restores} partition restores in {kills} kills"
    );
    assert!(
        from_snapshot > 0,
        "no restore of {restores} from a snapshot"
    );
    wait_caught_up(&crashed, Duration::from_secs(300), || {
        running
            .iter()
            .flatten()
            .flat_map(Allot::log)
            .chain(intake.log())
            .collect::<Vec<_>>()
            .join("\n")
    });
    for allot in running.into_iter().flatten() {
        stop(allot);
    }
    stop(intake);
    let got = common::last_availability(&crashed).await;
    common::assert_same_availability(&expected, &got, &format!("{kills} kills"));
}
