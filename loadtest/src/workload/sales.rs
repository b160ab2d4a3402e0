//! Store-floor events: register transactions (multi-line baskets with the odd in-store
//! return), cycle counts that correct drift, and shrink/damage/found/correction adjustments.

use std::fmt::Write as _;

use allot_schemas::{
    AdjustmentKind, Channel, InventoryAdjustment, PosLine, PosLineKind, PosTransaction, Topic,
};
use rand::RngExt;

use super::{Pending, Workload};
use crate::calendar::DAY_MS;

impl Workload {
    /// A candidate register transaction at `site` (thinning against the store curve), then
    /// the next candidate.
    pub(super) fn on_pos_arrival(&mut self, site: usize) {
        let now = self.clock;
        let local = self.network.sites[site].tz.local(now);
        let rate = self.rates.pos[site][local.weekday as usize - 1][local.hour as usize];
        let peak = self.rates.pos_peak[site];
        if rate > 0.0 && self.rng.random::<f64>() * peak < rate {
            self.pos_basket(site);
        }
        let next = now + self.exp_ms(peak);
        if let Some(at) = self.network.sites[site].next_open(next) {
            self.schedule(at, Pending::Pos(site as u32));
        }
    }

    fn pos_basket(&mut self, site: usize) {
        let now = self.clock;
        let country = self.network.sites[site].country();
        let list = self.catalogue.list_for(country, Channel::Store);
        // 1 + geometric lines: mean about 2.2.
        let mut wanted = 1;
        while wanted < 8 && self.rng.random_bool(0.55) {
            wanted += 1;
        }
        let mut lines = Vec::with_capacity(wanted + 1);
        for _ in 0..wanted {
            // The customer takes what is on the shelf: a few tries at popular SKUs.
            let mut found = None;
            for _ in 0..4 {
                let sku = self.catalogue.sample(&mut self.rng);
                if self.book.available(sku, site) > 0 {
                    found = Some(sku);
                    break;
                }
            }
            let Some(sku) = found else { continue };
            let want = match self.rng.random_range(0..100) {
                0..80 => 1,
                80..94 => 2,
                _ => self.rng.random_range(3..=4),
            };
            let quantity = want.min(self.book.available(sku, site));
            self.book.take(sku, site, quantity);
            let price = self.catalogue.price(list, sku, now);
            lines.push(PosLine {
                sku: self.catalogue.skus[sku].id.clone(),
                quantity,
                kind: PosLineKind::Sale,
                unit_price_cents: price.net_cents(),
            });
        }
        if self.chance(self.config.in_store_return_rate) {
            let carried = self.book.carried(site);
            if !carried.is_empty() {
                let sku = carried[self.rng.random_range(0..carried.len())] as usize;
                self.book.put(sku, site, 1);
                let price = self.catalogue.price(list, sku, now - 7 * DAY_MS);
                lines.push(PosLine {
                    sku: self.catalogue.skus[sku].id.clone(),
                    quantity: 1,
                    kind: PosLineKind::Return,
                    unit_price_cents: price.net_cents(),
                });
            }
        }
        if lines.is_empty() {
            return;
        }
        let s = &self.network.sites[site];
        let registers = (s.size * 6.0).round().max(2.0) as u32;
        let register = self.rng.random_range(1..=registers);
        self.transactions[site] += 1;
        let mut transaction_id = String::with_capacity(24);
        let _ = write!(transaction_id, "{}-{:07}", s.id, self.transactions[site]);
        let record = PosTransaction {
            event_id: self.ids.event(Topic::PosSales),
            event_time: now,
            source: s.ops_source.clone(),
            store_id: s.id.clone(),
            register_id: format!("reg-{register:02}"),
            transaction_id,
            lines,
            currency: self.catalogue.price_lists[list].currency.to_string(),
        };
        self.push(record);
    }

    /// A cycle count at `site` of one carried SKU, then the next count.
    pub(super) fn on_count(&mut self, site: usize) {
        if let Some(sku) = self.pick_carried(site) {
            let expected = self.book.on_hand(sku, site).max(0);
            // Most counts confirm the book; some find unrecorded shrink or stray units.
            let drift = match self.rng.random_range(0..100) {
                0..75 => 0,
                75..90 => -self.rng.random_range(1..=3),
                _ => self.rng.random_range(1..=2),
            };
            let counted = (expected + drift).max(0);
            self.book.set_on_hand(sku, site, counted);
            let record = self.count_record(sku, site, counted, "cycle_count");
            self.push(record);
        }
        let rate = self.config.cycle_counts_per_location_per_day / DAY_MS as f64;
        let at = self.clock + self.exp_ms(rate);
        self.schedule(at, Pending::Count(site as u32));
    }

    /// A CYCLE_COUNT record (the book is not touched).
    pub(super) fn count_record(
        &mut self,
        sku: usize,
        site: usize,
        units: i32,
        reason: &str,
    ) -> InventoryAdjustment {
        let s = &self.network.sites[site];
        InventoryAdjustment {
            event_id: self.ids.event(Topic::InventoryAdjustments),
            event_time: self.clock,
            source: s.inventory_source.clone(),
            location_id: s.id.clone(),
            sku: self.catalogue.skus[sku].id.clone(),
            kind: AdjustmentKind::CycleCount,
            quantity: units,
            reason: Some(reason.to_string()),
        }
    }

    /// A shrink, damage, found or correction adjustment at `site`, then the next one.
    pub(super) fn on_adjust(&mut self, site: usize) {
        if let Some(sku) = self.pick_carried(site) {
            let on_hand = self.book.on_hand(sku, site);
            let roll = self.rng.random_range(0..100);
            let (kind, quantity, reason) = match roll {
                0..45 if on_hand > 0 => {
                    let q = self.rng.random_range(1..=3).min(on_hand);
                    self.book.take(sku, site, q);
                    let reason = if self.rng.random_bool(0.7) {
                        "theft"
                    } else {
                        "unknown_loss"
                    };
                    (AdjustmentKind::Shrink, q, reason)
                }
                0..80 if on_hand > 0 => {
                    let q = self.rng.random_range(1..=3).min(on_hand);
                    self.book.take(sku, site, q);
                    let reasons = ["broken_in_handling", "expired", "water_damage"];
                    (
                        AdjustmentKind::Damage,
                        q,
                        reasons[self.rng.random_range(0..3)],
                    )
                }
                0..92 => {
                    let q = self.rng.random_range(1..=2);
                    self.book.put(sku, site, q);
                    (AdjustmentKind::Found, q, "found_in_backroom")
                }
                _ => {
                    let q = if on_hand > 0 && self.rng.random_bool(0.5) {
                        -1
                    } else {
                        1
                    };
                    if q < 0 {
                        self.book.take(sku, site, 1);
                    } else {
                        self.book.put(sku, site, 1);
                    }
                    (AdjustmentKind::Correction, q, "receiving_error")
                }
            };
            let s = &self.network.sites[site];
            let record = InventoryAdjustment {
                event_id: self.ids.event(Topic::InventoryAdjustments),
                event_time: self.clock,
                source: s.inventory_source.clone(),
                location_id: s.id.clone(),
                sku: self.catalogue.skus[sku].id.clone(),
                kind,
                quantity,
                reason: Some(reason.to_string()),
            };
            self.push(record);
        }
        let rate = self.config.adjustments_per_location_per_day / DAY_MS as f64;
        let at = self.clock + self.exp_ms(rate);
        self.schedule(at, Pending::Adjust(site as u32));
    }

    /// A SKU `site` carries: usually by popularity (ABC counting), else uniformly.
    fn pick_carried(&mut self, site: usize) -> Option<usize> {
        if self.rng.random_bool(0.6) {
            let sku = self.catalogue.sample(&mut self.rng);
            if self.book.carries(sku, site) {
                return Some(sku);
            }
        }
        let carried = self.book.carried(site);
        (!carried.is_empty()).then(|| carried[self.rng.random_range(0..carried.len())] as usize)
    }
}
