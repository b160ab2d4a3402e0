//! The in-process apply path: Confluent-framed Avro in, decode, apply to the availability
//! engine, change detection and publication in coalesced flushes.
//!
//! `cargo bench -p allot-pipeline --bench apply`
//!
//! The input is the built-in workload (default network, 2,000 skus), pre-encoded as it
//! would arrive from Kafka. Each iteration starts from an engine that holds the reference
//! data and the opening stock counts, and applies the trading events that follow, so the
//! figure is the steady-state cost per trading event. Runs on one thread.

use allot_pipeline::availability::{AvailabilityConfig, AvailabilityEngine, EncodedBatch};
use allot_schemas::codec::{ConfluentCodec, RecordSlots, SchemaResolver, StaticResolver};
use allot_schemas::{AnyRecord, Topic};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

/// Records before the first trading event: reference data and opening counts.
fn split_opening(records: Vec<AnyRecord>) -> (Vec<AnyRecord>, Vec<AnyRecord>) {
    let first_trade = records
        .iter()
        .position(|r| matches!(r.topic(), Topic::PosSales | Topic::Orders))
        .unwrap_or(records.len());
    let mut records = records;
    let trading = records.split_off(first_trade);
    (records, trading)
}

fn bench(c: &mut Criterion) {
    let config = allot_loadtest::WorkloadConfig {
        days: 1,
        ..Default::default()
    };
    let workload = allot_loadtest::Workload::new(config).expect("default workload builds");
    let (opening, trading) = split_opening(workload.collect());
    let trading: Vec<AnyRecord> = trading.into_iter().take(200_000).collect();
    eprintln!(
        "{} opening records, {} trading records",
        opening.len(),
        trading.len()
    );
    let codec = ConfluentCodec::new(StaticResolver::new());
    let framed: Vec<(Topic, Vec<u8>)> = trading
        .iter()
        .map(|r| {
            let mut buf = Vec::new();
            codec
                .encode_any(r, &mut buf)
                .expect("workload records encode");
            (r.topic(), buf)
        })
        .collect();
    let fresh = || {
        let mut engine = AvailabilityEngine::new(AvailabilityConfig::default());
        for r in &opening {
            engine.apply(r);
        }
        let mut out = Vec::new();
        engine.flush(&mut out);
        engine
    };

    let mut group = c.benchmark_group("apply");
    group.sample_size(10);
    group.throughput(Throughput::Elements(framed.len() as u64));
    // A flush publishes every changed sku. In the runtime a flush happens at most
    // `availability_coalesce_ms` (50 ms) after a change: at 1M records/s that is every 50,000
    // records; at 20,000 records/s every 1,000. Publishing writes Avro bytes straight from
    // the engine's rows (`flush_encoded`, what the runtime sends); `flush` builds the record
    // tree instead, for comparison. Records are decoded into one reused record per topic
    // (`decode_slot`, no allocation once warm); `decode_any` builds a new record each time,
    // for comparison.
    let schema_id = StaticResolver::new()
        .writer_id(Topic::Availability)
        .expect("static id");
    for flush_every in [50_000usize, 1_024] {
        group.bench_function(
            format!("decode+apply, encoded flush every {flush_every}"),
            |b| {
                b.iter_batched(
                    fresh,
                    |mut engine| {
                        let mut out = EncodedBatch::default();
                        let mut slots = RecordSlots::default();
                        for (i, (topic, bytes)) in framed.iter().enumerate() {
                            let record = codec
                                .decode_slot(*topic, bytes, &mut slots)
                                .expect("decodes");
                            engine.apply(record);
                            if i % flush_every == flush_every - 1 {
                                out.clear();
                                engine.flush_encoded(schema_id, &mut out);
                            }
                        }
                        engine.flush_encoded(schema_id, &mut out);
                        (engine, out)
                    },
                    BatchSize::PerIteration,
                )
            },
        );
    }
    group.bench_function(
        "decode (new records)+apply, encoded flush every 50000",
        |b| {
            b.iter_batched(
                fresh,
                |mut engine| {
                    let mut out = EncodedBatch::default();
                    for (i, (topic, bytes)) in framed.iter().enumerate() {
                        let record = codec.decode_any(*topic, bytes).expect("decodes");
                        engine.apply(&record);
                        if i % 50_000 == 49_999 {
                            out.clear();
                            engine.flush_encoded(schema_id, &mut out);
                        }
                    }
                    engine.flush_encoded(schema_id, &mut out);
                    (engine, out)
                },
                BatchSize::PerIteration,
            )
        },
    );
    group.bench_function("decode+apply, record flush every 50000", |b| {
        b.iter_batched(
            fresh,
            |mut engine| {
                let mut out = Vec::new();
                let mut slots = RecordSlots::default();
                for (i, (topic, bytes)) in framed.iter().enumerate() {
                    let record = codec
                        .decode_slot(*topic, bytes, &mut slots)
                        .expect("decodes");
                    engine.apply(record);
                    if i % 50_000 == 49_999 {
                        out.clear();
                        engine.flush(&mut out);
                    }
                }
                engine.flush(&mut out);
                (engine, out)
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("decode only", |b| {
        let mut slots = RecordSlots::default();
        b.iter(|| {
            for (topic, bytes) in &framed {
                std::hint::black_box(
                    codec
                        .decode_slot(*topic, bytes, &mut slots)
                        .expect("decodes"),
                );
            }
        })
    });
    group.bench_function("decode only (new records)", |b| {
        b.iter(|| {
            for (topic, bytes) in &framed {
                std::hint::black_box(codec.decode_any(*topic, bytes).expect("decodes"));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
