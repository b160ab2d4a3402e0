//! Sourcing tests: scenarios through a small `check` helper, the ledger lifecycle, and
//! properties over random concurrent batches (no oversell, one outcome per line, capacity,
//! determinism, lifecycle) and decision quality against brute force and the baseline.

use std::collections::BTreeMap;

use allot_schemas::*;
use proptest::prelude::*;

use super::*;

/// 2026-01-05 (a Monday) 10:00 UTC.
const T0: i64 = 20_458 * DAY_MS + 10 * 3_600_000;
const TODAY: Day = 20_458;

/// A location record with everything a test may vary.
pub(super) fn location(
    id: &str,
    kind: LocationKind,
    (lat, lon): (f64, f64),
    caps: &[Capability],
    groups: &[&str],
    (pick, ship): (i32, i32),
) -> Location {
    Location {
        event_id: format!("loc-{id}"),
        event_time: 0,
        source: "test".into(),
        location_id: id.into(),
        name: id.into(),
        kind,
        active: true,
        city: "x".into(),
        country: "FR".into(),
        latitude: lat,
        longitude: lon,
        timezone: "UTC".into(),
        capabilities: caps.to_vec(),
        // Every day 08:00-20:00 UTC.
        opening_hours: (1..=7)
            .map(|d| OpeningHours {
                day_of_week: d,
                open_minute: 8 * 60,
                close_minute: 20 * 60,
            })
            .collect(),
        pick_capacity_per_day: pick,
        ship_capacity_per_day: ship,
        distribution_groups: groups.iter().map(|g| g.to_string()).collect(),
        transit_times: vec![],
        default_transit_days: 1,
    }
}

pub(crate) fn dc(id: &str, at: (f64, f64)) -> Location {
    location(
        id,
        LocationKind::Dc,
        at,
        &[Capability::Ship],
        &["ecom"],
        (1000, 1000),
    )
}

/// A cycle count of `units` of `sku` at `loc`.
pub(crate) fn cycle_count(
    id: &str,
    t: i64,
    sku: &str,
    loc: &str,
    units: i32,
) -> InventoryAdjustment {
    InventoryAdjustment {
        event_id: id.into(),
        event_time: t,
        source: "test".into(),
        location_id: loc.into(),
        sku: sku.into(),
        kind: AdjustmentKind::CycleCount,
        quantity: units,
        reason: None,
    }
}

/// A web order of one line, `qty` of `sku`: shipped to Paris, or picked up at `store-1`;
/// requested two days after `t`.
pub(crate) fn order(id: &str, t: i64, f: FulfilmentType, sku: &str, qty: i32) -> Order {
    let pickup = f == FulfilmentType::PickupInStore;
    Order {
        event_id: format!("ev-{id}"),
        event_time: t,
        source: "test".into(),
        order_id: id.into(),
        channel: Channel::Web,
        customer_id: "c-1".into(),
        fulfilment: f,
        destination: (!pickup).then(|| Address {
            postal_code: "75001".into(),
            city: "Paris".into(),
            country: "FR".into(),
            latitude: 48.86,
            longitude: 2.35,
        }),
        pickup_location_id: pickup.then(|| "store-1".into()),
        requested_date: t + 48 * 3_600_000,
        slot: None,
        lines: vec![OrderLine {
            line_id: "1".into(),
            sku: sku.into(),
            quantity: qty,
            unit_price_cents: 999,
            discount_cents: 0,
            promotion_ids: vec![],
        }],
        currency: "EUR".into(),
    }
}

pub(super) fn store(id: &str, at: (f64, f64)) -> Location {
    location(
        id,
        LocationKind::Store,
        at,
        &[
            Capability::Pickup,
            Capability::ShipFromStore,
            Capability::SameDay,
        ],
        &["ecom", "stores", "same-day"],
        (1000, 1000),
    )
}

/// A network, its supply and a ledger.
struct World {
    net: Network,
    supply: InMemorySupply,
    ledger: Ledger,
}

impl World {
    fn new(locations: &[Location]) -> World {
        World::with_config(SourcingConfig::default(), locations)
    }

    fn with_config(config: SourcingConfig, locations: &[Location]) -> World {
        let mut net = Network::new(config);
        for l in locations {
            net.apply_location(l).unwrap();
        }
        World {
            net,
            supply: InMemorySupply::default(),
            ledger: Ledger::new(4),
        }
    }

    fn stock(&mut self, sku: &str, loc: &str, units: i32) -> &mut Self {
        let (s, l) = (self.net.sku_id(sku), self.net.location_id(loc));
        self.supply.set_on_hand(s, l, units);
        self
    }

    fn inbound(&mut self, sku: &str, loc: &str, due: Day, units: i32) -> &mut Self {
        let (s, l) = (self.net.sku_id(sku), self.net.location_id(loc));
        self.supply.add_inbound(
            s,
            l,
            Inbound {
                due,
                qty: units,
                kind: Future::InTransit,
            },
        );
        self
    }

    fn order(&mut self, id: &str, f: FulfilmentType, lines: &[(&str, i32)]) -> OrderRequest {
        OrderRequest {
            key: key_of(id),
            now_ms: T0,
            channel: Channel::Web,
            fulfilment: f,
            destination: Some(Destination::new(48.85, 2.35, "FR", "75001")),
            pickup: None,
            requested_day: TODAY + 2,
            slot_day: None,
            lines: lines
                .iter()
                .enumerate()
                .map(|(i, (sku, qty))| LineRequest {
                    line: i as u64,
                    sku: self.net.sku_id(sku),
                    qty: *qty,
                })
                .collect(),
        }
    }

    fn plan(&self, order: &OrderRequest, method: Method) -> (PlanSummary, Vec<LinePlan>) {
        let mut scratch = Scratch::default();
        let p = Planner {
            network: &self.net,
            supply: &self.supply,
            ledger: &self.ledger,
        };
        let s = p.plan(order, method, &mut scratch);
        (s, scratch.lines.clone())
    }

    /// Plans and commits one order (must fit).
    fn source(&mut self, order: &OrderRequest) -> (PlanSummary, Vec<LinePlan>) {
        let mut scratch = Scratch::default();
        let p = Planner {
            network: &self.net,
            supply: &self.supply,
            ledger: &self.ledger,
        };
        let s = p.plan(order, Method::Optimize, &mut scratch);
        self.ledger
            .commit(
                &self.net,
                &self.supply,
                order.today(),
                order.key,
                &scratch.holds,
                &scratch.shipments,
            )
            .expect("fits");
        (s, scratch.lines.clone())
    }

    /// Each line as "loc" (allocated), "loc+" (backordered) or the reject reason.
    fn describe(&self, lines: &[LinePlan]) -> Vec<String> {
        lines
            .iter()
            .map(|l| match l.status {
                LineStatus::Allocated => self.net.location_name(l.loc).to_string(),
                LineStatus::Backordered => format!("{}+", self.net.location_name(l.loc)),
                LineStatus::Rejected(r) => format!("{r:?}"),
            })
            .collect()
    }
}

/// Plans `order` in `world` and compares each line's outcome with `expected`.
fn check(world: &World, order: &OrderRequest, expected: &[&str]) -> PlanSummary {
    let (summary, lines) = world.plan(order, Method::Optimize);
    assert_eq!(world.describe(&lines), expected, "{summary:?}");
    summary
}

const PARIS: (f64, f64) = (48.86, 2.35);
const LYON: (f64, f64) = (45.76, 4.84);
const LILLE: (f64, f64) = (50.63, 3.06);

#[test]
fn the_nearest_location_with_stock_wins_a_single_line() {
    let mut w = World::new(&[dc("dc-lyon", LYON), dc("dc-paris", PARIS)]);
    w.stock("a", "dc-lyon", 5).stock("a", "dc-paris", 5);
    let o = w.order("o1", FulfilmentType::ShipToHome, &[("a", 1)]);
    let s = check(&w, &o, &["dc-paris"]);
    assert_eq!(s.shipments, 1);
    assert_eq!(s.cost.split, 0);
    // The alternative is Lyon, more expensive by its extra distance.
    let alt = s.alternative.expect("Lyon is another candidate");
    assert_eq!(w.net.location_name(alt.loc), "dc-lyon");
    assert!(
        matches!(
            alt.reason,
            LossReason::Costlier {
                part: "shipping",
                ..
            }
        ),
        "{alt:?}"
    );
    assert!(alt.total_cents > s.cost.total());
    w.stock("a", "dc-paris", 0);
    check(&w, &o, &["dc-lyon"]);
    w.stock("a", "dc-lyon", 0);
    check(&w, &o, &["NoStock"]);
    let o = w.order("o2", FulfilmentType::ShipToHome, &[("unknown", 1)]);
    check(&w, &o, &["NoEligibleLocation"]);
    let o = w.order("o3", FulfilmentType::ShipToHome, &[("a", 0)]);
    check(&w, &o, &["InvalidQuantity"]);
}

#[test]
fn lines_consolidate_when_a_split_costs_more_than_the_detour() {
    let mut w = World::new(&[dc("dc-paris", PARIS), dc("dc-lille", LILLE)]);
    // `a` is in both, `b` only in Lille: one shipment from Lille beats two.
    w.stock("a", "dc-paris", 5)
        .stock("a", "dc-lille", 5)
        .stock("b", "dc-lille", 5);
    let o = w.order("o", FulfilmentType::ShipToHome, &[("a", 1), ("b", 1)]);
    let s = check(&w, &o, &["dc-lille", "dc-lille"]);
    assert_eq!(s.shipments, 1);
    assert!(s.exact);
    // The baseline takes each line from the closest location and pays a split.
    let (b, lines) = w.plan(&o, Method::Closest);
    assert_eq!(w.describe(&lines), ["dc-paris", "dc-lille"]);
    assert!(b.cost.total() > s.cost.total(), "{b:?} vs {s:?}");
    assert_eq!(b.cost.split, w.net.config().weights.split_penalty_cents);
}

#[test]
fn max_splits_rejects_the_line_that_does_not_fit() {
    let mut w = World::new(&[dc("dc-paris", PARIS), dc("dc-lyon", LYON)]);
    w.stock("a", "dc-paris", 5).stock("b", "dc-lyon", 5);
    let mut rule = SourcingRule {
        event_id: "r1".into(),
        event_time: 1,
        source: "test".into(),
        rule_id: "web-one-box".into(),
        channel: Some(Channel::Web),
        fulfilment: None,
        priority: 0,
        distribution_group: "ecom".into(),
        supply_types: vec![SupplyType::OnHand],
        horizon_days: 0,
        strategy: SourcingStrategy::MinimizeCost,
        priority_location_ids: vec![],
        excluded_location_ids: vec![],
        max_splits: 1,
        cost: CostWeights {
            shipping_cents_per_km: 0.2,
            shipping_cents_per_package: 450,
            split_penalty_cents: 500,
            store_labour_cents_per_unit: 100,
            lateness_cents_per_day: 200,
            balancing_cents_per_unit: 0,
        },
        active: true,
    };
    w.net.apply_rule(&rule).unwrap();
    let o = w.order("o", FulfilmentType::ShipToHome, &[("a", 1), ("b", 1)]);
    let s = check(&w, &o, &["dc-paris", "SplitLimit"]);
    let alt = s.alternative.expect("an alternative exists");
    assert!(matches!(alt.reason, LossReason::SplitLimit), "{alt:?}");
    // Excluding Paris leaves Lyon for b and nothing for a.
    rule.event_id = "r2".into();
    rule.event_time = 2;
    rule.excluded_location_ids = vec!["dc-paris".into()];
    w.net.apply_rule(&rule).unwrap();
    check(&w, &o, &["NoEligibleLocation", "dc-lyon"]);
}

#[test]
fn a_line_without_stock_now_is_backordered_against_inbound() {
    let mut w = World::new(&[dc("dc-paris", PARIS)]);
    w.inbound("a", "dc-paris", TODAY + 3, 10);
    let o = w.order("o", FulfilmentType::ShipToHome, &[("a", 2)]);
    let (s, lines) = w.source(&o);
    assert_eq!(w.describe(&lines), ["dc-paris+"]);
    assert_eq!(lines[0].supply, SupplyType::InTransit);
    assert_eq!(lines[0].ship_ms, end_of_day(TODAY + 3));
    assert_eq!(lines[0].delivery_ms, end_of_day(TODAY + 4));
    // Requested TODAY + 2, delivered TODAY + 4: two days late.
    assert_eq!(
        s.cost.lateness,
        2 * w.net.config().weights.lateness_cents_per_day
    );
    // The inbound covers 10; 8 are left.
    let o = w.order("o2", FulfilmentType::ShipToHome, &[("a", 9)]);
    check(&w, &o, &["NoStock"]);
    let o = w.order("o3", FulfilmentType::ShipToHome, &[("a", 8)]);
    check(&w, &o, &["dc-paris+"]);
    // Beyond the horizon nothing counts.
    w.inbound("b", "dc-paris", TODAY + 30, 10);
    let o = w.order("o4", FulfilmentType::ShipToHome, &[("b", 1)]);
    check(&w, &o, &["NoStock"]);
}

#[test]
fn pickup_reserves_on_hand_at_the_named_store() {
    let mut w = World::new(&[dc("dc-paris", PARIS), store("s1", PARIS)]);
    w.stock("a", "s1", 1).stock("a", "dc-paris", 100);
    let s1 = w.net.location_id("s1");
    let mut o = w.order("o", FulfilmentType::PickupInStore, &[("a", 1)]);
    o.pickup = Some(s1);
    o.destination = None;
    let (_, lines) = w.source(&o);
    assert_eq!(w.describe(&lines), ["s1"]);
    // Ordered at 10:00, 2 h to prepare, open 08-20 UTC: ready at 12:00.
    assert_eq!(lines[0].ship_ms, T0 + 2 * 3_600_000);
    // The only unit is taken; the DC's stock does not help a pickup.
    let mut o2 = w.order("o2", FulfilmentType::PickupInStore, &[("a", 1)]);
    o2.pickup = Some(s1);
    check(&w, &o2, &["NoStock"]);
    let mut o3 = w.order("o3", FulfilmentType::PickupInStore, &[("a", 1)]);
    o3.pickup = Some(w.net.location_id("dc-paris"));
    check(&w, &o3, &["PickupNotOffered"]);
    // Inbound stock at the store does not count for pickup.
    w.inbound("b", "s1", TODAY + 1, 5);
    let mut o4 = w.order("o4", FulfilmentType::PickupInStore, &[("b", 1)]);
    o4.pickup = Some(s1);
    check(&w, &o4, &["NoStock"]);
}

#[test]
fn same_day_needs_the_capability_and_the_radius() {
    let mut w = World::new(&[
        store("s-paris", PARIS),
        store("s-lyon", LYON),
        dc("dc", PARIS),
    ]);
    w.stock("a", "s-lyon", 5).stock("a", "dc", 5);
    let o = w.order("o", FulfilmentType::SameDayDelivery, &[("a", 1)]);
    // Lyon is 390 km away and the DC cannot do same day.
    check(&w, &o, &["NoEligibleLocation"]);
    w.stock("a", "s-paris", 1);
    let (_, lines) = w.plan(&o, Method::Optimize);
    assert_eq!(w.describe(&lines), ["s-paris"]);
    assert_eq!(lines[0].delivery_ms, end_of_day(TODAY));
}

#[test]
fn full_capacity_moves_to_a_later_day_or_elsewhere() {
    let mut tiny = dc("dc-paris", PARIS);
    tiny.pick_capacity_per_day = 1;
    let mut w = World::new(&[tiny, dc("dc-lyon", LYON)]);
    w.stock("a", "dc-paris", 10).stock("a", "dc-lyon", 10);
    let o1 = w.order("o1", FulfilmentType::ShipToHome, &[("a", 1)]);
    let (_, lines) = w.source(&o1);
    assert_eq!(w.describe(&lines), ["dc-paris"]);
    // Paris has no pick left today: tomorrow from Paris (one day late) or today from Lyon.
    let o2 = w.order("o2", FulfilmentType::ShipToHome, &[("a", 1)]);
    let (s, lines) = w.plan(&o2, Method::Optimize);
    let paris_tomorrow = lines[0].loc == w.net.location_id("dc-paris");
    if paris_tomorrow {
        assert_eq!(lines[0].ship_ms, end_of_day(TODAY + 1));
    } else {
        assert_eq!(w.net.location_name(lines[0].loc), "dc-lyon");
    }
    assert!(s.cost.total() > 0);
    // With Lyon gone and no lookahead, capacity is the reason.
    let mut config = SourcingConfig {
        capacity_lookahead_days: 0,
        ..Default::default()
    };
    config.weights.balancing_cents_per_unit = 0;
    let mut tiny = dc("dc-paris", PARIS);
    tiny.pick_capacity_per_day = 0;
    let mut w = World::with_config(config, &[tiny]);
    w.stock("a", "dc-paris", 10);
    let o = w.order("o", FulfilmentType::ShipToHome, &[("a", 1)]);
    check(&w, &o, &["CapacityFull"]);
}

#[test]
fn the_ledger_refuses_a_plan_made_on_stale_state_whole() {
    let mut w = World::new(&[dc("dc-paris", PARIS)]);
    w.stock("a", "dc-paris", 1).stock("b", "dc-paris", 5);
    let o1 = w.order("o1", FulfilmentType::ShipToHome, &[("a", 1)]);
    let o2 = w.order("o2", FulfilmentType::ShipToHome, &[("b", 1), ("a", 1)]);
    // Both planned on the same state.
    let p = Planner {
        network: &w.net,
        supply: &w.supply,
        ledger: &w.ledger,
    };
    let (mut s1, mut s2) = (Scratch::default(), Scratch::default());
    p.plan(&o1, Method::Optimize, &mut s1);
    p.plan(&o2, Method::Optimize, &mut s2);
    w.ledger
        .commit(&w.net, &w.supply, TODAY, o1.key, &s1.holds, &s1.shipments)
        .unwrap();
    let refused = w
        .ledger
        .commit(&w.net, &w.supply, TODAY, o2.key, &s2.holds, &s2.shipments);
    assert_eq!(
        refused,
        Err(Refusal::Units {
            sku: w.net.find_sku("a").unwrap(),
            loc: 0
        })
    );
    // Nothing of o2 was written: b is untouched, one pick used.
    assert_eq!(w.ledger.holds(w.net.find_sku("b").unwrap()), &[]);
    assert_eq!(w.ledger.pool(0, TODAY).pick, 1);
}

#[test]
fn a_batch_replans_the_order_that_lost_the_race() {
    let mut w = World::new(&[dc("dc-paris", PARIS), dc("dc-lyon", LYON)]);
    w.stock("a", "dc-paris", 1).stock("a", "dc-lyon", 1);
    let orders: Vec<OrderRequest> = (0..3)
        .map(|i| w.order(&format!("o{i}"), FulfilmentType::ShipToHome, &[("a", 1)]))
        .collect();
    let result = run_batch(&mut w, &orders, 2, 3);
    let got: Vec<(Vec<String>, u32)> = (0..3)
        .map(|i| (w.describe(result.lines_of(i)), result.orders[i].attempts))
        .collect();
    // All three plan Paris on the same state; the first commits. The second is refused and
    // re-planned at once against the round's admissions: Lyon. The third, re-planned the
    // same way after both, finds nothing left.
    assert_eq!(
        got,
        [
            (vec!["dc-paris".to_string()], 1),
            (vec!["dc-lyon".to_string()], 2),
            (vec!["NoStock".to_string()], 2)
        ]
    );
}

#[test]
fn many_lines_of_one_sku_share_its_stock() {
    let mut w = World::new(&[dc("dc", PARIS)]);
    w.stock("a", "dc", 9);
    // Ten lines (beyond the exact search, so the heuristic plans) of one sku.
    let lines = [("a", 1); 10];
    let orders = [w.order("o", FulfilmentType::ShipToHome, &lines)];
    let result = run_batch(&mut w, &orders, 1, 3);
    let got = w.describe(result.lines_of(0));
    assert_eq!(got.iter().filter(|l| *l == "dc").count(), 9, "{got:?}");
    assert_eq!(
        got.iter().filter(|l| *l == "SplitLimit").count(),
        1,
        "{got:?}"
    );
    assert!(!result.orders[0].summary.exact);
    let a = w.net.find_sku("a").unwrap();
    assert_eq!(w.ledger.holds_at(a, 0), &[(TODAY, 9)]);
    assert_no_oversell(&w);
}

#[test]
fn lifecycle_consume_release_and_expire() {
    let mut w = World::new(&[store("s1", PARIS)]);
    w.stock("a", "s1", 10);
    let s1 = w.net.location_id("s1");
    let a = w.net.find_sku("a").unwrap();
    let pick = |w: &mut World, id: &str, qty: i32| {
        let mut o = w.order(id, FulfilmentType::PickupInStore, &[("a", qty)]);
        o.pickup = Some(s1);
        let (_, lines) = w.source(&o);
        assert_eq!(w.describe(&lines), ["s1"]);
        (o.key, lines[0].ship_ms)
    };
    let (k1, ready) = pick(&mut w, "o1", 2);
    let (k2, _) = pick(&mut w, "o2", 3);
    let (k3, _) = pick(&mut w, "o3", 4);
    assert_eq!(w.ledger.holds_at(a, s1), &[(TODAY, 9)]);
    let mut events = Vec::new();
    // o1 is picked up, o2 cancelled; o3 is never collected.
    assert_eq!(w.ledger.consume(k1, None, None, &mut events), 1);
    assert_eq!(
        w.ledger.consume(k1, None, None, &mut events),
        0,
        "duplicate"
    );
    assert_eq!(w.ledger.release(k2, Some(&[0]), None, &mut events), 1);
    assert_eq!(
        w.ledger.release(k2, None, None, &mut events),
        0,
        "already released"
    );
    assert_eq!(w.ledger.holds_at(a, s1), &[(TODAY, 4)]);
    // The cancelled pickup gave its pick back; the collected one did not.
    assert_eq!(w.ledger.pool(s1, TODAY).pick, 2);
    let window = i64::from(w.net.config().pickup_window_hours) * 3_600_000;
    assert_eq!(w.ledger.advance(ready + window - 1, &mut events), 0);
    assert_eq!(w.ledger.advance(ready + window, &mut events), 1);
    assert_eq!(w.ledger.advance(ready + 2 * window, &mut events), 0);
    assert_eq!(w.ledger.holds_at(a, s1), &[]);
    assert_eq!(
        w.ledger.consume(k3, None, None, &mut events),
        0,
        "expired is final"
    );
    let kinds: Vec<(u64, HoldState, i32)> = events.iter().map(|e| (e.order, e.to, e.qty)).collect();
    assert_eq!(
        kinds,
        [
            (k1, HoldState::Consumed, 2),
            (k2, HoldState::Released, 3),
            (k3, HoldState::Expired, 4)
        ]
    );
    assert_eq!(w.ledger.size(), LedgerSize::default());
}

#[test]
fn partial_consumption_keeps_the_rest_confirmed() {
    let mut w = World::new(&[dc("dc", PARIS)]);
    w.stock("a", "dc", 10);
    let o = w.order("o", FulfilmentType::ShipToHome, &[("a", 5)]);
    w.source(&o);
    let a = w.net.find_sku("a").unwrap();
    let mut events = Vec::new();
    assert_eq!(w.ledger.consume(o.key, None, Some(2), &mut events), 1);
    assert_eq!(w.ledger.holds_at(a, 0), &[(TODAY, 3)]);
    assert_eq!(w.ledger.release(o.key, None, None, &mut events), 1);
    assert_eq!(w.ledger.holds_at(a, 0), &[]);
    // Part of the shipment was worked: its packages stay booked, one pick stays used.
    assert_eq!(w.ledger.pool(0, TODAY).pick, 1);
}

#[test]
fn decisions_carry_locations_costs_and_the_alternative() {
    let mut w = World::new(&[dc("dc-lyon", LYON), dc("dc-paris", PARIS)]);
    w.stock("a", "dc-lyon", 5).stock("a", "dc-paris", 5);
    let order = Order {
        event_id: "e-1".into(),
        event_time: T0,
        source: "oms-web".into(),
        order_id: "o-1".into(),
        channel: Channel::Web,
        customer_id: "c".into(),
        fulfilment: FulfilmentType::ShipToHome,
        destination: Some(Address {
            postal_code: "75001".into(),
            city: "Paris".into(),
            country: "FR".into(),
            latitude: 48.85,
            longitude: 2.35,
        }),
        pickup_location_id: None,
        requested_date: T0 + 2 * DAY_MS,
        slot: None,
        lines: vec![
            OrderLine {
                line_id: "l1".into(),
                sku: "a".into(),
                quantity: 2,
                unit_price_cents: 1000,
                discount_cents: 0,
                promotion_ids: vec![],
            },
            OrderLine {
                line_id: "l2".into(),
                sku: "zzz".into(),
                quantity: 1,
                unit_price_cents: 1000,
                discount_cents: 0,
                promotion_ids: vec![],
            },
        ],
        currency: "EUR".into(),
    };
    let req = OrderRequest::from_order(&mut w.net, &order);
    let (s, lines) = w.source(&req);
    let d = to_decision(&w.net, &order, &s, &lines, "d-1".into(), "allot", false);
    assert_eq!(d.lines.len(), 2);
    assert_eq!(d.lines[0].outcome, LineOutcome::Allocated);
    assert_eq!(d.lines[0].allocations[0].location_id, "dc-paris");
    assert_eq!(d.lines[0].allocations[0].quantity, 2);
    assert_eq!(d.lines[1].outcome, LineOutcome::Rejected);
    assert!(d.lines[1].allocations.is_empty());
    assert!(
        d.lines[1]
            .reason
            .as_deref()
            .unwrap()
            .contains("holds the sku")
    );
    assert_eq!(d.cost.total_cents, s.cost.total());
    let alt = d.best_alternative.expect("Lyon");
    assert_eq!(alt.location_ids, ["dc-lyon"]);
    assert!(
        alt.lost_because.contains("shipping"),
        "{}",
        alt.lost_because
    );
    assert_eq!(d.order_event_id, "e-1");
}

// ---------------------------------------------------------------------------------------
// Properties.

/// A random world: locations on a 4°×4° square, skus with on hand and inbound at some
/// of them.
/// (sku, location, on hand, inbound as (in days, units)).
type StockSpec = (usize, usize, i32, Option<(i32, i32)>);
/// (fulfilment index, destination, lines as (sku, units), pickup store).
type OrderSpec = (u8, (f64, f64), Vec<(usize, i32)>, usize);

#[derive(Debug, Clone)]
struct Spec {
    locations: Vec<(bool, (f64, f64), i32, i32)>, // (is store, position, pick, ship)
    stock: Vec<StockSpec>,
    orders: Vec<OrderSpec>,
}

fn spec(
    max_locs: usize,
    skus: usize,
    max_orders: usize,
    max_lines: usize,
) -> impl Strategy<Value = Spec> {
    let locs = prop::collection::vec(
        (
            any::<bool>(),
            (45.0..49.0f64, 0.0..4.0f64),
            0..6i32,
            0..8i32,
        ),
        2..=max_locs,
    );
    locs.prop_flat_map(move |locations| {
        let n = locations.len();
        let stock = prop::collection::vec(
            (0..skus, 0..n, 0..8i32, prop::option::of((0..5i32, 1..4i32))),
            1..(skus * n).max(2),
        );
        let orders = prop::collection::vec(
            (
                0..4u8,
                (45.0..49.0f64, 0.0..4.0f64),
                prop::collection::vec((0..skus, 1..3i32), 1..=max_lines),
                0..n,
            ),
            1..=max_orders,
        );
        (Just(locations), stock, orders).prop_map(|(locations, stock, orders)| Spec {
            locations,
            stock,
            orders,
        })
    })
}

fn build(spec: &Spec, config: SourcingConfig) -> (World, Vec<OrderRequest>) {
    let locations: Vec<Location> = spec
        .locations
        .iter()
        .enumerate()
        .map(|(i, &(is_store, at, pick, ship))| {
            let mut l = if is_store {
                store(&format!("s{i}"), at)
            } else {
                dc(&format!("d{i}"), at)
            };
            l.pick_capacity_per_day = pick;
            l.ship_capacity_per_day = ship;
            l
        })
        .collect();
    let mut w = World::with_config(config, &locations);
    for &(sku, loc, on_hand, inbound) in &spec.stock {
        let (s, l) = (w.net.sku_id(&format!("k{sku}")), loc as LocId);
        w.supply.add_on_hand(s, l, on_hand);
        if let Some((days, qty)) = inbound {
            w.supply.add_inbound(
                s,
                l,
                Inbound {
                    due: TODAY + days,
                    qty,
                    kind: if days % 2 == 0 {
                        Future::InTransit
                    } else {
                        Future::OnOrder
                    },
                },
            );
        }
    }
    let fulfilments = [
        FulfilmentType::ShipToHome,
        FulfilmentType::PickupInStore,
        FulfilmentType::SameDayDelivery,
        FulfilmentType::ScheduledDelivery,
    ];
    let orders = spec
        .orders
        .iter()
        .enumerate()
        .map(|(i, (f, dest, lines, near))| {
            let f = fulfilments[*f as usize];
            // Pickup at, and same day near, a location of the spec (mostly stores).
            let (lat, lon) = spec.locations[*near].1;
            let dest = if f == FulfilmentType::SameDayDelivery {
                (lat + (dest.0 - 47.0) * 0.1, lon + (dest.1 - 2.0) * 0.1)
            } else {
                *dest
            };
            OrderRequest {
                key: key_of(&format!("o{i}")),
                now_ms: T0 + i as i64 * 1000,
                channel: Channel::Web,
                fulfilment: f,
                destination: (f != FulfilmentType::PickupInStore)
                    .then(|| Destination::new(dest.0, dest.1, "FR", "69000")),
                pickup: (f == FulfilmentType::PickupInStore).then_some(*near as LocId),
                requested_day: TODAY + 1,
                slot_day: (f == FulfilmentType::ScheduledDelivery).then_some(TODAY + 3),
                lines: lines
                    .iter()
                    .enumerate()
                    .map(|(j, &(sku, qty))| LineRequest {
                        line: j as u64,
                        sku: w.net.sku_id(&format!("k{sku}")),
                        qty,
                    })
                    .collect(),
            }
        })
        .collect();
    (w, orders)
}

/// Sources `orders` as one batch on `threads` threads, in `segments` segments per round.
fn run_batch(
    w: &mut World,
    orders: &[OrderRequest],
    threads: usize,
    segments: usize,
) -> BatchResult {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let mut result = BatchResult::default();
    let config = BatchConfig {
        parallel_rounds: 2,
        chunk: 3,
        segments,
    };
    pool.install(|| {
        source_batch(
            &w.net,
            &w.supply,
            &mut w.ledger,
            orders,
            Method::Optimize,
            &config,
            &mut result,
        )
    });
    result
}

/// Independent check of the prefix rule: for every (sku, location) and every day, units
/// held for days up to it are at most on hand plus inbound arrived by then.
fn assert_no_oversell(w: &World) {
    let mut by_pos: BTreeMap<(SkuId, LocId), Vec<(Day, i32)>> = BTreeMap::new();
    for (_, _, sku, loc, qty, day) in w.ledger.confirmed() {
        by_pos
            .entry((sku, loc))
            .or_default()
            .push((day.max(TODAY), qty));
    }
    for ((sku, loc), holds) in by_pos {
        let supply = w.supply.at(sku, loc);
        let mut days: Vec<Day> = holds.iter().map(|h| h.0).collect();
        days.extend(supply.inbound.iter().map(|i| i.due.max(TODAY + 1)));
        for d in days {
            let held: i32 = holds.iter().filter(|h| h.0 <= d).map(|h| h.1).sum();
            let arrived: i32 = supply.on_hand
                + supply
                    .inbound
                    .iter()
                    .filter(|i| i.due.max(TODAY + 1) <= d)
                    .map(|i| i.qty)
                    .sum::<i32>();
            assert!(
                held <= arrived,
                "sku {sku} at {loc} day {d}: {held} held, {arrived} arrived"
            );
        }
        // The ledger's own aggregate agrees with the reservations.
        let total: i32 = holds.iter().map(|h| h.1).sum();
        let agg: i32 = w.ledger.holds_at(sku, loc).iter().map(|h| h.1).sum();
        assert_eq!(total, agg);
    }
}

fn assert_capacity(w: &World) {
    for ((loc, day), used) in w.ledger.pools() {
        let site = w.net.site(loc);
        assert!(
            used.pick >= 0 && used.ship >= 0 && used.slots >= 0,
            "{loc} {day} {used:?}"
        );
        assert!(
            used.pick <= site.pick_per_day,
            "pick at {loc} on {day}: {used:?}"
        );
        assert!(
            used.ship <= site.ship_per_day,
            "ship at {loc} on {day}: {used:?}"
        );
        assert!(
            used.slots <= site.slots_per_day,
            "slots at {loc} on {day}: {used:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn concurrent_batches_never_oversell_and_decide_every_line(spec in spec(6, 4, 30, 4)) {
        let (mut w, orders) = build(&spec, SourcingConfig::default());
        let result = run_batch(&mut w, &orders, 2, 3);
        // Exactly one outcome per line.
        prop_assert_eq!(result.orders.len(), orders.len());
        let mut promised: BTreeMap<(SkuId, LocId), i32> = BTreeMap::new();
        for (i, o) in orders.iter().enumerate() {
            let lines = result.lines_of(i);
            prop_assert_eq!(lines.len(), o.lines.len());
            for (l, p) in o.lines.iter().zip(lines) {
                if !matches!(p.status, LineStatus::Rejected(_)) {
                    *promised.entry((l.sku, p.loc)).or_default() += p.qty;
                    prop_assert_eq!(p.qty, l.qty);
                }
            }
        }
        // What the decisions promise is exactly what the ledger holds.
        let mut held: BTreeMap<(SkuId, LocId), i32> = BTreeMap::new();
        for (_, _, sku, loc, qty, _) in w.ledger.confirmed() {
            *held.entry((sku, loc)).or_default() += qty;
        }
        prop_assert_eq!(promised, held);
        assert_no_oversell(&w);
        assert_capacity(&w);
        // The same batch on one thread, admitted in one segment per round (no overlap of
        // planning and admission), gives the same decisions.
        let (mut w1, _) = build(&spec, SourcingConfig::default());
        let r1 = run_batch(&mut w1, &orders, 1, 1);
        for i in 0..orders.len() {
            prop_assert_eq!(result.lines_of(i), r1.lines_of(i));
            prop_assert_eq!(result.orders[i].summary, r1.orders[i].summary);
        }
        prop_assert_eq!(w.ledger.confirmed(), w1.ledger.confirmed());
        prop_assert_eq!(w.ledger.pools(), w1.ledger.pools());
        prop_assert_eq!(w.ledger.size(), w1.ledger.size());
    }

    #[test]
    fn lifecycle_keeps_holds_and_pools_consistent(
        spec in spec(5, 3, 20, 3),
        ops in prop::collection::vec((0..3u8, 0..20usize, prop::option::of(1..3i32), 0..200i64), 1..40),
    ) {
        let (mut w, orders) = build(&spec, SourcingConfig::default());
        let result = run_batch(&mut w, &orders, 2, 3);
        let mut events = Vec::new();
        let mut now = T0;
        let mut terminal: BTreeMap<(u64, u64), HoldState> = BTreeMap::new();
        let window = i64::from(w.net.config().pickup_window_hours) * 3_600_000;
        for (kind, i, qty, hours) in ops {
            let Some(o) = orders.get(i % orders.len()) else { continue };
            let before = events.len();
            match kind {
                0 => { w.ledger.consume(o.key, None, qty, &mut events); }
                1 => { w.ledger.release(o.key, None, qty, &mut events); }
                _ => {
                    now += hours * 3_600_000;
                    w.ledger.advance(now, &mut events);
                }
            }
            for e in &events[before..] {
                prop_assert!(e.qty > 0);
                // Nothing moves out of a terminal state.
                prop_assert!(!terminal.contains_key(&(e.order, e.line)), "{e:?} after terminal");
                if e.to == HoldState::Expired {
                    let o = orders.iter().find(|o| o.key == e.order).unwrap();
                    prop_assert_eq!(o.fulfilment, FulfilmentType::PickupInStore);
                    let p = result.lines_of(orders.iter().position(|x| x.key == e.order).unwrap());
                    prop_assert!(p[e.line as usize].ship_ms + window <= now);
                }
            }
            // Record lines that became terminal (no confirmed reservation left).
            let confirmed = w.ledger.confirmed();
            for e in &events[before..] {
                if !confirmed.iter().any(|c| c.0 == e.order && c.1 == e.line) {
                    terminal.insert((e.order, e.line), e.to);
                }
            }
            assert_no_oversell(&w);
            assert_capacity(&w);
        }
        // Releasing everything leaves no hold and no timer.
        for o in &orders {
            w.ledger.release(o.key, None, None, &mut events);
        }
        prop_assert_eq!(w.ledger.confirmed(), vec![]);
        prop_assert_eq!(w.ledger.size(), LedgerSize::default());
    }
}

/// Everything a ledger exposes, for comparing two: confirmed reservations, pools, sizes,
/// and the holds of every sku.
fn ledger_state(ledger: &Ledger, net: &Network) -> String {
    let holds: Vec<_> = (0..net.skus() as SkuId)
        .map(|s| ledger.holds(s).to_vec())
        .collect();
    format!(
        "{:?}\n{:?}\n{:?}\n{:?}",
        ledger.confirmed(),
        ledger.pools(),
        ledger.size(),
        holds
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Recovery of the ledger: at a random point of the lifecycle, a ledger of another
    /// shard count is restored from the changelog written so far (in several calls), last
    /// per key or every record in order; from then on it holds the same and emits the
    /// same events as the original, to the end.
    #[test]
    fn a_restored_ledger_behaves_as_the_one_that_wrote_the_changelog(
        spec in spec(5, 3, 20, 3),
        ops in prop::collection::vec((0..4u8, 0..20usize, prop::option::of(1..3i32), 0..200i64), 1..40),
        split in any::<prop::sample::Index>(),
        compacted in any::<bool>(),
    ) {
        use crate::availability::ChangelogBatch;
        let (mut w, orders) = build(&spec, SourcingConfig::default());
        let mut log = ChangelogBatch::default();
        let mut records: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        let mut every: Every = Vec::new();
        type Every = Vec<(Vec<u8>, Option<Vec<u8>>)>;
        let write_log = |w: &mut World, log: &mut ChangelogBatch, records: &mut BTreeMap<Vec<u8>, Vec<u8>>, every: &mut Every| {
            log.clear();
            w.ledger.changelog_dirty(&w.net, log);
            for (k, v) in log.iter() {
                every.push((k.to_vec(), v.map(<[u8]>::to_vec)));
                match v {
                    Some(v) => records.insert(k.to_vec(), v.to_vec()),
                    None => records.remove(k),
                };
            }
        };
        let half = orders.len() / 2;
        run_batch(&mut w, &orders[..half], 1, 3);
        write_log(&mut w, &mut log, &mut records, &mut every);
        run_batch(&mut w, &orders[half..], 1, 3);
        let split = split.index(ops.len() + 1);
        let mut restored: Option<Ledger> = None;
        let mut now = T0;
        for (n, (kind, i, qty, hours)) in ops.iter().enumerate() {
            if n == split {
                write_log(&mut w, &mut log, &mut records, &mut every);
                let mut c = Ledger::new(3);
                if compacted {
                    for (k, v) in &records {
                        c.restore(&mut w.net, k, Some(v)).unwrap();
                    }
                } else {
                    for (k, v) in &every {
                        c.restore(&mut w.net, k, v.as_deref()).unwrap();
                    }
                }
                c.restore_finish();
                prop_assert_eq!(ledger_state(&c, &w.net), ledger_state(&w.ledger, &w.net));
                // A truncated or overlong record is an error, not a panic.
                for (k, v) in &records {
                    for bad in (0..v.len()).map(|n| v[..n].to_vec()).chain([[v.as_slice(), &[0]].concat()]) {
                        prop_assert!(Ledger::new(1).restore(&mut w.net, k, Some(&bad)).is_err());
                    }
                }
                restored = Some(c);
            }
            let Some(o) = orders.get(i % orders.len()) else { continue };
            let step = |ledger: &mut Ledger, now: i64| {
                let mut events = Vec::new();
                match kind {
                    0 => { ledger.consume(o.key, None, *qty, &mut events); }
                    1 => { ledger.release(o.key, None, *qty, &mut events); }
                    _ => { ledger.advance(now, &mut events); }
                }
                events.sort_unstable_by_key(|e| (e.order, e.line, e.sku, e.loc, e.qty));
                events
            };
            if *kind >= 2 {
                now += hours * 3_600_000;
            }
            let a = step(&mut w.ledger, now);
            if *kind == 3 {
                write_log(&mut w, &mut log, &mut records, &mut every);
            }
            if let Some(c) = restored.as_mut() {
                prop_assert_eq!(step(c, now), a);
                prop_assert_eq!(ledger_state(c, &w.net), ledger_state(&w.ledger, &w.net));
            }
        }
    }
}

/// Decision quality on instances small enough to solve exactly: ≤ 12 locations, ≤ 4 lines.
#[test]
fn optimizer_matches_brute_force_and_beats_the_baseline() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, TestRunner};
    let mut runner = TestRunner::new(Config {
        rng_seed: proptest::test_runner::RngSeed::Fixed(7),
        ..Config::default()
    });
    let strategy = spec(12, 5, 1, 4);
    let (mut gap_sum, mut heuristic_gap_sum, mut n, mut better_than_baseline) = (0.0, 0.0, 0, 0);
    for _ in 0..300 {
        let spec = strategy.new_tree(&mut runner).unwrap().current();
        let config = SourcingConfig {
            slots_per_day: 5,
            ..SourcingConfig::default()
        };
        let (w, orders) = build(&spec, config.clone());
        let order = &orders[0];
        let p = Planner {
            network: &w.net,
            supply: &w.supply,
            ledger: &w.ledger,
        };
        let mut scratch = Scratch::default();
        let optimum = p.brute_force(order, &mut scratch);
        let allot = p.plan(order, Method::Optimize, &mut scratch);
        let baseline = p.plan(order, Method::Closest, &mut scratch);
        assert!(
            allot.objective >= optimum,
            "below the optimum: {allot:?} < {optimum}"
        );
        assert!(
            allot.objective <= baseline.objective,
            "worse than the baseline: {allot:?} vs {baseline:?}"
        );
        if allot.objective < baseline.objective {
            better_than_baseline += 1;
        }
        gap_sum += (allot.objective - optimum) as f64 / optimum.max(1) as f64;
        // The heuristic alone (what orders above `exact_max_lines` get), on the same world.
        let (wh, _) = build(
            &spec,
            SourcingConfig {
                exact_max_lines: 0,
                ..config
            },
        );
        let ph = Planner {
            network: &wh.net,
            supply: &wh.supply,
            ledger: &wh.ledger,
        };
        let heuristic = ph.plan(order, Method::Optimize, &mut scratch);
        assert!(heuristic.objective >= optimum);
        assert!(heuristic.objective <= baseline.objective);
        heuristic_gap_sum += (heuristic.objective - optimum) as f64 / optimum.max(1) as f64;
        n += 1;
    }
    let gap = gap_sum / f64::from(n);
    let heuristic_gap = heuristic_gap_sum / f64::from(n);
    eprintln!(
        "{n} instances: mean gap to optimum {:.4}% (exact search), {:.4}% (heuristic only); \
         strictly better than the baseline on {better_than_baseline}",
        gap * 100.0,
        heuristic_gap * 100.0
    );
    assert!(gap <= 0.01, "mean gap {gap}");
    assert!(
        better_than_baseline > 0,
        "the instances never tell the optimizer from the baseline"
    );
}
