//! Invariants of the generated stream, checked on whole runs: determinism, event-time order,
//! referential integrity (every invalid record is an injected one), channel and topic mixes,
//! Zipf popularity, lifecycles (receipts after their shipments, order events after their
//! orders), prices against the emitted price book, and the Avro round trip of every record.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

use allot_schemas::*;
use proptest::prelude::*;

use super::*;
use crate::catalogue::unit_discount;

fn small() -> WorkloadConfig {
    WorkloadConfig {
        stores: 6,
        dcs: 2,
        dark_stores: 1,
        skus: 300,
        days: 1,
        orders_per_day: 3_000.0,
        pos_baskets_per_store_per_day: 600.0,
        customers: 5_000,
        ..WorkloadConfig::default()
    }
}

fn run(config: WorkloadConfig) -> (Vec<AnyRecord>, Workload) {
    let mut w = Workload::new(config).expect("valid config");
    let records: Vec<AnyRecord> = w.by_ref().collect();
    (records, w)
}

/// The default two-day run, generated once and shared by the tests that only read it.
fn default_run() -> &'static (Vec<AnyRecord>, Workload) {
    static RUN: std::sync::OnceLock<(Vec<AnyRecord>, Workload)> = std::sync::OnceLock::new();
    RUN.get_or_init(|| run(WorkloadConfig::default()))
}

fn fingerprint(records: impl Iterator<Item = AnyRecord>) -> u64 {
    let mut h = DefaultHasher::new();
    for r in records {
        format!("{r:?}").hash(&mut h);
    }
    h.finish()
}

#[test]
fn the_same_seed_gives_the_same_stream_and_another_seed_another() {
    let first = |seed| {
        let config = WorkloadConfig {
            seed,
            ..WorkloadConfig::default()
        };
        fingerprint(Workload::new(config).expect("valid").take(100_000))
    };
    assert_eq!(first(7), first(7));
    assert_ne!(first(7), first(8));
}

#[test]
fn event_times_never_go_backwards_and_stay_in_the_window() {
    let (records, w) = default_run();
    assert!(records.len() > 150_000, "{} records", records.len());
    let mut last = w.start_time();
    for r in records.iter() {
        assert!(r.event_time() >= last, "{} goes back in time", r.event_id());
        last = r.event_time();
    }
    assert!(last < w.end_time());
    // The opening phase is all at the start instant: locations first.
    assert_eq!(records[0].topic(), Topic::Locations);
    assert_eq!(records[0].event_time(), w.start_time());
}

#[test]
fn event_ids_are_unique_and_name_their_topic_and_seed() {
    let (records, _) = run(small());
    let mut seen = HashSet::new();
    for r in records.iter() {
        assert!(
            seen.insert(r.event_id().to_string()),
            "duplicate {}",
            r.event_id()
        );
        let mut parts = r.event_id().split('-');
        assert_eq!(parts.next(), Some(event_prefix(r.topic())));
        assert_eq!(parts.next(), Some("42"));
    }
}

/// What one record references, and whether its quantities are in range.
#[derive(Default)]
struct Refs<'a> {
    locations: Vec<&'a str>,
    skus: Vec<&'a str>,
    quantities_ok: bool,
}

fn refs(r: &AnyRecord) -> Refs<'_> {
    let mut out = Refs {
        quantities_ok: true,
        ..Refs::default()
    };
    let mut q = |ok: bool| out.quantities_ok &= ok;
    let (mut locations, mut skus): (Vec<&str>, Vec<&str>) = (Vec::new(), Vec::new());
    match r {
        AnyRecord::PosSale(p) => {
            locations.push(&p.store_id);
            for l in &p.lines {
                skus.push(&l.sku);
                q(l.quantity > 0);
            }
        }
        AnyRecord::Receipt(p) => {
            locations.push(&p.location_id);
            for l in &p.lines {
                skus.push(&l.sku);
                q(l.quantity_received >= 0 && l.quantity_damaged >= 0);
            }
        }
        AnyRecord::Shipment(s) => {
            locations.push(&s.destination_location_id);
            locations.extend(s.origin_location_id.as_deref());
            for l in &s.lines {
                skus.push(&l.sku);
                q(l.quantity > 0);
            }
        }
        AnyRecord::PurchaseOrder(p) => {
            locations.push(&p.destination_location_id);
            for l in &p.lines {
                skus.push(&l.sku);
                q(l.quantity_ordered > 0);
            }
        }
        AnyRecord::Adjustment(a) => {
            locations.push(&a.location_id);
            skus.push(&a.sku);
            q(match a.kind {
                AdjustmentKind::CycleCount => a.quantity >= 0,
                AdjustmentKind::Correction => a.quantity != 0,
                _ => a.quantity > 0,
            });
        }
        AnyRecord::Order(o) => {
            locations.extend(o.pickup_location_id.as_deref());
            q(!o.lines.is_empty());
            for l in &o.lines {
                skus.push(&l.sku);
                q(l.quantity > 0 && l.unit_price_cents > 0 && l.discount_cents >= 0);
            }
        }
        AnyRecord::OrderEvent(e) => {
            locations.extend(e.location_id.as_deref());
            for l in &e.lines {
                skus.push(&l.sku);
                q(l.quantity >= 0);
            }
        }
        AnyRecord::Return(e) => {
            locations.push(&e.location_id);
            for l in &e.lines {
                skus.push(&l.sku);
                q(l.quantity > 0);
            }
        }
        AnyRecord::SafetyStock(p) => {
            locations.extend(p.location_id.as_deref());
            skus.extend(p.sku.as_deref());
            q(p.safety_stock_units >= 0);
        }
        AnyRecord::SourcingRule(rule) => {
            locations.extend(rule.priority_location_ids.iter().map(String::as_str));
        }
        _ => {}
    }
    out.locations = locations;
    out.skus = skus;
    out
}

/// Checks a whole stream; returns the number of invalid records (which must be exactly the
/// injected ones).
fn invalid_records(records: &[AnyRecord]) -> u64 {
    let locations: HashSet<&str> = records
        .iter()
        .filter_map(|r| match r {
            AnyRecord::Location(l) => Some(l.location_id.as_str()),
            _ => None,
        })
        .collect();
    let skus: HashSet<&str> = records
        .iter()
        .filter_map(|r| match r {
            AnyRecord::Price(p) => Some(p.sku.as_str()),
            _ => None,
        })
        .collect();
    let mut invalid = 0;
    for r in records {
        let refs = refs(r);
        let ok = refs.quantities_ok
            && refs.locations.iter().all(|l| locations.contains(l))
            && refs.skus.iter().all(|s| skus.contains(s));
        if !ok {
            invalid += 1;
        }
    }
    invalid
}

#[test]
fn every_record_references_known_locations_and_skus() {
    let (records, w) = default_run();
    assert_eq!(w.stats().bad_total(), 0);
    assert_eq!(invalid_records(records), 0);
}

#[test]
fn injected_bad_records_are_exactly_the_invalid_ones() {
    let config = WorkloadConfig {
        bad_record_rate: 0.02,
        ..small()
    };
    let (records, w) = run(config);
    let injected = w.stats().bad_total();
    let share = injected as f64 / records.len() as f64;
    assert!(
        (0.012..0.028).contains(&share),
        "{injected} of {}",
        records.len()
    );
    assert!(
        w.stats().bad.iter().all(|&n| n > 0),
        "every kind is injected: {:?}",
        w.stats().bad
    );
    assert_eq!(invalid_records(&records), injected);
}

fn share(part: u64, total: u64) -> f64 {
    part as f64 / total.max(1) as f64
}

#[test]
fn channels_fulfilment_types_and_topics_follow_the_configured_mix() {
    let config = WorkloadConfig::default();
    let (records, w) = run(config.clone());
    let mut channels = [0u64; 5];
    let mut fulfilments = [0u64; 5];
    for r in records.iter() {
        if let AnyRecord::Order(o) = r {
            channels[channel_index(o.channel)] += 1;
            fulfilments[fulfilment_index(o.fulfilment)] += 1;
        }
    }
    assert_eq!(channels, w.stats().orders_by_channel);
    assert_eq!(fulfilments, w.stats().orders_by_fulfilment);
    let orders: u64 = channels.iter().sum();
    // Two simulated days (a Monday and a Tuesday) at 12,000 a day, Monday being busy.
    assert!((20_000..30_000).contains(&orders), "{orders} orders");
    let weights = config.channel_mix.weights();
    let total_weight: f64 = weights.iter().sum();
    for (c, (&n, w)) in channels.iter().zip(weights).enumerate() {
        let (got, want) = (share(n, orders), w / total_weight);
        assert!(
            (got - want).abs() < 0.03,
            "channel {:?}: {got:.3} vs {want:.3}",
            CHANNELS[c]
        );
    }
    // Ship-to-home dominates; every fulfilment type occurs; fallbacks stay a minority.
    let sth = share(fulfilments[0], orders);
    assert!((0.5..0.8).contains(&sth), "ship to home {sth:.3}");
    for (f, &n) in fulfilments.iter().enumerate() {
        assert!(
            share(n, orders) > 0.005,
            "{:?} is too rare: {n}",
            FULFILMENTS[f]
        );
    }
    assert!(share(w.stats().fulfilment_fallbacks, orders) < 0.2);
    // Marketplace orders ship to home only.
    assert!(records.iter().all(|r| !matches!(r, AnyRecord::Order(o)
        if o.channel == Channel::Marketplace && o.fulfilment != FulfilmentType::ShipToHome)));
    // Every input topic has events, none of the outputs does; POS sales lead.
    let stats = w.stats();
    for t in Topic::ALL {
        match t.direction() {
            Direction::Input => assert!(stats.count(t) > 0, "no {t} records"),
            Direction::Output => assert_eq!(stats.count(t), 0),
        }
    }
    let busiest = Topic::ALL.into_iter().max_by_key(|t| stats.count(*t));
    assert_eq!(busiest, Some(Topic::PosSales));
}

#[test]
fn order_events_and_returns_come_in_plausible_proportions() {
    let (records, w) = default_run();
    let orders = w.stats().count(Topic::Orders);
    let mut kinds: HashMap<OrderEventKind, u64> = HashMap::new();
    let mut cross_channel = 0;
    let mut channel_of: HashMap<&str, Channel> = HashMap::new();
    for r in records.iter() {
        match r {
            AnyRecord::Order(o) => {
                channel_of.insert(&o.order_id, o.channel);
            }
            AnyRecord::OrderEvent(e) => {
                *kinds.entry(e.kind).or_default() += 1;
                if e.kind == OrderEventKind::Cancel && channel_of[e.order_id.as_str()] != e.channel
                {
                    cross_channel += 1;
                }
            }
            _ => {}
        }
    }
    let cancels = kinds[&OrderEventKind::Cancel];
    assert!(
        (0.03..0.07).contains(&share(cancels, orders)),
        "{cancels} cancels"
    );
    assert!(
        cross_channel > cancels / 10,
        "{cross_channel} of {cancels} cancels from another channel"
    );
    assert!(kinds[&OrderEventKind::ModifyLines] > orders / 100);
    assert!(kinds[&OrderEventKind::Shipped] > orders / 3);
    assert!(kinds[&OrderEventKind::PickedUp] > 0 && kinds[&OrderEventKind::PickupExpired] > 0);
    assert!(w.stats().count(Topic::Returns) > 0);
}

#[test]
fn a_few_skus_make_most_of_the_sales() {
    let (records, w) = default_run();
    let mut units: HashMap<&str, u64> = HashMap::new();
    for r in records.iter() {
        if let AnyRecord::PosSale(p) = r {
            for l in p.lines.iter().filter(|l| l.kind == PosLineKind::Sale) {
                *units.entry(&l.sku).or_default() += l.quantity as u64;
            }
        }
    }
    let mut by_units: Vec<u64> = units.values().copied().collect();
    by_units.sort_unstable_by(|a, b| b.cmp(a));
    let total: u64 = by_units.iter().sum();
    let top_1pct: u64 = by_units.iter().take(w.config().skus as usize / 100).sum();
    assert!(
        share(top_1pct, total) > 0.25,
        "top 1% sold {top_1pct} of {total} units"
    );
    // The best seller is the catalogue's rank 0.
    let best = &w.catalogue().skus[w.catalogue().by_rank[0] as usize].id;
    assert_eq!(units[best.as_str()], by_units[0]);
}

#[test]
fn stores_sell_on_their_daily_curve_and_web_orders_peak_in_the_evening() {
    let (records, w) = default_run();
    let mut pos_by_hour = [0u64; 24];
    let mut web_by_hour = [0u64; 24];
    for r in records.iter() {
        match r {
            AnyRecord::PosSale(p) => {
                let site = w.network().site(&p.store_id).expect("known store");
                assert!(
                    site.is_open(p.event_time),
                    "{} sells while closed",
                    p.store_id
                );
                pos_by_hour[site.tz.local(p.event_time).hour as usize] += 1;
            }
            AnyRecord::Order(o) if o.channel == Channel::Web && o.destination.is_some() => {
                let city = o.destination.as_ref().map_or("", |d| d.city.as_str());
                let tz = crate::cities::time_zone(
                    crate::cities::CITIES
                        .iter()
                        .find(|c| c.name == city)
                        .expect("city")
                        .tz,
                )
                .expect("zone");
                web_by_hour[tz.local(o.event_time).hour as usize] += 1;
            }
            _ => {}
        }
    }
    assert!(pos_by_hour[18] > pos_by_hour[9] * 3 / 2, "{pos_by_hour:?}");
    assert_eq!(pos_by_hour[3], 0);
    assert!(web_by_hour[20] > 5 * web_by_hour[4], "{web_by_hour:?}");
}

#[test]
fn receipts_shipments_and_order_events_follow_their_lifecycles() {
    let (records, _) = default_run();
    let mut shipments: HashMap<&str, Vec<ShipmentStatus>> = HashMap::new();
    let mut pos: HashMap<&str, Vec<PurchaseOrderStatus>> = HashMap::new();
    let mut orders = HashSet::new();
    let (mut transfer_receipts, mut vendor_receipts, mut damaged) = (0, 0, 0);
    for r in records.iter() {
        match r {
            AnyRecord::Shipment(s) => {
                let steps = shipments.entry(&s.shipment_id).or_default();
                assert_eq!(
                    steps.is_empty(),
                    s.status == ShipmentStatus::Created,
                    "{}",
                    s.shipment_id
                );
                assert!(
                    !steps.contains(&ShipmentStatus::Delivered)
                        && !steps.contains(&ShipmentStatus::Cancelled)
                );
                if let Some(po) = &s.po_id {
                    assert!(
                        pos.contains_key(po.as_str()),
                        "{} ships an unknown PO",
                        s.shipment_id
                    );
                }
                steps.push(s.status);
            }
            AnyRecord::PurchaseOrder(p) => {
                let steps = pos.entry(&p.po_id).or_default();
                assert_eq!(steps.is_empty(), p.status == PurchaseOrderStatus::Open);
                steps.push(p.status);
            }
            AnyRecord::Receipt(rc) => {
                let id = rc
                    .shipment_id
                    .as_deref()
                    .expect("receipts close a shipment");
                assert_eq!(
                    shipments.get(id).and_then(|s| s.last()),
                    Some(&ShipmentStatus::Delivered),
                    "{} received before delivery",
                    rc.receipt_id
                );
                match &rc.po_id {
                    Some(po) => {
                        assert!(pos.contains_key(po.as_str()));
                        vendor_receipts += 1;
                    }
                    None => transfer_receipts += 1,
                }
                if rc.lines.iter().any(|l| l.quantity_damaged > 0) {
                    damaged += 1;
                }
            }
            AnyRecord::Order(o) => {
                orders.insert(o.order_id.as_str());
            }
            AnyRecord::OrderEvent(e) => assert!(orders.contains(e.order_id.as_str())),
            AnyRecord::Return(ret) => {
                assert!(orders.contains(ret.order_id.as_deref().expect("order")));
            }
            _ => {}
        }
    }
    assert!(
        transfer_receipts > 40 && vendor_receipts > 0,
        "{transfer_receipts} {vendor_receipts}"
    );
    assert!(damaged > 0, "some receipts have damaged units");
    let slipped = shipments
        .values()
        .filter(|s| s.contains(&ShipmentStatus::EtaChanged))
        .count();
    assert!(slipped > 0, "some ETAs slip");
    assert!(
        pos.values()
            .any(|s| s.contains(&PurchaseOrderStatus::Closed))
    );
}

#[test]
fn expected_stock_rarely_goes_negative() {
    let (_, w) = default_run();
    let book = w.book();
    assert!(book.take_outs > 100_000);
    assert!(
        share(book.went_negative, book.take_outs) < 0.001,
        "{} of {} take-outs went negative",
        book.went_negative,
        book.take_outs
    );
}

#[test]
fn order_prices_match_the_price_book_except_the_deliberate_mismatches() {
    let config = WorkloadConfig {
        price_mismatch_rate: 0.05,
        ..small()
    };
    let (records, w) = run(config);
    let mut book: HashMap<(&str, &str), &PriceBookEntry> = HashMap::new();
    let mut mismatched_orders = 0;
    for r in records.iter() {
        match r {
            AnyRecord::Price(p) => {
                book.insert((&p.price_list_id, &p.sku), p);
            }
            AnyRecord::Order(o) => {
                let country = o
                    .destination
                    .as_ref()
                    .map(|d| d.country.clone())
                    .unwrap_or_else(|| {
                        let store = o.pickup_location_id.as_deref().expect("pickup store");
                        w.network()
                            .site(store)
                            .expect("store")
                            .country()
                            .to_string()
                    });
                let list = &w.catalogue().price_lists[w.catalogue().list_for(&country, o.channel)];
                let wrong = o.lines.iter().any(|l| {
                    let entry = book[&(list.id.as_str(), l.sku.as_str())];
                    let active: Vec<&Promotion> = entry
                        .promotions
                        .iter()
                        .filter(|p| (p.valid_from..p.valid_to).contains(&o.event_time))
                        .collect();
                    let discount: i64 = active
                        .iter()
                        .map(|p| unit_discount(entry.list_price_cents, p.kind, p.value))
                        .sum::<i64>()
                        * i64::from(l.quantity);
                    let ids: Vec<&str> = active.iter().map(|p| p.promotion_id.as_str()).collect();
                    l.unit_price_cents != entry.list_price_cents
                        || l.discount_cents != discount
                        || l.promotion_ids
                            .iter()
                            .map(String::as_str)
                            .collect::<Vec<_>>()
                            != ids
                });
                mismatched_orders += u64::from(wrong);
            }
            _ => {}
        }
    }
    assert!(w.stats().price_mismatches > 0);
    assert_eq!(mismatched_orders, w.stats().price_mismatches);
}

/// Avro round trip of one record through the schemas' codec.
fn round_trips(record: &AnyRecord) -> bool {
    struct RoundTrip;
    impl RecordVisitor for RoundTrip {
        type Output = bool;
        fn visit<R: Record>(self, record: &R) -> bool {
            let mut body = Vec::new();
            allot_schemas::codec::encode(record, &mut body).expect("encodes");
            let back: R = allot_schemas::codec::decode(&body).expect("decodes");
            &back == record
        }
    }
    record.visit(RoundTrip)
}

#[test]
fn every_record_round_trips_through_the_avro_codec() {
    let config = WorkloadConfig {
        bad_record_rate: 0.01,
        ..small()
    };
    let (records, _) = run(config);
    for r in records.iter() {
        assert!(round_trips(r), "{} does not round-trip", r.event_id());
    }
}

fn arb_config() -> impl Strategy<Value = WorkloadConfig> {
    let countries =
        prop::sample::subsequence(vec!["FR", "DE", "GB", "PL", "US", "CA", "SE", "CH"], 1..=3);
    (
        any::<u64>(),
        1u32..=3,
        1u32..=8,
        0u32..=2,
        10u32..=150,
        countries,
        0.0f64..0.05,
        0.0f64..1.5,
    )
        .prop_map(
            |(seed, dcs, stores, dark_stores, skus, countries, bad, zipf)| WorkloadConfig {
                seed,
                dcs,
                stores,
                dark_stores,
                skus,
                countries: countries.into_iter().map(String::from).collect(),
                bad_record_rate: bad,
                zipf_exponent: zipf,
                days: 1,
                customers: 500,
                orders_per_day: 400.0,
                pos_baskets_per_store_per_day: 150.0,
                ..WorkloadConfig::default()
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn any_small_config_gives_a_valid_stream(config in arb_config()) {
        let (records, w) = run(config);
        let mut last = w.start_time();
        let mut ids = HashSet::new();
        for r in records.iter() {
            prop_assert!(r.event_time() >= last);
            last = r.event_time();
            prop_assert!(ids.insert(r.event_id().to_string()));
        }
        prop_assert_eq!(invalid_records(&records), w.stats().bad_total());
        prop_assert_eq!(records.len() as u64, w.stats().total());
        // A sample of each topic round-trips through the codec.
        let mut seen = HashSet::new();
        for r in records.iter().filter(|r| seen.insert(r.topic())) {
            prop_assert!(round_trips(r), "{} does not round-trip", r.event_id());
        }
    }
}
