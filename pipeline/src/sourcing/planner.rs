//! The planner: candidates per line, the cost model, the optimizer (exact branch and bound
//! for small orders, greedy + local search beyond), the greedy "closest location with stock"
//! baseline, and the explanation (best rejected alternative). Pure: reads the network, a
//! supply view and the ledger; writes into a reusable [`Scratch`].

use allot_schemas::{FulfilmentType, LocationKind, SourcingStrategy, SupplyType};

use super::ids::{Day, LocId, end_of_day};
use super::ledger::{HoldKind, HoldRequest, Ledger, Reservations, ShipmentRequest};
use super::network::{Network, Rule, Site, cap};
use super::request::OrderRequest;
use super::supply::{Future, SupplyView, earliest_fit};

/// "No option": the line is left unfilled.
pub const UNFILLED: u32 = u32::MAX;

/// Most shipments an order can be planned into (whatever `max_splits` says).
const MAX_SHIPMENTS: usize = 16;

/// Objective weight of one extra shipment under `MINIMIZE_SPLITS` (below the unfilled
/// penalty: filling a line still beats saving a split).
const SPLIT_OBJECTIVE_CENTS: i64 = 100_000;
/// Objective weight of one rank in the priority list under `PRIORITY`.
const PRIORITY_OBJECTIVE_CENTS: i64 = 100_000;
/// Objective weight of one km under `PROXIMITY`.
const PROXIMITY_OBJECTIVE_CENTS_PER_KM: f64 = 100.0;

/// Why a line was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// The line asks for fewer than one unit.
    InvalidQuantity,
    /// A shipping order without a destination address.
    NoDestination,
    /// No location the rule allows (distribution group, capability, exclusions, same-day
    /// radius) holds the sku.
    NoEligibleLocation,
    /// Eligible locations exist but none has enough supply now or, where the rule allows
    /// future supply, within the horizon.
    NoStock,
    /// Locations with stock exist but their pick, ship or slot capacity is full.
    CapacityFull,
    /// The line could be filled alone, but not together with the order's other lines
    /// within `max_splits` shipments and the remaining capacity.
    SplitLimit,
    /// The pickup store is unknown, inactive or does not offer pickup.
    PickupNotOffered,
    /// The pickup store has no opening hours in the coming week.
    PickupStoreClosed,
}

impl RejectReason {
    /// A sentence for the decision's `reason`.
    pub fn describe(self) -> &'static str {
        match self {
            RejectReason::InvalidQuantity => "the line asks for fewer than one unit",
            RejectReason::NoDestination => "a shipping order needs a destination address",
            RejectReason::NoEligibleLocation => {
                "no location allowed for this channel and fulfilment holds the sku"
            }
            RejectReason::NoStock => {
                "no eligible location has enough stock now or inbound within the horizon"
            }
            RejectReason::CapacityFull => {
                "locations with stock have no pick, ship or slot capacity left"
            }
            RejectReason::SplitLimit => {
                "cannot be filled together with the other lines within the split limit and capacity"
            }
            RejectReason::PickupNotOffered => {
                "the pickup store is unknown or does not offer pickup"
            }
            RejectReason::PickupStoreClosed => "the pickup store has no opening hours this week",
        }
    }
}

/// The outcome of one line in a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineStatus {
    /// From stock on hand now.
    Allocated,
    /// Against inbound supply, promised later.
    Backordered,
    /// Not filled.
    Rejected(RejectReason),
}

/// One line of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinePlan {
    /// Allocated, backordered or rejected.
    pub status: LineStatus,
    /// The location (meaningless when rejected).
    pub loc: LocId,
    /// Units.
    pub qty: i32,
    /// Which supply the units come from.
    pub supply: SupplyType,
    /// When the location ships or has the goods ready (ms).
    pub ship_ms: i64,
    /// When the customer gets them (ms).
    pub delivery_ms: i64,
}

/// The parts of a plan's cost, in minor currency units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cost {
    /// Distance and package cost.
    pub shipping: i64,
    /// Penalty for shipments beyond the first.
    pub split: i64,
    /// Store picking labour.
    pub labour: i64,
    /// Promise after the requested date.
    pub lateness: i64,
    /// Stock balancing (negative is a reward).
    pub balancing: i64,
}

impl Cost {
    /// The sum of the parts.
    pub fn total(&self) -> i64 {
        self.shipping + self.split + self.labour + self.lateness + self.balancing
    }
}

/// Why the best alternative lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossReason {
    /// It costs more; `part` is the cost part that grew most.
    Costlier {
        /// Extra total cost (minor units).
        delta_cents: i64,
        /// Which part grew most: "shipping", "split", "labour", "lateness", "balancing".
        part: &'static str,
    },
    /// It fills fewer lines.
    FillsFewerLines,
    /// Moving there exceeds the split limit.
    SplitLimit,
    /// Its location has no capacity left for it.
    Capacity,
    /// Same cost; the chosen plan won the tie (lower location ids).
    Tie,
}

/// The best plan not chosen: the chosen plan with one line moved elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alternative {
    /// The line moved (index in the order).
    pub line: u16,
    /// Where it would have gone.
    pub loc: LocId,
    /// That plan's total reported cost.
    pub total_cents: i64,
    /// Why it lost.
    pub reason: LossReason,
}

/// The result of planning one order (the lines are in [`Scratch::lines`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanSummary {
    /// Reported cost of the chosen plan.
    pub cost: Cost,
    /// The optimizer's objective (cost + strategy terms + unfilled penalties).
    pub objective: i64,
    /// The best alternative, when there was another candidate.
    pub alternative: Option<Alternative>,
    /// Shipments in the plan.
    pub shipments: u32,
    /// Whether the exact search finished (the plan is optimal over the candidates).
    pub exact: bool,
}

/// Which optimizer to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Branch and bound (small orders), greedy + local search beyond.
    Optimize,
    /// The baseline: each line from the closest location with stock.
    Closest,
}

/// One way to fill one line: the whole quantity from one location.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Opt {
    /// The location.
    pub loc: LocId,
    /// The day the units are promised from (hold day).
    pub day: Day,
    /// The day it is picked and shipped (or ready for pickup).
    pub ship_day: Day,
    /// The day it reaches the customer.
    pub delivery_day: Day,
    /// Ready instant for pickups (ms), else 0.
    pub ready_ms: i64,
    /// Future supply used, `None` for on hand now.
    pub future: Option<Future>,
    /// Units the position can still promise at `day` (for lines sharing a sku).
    pub slack: i32,
    /// Great-circle km to the destination (0 for pickup).
    pub km: f64,
    /// Objective cost of the line here, excluding shipping and splits.
    pub line_obj: i64,
    /// Objective cost per package shipped from here.
    pub pkg_obj: i64,
    /// Reported cost per package.
    pub pkg_cents: i64,
    /// Reported labour.
    pub labour: i64,
    /// Reported lateness.
    pub lateness: i64,
    /// Reported balancing.
    pub balancing: i64,
    /// Pick lines left at (loc, ship_day).
    pub rem_pick: i32,
    /// Packages left at (loc, ship_day) (`i32::MAX` for pickup).
    pub rem_ship: i32,
    /// Slots left at (loc, delivery_day) when a slot is needed, else `i32::MAX`.
    pub rem_slot: i32,
}

/// Per-line result of candidate generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct LineGen {
    start: u32,
    end: u32,
    /// Reason if no option: set from what was seen.
    none: Option<RejectReason>,
}

/// One shipment of a partial plan.
#[derive(Debug, Clone, Copy, Default)]
struct Ship {
    loc: LocId,
    ship_day: Day,
    delivery_day: Day,
    units: i32,
    lines: i32,
    pkg_obj: i64,
    rem_pick: i32,
    rem_ship: i32,
    slot: bool,
}

/// A partial plan: its shipments and objective so far.
#[derive(Debug, Clone, Copy)]
struct Partial {
    ships: [Ship; MAX_SHIPMENTS],
    n: usize,
    obj: i64,
}

/// One change to a partial plan.
#[derive(Debug, Clone, Copy)]
struct Step {
    /// Objective change.
    delta: i64,
    /// Units of the line.
    qty: i32,
    kind: StepKind,
}

#[derive(Debug, Clone, Copy)]
enum StepKind {
    /// The line is left unfilled.
    Unfilled,
    /// The line joins shipment k.
    Join(u8),
    /// The line opens a shipment.
    Open(Ship),
}

impl Partial {
    fn apply(&mut self, step: &Step) {
        self.obj += step.delta;
        match step.kind {
            StepKind::Unfilled => {}
            StepKind::Join(k) => {
                let s = &mut self.ships[k as usize];
                s.units += step.qty;
                s.lines += 1;
            }
            StepKind::Open(ship) => {
                self.ships[self.n] = ship;
                self.n += 1;
            }
        }
    }

    fn undo(&mut self, step: &Step) {
        self.obj -= step.delta;
        match step.kind {
            StepKind::Unfilled => {}
            StepKind::Join(k) => {
                let s = &mut self.ships[k as usize];
                s.units -= step.qty;
                s.lines -= 1;
            }
            StepKind::Open(_) => self.n -= 1,
        }
    }

    const EMPTY: Partial = Partial {
        ships: [Ship {
            loc: 0,
            ship_day: 0,
            delivery_day: 0,
            units: 0,
            lines: 0,
            pkg_obj: 0,
            rem_pick: 0,
            rem_ship: 0,
            slot: false,
        }; MAX_SHIPMENTS],
        n: 0,
        obj: 0,
    };
}

/// Reusable buffers of one worker: nothing is allocated per order once they have grown.
#[derive(Debug, Default)]
pub struct Scratch {
    opts: Vec<Opt>,
    gens: Vec<LineGen>,
    /// Per location: the order stamp its distance/transit was computed for, km, transit.
    geo: Vec<(u32, f64, i32)>,
    stamp: u32,
    perm: Vec<u32>,
    lb: Vec<i64>,
    assign: Vec<u32>,
    best: Vec<u32>,
    spare: Vec<u32>,
    nodes: u32,
    budget: u32,
    best_obj: i64,
    /// The chosen plan's lines (one per order line).
    pub lines: Vec<LinePlan>,
    /// The chosen plan's holds, for the ledger.
    pub holds: Vec<HoldRequest>,
    /// The chosen plan's shipments, for the ledger.
    pub shipments: Vec<ShipmentRequest>,
}

/// Everything one planning call reads.
#[derive(Debug, Clone, Copy)]
pub struct Planner<'a, S, R = Ledger> {
    /// Locations, skus, rules.
    pub network: &'a Network,
    /// Stock.
    pub supply: &'a S,
    /// Reservations and capacity used: the ledger, or the ledger with a round's admissions
    /// on top.
    pub ledger: &'a R,
}

/// Packages for `units` units.
fn packages(units: i32, per_package: i32) -> i32 {
    (units + per_package - 1) / per_package
}

fn eligible(site: &Site, rule: &Rule, fulfilment: FulfilmentType, loc: LocId) -> bool {
    if !site.active || (rule.group_mask != 0 && site.groups & rule.group_mask == 0) {
        return false;
    }
    let caps_ok = match fulfilment {
        FulfilmentType::ShipToHome | FulfilmentType::ScheduledDelivery => {
            site.caps & cap::SHIP != 0
                || (site.kind == LocationKind::Store && site.caps & cap::SHIP_FROM_STORE != 0)
        }
        FulfilmentType::SameDayDelivery => site.caps & cap::SAME_DAY != 0,
        FulfilmentType::Installation => site.caps & cap::INSTALLATION != 0,
        FulfilmentType::PickupInStore => site.caps & cap::PICKUP != 0,
    };
    caps_ok && !rule.excludes(loc)
}

impl<S: SupplyView, R: Reservations> Planner<'_, S, R> {
    /// Plans `order` into `scratch` (`lines`, `holds`, `shipments`) with `method`.
    pub fn plan(&self, order: &OrderRequest, method: Method, scratch: &mut Scratch) -> PlanSummary {
        let rule = self.network.rule(order.channel, order.fulfilment);
        self.candidates(order, rule, scratch);
        let n = order.lines.len();
        scratch.assign.clear();
        scratch.assign.resize(n, UNFILLED);
        scratch.best.clear();
        scratch.best.resize(n, UNFILLED);
        let mut exact = false;
        match method {
            Method::Closest => self.closest(order, rule, scratch),
            Method::Optimize => {
                // Start from the better of the greedy plan and the baseline, so the result
                // is never worse than the baseline even when the search is cut short.
                self.closest(order, rule, scratch);
                let mut closest = std::mem::take(&mut scratch.spare);
                closest.clear();
                closest.extend_from_slice(&scratch.best);
                let closest_obj = self
                    .evaluate(order, rule, scratch, &closest)
                    .map_or(i64::MAX, |(o, _, _)| o);
                self.greedy(order, rule, scratch);
                scratch.best_obj = self
                    .evaluate(order, rule, scratch, &scratch.best)
                    .map_or(i64::MAX, |(o, _, _)| o);
                if closest_obj < scratch.best_obj {
                    scratch.best.copy_from_slice(&closest);
                    scratch.best_obj = closest_obj;
                }
                scratch.spare = closest;
                if n <= self.network.config().exact_max_lines {
                    exact = self.branch_and_bound(order, rule, scratch);
                } else {
                    self.local_search(order, rule, scratch);
                }
            }
        }
        let best = std::mem::take(&mut scratch.best);
        let (objective, cost, shipments) = self
            .evaluate(order, rule, scratch, &best)
            .expect("the chosen plan is feasible");
        let alternative = self.alternative(order, rule, scratch, &best, objective, cost);
        self.emit(order, scratch, &best);
        scratch.best = best;
        PlanSummary {
            cost,
            objective,
            alternative,
            shipments,
            exact,
        }
    }

    /// The candidate options of every line, into `scratch.opts`/`gens`.
    fn candidates(&self, order: &OrderRequest, rule: &Rule, scratch: &mut Scratch) {
        let network = self.network;
        let config = network.config();
        let today = order.today();
        let w = &rule.weights;
        let upp = config.units_per_package as i32;
        scratch.opts.clear();
        scratch.gens.clear();
        if scratch.geo.len() < network.locations() {
            scratch.geo.resize(network.locations(), (0, 0.0, 0));
        }
        scratch.stamp = scratch.stamp.wrapping_add(1);
        if scratch.stamp == 0 {
            scratch.geo.iter_mut().for_each(|g| g.0 = 0);
            scratch.stamp = 1;
        }
        let stamp = scratch.stamp;
        let pickup = order.fulfilment == FulfilmentType::PickupInStore;
        let same_day = order.fulfilment == FulfilmentType::SameDayDelivery;
        let slotted = matches!(
            order.fulfilment,
            FulfilmentType::ScheduledDelivery | FulfilmentType::Installation
        );
        let future = rule.future && !pickup && !same_day;
        let horizon_last = today + if future { rule.horizon_days } else { 0 };
        let lookahead = if same_day {
            0
        } else {
            config.capacity_lookahead_days as i32
        };
        for line in &order.lines {
            let start = scratch.opts.len() as u32;
            let mut none = None;
            if line.qty < 1 {
                none = Some(RejectReason::InvalidQuantity);
            } else if pickup {
                none = self.pickup_option(order, rule, line.sku, line.qty, scratch);
            } else if let Some(dest) = order.destination {
                let mut saw_eligible = false;
                let mut saw_stock = false;
                let holds = self.ledger.holds(line.sku);
                let mut h = 0;
                for (loc, supply) in self.supply.positions(line.sku) {
                    while h < holds.len() && holds[h].loc < loc {
                        h += 1;
                    }
                    let site = network.site(loc);
                    if !eligible(site, rule, order.fulfilment, loc) {
                        continue;
                    }
                    let geo = &mut scratch.geo[loc as usize];
                    if geo.0 != stamp {
                        *geo = (
                            stamp,
                            site.distance_km(dest.lat_rad, dest.lon_rad, dest.cos_lat),
                            site.transit_days(dest.country, dest.postal()),
                        );
                    }
                    let (_, km, transit) = *geo;
                    if same_day && km > config.same_day_radius_km {
                        continue;
                    }
                    saw_eligible = true;
                    let loc_holds = if h < holds.len() && holds[h].loc == loc {
                        &holds[h].by_day[..]
                    } else {
                        &[]
                    };
                    let on_hand_ok = rule.on_hand;
                    let fit = if on_hand_ok {
                        earliest_fit(supply, loc_holds, line.qty, today, horizon_last, future)
                    } else {
                        // Future supply only: on hand does not count.
                        let s = super::supply::Supply {
                            on_hand: 0,
                            inbound: supply.inbound,
                        };
                        earliest_fit(s, loc_holds, line.qty, today, horizon_last, future)
                    };
                    let Some((day, kind)) = fit else {
                        continue;
                    };
                    saw_stock = true;
                    let avail = supply.on_hand - loc_holds.iter().map(|x| x.1).sum::<i32>();
                    let pkgs = packages(line.qty, upp);
                    // Capacity: the first day from `day` with room for this line alone.
                    let mut chosen = None;
                    for d in day..=day + lookahead {
                        let used = self.ledger.pool(loc, d);
                        let rem_pick = site.pick_per_day - used.pick;
                        let rem_ship = site.ship_per_day - used.ship;
                        if rem_pick < 1 || rem_ship < pkgs {
                            continue;
                        }
                        let mut delivery = if same_day { d } else { d + transit };
                        let mut rem_slot = i32::MAX;
                        if slotted {
                            if let Some(slot) = order.slot_day {
                                delivery = delivery.max(slot);
                            }
                            rem_slot = site.slots_per_day - self.ledger.pool(loc, delivery).slots;
                            if rem_slot < 1 {
                                continue;
                            }
                        }
                        chosen = Some((d, delivery, rem_pick, rem_ship, rem_slot));
                        break;
                    }
                    let Some((ship_day, delivery_day, rem_pick, rem_ship, rem_slot)) = chosen
                    else {
                        none.get_or_insert(RejectReason::CapacityFull);
                        continue;
                    };
                    let pkg_cents = w.shipping_cents_per_package
                        + (w.shipping_cents_per_km * km).round() as i64;
                    let late_days = i64::from((delivery_day - order.requested_day).max(0));
                    let labour = if site.kind == LocationKind::Store {
                        w.store_labour_cents_per_unit * i64::from(line.qty)
                    } else {
                        0
                    };
                    scratch.opts.push(Opt {
                        loc,
                        day,
                        ship_day,
                        delivery_day,
                        ready_ms: 0,
                        future: kind,
                        slack: avail,
                        km,
                        line_obj: 0,
                        pkg_obj: pkg_cents,
                        pkg_cents,
                        labour,
                        lateness: w.lateness_cents_per_day * late_days,
                        balancing: 0,
                        rem_pick,
                        rem_ship,
                        rem_slot,
                    });
                }
                if scratch.opts.len() as u32 == start && none.is_none() {
                    none = Some(if saw_stock {
                        RejectReason::CapacityFull
                    } else if saw_eligible {
                        RejectReason::NoStock
                    } else {
                        RejectReason::NoEligibleLocation
                    });
                }
            } else {
                none = Some(RejectReason::NoDestination);
            }
            let end = scratch.opts.len() as u32;
            let opts = &mut scratch.opts[start as usize..end as usize];
            if !opts.is_empty() {
                none = None;
                // Balancing: reward taking from locations holding more than the average
                // candidate; then the objective with the rule's strategy terms.
                let mean = opts.iter().map(|o| i64::from(o.slack)).sum::<i64>() / opts.len() as i64;
                for o in opts.iter_mut() {
                    if i64::from(o.slack) > mean {
                        o.balancing = -w.balancing_cents_per_unit * i64::from(line.qty);
                    }
                    o.line_obj = o.labour + o.lateness + o.balancing;
                    match rule.strategy {
                        SourcingStrategy::MinimizeCost | SourcingStrategy::MinimizeSplits => {}
                        SourcingStrategy::Proximity => {
                            o.line_obj += (o.km * PROXIMITY_OBJECTIVE_CENTS_PER_KM) as i64;
                        }
                        SourcingStrategy::Priority => {
                            o.line_obj +=
                                rule.priority_rank(o.loc) as i64 * PRIORITY_OBJECTIVE_CENTS;
                        }
                    }
                    // The slack the duplicate-sku check uses is what the day can promise.
                    o.slack = o.slack.max(line.qty);
                }
                // Standalone cost order: cheapest first, ties by location id.
                let pkgs = i64::from(packages(line.qty, upp));
                opts.sort_unstable_by_key(|o| (o.line_obj + pkgs * o.pkg_obj, o.loc, o.day));
            }
            scratch.gens.push(LineGen { start, end, none });
        }
    }

    /// The single option of a pickup line, or why there is none.
    fn pickup_option(
        &self,
        order: &OrderRequest,
        rule: &Rule,
        sku: u32,
        qty: i32,
        scratch: &mut Scratch,
    ) -> Option<RejectReason> {
        let config = self.network.config();
        let today = order.today();
        let Some(store) = order.pickup else {
            return Some(RejectReason::PickupNotOffered);
        };
        let site = self.network.site(store);
        if !eligible(site, rule, FulfilmentType::PickupInStore, store) {
            return Some(RejectReason::PickupNotOffered);
        }
        let prep = i64::from(config.pickup_prep_minutes) * 60_000;
        let Some(ready_ms) = site.next_open(order.now_ms + prep) else {
            return Some(RejectReason::PickupStoreClosed);
        };
        let holds = self.ledger.holds_at(sku, store);
        let supply = self.supply.at(sku, store);
        // Pickup reserves on hand at the store, now.
        let Some((day, _)) = earliest_fit(supply, holds, qty, today, today, false) else {
            return Some(RejectReason::NoStock);
        };
        let ready_day = super::ids::day_of(ready_ms);
        let used = self.ledger.pool(store, ready_day);
        let rem_pick = site.pick_per_day - used.pick;
        if rem_pick < 1 {
            return Some(RejectReason::CapacityFull);
        }
        let w = &rule.weights;
        let late_days = i64::from((ready_day - order.requested_day).max(0));
        let labour = if site.kind == LocationKind::Store {
            w.store_labour_cents_per_unit * i64::from(qty)
        } else {
            0
        };
        let avail = supply.on_hand - holds.iter().map(|x| x.1).sum::<i32>();
        scratch.opts.push(Opt {
            loc: store,
            day,
            ship_day: ready_day,
            delivery_day: ready_day,
            ready_ms,
            future: None,
            slack: avail.max(qty),
            km: 0.0,
            line_obj: 0,
            pkg_obj: 0,
            pkg_cents: 0,
            labour,
            lateness: w.lateness_cents_per_day * late_days,
            balancing: 0,
            rem_pick,
            rem_ship: i32::MAX,
            rem_slot: i32::MAX,
        });
        None
    }

    fn split_obj(rule: &Rule) -> i64 {
        let base = rule.weights.split_penalty_cents;
        if rule.strategy == SourcingStrategy::MinimizeSplits {
            base + SPLIT_OBJECTIVE_CENTS
        } else {
            base
        }
    }

    /// What adding option `oi` (of `line`) to `p` would change, or `None` if the result
    /// breaks a constraint: the split limit, a capacity pool, or (for lines sharing a sku
    /// and location) the units the position can promise. Reads only; [`Partial::apply`]
    /// and [`Partial::undo`] make the change, so the search copies no plan.
    #[allow(clippy::too_many_arguments)]
    fn step(
        &self,
        order: &OrderRequest,
        rule: &Rule,
        scratch: &Scratch,
        assign: &[u32],
        p: &Partial,
        line: usize,
        oi: u32,
    ) -> Option<Step> {
        if oi == UNFILLED {
            return Some(Step {
                delta: self.network.config().unfilled_cents_per_line,
                qty: 0,
                kind: StepKind::Unfilled,
            });
        }
        let o = &scratch.opts[oi as usize];
        let qty = order.lines[line].qty;
        let sku = order.lines[line].sku;
        // Lines sharing this sku at this location must fit together.
        let mut shared = qty;
        let mut slack = o.slack;
        for (j, &a) in assign.iter().enumerate() {
            if j != line && a != UNFILLED && order.lines[j].sku == sku {
                let other = &scratch.opts[a as usize];
                if other.loc == o.loc {
                    shared += order.lines[j].qty;
                    slack = slack.min(other.slack);
                }
            }
        }
        if shared > slack {
            return None;
        }
        let upp = self.network.config().units_per_package as i32;
        if let Some(k) = p.ships[..p.n]
            .iter()
            .position(|s| s.loc == o.loc && s.ship_day == o.ship_day)
        {
            let s = &p.ships[k];
            let before = packages(s.units, upp);
            let after = packages(s.units + qty, upp);
            if s.lines + 1 > s.rem_pick || after > s.rem_ship {
                return None;
            }
            return Some(Step {
                delta: o.line_obj + i64::from(after - before) * s.pkg_obj,
                qty,
                kind: StepKind::Join(k as u8),
            });
        }
        if p.n >= (rule.max_splits as usize).min(MAX_SHIPMENTS) {
            return None;
        }
        let pkgs = packages(qty, upp);
        if o.rem_pick < 1 || pkgs > o.rem_ship {
            return None;
        }
        let slot = o.rem_slot != i32::MAX;
        if slot {
            let same = p.ships[..p.n]
                .iter()
                .filter(|s| s.slot && s.loc == o.loc && s.delivery_day == o.delivery_day)
                .count() as i32;
            if same + 1 > o.rem_slot {
                return None;
            }
        }
        let split = if p.n >= 1 { Self::split_obj(rule) } else { 0 };
        Some(Step {
            delta: o.line_obj + split + i64::from(pkgs) * o.pkg_obj,
            qty,
            kind: StepKind::Open(Ship {
                loc: o.loc,
                ship_day: o.ship_day,
                delivery_day: o.delivery_day,
                units: qty,
                lines: 1,
                pkg_obj: o.pkg_obj,
                rem_pick: o.rem_pick,
                rem_ship: o.rem_ship,
                slot,
            }),
        })
    }

    /// The objective, reported cost and shipment count of a complete assignment, or `None`
    /// if it breaks a constraint. This is the definition the optimizer minimises.
    pub fn evaluate(
        &self,
        order: &OrderRequest,
        rule: &Rule,
        scratch: &Scratch,
        assign: &[u32],
    ) -> Option<(i64, Cost, u32)> {
        let mut p = Partial::EMPTY;
        let mut cost = Cost::default();
        // Add lines one by one, with the duplicate-sku check seeing only earlier lines.
        let mut seen = [UNFILLED; 64];
        let big = assign.len() > seen.len();
        for (i, &a) in assign.iter().enumerate() {
            let view: &[u32] = if big { assign } else { &seen[..assign.len()] };
            let step = self.step(order, rule, scratch, view, &p, i, a)?;
            p.apply(&step);
            if !big {
                seen[i] = a;
            }
            if a != UNFILLED {
                let o = &scratch.opts[a as usize];
                cost.labour += o.labour;
                cost.lateness += o.lateness;
                cost.balancing += o.balancing;
            }
        }
        let upp = self.network.config().units_per_package as i32;
        for s in &p.ships[..p.n] {
            // Reported per-package cost equals the objective's (strategy terms are per line).
            cost.shipping += i64::from(packages(s.units, upp)) * s.pkg_obj;
        }
        cost.split = (p.n as i64 - 1).max(0) * rule.weights.split_penalty_cents;
        Some((p.obj, cost, p.n as u32))
    }

    /// Greedy construction: lines in order, each to the option that adds least given the
    /// lines before it (unfilled if nothing fits). Leaves the plan in `scratch.best`.
    fn greedy(&self, order: &OrderRequest, rule: &Rule, scratch: &mut Scratch) {
        let mut p = Partial::EMPTY;
        let mut assign = std::mem::take(&mut scratch.assign);
        assign.iter_mut().for_each(|a| *a = UNFILLED);
        for line in 0..order.lines.len() {
            let g = scratch.gens[line];
            let mut best = self
                .step(order, rule, scratch, &assign, &p, line, UNFILLED)
                .expect("unfilled always fits");
            let mut best_oi = UNFILLED;
            for oi in g.start..g.end {
                if let Some(q) = self.step(order, rule, scratch, &assign, &p, line, oi)
                    && q.delta < best.delta
                {
                    best = q;
                    best_oi = oi;
                }
            }
            p.apply(&best);
            assign[line] = best_oi;
        }
        scratch.best.copy_from_slice(&assign);
        scratch.assign = assign;
    }

    /// The baseline: each line, in order, from the closest location with stock on hand now
    /// (then the earliest inbound), if it still fits; unfilled otherwise.
    fn closest(&self, order: &OrderRequest, rule: &Rule, scratch: &mut Scratch) {
        let mut p = Partial::EMPTY;
        let mut assign = std::mem::take(&mut scratch.assign);
        assign.iter_mut().for_each(|a| *a = UNFILLED);
        for line in 0..order.lines.len() {
            let g = scratch.gens[line];
            let mut pick: Option<(u32, Step)> = None;
            let mut key = (true, Day::MAX, f64::INFINITY);
            for oi in g.start..g.end {
                let o = &scratch.opts[oi as usize];
                let k = (o.future.is_some(), o.day, o.km);
                if k.partial_cmp(&key) == Some(std::cmp::Ordering::Less)
                    && let Some(q) = self.step(order, rule, scratch, &assign, &p, line, oi)
                {
                    key = k;
                    pick = Some((oi, q));
                }
            }
            match pick {
                Some((oi, q)) => {
                    assign[line] = oi;
                    p.apply(&q);
                }
                None => {
                    let q = self
                        .step(order, rule, scratch, &assign, &p, line, UNFILLED)
                        .expect("unfilled always fits");
                    p.apply(&q);
                }
            }
        }
        scratch.best.copy_from_slice(&assign);
        scratch.assign = assign;
    }

    /// Exact search over the candidates from the incumbent in `scratch.best`. Returns
    /// whether it finished inside the node budget.
    fn branch_and_bound(&self, order: &OrderRequest, rule: &Rule, scratch: &mut Scratch) -> bool {
        let n = order.lines.len();
        let unfilled = self.network.config().unfilled_cents_per_line;
        scratch.perm.clear();
        scratch.perm.extend(0..n as u32);
        let gens = &scratch.gens;
        scratch
            .perm
            .sort_by_key(|&i| (gens[i as usize].end - gens[i as usize].start, i));
        scratch.lb.clear();
        scratch.lb.resize(n + 1, 0);
        for k in (0..n).rev() {
            let g = scratch.gens[scratch.perm[k] as usize];
            let min = scratch.opts[g.start as usize..g.end as usize]
                .iter()
                // Shipping and splits are never negative but a line may share another
                // line's shipment and pay none, so the bound counts line costs only.
                .map(|o| o.line_obj)
                .min()
                .unwrap_or(unfilled)
                .min(unfilled);
            scratch.lb[k] = scratch.lb[k + 1] + min;
        }
        scratch.assign.iter_mut().for_each(|a| *a = UNFILLED);
        scratch.nodes = 0;
        scratch.budget = self.network.config().exact_node_budget;
        let mut assign = std::mem::take(&mut scratch.assign);
        let mut partial = Partial::EMPTY;
        let finished = self.descend(order, rule, scratch, &mut assign, &mut partial, 0);
        scratch.assign = assign;
        finished
    }

    fn descend(
        &self,
        order: &OrderRequest,
        rule: &Rule,
        scratch: &mut Scratch,
        assign: &mut [u32],
        p: &mut Partial,
        depth: usize,
    ) -> bool {
        if depth == order.lines.len() {
            if p.obj < scratch.best_obj {
                scratch.best_obj = p.obj;
                scratch.best.copy_from_slice(assign);
            }
            return true;
        }
        scratch.nodes += 1;
        if scratch.nodes > scratch.budget {
            return false;
        }
        let line = scratch.perm[depth] as usize;
        let g = scratch.gens[line];
        let rest = scratch.lb[depth + 1];
        for oi in (g.start..g.end).chain(std::iter::once(UNFILLED)) {
            // Shipping and splits only add: the line's own cost is a bound on the step.
            if oi != UNFILLED
                && p.obj + scratch.opts[oi as usize].line_obj + rest >= scratch.best_obj
            {
                continue;
            }
            let Some(q) = self.step(order, rule, scratch, assign, p, line, oi) else {
                continue;
            };
            if p.obj + q.delta + rest >= scratch.best_obj {
                continue;
            }
            assign[line] = oi;
            p.apply(&q);
            let finished = self.descend(order, rule, scratch, assign, p, depth + 1);
            p.undo(&q);
            assign[line] = UNFILLED;
            if !finished {
                return false;
            }
        }
        true
    }

    /// Improves `scratch.best` by single-line moves and by moving every line that can go
    /// to one location there (consolidation), until no move helps.
    fn local_search(&self, order: &OrderRequest, rule: &Rule, scratch: &mut Scratch) {
        let mut best = std::mem::take(&mut scratch.best);
        let mut best_obj = self
            .evaluate(order, rule, scratch, &best)
            .map_or(i64::MAX, |e| e.0);
        let mut trial = best.clone();
        for _round in 0..8 {
            let mut improved = false;
            // Consolidation: for each location some line can use, move every line that can
            // go there.
            let mut locs: Vec<LocId> = scratch.opts.iter().map(|o| o.loc).collect();
            locs.sort_unstable();
            locs.dedup();
            for &loc in &locs {
                trial.copy_from_slice(&best);
                for (line, g) in scratch.gens.iter().enumerate() {
                    if let Some(oi) =
                        (g.start..g.end).find(|&oi| scratch.opts[oi as usize].loc == loc)
                    {
                        trial[line] = oi;
                    }
                }
                if let Some((obj, _, _)) = self.evaluate(order, rule, scratch, &trial)
                    && obj < best_obj
                {
                    best_obj = obj;
                    best.copy_from_slice(&trial);
                    improved = true;
                }
            }
            for line in 0..order.lines.len() {
                let g = scratch.gens[line];
                for oi in (g.start..g.end).chain(std::iter::once(UNFILLED)) {
                    trial.copy_from_slice(&best);
                    trial[line] = oi;
                    if let Some((obj, _, _)) = self.evaluate(order, rule, scratch, &trial)
                        && obj < best_obj
                    {
                        best_obj = obj;
                        best.copy_from_slice(&trial);
                        improved = true;
                    }
                }
            }
            if !improved {
                break;
            }
        }
        scratch.best = best;
        scratch.best_obj = best_obj;
    }

    /// The best plan that differs from `chosen` by one line's location, and why it lost.
    fn alternative(
        &self,
        order: &OrderRequest,
        rule: &Rule,
        scratch: &mut Scratch,
        chosen: &[u32],
        objective: i64,
        cost: Cost,
    ) -> Option<Alternative> {
        let mut trial = std::mem::take(&mut scratch.assign);
        trial.clear();
        trial.extend_from_slice(chosen);
        // Best move so far: (objective, line, option).
        let mut best: Option<(i64, usize, u32)> = None;
        let mut infeasible: Option<Alternative> = None;
        for line in 0..chosen.len() {
            let g = scratch.gens[line];
            let current =
                (chosen[line] != UNFILLED).then(|| scratch.opts[chosen[line] as usize].loc);
            if (g.start..g.end).all(|oi| Some(scratch.opts[oi as usize].loc) == current) {
                continue;
            }
            // The chosen plan without this line; each move is one step on top of it.
            trial[line] = UNFILLED;
            let mut without = Partial::EMPTY;
            for (j, &a) in chosen.iter().enumerate() {
                if j != line {
                    let step = self
                        .step(order, rule, scratch, &trial, &without, j, a)
                        .expect("part of a feasible plan is feasible");
                    without.apply(&step);
                }
            }
            for oi in g.start..g.end {
                let o = &scratch.opts[oi as usize];
                if Some(o.loc) == current {
                    continue;
                }
                match self.step(order, rule, scratch, &trial, &without, line, oi) {
                    Some(q) => {
                        let obj = without.obj + q.delta;
                        if best.is_none_or(|b| obj < b.0) {
                            best = Some((obj, line, oi));
                        }
                    }
                    None if infeasible.is_none() => {
                        // Why: a new shipment over the limit, or capacity.
                        let opens_new = !without.ships[..without.n]
                            .iter()
                            .any(|s| s.loc == o.loc && s.ship_day == o.ship_day);
                        let reason = if opens_new && without.n >= rule.max_splits as usize {
                            LossReason::SplitLimit
                        } else {
                            LossReason::Capacity
                        };
                        infeasible = Some(Alternative {
                            line: line as u16,
                            loc: o.loc,
                            total_cents: 0,
                            reason,
                        });
                    }
                    None => {}
                }
            }
            trial[line] = chosen[line];
        }
        let best = best.map(|(obj, line, oi)| {
            trial[line] = oi;
            let (_, c, _) = self
                .evaluate(order, rule, scratch, &trial)
                .expect("the move was feasible");
            trial[line] = chosen[line];
            let alt = Alternative {
                line: line as u16,
                loc: scratch.opts[oi as usize].loc,
                total_cents: c.total(),
                reason: LossReason::Tie,
            };
            (obj, alt, c)
        });
        scratch.assign = trial;
        match best {
            Some((obj, mut alt, c)) => {
                alt.reason = if obj == objective {
                    LossReason::Tie
                } else if c.total() <= cost.total() {
                    // Cheaper in reported cost but worse in the objective: either it fills
                    // fewer lines (impossible for a one-line move to a real option) or the
                    // strategy's terms ranked it lower.
                    LossReason::Costlier {
                        delta_cents: obj - objective,
                        part: "strategy",
                    }
                } else {
                    let parts = [
                        ("shipping", c.shipping - cost.shipping),
                        ("split", c.split - cost.split),
                        ("labour", c.labour - cost.labour),
                        ("lateness", c.lateness - cost.lateness),
                        ("balancing", c.balancing - cost.balancing),
                    ];
                    let (part, _) = parts
                        .iter()
                        .copied()
                        .max_by_key(|p| p.1)
                        .expect("five parts");
                    LossReason::Costlier {
                        delta_cents: c.total() - cost.total(),
                        part,
                    }
                };
                Some(alt)
            }
            None => infeasible,
        }
    }

    /// Writes the chosen plan's lines, holds and shipments into `scratch`.
    fn emit(&self, order: &OrderRequest, scratch: &mut Scratch, chosen: &[u32]) {
        let config = self.network.config();
        let upp = config.units_per_package as i32;
        let pickup = order.fulfilment == FulfilmentType::PickupInStore;
        let window = i64::from(config.pickup_window_hours) * 3_600_000;
        scratch.lines.clear();
        scratch.holds.clear();
        scratch.shipments.clear();
        for (i, (&a, line)) in chosen.iter().zip(&order.lines).enumerate() {
            if a == UNFILLED {
                let g = scratch.gens[i];
                let reason = g.none.unwrap_or(RejectReason::SplitLimit);
                scratch.lines.push(LinePlan {
                    status: LineStatus::Rejected(reason),
                    loc: 0,
                    qty: line.qty,
                    supply: SupplyType::OnHand,
                    ship_ms: 0,
                    delivery_ms: 0,
                });
                continue;
            }
            let o = scratch.opts[a as usize];
            let shipment = match scratch
                .shipments
                .iter()
                .position(|s| s.loc == o.loc && s.ship_day == o.ship_day)
            {
                Some(k) => {
                    let s = &mut scratch.shipments[k];
                    s.lines += 1;
                    // Units are summed in `packages` below; keep the running units there.
                    s.packages += line.qty;
                    k
                }
                None => {
                    scratch.shipments.push(ShipmentRequest {
                        loc: o.loc,
                        ship_day: o.ship_day,
                        slot_day: (o.rem_slot != i32::MAX).then_some(o.delivery_day),
                        lines: 1,
                        packages: line.qty,
                    });
                    scratch.shipments.len() - 1
                }
            };
            let (ship_ms, delivery_ms) = if pickup {
                (o.ready_ms, o.ready_ms)
            } else {
                (end_of_day(o.ship_day), end_of_day(o.delivery_day))
            };
            scratch.lines.push(LinePlan {
                status: if o.future.is_some() {
                    LineStatus::Backordered
                } else {
                    LineStatus::Allocated
                },
                loc: o.loc,
                qty: line.qty,
                supply: match o.future {
                    None => SupplyType::OnHand,
                    Some(Future::InTransit) => SupplyType::InTransit,
                    Some(Future::OnOrder) => SupplyType::OnOrder,
                },
                ship_ms,
                delivery_ms,
            });
            scratch.holds.push(HoldRequest {
                line: line.line,
                sku: line.sku,
                loc: o.loc,
                qty: line.qty,
                day: o.day,
                shipment: shipment as u16,
                kind: if pickup {
                    HoldKind::Pickup
                } else {
                    HoldKind::Ship
                },
                expires_ms: if pickup {
                    o.ready_ms + window
                } else {
                    i64::MAX
                },
            });
        }
        for s in &mut scratch.shipments {
            s.packages = if pickup { 0 } else { packages(s.packages, upp) };
        }
    }
}

#[cfg(test)]
impl<S: SupplyView, R: Reservations> Planner<'_, S, R> {
    /// The optimum by brute force: every combination of one option (or unfilled) per line,
    /// scored by [`evaluate`](Self::evaluate). Returns the best objective.
    pub(crate) fn brute_force(&self, order: &OrderRequest, scratch: &mut Scratch) -> i64 {
        let rule = self.network.rule(order.channel, order.fulfilment);
        self.candidates(order, rule, scratch);
        let n = order.lines.len();
        let mut assign = vec![UNFILLED; n];
        let mut best = i64::MAX;
        // Odometer over the choices: index k of line i means option start+k, or unfilled
        // when k is the option count.
        let counts: Vec<u32> = scratch.gens.iter().map(|g| g.end - g.start + 1).collect();
        let mut digits = vec![0u32; n];
        loop {
            for i in 0..n {
                let g = scratch.gens[i];
                assign[i] = if digits[i] == g.end - g.start {
                    UNFILLED
                } else {
                    g.start + digits[i]
                };
            }
            if let Some((obj, _, _)) = self.evaluate(order, rule, scratch, &assign) {
                best = best.min(obj);
            }
            let mut i = 0;
            loop {
                if i == n {
                    return best;
                }
                digits[i] += 1;
                if digits[i] < counts[i] {
                    break;
                }
                digits[i] = 0;
                i += 1;
            }
        }
    }
}
