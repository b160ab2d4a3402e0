//! Codec benchmarks: encode and decode of the hottest records on the fast path (`codec::wire`),
//! on `serde_avro_fast` (kept as the comparison that motivated the fast path) and on the
//! generic path (`apache_avro::Value`), and the Confluent round trip the runtime does per event
//! (decode + encode with framing and id resolution).
//!
//! `cargo bench -p allot-schemas --bench codec -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use allot_schemas::codec::{self, ConfluentCodec, StaticResolver};
use allot_schemas::*;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const T: EpochMillis = 1_767_225_600_000;
const DAY: EpochMillis = 86_400_000;

/// A register transaction with `lines` lines.
fn pos_transaction(lines: usize) -> PosTransaction {
    PosTransaction {
        event_id: "pos-0042-r03-000123".into(),
        event_time: T + 37_512_345,
        source: "pos-store-0042".into(),
        store_id: "store-0042".into(),
        register_id: "r03".into(),
        transaction_id: "tx-2026-000123".into(),
        lines: (0..lines)
            .map(|i| PosLine {
                sku: format!("sku-{:06}", 100 + i),
                quantity: 1 + i as i32,
                kind: if i == 1 {
                    PosLineKind::Return
                } else {
                    PosLineKind::Sale
                },
                unit_price_cents: 1_999,
            })
            .collect(),
        currency: "EUR".into(),
    }
}

/// A home-delivery web order with `lines` lines, one promotion each.
fn order(lines: usize) -> Order {
    Order {
        event_id: "oms-web-ord-5001".into(),
        event_time: T + 45_000_000,
        source: "oms-web".into(),
        order_id: "ord-5001".into(),
        channel: Channel::Web,
        customer_id: "cust-8842".into(),
        fulfilment: FulfilmentType::ShipToHome,
        destination: Some(Address {
            postal_code: "75011".into(),
            city: "Paris".into(),
            country: "FR".into(),
            latitude: 48.8589,
            longitude: 2.3802,
        }),
        pickup_location_id: None,
        requested_date: T + 4 * DAY,
        slot: None,
        lines: (0..lines)
            .map(|i| OrderLine {
                line_id: (i + 1).to_string(),
                sku: format!("sku-{:06}", 100 + i),
                quantity: 1,
                unit_price_cents: 1_999,
                discount_cents: 200,
                promotion_ids: vec!["promo-winter".into()],
            })
            .collect(),
        currency: "EUR".into(),
    }
}

fn inventory_adjustment() -> InventoryAdjustment {
    InventoryAdjustment {
        event_id: "store-0042-adj-881".into(),
        event_time: T + 3_600_000,
        source: "store-ops-0042".into(),
        location_id: "store-0042".into(),
        sku: "sku-000101".into(),
        kind: AdjustmentKind::CycleCount,
        quantity: 37,
        reason: Some("cycle count".into()),
    }
}

/// ATP of one sku in `channels` channels, each with `locations` locations and two buckets per
/// location and for the network.
fn availability(channels: usize, locations: usize) -> Availability {
    let buckets = |atp: i64| {
        vec![
            AtpBucket {
                until: T + DAY,
                atp,
            },
            AtpBucket {
                until: T + 7 * DAY,
                atp: atp + 480,
            },
        ]
    };
    let all = [
        Channel::Web,
        Channel::App,
        Channel::Store,
        Channel::Marketplace,
    ];
    Availability {
        event_id: "allot-avail-sku-000101-v77".into(),
        event_time: T + 50_000_000,
        source: "allot".into(),
        sku: "sku-000101".into(),
        version: 77,
        channels: all[..channels]
            .iter()
            .map(|channel| ChannelAvailability {
                channel: *channel,
                network: buckets(143),
                locations: (0..locations)
                    .map(|i| LocationAvailability {
                        location_id: format!("store-{:04}", 40 + i),
                        on_hand: 40,
                        reserved: 2,
                        safety_stock: 5,
                        buckets: buckets(33),
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn bench_record<R: Record>(c: &mut Criterion, name: &str, record: &R) {
    let mut body = Vec::new();
    codec::encode(record, &mut body).unwrap();
    let confluent = ConfluentCodec::new(StaticResolver::new());
    let mut framed = Vec::new();
    confluent.encode(record, &mut framed).unwrap();

    let mut group = c.benchmark_group(format!("{name} ({} bytes)", body.len()));
    group.throughput(Throughput::Elements(1));
    let mut out = Vec::with_capacity(1024);
    group.bench_function("encode/fast", |b| {
        b.iter(|| {
            out.clear();
            codec::encode(black_box(record), &mut out).unwrap();
        })
    });
    let fast_schema: serde_avro_fast::Schema = codec::schema_json(R::TOPIC).parse().unwrap();
    let mut fast_config = serde_avro_fast::ser::SerializerConfig::new(&fast_schema);
    group.bench_function("encode/serde_avro_fast", |b| {
        b.iter(|| {
            out.clear();
            serde_avro_fast::to_datum(black_box(record), &mut out, &mut fast_config).unwrap();
        })
    });
    group.bench_function("encode/generic", |b| {
        b.iter(|| {
            out.clear();
            codec::encode_generic(black_box(record), &mut out).unwrap();
        })
    });
    group.bench_function("decode/fast", |b| {
        b.iter(|| codec::decode::<R>(black_box(&body)).unwrap())
    });
    group.bench_function("decode/serde_avro_fast", |b| {
        b.iter(|| serde_avro_fast::from_datum_slice::<R>(black_box(&body), &fast_schema).unwrap())
    });
    group.bench_function("decode/generic", |b| {
        b.iter(|| codec::decode_generic::<R>(black_box(&body)).unwrap())
    });
    // The floor for any decoder into these owned types: the same allocations and copies.
    group.bench_function("clone (allocation floor)", |b| {
        b.iter(|| black_box(record).clone())
    });
    group.bench_function("confluent decode+encode/fast", |b| {
        b.iter(|| {
            let record: R = confluent.decode(black_box(&framed)).unwrap();
            out.clear();
            confluent.encode(&record, &mut out).unwrap();
        })
    });
    group.finish();
}

fn codecs(c: &mut Criterion) {
    bench_record(c, "pos_sales 1 line", &pos_transaction(1));
    bench_record(c, "pos_sales 3 lines", &pos_transaction(3));
    bench_record(c, "orders 1 line", &order(1));
    bench_record(c, "orders 3 lines", &order(3));
    bench_record(c, "inventory_adjustments", &inventory_adjustment());
    bench_record(
        c,
        "availability 2 channels x 2 locations",
        &availability(2, 2),
    );
    bench_record(
        c,
        "availability 3 channels x 3 locations",
        &availability(3, 3),
    );
}

criterion_group!(benches, codecs);
criterion_main!(benches);
