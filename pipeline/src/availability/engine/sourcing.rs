//! What sourcing reads from and writes to the availability engine: the supply of a sku per
//! location, and the units its ledger reserves per (sku, location).

use super::super::position::Inbound;
use super::AvailabilityEngine;

impl AvailabilityEngine {
    /// Calls `f` for every location holding supply of `sku` (on hand or inbound): the
    /// location's id, its sellable on hand less the largest safety stock any channel keeps
    /// there (sourcing never promises what availability holds back), and its inbound lines.
    /// Reservations are not subtracted: the sourcing ledger owns them.
    pub fn visit_supply(&self, sku: &str, mut f: impl FnMut(&str, i32, &[Inbound])) {
        let Some(id) = self.skus.get(sku) else {
            return;
        };
        let Some(book) = self.books.get(&id) else {
            return;
        };
        let sku_scoped = self.safety.has_sku_policy(id);
        for p in &book.positions {
            if p.on_hand() == 0 && p.inbound().is_empty() {
                continue;
            }
            let safety = (0..self.config.channels.len())
                .map(|c| self.safety.units(sku_scoped, id, p.loc, c as u8))
                .max()
                .unwrap_or(0);
            f(self.locs.name(p.loc), p.on_hand() - safety, p.inbound());
        }
    }

    /// Calls `f` for every (sku, location) holding reserved units, with the units.
    pub fn visit_reserved(&self, mut f: impl FnMut(&str, &str, i32)) {
        for (sku, book) in &self.books {
            for p in book.positions.iter().filter(|p| p.reserved() != 0) {
                f(self.skus.name(*sku), self.locs.name(p.loc), p.reserved());
            }
        }
    }

    /// Sets the units reserved for orders of `sku` at `loc` (the sourcing ledger's total);
    /// the sku is republished if that changes its availability.
    pub fn set_reserved(&mut self, sku: &str, loc: &str, units: i32) {
        let loc = self.loc(loc);
        // A reservation is a change at the newest event time.
        self.now = self.watermark;
        self.with_position(sku, loc, |p| p.set_reserved(units));
    }
}
