//! [`Ledger`]: the sourcing reservations, partitioned like the inventory topics — sku shards
//! own the units reserved per (sku, location), location shards own the daily capacity
//! pools. A commit is atomic per order: every line's units and every pool it touches are
//! checked before anything is written, so an order is confirmed whole or refused whole.
//!
//! Reservation lifecycle (pure transitions, one per order event or timer):
//!
//! ```text
//!   confirmed ──shipment / pickup──▶ consumed   (units leave the hold; stock leaves on hand
//!       │                                        through the availability engine)
//!       ├──────cancellation────────▶ released   (units and capacity come back)
//!       └──pickup window elapsed───▶ expired    (units come back; the pick was done)
//! ```
//!
//! Terminal states are final; a transition on a reservation that is not confirmed changes
//! nothing and is reported as such (a duplicate event). Orders whose reservations are all
//! terminal are forgotten.

use std::collections::{BTreeSet, HashMap};

use foldhash::fast::FixedState;
use rayon::prelude::*;

use super::ids::{Day, LocId, SkuId};
use super::network::Network;
use super::supply::{Supply, SupplyView};

mod changelog;

/// Reserved units of one sku at one location, aggregated by promise day (sorted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocHolds {
    /// The location.
    pub loc: LocId,
    /// (promise day, units) sorted by day, no zero entries.
    pub by_day: Vec<(Day, i32)>,
}

/// Capacity used at one location on one day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolUse {
    /// Order lines picked (counted on the ship or ready day).
    pub pick: i32,
    /// Packages shipped (on the ship day).
    pub ship: i32,
    /// Delivery or installation slots (on the delivery day).
    pub slots: i32,
}

impl std::ops::AddAssign for PoolUse {
    fn add_assign(&mut self, u: PoolUse) {
        self.pick += u.pick;
        self.ship += u.ship;
        self.slots += u.slots;
    }
}

/// What a plan reads of the reservations: the units held per sku and location by promise
/// day, and the capacity used per location and day. The [`Ledger`] is one; an [`Overlay`]
/// (the ledger with a round's admissions on top) is another.
pub trait Reservations {
    /// The units reserved of `sku`, per location (sorted by location).
    fn holds(&self, sku: SkuId) -> &[LocHolds];

    /// The units reserved of `sku` at `loc`, by day.
    fn holds_at(&self, sku: SkuId, loc: LocId) -> &[(Day, i32)] {
        let list = self.holds(sku);
        match list.binary_search_by_key(&loc, |h| h.loc) {
            Ok(i) => &list[i].by_day,
            Err(_) => &[],
        }
    }

    /// Capacity used at `loc` on `day`.
    fn pool(&self, loc: LocId, day: Day) -> PoolUse;
}

/// Whether a reservation ships or waits for pickup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HoldKind {
    /// Shipped (to home, same day, scheduled, installation).
    Ship,
    /// Held at the store for the customer; expires.
    Pickup,
}

/// Where a reservation is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HoldState {
    /// Units held for the order.
    Confirmed,
    /// Shipped or picked up.
    Consumed,
    /// Cancelled.
    Released,
    /// Pickup not collected in time.
    Expired,
}

/// One line's units to reserve at one location, as a plan asks for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldRequest {
    /// The order line (a key unique within the order, e.g. a hash of the line id).
    pub line: u64,
    /// The sku.
    pub sku: SkuId,
    /// The location.
    pub loc: LocId,
    /// Units.
    pub qty: i32,
    /// The day the units are promised from (today for on hand, the inbound day otherwise).
    pub day: Day,
    /// The shipment of the plan this line travels in (index into the commit's shipments).
    pub shipment: u16,
    /// Ship or pickup.
    pub kind: HoldKind,
    /// For pickups, when the hold expires (ms); `i64::MAX` otherwise.
    pub expires_ms: i64,
}

/// One shipment's capacity demand, as a plan asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShipmentRequest {
    /// The location.
    pub loc: LocId,
    /// The day it is picked and shipped (or made ready for pickup).
    pub ship_day: Day,
    /// The delivery day if it takes a delivery or installation slot.
    pub slot_day: Option<Day>,
    /// Lines picked.
    pub lines: i32,
    /// Packages shipped (0 for pickup).
    pub packages: i32,
}

/// Why the ledger refused an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The units are no longer there: another order took them, or supply fell.
    Units {
        /// The sku.
        sku: SkuId,
        /// The location.
        loc: LocId,
    },
    /// A pick, ship or slot pool is full.
    Capacity {
        /// The location.
        loc: LocId,
        /// The day.
        day: Day,
    },
}

/// A change of one reservation, for availability and the order-events topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldEvent {
    /// The order key.
    pub order: u64,
    /// The line key.
    pub line: u64,
    /// The sku.
    pub sku: SkuId,
    /// The location.
    pub loc: LocId,
    /// Units that changed state.
    pub qty: i32,
    /// The state they moved to.
    pub to: HoldState,
}

/// One reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Reservation {
    line: u64,
    sku: SkuId,
    loc: LocId,
    /// Units still confirmed.
    qty: i32,
    day: Day,
    /// Index into the order's shipments in the pool shard of `loc`.
    shipment: u16,
    kind: HoldKind,
    expires_ms: i64,
    state: HoldState,
    /// Some units were shipped or picked up: the pick was done.
    picked: bool,
}

/// One shipment's capacity held for an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ShipmentHold {
    /// Index of the shipment in the order's commit (reservations refer to it).
    index: u16,
    loc: LocId,
    ship_day: Day,
    slot_day: Option<Day>,
    packages: i32,
    /// Lines of the shipment still confirmed.
    lines_open: i32,
    /// Some line of it was shipped or picked up (its capacity stays used).
    worked: bool,
}

#[derive(Debug, Default)]
struct SkuShard {
    holds: HashMap<SkuId, Vec<LocHolds>, FixedState>,
    orders: HashMap<u64, Vec<Reservation>, FixedState>,
    /// Pickup expiry timers: (expires, order, line).
    timers: BTreeSet<(i64, u64, u64)>,
}

#[derive(Debug, Default)]
struct PoolShard {
    used: HashMap<(LocId, Day), PoolUse, FixedState>,
    orders: HashMap<u64, Vec<ShipmentHold>, FixedState>,
}

impl SkuShard {
    /// Keeps `a`'s reservations of the skus `mine` says this shard owns.
    fn record(&mut self, a: &Admitted<'_>, mine: impl Fn(SkuId) -> bool) {
        for h in a.holds.iter().filter(|h| mine(h.sku)) {
            if h.kind == HoldKind::Pickup {
                self.timers.insert((h.expires_ms, a.order, h.line));
            }
            self.orders.entry(a.order).or_default().push(Reservation {
                line: h.line,
                sku: h.sku,
                loc: h.loc,
                qty: h.qty,
                day: h.day,
                shipment: h.shipment,
                kind: h.kind,
                expires_ms: h.expires_ms,
                state: HoldState::Confirmed,
                picked: false,
            });
        }
    }
}

impl PoolShard {
    /// Keeps `a`'s shipments from the locations `mine` says this shard owns.
    fn record(&mut self, a: &Admitted<'_>, mine: impl Fn(LocId) -> bool) {
        for (i, s) in a.shipments.iter().enumerate() {
            if !mine(s.loc) {
                continue;
            }
            self.orders.entry(a.order).or_default().push(ShipmentHold {
                index: i as u16,
                loc: s.loc,
                ship_day: s.ship_day,
                slot_day: s.slot_day,
                packages: s.packages,
                lines_open: s.lines,
                worked: false,
            });
        }
    }
}

type DeltaHolds = HashMap<(SkuId, LocId), Vec<(Day, i32)>, FixedState>;
type DeltaPools = HashMap<(LocId, Day), PoolUse, FixedState>;

/// The units and capacity of the orders admitted in one round ([`Ledger::admit`]), kept
/// apart from the ledger until [`Ledger::merge`], per shard.
#[derive(Debug, Default)]
pub struct RoundDelta {
    holds: Vec<DeltaHolds>,
    pools: Vec<DeltaPools>,
    /// The ledger's holds of one position merged with the round's, for a check.
    merged: Vec<(Day, i32)>,
}

impl RoundDelta {
    /// Sizes the shards to a ledger's.
    fn fit(&mut self, sku_shards: usize, pool_shards: usize) {
        self.holds.resize_with(sku_shards, Default::default);
        self.pools.resize_with(pool_shards, Default::default);
    }

    fn add(&mut self, ledger: &Ledger, holds: &[HoldRequest], shipments: &[ShipmentRequest]) {
        self.fit(ledger.skus.len(), ledger.pools.len());
        for s in shipments {
            let shard = &mut self.pools[ledger.pool_shard(s.loc)];
            let u = shard.entry((s.loc, s.ship_day)).or_default();
            u.pick += s.lines;
            u.ship += s.packages;
            if let Some(d) = s.slot_day {
                shard.entry((s.loc, d)).or_default().slots += 1;
            }
        }
        for h in holds {
            let by_day = self.holds[ledger.sku_shard(h.sku)]
                .entry((h.sku, h.loc))
                .or_default();
            match by_day.binary_search_by_key(&h.day, |e| e.0) {
                Ok(k) => by_day[k].1 += h.qty,
                Err(k) => by_day.insert(k, (h.day, h.qty)),
            }
        }
    }

    /// `held` (the ledger's holds of the position, sorted by day) with the round's added.
    fn holds_with<'a>(
        &'a mut self,
        shard: usize,
        sku: SkuId,
        loc: LocId,
        held: &'a [(Day, i32)],
    ) -> &'a [(Day, i32)] {
        let Some(extra) = self.holds.get(shard).and_then(|m| m.get(&(sku, loc))) else {
            return held;
        };
        self.merged.clear();
        self.merged.extend_from_slice(held);
        self.merged.extend_from_slice(extra);
        // Equal days may repeat; `fits` takes every entry of a day before testing it.
        self.merged.sort_by_key(|e| e.0);
        &self.merged
    }

    fn pool(&self, shard: usize, loc: LocId, day: Day) -> PoolUse {
        self.pools
            .get(shard)
            .and_then(|m| m.get(&(loc, day)))
            .copied()
            .unwrap_or_default()
    }
}

/// An order the ledger [admitted](Ledger::admit), to [merge](Ledger::merge).
#[derive(Debug, Clone, Copy)]
pub struct Admitted<'a> {
    /// The order key.
    pub order: u64,
    /// Its holds, as admitted.
    pub holds: &'a [HoldRequest],
    /// Its shipments, as admitted.
    pub shipments: &'a [ShipmentRequest],
}

/// The reservation ledger, in `shards` partitions (sku shard = sku % n, pool shard =
/// location % n).
#[derive(Debug)]
pub struct Ledger {
    skus: Vec<SkuShard>,
    pools: Vec<PoolShard>,
    /// Orders and pools changed since the last changelog call.
    log: changelog::LedgerLog,
}

/// How many orders and reservations the ledger holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LedgerSize {
    /// Orders with at least one confirmed reservation.
    pub orders: usize,
    /// Reservations still confirmed.
    pub confirmed: usize,
    /// Pending pickup timers.
    pub timers: usize,
}

impl Ledger {
    /// An empty ledger with `shards` partitions (at least one).
    pub fn new(shards: usize) -> Ledger {
        let n = shards.max(1);
        Ledger {
            skus: (0..n).map(|_| SkuShard::default()).collect(),
            pools: (0..n).map(|_| PoolShard::default()).collect(),
            log: changelog::LedgerLog::default(),
        }
    }

    fn sku_shard(&self, sku: SkuId) -> usize {
        sku as usize % self.skus.len()
    }

    fn pool_shard(&self, loc: LocId) -> usize {
        loc as usize % self.pools.len()
    }

    /// The units reserved of `sku`, per location (sorted by location).
    pub fn holds(&self, sku: SkuId) -> &[LocHolds] {
        self.skus[self.sku_shard(sku)]
            .holds
            .get(&sku)
            .map_or(&[], Vec::as_slice)
    }

    /// Every (sku, location) with units reserved, and the units (all days together).
    pub fn reserved_totals(&self) -> impl Iterator<Item = (SkuId, LocId, i32)> + '_ {
        self.skus.iter().flat_map(|shard| {
            shard.holds.iter().flat_map(|(sku, list)| {
                list.iter()
                    .map(move |h| (*sku, h.loc, h.by_day.iter().map(|&(_, q)| q).sum()))
            })
        })
    }

    /// The units reserved of `sku` at `loc`, by day.
    pub fn holds_at(&self, sku: SkuId, loc: LocId) -> &[(Day, i32)] {
        Reservations::holds_at(self, sku, loc)
    }

    /// Capacity used at `loc` on `day`.
    pub fn pool(&self, loc: LocId, day: Day) -> PoolUse {
        self.pools[self.pool_shard(loc)]
            .used
            .get(&(loc, day))
            .copied()
            .unwrap_or_default()
    }

    /// Whether `order` still has a confirmed reservation.
    pub fn holds_order(&self, order: u64) -> bool {
        self.skus.iter().any(|s| s.orders.contains_key(&order))
    }

    /// Forgets the capacity used on days before `day` (nothing is planned on them any
    /// more; a late cancellation of such a shipment gives nothing back).
    pub fn forget_pools_before(&mut self, day: Day) {
        let log = &mut self.log;
        for shard in &mut self.pools {
            shard.used.retain(|&(loc, d), _| {
                if d < day {
                    log.pool(loc, d);
                }
                d >= day
            });
        }
    }

    /// Counts of what the ledger holds.
    pub fn size(&self) -> LedgerSize {
        let mut s = LedgerSize::default();
        for shard in &self.skus {
            s.timers += shard.timers.len();
            for res in shard.orders.values() {
                s.confirmed += res
                    .iter()
                    .filter(|r| r.state == HoldState::Confirmed)
                    .count();
            }
        }
        let mut orders: Vec<u64> = self
            .skus
            .iter()
            .flat_map(|s| s.orders.keys().copied())
            .collect();
        orders.sort_unstable();
        orders.dedup();
        s.orders = orders.len();
        s
    }

    /// Checks an order's holds and capacity against the current state and, if everything
    /// fits, records them; otherwise changes nothing and says what did not fit. `today` is
    /// the order's day (holds before it count as today).
    pub fn commit<S: SupplyView>(
        &mut self,
        network: &Network,
        supply: &S,
        today: Day,
        order: u64,
        holds: &[HoldRequest],
        shipments: &[ShipmentRequest],
    ) -> Result<(), Refusal> {
        self.check(network, supply, today, holds, shipments)?;
        let mut delta = RoundDelta::default();
        delta.add(self, holds, shipments);
        let a = Admitted {
            order,
            holds,
            shipments,
        };
        self.merge(&mut delta, std::slice::from_ref(&a));
        Ok(())
    }

    /// Like [`check`](Self::check), against this ledger plus the orders already admitted to
    /// `delta` (a round's admissions, not merged yet); if the order fits, adds it to `delta`.
    /// The ledger itself is only read, so planners can read it at the same time; the round
    /// ends with [`merge`](Self::merge).
    pub fn admit<S: SupplyView>(
        &self,
        delta: &mut RoundDelta,
        network: &Network,
        supply: &S,
        today: Day,
        holds: &[HoldRequest],
        shipments: &[ShipmentRequest],
    ) -> Result<(), Refusal> {
        self.check_with(network, supply, today, holds, shipments, Some(&mut *delta))?;
        delta.add(self, holds, shipments);
        Ok(())
    }

    /// Ends a round: adds `delta`'s units and capacity to the totals (emptying it) and keeps
    /// the reservations, shipments and pickup timers of `admitted` (the orders admitted to
    /// it, in admission order), each shard on its own rayon task.
    pub fn merge(&mut self, delta: &mut RoundDelta, admitted: &[Admitted<'_>]) {
        for a in admitted {
            self.log.order(a.order);
            for s in a.shipments {
                self.log.pool(s.loc, s.ship_day);
                if let Some(d) = s.slot_day {
                    self.log.pool(s.loc, d);
                }
            }
        }
        let (ns, np) = (self.skus.len(), self.pools.len());
        delta.fit(ns, np);
        let (skus, pools) = (&mut self.skus, &mut self.pools);
        let (dh, dp) = (&mut delta.holds, &mut delta.pools);
        let run_skus = |(k, (shard, d)): (usize, (&mut SkuShard, &mut DeltaHolds))| {
            for ((sku, loc), by_day) in d.drain() {
                let list = shard.holds.entry(sku).or_default();
                for (day, qty) in by_day {
                    add_hold(list, loc, day, qty);
                }
            }
            for a in admitted {
                shard.record(a, |sku| sku as usize % ns == k);
            }
        };
        let run_pools = |(k, (shard, d)): (usize, (&mut PoolShard, &mut DeltaPools))| {
            for (key, u) in d.drain() {
                *shard.used.entry(key).or_default() += u;
            }
            for a in admitted {
                shard.record(a, |loc| loc as usize % np == k);
            }
        };
        // One order (a commit on its own) is not worth handing to another thread: the
        // wake-up costs more than the work.
        if admitted.len() <= 1 {
            skus.iter_mut()
                .zip(dh.iter_mut())
                .enumerate()
                .for_each(run_skus);
            pools
                .iter_mut()
                .zip(dp.iter_mut())
                .enumerate()
                .for_each(run_pools);
            return;
        }
        rayon::join(
            || {
                skus.par_iter_mut()
                    .zip(dh.par_iter_mut())
                    .enumerate()
                    .for_each(run_skus)
            },
            || {
                pools
                    .par_iter_mut()
                    .zip(dp.par_iter_mut())
                    .enumerate()
                    .for_each(run_pools)
            },
        );
    }

    /// The check half of [`commit`](Self::commit): read-only.
    pub fn check<S: SupplyView>(
        &self,
        network: &Network,
        supply: &S,
        today: Day,
        holds: &[HoldRequest],
        shipments: &[ShipmentRequest],
    ) -> Result<(), Refusal> {
        self.check_with(network, supply, today, holds, shipments, None)
    }

    fn check_with<S: SupplyView>(
        &self,
        network: &Network,
        supply: &S,
        today: Day,
        holds: &[HoldRequest],
        shipments: &[ShipmentRequest],
        mut delta: Option<&mut RoundDelta>,
    ) -> Result<(), Refusal> {
        // Units: every distinct (sku, location) with all this order's holds there at once.
        for (k, h) in holds.iter().enumerate() {
            if holds[..k].iter().any(|o| o.sku == h.sku && o.loc == h.loc) {
                continue;
            }
            let mut adds = [(0, 0); 8];
            let mut n = 0;
            for o in &holds[k..] {
                if o.sku == h.sku && o.loc == h.loc {
                    let day = o.day.max(today);
                    if n == adds.len() {
                        // More lines of one sku at one location than tracked: fold into
                        // the first entry at the earlier day, which is only stricter.
                        adds[0] = (adds[0].0.min(day), adds[0].1 + o.qty);
                    } else {
                        adds[n] = (day, o.qty);
                        n += 1;
                    }
                }
            }
            let adds = &mut adds[..n];
            adds.sort_unstable();
            let held = self.holds_at(h.sku, h.loc);
            let held = match delta.as_deref_mut() {
                Some(d) => d.holds_with(self.sku_shard(h.sku), h.sku, h.loc, held),
                None => held,
            };
            if !fits(supply.at(h.sku, h.loc), held, adds, today) {
                return Err(Refusal::Units {
                    sku: h.sku,
                    loc: h.loc,
                });
            }
        }
        // Capacity: aggregate per (location, day) first; shipments of one order may share
        // a slot day.
        // A plan has at most 16 shipments, each with a ship day and maybe a slot day.
        let mut demand: [(LocId, Day, PoolUse); 32] = [(0, 0, PoolUse::default()); 32];
        let mut n = 0;
        let mut add = |loc: LocId, day: Day, u: PoolUse| -> bool {
            if let Some(e) = demand[..n].iter_mut().find(|e| e.0 == loc && e.1 == day) {
                e.2.pick += u.pick;
                e.2.ship += u.ship;
                e.2.slots += u.slots;
                true
            } else if n < demand.len() {
                demand[n] = (loc, day, u);
                n += 1;
                true
            } else {
                false
            }
        };
        for s in shipments {
            let ok = add(
                s.loc,
                s.ship_day,
                PoolUse {
                    pick: s.lines,
                    ship: s.packages,
                    slots: 0,
                },
            ) && s.slot_day.is_none_or(|d| {
                add(
                    s.loc,
                    d,
                    PoolUse {
                        pick: 0,
                        ship: 0,
                        slots: 1,
                    },
                )
            });
            if !ok {
                return Err(Refusal::Capacity {
                    loc: s.loc,
                    day: s.ship_day,
                });
            }
        }
        for &(loc, day, u) in &demand[..n] {
            let site = network.site(loc);
            let mut used = self.pool(loc, day);
            if let Some(d) = delta.as_deref() {
                used += d.pool(self.pool_shard(loc), loc, day);
            }
            if used.pick + u.pick > site.pick_per_day
                || used.ship + u.ship > site.ship_per_day
                || used.slots + u.slots > site.slots_per_day
            {
                return Err(Refusal::Capacity { loc, day });
            }
        }
        Ok(())
    }

    /// Shipment or pickup of `order`'s `lines` (all lines when `None`): up to `qty` units per
    /// line (all when `None`) move from confirmed to consumed. Appends one event per
    /// reservation changed; returns how many changed (0 for a duplicate or unknown order).
    pub fn consume(
        &mut self,
        order: u64,
        lines: Option<&[u64]>,
        qty: Option<i32>,
        out: &mut Vec<HoldEvent>,
    ) -> usize {
        self.transition(order, lines, qty, HoldState::Consumed, out)
    }

    /// Cancellation of `order`'s `lines` (all when `None`): confirmed units are released and
    /// the capacity they held comes back (a shipment's packages and slot once none of its
    /// lines is left). Returns how many reservations changed.
    pub fn release(
        &mut self,
        order: u64,
        lines: Option<&[u64]>,
        qty: Option<i32>,
        out: &mut Vec<HoldEvent>,
    ) -> usize {
        self.transition(order, lines, qty, HoldState::Released, out)
    }

    /// Event time has reached `now_ms`: every pickup reservation whose window ended at or
    /// before it expires and its units come back. Appends the expiry events in time order;
    /// returns how many expired.
    pub fn advance(&mut self, now_ms: i64, out: &mut Vec<HoldEvent>) -> usize {
        let mut due = Vec::new();
        for shard in &mut self.skus {
            while let Some(&first) = shard.timers.first() {
                if first.0 > now_ms {
                    break;
                }
                shard.timers.pop_first();
                due.push(first);
            }
        }
        due.sort_unstable();
        due.dedup();
        let mut n = 0;
        for (_, order, line) in due {
            n += self.transition(order, Some(&[line]), None, HoldState::Expired, out);
        }
        n
    }

    fn transition(
        &mut self,
        order: u64,
        lines: Option<&[u64]>,
        qty: Option<i32>,
        to: HoldState,
        out: &mut Vec<HoldEvent>,
    ) -> usize {
        let mut changed = 0;
        // (location, shipment index, lines closed, worked) to settle in the pool shards.
        let mut settle: Vec<(LocId, u16, i32, bool)> = Vec::new();
        for shard in &mut self.skus {
            let Some(list) = shard.orders.get_mut(&order) else {
                continue;
            };
            for r in list.iter_mut() {
                if r.state != HoldState::Confirmed || lines.is_some_and(|l| !l.contains(&r.line)) {
                    continue;
                }
                if to == HoldState::Expired && r.kind != HoldKind::Pickup {
                    continue;
                }
                let units = qty.map_or(r.qty, |q| q.clamp(0, r.qty));
                if units == 0 {
                    continue;
                }
                r.qty -= units;
                r.picked |= to != HoldState::Released;
                let closed = r.qty == 0;
                if closed {
                    r.state = to;
                    if r.kind == HoldKind::Pickup {
                        shard.timers.remove(&(r.expires_ms, order, r.line));
                    }
                }
                let list = shard
                    .holds
                    .get_mut(&r.sku)
                    .expect("a confirmed hold is listed");
                add_hold(list, r.loc, r.day, -units);
                if list.is_empty() {
                    shard.holds.remove(&r.sku);
                }
                settle.push((r.loc, r.shipment, i32::from(closed), r.picked));
                out.push(HoldEvent {
                    order,
                    line: r.line,
                    sku: r.sku,
                    loc: r.loc,
                    qty: units,
                    to,
                });
                changed += 1;
            }
            if list.iter().all(|r| r.state != HoldState::Confirmed) {
                shard.orders.remove(&order);
            }
        }
        if changed > 0 {
            self.log.order(order);
        }
        for (loc, index, closed, worked) in settle {
            let p = self.pool_shard(loc);
            let shard = &mut self.pools[p];
            let Some(list) = shard.orders.get_mut(&order) else {
                continue;
            };
            let Some(s) = list.iter_mut().find(|s| s.index == index && s.loc == loc) else {
                continue;
            };
            s.worked |= worked;
            s.lines_open -= closed;
            self.log.pool(s.loc, s.ship_day);
            if let Some(d) = s.slot_day {
                self.log.pool(s.loc, d);
            }
            if !worked && closed == 1 {
                // A cancelled line gives its pick back.
                if let Some(u) = shard.used.get_mut(&(s.loc, s.ship_day)) {
                    u.pick -= 1;
                }
            }
            if s.lines_open == 0 {
                if !s.worked {
                    if let Some(u) = shard.used.get_mut(&(s.loc, s.ship_day)) {
                        u.ship -= s.packages;
                    }
                    if let Some(d) = s.slot_day
                        && let Some(u) = shard.used.get_mut(&(s.loc, d))
                    {
                        u.slots -= 1;
                    }
                }
                let s = *s;
                list.retain(|x| !(x.index == s.index && x.loc == s.loc));
                if list.is_empty() {
                    shard.orders.remove(&order);
                }
            }
        }
        changed
    }

    /// Every confirmed reservation as (order, line, sku, location, units, day), for checks
    /// and tests (not a hot path).
    pub fn confirmed(&self) -> Vec<(u64, u64, SkuId, LocId, i32, Day)> {
        let mut v: Vec<_> = self
            .skus
            .iter()
            .flat_map(|s| s.orders.iter())
            .flat_map(|(o, list)| {
                list.iter()
                    .filter(|r| r.state == HoldState::Confirmed)
                    .map(move |r| (*o, r.line, r.sku, r.loc, r.qty, r.day))
            })
            .collect();
        v.sort_unstable();
        v
    }

    /// Every (location, day) pool with some use, for checks and tests.
    pub fn pools(&self) -> Vec<((LocId, Day), PoolUse)> {
        let mut v: Vec<_> = self
            .pools
            .iter()
            .flat_map(|s| s.used.iter().map(|(k, u)| (*k, *u)))
            .collect();
        v.sort_unstable_by_key(|(k, _)| *k);
        v
    }
}

impl Reservations for Ledger {
    fn holds(&self, sku: SkuId) -> &[LocHolds] {
        Ledger::holds(self, sku)
    }

    fn pool(&self, loc: LocId, day: Day) -> PoolUse {
        Ledger::pool(self, loc, day)
    }
}

/// The ledger with a round's admissions (a [`RoundDelta`] not merged yet) on top, for the
/// skus of one order: what an order refused in admission is re-planned against, on the
/// admitting thread, so that its new plan sees every order admitted before it.
#[derive(Debug)]
pub struct Overlay<'a> {
    ledger: &'a Ledger,
    delta: &'a RoundDelta,
    /// Per sku of the order: the ledger's holds with the round's added.
    holds: Vec<(SkuId, Vec<LocHolds>)>,
}

impl<'a> Overlay<'a> {
    /// `ledger` plus `delta` for `skus`. The round's units are looked for at the positions
    /// `supply` has of each sku (an admission only holds where there is supply); any other
    /// sku reads the ledger alone.
    pub fn new<S: SupplyView>(
        ledger: &'a Ledger,
        delta: &'a RoundDelta,
        supply: &S,
        skus: impl IntoIterator<Item = SkuId>,
    ) -> Overlay<'a> {
        let mut holds: Vec<(SkuId, Vec<LocHolds>)> = Vec::new();
        for sku in skus {
            if holds.iter().any(|(s, _)| *s == sku) {
                continue;
            }
            let mut list = ledger.holds(sku).to_vec();
            if let Some(extra) = delta.holds.get(ledger.sku_shard(sku)) {
                for (loc, _) in supply.positions(sku) {
                    for &(day, qty) in extra.get(&(sku, loc)).map_or(&[][..], Vec::as_slice) {
                        add_hold(&mut list, loc, day, qty);
                    }
                }
            }
            holds.push((sku, list));
        }
        Overlay {
            ledger,
            delta,
            holds,
        }
    }
}

impl Reservations for Overlay<'_> {
    fn holds(&self, sku: SkuId) -> &[LocHolds] {
        match self.holds.iter().find(|(s, _)| *s == sku) {
            Some((_, list)) => list,
            None => self.ledger.holds(sku),
        }
    }

    fn pool(&self, loc: LocId, day: Day) -> PoolUse {
        let mut used = self.ledger.pool(loc, day);
        used += self.delta.pool(self.ledger.pool_shard(loc), loc, day);
        used
    }
}

/// Adds `qty` (negative removes) to the holds of `loc` on `day`, keeping the lists sorted
/// and free of zero entries.
fn add_hold(list: &mut Vec<LocHolds>, loc: LocId, day: Day, qty: i32) {
    let i = match list.binary_search_by_key(&loc, |h| h.loc) {
        Ok(i) => i,
        Err(i) => {
            list.insert(
                i,
                LocHolds {
                    loc,
                    by_day: Vec::new(),
                },
            );
            i
        }
    };
    let by_day = &mut list[i].by_day;
    match by_day.binary_search_by_key(&day, |e| e.0) {
        Ok(k) => {
            by_day[k].1 += qty;
            if by_day[k].1 == 0 {
                by_day.remove(k);
            }
        }
        Err(k) => by_day.insert(k, (day, qty)),
    }
    if by_day.is_empty() {
        list.remove(i);
    }
}

/// Whether `adds` (sorted by day, each day >= today) fit on top of `holds` at a position
/// with `supply`: for every day from the first addition on, everything reserved by then is
/// at most the supply arrived by then (see [`earliest_fit`](super::supply::earliest_fit)).
pub fn fits(supply: Supply<'_>, holds: &[(Day, i32)], adds: &[(Day, i32)], today: Day) -> bool {
    let Some(&(from, _)) = adds.first() else {
        return true;
    };
    let mut balance = i64::from(supply.on_hand);
    let (mut i, mut j, mut k) = (0, 0, 0);
    loop {
        let di = supply
            .inbound
            .get(i)
            .map_or(Day::MAX, |x| x.due.max(today + 1));
        let dj = holds.get(j).map_or(Day::MAX, |x| x.0.max(today));
        let dk = adds.get(k).map_or(Day::MAX, |x| x.0);
        let day = di.min(dj).min(dk);
        if day == Day::MAX {
            return true;
        }
        // Apply every event of this day, then test the day's closing balance.
        while supply
            .inbound
            .get(i)
            .is_some_and(|x| x.due.max(today + 1) == day)
        {
            balance += i64::from(supply.inbound[i].qty);
            i += 1;
        }
        while holds.get(j).is_some_and(|x| x.0.max(today) == day) {
            balance -= i64::from(holds[j].1);
            j += 1;
        }
        while adds.get(k).is_some_and(|x| x.0 == day) {
            balance -= i64::from(adds[k].1);
            k += 1;
        }
        if day >= from && balance < 0 {
            return false;
        }
    }
}
