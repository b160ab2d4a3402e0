//! The opening state: which location carries which SKU and how much, and the reference
//! records (locations, safety-stock policies, sourcing rules) that open the stream.

use allot_schemas::{
    Channel, CostWeights, FulfilmentType, LocationKind, SafetyStockPolicy, SourcingRule,
    SourcingStrategy, SupplyType, Topic,
};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::{CHANNELS, FULFILMENTS, Workload};
use crate::book::StockBook;
use crate::catalogue::Catalogue;
use crate::config::WorkloadConfig;
use crate::network::Network;

/// Mean units per register transaction (about 2.2 lines of 1.25 units, less the lines that
/// find the shelf empty).
pub(super) const UNITS_PER_BASKET: f64 = 2.6;
/// Mean units per order.
pub(super) const UNITS_PER_ORDER: f64 = 1.8;

/// Decides the assortment and order-up-to level of every (SKU, location) and draws the
/// opening stock.
pub(super) fn opening_book(
    config: &WorkloadConfig,
    network: &Network,
    catalogue: &Catalogue,
    rng: &mut ChaCha8Rng,
) -> StockBook {
    let n = catalogue.skus.len();
    let sites = &network.sites;
    let mut book = StockBook::new(n, sites.len());
    let n_stores = network.stores.len().max(1) as f64;
    let n_dark = network.dark_stores.len().max(1) as f64;
    let n_dcs = network.dcs.len().max(1) as f64;
    // Share of store demand each DC replenishes.
    let mut served = vec![0.0; sites.len()];
    for &s in &network.stores {
        served[sites[s].serving_dc] += sites[s].size / n_stores;
    }
    let online_units_per_day = config.orders_per_day * UNITS_PER_ORDER;
    let store_units_per_day = config.pos_baskets_per_store_per_day * UNITS_PER_BASKET;
    for (sku, s) in catalogue.skus.iter().enumerate() {
        let share = catalogue.demand_share(sku);
        let rank = f64::from(s.rank) / n as f64;
        for (loc, site) in sites.iter().enumerate() {
            let (carries, target) = match site.kind {
                LocationKind::Store => {
                    let carries = rank < 0.05 || rng.random_bool(config.store_assortment_share);
                    let daily = store_units_per_day * site.size * share;
                    (
                        carries,
                        (config.store_days_of_cover * daily).ceil().max(2.0),
                    )
                }
                LocationKind::DarkStore => {
                    let daily = online_units_per_day * 0.1 * share / n_dark;
                    (rank < 0.3, (3.0 * daily).ceil().max(3.0))
                }
                LocationKind::Dc => {
                    let carries = rank < 0.5 || rng.random_bool(config.dc_assortment_share);
                    let daily = store_units_per_day * n_stores * served[loc] * share
                        + online_units_per_day * share / n_dcs;
                    (carries, (config.dc_days_of_cover * daily).ceil().max(12.0))
                }
            };
            if !carries {
                continue;
            }
            let target = target.min(f64::from(i32::MAX / 4)) as i32;
            book.carry(sku, loc, target);
            let opening = if rng.random_bool(0.02) {
                0
            } else {
                (f64::from(target) * rng.random_range(0.55..1.05)).round() as i32
            };
            book.set_on_hand(sku, loc, opening);
        }
    }
    book
}

impl Workload {
    /// Queues the locations, safety-stock policies and sourcing rules.
    pub(super) fn reference_records(&mut self) {
        let t0 = self.start;
        for i in 0..self.network.sites.len() {
            let id = self.ids.event(Topic::Locations);
            let location = self.network.sites[i].to_location(id, t0);
            self.push(location);
        }
        for policy in self.safety_stock_policies() {
            self.push(policy);
        }
        for rule in self.sourcing_rules() {
            self.push(rule);
        }
    }

    fn safety_stock_policies(&mut self) -> Vec<SafetyStockPolicy> {
        let t0 = self.start;
        /// What varies between policies.
        struct Spec {
            id: String,
            sku: Option<String>,
            location: Option<String>,
            channel: Option<Channel>,
            units: i32,
            active: bool,
        }
        let spec = |id: String, location: Option<&String>, channel, units| Spec {
            id,
            sku: None,
            location: location.cloned(),
            channel,
            units,
            active: true,
        };
        let mut specs = vec![
            spec("ss-global".into(), None, None, 0),
            // Marketplaces never take the last two units of anything.
            spec("ss-marketplace".into(), None, Some(Channel::Marketplace), 2),
            // A policy that was deleted: consumers must drop it.
            Spec {
                active: false,
                ..spec("ss-legacy-2019".into(), None, Some(Channel::CallCenter), 5)
            },
        ];
        let top = (self.catalogue.skus.len() / 100).max(1);
        for &dc in &self.network.dcs {
            let site = &self.network.sites[dc];
            specs.push(spec(format!("ss-{}", site.id), Some(&site.id), None, 6));
            // The best sellers keep a deeper buffer at every DC.
            for &sku in &self.catalogue.by_rank[..top] {
                let sku = &self.catalogue.skus[sku as usize].id;
                specs.push(Spec {
                    sku: Some(sku.clone()),
                    ..spec(format!("ss-{}-{}", site.id, sku), Some(&site.id), None, 25)
                });
            }
        }
        for &s in &self.network.stores {
            let site = &self.network.sites[s];
            // Stores keep the last unit on the shelf for walk-in customers.
            specs.push(spec(
                format!("ss-{}-web", site.id),
                Some(&site.id),
                Some(Channel::Web),
                1,
            ));
        }
        specs
            .into_iter()
            .map(|s| SafetyStockPolicy {
                event_id: self.ids.event(Topic::SafetyStockPolicies),
                event_time: t0,
                source: "mdm-inventory-policy".to_string(),
                policy_id: s.id,
                sku: s.sku,
                location_id: s.location,
                channel: s.channel,
                safety_stock_units: s.units,
                active: s.active,
            })
            .collect()
    }

    fn sourcing_rules(&mut self) -> Vec<SourcingRule> {
        let t0 = self.start;
        let dcs: Vec<String> = self
            .network
            .dcs
            .iter()
            .map(|&d| self.network.sites[d].id.clone())
            .collect();
        let cost = CostWeights {
            shipping_cents_per_km: 0.08,
            shipping_cents_per_package: 450,
            split_penalty_cents: 600,
            store_labour_cents_per_unit: 150,
            lateness_cents_per_day: 300,
            balancing_cents_per_unit: 20,
        };
        let mut rules = Vec::new();
        for channel in CHANNELS {
            for fulfilment in FULFILMENTS {
                use FulfilmentType::*;
                use SupplyType::*;
                let (group, supply, horizon, mut strategy, mut max_splits) = match fulfilment {
                    ShipToHome => (
                        "ecom",
                        vec![OnHand, InTransit, OnOrder],
                        14,
                        SourcingStrategy::MinimizeCost,
                        2,
                    ),
                    PickupInStore => ("stores", vec![OnHand], 0, SourcingStrategy::Proximity, 1),
                    SameDayDelivery => {
                        ("same-day", vec![OnHand], 0, SourcingStrategy::Proximity, 1)
                    }
                    ScheduledDelivery => (
                        "ecom",
                        vec![OnHand, InTransit],
                        7,
                        SourcingStrategy::MinimizeCost,
                        2,
                    ),
                    Installation => (
                        "installation",
                        vec![OnHand, InTransit, OnOrder],
                        21,
                        SourcingStrategy::MinimizeSplits,
                        1,
                    ),
                };
                let mut priority_location_ids = Vec::new();
                if channel == Channel::Marketplace {
                    // Marketplace orders ship from DCs first and never split.
                    strategy = SourcingStrategy::Priority;
                    priority_location_ids = dcs.clone();
                    max_splits = 1;
                }
                rules.push(SourcingRule {
                    event_id: self.ids.event(Topic::SourcingRules),
                    event_time: t0,
                    source: "oms-config".to_string(),
                    rule_id: format!(
                        "rule-{}-{}",
                        slug(&format!("{channel:?}")),
                        slug(&format!("{fulfilment:?}"))
                    ),
                    channel: Some(channel),
                    fulfilment: Some(fulfilment),
                    priority: 100,
                    distribution_group: group.to_string(),
                    supply_types: supply,
                    horizon_days: horizon,
                    strategy,
                    priority_location_ids,
                    excluded_location_ids: Vec::new(),
                    max_splits,
                    cost: cost.clone(),
                    active: true,
                });
            }
        }
        // The catch-all, used when no specific rule matches.
        rules.push(SourcingRule {
            event_id: self.ids.event(Topic::SourcingRules),
            event_time: t0,
            source: "oms-config".to_string(),
            rule_id: "rule-default".to_string(),
            channel: None,
            fulfilment: None,
            priority: 0,
            distribution_group: "ecom".to_string(),
            supply_types: vec![SupplyType::OnHand],
            horizon_days: 0,
            strategy: SourcingStrategy::MinimizeCost,
            priority_location_ids: Vec::new(),
            excluded_location_ids: Vec::new(),
            max_splits: 1,
            cost,
            active: true,
        });
        rules
    }
}

/// `CallCenter` -> `call-center`, `ShipToHome` -> `ship-to-home`.
fn slug(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, ch) in camel.chars().enumerate() {
        if ch.is_ascii_uppercase() && i > 0 {
            out.push('-');
        }
        out.push(ch.to_ascii_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(camel: &str, expected: &str) {
        assert_eq!(slug(camel), expected);
    }

    #[test]
    fn slugs() {
        check("CallCenter", "call-center");
        check("ShipToHome", "ship-to-home");
        check("Web", "web");
    }
}
