//! The apply path in a loop, for profilers (`perf record -g`) and for a per-stage split of
//! the time: decode alone, apply alone (records decoded beforehand), and decode + apply +
//! encoded flush every `FLUSH_EVERY` records (default 50,000; the 50 ms bound at 1 M/s).
//!
//! `cargo run --release -p allot-pipeline --example apply_profile -- [full|decode|apply|flush] [FLUSH_EVERY] [ROUNDS]`
//!
//! `full` (the default) runs the three stages one after another and prints ns/record for
//! each, plus the flush cost per published message; the other modes run only that stage,
//! for a profile of it alone (`flush` is decode + apply + flush).

use allot_pipeline::availability::{AvailabilityConfig, AvailabilityEngine, EncodedBatch};
use allot_schemas::codec::{ConfluentCodec, RecordSlots, SchemaResolver, StaticResolver};
use allot_schemas::{AnyRecord, Topic};
use std::io::Write;
use std::time::{Duration, Instant};

/// Turns `perf record` on and off around the measured loops, so set-up (building the
/// workload, applying the opening records) stays out of the profile: run under
/// `perf record --control fifo:/tmp/perf.ctl -D -1 ...` with `PERF_CTL=/tmp/perf.ctl`.
struct Perf(Option<std::fs::File>);

impl Perf {
    fn from_env() -> Perf {
        Perf(std::env::var_os("PERF_CTL").map(|p| {
            std::fs::OpenOptions::new()
                .write(true)
                .open(p)
                .expect("PERF_CTL names perf's control fifo")
        }))
    }
    fn set(&mut self, on: bool) {
        if let Some(f) = &mut self.0 {
            f.write_all(if on { b"enable\n" } else { b"disable\n" })
                .expect("perf control fifo");
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "full".into());
    let flush_every: usize = args
        .next()
        .map_or(50_000, |a| a.parse().expect("FLUSH_EVERY"));
    let rounds: usize = args.next().map_or(20, |a| a.parse().expect("ROUNDS"));

    let config = allot_loadtest::WorkloadConfig {
        days: 1,
        ..Default::default()
    };
    let all: Vec<AnyRecord> = allot_loadtest::Workload::new(config).unwrap().collect();
    let first = all
        .iter()
        .position(|r| matches!(r.topic(), Topic::PosSales | Topic::Orders))
        .unwrap();
    let (opening, trading) = all.split_at(first);
    let codec = ConfluentCodec::new(StaticResolver::new());
    let framed: Vec<(Topic, Vec<u8>)> = trading
        .iter()
        .map(|r| {
            let mut buf = Vec::new();
            codec.encode_any(r, &mut buf).unwrap();
            (r.topic(), buf)
        })
        .collect();
    let schema_id = StaticResolver::new()
        .writer_id(Topic::Availability)
        .unwrap();
    let fresh = || {
        let mut e = AvailabilityEngine::new(AvailabilityConfig::default());
        for r in opening {
            e.apply(r);
        }
        let mut out = Vec::new();
        e.flush(&mut out);
        e
    };
    let mut perf = Perf::from_env();
    let n = (trading.len() * rounds) as f64;
    let per = |d: Duration| d.as_nanos() as f64 / n;

    let mut kinds = std::collections::BTreeMap::new();
    for r in trading {
        *kinds.entry(r.topic().name()).or_insert(0) += 1;
    }
    println!("{} trading records: {kinds:?}", trading.len());

    if matches!(mode.as_str(), "full" | "decode") {
        perf.set(true);
        let t = Instant::now();
        for _ in 0..rounds {
            for (topic, bytes) in &framed {
                std::hint::black_box(codec.decode_any(*topic, bytes).unwrap());
            }
        }
        perf.set(false);
        println!(
            "decode only (new records): {:.0} ns/record",
            per(t.elapsed())
        );
        let mut slots = RecordSlots::default();
        perf.set(true);
        let t = Instant::now();
        for _ in 0..rounds {
            for (topic, bytes) in &framed {
                std::hint::black_box(codec.decode_slot(*topic, bytes, &mut slots).unwrap());
            }
        }
        perf.set(false);
        println!(
            "decode only (into slots): {:.0} ns/record",
            per(t.elapsed())
        );
    }
    if matches!(mode.as_str(), "full" | "apply") {
        let mut total = Duration::ZERO;
        for _ in 0..rounds {
            let mut e = fresh();
            perf.set(true);
            let t = Instant::now();
            for r in trading {
                e.apply(r);
            }
            total += t.elapsed();
            perf.set(false);
            std::hint::black_box(&e);
        }
        println!("apply only: {:.0} ns/record", per(total));
    }
    if matches!(mode.as_str(), "full" | "flush") {
        let (mut total, mut flushing) = (Duration::ZERO, Duration::ZERO);
        let (mut messages, mut bytes, mut flushes) = (0usize, 0usize, 0usize);
        let mut out = EncodedBatch::default();
        let mut slots = RecordSlots::default();
        for _ in 0..rounds {
            let mut e = fresh();
            perf.set(true);
            let start = Instant::now();
            for (i, (topic, message)) in framed.iter().enumerate() {
                e.apply(codec.decode_slot(*topic, message, &mut slots).unwrap());
                if i % flush_every == flush_every - 1 || i == framed.len() - 1 {
                    out.clear();
                    let t = Instant::now();
                    e.flush_encoded(schema_id, &mut out);
                    flushing += t.elapsed();
                    flushes += 1;
                    messages += out.len();
                    bytes += out.value_bytes();
                }
            }
            total += start.elapsed();
            perf.set(false);
            std::hint::black_box(&e);
        }
        println!(
            "decode + apply + encoded flush every {flush_every}: {:.0} ns/record \
             ({:.0} k records/s), of which flush {:.0} ns/record; {} flushes, {:.1} messages \
             per flush, {:.0} ns and {:.0} bytes per message",
            per(total),
            n / total.as_secs_f64() / 1e3,
            per(flushing),
            flushes / rounds,
            messages as f64 / flushes as f64,
            flushing.as_nanos() as f64 / messages.max(1) as f64,
            bytes as f64 / messages.max(1) as f64,
        );
    }
}
