//! [`SourcingProcessor`]: sourcing as the runtime runs it, beside the availability engine.
//!
//! - Reference data (locations, sourcing rules, the price book) is applied as it comes.
//! - Orders are queued and sourced in batches ([`SourcingProcessor::decide`]): planned in
//!   parallel against the engine's supply, committed to the [`Ledger`], one
//!   `SourcingDecision` per order. The runtime decides a batch when `batch_orders` are
//!   queued (so a replay's decisions depend only on the input), and, in `allot run`, at
//!   every flush (so an order waits at most the coalescing bound).
//! - Order events move reservations: `CANCEL` releases, `SHIPPED` and `PICKED_UP` consume
//!   (the engine takes the units out of on hand on the same event), `PICKUP_EXPIRED`
//!   releases, `MODIFY_LINES` releases the listed lines and sources them again with their
//!   new quantities (0 removes a line).
//! - Pickups not collected within `pickup_window_hours` of event time expire at the next
//!   decision: their units are released and a `PICKUP_EXPIRED` order event is emitted.
//! - After every change to the ledger, the reserved units of each (sku, location) touched
//!   are written into the availability engine, so availability shows them at its next
//!   flush.
//!
//! An order id already sourced is a duplicate (nothing changes) while the order holds
//! reservations and for `order_id_retention_hours` of event time after it; an order event
//! for an order this instance never sourced, or that holds nothing any more, changes nothing
//! and is counted. So memory follows the open orders and the retention, not the run's age:
//! an order is forgotten once its last reservation is consumed, released or expired, and
//! the capacity pools of days before yesterday are dropped.

use std::collections::{HashMap, HashSet};

use allot_schemas::{
    AnyRecord, Channel, DeadLetterKind, FulfilmentType, LineOutcome, Order, OrderEvent,
    OrderEventKind, OrderEventLine,
};
use foldhash::fast::FixedState;
use serde::{Deserialize, Serialize};

use super::batch::{BatchConfig, BatchResult, source_batch};
use super::config::SourcingConfig;
use super::ids::{SkuId, day_of};
use super::ledger::{HoldEvent, HoldState, Ledger};
use super::network::Network;
use super::planner::Method;
use super::price::PriceBook;
use super::request::{OrderRequest, key_of};
use super::stock::Stock;
use super::supply::{Future, InMemorySupply, Inbound};
use crate::availability::{Dedupe, SupplyKind};

mod changelog;

/// The `[sourcing]` section of the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourcingSettings {
    /// Whether orders are sourced at all (off: orders and order events are only counted).
    pub enabled: bool,
    /// Orders queued before a batch is sourced, and the most one batch holds. Replay and
    /// the demo decide only on this count (and at the end), so their decisions do not
    /// depend on timing; `allot run` also decides at every flush.
    pub batch_orders: usize,
    /// Shards of the reservation ledger (like the inventory topics' partitions).
    pub shards: usize,
    /// Threads that plan a batch; 0 = one per core.
    pub threads: usize,
    /// Sourcing rules to load at start, as JSON lines of `SourcingRule` records (the
    /// `allot.sourcing-rules` topic's schema), before any from the topic; a later record of
    /// the same `rule_id` on the topic replaces one from the file.
    pub rules_file: Option<std::path::PathBuf>,
    /// `optimize` (branch and bound, then local search) or `closest` (the baseline: each
    /// line from the closest location with stock), to compare decision quality.
    pub method: SourcingMethod,
    /// How a batch is planned.
    pub batch: BatchConfig,
    /// What applies when no sourcing rule matches, and the planner's knobs.
    pub defaults: SourcingConfig,
    /// Hours of event time an order id is remembered after its order (a replayed order
    /// inside them is a duplicate; one with reservations still open always is). Bounds the
    /// memory of order ids in a process that runs for months.
    pub order_id_retention_hours: u32,
}

impl Default for SourcingSettings {
    fn default() -> Self {
        SourcingSettings {
            enabled: true,
            batch_orders: 4096,
            shards: 16,
            threads: 0,
            rules_file: None,
            method: SourcingMethod::Optimize,
            batch: BatchConfig::default(),
            defaults: SourcingConfig::default(),
            order_id_retention_hours: 168,
        }
    }
}

impl SourcingSettings {
    /// Checks cross-field rules; the message says what to change.
    pub fn validate(&self) -> Result<(), String> {
        if self.batch_orders == 0 {
            return Err("sourcing.batch_orders must be at least 1".into());
        }
        if self.shards == 0 {
            return Err("sourcing.shards must be at least 1".into());
        }
        if self.order_id_retention_hours == 0 {
            return Err(
                "sourcing.order_id_retention_hours must be at least 1 (168 = a week)".into(),
            );
        }
        self.defaults.validate()
    }
}

/// Which planner sources the orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourcingMethod {
    /// Least cost: branch and bound for small orders, greedy and local search beyond.
    Optimize,
    /// The greedy baseline: each line from the closest location with stock.
    Closest,
}

/// Counters for the metrics and the summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SourcingStats {
    /// Orders sourced (one decision each).
    pub orders: u64,
    /// Modified lines sourced again (one more decision for the order, naming those lines).
    pub modifications: u64,
    /// Order lines allocated from stock on hand.
    pub allocated: u64,
    /// Order lines promised against inbound supply.
    pub backordered: u64,
    /// Order lines rejected.
    pub rejected: u64,
    /// Orders whose prices or promotions did not match the price book.
    pub price_mismatches: u64,
    /// Orders already sourced, seen again.
    pub duplicate_orders: u64,
    /// Orders that needed more than one plan (another order of the batch took the units).
    pub replanned: u64,
    /// Reservations consumed by a shipment or pickup.
    pub consumed: u64,
    /// Reservations released by a cancellation or modification.
    pub released: u64,
    /// Pickup reservations expired.
    pub expired: u64,
    /// Order events for orders this instance did not source.
    pub unknown_order_events: u64,
    /// Cost of the decisions, in minor units.
    pub cost_cents: i64,
    /// Shipments planned (split rate = shipments beyond one per order).
    pub shipments: u64,
    /// Orders with at least one shipment.
    pub shipped_orders: u64,
    /// Lines shipped from a store.
    pub ship_from_store_lines: u64,
    /// Lines shipped (from any location).
    pub shipped_lines: u64,
}

/// An order with reservations, kept to map ledger events back to its ids.
#[derive(Debug)]
struct OpenOrder {
    order: Order,
}

/// The sourcing state of one instance.
#[derive(Debug)]
pub struct SourcingProcessor {
    settings: SourcingSettings,
    network: Network,
    ledger: Ledger,
    prices: PriceBook,
    /// Orders to source, and whether each is a modification of one already sourced.
    pending: Vec<(Order, bool)>,
    requests: Vec<OrderRequest>,
    /// Order keys sourced or queued, for `order_id_retention_hours` of event time.
    seen: Dedupe,
    /// Orders with confirmed reservations (or a modification queued).
    open: HashMap<u64, OpenOrder, FixedState>,
    /// Orders with a modification queued.
    modifying: HashSet<u64, FixedState>,
    /// The ledger's capacity pools before this day are forgotten.
    pools_kept_from: super::ids::Day,
    supply: InMemorySupply,
    result: BatchResult,
    events: Vec<HoldEvent>,
    stats: SourcingStats,
    pool: Option<rayon::ThreadPool>,
    source: String,
    method: Method,
    /// What changed since the last changelog write (`changelog.rs`).
    log: changelog::ProcessorLog,
}

impl SourcingProcessor {
    /// A processor with `settings` (validated), naming itself `source` on what it emits.
    pub fn new(settings: SourcingSettings, source: &str) -> SourcingProcessor {
        let method = match settings.method {
            SourcingMethod::Optimize => Method::Optimize,
            SourcingMethod::Closest => Method::Closest,
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(settings.threads)
            .thread_name(|i| format!("allot-sourcing-{i}"))
            .build()
            .ok();
        SourcingProcessor {
            network: Network::new(settings.defaults.clone()),
            ledger: Ledger::new(settings.shards),
            settings,
            prices: PriceBook::default(),
            pending: Vec::new(),
            requests: Vec::new(),
            seen: Dedupe::default(),
            open: HashMap::default(),
            modifying: HashSet::default(),
            pools_kept_from: super::ids::Day::MIN,
            supply: InMemorySupply::default(),
            result: BatchResult::default(),
            events: Vec::new(),
            stats: SourcingStats::default(),
            pool,
            source: source.to_string(),
            method,
            log: changelog::ProcessorLog::default(),
        }
    }

    /// The rule that applies to orders of `channel` and `fulfilment` now.
    pub fn rule(&self, channel: Channel, fulfilment: FulfilmentType) -> &super::network::Rule {
        self.network.rule(channel, fulfilment)
    }

    /// Counters so far.
    pub fn stats(&self) -> &SourcingStats {
        &self.stats
    }

    /// Whether enough orders are queued for a batch.
    pub fn batch_due(&self) -> bool {
        self.pending.len() >= self.settings.batch_orders
    }

    /// Orders queued.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Whether `order_id` is queued for its first decision (an event for it now would find
    /// no order: decide the queue first).
    pub fn queued(&self, order_id: &str) -> bool {
        !self.pending.is_empty()
            && !self.open.contains_key(&key_of(order_id))
            && self.pending.iter().any(|(o, _)| o.order_id == order_id)
    }

    /// Applies one record. `Ok(true)`: applied; `Ok(false)`: a duplicate; `Err`: refused
    /// with the reason. Records sourcing does not read are `Ok(true)`.
    pub fn apply(
        &mut self,
        record: &AnyRecord,
        engine: &mut impl Stock,
    ) -> Result<bool, (DeadLetterKind, String)> {
        if !self.settings.enabled {
            return Ok(true);
        }
        match record {
            AnyRecord::Location(l) => {
                self.network
                    .apply_location(l)
                    .map_err(|e| (DeadLetterKind::Validation, e.to_string()))?;
            }
            AnyRecord::SourcingRule(r) => {
                self.network
                    .apply_rule(r)
                    .map_err(|e| (DeadLetterKind::Validation, e.to_string()))?;
            }
            AnyRecord::Price(p) => self.prices.apply(p),
            AnyRecord::Order(o) => {
                if o.lines.is_empty() {
                    return Err((
                        DeadLetterKind::Validation,
                        format!("order {} has no lines", o.order_id),
                    ));
                }
                let key = key_of(&o.order_id);
                if self.open.contains_key(&key) || !self.seen.insert(u128::from(key), o.event_time)
                {
                    self.stats.duplicate_orders += 1;
                    return Ok(false);
                }
                self.pending.push((o.clone(), false));
            }
            AnyRecord::OrderEvent(e) => self.apply_order_event(e, engine),
            _ => {}
        }
        Ok(true)
    }

    fn apply_order_event(&mut self, e: &OrderEvent, engine: &mut impl Stock) {
        let key = key_of(&e.order_id);
        if !self.open.contains_key(&key) {
            self.stats.unknown_order_events += 1;
            return;
        }
        let line_keys: Vec<u64> = e.lines.iter().map(|l| key_of(&l.line_id)).collect();
        let mut events = std::mem::take(&mut self.events);
        events.clear();
        match e.kind {
            OrderEventKind::Cancel | OrderEventKind::PickupExpired => {
                let lines = (!line_keys.is_empty()).then_some(line_keys.as_slice());
                self.ledger.release(key, lines, None, &mut events);
            }
            OrderEventKind::Shipped | OrderEventKind::PickedUp => {
                if e.lines.is_empty() {
                    self.ledger.consume(key, None, None, &mut events);
                }
                for (l, k) in e.lines.iter().zip(&line_keys) {
                    self.ledger
                        .consume(key, Some(&[*k]), Some(l.quantity), &mut events);
                }
            }
            OrderEventKind::ModifyLines => {
                self.ledger
                    .release(key, Some(&line_keys), None, &mut events);
                let mut again = self.open[&key].order.clone();
                again.event_id = e.event_id.clone();
                again.event_time = e.event_time;
                again.lines.retain_mut(|line| {
                    match e.lines.iter().find(|m| m.line_id == line.line_id) {
                        Some(m) if m.quantity > 0 => {
                            line.quantity = m.quantity;
                            true
                        }
                        _ => false,
                    }
                });
                if !again.lines.is_empty() {
                    self.pending.push((again, true));
                    self.modifying.insert(key);
                }
            }
        }
        self.settle(&events, engine);
        self.prune(&events);
        self.events = events;
    }

    /// Forgets the orders of `events` that hold nothing any more and have no modification
    /// queued: later events for them are counted as unknown.
    fn prune(&mut self, events: &[HoldEvent]) {
        for ev in events {
            if !self.modifying.contains(&ev.order)
                && !self.ledger.holds_order(ev.order)
                && self.open.remove(&ev.order).is_some()
            {
                self.log.open(ev.order);
            }
        }
    }

    /// Orders kept because they hold reservations.
    pub fn open_orders(&self) -> usize {
        self.open.len()
    }

    /// Order ids remembered for duplicate detection.
    pub fn remembered_orders(&self) -> usize {
        self.seen.len()
    }

    /// Counts `events` and writes the reserved units of every (sku, location) they touched
    /// into the engine.
    fn settle(&mut self, events: &[HoldEvent], engine: &mut impl Stock) {
        let mut touched: Vec<(SkuId, super::ids::LocId)> = Vec::new();
        for ev in events {
            match ev.to {
                HoldState::Consumed => self.stats.consumed += 1,
                HoldState::Released => self.stats.released += 1,
                HoldState::Expired => self.stats.expired += 1,
                HoldState::Confirmed => {}
            }
            touched.push((ev.sku, ev.loc));
        }
        self.sync_reserved(&mut touched, engine);
    }

    fn sync_reserved(
        &self,
        touched: &mut Vec<(SkuId, super::ids::LocId)>,
        engine: &mut impl Stock,
    ) {
        touched.sort_unstable();
        touched.dedup();
        for &(sku, loc) in touched.iter() {
            let units: i32 = self.ledger.holds_at(sku, loc).iter().map(|&(_, q)| q).sum();
            engine.set_reserved(
                self.network.sku_name(sku),
                self.network.location_name(loc),
                units,
            );
        }
    }

    /// Every (sku, location) the ledger reserves units at, and the units.
    pub fn reserved_totals(&self) -> impl Iterator<Item = (&str, &str, i32)> + '_ {
        self.ledger.reserved_totals().map(|(sku, loc, units)| {
            (
                self.network.sku_name(sku),
                self.network.location_name(loc),
                units,
            )
        })
    }

    /// Expires pickups up to the engine's newest event time, then sources the queued orders
    /// in arrival order, in batches of at most `batch_orders` (more are queued only while
    /// `allot run` reads the supply at start); appends the decisions and the expiry events
    /// to `out`.
    pub fn decide(&mut self, engine: &mut impl Stock, out: &mut Vec<AnyRecord>) {
        if !self.settings.enabled {
            return;
        }
        self.expire(engine, out);
        let mut rest = std::mem::take(&mut self.pending);
        while !rest.is_empty() {
            let later = rest.split_off(rest.len().min(self.settings.batch_orders));
            self.pending = std::mem::replace(&mut rest, later);
            self.decide_batch(engine, out);
        }
        self.modifying.clear();
    }

    /// Sources the queued orders as one batch.
    fn decide_batch(&mut self, engine: &mut impl Stock, out: &mut Vec<AnyRecord>) {
        let network = &mut self.network;
        self.requests.clear();
        self.requests.extend(
            self.pending
                .iter()
                .map(|(o, _)| OrderRequest::from_order(network, o)),
        );
        // The supply of every sku of the batch, as the engine has it now.
        let mut skus: Vec<SkuId> = self
            .requests
            .iter()
            .flat_map(|r| r.lines.iter().map(|l| l.sku))
            .collect();
        skus.sort_unstable();
        skus.dedup();
        for &sku in &skus {
            self.supply.clear_sku(sku);
            let network = &self.network;
            let supply = &mut self.supply;
            engine.visit_supply(network.sku_name(sku), |loc, on_hand, inbound| {
                let Some(loc) = network.find_location(loc) else {
                    return;
                };
                supply.set_on_hand(sku, loc, on_hand);
                for i in inbound {
                    supply.add_inbound(
                        sku,
                        loc,
                        Inbound {
                            due: day_of(i.due),
                            qty: i.qty,
                            kind: match i.kind {
                                SupplyKind::InTransit => Future::InTransit,
                                SupplyKind::OnOrder => Future::OnOrder,
                            },
                        },
                    );
                }
            });
        }
        let (network, supply, ledger, requests, result) = (
            &self.network,
            &self.supply,
            &mut self.ledger,
            &self.requests,
            &mut self.result,
        );
        let (method, batch) = (self.method, &self.settings.batch);
        let mut run = || source_batch(network, supply, ledger, requests, method, batch, result);
        match &self.pool {
            Some(pool) => pool.install(run),
            None => run(),
        }
        let mut touched = Vec::new();
        let pending = std::mem::take(&mut self.pending);
        for (i, (order, modified)) in pending.into_iter().enumerate() {
            let outcome = &self.result.orders[i];
            let lines = self.result.lines_of(i);
            let mismatch = self.prices.mismatch(&order);
            let decision = super::decision::to_decision(
                &self.network,
                &order,
                &outcome.summary,
                lines,
                format!("decision-{}", order.event_id),
                &self.source,
                mismatch,
            );
            if modified {
                self.stats.modifications += 1;
            } else {
                self.stats.orders += 1;
            }
            self.stats.price_mismatches += u64::from(mismatch);
            self.stats.replanned += u64::from(outcome.attempts > 1);
            self.stats.cost_cents += decision.cost.total_cents;
            let pickup = order.fulfilment == FulfilmentType::PickupInStore;
            let request = &self.requests[i];
            for ((d, plan), line) in decision.lines.iter().zip(lines).zip(&request.lines) {
                match d.outcome {
                    LineOutcome::Allocated => self.stats.allocated += 1,
                    LineOutcome::Backordered => self.stats.backordered += 1,
                    LineOutcome::Rejected => {
                        self.stats.rejected += 1;
                        continue;
                    }
                }
                touched.push((line.sku, plan.loc));
                if !pickup {
                    self.stats.shipped_lines += 1;
                    if self.network.site(plan.loc).kind == allot_schemas::LocationKind::Store {
                        self.stats.ship_from_store_lines += 1;
                    }
                }
            }
            // A shipment is the lines from one location on one ship day (the plan counts
            // them).
            if !pickup && outcome.summary.shipments > 0 {
                self.stats.shipped_orders += 1;
                self.stats.shipments += u64::from(outcome.summary.shipments);
            }
            let key = key_of(&order.order_id);
            let held = decision
                .lines
                .iter()
                .any(|d| d.outcome != LineOutcome::Rejected);
            out.push(AnyRecord::Decision(decision));
            if held {
                self.open.insert(key, OpenOrder { order });
                self.log.open(key);
            } else if modified && !self.ledger.holds_order(key) {
                self.open.remove(&key);
                self.log.open(key);
            }
        }
        self.sync_reserved(&mut touched, engine);
    }

    fn expire(&mut self, engine: &mut impl Stock, out: &mut Vec<AnyRecord>) {
        let now = engine.watermark();
        if now == i64::MIN {
            return;
        }
        let retention = i64::from(self.settings.order_id_retention_hours) * 3_600_000;
        self.seen.evict(now.saturating_sub(retention));
        // Capacity of days before yesterday is not planned against any more.
        let yesterday = day_of(now) - 1;
        if yesterday > self.pools_kept_from {
            self.ledger.forget_pools_before(yesterday);
            self.pools_kept_from = yesterday;
        }
        let mut events = std::mem::take(&mut self.events);
        events.clear();
        if self.ledger.advance(now, &mut events) == 0 {
            self.events = events;
            return;
        }
        self.settle(&events, engine);
        // One PICKUP_EXPIRED event per order, naming its expired lines.
        let mut by_order: Vec<(u64, Vec<&HoldEvent>)> = Vec::new();
        for ev in &events {
            match by_order.iter_mut().find(|(o, _)| *o == ev.order) {
                Some((_, list)) => list.push(ev),
                None => by_order.push((ev.order, vec![ev])),
            }
        }
        for (order, list) in by_order {
            let Some(open) = self.open.get(&order) else {
                continue;
            };
            let o = &open.order;
            let lines = list
                .iter()
                .filter_map(|ev| {
                    o.lines
                        .iter()
                        .find(|l| key_of(&l.line_id) == ev.line)
                        .map(|l| OrderEventLine {
                            line_id: l.line_id.clone(),
                            sku: l.sku.clone(),
                            quantity: ev.qty,
                        })
                })
                .collect();
            out.push(AnyRecord::OrderEvent(OrderEvent {
                event_id: format!("pickup-expired-{}-{now}", o.order_id),
                event_time: now,
                source: self.source.clone(),
                order_id: o.order_id.clone(),
                channel: o.channel,
                kind: OrderEventKind::PickupExpired,
                lines,
                location_id: list
                    .first()
                    .map(|ev| self.network.location_name(ev.loc).to_string()),
                reason: Some(format!(
                    "not collected within {} h",
                    self.settings.defaults.pickup_window_hours
                )),
            }));
        }
        self.prune(&events);
        self.events = events;
    }
}

#[cfg(test)]
mod tests {
    use allot_schemas::*;

    use super::super::tests::{cycle_count, dc, order, store};
    use super::*;
    use crate::availability::{Applied, AvailabilityConfig, AvailabilityEngine};

    const T0: i64 = 1_767_260_000_000; // 2026-01-01 ~09:33 UTC
    const HOUR: i64 = 3_600_000;

    struct Harness {
        engine: AvailabilityEngine,
        sourcing: SourcingProcessor,
        out: Vec<AnyRecord>,
    }

    impl Harness {
        fn new() -> Harness {
            let settings = SourcingSettings {
                threads: 1,
                ..SourcingSettings::default()
            };
            let mut h = Harness {
                engine: AvailabilityEngine::new(AvailabilityConfig::default()),
                sourcing: SourcingProcessor::new(settings, "test"),
                out: Vec::new(),
            };
            h.feed(AnyRecord::Location(dc("dc-1", (48.9, 2.3))))
                .unwrap();
            h.feed(AnyRecord::Location(store("store-1", (45.76, 4.83))))
                .unwrap();
            h
        }

        fn feed(&mut self, r: AnyRecord) -> Result<bool, (DeadLetterKind, String)> {
            assert_eq!(self.engine.apply(&r), Applied::Accepted, "{r:?}");
            self.sourcing.apply(&r, &mut self.engine)
        }

        fn count(&mut self, n: u32, t: i64, sku: &str, loc: &str, units: i32) {
            let count = cycle_count(&format!("count-{n}"), t, sku, loc, units);
            self.feed(AnyRecord::Adjustment(count)).unwrap();
        }

        fn order(&mut self, id: &str, t: i64, f: FulfilmentType, sku: &str, qty: i32) -> bool {
            self.feed(AnyRecord::Order(order(id, t, f, sku, qty)))
                .unwrap()
        }

        fn order_event(&mut self, id: &str, t: i64, kind: OrderEventKind) {
            self.feed(AnyRecord::OrderEvent(OrderEvent {
                event_id: format!("oe-{id}-{kind:?}"),
                event_time: t,
                source: "test".into(),
                order_id: id.into(),
                channel: Channel::App,
                kind,
                lines: vec![],
                location_id: None,
                reason: None,
            }))
            .unwrap();
        }

        fn decide(&mut self) -> Vec<AnyRecord> {
            self.sourcing.decide(&mut self.engine, &mut self.out);
            std::mem::take(&mut self.out)
        }

        /// (on hand, reserved) of `sku` at `loc` as availability publishes it.
        fn position(&self, sku: &str, loc: &str) -> (i64, i64) {
            let a = self.engine.snapshot(sku).expect("published");
            a.channels
                .iter()
                .flat_map(|c| &c.locations)
                .find(|l| l.location_id == loc)
                .map(|l| (l.on_hand, l.reserved))
                .unwrap_or((0, 0))
        }
    }

    fn decision(records: &[AnyRecord]) -> &SourcingDecision {
        records
            .iter()
            .find_map(|r| match r {
                AnyRecord::Decision(d) => Some(d),
                _ => None,
            })
            .expect("a decision")
    }

    #[test]
    fn a_decision_reserves_and_a_cancellation_releases() {
        let mut h = Harness::new();
        h.count(1, T0, "sku-a", "dc-1", 10);
        assert!(h.order("o-1", T0 + 1, FulfilmentType::ShipToHome, "sku-a", 3));
        let out = h.decide();
        let d = decision(&out);
        assert_eq!(d.order_id, "o-1");
        assert_eq!(d.lines[0].outcome, LineOutcome::Allocated);
        assert_eq!(d.lines[0].allocations[0].location_id, "dc-1");
        assert_eq!(h.position("sku-a", "dc-1"), (10, 3));
        // The same order again changes nothing.
        assert!(!h.order("o-1", T0 + 2, FulfilmentType::ShipToHome, "sku-a", 3));
        assert!(h.decide().is_empty());
        h.order_event("o-1", T0 + 3, OrderEventKind::Cancel);
        assert_eq!(h.position("sku-a", "dc-1"), (10, 0));
        assert_eq!(h.sourcing.stats().released, 1);
    }

    #[test]
    fn shipping_consumes_the_reservation_and_the_stock() {
        let mut h = Harness::new();
        h.count(1, T0, "sku-a", "dc-1", 10);
        h.order("o-1", T0 + 1, FulfilmentType::ShipToHome, "sku-a", 3);
        h.decide();
        h.feed(AnyRecord::OrderEvent(OrderEvent {
            event_id: "shipped-1".into(),
            event_time: T0 + HOUR,
            source: "test".into(),
            order_id: "o-1".into(),
            channel: Channel::Web,
            kind: OrderEventKind::Shipped,
            lines: vec![OrderEventLine {
                line_id: "1".into(),
                sku: "sku-a".into(),
                quantity: 3,
            }],
            location_id: Some("dc-1".into()),
            reason: None,
        }))
        .unwrap();
        assert_eq!(h.position("sku-a", "dc-1"), (7, 0));
        assert_eq!(h.sourcing.stats().consumed, 1);
    }

    #[test]
    fn an_uncollected_pickup_expires_and_its_stock_comes_back() {
        let mut h = Harness::new();
        h.count(1, T0, "sku-a", "store-1", 4);
        h.order("o-2", T0 + 1, FulfilmentType::PickupInStore, "sku-a", 2);
        let d = decision(&h.decide()).clone();
        assert_eq!(d.lines[0].allocations[0].location_id, "store-1");
        assert_eq!(h.position("sku-a", "store-1"), (4, 2));
        // Event time moves past the 72 h window (any inventory event moves it).
        h.count(2, T0 + 80 * HOUR, "sku-b", "dc-1", 1);
        let out = h.decide();
        let expired: Vec<&OrderEvent> = out
            .iter()
            .filter_map(|r| match r {
                AnyRecord::OrderEvent(e) => Some(e),
                _ => None,
            })
            .collect();
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].kind, OrderEventKind::PickupExpired);
        assert_eq!(expired[0].order_id, "o-2");
        assert_eq!(expired[0].lines[0].quantity, 2);
        assert_eq!(expired[0].location_id.as_deref(), Some("store-1"));
        assert_eq!(h.position("sku-a", "store-1"), (4, 0));
        assert_eq!(h.sourcing.stats().expired, 1);
        // Reading the event back (as allot run does) changes nothing more.
        let back = AnyRecord::OrderEvent(expired[0].clone());
        h.feed(back).unwrap();
        assert_eq!(h.sourcing.stats().released, 0);
    }

    #[test]
    fn finished_orders_are_forgotten_and_order_ids_leave_after_the_retention() {
        let mut h = Harness::new();
        h.count(1, T0, "sku-a", "dc-1", 10);
        assert!(h.order("o-1", T0 + 1, FulfilmentType::ShipToHome, "sku-a", 3));
        assert!(h.order("o-2", T0 + 2, FulfilmentType::ShipToHome, "sku-a", 2));
        h.decide();
        assert_eq!(
            (h.sourcing.open_orders(), h.sourcing.remembered_orders()),
            (2, 2)
        );
        // o-1 is cancelled: nothing of it is held, so it is not kept; its id still is.
        h.order_event("o-1", T0 + HOUR, OrderEventKind::Cancel);
        assert_eq!(h.sourcing.open_orders(), 1);
        assert!(!h.order("o-1", T0 + HOUR + 1, FulfilmentType::ShipToHome, "sku-a", 3));
        // A week of event time later the ids are forgotten, except o-2's: it still holds
        // units, so it is a duplicate however late it comes again.
        h.count(2, T0 + 170 * HOUR, "sku-b", "dc-1", 1);
        h.decide();
        assert_eq!(h.sourcing.remembered_orders(), 0);
        assert!(!h.order(
            "o-2",
            T0 + 170 * HOUR + 1,
            FulfilmentType::ShipToHome,
            "sku-a",
            2
        ));
        assert_eq!(h.position("sku-a", "dc-1"), (10, 2));
        // o-1, replayed after its retention, is a new order (the documented limit).
        assert!(h.order(
            "o-1",
            T0 + 170 * HOUR + 2,
            FulfilmentType::ShipToHome,
            "sku-a",
            3
        ));
        h.decide();
        assert_eq!(h.position("sku-a", "dc-1"), (10, 5));
    }

    #[test]
    fn units_are_never_promised_twice_across_orders() {
        let mut h = Harness::new();
        h.count(1, T0, "sku-a", "dc-1", 5);
        for i in 0..4 {
            h.order(
                &format!("o-{i}"),
                T0 + 1 + i,
                FulfilmentType::ShipToHome,
                "sku-a",
                2,
            );
        }
        let out = h.decide();
        let allocated: i32 = out
            .iter()
            .filter_map(|r| match r {
                AnyRecord::Decision(d) => Some(d),
                _ => None,
            })
            .flat_map(|d| &d.lines)
            .filter(|l| l.outcome == LineOutcome::Allocated)
            .map(|l| l.quantity)
            .sum();
        assert_eq!(allocated, 4, "two orders of 2 fit in 5 units");
        assert_eq!(h.position("sku-a", "dc-1"), (5, 4));
        assert_eq!(h.sourcing.stats().orders, 4);
        assert_eq!(h.sourcing.stats().rejected, 2);
    }
}
