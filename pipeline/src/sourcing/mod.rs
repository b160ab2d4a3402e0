//! Sourcing: for each order, which locations fill which lines, at what cost and promise,
//! reserved so that no unit is promised twice. Pure: no I/O, no clock — "now" is the
//! order's event time, and pickup expiry runs on event-time timers ([`Ledger::advance`]).
//!
//! # Parts
//!
//! - [`Network`] (`network.rs`): locations, interned skus, sourcing rules resolved per
//!   (channel, fulfilment). [`SourcingConfig`] (`config.rs`): defaults and planner knobs.
//! - [`SupplyView`] (`supply.rs`): per (sku, location) on hand now and dated inbound, indexed
//!   by sku; [`InMemorySupply`] for tests and benches. It reports supply *before* sourcing
//!   reservations, which the [`Ledger`] owns.
//! - [`Planner`] (`planner.rs`): candidates, cost model, optimizer, baseline, explanation.
//! - [`Ledger`] (`ledger.rs`): reservations and capacity pools in shards; atomic commit per
//!   order; the reservation lifecycle.
//! - [`source_batch`] (`batch.rs`): parallel planning, ordered commits, re-planning.
//! - [`OrderRequest`] (`request.rs`) and [`to_decision`] (`decision.rs`): the Avro boundary.
//!
//! # Rules
//!
//! **Rule resolution.** The sourcing rule for an order is the active rule matching its
//! channel and fulfilment, most specific first (channel and fulfilment > channel only >
//! fulfilment only > neither), then the highest `priority`, then the greatest `rule_id`. With
//! no match, a default per fulfilment from [`SourcingConfig`]: distribution group `ecom` for
//! ship to home and scheduled delivery, `same-day` for same day, `installation` for
//! installation, the named store for pickup; on hand plus future supply within 14 days
//! (on hand only for pickup and same day); `max_splits` 3; minimise cost.
//!
//! **Candidates.** A line is filled whole from one location (no line is split across
//! locations). A location is a candidate for a line when it is active, in the rule's
//! distribution group, not excluded by the rule, has the capability the fulfilment needs
//! (ship to home and scheduled delivery: `SHIP`, or `SHIP_FROM_STORE` for a store; same day:
//! `SAME_DAY` and within `same_day_radius_km`; installation: `INSTALLATION`; pickup: the
//! named store with `PICKUP` and opening hours), can promise the units (below), and has pick
//! capacity for one more line and ship capacity for the line's packages on the ship day (or
//! one of the `capacity_lookahead_days` after), plus a delivery slot on the delivery day for
//! scheduled delivery and installation. Candidates come from the sku's positions only
//! (`SupplyView::positions`), never from a scan of all locations.
//!
//! **Promise day.** Supply at a position is on hand now plus inbound lines by due day
//! (overdue inbound counts from tomorrow). Reservations are held per (sku, location) by
//! promise day. A new promise of `q` units on day `d` is allowed iff for every day `D >= d`
//! the units reserved for days up to `D` plus `q` are at most the supply arrived by `D`
//! (the prefix rule; by Hall's theorem on these nested sets it is exactly the condition for
//! every promise to be met). The planner takes the earliest such day within the rule's
//! horizon: today means *allocated* from on hand, later means *backordered* against the
//! inbound line that makes it fit. Pickup and same day promise today only (on hand).
//!
//! **Cost.** Per plan, in minor units, with the rule's [`Weights`]: shipping = per shipment
//! `packages × (per_package + per_km × haversine km)`, a shipment being the lines from one
//! location on one ship day and `packages = ceil(units / units_per_package)`; split penalty
//! per shipment beyond the first; store labour per unit picked in a store; lateness per line
//! per day the delivery (or pickup ready) day falls after the requested day; balancing, a
//! reward per unit taken from a location holding more of the sku than the line's average
//! candidate. Delivery day = ship day + transit days (the longest matching region prefix,
//! else the location's default), same day for same day, and no earlier than the slot's day
//! for slotted orders. Pickup is ready at the first opening-hours instant
//! `pickup_prep_minutes` after the order (local time of the store).
//!
//! **Objective.** Cost plus `unfilled_cents_per_line` per line left unfilled, plus the
//! strategy's terms: `MINIMIZE_SPLITS` adds 100,000 per extra shipment, `PROXIMITY` 100 per
//! km per line, `PRIORITY` 100,000 per rank in the priority list. The reported
//! [`CostBreakdown`](allot_schemas::CostBreakdown) is the cost without these terms.
//!
//! **Optimizer.** Orders of up to `exact_max_lines` lines: branch and bound over one option
//! per line (or unfilled), starting from a greedy plan, pruning on `partial + Σ min line
//! cost of the rest`; exact over the candidates unless `exact_node_budget` runs out (then
//! the best plan found, at least the greedy one). Larger orders: greedy, then local search
//! (consolidate on a location, move one line) until no move helps. `max_splits` bounds the
//! shipments; when honouring it or capacity forbids filling a line, the line is rejected
//! (`SplitLimit`).
//!
//! **Baseline.** [`Method::Closest`]: each line, in order, from the closest candidate with
//! stock on hand now (else the earliest inbound), if it still fits the constraints.
//!
//! **Explanation.** Each plan carries its cost breakdown and the best alternative: the
//! cheapest plan that moves one line to another of its candidate locations, with why it lost
//! (costs N more, mostly in part P; exceeds the split limit; capacity).
//!
//! # Invariants
//!
//! - Every order line gets exactly one outcome: allocated, backordered, or rejected with a
//!   reason.
//! - No oversell: for every (sku, location) and day `D`, the units the ledger holds for
//!   promise days up to `D` are at most the supply arrived by `D` as the ledger saw it at
//!   commit time (supply can still fall afterwards, e.g. a shrink; that is an oversell the
//!   disruptions processor reports, and no new promise is made there until it is cleared).
//! - Capacity pools never exceed the location's daily pick, ship and slot capacity.
//! - A commit is atomic per order: all its holds and pools, or nothing.
//! - Batches are deterministic: plans are made against the state at the start of a round,
//!   commits happen in order index order, a refused order is re-planned at once against
//!   the ledger with the orders admitted before it on top (if that too is refused, in the
//!   next round and, after `parallel_rounds`, one at a time against the live ledger). The
//!   result does not depend on the rayon thread count.
//! - Reservation lifecycle: confirmed → consumed | released | expired, terminal states final;
//!   only pickups expire, when event time reaches their window's end.
//!
//! # Partitioning
//!
//! The ledger has N shards like the inventory topics' partitions: sku shard `sku % N` holds
//! the units reserved per (sku, location) and the reservations of the order lines on those
//! skus; pool shard `location % N` holds the daily pick/ship/slot pools. A commit checks
//! every shard it touches before writing any. In one process commits run in order on one
//! thread (planning is the parallel part); across processes each shard would answer a
//! prepare/confirm for its part.

//!
//! # Limits (today)
//!
//! - A line is filled whole from one location; it is never split across locations.
//! - A rule's supply types choose between "on hand only" and "on hand plus future supply";
//!   in-transit and on-order lines are not told apart when choosing the promise day (they
//!   only label the allocation).
//! - When a pool is full the promise moves up to `capacity_lookahead_days` later; delivery
//!   slots are a per-location daily count (`slots_per_day`, the locations topic has no
//!   field for it), taken on the delivery day.
//! - Opening hours use the time-zone table of `allot_loadtest::cities` (fixed offsets with
//!   EU/North-American DST); an unknown zone is read as UTC.
//! - Balancing compares a location's stock of the sku with the line's other candidates
//!   (there is no days-of-cover input yet).
//! - Order idempotency is upstream's: committing the same order key twice holds its units
//!   twice. Prices are not checked here (`to_decision` takes `price_mismatch`).
//! - Admissions run on one thread, in order, overlapped with planning; what stays serial
//!   or badly balanced (the end-of-round merge into the ledger, segment boundaries, the
//!   small later rounds and the one-at-a-time tail) caps the bench's speed-up from 1 to 2
//!   threads near 1.85–1.9× on two free cores (`BENCHMARKS.md`, *Sourcing*).

mod batch;
mod config;
mod decision;
mod ids;
mod ledger;
mod network;
mod planner;
mod price;
mod processor;
mod request;
mod stock;
mod supply;
#[cfg(test)]
pub(crate) mod tests;

pub use batch::{BatchConfig, BatchResult, OrderOutcome, source_batch};
pub use config::{SourcingConfig, Weights};
pub use decision::to_decision;
pub use ids::{DAY_MS, Day, LocId, SkuId, day_of, end_of_day};
pub use ledger::{
    Admitted, HoldEvent, HoldKind, HoldRequest, HoldState, Ledger, LedgerSize, LocHolds, Overlay,
    PoolUse, Refusal, Reservations, RoundDelta, ShipmentRequest, fits,
};
pub use network::{Network, Rule, Site};
pub use planner::{
    Alternative, Cost, LinePlan, LineStatus, LossReason, Method, Opt, PlanSummary, Planner,
    RejectReason, Scratch, UNFILLED,
};
pub use price::PriceBook;
pub use processor::{SourcingMethod, SourcingProcessor, SourcingSettings, SourcingStats};
pub use request::{Destination, LineRequest, OrderRequest, key_of};
pub use stock::Stock;
pub use supply::{Future, InMemorySupply, Inbound, Supply, SupplyView, earliest_fit};

/// What sourcing refuses to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourcingError {
    /// More than 64 distinct distribution groups: the record naming the 65th cannot be
    /// applied (dead-letter it, or widen the group mask).
    #[error(
        "cannot apply reference data: distribution group {group:?} is the 65th; at most 64 are supported"
    )]
    TooManyGroups {
        /// The group that did not fit.
        group: String,
    },
}
