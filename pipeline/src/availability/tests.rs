//! Properties of the availability engine over random event sequences: incremental state
//! equals a from-scratch recomputation whatever the arrival order (inside the lateness
//! window) and however often events are duplicated; the last message per sku equals the
//! state; on hand follows the count rule as an independent model computes it.

use std::collections::{BTreeMap, HashMap};

use allot_schemas::*;
use proptest::prelude::*;

use super::dedupe::id_hash;
use super::{Applied, AvailabilityConfig, AvailabilityEngine};

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const SKUS: [&str; 3] = ["sku-a", "sku-b", "sku-c"];
const LOCS: [&str; 3] = ["dc-1", "store-1", "store-2"];

fn location(i: usize, time: i64) -> AnyRecord {
    let groups = match i {
        0 => vec!["ecom".to_string()],
        1 => vec!["stores".to_string(), "ecom".to_string()],
        _ => vec!["stores".to_string()],
    };
    AnyRecord::Location(Location {
        event_id: format!("loc-{i}-{time}"),
        event_time: time,
        source: "test".into(),
        location_id: LOCS[i].into(),
        name: LOCS[i].into(),
        kind: if i == 0 {
            LocationKind::Dc
        } else {
            LocationKind::Store
        },
        active: true,
        city: "Lyon".into(),
        country: "FR".into(),
        latitude: 45.76,
        longitude: 4.83,
        timezone: "Europe/Paris".into(),
        capabilities: vec![Capability::Ship],
        opening_hours: vec![],
        pick_capacity_per_day: 100,
        ship_capacity_per_day: 100,
        distribution_groups: groups,
        transit_times: vec![],
        default_transit_days: 2,
    })
}

/// One generated inventory event, before ids and times are attached.
#[derive(Debug, Clone)]
enum Op {
    Sale {
        sku: usize,
        loc: usize,
        qty: i32,
        ret: bool,
    },
    Count {
        sku: usize,
        loc: usize,
        qty: i32,
    },
    Delta {
        sku: usize,
        loc: usize,
        kind: AdjustmentKind,
        qty: i32,
    },
    Return {
        sku: usize,
        loc: usize,
        qty: i32,
        resellable: bool,
    },
    Shipped {
        sku: usize,
        loc: usize,
        qty: i32,
    },
    Shipment {
        id: usize,
        status: ShipmentStatus,
        eta_h: i64,
        lines: Vec<(usize, i32)>,
        po: Option<usize>,
    },
    Receipt {
        loc: usize,
        shipment: Option<usize>,
        po: Option<usize>,
        lines: Vec<(usize, i32, i32)>,
    },
    Po {
        id: usize,
        status: PurchaseOrderStatus,
        due_h: i64,
        lines: Vec<(usize, i32)>,
    },
    Safety {
        id: usize,
        sku: Option<usize>,
        loc: Option<usize>,
        units: i32,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let sku = 0..SKUS.len();
    let loc = 0..LOCS.len();
    let lines = prop::collection::vec((0..SKUS.len(), 1..20i32), 0..3);
    prop_oneof![
        (sku.clone(), loc.clone(), 1..5i32, any::<bool>())
            .prop_map(|(sku, loc, qty, ret)| Op::Sale { sku, loc, qty, ret }),
        (sku.clone(), loc.clone(), 0..50i32).prop_map(|(sku, loc, qty)| Op::Count {
            sku,
            loc,
            qty
        }),
        (
            sku.clone(),
            loc.clone(),
            prop_oneof![
                Just(AdjustmentKind::Shrink),
                Just(AdjustmentKind::Damage),
                Just(AdjustmentKind::Found),
                Just(AdjustmentKind::Correction)
            ],
            1..5i32
        )
            .prop_map(|(sku, loc, kind, qty)| Op::Delta {
                sku,
                loc,
                kind,
                qty
            }),
        (sku.clone(), loc.clone(), 1..4i32, any::<bool>()).prop_map(
            |(sku, loc, qty, resellable)| Op::Return {
                sku,
                loc,
                qty,
                resellable
            }
        ),
        (sku.clone(), loc.clone(), 1..3i32).prop_map(|(sku, loc, qty)| Op::Shipped {
            sku,
            loc,
            qty
        }),
        (
            0..3usize,
            prop_oneof![
                Just(ShipmentStatus::Created),
                Just(ShipmentStatus::Departed),
                Just(ShipmentStatus::EtaChanged),
                Just(ShipmentStatus::Delivered),
                Just(ShipmentStatus::Cancelled)
            ],
            0..200i64,
            lines.clone(),
            prop::option::of(0..2usize)
        )
            .prop_map(|(id, status, eta_h, lines, po)| Op::Shipment {
                id,
                status,
                eta_h,
                lines,
                po
            }),
        (
            loc.clone(),
            prop::option::of(0..3usize),
            prop::option::of(0..2usize),
            prop::collection::vec((0..SKUS.len(), 0..10i32, 0..2i32), 1..3)
        )
            .prop_map(|(loc, shipment, po, lines)| Op::Receipt {
                loc,
                shipment,
                po,
                lines
            }),
        (
            0..2usize,
            prop_oneof![
                Just(PurchaseOrderStatus::Open),
                Just(PurchaseOrderStatus::Amended),
                Just(PurchaseOrderStatus::Cancelled),
                Just(PurchaseOrderStatus::Closed)
            ],
            0..400i64,
            lines
        )
            .prop_map(|(id, status, due_h, lines)| Op::Po {
                id,
                status,
                due_h,
                lines
            }),
        (
            0..2usize,
            prop::option::of(sku),
            prop::option::of(loc),
            0..5i32
        )
            .prop_map(|(id, sku, loc, units)| Op::Safety {
                id,
                sku,
                loc,
                units
            }),
    ]
}

fn record(n: usize, time: i64, op: &Op) -> AnyRecord {
    let event_id = format!("e{n}");
    let source = "test".to_string();
    let hour = 3_600_000;
    match op.clone() {
        Op::Sale { sku, loc, qty, ret } => AnyRecord::PosSale(PosTransaction {
            event_id,
            event_time: time,
            source,
            store_id: LOCS[loc].into(),
            register_id: "r".into(),
            transaction_id: format!("t{n}"),
            lines: vec![PosLine {
                sku: SKUS[sku].into(),
                quantity: qty,
                kind: if ret {
                    PosLineKind::Return
                } else {
                    PosLineKind::Sale
                },
                unit_price_cents: 100,
            }],
            currency: "EUR".into(),
        }),
        Op::Count { sku, loc, qty } => {
            adjustment(event_id, time, sku, loc, AdjustmentKind::CycleCount, qty)
        }
        Op::Delta {
            sku,
            loc,
            kind,
            qty,
        } => adjustment(event_id, time, sku, loc, kind, qty),
        Op::Return {
            sku,
            loc,
            qty,
            resellable,
        } => AnyRecord::Return(ReturnEvent {
            event_id,
            event_time: time,
            source,
            return_id: format!("r{n}"),
            order_id: None,
            customer_id: None,
            location_id: LOCS[loc].into(),
            channel: Channel::Web,
            lines: vec![ReturnLine {
                sku: SKUS[sku].into(),
                quantity: qty,
                condition: if resellable {
                    ReturnCondition::Resellable
                } else {
                    ReturnCondition::Damaged
                },
                disposition: Disposition::Restock,
                reason: None,
            }],
        }),
        Op::Shipped { sku, loc, qty } => AnyRecord::OrderEvent(OrderEvent {
            event_id,
            event_time: time,
            source,
            order_id: format!("o{n}"),
            channel: Channel::Web,
            kind: OrderEventKind::Shipped,
            lines: vec![OrderEventLine {
                line_id: "1".into(),
                sku: SKUS[sku].into(),
                quantity: qty,
            }],
            location_id: Some(LOCS[loc].into()),
            reason: None,
        }),
        Op::Shipment {
            id,
            status,
            eta_h,
            lines,
            po,
        } => AnyRecord::Shipment(ShipmentEvent {
            event_id,
            event_time: time,
            source,
            shipment_id: format!("ship-{id}"),
            kind: ShipmentKind::Transfer,
            status,
            // Shipment i is a transfer from location i+1 to location i.
            origin_location_id: Some(LOCS[(id + 1) % LOCS.len()].into()),
            vendor_id: None,
            po_id: po.map(|p| format!("po-{p}")),
            // Shipment i always goes to location i (a shipment has one destination).
            destination_location_id: LOCS[id % LOCS.len()].into(),
            expected_arrival: T0 + eta_h * hour,
            lines: lines
                .into_iter()
                .map(|(sku, quantity)| ShipmentLine {
                    sku: SKUS[sku].into(),
                    quantity,
                })
                .collect(),
        }),
        Op::Receipt {
            loc,
            shipment,
            po,
            lines,
        } => AnyRecord::Receipt(Receipt {
            event_id,
            event_time: time,
            source,
            receipt_id: format!("rc{n}"),
            location_id: LOCS[loc].into(),
            shipment_id: shipment.map(|s| format!("ship-{s}")),
            po_id: po.map(|p| format!("po-{p}")),
            lines: lines
                .into_iter()
                .map(|(sku, r, d)| ReceiptLine {
                    sku: SKUS[sku].into(),
                    quantity_received: r,
                    quantity_damaged: d,
                })
                .collect(),
        }),
        Op::Po {
            id,
            status,
            due_h,
            lines,
        } => AnyRecord::PurchaseOrder(PurchaseOrder {
            event_id,
            event_time: time,
            source,
            po_id: format!("po-{id}"),
            vendor_id: "v".into(),
            destination_location_id: LOCS[0].into(),
            status,
            expected_date: T0 + due_h * hour,
            lines: lines
                .into_iter()
                .map(|(sku, q)| PurchaseOrderLine {
                    sku: SKUS[sku].into(),
                    quantity_ordered: q,
                })
                .collect(),
        }),
        Op::Safety {
            id,
            sku,
            loc,
            units,
        } => AnyRecord::SafetyStock(SafetyStockPolicy {
            event_id,
            event_time: time,
            source,
            policy_id: format!("ss-{id}"),
            sku: sku.map(|s| SKUS[s].into()),
            location_id: loc.map(|l| LOCS[l].into()),
            channel: None,
            safety_stock_units: units,
            active: true,
        }),
    }
}

fn adjustment(
    event_id: String,
    time: i64,
    sku: usize,
    loc: usize,
    kind: AdjustmentKind,
    qty: i32,
) -> AnyRecord {
    AnyRecord::Adjustment(InventoryAdjustment {
        event_id,
        event_time: time,
        source: "test".into(),
        location_id: LOCS[loc].into(),
        sku: SKUS[sku].into(),
        kind,
        quantity: qty,
        reason: None,
    })
}

/// Events with unique ids and times inside 12 hours (well inside the lateness window), plus
/// the location reference data; and a shuffled arrival order with duplicates.
fn scenario() -> impl Strategy<Value = (Vec<AnyRecord>, Vec<usize>, Vec<usize>)> {
    prop::collection::vec((op(), 0..12 * 60i64), 1..60).prop_flat_map(|ops| {
        let mut events: Vec<AnyRecord> = (0..LOCS.len()).map(|i| location(i, T0)).collect();
        events.extend(
            ops.iter()
                .enumerate()
                .map(|(n, (op, minute))| record(n, T0 + minute * 60_000, op)),
        );
        let n = events.len();
        let order = Just((0..n).collect::<Vec<usize>>()).prop_shuffle();
        let dups = prop::collection::vec(0..n, 0..n / 2 + 1);
        let flushes = prop::collection::vec(0..n + 1, 0..4);
        (Just(events), order, dups, flushes).prop_map(|(events, mut order, dups, flushes)| {
            for (k, d) in dups.into_iter().enumerate() {
                let at = (k * 7919) % (order.len() + 1);
                order.insert(at, d);
            }
            let mut o = order;
            o.extend(flushes.iter().map(|f| usize::MAX - f));
            (events, o, flushes)
        })
    })
}

/// Availability with version and envelope dropped, skus with nothing to publish dropped.
fn content(all: Vec<Availability>) -> BTreeMap<String, Vec<ChannelAvailability>> {
    all.into_iter()
        .filter(|a| a.channels.iter().any(|c| !c.locations.is_empty()))
        .map(|a| (a.sku, a.channels))
        .collect()
}

/// The count rule computed directly: the newest count (by time, then id hash), plus every
/// accepted delta strictly after it.
fn model_on_hand(events: &[AnyRecord]) -> HashMap<(String, String), i64> {
    let mut counts: HashMap<(String, String), (i64, u32, i64)> = HashMap::new();
    let mut deltas: Vec<((String, String), i64, i64)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for e in events {
        if !seen.insert(e.event_id().to_string()) {
            continue;
        }
        let t = e.event_time();
        let mut delta =
            |sku: &str, loc: &str, q: i64| deltas.push(((sku.into(), loc.into()), t, q));
        match e {
            AnyRecord::PosSale(tx) => {
                for l in &tx.lines {
                    let q = i64::from(l.quantity);
                    delta(
                        &l.sku,
                        &tx.store_id,
                        if l.kind == PosLineKind::Sale { -q } else { q },
                    );
                }
            }
            AnyRecord::Adjustment(a) => {
                let q = i64::from(a.quantity);
                match a.kind {
                    AdjustmentKind::CycleCount => {
                        let key = (a.sku.clone(), a.location_id.clone());
                        let rank = id_hash(&a.event_id) as u32;
                        let c = counts.entry(key).or_insert((i64::MIN, 0, 0));
                        if (t, rank) > (c.0, c.1) {
                            *c = (t, rank, q);
                        }
                    }
                    AdjustmentKind::Shrink | AdjustmentKind::Damage => {
                        delta(&a.sku, &a.location_id, -q)
                    }
                    _ => delta(&a.sku, &a.location_id, q),
                }
            }
            AnyRecord::Return(r) => {
                for l in &r.lines {
                    if l.condition == ReturnCondition::Resellable {
                        delta(&l.sku, &r.location_id, i64::from(l.quantity));
                    }
                }
            }
            AnyRecord::Receipt(r) => {
                for l in &r.lines {
                    delta(&l.sku, &r.location_id, i64::from(l.quantity_received));
                }
            }
            AnyRecord::OrderEvent(o) => {
                for l in &o.lines {
                    delta(
                        &l.sku,
                        o.location_id.as_deref().unwrap(),
                        -i64::from(l.quantity),
                    );
                }
            }
            _ => {}
        }
    }
    // Departed transfers take their lines out of the origin at the earliest departure,
    // unless cancelled; the lines are the latest event's that has lines.
    type ShipmentModel<'a> = (Option<i64>, bool, Option<((i64, u32), &'a ShipmentEvent)>);
    let mut ships: BTreeMap<String, ShipmentModel> = BTreeMap::new();
    let mut seen_ship = std::collections::HashSet::new();
    for e in events {
        if let AnyRecord::Shipment(s) = e {
            if !seen_ship.insert(s.event_id.clone()) {
                continue;
            }
            let entry = ships
                .entry(s.shipment_id.clone())
                .or_insert((None, false, None));
            if s.status == ShipmentStatus::Departed {
                entry.0 = Some(entry.0.map_or(s.event_time, |d: i64| d.min(s.event_time)));
            }
            if s.status == ShipmentStatus::Cancelled {
                entry.1 = true;
            }
            let stamp = (s.event_time, id_hash(&s.event_id) as u32);
            if !s.lines.is_empty() && entry.2.is_none_or(|(st, _)| stamp > st) {
                entry.2 = Some((stamp, s));
            }
        }
    }
    for (departed, cancelled, body) in ships.values() {
        if let (Some(t), false, Some((_, s))) = (departed, cancelled, body) {
            for l in &s.lines {
                let origin = s.origin_location_id.clone().unwrap();
                deltas.push(((l.sku.clone(), origin), *t, -i64::from(l.quantity)));
            }
        }
    }
    let mut on_hand: HashMap<(String, String), i64> = HashMap::new();
    for (key, (_, _, q)) in &counts {
        on_hand.insert(key.clone(), *q);
    }
    for (key, t, q) in deltas {
        let after_count = counts.get(&key).is_none_or(|c| t > c.0);
        if after_count {
            *on_hand.entry(key).or_default() += q;
        }
    }
    on_hand
}

type Content = BTreeMap<String, Vec<ChannelAvailability>>;

/// The (sku, channel, location) entries that differ, one per line.
fn diff(a: &Content, b: &Content) -> String {
    let flat = |c: &Content| -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        for (sku, chans) in c {
            for ch in chans {
                m.insert(
                    format!("{sku} {:?} network", ch.channel),
                    format!("{:?}", ch.network.iter().map(|b| b.atp).collect::<Vec<_>>()),
                );
                for l in &ch.locations {
                    m.insert(
                        format!("{sku} {:?} {}", ch.channel, l.location_id),
                        format!(
                            "oh={} res={} ss={} atp={:?}",
                            l.on_hand,
                            l.reserved,
                            l.safety_stock,
                            l.buckets.iter().map(|b| b.atp).collect::<Vec<_>>()
                        ),
                    );
                }
            }
        }
        m
    };
    let (fa, fb) = (flat(a), flat(b));
    let mut out = String::new();
    for k in fa
        .keys()
        .chain(fb.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        if fa.get(k) != fb.get(k) {
            out.push_str(&format!(
                "  {k}: incremental {:?} / scratch {:?}\n",
                fa.get(k),
                fb.get(k)
            ));
        }
    }
    out
}

/// One line per event in arrival order.
fn brief(events: &[AnyRecord], order: &[usize]) -> String {
    order
        .iter()
        .filter(|i| **i < events.len())
        .map(|i| {
            let e = &events[*i];
            let body = match e {
                AnyRecord::Shipment(s) => format!(
                    "{} {:?} eta={} po={:?} lines={:?}",
                    s.shipment_id,
                    s.status,
                    (s.expected_arrival - T0) / 3_600_000,
                    s.po_id,
                    s.lines
                        .iter()
                        .map(|l| (&l.sku, l.quantity))
                        .collect::<Vec<_>>()
                ),
                AnyRecord::PurchaseOrder(p) => format!(
                    "{} {:?} due={} lines={:?}",
                    p.po_id,
                    p.status,
                    (p.expected_date - T0) / 3_600_000,
                    p.lines
                        .iter()
                        .map(|l| (&l.sku, l.quantity_ordered))
                        .collect::<Vec<_>>()
                ),
                AnyRecord::Receipt(r) => format!(
                    "at {} ship={:?} po={:?} lines={:?}",
                    r.location_id,
                    r.shipment_id,
                    r.po_id,
                    r.lines
                        .iter()
                        .map(|l| (&l.sku, l.quantity_received, l.quantity_damaged))
                        .collect::<Vec<_>>()
                ),
                AnyRecord::Adjustment(a) => {
                    format!("{} {} {:?} {}", a.sku, a.location_id, a.kind, a.quantity)
                }
                other => format!("{:?}", other.topic()),
            };
            format!(
                "  {} t+{}m {}",
                e.event_id(),
                (e.event_time() - T0) / 60_000,
                body
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn incremental_equals_from_scratch((events, order, _flushes) in scenario()) {
        // Incremental: shuffled, duplicated, flushed at random points.
        let mut live = AvailabilityEngine::new(AvailabilityConfig::default());
        let mut published: BTreeMap<String, Availability> = BTreeMap::new();
        let mut out = Vec::new();
        for i in &order {
            if *i >= events.len() {
                live.flush(&mut out);
                continue;
            }
            let applied = live.apply(&events[*i]);
            if let Applied::Refused(_, why) = &applied {
                prop_assert!(false, "refused {:?}: {why}", events[*i]);
            }
        }
        live.flush(&mut out);
        for a in out.drain(..) {
            if let Some(prev) = published.get(&a.sku) {
                prop_assert!(a.version > prev.version, "versions grow per sku");
            }
            published.insert(a.sku.clone(), a);
        }
        // The last message per sku is the state.
        for (sku, last) in &published {
            let now = live.snapshot(sku);
            prop_assert_eq!(Some(last), now.as_ref());
        }

        // From scratch: each event once, in event-time order.
        let mut sorted = events.clone();
        sorted.sort_by(|a, b| (a.event_time(), a.event_id()).cmp(&(b.event_time(), b.event_id())));
        let mut fresh = AvailabilityEngine::new(AvailabilityConfig::default());
        for e in &sorted {
            prop_assert_eq!(fresh.apply(e), Applied::Accepted);
        }
        let (a, b) = (content(live.snapshot_all()), content(fresh.snapshot_all()));
        prop_assert!(a == b, "incremental differs from scratch:\n{}\nevents:\n{}", diff(&a, &b), brief(&events, &order));

        // On hand agrees with the independent model of the count rule.
        let model = model_on_hand(&events);
        for a in live.snapshot_all() {
            for c in &a.channels {
                for l in &c.locations {
                    let want = model.get(&(a.sku.clone(), l.location_id.clone())).copied().unwrap_or(0);
                    prop_assert_eq!(l.on_hand, want, "on hand of {} at {}", a.sku, l.location_id);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// The bytes the runtime publishes are the codec's encoding of the records `flush`
    /// builds, message for message.
    #[test]
    fn encoded_flush_equals_built_flush((events, order, _flushes) in scenario()) {
        use allot_schemas::codec::{ConfluentCodec, SchemaResolver, StaticResolver};
        let codec = ConfluentCodec::new(StaticResolver::new());
        let id = StaticResolver::new().writer_id(Topic::Availability).unwrap();
        let mut built = AvailabilityEngine::new(AvailabilityConfig::default());
        let mut encoded = AvailabilityEngine::new(AvailabilityConfig::default());
        let (mut records, mut batch) = (Vec::new(), super::EncodedBatch::default());
        let mut compared = 0usize;
        let mut compare = |built: &mut AvailabilityEngine, encoded: &mut AvailabilityEngine| {
            records.clear();
            batch.clear();
            built.flush(&mut records);
            encoded.flush_encoded(id, &mut batch);
            assert_eq!(records.len(), batch.len());
            for (record, (key, value)) in records.iter().zip(batch.iter()) {
                assert_eq!(key, record.sku.as_bytes());
                let mut expected = Vec::new();
                codec.encode(record, &mut expected).unwrap();
                assert_eq!(value, expected.as_slice(), "bytes of {}", record.sku);
                compared += 1;
            }
        };
        for i in &order {
            if *i >= events.len() {
                compare(&mut built, &mut encoded);
                continue;
            }
            built.apply(&events[*i]);
            encoded.apply(&events[*i]);
        }
        compare(&mut built, &mut encoded);
        // Whenever there is availability to publish, bytes were actually compared.
        let published = built.snapshot_all().len();
        prop_assert!(published == 0 || compared > 0, "{published} skus published, none compared");
    }
}

#[test]
fn too_late_and_invalid_events_are_refused_with_a_reason() {
    let mut e = AvailabilityEngine::new(AvailabilityConfig::default());
    let sale = |n: usize, t: i64, q: i32| {
        record(
            n,
            t,
            &Op::Sale {
                sku: 0,
                loc: 1,
                qty: q,
                ret: false,
            },
        )
    };
    assert_eq!(e.apply(&sale(1, T0 + 48 * 3_600_000, 1)), Applied::Accepted);
    match e.apply(&sale(2, T0, 1)) {
        Applied::Refused(DeadLetterKind::Validation, why) => {
            assert!(why.contains("too late"), "{why}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    match e.apply(&sale(3, T0 + 48 * 3_600_000, -2)) {
        Applied::Refused(DeadLetterKind::Validation, why) => {
            assert!(why.contains("must be positive"), "{why}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(
        e.apply(&sale(1, T0 + 48 * 3_600_000, 1)),
        Applied::Duplicate
    );
    assert_eq!(e.stats().refused, 2);
    assert_eq!(e.stats().duplicates, 1);
}

#[test]
fn lateness_is_judged_per_input_lane() {
    let hour = 3_600_000;
    let sale = |n: usize, t: i64| {
        record(
            n,
            t,
            &Op::Sale {
                sku: 0,
                loc: 1,
                qty: 1,
                ret: false,
            },
        )
    };
    let mut e = AvailabilityEngine::new(AvailabilityConfig::default());
    e.open_lanes(2);
    // Lane 0 is three days ahead of lane 1, as when a backlog is read from two partitions.
    assert_eq!(e.apply_in(0, &sale(1, T0 + 72 * hour)), Applied::Accepted);
    assert_eq!(e.floor(), i64::MIN, "lane 1 has not delivered yet");
    assert_eq!(e.apply_in(1, &sale(2, T0)), Applied::Accepted);
    assert_eq!(e.apply_in(1, &sale(3, T0 + hour)), Applied::Accepted);
    // The floor follows the slowest lane, so lane 1's ids are still remembered.
    assert_eq!(e.floor(), T0 + hour - 24 * hour);
    assert_eq!(e.apply_in(1, &sale(2, T0)), Applied::Duplicate);
    // Within its own lane an event more than the window behind is still too late.
    assert_eq!(e.apply_in(1, &sale(4, T0 + 30 * hour)), Applied::Accepted);
    match e.apply_in(1, &sale(5, T0 + hour)) {
        Applied::Refused(DeadLetterKind::Validation, why) => {
            assert!(why.contains("its input partition"), "{why}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // A lane seen for the first time below the floor is refused too.
    match e.apply_in(2, &sale(6, T0 - 48 * hour)) {
        Applied::Refused(DeadLetterKind::Validation, why) => {
            assert!(why.contains("floor"), "{why}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // The same three days in one lane: the older events are refused.
    let mut one = AvailabilityEngine::new(AvailabilityConfig::default());
    assert_eq!(one.apply(&sale(1, T0 + 72 * hour)), Applied::Accepted);
    assert!(matches!(one.apply(&sale(2, T0)), Applied::Refused(..)));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Paced flushes (a hot sku at most once per interval) hold no change longer than the
    /// interval, publish growing versions, and after the last (unpaced) flush the last
    /// message per sku is the state, as with unpaced flushes.
    #[test]
    fn paced_flushes_hold_no_change_past_the_interval(
        (events, order, _flushes) in scenario(),
        steps in proptest::collection::vec(0u64..40, 1..200),
    ) {
        use allot_schemas::codec::{ConfluentCodec, SchemaResolver, StaticResolver};
        use super::{EncodedBatch, Pace};
        let codec = ConfluentCodec::new(StaticResolver::new());
        let id = StaticResolver::new().writer_id(Topic::Availability).unwrap();
        let interval_ms = 50;
        let mut live = AvailabilityEngine::new(AvailabilityConfig::default());
        let mut batch = EncodedBatch::default();
        let mut last: BTreeMap<String, Availability> = BTreeMap::new();
        let mut now_ms = 0u64;
        let mut held_due: Option<u64> = None;
        let mut steps = steps.iter().cycle();
        let take = |batch: &mut EncodedBatch, last: &mut BTreeMap<String, Availability>| -> Result<(), TestCaseError> {
            for (_, value) in batch.iter() {
                let a: Availability = codec.decode(value).unwrap();
                if let Some(prev) = last.get(&a.sku) {
                    prop_assert!(a.version > prev.version, "versions grow per sku");
                }
                last.insert(a.sku.clone(), a);
            }
            batch.clear();
            Ok(())
        };
        for i in &order {
            if *i >= events.len() {
                now_ms += steps.next().unwrap();
                // A flush at or after the earliest due time publishes that sku.
                let due_before = held_due;
                let held = live.flush_encoded_paced(id, Pace { now_ms, interval_ms }, &mut batch);
                if let (Some(due), Some(h)) = (due_before, held)
                    && now_ms >= due
                {
                    prop_assert!(h.first_due_ms > now_ms, "a due sku stayed held");
                }
                if let Some(h) = held {
                    prop_assert!(h.first_due_ms <= now_ms + interval_ms);
                    prop_assert!(h.last_due_ms <= now_ms + interval_ms);
                    prop_assert!(h.first_due_ms <= h.last_due_ms);
                }
                held_due = held.map(|h| h.first_due_ms);
                take(&mut batch, &mut last)?;
                continue;
            }
            live.apply(&events[*i]);
        }
        live.flush_encoded(id, &mut batch);
        take(&mut batch, &mut last)?;
        for (sku, message) in &last {
            let state = live.snapshot(sku);
            prop_assert_eq!(Some(message), state.as_ref());
        }
        prop_assert_eq!(last.len(), live.snapshot_all().len());
    }
}

/// `batch`'s records folded into `state`, last per key (a tombstone removes the key).
fn fold_changelog(batch: &super::ChangelogBatch, state: &mut BTreeMap<Vec<u8>, Vec<u8>>) {
    for (key, value) in batch.iter() {
        match value {
            Some(v) => state.insert(key.to_vec(), v.to_vec()),
            None => state.remove(key),
        };
    }
}

/// `(key, value)` of published messages.
type Messages = Vec<(Vec<u8>, Vec<u8>)>;

/// One paced flush, messages sorted by key (a restored engine queues the skus awaiting
/// publication by name, the original by first change; each message is the same).
fn paced_flush(engine: &mut AvailabilityEngine, now_ms: u64) -> (Option<super::Held>, Messages) {
    let mut batch = super::EncodedBatch::default();
    let held = engine.flush_encoded_paced(
        7,
        super::Pace {
            now_ms,
            interval_ms: 50,
        },
        &mut batch,
    );
    let mut messages: Messages = batch
        .iter()
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect();
    messages.sort();
    (held, messages)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Recovery: engine B applies a prefix of the input and writes its changelog (several
    /// times, between flushes); engine C restores from those records, last per key (or
    /// from every record in order, tombstones included, as an uncompacted topic has them).
    /// C's state dumps to the same records, and from then on C behaves as engine A, which
    /// saw the whole input without a restart: the same outcome per record, the same
    /// messages byte for byte at every flush, the same final state, and the prefix's
    /// events fed again are duplicates (or too late, under a lateness short enough for the
    /// floor to rise and forget ids).
    #[test]
    fn a_restored_engine_behaves_as_the_one_that_wrote_the_changelog(
        (events, order, _flushes) in scenario(),
        split in any::<prop::sample::Index>(),
        log_at in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
        max_lateness_ms in prop_oneof![Just(24 * 3_600_000i64), Just(2 * 3_600_000)],
        compacted in any::<bool>(),
    ) {
        let split = split.index(order.len() + 1);
        let log_at: Vec<usize> = log_at.iter().map(|i| i.index(split + 1)).collect();
        let config = AvailabilityConfig { max_lateness_ms, ..AvailabilityConfig::default() };
        let fresh = || AvailabilityEngine::new(config.clone());
        let (mut a, mut b) = (fresh(), fresh());
        let mut now_ms = 0u64;
        let mut log = super::ChangelogBatch::default();
        let mut records: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        let mut every: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
        let mut write_log = |b: &mut AvailabilityEngine, records: &mut BTreeMap<Vec<u8>, Vec<u8>>| {
            log.clear();
            b.changelog_dirty(&mut log);
            fold_changelog(&log, records);
            every.extend(log.iter().map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec))));
        };
        for (k, i) in order[..split].iter().enumerate() {
            if log_at.contains(&k) {
                write_log(&mut b, &mut records);
            }
            if *i >= events.len() {
                now_ms += 30;
                prop_assert_eq!(paced_flush(&mut a, now_ms), paced_flush(&mut b, now_ms));
            } else {
                prop_assert_eq!(a.apply(&events[*i]), b.apply(&events[*i]));
            }
        }
        write_log(&mut b, &mut records);

        let mut c = fresh();
        if compacted {
            for (key, value) in &records {
                c.restore(key, Some(value)).unwrap();
            }
        } else {
            for (key, value) in &every {
                c.restore(key, value.as_deref()).unwrap();
            }
        }
        c.restore_finish();
        // C's state is what the changelog says (the dedupe chunks aside: C cuts its own).
        let is_ids = |k: &Vec<u8>| k.starts_with(b"\0E");
        let mut dump = super::ChangelogBatch::default();
        c.changelog_all(&mut dump);
        let mut dumped = BTreeMap::new();
        fold_changelog(&dump, &mut dumped);
        dumped.retain(|k, _| !is_ids(k));
        let mut logged = records.clone();
        logged.retain(|k, _| !is_ids(k));
        prop_assert_eq!(dumped, logged);
        prop_assert_eq!(c.snapshot_all(), a.snapshot_all());
        prop_assert_eq!((c.positions(), c.watermark(), c.floor()), (a.positions(), a.watermark(), a.floor()));

        // The rest of the input, then the prefix again.
        let again = order[..split].iter().filter(|i| **i < events.len());
        for i in order[split..].iter().chain(again) {
            if *i >= events.len() {
                now_ms += 30;
                prop_assert_eq!(paced_flush(&mut c, now_ms), paced_flush(&mut a, now_ms));
            } else {
                prop_assert_eq!(c.apply(&events[*i]), a.apply(&events[*i]));
            }
        }
        for e in order[..split].iter().filter_map(|i| events.get(*i)) {
            let deduped = !matches!(
                e,
                AnyRecord::Shipment(_) | AnyRecord::PurchaseOrder(_) | AnyRecord::Location(_) | AnyRecord::SafetyStock(_)
            );
            if deduped {
                match c.apply(e) {
                    Applied::Duplicate => {}
                    Applied::Refused(_, why) if why.starts_with("too late") => {}
                    other => prop_assert!(false, "{:?} gave {:?}", e, other),
                }
            }
        }
        now_ms += 1_000;
        prop_assert_eq!(paced_flush(&mut c, now_ms), paced_flush(&mut a, now_ms));
        prop_assert_eq!(c.snapshot_all(), a.snapshot_all());
    }
}

/// Restores `value` under `key` into a fresh engine and checks the error's text.
fn check_restore_error(key: &[u8], value: &[u8], expected: &str) {
    let mut engine = AvailabilityEngine::new(AvailabilityConfig::default());
    match engine.restore(key, Some(value)) {
        Ok(()) => panic!("{key:?} = {value:?} restored; expected an error with {expected:?}"),
        Err(e) => assert!(
            e.to_string().contains(expected),
            "{e}; expected {expected:?}"
        ),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Every record kind: an unknown version, another kind's header, any truncation, and
    /// trailing bytes are errors, and arbitrary damage never panics.
    #[test]
    fn bad_changelog_records_are_errors_not_panics(
        (events, order, _flushes) in scenario(),
        damage in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut engine = AvailabilityEngine::new(AvailabilityConfig::default());
        for i in order.iter().filter(|i| **i < events.len()) {
            engine.apply(&events[*i]);
        }
        let mut all = super::ChangelogBatch::default();
        engine.changelog_all(&mut all);
        prop_assert!(!all.is_empty());
        for (key, value) in all.iter() {
            let value = value.expect("a full dump has no tombstones");
            let mut v = value.to_vec();
            v[0] = super::FORMAT_VERSION + 1;
            check_restore_error(key, &v, "unknown format version");
            let mut v = value.to_vec();
            v[1] = if v[1] == b'S' { b'H' } else { b'S' };
            check_restore_error(key, &v, "does not match the key");
            for len in 0..value.len() {
                check_restore_error(key, &value[..len], "corrupt");
            }
            check_restore_error(key, &[value, &[0]].concat(), "corrupt");
            let mut v = value.to_vec();
            for (at, byte) in &damage {
                let at = at.index(v.len());
                v[at] = *byte;
            }
            let mut fresh = AvailabilityEngine::new(AvailabilityConfig::default());
            let _ = fresh.restore(key, Some(&v));
            fresh.restore_finish();
        }
    }
}

#[test]
fn a_changelog_of_another_configuration_is_refused() {
    let mut engine = AvailabilityEngine::new(AvailabilityConfig::default());
    let mut all = super::ChangelogBatch::default();
    engine.changelog_dirty(&mut all);
    let (key, meta) = all
        .iter()
        .find(|(k, _)| k == b"\0M")
        .expect("a meta record");
    let other = AvailabilityConfig {
        max_lateness_ms: 60_000,
        ..AvailabilityConfig::default()
    };
    let err = AvailabilityEngine::new(other)
        .restore(key, meta)
        .unwrap_err();
    assert!(
        matches!(err, super::RestoreError::ConfigChanged { .. }),
        "{err}"
    );
    assert!(
        AvailabilityEngine::new(AvailabilityConfig::default())
            .restore(key, meta)
            .is_ok()
    );
}

/// The generated workload (every kind of record, reference data mid-stream included),
/// stopped at several points: an engine restored from the changelog written up to each
/// point and fed the rest publishes what the uninterrupted engine publishes, versions too.
#[test]
fn a_restored_engine_carries_on_the_generated_workload_exactly() {
    use super::changelog::ChangelogBatch;
    let config = allot_loadtest::WorkloadConfig {
        days: 1,
        stores: 6,
        skus: 80,
        pos_baskets_per_store_per_day: 200.0,
        orders_per_day: 300.0,
        ..allot_loadtest::WorkloadConfig::default()
    };
    let records: Vec<AnyRecord> = allot_loadtest::Workload::new(config).unwrap().collect();
    // Both flush every 97 records and at the end (what was published shows in a snapshot).
    let whole = {
        let mut e = AvailabilityEngine::new(AvailabilityConfig::default());
        let mut out = Vec::new();
        for (i, r) in records.iter().enumerate() {
            e.apply(r);
            if i % 97 == 0 {
                e.flush(&mut out);
            }
        }
        e.flush(&mut out);
        e.snapshot_all()
    };
    for split in [records.len() / 5, records.len() / 2, 4 * records.len() / 5] {
        let mut before = AvailabilityEngine::new(AvailabilityConfig::default());
        let mut log: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
        let mut batch = ChangelogBatch::default();
        let mut out = Vec::new();
        // Flush, then write what changed, as the runtime does.
        let mut write = |e: &mut AvailabilityEngine| {
            e.flush(&mut out);
            batch.clear();
            e.changelog_dirty(&mut batch);
            log.extend(
                batch
                    .iter()
                    .map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec))),
            );
        };
        for (i, r) in records[..split].iter().enumerate() {
            before.apply(r);
            if i % 97 == 0 {
                write(&mut before);
            }
        }
        write(&mut before);
        let mut after = AvailabilityEngine::new(AvailabilityConfig::default());
        for (k, v) in &log {
            after.restore(k, v.as_deref()).unwrap();
        }
        after.restore_finish();
        for (i, r) in records.iter().enumerate().skip(split) {
            after.apply(r);
            if i % 97 == 0 {
                after.flush(&mut out);
            }
        }
        after.flush(&mut out);
        let got = after.snapshot_all();
        assert_eq!(got.len(), whole.len(), "split at {split}");
        for (g, w) in got.iter().zip(&whole) {
            assert_eq!(g, w, "split at {split} of {}", records.len());
        }
    }
}
