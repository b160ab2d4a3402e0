//! Measures the resident memory the availability engine needs per (sku, location) position.
//!
//! `cargo run --release -p allot-pipeline --example state_memory -- 1000000 5000000 20000000`
//!
//! For each key count N it builds a fresh engine with N positions (a cycle count per key,
//! spread over 1,000 locations), reads the process's resident set size before and after
//! from `/proc/self/statm`, and prints bytes per key — once with the event ids of the counts
//! still inside the dedupe window, and once after the window has passed them (the steady
//! state: the window holds only the last `max_lateness_ms` of events). Results are also
//! written as JSON lines to `target/state_memory.jsonl`.

use std::io::Write;

use allot_pipeline::availability::{AvailabilityConfig, AvailabilityEngine};
use allot_schemas::{AdjustmentKind, AnyRecord, InventoryAdjustment};

const LOCATIONS: u64 = 1_000;
const T0: i64 = 1_767_225_600_000;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("linux /proc");
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn count(n: u64, time: i64) -> AnyRecord {
    let sku = n / LOCATIONS;
    let loc = n % LOCATIONS;
    AnyRecord::Adjustment(InventoryAdjustment {
        event_id: format!("count-{n}"),
        event_time: time,
        source: "bench".into(),
        location_id: format!("loc-{loc:04}"),
        sku: format!("sku-{sku:08}"),
        kind: AdjustmentKind::CycleCount,
        quantity: (n % 50) as i32,
        reason: None,
    })
}

fn main() {
    let sizes: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.replace('_', "").parse().expect("key counts are integers"))
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1_000_000]
    } else {
        sizes
    };
    if sizes.len() > 1 {
        // One process per size, so memory freed by one run does not flatter the next.
        for n in sizes {
            let status = std::process::Command::new(std::env::current_exe().expect("own path"))
                .arg(n.to_string())
                .status()
                .expect("re-run self");
            assert!(status.success());
        }
        return;
    }
    let mut report = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open("target/state_memory.jsonl")
        .ok();
    println!(
        "{:>12} {:>14} {:>16} {:>16}",
        "keys", "build s", "B/key (window)", "B/key (steady)"
    );
    for n in sizes {
        let before = rss_bytes();
        let started = std::time::Instant::now();
        let mut engine = AvailabilityEngine::new(AvailabilityConfig::default());
        // One count per key, all inside one hour of event time.
        for i in 0..n {
            let t = T0 + (i * 3_600_000 / n) as i64;
            engine.apply(&count(i, t));
            if i > 0 && i % 5_000_000 == 0 {
                eprintln!("  {i} keys...");
            }
        }
        let built = started.elapsed().as_secs_f64();
        let with_window = rss_bytes().saturating_sub(before);
        // One event two days later moves the watermark past the window: the dedupe forgets
        // the counts' ids, as it does in steady operation.
        engine.apply(&count(0, T0 + 48 * 3_600_000));
        let steady = rss_bytes().saturating_sub(before);
        let state = engine.state_size();
        assert_eq!(state.positions as u64, n, "every key is a position");
        let per_key = |b: u64| b as f64 / n as f64;
        println!(
            "{:>12} {:>14.1} {:>16.1} {:>16.1}",
            n,
            built,
            per_key(with_window),
            per_key(steady)
        );
        if let Some(f) = report.as_mut() {
            let _ = writeln!(
                f,
                "{{\"keys\":{n},\"bytes_per_key_window\":{:.1},\"bytes_per_key_steady\":{:.1},\"build_secs\":{built:.2}}}",
                per_key(with_window),
                per_key(steady)
            );
        }
        drop(engine);
    }
}
