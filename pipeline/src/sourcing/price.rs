//! [`PriceBook`]: the prices and promotions an order's lines must match.
//!
//! Rule: a line matches when some entry of the price book for its sku and the order's
//! currency, listing the order's channel (an entry listing none is for every channel) and
//! valid at the order's event time, has
//! - the line's unit price as its list price,
//! - exactly the line's promotion ids as its promotions running at that time, and
//! - a discount equal to the sum of those promotions' unit discounts times the quantity.
//!
//! An order whose lines do not all match is flagged (`price_mismatch` on its decision) and
//! counted; it is still sourced (the price book is the commercial team's, sourcing only
//! reports).

use std::collections::HashMap;

use allot_schemas::{Order, OrderLine, PriceBookEntry};
use foldhash::fast::FixedState;

/// The price book entries by sku (one per price list); the latest event per (price list,
/// sku) wins.
#[derive(Debug, Default)]
pub struct PriceBook {
    entries: HashMap<String, Vec<PriceBookEntry>, FixedState>,
}

impl PriceBook {
    /// Applies an entry: it replaces the earlier one of its price list and sku, unless that
    /// one is newer.
    pub fn apply(&mut self, entry: &PriceBookEntry) {
        let list = self.entries.entry(entry.sku.clone()).or_default();
        match list
            .iter_mut()
            .find(|e| e.price_list_id == entry.price_list_id)
        {
            Some(e) if (e.event_time, &e.event_id) <= (entry.event_time, &entry.event_id) => {
                *e = entry.clone();
            }
            Some(_) => {}
            None => list.push(entry.clone()),
        }
    }

    /// Whether any line of `order` does not match the price book.
    pub fn mismatch(&self, order: &Order) -> bool {
        order.lines.iter().any(|l| !self.line_matches(order, l))
    }

    fn line_matches(&self, order: &Order, line: &OrderLine) -> bool {
        let Some(entries) = self.entries.get(line.sku.as_str()) else {
            return false;
        };
        let t = order.event_time;
        entries.iter().any(|e| {
            let valid = e.currency == order.currency
                && e.valid_from <= t
                && e.valid_to.is_none_or(|to| t < to);
            if !valid || !(e.channels.is_empty() || e.channels.contains(&order.channel)) {
                return false;
            }
            if e.list_price_cents != line.unit_price_cents {
                return false;
            }
            let running: Vec<_> = e
                .promotions
                .iter()
                .filter(|p| p.valid_from <= t && t < p.valid_to)
                .collect();
            let same_ids = running.len() == line.promotion_ids.len()
                && running
                    .iter()
                    .all(|p| line.promotion_ids.contains(&p.promotion_id));
            let discount: i64 = running
                .iter()
                .map(|p| p.kind.unit_discount(e.list_price_cents, p.value))
                .sum::<i64>()
                * i64::from(line.quantity);
            same_ids && discount == line.discount_cents
        })
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.values().map(Vec::len).sum()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use allot_loadtest::{Workload, WorkloadConfig};
    use allot_schemas::AnyRecord;

    use super::*;

    /// The generator injects price mismatches at a known rate and counts them: the book
    /// must flag exactly those orders.
    #[test]
    fn flags_exactly_the_generated_mismatches() {
        let config = WorkloadConfig {
            stores: 6,
            dcs: 2,
            dark_stores: 1,
            skus: 300,
            days: 2,
            orders_per_day: 3_000.0,
            pos_baskets_per_store_per_day: 100.0,
            customers: 5_000,
            price_mismatch_rate: 0.05,
            ..WorkloadConfig::default()
        };
        let mut workload = Workload::new(config).unwrap();
        let records: Vec<AnyRecord> = workload.by_ref().collect();
        let mut book = PriceBook::default();
        for r in &records {
            if let AnyRecord::Price(p) = r {
                book.apply(p);
            }
        }
        let flagged = records
            .iter()
            .filter(|r| matches!(r, AnyRecord::Order(o) if book.mismatch(o)))
            .count() as u64;
        let injected = workload.stats().price_mismatches;
        assert!(injected > 0);
        assert_eq!(flagged, injected);
    }
}
