//! Rust types of `schemas/avro/sourcing_rules/v1.avsc`: How orders of one channel and fulfilment type are sourced. Compacted topic `allot.sourcing-rules`, key = rule id.

use super::EpochMillis;
use super::common::{Channel, FulfilmentType, SupplyType};
use serde::{Deserialize, Serialize};

/// How orders of one channel and fulfilment type are sourced. Compacted topic
/// `allot.sourcing-rules`, key = rule id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourcingRule {
    /// Globally unique id of this rule update, set by the source system; allot applies each
    /// event id at most once (idempotency key).
    pub event_id: String,
    /// When the rule update happened at the source, in milliseconds since the Unix epoch (UTC).
    pub event_time: EpochMillis,
    /// The system that emitted this event (for example `pos-store-0042`, `oms-web`,
    /// `wms-dc-01`).
    pub source: String,
    /// Id of the rule.
    pub rule_id: String,
    /// The channel it applies to; null for every channel.
    pub channel: Option<Channel>,
    /// The fulfilment type it applies to; null for every type.
    pub fulfilment: Option<FulfilmentType>,
    /// When several rules match, the highest priority wins.
    pub priority: i32,
    /// Only locations in this distribution group are candidates.
    pub distribution_group: String,
    /// Which supply counts towards ATP for these orders (pickup today: ON_HAND only).
    pub supply_types: Vec<SupplyType>,
    /// How many days ahead in-transit and on-order supply may be promised.
    pub horizon_days: i32,
    /// The objective used to rank plans.
    pub strategy: SourcingStrategy,
    /// Locations preferred in this order (used by the PRIORITY strategy, and as a tie-break).
    pub priority_location_ids: Vec<String>,
    /// Locations never used by this rule.
    pub excluded_location_ids: Vec<String>,
    /// Most shipments an order may be split into (1 = never split).
    pub max_splits: i32,
    /// Cost weights for MINIMIZE_COST.
    pub cost: CostWeights,
    /// False deletes the rule.
    pub active: bool,
}

/// The objective used to rank candidate plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SourcingStrategy {
    MinimizeCost,
    MinimizeSplits,
    Proximity,
    Priority,
}

/// Weights of the sourcing cost model, in minor currency units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostWeights {
    /// Shipping cost per kilometre of great-circle distance per package.
    pub shipping_cents_per_km: f64,
    /// Fixed cost per package shipped.
    pub shipping_cents_per_package: i64,
    /// Penalty per extra shipment beyond the first.
    pub split_penalty_cents: i64,
    /// Extra handling cost per unit picked in a store rather than a DC.
    pub store_labour_cents_per_unit: i64,
    /// Penalty per day the promise falls after the requested date.
    pub lateness_cents_per_day: i64,
    /// Reward per unit taken from a location with above-average days of cover (stock
    /// balancing).
    pub balancing_cents_per_unit: i64,
}
