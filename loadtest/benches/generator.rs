//! Generation throughput of the workload generator (records per second, one core).
//!
//! - `simulation`: 100,000 records after the opening phase (reference data and opening
//!   counts), the steady state a long run spends its time in;
//! - `default_run`: the whole default config (2 days, 40 stores, 2,000 SKUs) from
//!   `Workload::new` to the last record, opening phase included.
//!
//! Run with `cargo bench -p allot-loadtest --bench generator`.

use std::hint::black_box;

use allot_loadtest::{Workload, WorkloadConfig};
use allot_schemas::Topic;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

/// Records of the opening phase of `config` (everything stamped at the start instant).
fn opening_records(config: &WorkloadConfig) -> usize {
    let w = Workload::new(config.clone()).expect("valid config");
    let start = w.start_time();
    w.take_while(|r| r.event_time() == start).count()
}

fn generation(c: &mut Criterion) {
    let config = WorkloadConfig::default();
    let mut group = c.benchmark_group("workload");
    group.sample_size(10);

    const STEADY: u64 = 100_000;
    let opening = opening_records(&config);
    group.throughput(Throughput::Elements(STEADY));
    group.bench_function("simulation", |b| {
        b.iter_batched(
            || {
                let mut w = Workload::new(config.clone()).expect("valid config");
                w.by_ref().take(opening).for_each(drop);
                w
            },
            |mut w| {
                for r in w.by_ref().take(STEADY as usize) {
                    black_box(r);
                }
                w
            },
            BatchSize::PerIteration,
        )
    });

    let total = Workload::new(config.clone()).expect("valid config").count() as u64;
    group.throughput(Throughput::Elements(total));
    group.bench_function("default_run", |b| {
        b.iter(|| {
            let mut w = Workload::new(config.clone()).expect("valid config");
            for r in w.by_ref() {
                black_box(r);
            }
            black_box(w.stats().count(Topic::PosSales))
        })
    });
    group.finish();
}

criterion_group!(benches, generation);
criterion_main!(benches);
