//! [`WorkloadConfig`]: every knob of the generated retail workload, with defaults in code,
//! loadable from a TOML file and `ALLOT__WORKLOAD__<KEY>` environment variables.

use std::path::Path;

use anyhow::{Context, bail, ensure};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::calendar;
use crate::cities;

/// The workload to generate. The same seed and config always give the same stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkloadConfig {
    /// Seed of the random generator; the same seed and config give the same event stream.
    /// The seed also appears in every event id and business id, so runs with different seeds
    /// never collide on idempotency keys.
    pub seed: u64,
    /// First simulated day, `YYYY-MM-DD`; the simulation starts at that day's UTC midnight.
    pub start_date: String,
    /// Number of simulated days.
    pub days: u32,
    /// ISO country codes the network spans; locations and customers are placed in real
    /// cities of these countries (see `cities.rs` for the table).
    pub countries: Vec<String>,
    /// Number of distribution centres (ship to homes and replenish stores).
    pub dcs: u32,
    /// Number of stores (sell at registers, serve pickups, some ship from store).
    pub stores: u32,
    /// Number of dark stores (urban same-day fulfilment sites, closed to the public).
    pub dark_stores: u32,
    /// Number of SKUs in the catalogue.
    pub skus: u32,
    /// Number of vendors the SKUs are bought from.
    pub vendors: u32,
    /// Number of distinct customers; the same customer orders in several channels.
    pub customers: u32,
    /// Exponent `s` of the Zipf law of SKU popularity (rank `k` sells in proportion to
    /// `k^-s`); 1.0 makes the top 1% of SKUs about 40% of units.
    pub zipf_exponent: f64,
    /// Register transactions per average store per day (scaled by each store's size and by
    /// the weekday; the hour of the day follows the store sales curve).
    pub pos_baskets_per_store_per_day: f64,
    /// Share of register transactions that also return one item in store.
    pub in_store_return_rate: f64,
    /// Orders per day over all channels (scaled by the weekday; hours follow each channel's
    /// curve in the customer's local time).
    pub orders_per_day: f64,
    /// Relative weight of each channel in `orders_per_day`.
    pub channel_mix: ChannelMix,
    /// Per channel, the relative weight of each fulfilment type asked for. A type that cannot
    /// be served near the customer (no store within reach for pickup, no same-day site) falls
    /// back to ship-to-home.
    pub fulfilment_mix: FulfilmentMix,
    /// Share of stores that ship online orders (capability SHIP_FROM_STORE, group `ecom`).
    pub ship_from_store_share: f64,
    /// Share of stores in cities of 500k or more inhabitants that offer same-day delivery.
    pub same_day_store_share: f64,
    /// Share of stores that offer installation (appliances and furniture).
    pub installation_store_share: f64,
    /// Share of the long-tail SKUs an average store carries (the top 5% are everywhere).
    pub store_assortment_share: f64,
    /// Share of the long-tail SKUs each DC carries (the top half are in every DC).
    pub dc_assortment_share: f64,
    /// Days of expected sales a store is replenished up to.
    pub store_days_of_cover: f64,
    /// Days of expected network demand a DC is replenished up to.
    pub dc_days_of_cover: f64,
    /// Cycle counts per location per day (beyond the opening count of every stocked SKU).
    pub cycle_counts_per_location_per_day: f64,
    /// Shrink, damage, found and correction adjustments per location per day.
    pub adjustments_per_location_per_day: f64,
    /// Share of transfers and vendor shipments whose ETA slips (an ETA_CHANGED event).
    pub eta_slip_rate: f64,
    /// Share of received lines that arrive short of what the shipment announced.
    pub short_ship_rate: f64,
    /// Share of received lines with damaged units.
    pub damage_rate: f64,
    /// Share of transfers cancelled before they leave.
    pub shipment_cancel_rate: f64,
    /// Share of purchase orders amended (quantities or expected date) after they are opened.
    pub po_amend_rate: f64,
    /// Share of purchase orders cancelled after they are opened.
    pub po_cancel_rate: f64,
    /// Share of orders cancelled (a fifth of those partially, one line).
    pub cancel_rate: f64,
    /// Share of cancellations and modifications made in another channel than the order's
    /// (typically the call centre).
    pub cross_channel_change_share: f64,
    /// Share of orders whose lines are modified after capture.
    pub modify_rate: f64,
    /// Share of delivered or collected orders returned later.
    pub return_rate: f64,
    /// Share of pickup orders never collected (a PICKUP_EXPIRED event).
    pub pickup_expiry_rate: f64,
    /// Hours a pickup order waits at the store before it expires.
    pub pickup_hold_hours: u32,
    /// Share of SKUs on promotion in each price list.
    pub promotion_share: f64,
    /// Share of orders with one line priced wrongly (stale list price or a promotion that
    /// does not apply), to exercise price-mismatch detection.
    pub price_mismatch_rate: f64,
    /// Probability, per generated record, of also emitting an invalid-but-decodable record
    /// (negative quantity, unknown location, unknown SKU; see `BadKind`) to exercise
    /// validation and dead-letter paths. 0 disables it.
    pub bad_record_rate: f64,
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        WorkloadConfig {
            seed: 42,
            start_date: "2025-03-03".to_string(),
            days: 2,
            countries: ["FR", "DE", "NL", "BE", "ES", "IT"]
                .map(String::from)
                .to_vec(),
            dcs: 3,
            stores: 40,
            dark_stores: 2,
            skus: 2_000,
            vendors: 24,
            customers: 50_000,
            zipf_exponent: 1.0,
            pos_baskets_per_store_per_day: 1_200.0,
            in_store_return_rate: 0.03,
            orders_per_day: 12_000.0,
            channel_mix: ChannelMix::default(),
            fulfilment_mix: FulfilmentMix::default(),
            ship_from_store_share: 0.4,
            same_day_store_share: 0.5,
            installation_store_share: 0.15,
            store_assortment_share: 0.6,
            dc_assortment_share: 0.9,
            store_days_of_cover: 4.0,
            dc_days_of_cover: 12.0,
            cycle_counts_per_location_per_day: 40.0,
            adjustments_per_location_per_day: 6.0,
            eta_slip_rate: 0.12,
            short_ship_rate: 0.05,
            damage_rate: 0.02,
            shipment_cancel_rate: 0.01,
            po_amend_rate: 0.15,
            po_cancel_rate: 0.02,
            cancel_rate: 0.05,
            cross_channel_change_share: 0.3,
            modify_rate: 0.03,
            return_rate: 0.1,
            pickup_expiry_rate: 0.08,
            pickup_hold_hours: 36,
            promotion_share: 0.12,
            price_mismatch_rate: 0.01,
            bad_record_rate: 0.0,
        }
    }
}

/// Relative weights of the order channels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChannelMix {
    /// Web shop.
    pub web: f64,
    /// Mobile app.
    pub app: f64,
    /// Call centre agents.
    pub call_center: f64,
    /// Store associates ordering for a customer in store ("endless aisle").
    pub store: f64,
    /// Third-party marketplaces.
    pub marketplace: f64,
}

impl Default for ChannelMix {
    fn default() -> Self {
        ChannelMix {
            web: 0.45,
            app: 0.30,
            call_center: 0.05,
            store: 0.08,
            marketplace: 0.12,
        }
    }
}

impl ChannelMix {
    /// The weights in the order of `crate::workload::CHANNELS`.
    pub fn weights(&self) -> [f64; 5] {
        [
            self.web,
            self.app,
            self.call_center,
            self.store,
            self.marketplace,
        ]
    }
}

/// Relative weights of the fulfilment types asked for in one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FulfilmentWeights {
    /// Parcel to the customer's address.
    pub ship_to_home: f64,
    /// Click and collect at a store.
    pub pickup_in_store: f64,
    /// Delivered the same day from a nearby store or dark store.
    pub same_day_delivery: f64,
    /// Delivered in a booked window.
    pub scheduled_delivery: f64,
    /// Delivered and installed in a booked window.
    pub installation: f64,
}

impl Default for FulfilmentWeights {
    fn default() -> Self {
        FulfilmentWeights::new(0.55, 0.25, 0.08, 0.08, 0.04)
    }
}

impl FulfilmentWeights {
    const fn new(sth: f64, pickup: f64, same_day: f64, scheduled: f64, install: f64) -> Self {
        FulfilmentWeights {
            ship_to_home: sth,
            pickup_in_store: pickup,
            same_day_delivery: same_day,
            scheduled_delivery: scheduled,
            installation: install,
        }
    }

    /// The weights in the order of `crate::workload::FULFILMENTS`.
    pub fn weights(&self) -> [f64; 5] {
        [
            self.ship_to_home,
            self.pickup_in_store,
            self.same_day_delivery,
            self.scheduled_delivery,
            self.installation,
        ]
    }
}

/// The fulfilment mix of every channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FulfilmentMix {
    /// Web shop orders.
    pub web: FulfilmentWeights,
    /// App orders (more pickup and same-day than web).
    pub app: FulfilmentWeights,
    /// Call centre orders (more scheduled delivery and installation).
    pub call_center: FulfilmentWeights,
    /// Endless-aisle orders placed in store.
    pub store: FulfilmentWeights,
    /// Marketplace orders (ship to home only by default).
    pub marketplace: FulfilmentWeights,
}

impl Default for FulfilmentMix {
    fn default() -> Self {
        FulfilmentMix {
            web: FulfilmentWeights::new(0.55, 0.25, 0.08, 0.08, 0.04),
            app: FulfilmentWeights::new(0.45, 0.35, 0.12, 0.05, 0.03),
            call_center: FulfilmentWeights::new(0.40, 0.10, 0.05, 0.25, 0.20),
            store: FulfilmentWeights::new(0.70, 0.15, 0.0, 0.10, 0.05),
            marketplace: FulfilmentWeights::new(1.0, 0.0, 0.0, 0.0, 0.0),
        }
    }
}

impl FulfilmentMix {
    /// The weights of every channel, in the order of `crate::workload::CHANNELS`.
    pub fn per_channel(&self) -> [&FulfilmentWeights; 5] {
        [
            &self.web,
            &self.app,
            &self.call_center,
            &self.store,
            &self.marketplace,
        ]
    }
}

/// The prefix of environment variables that override config keys
/// (`ALLOT__WORKLOAD__STORES=80`, `ALLOT__WORKLOAD__CHANNEL_MIX__WEB=0.5`).
pub const ENV_PREFIX: &str = "ALLOT__WORKLOAD__";

impl WorkloadConfig {
    /// Loads the config in layers: defaults < `file` (TOML; either the workload keys at the
    /// top level or under a `[workload]` table, so the `allot` config file can be used as is)
    /// < `ALLOT__WORKLOAD__<KEY>` environment variables (nested keys joined by `__`).
    pub fn load(file: Option<&Path>) -> anyhow::Result<WorkloadConfig> {
        let mut figment = Figment::from(Serialized::defaults(WorkloadConfig::default()));
        if let Some(path) = file {
            ensure!(
                path.exists(),
                "config file {} does not exist",
                path.display()
            );
            let from_file = Figment::from(Toml::file(path));
            let from_file = if from_file.contains("workload") {
                from_file.focus("workload")
            } else {
                from_file
            };
            figment = figment.merge(from_file);
        }
        figment = figment.merge(Env::prefixed(ENV_PREFIX).split("__"));
        let config: WorkloadConfig = figment
            .extract()
            .context("failed to read the workload config")?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the cross-field rules; the error says what to change.
    pub fn validate(&self) -> anyhow::Result<()> {
        let Some(_) = calendar::parse_date(&self.start_date) else {
            bail!(
                "start_date {:?} is not a date like 2025-03-03",
                self.start_date
            );
        };
        ensure!(self.days >= 1, "days must be at least 1");
        ensure!(!self.countries.is_empty(), "countries must not be empty");
        for code in &self.countries {
            ensure!(
                cities::country(code).is_some(),
                "country {code:?} is not in the embedded city table (known: {})",
                cities::COUNTRIES
                    .iter()
                    .map(|c| c.code)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        ensure!(
            self.dcs >= 1,
            "dcs must be at least 1 (stores are replenished from DCs)"
        );
        ensure!(self.stores >= 1, "stores must be at least 1");
        ensure!(self.skus >= 10, "skus must be at least 10");
        ensure!(self.vendors >= 1, "vendors must be at least 1");
        ensure!(self.customers >= 1, "customers must be at least 1");
        ensure!(
            self.zipf_exponent.is_finite() && self.zipf_exponent >= 0.0,
            "zipf_exponent must be a finite number >= 0"
        );
        ensure!(
            u64::from(self.skus) * u64::from(self.dcs + self.stores + self.dark_stores)
                <= 200_000_000,
            "skus x locations is above 200 million; the stock book would not fit in memory"
        );
        for (name, v) in [
            (
                "pos_baskets_per_store_per_day",
                self.pos_baskets_per_store_per_day,
            ),
            ("orders_per_day", self.orders_per_day),
            ("store_days_of_cover", self.store_days_of_cover),
            ("dc_days_of_cover", self.dc_days_of_cover),
            (
                "cycle_counts_per_location_per_day",
                self.cycle_counts_per_location_per_day,
            ),
            (
                "adjustments_per_location_per_day",
                self.adjustments_per_location_per_day,
            ),
        ] {
            ensure!(
                v.is_finite() && v >= 0.0,
                "{name} must be a finite number >= 0"
            );
        }
        for (name, v) in self.rates() {
            ensure!(
                (0.0..=1.0).contains(&v),
                "{name} must be between 0 and 1, not {v}"
            );
        }
        let channels = self.channel_mix.weights();
        ensure!(
            channels.iter().all(|w| w.is_finite() && *w >= 0.0)
                && channels.iter().sum::<f64>() > 0.0,
            "channel_mix weights must be >= 0 and not all zero"
        );
        for (i, mix) in self.fulfilment_mix.per_channel().into_iter().enumerate() {
            let w = mix.weights();
            ensure!(
                w.iter().all(|w| w.is_finite() && *w >= 0.0) && w.iter().sum::<f64>() > 0.0,
                "fulfilment_mix of channel #{i} must have weights >= 0, not all zero"
            );
        }
        Ok(())
    }

    fn rates(&self) -> [(&'static str, f64); 21] {
        [
            ("in_store_return_rate", self.in_store_return_rate),
            ("ship_from_store_share", self.ship_from_store_share),
            ("same_day_store_share", self.same_day_store_share),
            ("installation_store_share", self.installation_store_share),
            ("store_assortment_share", self.store_assortment_share),
            ("dc_assortment_share", self.dc_assortment_share),
            ("eta_slip_rate", self.eta_slip_rate),
            ("short_ship_rate", self.short_ship_rate),
            ("damage_rate", self.damage_rate),
            ("shipment_cancel_rate", self.shipment_cancel_rate),
            ("po_amend_rate", self.po_amend_rate),
            ("po_cancel_rate", self.po_cancel_rate),
            ("cancel_rate", self.cancel_rate),
            (
                "cross_channel_change_share",
                self.cross_channel_change_share,
            ),
            ("modify_rate", self.modify_rate),
            ("return_rate", self.return_rate),
            ("pickup_expiry_rate", self.pickup_expiry_rate),
            ("promotion_share", self.promotion_share),
            ("price_mismatch_rate", self.price_mismatch_rate),
            ("bad_record_rate", self.bad_record_rate),
            (
                "cancel_rate + modify_rate",
                self.cancel_rate + self.modify_rate,
            ),
        ]
    }

    /// UTC midnight of `start_date` (call [`WorkloadConfig::validate`] first).
    pub fn start_time(&self) -> allot_schemas::EpochMillis {
        calendar::parse_date(&self.start_date).unwrap_or(0)
    }

    /// The end of the simulated window.
    pub fn end_time(&self) -> allot_schemas::EpochMillis {
        self.start_time() + i64::from(self.days) * calendar::DAY_MS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        WorkloadConfig::default()
            .validate()
            .expect("defaults validate");
    }

    fn check(edit: impl FnOnce(&mut WorkloadConfig), expected_message_part: &str) {
        let mut config = WorkloadConfig::default();
        edit(&mut config);
        let err = config.validate().expect_err("config should be refused");
        assert!(
            err.to_string().contains(expected_message_part),
            "{err} does not mention {expected_message_part}"
        );
    }

    #[test]
    fn invalid_configs_say_what_to_change() {
        check(|c| c.start_date = "03/03/2025".into(), "start_date");
        check(|c| c.countries = vec!["XX".into()], "country \"XX\"");
        check(|c| c.dcs = 0, "dcs");
        check(|c| c.cancel_rate = 1.5, "cancel_rate");
        check(|c| c.orders_per_day = f64::NAN, "orders_per_day");
        check(
            |c| {
                c.channel_mix = ChannelMix {
                    web: 0.0,
                    app: 0.0,
                    call_center: 0.0,
                    store: 0.0,
                    marketplace: 0.0,
                }
            },
            "channel_mix",
        );
        check(|c| c.zipf_exponent = -1.0, "zipf_exponent");
    }

    #[test]
    // `Jail`'s closure must return figment's own (large) error type.
    #[allow(clippy::result_large_err)]
    fn layers_file_then_environment() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("allot.toml");
        std::fs::write(
            &path,
            "[workload]\nstores = 7\nseed = 9\n[workload.channel_mix]\nweb = 0.9\n",
        )
        .expect("write");
        figment::Jail::expect_with(|jail| {
            jail.set_env("ALLOT__WORKLOAD__SEED", "11");
            jail.set_env("ALLOT__WORKLOAD__CHANNEL_MIX__APP", "0.05");
            let c = WorkloadConfig::load(Some(&path)).map_err(|e| e.to_string())?;
            assert_eq!(c.stores, 7, "from the file");
            assert_eq!(c.seed, 11, "the environment wins over the file");
            assert_eq!(c.channel_mix.web, 0.9);
            assert_eq!(c.channel_mix.app, 0.05);
            assert_eq!(c.skus, WorkloadConfig::default().skus, "the default stays");
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("w.toml");
        std::fs::write(&path, "stores = 3\nstorez = 4\n").expect("write");
        let err = WorkloadConfig::load(Some(&path)).expect_err("typo refused");
        assert!(format!("{err:#}").contains("storez"), "{err:#}");
    }
}
