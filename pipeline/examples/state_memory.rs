//! Measures the resident memory the availability engine needs per (sku, location) position.
//!
//! `cargo run --release -p allot-pipeline --example state_memory -- 1000000 5000000 20000000`
//!
//! For each key count N it builds a fresh engine with N positions (a cycle count per key,
//! spread over 1,000 locations) in a process of its own, reads the resident set size before
//! and after from `/proc/self/statm`, and prints bytes per key in two runs:
//! - *state*: the counts are one second apart and `max_lateness_ms` is one minute, so the
//!   dedupe window holds about 60 event ids: what the positions themselves cost;
//! - *state+window*: all N counts inside one hour with the default 24 h window, so every
//!   event id is remembered too (the worst case: N events inside one lateness window).
//!
//! Results are also appended as JSON lines to `target/state_memory.jsonl`.

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
    let Ok(mode) = std::env::var("STATE_MEMORY_MODE") else {
        println!(
            "{:>12} {:>14} {:>9} {:>9}",
            "keys", "run", "build s", "B/key"
        );
        // One process per size and run, so memory freed by one does not flatter the next.
        for n in sizes {
            for mode in ["state", "state+window"] {
                let status = std::process::Command::new(std::env::current_exe().expect("own path"))
                    .arg(n.to_string())
                    .env("STATE_MEMORY_MODE", mode)
                    .status()
                    .expect("re-run self");
                assert!(status.success());
            }
        }
        return;
    };
    let n = sizes[0];
    let windowed = mode == "state+window";
    let config = AvailabilityConfig {
        max_lateness_ms: if windowed { 24 * 3_600_000 } else { 60_000 },
        ..AvailabilityConfig::default()
    };
    let before = rss_bytes();
    let started = std::time::Instant::now();
    let mut engine = AvailabilityEngine::new(config);
    for i in 0..n {
        let t = if windowed {
            T0 + (i * 3_600_000 / n) as i64
        } else {
            T0 + i as i64 * 1_000
        };
        engine.apply(&count(i, t));
        if i > 0 && i % 5_000_000 == 0 {
            eprintln!("  {i} keys...");
        }
    }
    let built = started.elapsed().as_secs_f64();
    let used = rss_bytes().saturating_sub(before);
    let state = engine.state_size();
    assert_eq!(state.positions as u64, n, "every key is a position");
    let per_key = used as f64 / n as f64;
    println!(
        "{n:>12} {mode:>14} {built:>9.1} {per_key:>9.1}   ({} event ids remembered)",
        state.remembered_event_ids
    );
    let report = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open("target/state_memory.jsonl");
    if let Ok(mut f) = report {
        let _ = writeln!(
            f,
            "{{\"keys\":{n},\"run\":\"{mode}\",\"bytes_per_key\":{per_key:.1},\"remembered_event_ids\":{},\"build_secs\":{built:.2}}}",
            state.remembered_event_ids
        );
    }
}
