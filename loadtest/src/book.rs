//! The generator's own book of expected stock per (SKU, location): what it believes is on
//! hand, promised, in transit and on order. Sales, pickups and shipments draw from it,
//! replenishment and purchase orders refill it, and cycle counts read it, so the stream stays
//! plausible (stock rarely negative, counts close to what the events imply).
//!
//! Dense arrays indexed by `sku * locations + location`: memory is fixed by the network size
//! (about 20 bytes per pair), never by the length of the run.

/// Expected stock of every (SKU, location).
#[derive(Debug, Clone)]
pub struct StockBook {
    locations: usize,
    on_hand: Vec<i32>,
    /// Units promised but not yet taken out (pickups waiting, transfers being picked).
    allocated: Vec<i32>,
    in_transit: Vec<i32>,
    on_order: Vec<i32>,
    /// Order-up-to level; zero means the location does not carry the SKU.
    target: Vec<i32>,
    /// Per location, the SKUs it carries, in SKU order.
    carried: Vec<Vec<u32>>,
    /// Units taken out.
    pub units_out: u64,
    /// Times a take-out left on hand below zero.
    pub went_negative: u64,
    /// Take-outs.
    pub take_outs: u64,
}

impl StockBook {
    /// An empty book for `skus` x `locations`.
    pub fn new(skus: usize, locations: usize) -> StockBook {
        let n = skus * locations;
        StockBook {
            locations,
            on_hand: vec![0; n],
            allocated: vec![0; n],
            in_transit: vec![0; n],
            on_order: vec![0; n],
            target: vec![0; n],
            carried: vec![Vec::new(); locations],
            units_out: 0,
            went_negative: 0,
            take_outs: 0,
        }
    }

    #[inline]
    fn at(&self, sku: usize, loc: usize) -> usize {
        sku * self.locations + loc
    }

    /// Makes `loc` carry `sku` with order-up-to level `target` (call in SKU order).
    pub fn carry(&mut self, sku: usize, loc: usize, target: i32) {
        let i = self.at(sku, loc);
        self.target[i] = target.max(1);
        self.carried[loc].push(sku as u32);
    }

    /// Whether `loc` carries `sku`.
    pub fn carries(&self, sku: usize, loc: usize) -> bool {
        self.target[self.at(sku, loc)] > 0
    }

    /// The SKUs `loc` carries.
    pub fn carried(&self, loc: usize) -> &[u32] {
        &self.carried[loc]
    }

    /// Order-up-to level.
    pub fn target(&self, sku: usize, loc: usize) -> i32 {
        self.target[self.at(sku, loc)]
    }

    /// Expected on hand.
    pub fn on_hand(&self, sku: usize, loc: usize) -> i32 {
        self.on_hand[self.at(sku, loc)]
    }

    /// On hand less allocated.
    pub fn available(&self, sku: usize, loc: usize) -> i32 {
        let i = self.at(sku, loc);
        self.on_hand[i] - self.allocated[i]
    }

    /// On hand + in transit + on order - allocated: the position replenishment plans on.
    pub fn position(&self, sku: usize, loc: usize) -> i32 {
        let i = self.at(sku, loc);
        self.on_hand[i] + self.in_transit[i] + self.on_order[i] - self.allocated[i]
    }

    /// Sets on hand absolutely (a count).
    pub fn set_on_hand(&mut self, sku: usize, loc: usize, units: i32) {
        let i = self.at(sku, loc);
        self.on_hand[i] = units;
    }

    /// Adds units to on hand (receipts, returns, found stock).
    pub fn put(&mut self, sku: usize, loc: usize, units: i32) {
        let i = self.at(sku, loc);
        self.on_hand[i] += units;
    }

    /// Takes units out of on hand (sales, shipments, shrink), recording whether that drove
    /// it below zero.
    pub fn take(&mut self, sku: usize, loc: usize, units: i32) {
        let i = self.at(sku, loc);
        let before = self.on_hand[i];
        self.on_hand[i] -= units;
        self.take_outs += 1;
        self.units_out += units.max(0) as u64;
        if self.on_hand[i] < 0 && before >= 0 {
            self.went_negative += 1;
        }
    }

    /// Changes allocated units by `delta`.
    pub fn allocate(&mut self, sku: usize, loc: usize, delta: i32) {
        let i = self.at(sku, loc);
        self.allocated[i] = (self.allocated[i] + delta).max(0);
    }

    /// Changes in-transit units by `delta`.
    pub fn transit(&mut self, sku: usize, loc: usize, delta: i32) {
        let i = self.at(sku, loc);
        self.in_transit[i] = (self.in_transit[i] + delta).max(0);
    }

    /// Changes on-order units by `delta`.
    pub fn order(&mut self, sku: usize, loc: usize, delta: i32) {
        let i = self.at(sku, loc);
        self.on_order[i] = (self.on_order[i] + delta).max(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_counts_every_kind_of_supply() {
        let mut b = StockBook::new(3, 2);
        b.carry(1, 0, 10);
        b.put(1, 0, 5);
        b.transit(1, 0, 3);
        b.order(1, 0, 4);
        b.allocate(1, 0, 2);
        assert_eq!(b.position(1, 0), 10);
        assert_eq!(b.available(1, 0), 3);
        assert!(b.carries(1, 0) && !b.carries(1, 1) && !b.carries(0, 0));
        assert_eq!(b.carried(0), &[1]);
    }

    #[test]
    fn going_negative_is_counted_once_per_crossing() {
        let mut b = StockBook::new(1, 1);
        b.put(0, 0, 1);
        b.take(0, 0, 1);
        b.take(0, 0, 1);
        b.take(0, 0, 1);
        assert_eq!((b.on_hand(0, 0), b.went_negative, b.take_outs), (-2, 1, 3));
    }
}
