use allot_pipeline::availability::{AvailabilityConfig, AvailabilityEngine};
use allot_schemas::{AnyRecord, Topic};
fn main() {
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
    let mut total = std::time::Duration::ZERO;
    let mut n = 0;
    for _ in 0..20 {
        let mut e = AvailabilityEngine::new(AvailabilityConfig::default());
        for r in opening {
            e.apply(r);
        }
        let mut out = Vec::new();
        e.flush(&mut out);
        let t = std::time::Instant::now();
        for r in trading {
            e.apply(r);
        }
        total += t.elapsed();
        n += trading.len();
        std::hint::black_box(&e);
    }
    let mut kinds = std::collections::BTreeMap::new();
    for r in trading {
        *kinds.entry(r.topic().name()).or_insert(0) += 1;
    }
    println!("{:?}", kinds);
    println!(
        "apply only: {:.0} ns/record ({} records)",
        total.as_nanos() as f64 / n as f64,
        n
    );
}
