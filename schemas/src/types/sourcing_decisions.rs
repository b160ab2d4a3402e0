//! Rust types of `schemas/avro/sourcing_decisions/v1.avsc`: The sourcing outcome of an order: for every line, where it is allocated, backordered, or why it was rejected. Topic `allot.sourcing-decisions`, key = order id.

use super::EpochMillis;
use super::common::{Channel, SupplyType};
use serde::{Deserialize, Serialize};

/// The sourcing outcome of an order: for every line, where it is allocated, backordered, or why
/// it was rejected. Topic `allot.sourcing-decisions`, key = order id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourcingDecision {
    /// Globally unique id of this decision, set by the source system; allot applies each event
    /// id at most once (idempotency key).
    pub event_id: String,
    /// When the decision happened at the source, in milliseconds since the Unix epoch (UTC).
    pub event_time: EpochMillis,
    /// The system that emitted this event (for example `pos-store-0042`, `oms-web`,
    /// `wms-dc-01`).
    pub source: String,
    /// The order decided.
    pub order_id: String,
    /// Event id of the order (or order event) that caused this decision.
    pub order_event_id: String,
    /// The order's channel.
    pub channel: Channel,
    /// One entry per order line; every line has exactly one outcome.
    pub lines: Vec<LineDecision>,
    /// Cost breakdown of the chosen plan.
    pub cost: CostBreakdown,
    /// The best plan not chosen, with why it lost; null when there was no other candidate.
    pub best_alternative: Option<RejectedAlternative>,
    /// True when the order's prices or promotions disagree with the price book.
    pub price_mismatch: bool,
}

/// The outcome of one order line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineDecision {
    /// The order line.
    pub line_id: String,
    /// The line's sku.
    pub sku: String,
    /// Units ordered.
    pub quantity: i32,
    /// Allocated from stock, backordered against future supply, or rejected.
    pub outcome: LineOutcome,
    /// Where the units come from; empty when REJECTED.
    pub allocations: Vec<Allocation>,
    /// Why the line was backordered or rejected.
    pub reason: Option<String>,
}

/// What happened to an order line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LineOutcome {
    Allocated,
    Backordered,
    Rejected,
}

/// Units of the line promised from one location.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Allocation {
    /// The fulfilling location.
    pub location_id: String,
    /// Units promised from it.
    pub quantity: i32,
    /// Which supply the units are promised from.
    pub supply: SupplyType,
    /// When the location will ship or have the goods ready, in milliseconds since the Unix
    /// epoch (UTC).
    pub promised_ship_date: EpochMillis,
    /// When the customer gets the goods, in milliseconds since the Unix epoch (UTC).
    pub promised_delivery_date: EpochMillis,
}

/// The parts of the chosen plan's cost, in minor currency units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostBreakdown {
    /// Distance and package cost.
    pub shipping_cents: i64,
    /// Penalty for extra shipments.
    pub split_penalty_cents: i64,
    /// Store picking labour.
    pub labour_cents: i64,
    /// Penalty for promising after the requested date.
    pub lateness_cents: i64,
    /// Stock-balancing term (negative is a reward).
    pub balancing_cents: i64,
    /// Sum of the parts.
    pub total_cents: i64,
}

/// The best plan that was not chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RejectedAlternative {
    /// The locations that plan would have used.
    pub location_ids: Vec<String>,
    /// Its total cost.
    pub total_cents: i64,
    /// Why it lost (more expensive by N, later promise, capacity full, ...).
    pub lost_because: String,
}
