//! [`Stock`]: what sourcing reads supply from and writes its reserved units to. The
//! availability engine is one (sourcing beside it, in one process); partitioned state's
//! sourcing stage uses a mirror of the shards' supply instead (`crate::feed`).

use crate::availability::{AvailabilityEngine, Inbound};

/// The supply side of sourcing.
pub trait Stock {
    /// Calls `f` for every location holding supply of `sku` (on hand or inbound): the
    /// location's id, its sellable on hand less the largest safety stock any channel keeps
    /// there, and its inbound lines. Reservations are not subtracted: the ledger owns them.
    fn visit_supply(&self, sku: &str, f: impl FnMut(&str, i32, &[Inbound]));

    /// Sets the units the ledger reserves for orders of `sku` at `loc` (its total there).
    fn set_reserved(&mut self, sku: &str, loc: &str, units: i32);

    /// The newest event time seen (pickup windows expire against it); `i64::MIN` before
    /// any.
    fn watermark(&self) -> i64;
}

impl Stock for AvailabilityEngine {
    fn visit_supply(&self, sku: &str, f: impl FnMut(&str, i32, &[Inbound])) {
        AvailabilityEngine::visit_supply(self, sku, f);
    }

    fn set_reserved(&mut self, sku: &str, loc: &str, units: i32) {
        AvailabilityEngine::set_reserved(self, sku, loc, units);
    }

    fn watermark(&self) -> i64 {
        AvailabilityEngine::watermark(self)
    }
}
