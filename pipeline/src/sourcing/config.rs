//! [`SourcingConfig`]: the defaults that apply when no sourcing rule says otherwise, and the
//! knobs of the planner and the ledger.

use allot_schemas::{CostWeights, FulfilmentType};
use serde::{Deserialize, Serialize};

/// How orders are sourced when no rule says otherwise, and how hard the planner searches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourcingConfig {
    /// Cost weights used when no sourcing rule matches an order.
    pub weights: Weights,
    /// Most shipments an order may be split into when no rule matches.
    pub max_splits: u32,
    /// Days ahead in-transit and on-order supply may be promised when no rule matches.
    pub horizon_days: u32,
    /// Distribution group of the locations that may ship orders (ship to home, scheduled
    /// delivery) when no rule matches; empty means any active location.
    pub ship_group: String,
    /// Distribution group of the locations that may serve same-day orders when no rule
    /// matches.
    pub same_day_group: String,
    /// Distribution group of the locations that may serve installation orders when no rule
    /// matches.
    pub installation_group: String,
    /// Units that fit in one package; a shipment of `u` units is `ceil(u / units_per_package)`
    /// packages (shipping cost and ship capacity count packages).
    pub units_per_package: u32,
    /// Objective penalty for a line left unfilled (rejected). It only ranks plans (a plan
    /// that fills more lines wins unless honouring `max_splits` or capacity forbids it); it
    /// is not part of the reported cost.
    pub unfilled_cents_per_line: i64,
    /// Same-day delivery only from locations within this great-circle distance.
    pub same_day_radius_km: f64,
    /// Minutes a store needs to pick a pickup order; the goods are ready at the first
    /// opening-hours instant this long after the order.
    pub pickup_prep_minutes: u32,
    /// How long a store holds a pickup before the reservation expires and the stock is
    /// released.
    pub pickup_window_hours: u32,
    /// Delivery or installation slots a location can serve per day (the locations topic has
    /// no field for it).
    pub slots_per_day: u32,
    /// When a location's pick or ship pool is full on the day the stock is ready, how many
    /// later days the planner tries before giving the location up.
    pub capacity_lookahead_days: u32,
    /// Orders with more lines than this skip the exact search and use the heuristic only.
    pub exact_max_lines: usize,
    /// Node budget of the exact search; when it runs out the best plan found so far (at
    /// least the heuristic's) is used.
    pub exact_node_budget: u32,
}

impl Default for SourcingConfig {
    fn default() -> Self {
        SourcingConfig {
            weights: Weights::default(),
            max_splits: 3,
            horizon_days: 14,
            ship_group: "ecom".into(),
            same_day_group: "same-day".into(),
            installation_group: "installation".into(),
            units_per_package: 4,
            unfilled_cents_per_line: 1_000_000,
            same_day_radius_km: 60.0,
            pickup_prep_minutes: 120,
            pickup_window_hours: 72,
            slots_per_day: 40,
            capacity_lookahead_days: 2,
            exact_max_lines: 6,
            exact_node_budget: 20_000,
        }
    }
}

impl SourcingConfig {
    /// Checks cross-field rules; the message says what to change.
    pub fn validate(&self) -> Result<(), String> {
        if self.units_per_package == 0 {
            return Err("sourcing.units_per_package must be at least 1".into());
        }
        if self.max_splits == 0 {
            return Err("sourcing.max_splits must be at least 1 (1 = never split)".into());
        }
        if self.unfilled_cents_per_line <= 0 {
            return Err("sourcing.unfilled_cents_per_line must be positive".into());
        }
        if self.same_day_radius_km.is_nan() || self.same_day_radius_km < 0.0 {
            return Err("sourcing.same_day_radius_km must be 0 or more".into());
        }
        Ok(())
    }

    /// The distribution group of the default rule for `fulfilment` (empty: any location).
    pub fn default_group(&self, fulfilment: FulfilmentType) -> &str {
        match fulfilment {
            FulfilmentType::ShipToHome | FulfilmentType::ScheduledDelivery => &self.ship_group,
            FulfilmentType::SameDayDelivery => &self.same_day_group,
            FulfilmentType::Installation => &self.installation_group,
            // The order names the store; any group.
            FulfilmentType::PickupInStore => "",
        }
    }
}

/// Weights of the cost model in minor currency units (the schema's [`CostWeights`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Weights {
    /// Shipping cost per kilometre of great-circle distance per package.
    pub shipping_cents_per_km: f64,
    /// Fixed cost per package shipped.
    pub shipping_cents_per_package: i64,
    /// Penalty per shipment beyond the first.
    pub split_penalty_cents: i64,
    /// Extra handling cost per unit picked in a store rather than a DC or dark store.
    pub store_labour_cents_per_unit: i64,
    /// Penalty per line per day its promise falls after the requested date.
    pub lateness_cents_per_day: i64,
    /// Reward per unit taken from a location holding more of the sku than the average
    /// candidate (stock balancing).
    pub balancing_cents_per_unit: i64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            shipping_cents_per_km: 0.2,
            shipping_cents_per_package: 450,
            split_penalty_cents: 500,
            store_labour_cents_per_unit: 120,
            lateness_cents_per_day: 250,
            balancing_cents_per_unit: 10,
        }
    }
}

impl From<&CostWeights> for Weights {
    fn from(w: &CostWeights) -> Weights {
        Weights {
            shipping_cents_per_km: w.shipping_cents_per_km.max(0.0),
            shipping_cents_per_package: w.shipping_cents_per_package.max(0),
            split_penalty_cents: w.split_penalty_cents.max(0),
            store_labour_cents_per_unit: w.store_labour_cents_per_unit.max(0),
            lateness_cents_per_day: w.lateness_cents_per_day.max(0),
            balancing_cents_per_unit: w.balancing_cents_per_unit.max(0),
        }
    }
}
