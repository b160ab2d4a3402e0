//! [`SupplyView`]: what the planner and the ledger read of stock — per (sku, location) the
//! sellable units on hand now and the dated inbound supply — and [`InMemorySupply`], the
//! implementation tests and benches use. The integrator backs the trait with the
//! availability engine.
//!
//! The view reports supply *before sourcing reservations*: on hand minus unsellable and
//! safety stock, and inbound lines. Reservations are the [`Ledger`](super::Ledger)'s; the
//! planner subtracts them itself.

use super::ids::{Day, LocId, SkuId};

/// Which kind of future supply an inbound line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Future {
    /// On a shipment (transfer, ASN) that is on its way.
    InTransit,
    /// On a purchase order, not yet shipped.
    OnOrder,
}

/// Units expected at a location on a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inbound {
    /// Expected arrival day. Supply already overdue counts from the day after the order
    /// (expected, but not on the shelf).
    pub due: Day,
    /// Units expected (positive).
    pub qty: i32,
    /// In transit or on order.
    pub kind: Future,
}

/// The supply of one sku at one location.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Supply<'a> {
    /// Sellable units on hand now, before sourcing reservations (may be negative after an
    /// oversell; then nothing more is promised there).
    pub on_hand: i32,
    /// Inbound supply sorted by due day.
    pub inbound: &'a [Inbound],
}

impl Supply<'_> {
    /// No supply at all.
    pub const NONE: Supply<'static> = Supply {
        on_hand: 0,
        inbound: &[],
    };
}

/// Read access to stock by sku, as sourcing needs it.
pub trait SupplyView {
    /// Every location holding supply of `sku` (on hand or inbound), by ascending location
    /// id. This is the candidate lookup: it must not scan locations without the sku.
    fn positions(&self, sku: SkuId) -> impl Iterator<Item = (LocId, Supply<'_>)>;

    /// The supply of `sku` at `loc` ([`Supply::NONE`] when there is none).
    fn at(&self, sku: SkuId, loc: LocId) -> Supply<'_>;
}

/// One (sku, location) of [`InMemorySupply`].
#[derive(Debug, Clone, PartialEq, Eq)]
struct Position {
    loc: LocId,
    on_hand: i32,
    inbound: Vec<Inbound>,
}

/// Supply in memory, indexed by sku (a vector per sku of its locations, sorted).
#[derive(Debug, Clone, Default)]
pub struct InMemorySupply {
    by_sku: Vec<Vec<Position>>,
}

impl InMemorySupply {
    fn position_mut(&mut self, sku: SkuId, loc: LocId) -> &mut Position {
        let sku = sku as usize;
        if self.by_sku.len() <= sku {
            self.by_sku.resize_with(sku + 1, Vec::new);
        }
        let list = &mut self.by_sku[sku];
        let i = match list.binary_search_by_key(&loc, |p| p.loc) {
            Ok(i) => i,
            Err(i) => {
                list.insert(
                    i,
                    Position {
                        loc,
                        on_hand: 0,
                        inbound: Vec::new(),
                    },
                );
                i
            }
        };
        &mut list[i]
    }

    /// Sets the sellable on hand of `sku` at `loc`.
    pub fn set_on_hand(&mut self, sku: SkuId, loc: LocId, units: i32) {
        self.position_mut(sku, loc).on_hand = units;
    }

    /// Adds `units` (negative removes) to on hand: a receipt, a sale, a shipment.
    pub fn add_on_hand(&mut self, sku: SkuId, loc: LocId, units: i32) {
        self.position_mut(sku, loc).on_hand += units;
    }

    /// Adds an inbound line.
    pub fn add_inbound(&mut self, sku: SkuId, loc: LocId, inbound: Inbound) {
        let p = self.position_mut(sku, loc);
        let i = p.inbound.partition_point(|x| x.due <= inbound.due);
        p.inbound.insert(i, inbound);
    }

    /// Forgets every position of `sku` (before refreshing it from the live state).
    pub fn clear_sku(&mut self, sku: SkuId) {
        if let Some(list) = self.by_sku.get_mut(sku as usize) {
            list.clear();
        }
    }

    /// How many (sku, location) positions are held.
    pub fn len(&self) -> usize {
        self.by_sku.iter().map(Vec::len).sum()
    }

    /// Whether no position is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl SupplyView for InMemorySupply {
    fn positions(&self, sku: SkuId) -> impl Iterator<Item = (LocId, Supply<'_>)> {
        self.by_sku
            .get(sku as usize)
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .map(|p| {
                (
                    p.loc,
                    Supply {
                        on_hand: p.on_hand,
                        inbound: &p.inbound,
                    },
                )
            })
    }

    fn at(&self, sku: SkuId, loc: LocId) -> Supply<'_> {
        let Some(list) = self.by_sku.get(sku as usize) else {
            return Supply::NONE;
        };
        match list.binary_search_by_key(&loc, |p| p.loc) {
            Ok(i) => Supply {
                on_hand: list[i].on_hand,
                inbound: &list[i].inbound,
            },
            Err(_) => Supply::NONE,
        }
    }
}

/// The earliest day `d` in `[today, last]` at which `qty` more units can be promised at a
/// position with `supply` and existing `holds` (aggregated reserved units per day, sorted by
/// day): the promise must leave, for every day `D >= d`, reserved-by-`D` at most
/// supply-arrived-by-`D`. With `future == false` only `today` is tried. Returns the day and,
/// when it is after today, the kind of the last inbound line needed.
///
/// This prefix condition is exact: promises with later days may use any supply arriving by
/// then, so (Hall's theorem on nested sets) the promises fit the supply if and only if every
/// prefix of days fits. Holds dated before today count as today; inbound overdue counts from
/// tomorrow.
pub fn earliest_fit(
    supply: Supply<'_>,
    holds: &[(Day, i32)],
    qty: i32,
    today: Day,
    last: Day,
    future: bool,
) -> Option<(Day, Option<Future>)> {
    if supply.inbound.is_empty() && holds.is_empty() {
        return (supply.on_hand >= qty).then_some((today, None));
    }
    // Walk the events by day; track the running balance (supply minus holds); the slack at
    // a day is the minimum balance over it and every later day. Compute suffix minima in a
    // second pass over the (few) distinct days.
    let clamp_in = |d: Day| d.max(today + 1);
    let clamp_hold = |d: Day| d.max(today);
    // Distinct event days in order, with the balance after each (small stack arrays).
    let mut days: [(Day, i64, Option<Future>); 32] = [(0, 0, None); 32];
    let mut n = 0usize;
    let mut balance = i64::from(supply.on_hand);
    let (mut i, mut j) = (0, 0);
    let mut push = |day: Day, balance: i64, kind: Option<Future>, n: &mut usize| -> bool {
        if *n > 0 && days[*n - 1].0 == day {
            days[*n - 1].1 = balance;
            if kind.is_some() {
                days[*n - 1].2 = kind;
            }
            true
        } else if *n < days.len() {
            days[*n] = (day, balance, kind);
            *n += 1;
            true
        } else {
            false
        }
    };
    // Holds at today and before fold into today's balance.
    while j < holds.len() && clamp_hold(holds[j].0) == today {
        balance -= i64::from(holds[j].1);
        j += 1;
    }
    push(today, balance, None, &mut n);
    while i < supply.inbound.len() || j < holds.len() {
        let di = supply.inbound.get(i).map_or(Day::MAX, |x| clamp_in(x.due));
        let dj = holds.get(j).map_or(Day::MAX, |x| clamp_hold(x.0));
        let ok = if di <= dj {
            let x = supply.inbound[i];
            balance += i64::from(x.qty);
            i += 1;
            push(di, balance, Some(x.kind), &mut n)
        } else {
            balance -= i64::from(holds[j].1);
            j += 1;
            push(dj, balance, None, &mut n)
        };
        if !ok {
            // Too many distinct days to track: be conservative and only promise what every
            // day's balance allows from today on.
            return None;
        }
    }
    // Suffix minima, then the first day within range whose slack covers qty.
    let mut suffix_min = i64::MAX;
    let mut slack = [0i64; 32];
    for k in (0..n).rev() {
        suffix_min = suffix_min.min(days[k].1);
        slack[k] = suffix_min;
    }
    let qty = i64::from(qty);
    let mut last_kind = None;
    for k in 0..n {
        let (day, _, kind) = days[k];
        if kind.is_some() {
            last_kind = kind;
        }
        if day > last || (!future && day > today) {
            break;
        }
        if slack[k] >= qty {
            return Some((day, if day == today { None } else { last_kind }));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inb(due: Day, qty: i32) -> Inbound {
        Inbound {
            due,
            qty,
            kind: Future::InTransit,
        }
    }

    /// `earliest_fit` at today = 10, horizon to day 20, future allowed.
    fn check(
        on_hand: i32,
        inbound: &[Inbound],
        holds: &[(Day, i32)],
        qty: i32,
        expected: Option<Day>,
    ) {
        let s = Supply { on_hand, inbound };
        let got = earliest_fit(s, holds, qty, 10, 20, true).map(|(d, _)| d);
        assert_eq!(
            got, expected,
            "on hand {on_hand}, inbound {inbound:?}, holds {holds:?}, qty {qty}"
        );
    }

    #[test]
    fn earliest_fit_follows_the_prefix_rule() {
        check(5, &[], &[], 5, Some(10));
        check(5, &[], &[], 6, None);
        check(5, &[], &[(10, 2)], 4, None);
        check(5, &[], &[(3, 2)], 3, Some(10)); // an old hold counts today
        check(0, &[inb(12, 4)], &[], 4, Some(12));
        check(0, &[inb(8, 4)], &[], 4, Some(11)); // overdue: from tomorrow
        check(2, &[inb(12, 4)], &[], 3, Some(12));
        // A later hold on the inbound leaves only what it does not need.
        check(5, &[inb(12, 10)], &[(12, 10)], 5, Some(10));
        check(5, &[inb(12, 10)], &[(12, 12)], 4, None);
        check(5, &[inb(12, 10)], &[(12, 12)], 3, Some(10));
        check(5, &[inb(12, 10)], &[(12, 13)], 3, None);
        // Beyond the horizon does not count.
        check(0, &[inb(25, 4)], &[], 4, None);
        // On hand only.
        let s = Supply {
            on_hand: 1,
            inbound: &[inb(12, 4)],
        };
        assert_eq!(earliest_fit(s, &[], 2, 10, 20, false), None);
        assert_eq!(earliest_fit(s, &[], 1, 10, 20, false), Some((10, None)));
        assert_eq!(
            earliest_fit(s, &[], 2, 10, 20, true),
            Some((12, Some(Future::InTransit)))
        );
    }

    #[test]
    fn in_memory_supply_indexes_by_sku_sorted_by_location() {
        let mut s = InMemorySupply::default();
        s.set_on_hand(3, 7, 5);
        s.set_on_hand(3, 2, 1);
        s.add_inbound(3, 7, inb(4, 2));
        s.add_inbound(3, 7, inb(2, 1));
        let locs: Vec<LocId> = s.positions(3).map(|(l, _)| l).collect();
        assert_eq!(locs, [2, 7]);
        assert_eq!(
            s.at(3, 7).inbound.iter().map(|i| i.due).collect::<Vec<_>>(),
            [2, 4]
        );
        assert_eq!(s.at(3, 9), Supply::NONE);
        assert_eq!(s.positions(99).count(), 0);
        s.add_on_hand(3, 2, -1);
        assert_eq!(s.at(3, 2).on_hand, 0);
        assert_eq!(s.len(), 2);
    }
}
