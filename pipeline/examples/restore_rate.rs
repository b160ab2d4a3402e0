//! Measures how fast the availability engine restores its state: from changelog records in
//! memory, and from a local snapshot file.
//!
//! `cargo run --release -p allot-pipeline --example restore_rate -- 1000000 5000000 20000000`
//!
//! For each key count N it builds an engine with N (sku, location) positions (a cycle count
//! per key over 1,000 locations by default, one second apart, and a sale after the count on every
//! fourth key, so a quarter of the positions carry a pending delta), writes its changelog
//! (`changelog_dirty`), then `RESTORE_RUNS` times (default 3) restores a fresh engine
//! (a) from those records in memory and (b) from a snapshot file written from them, each
//! followed by `restore_finish`, and prints keys restored per second and bytes per key. The
//! snapshot goes to `RESTORE_DIR` (default the system temporary directory) and is deleted.
//!
//! (a) runs in this process, so the restored engine reuses memory the previous one freed;
//! (b) runs in a fresh process (this example re-run with `RESTORE_SNAPSHOT` set), which
//! pays for faulting in new memory as an instance restoring on assignment does.
//!
//! With `RESTORE_KAFKA` set to a bootstrap address (`deploy/local/kafka.sh start` runs one at
//! 127.0.0.1:9092), it also writes the records to a changelog topic of their own (4
//! partitions) and (c) restores a fresh engine from that topic through the broker with
//! `read_changelog`, the path `allot run` takes at start, `RESTORE_RUNS` times.
//!
//! `RESTORE_LOCATIONS` (default 1,000) sets the locations per sku. With `RESTORE_WINDOW=1`
//! all events fall inside one hour under the default 24 h window, so every event id (1.25
//! per key) is in the dedupe window and in the changelog too: the worst case.

use std::time::Instant;

use allot_connectors::ConnectorMetrics;
use allot_connectors::kafka::{
    KafkaConfig, KafkaSink, changelog_topic, ensure_changelog, read_changelog,
};
use allot_pipeline::availability::{AvailabilityConfig, AvailabilityEngine, ChangelogBatch};
use allot_pipeline::snapshot;
use allot_schemas::{
    AdjustmentKind, AnyRecord, InventoryAdjustment, PosLine, PosLineKind, PosTransaction,
};

const T0: i64 = 1_767_225_600_000;

/// Whether every event stays in the dedupe window (`RESTORE_WINDOW=1`).
fn windowed() -> bool {
    std::env::var("RESTORE_WINDOW").is_ok_and(|w| w == "1")
}

fn config() -> AvailabilityConfig {
    AvailabilityConfig {
        max_lateness_ms: if windowed() { 24 * 3_600_000 } else { 60_000 },
        ..AvailabilityConfig::default()
    }
}

fn build(n: u64, locations: u64) -> AvailabilityEngine {
    let mut engine = AvailabilityEngine::new(config());
    let windowed = windowed();
    let mut count = AnyRecord::Adjustment(InventoryAdjustment {
        event_id: String::new(),
        event_time: 0,
        source: "bench".into(),
        location_id: String::new(),
        sku: String::new(),
        kind: AdjustmentKind::CycleCount,
        quantity: 0,
        reason: None,
    });
    let mut sale = AnyRecord::PosSale(PosTransaction {
        event_id: String::new(),
        event_time: 0,
        source: "bench".into(),
        store_id: String::new(),
        register_id: "r1".into(),
        transaction_id: String::new(),
        lines: vec![PosLine {
            sku: String::new(),
            quantity: 1,
            kind: PosLineKind::Sale,
            unit_price_cents: 100,
        }],
        currency: "EUR".into(),
    });
    for i in 0..n {
        use std::fmt::Write;
        let (sku, loc) = (i / locations, i % locations);
        let t = if windowed {
            T0 + (i * 3_600_000 / n) as i64
        } else {
            T0 + i as i64 * 1_000
        };
        if let AnyRecord::Adjustment(a) = &mut count {
            a.event_id.clear();
            let _ = write!(a.event_id, "count-{i}");
            a.event_time = t;
            a.location_id.clear();
            let _ = write!(a.location_id, "loc-{loc:04}");
            a.sku.clear();
            let _ = write!(a.sku, "sku-{sku:08}");
            a.quantity = (i % 50) as i32 + 1;
        }
        engine.apply(&count);
        if i % 4 == 0
            && let AnyRecord::PosSale(s) = &mut sale
        {
            s.event_id.clear();
            let _ = write!(s.event_id, "sale-{i}");
            s.event_time = t + 1;
            s.store_id.clear();
            let _ = write!(s.store_id, "loc-{loc:04}");
            s.lines[0].sku.clear();
            let _ = write!(s.lines[0].sku, "sku-{sku:08}");
            engine.apply(&sale);
        }
        if i > 0 && i % 5_000_000 == 0 {
            eprintln!("  {i} keys...");
        }
    }
    engine
}

/// (c): writes `log` to a fresh changelog topic on the broker at `bootstrap`; returns its
/// config, its name and the seconds the write took.
fn to_broker(bootstrap: &str, log: &ChangelogBatch) -> (KafkaConfig, String, f64) {
    let config = KafkaConfig {
        bootstrap_servers: bootstrap.into(),
        topic_prefix: format!("restore-rate-{}-{}.", std::process::id(), log.len()),
        group_id: "restore-rate".into(),
        partitions: 4,
        ..KafkaConfig::default()
    };
    let topic = changelog_topic(&config, "availability");
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let started = Instant::now();
    runtime.block_on(async {
        ensure_changelog(&config, &topic)
            .await
            .expect("create the changelog topic");
        let sink = KafkaSink::new(&config, ConnectorMetrics::unregistered()).expect("a producer");
        let name: std::sync::Arc<str> = topic.as_str().into();
        let mut pending = std::collections::VecDeque::new();
        for (key, value) in log.iter() {
            loop {
                match sink.enqueue_raw(&name, key, value) {
                    Ok(d) => break pending.push_back(d),
                    Err(_) if !pending.is_empty() => {
                        for _ in 0..pending.len() / 2 + 1 {
                            pending
                                .pop_front()
                                .expect("pending")
                                .await
                                .expect("delivered");
                        }
                    }
                    Err(e) => panic!("cannot write the changelog: {e}"),
                }
            }
        }
        for d in pending {
            d.await.expect("delivered");
        }
    });
    (config, topic, started.elapsed().as_secs_f64())
}

/// (c): restores a fresh engine from `topic`; returns the seconds and the engine.
fn from_broker(config: &KafkaConfig, topic: &str) -> (f64, AvailabilityEngine) {
    let started = Instant::now();
    let mut engine = AvailabilityEngine::new(self::config());
    read_changelog(
        config,
        topic,
        &Default::default(),
        std::time::Duration::from_secs(600),
        |key, value| engine.restore(key, value).map_err(|e| e.to_string()),
    )
    .expect("read the changelog");
    engine.restore_finish();
    (started.elapsed().as_secs_f64(), engine)
}

/// The child process of (b): restores the snapshot at `path` and prints the seconds taken
/// and the positions restored.
fn restore_child(path: &std::path::Path) {
    let started = Instant::now();
    let mut engine = AvailabilityEngine::new(config());
    snapshot::restore(path, &mut engine).expect("restore the snapshot");
    engine.restore_finish();
    println!("{} {}", started.elapsed().as_secs_f64(), engine.positions());
}

fn main() {
    if let Some(path) = std::env::var_os("RESTORE_SNAPSHOT") {
        restore_child(path.as_ref());
        return;
    }
    let sizes: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.replace('_', "").parse().expect("key counts are integers"))
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1_000_000]
    } else {
        sizes
    };
    let runs: usize = std::env::var("RESTORE_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let locations: u64 = std::env::var("RESTORE_LOCATIONS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1_000);
    let dir = std::env::var_os("RESTORE_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    println!(
        "{:>11} {:>8} {:>9} {:>9} {:>8} {:>13} {:>8} {:>13}",
        "keys",
        "build s",
        "encode s",
        "log B/key",
        "records",
        "memory keys/s",
        "snap s",
        "file keys/s"
    );
    for n in sizes {
        let started = Instant::now();
        let mut original = build(n, locations);
        let built = started.elapsed().as_secs_f64();
        assert_eq!(original.positions() as u64, n, "every key is a position");
        let started = Instant::now();
        let mut log = ChangelogBatch::default();
        original.changelog_dirty(&mut log);
        let encoded = started.elapsed().as_secs_f64();
        let expected = original.state_size();
        drop(original);
        let path = dir.join(format!("allot-restore-rate-{}.snap", std::process::id()));
        let started = Instant::now();
        snapshot::write(&path, &[(0, log.len() as i64)].into_iter().collect(), &log)
            .expect("write the snapshot");
        let snap_secs = started.elapsed().as_secs_f64();
        let file_bytes = std::fs::metadata(&path).expect("snapshot written").len();
        for run in 0..runs {
            let started = Instant::now();
            let mut engine = AvailabilityEngine::new(config());
            for (key, value) in log.iter() {
                engine.restore(key, value).expect("restore");
            }
            engine.restore_finish();
            let memory = started.elapsed().as_secs_f64();
            assert_eq!(engine.state_size().positions, expected.positions);
            assert_eq!(engine.state_size().skus, expected.skus);
            drop(engine);
            let child = std::process::Command::new(std::env::current_exe().expect("own path"))
                .env("RESTORE_SNAPSHOT", &path)
                .output()
                .expect("re-run self");
            assert!(child.status.success(), "{child:?}");
            let child = String::from_utf8(child.stdout).expect("text");
            let (file, positions) = child.trim().split_once(' ').expect("seconds positions");
            let file: f64 = file.parse().expect("seconds");
            assert_eq!(positions, expected.positions.to_string());
            println!(
                "{n:>11} {built:>8.1} {encoded:>9.2} {:>9.1} {:>8} {:>13.0} {snap_secs:>8.2} {:>13.0}   run {}, snapshot {:.1} B/key",
                log.byte_len() as f64 / n as f64,
                log.len(),
                n as f64 / memory,
                n as f64 / file,
                run + 1,
                file_bytes as f64 / n as f64,
            );
        }
        let _ = std::fs::remove_file(&path);
        if let Ok(bootstrap) = std::env::var("RESTORE_KAFKA") {
            let (kafka, topic, wrote) = to_broker(&bootstrap, &log);
            println!(
                "{n:>11}   (c) changelog topic {topic}: written in {wrote:.1} s ({:.0} \
                 records/s)",
                log.len() as f64 / wrote
            );
            for run in 0..runs {
                let (secs, engine) = from_broker(&kafka, &topic);
                assert_eq!(engine.state_size().positions, expected.positions);
                println!(
                    "{n:>11}   (c) restored through the broker in {secs:.2} s: {:.0} keys/s, \
                     run {}",
                    n as f64 / secs,
                    run + 1
                );
            }
        }
    }
}
