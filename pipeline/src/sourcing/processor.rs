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
//! An order id already sourced is a duplicate (nothing changes); an order event for an
//! order this instance never sourced changes nothing and is counted.

use std::collections::{HashMap, HashSet};

use allot_schemas::{
    AnyRecord, DeadLetterKind, LineOutcome, Order, OrderEvent, OrderEventKind, OrderEventLine,
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
use super::supply::{Future, InMemorySupply, Inbound};
use crate::availability::{AvailabilityEngine, SupplyKind};

/// The `[sourcing]` section of the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourcingSettings {
    /// Whether orders are sourced at all (off: orders and order events are only counted).
    pub enabled: bool,
    /// Orders queued before a batch is sourced. Replay and the demo decide only on this
    /// count (and at the end), so their decisions do not depend on timing; `allot run`
    /// also decides at every flush.
    pub batch_orders: usize,
    /// Shards of the reservation ledger (like the inventory topics' partitions).
    pub shards: usize,
    /// Threads that plan a batch; 0 = one per core.
    pub threads: usize,
    /// `optimize` (branch and bound, then local search) or `closest` (the baseline: each
    /// line from the closest location with stock), to compare decision quality.
    pub method: SourcingMethod,
    /// How a batch is planned.
    pub batch: BatchConfig,
    /// What applies when no sourcing rule matches, and the planner's knobs.
    pub defaults: SourcingConfig,
}

impl Default for SourcingSettings {
    fn default() -> Self {
        SourcingSettings {
            enabled: true,
            batch_orders: 4096,
            shards: 16,
            threads: 0,
            method: SourcingMethod::Optimize,
            batch: BatchConfig::default(),
            defaults: SourcingConfig::default(),
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
    /// Order keys sourced or queued.
    seen: HashSet<u64, FixedState>,
    open: HashMap<u64, OpenOrder, FixedState>,
    supply: InMemorySupply,
    result: BatchResult,
    events: Vec<HoldEvent>,
    stats: SourcingStats,
    pool: Option<rayon::ThreadPool>,
    source: String,
    method: Method,
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
            seen: HashSet::default(),
            open: HashMap::default(),
            supply: InMemorySupply::default(),
            result: BatchResult::default(),
            events: Vec::new(),
            stats: SourcingStats::default(),
            pool,
            source: source.to_string(),
            method,
        }
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

    /// Applies one record. `Ok(true)`: applied; `Ok(false)`: a duplicate; `Err`: refused
    /// with the reason. Records sourcing does not read are `Ok(true)`.
    pub fn apply(
        &mut self,
        record: &AnyRecord,
        engine: &mut AvailabilityEngine,
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
                if !self.seen.insert(key_of(&o.order_id)) {
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

    fn apply_order_event(&mut self, e: &OrderEvent, engine: &mut AvailabilityEngine) {
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
                }
            }
        }
        self.settle(&events, engine);
        self.events = events;
    }

    /// Counts `events` and writes the reserved units of every (sku, location) they touched
    /// into the engine.
    fn settle(&mut self, events: &[HoldEvent], engine: &mut AvailabilityEngine) {
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
        engine: &mut AvailabilityEngine,
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

    /// Expires pickups up to the engine's newest event time, then sources the queued orders
    /// as one batch; appends the decisions and the expiry events to `out`.
    pub fn decide(&mut self, engine: &mut AvailabilityEngine, out: &mut Vec<AnyRecord>) {
        if !self.settings.enabled {
            return;
        }
        self.expire(engine, out);
        if self.pending.is_empty() {
            return;
        }
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
            let mut shipping = Vec::new();
            for (d, plan) in decision.lines.iter().zip(lines) {
                match d.outcome {
                    LineOutcome::Allocated => self.stats.allocated += 1,
                    LineOutcome::Backordered => self.stats.backordered += 1,
                    LineOutcome::Rejected => {
                        self.stats.rejected += 1;
                        continue;
                    }
                }
                let sku = self
                    .network
                    .find_sku(&d.sku)
                    .expect("interned by the request");
                touched.push((sku, plan.loc));
                if !matches!(
                    order.fulfilment,
                    allot_schemas::FulfilmentType::PickupInStore
                ) {
                    self.stats.shipped_lines += 1;
                    if matches!(
                        self.network.site(plan.loc).kind,
                        allot_schemas::LocationKind::Store
                    ) {
                        self.stats.ship_from_store_lines += 1;
                    }
                    shipping.push((plan.loc, plan.ship_ms));
                }
            }
            if !shipping.is_empty() {
                shipping.sort_unstable();
                shipping.dedup();
                self.stats.shipped_orders += 1;
                self.stats.shipments += shipping.len() as u64;
            }
            let key = key_of(&order.order_id);
            let held = decision
                .lines
                .iter()
                .any(|d| d.outcome != LineOutcome::Rejected);
            out.push(AnyRecord::Decision(decision));
            if held {
                self.open.insert(key, OpenOrder { order });
            }
        }
        self.sync_reserved(&mut touched, engine);
    }

    fn expire(&mut self, engine: &mut AvailabilityEngine, out: &mut Vec<AnyRecord>) {
        let now = engine.watermark();
        if now == i64::MIN {
            return;
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
        self.events = events;
    }
}
