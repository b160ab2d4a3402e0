//! `allot-loadtest e2e` with a tiny workload against the real broker (started through the
//! connectors' testkit) and the `allot` binary of this build: every phase sees every record,
//! the figures are sane, and the run leaves no topic behind.
//!
//! The allot binary is `$ALLOT_BIN`, else `allot` next to this test's build (built by
//! `cargo test --workspace`, or `cargo build -p allot-pipeline`).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use allot_connectors::testkit;
use allot_loadtest::{Workload, WorkloadConfig};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde_json::Value;

fn allot_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("ALLOT_BIN") {
        return bin.into();
    }
    // target/<profile>/deps/e2e-<hash> → target/<profile>/allot
    let exe = std::env::current_exe().expect("the test knows its path");
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test runs from target/<profile>/deps")
        .join("allot");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build -p allot-pipeline` first (or set ALLOT_BIN)",
        bin.display()
    );
    bin
}

fn topics_named(bootstrap: &str, prefix: &str) -> Vec<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("metadata client");
    let metadata = consumer
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("metadata");
    metadata
        .topics()
        .iter()
        .map(|t| t.name().to_owned())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

#[test]
fn a_tiny_e2e_run_sees_every_record_and_reports_sane_figures() {
    let bootstrap = testkit::ensure_kafka();
    let (seed, days, stores, skus) = (7u64, 1u32, 3u32, 40u32);
    let (orders, baskets) = (400.0, 150.0);
    let n = Workload::new(WorkloadConfig {
        seed,
        days,
        stores,
        skus,
        orders_per_day: orders,
        pos_baskets_per_store_per_day: baskets,
        ..WorkloadConfig::default()
    })
    .expect("valid workload")
    .count() as u64;

    let dir = tempfile::tempdir().expect("tempdir");
    let report_path = dir.path().join("e2e.json");
    let started = Instant::now();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_allot-loadtest"));
    for (k, _) in std::env::vars() {
        if k.starts_with("ALLOT__") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .args(["e2e", "--bootstrap", &bootstrap, "--partitions", "2"])
        .args(["--seed", &seed.to_string(), "--days", &days.to_string()])
        .args(["--stores", &stores.to_string(), "--skus", &skus.to_string()])
        .args(["--orders-per-day", &orders.to_string()])
        .args(["--baskets-per-store-per-day", &baskets.to_string()])
        .args(["--latency-secs", "3", "--latency-rate", "1000"])
        .args(["--coalesce-ms", "5", "--phase-timeout-secs", "40"])
        .args(["--exactly-once-ms", "200"])
        .arg("--allot-bin")
        .arg(allot_bin())
        .arg("--report")
        .arg(&report_path)
        .output()
        .expect("allot-loadtest runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "e2e failed:\n{stderr}");
    assert!(
        stderr.contains("ratio allot / passthrough"),
        "the summary table is printed:\n{stderr}"
    );
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&report_path).expect("report"))
        .expect("the report is JSON");

    // Every phase saw all N records.
    assert_eq!(r["workload"]["records"], n, "{r:#}");
    assert_eq!(r["passthrough"]["records"], n);
    assert_eq!(r["allot"]["records"], n);
    assert_eq!(r["allot"]["run"]["input_records"], n);
    // The group commits the event topics; the reference topics are read outside it (e2e
    // itself checks the group committed the end of every topic it reads).
    let committed = r["allot"]["committed"].as_u64().expect("committed");
    assert!(committed > 0 && committed < n, "{committed} of {n}");
    let opening = r["workload"]["opening_records"].as_u64().expect("opening");
    assert!(opening > 0 && opening < n, "{opening} of {n}");

    // Throughputs and their ratio are positive.
    let f = |v: &Value| v.as_f64().unwrap_or_else(|| panic!("a number: {v}"));
    assert!(f(&r["passthrough"]["records_per_sec"]) > 0.0);
    assert!(f(&r["allot"]["records_per_sec"]) > 0.0);
    assert!(f(&r["ratio"]) > 0.0);
    let expected_ratio =
        f(&r["allot"]["records_per_sec"]) / f(&r["passthrough"]["records_per_sec"]);
    assert!((f(&r["ratio"]) - expected_ratio).abs() < 1e-9);

    // The exactly-once phase read every record again and committed them all in transactions.
    let eos = &r["exactly_once"][0];
    assert_eq!(eos["commit_interval_ms"], 200, "{eos:#}");
    assert_eq!(eos["allot"]["records"], n);
    assert_eq!(eos["allot"]["committed"], committed);
    let ratio = f(&eos["ratio_to_at_least_once"]);
    assert_eq!(eos["at_least_once"]["committed"], committed);
    let expected =
        f(&eos["allot"]["records_per_sec"]) / f(&eos["at_least_once"]["records_per_sec"]);
    assert!(ratio > 0.0 && (ratio - expected).abs() < 1e-9, "{eos:#}");

    // The latency baseline: the raw passthrough copied every event, and each copy was read.
    let b = &r["latency_passthrough"];
    let sent = b["sent"].as_u64().expect("sent");
    assert!(sent > 1_000, "3 s at 1,000/s: {sent}");
    assert_eq!(b["copied"], sent, "{b:#}");
    assert_eq!(b["warm_up"], 200, "{b:#}");
    assert_eq!(b["consume"]["count"], sent, "{b:#}");
    let (p50, p99) = (
        b["consume"]["p50_ms"].as_i64().expect("p50"),
        b["consume"]["p99_ms"].as_i64().expect("p99"),
    );
    assert!(0 < p50 && p50 <= p99, "passthrough p50 {p50} p99 {p99}");

    // One latency phase: everything sent was read by allot, and availability came back.
    let latency = r["latency"].as_array().expect("latency phases");
    assert_eq!(latency.len(), 1);
    let l = &latency[0];
    assert_eq!(l["coalesce_ms"], 5);
    let sent = l["sent"].as_u64().expect("sent");
    assert!(sent > 1_000, "3 s at 1,000/s: {sent}");
    assert_eq!(
        l["run"]["input_records"].as_u64(),
        Some(l["opening_records"].as_u64().expect("opening") + sent)
    );
    let c = &l["consume"];
    let (count, p50, p99, max) = (
        c["count"].as_u64().expect("count"),
        c["p50_ms"].as_i64().expect("p50"),
        c["p99_ms"].as_i64().expect("p99"),
        c["max_ms"].as_i64().expect("max"),
    );
    assert!(count > 0);
    assert!(
        0 < p50 && p50 <= p99 && p99 <= max,
        "p50 {p50} p99 {p99} max {max}"
    );
    assert_eq!(l["unreadable"], 0);

    // Nothing is left on the broker.
    assert_eq!(r["cleaned_up"], true);
    let run_id = r["run_id"].as_str().expect("run id").to_owned();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left = topics_named(&bootstrap, &run_id);
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "topics left behind: {left:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
    eprintln!("the tiny e2e run took {:.1?}", started.elapsed());
}
