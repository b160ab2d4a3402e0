//! [`Position`]: the stock of one sku at one location — on hand, reserved, unsellable, and
//! the inbound supply (in transit, on order) that may count towards ATP.
//!
//! On hand is kept exact under out-of-order input by the *count rule*: a cycle count at time
//! T states on hand at T, so a delta (sale, receipt, shrink, ...) with time <= T is already in
//! it and is ignored, and a delta with time > T is applied on top, whenever it arrives. To
//! re-apply the later deltas when a newer count arrives late, the deltas inside the lateness
//! window stay listed (`pending`); older ones are folded into `base`. The engine refuses any
//! delta or count older than the window, so a folded delta is never needed again.

use super::intern::Id;

/// Which kind of future supply an inbound line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SupplyKind {
    /// On a shipment (transfer, ASN) that is on its way or about to leave.
    InTransit,
    /// Ordered from a vendor on a purchase order, not yet shipped.
    OnOrder,
}

/// Future supply of a position from one document (shipment or PO).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inbound {
    /// The shipment or PO (interned id) this supply comes from.
    pub doc: Id,
    /// In transit or on order.
    pub kind: SupplyKind,
    /// Expected arrival (ms since the epoch).
    pub due: i64,
    /// Units expected.
    pub qty: i32,
}

/// A delta to on hand that happened after the last count and inside the lateness window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Delta {
    time: i64,
    qty: i32,
}

/// The rarely present parts of a position, boxed so a plain position stays small.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Extra {
    /// Deltas after `horizon`, not yet folded into `base`, in arrival order.
    pending: Vec<Delta>,
    /// The earliest time in `pending` (`i64::MAX` when empty), so the common case of
    /// nothing to fold is one comparison.
    oldest: i64,
    /// Inbound supply lines, in no particular order.
    inbound: Vec<Inbound>,
    /// Damaged or otherwise unsellable units; never available.
    unsellable: i32,
}

/// The stock of one sku at one location. 40 bytes, so 20 million of them fit in under 1 GB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// The location (interned id); positions of a sku are sorted by it.
    pub loc: Id,
    /// Sellable units physically at the location: `base` plus the pending deltas.
    on_hand: i32,
    /// On hand as of `horizon`: the last count plus every delta folded since.
    base: i32,
    /// Units allocated to orders and not yet shipped or picked up.
    reserved: i32,
    /// How many inbound lines `extra` holds, so that publishing (which reads every
    /// position of a sku) need not follow the pointer to learn there are none.
    inbound_lines: u32,
    /// Ranks counts that share one event time (low bits of the event id's hash), so the
    /// winner does not depend on arrival order.
    count_rank: u32,
    /// Deltas at or before this time are inside `base` (the last count's time, or later
    /// once deltas are folded). `i64::MIN` before any count.
    horizon: i64,
    /// Pending deltas and inbound supply, when there are any.
    extra: Option<Box<Extra>>,
}

impl Position {
    /// An empty position at `loc`.
    pub fn new(loc: Id) -> Position {
        Position {
            loc,
            on_hand: 0,
            base: 0,
            reserved: 0,
            inbound_lines: 0,
            count_rank: 0,
            horizon: i64::MIN,
            extra: None,
        }
    }

    /// Whether there is nothing to publish: nothing on hand, reserved or inbound. Such a
    /// position is left out of availability (its ATP is 0), so whether it exists at all does
    /// not depend on the order events arrived in.
    pub fn is_empty(&self) -> bool {
        self.on_hand == 0 && self.reserved == 0 && self.inbound_lines == 0
    }

    /// Sellable units at the location.
    pub fn on_hand(&self) -> i32 {
        self.on_hand
    }

    /// Units allocated to orders.
    pub fn reserved(&self) -> i32 {
        self.reserved
    }

    /// Inbound supply lines.
    pub fn inbound(&self) -> &[Inbound] {
        match self.extra.as_deref() {
            Some(e) if self.inbound_lines > 0 => &e.inbound,
            _ => &[],
        }
    }

    /// Applies a delta to on hand that happened at `time`; returns whether on hand changed.
    /// A delta at or before the last count is already in the count and is ignored.
    pub fn apply_delta(&mut self, time: i64, qty: i32) -> bool {
        if time <= self.horizon || qty == 0 {
            return false;
        }
        let extra = self.extra_mut();
        extra.pending.push(Delta { time, qty });
        extra.oldest = extra.oldest.min(time);
        self.on_hand += qty;
        true
    }

    /// Applies a cycle count of `qty` units taken at `time`; returns whether on hand changed.
    /// A count older than the last one (or equal in time and lower in rank) is stale and
    /// ignored.
    pub fn apply_count(&mut self, time: i64, rank: u32, qty: i32) -> bool {
        if (time, rank) <= (self.horizon, self.count_rank) {
            return false;
        }
        let before = self.on_hand;
        self.base = qty;
        self.horizon = time;
        self.count_rank = rank;
        let mut on_hand = qty;
        if let Some(extra) = self.extra.as_deref_mut() {
            extra.pending.retain(|d| d.time > time);
            on_hand += extra.pending.iter().map(|d| d.qty).sum::<i32>();
            extra.oldest = extra
                .pending
                .iter()
                .map(|d| d.time)
                .min()
                .unwrap_or(i64::MAX);
        }
        self.on_hand = on_hand;
        self.shrink_extra();
        self.on_hand != before
    }

    /// Folds pending deltas at or before `cutoff` into `base`; called once the engine will
    /// no longer accept events that old. Does not change on hand.
    pub fn fold(&mut self, cutoff: i64) {
        let Some(extra) = self.extra.as_deref_mut() else {
            return;
        };
        if extra.oldest > cutoff {
            return;
        }
        let mut folded_until = self.horizon;
        let base = &mut self.base;
        extra.pending.retain(|d| {
            if d.time <= cutoff {
                *base += d.qty;
                folded_until = folded_until.max(d.time);
                false
            } else {
                true
            }
        });
        extra.oldest = extra
            .pending
            .iter()
            .map(|d| d.time)
            .min()
            .unwrap_or(i64::MAX);
        // Deltas up to `folded_until` are now in `base`; any later count is newer than them.
        self.horizon = folded_until;
        self.count_rank = 0;
        self.shrink_extra();
    }

    /// Sets the units reserved for orders (the sourcing ledger's total at this position);
    /// returns whether it changed.
    pub fn set_reserved(&mut self, units: i32) -> bool {
        std::mem::replace(&mut self.reserved, units) != units
    }

    /// Changes unsellable units by `qty`.
    pub fn add_unsellable(&mut self, qty: i32) {
        if qty != 0 {
            self.extra_mut().unsellable += qty;
            self.shrink_extra();
        }
    }

    /// Adds an inbound supply line.
    pub fn add_inbound(&mut self, line: Inbound) {
        if line.qty != 0 {
            self.extra_mut().inbound.push(line);
            self.inbound_lines += 1;
        }
    }

    /// Removes every inbound line of `doc`; returns whether any was there.
    pub fn remove_inbound(&mut self, doc: Id) -> bool {
        let Some(extra) = self.extra.as_deref_mut() else {
            return false;
        };
        let before = extra.inbound.len();
        extra.inbound.retain(|l| l.doc != doc);
        let removed = extra.inbound.len() != before;
        self.inbound_lines = extra.inbound.len() as u32;
        self.shrink_extra();
        removed
    }

    /// Units of inbound supply of the allowed kinds due at or before `until`.
    pub fn inbound_due(&self, until: i64, in_transit: bool, on_order: bool) -> i64 {
        self.inbound()
            .iter()
            .filter(|l| l.due <= until)
            .filter(|l| match l.kind {
                SupplyKind::InTransit => in_transit,
                SupplyKind::OnOrder => on_order,
            })
            .map(|l| i64::from(l.qty))
            .sum()
    }

    /// Removes every inbound line (a restore rebuilds them from the documents).
    pub fn clear_inbound(&mut self) {
        if let Some(extra) = self.extra.as_deref_mut() {
            extra.inbound.clear();
            self.inbound_lines = 0;
            self.shrink_extra();
        }
    }

    /// Appends the position's changelog form, its location aside (the caller writes it):
    /// a flags byte saying which fields differ from an empty position, then those fields.
    /// On hand is not written (it is `base` plus the pending deltas), nor the inbound lines
    /// (they are the documents' contributions, rebuilt on restore).
    pub fn write_changelog(&self, out: &mut Vec<u8>) {
        use super::changelog::{put_i64, put_u64};
        let (pending, unsellable) = match self.extra.as_deref() {
            Some(e) => (e.pending.as_slice(), e.unsellable),
            None => (&[][..], 0),
        };
        debug_assert_eq!(
            i64::from(self.base) + pending.iter().map(|d| i64::from(d.qty)).sum::<i64>(),
            i64::from(self.on_hand),
            "on hand is base plus the pending deltas"
        );
        let flags = u8::from(self.base != 0)
            | u8::from(self.reserved != 0) << 1
            | u8::from(self.horizon != i64::MIN) << 2
            | u8::from(self.count_rank != 0) << 3
            | u8::from(unsellable != 0) << 4
            | u8::from(!pending.is_empty()) << 5;
        out.push(flags);
        if self.base != 0 {
            put_i64(out, self.base.into());
        }
        if self.reserved != 0 {
            put_i64(out, self.reserved.into());
        }
        if self.horizon != i64::MIN {
            put_i64(out, self.horizon);
        }
        if self.count_rank != 0 {
            put_u64(out, self.count_rank.into());
        }
        if unsellable != 0 {
            put_i64(out, unsellable.into());
        }
        if !pending.is_empty() {
            put_u64(out, pending.len() as u64);
            // Times as differences from the previous one: small numbers.
            let mut prev = 0i64;
            for d in pending {
                put_i64(out, d.time.wrapping_sub(prev));
                put_i64(out, d.qty.into());
                prev = d.time;
            }
        }
    }

    /// Reads a position written by [`write_changelog`](Self::write_changelog) at `loc`.
    pub fn read_changelog(
        loc: Id,
        r: &mut super::changelog::Reader<'_>,
    ) -> Result<Position, super::changelog::Bad> {
        use super::changelog::Bad;
        let flags = r.u8()?;
        if flags >> 6 != 0 {
            return Err(Bad("unknown position flags"));
        }
        let mut p = Position::new(loc);
        if flags & 1 != 0 {
            p.base = r.i32()?;
        }
        if flags & 2 != 0 {
            p.reserved = r.i32()?;
        }
        if flags & 4 != 0 {
            p.horizon = r.i64()?;
        }
        if flags & 8 != 0 {
            p.count_rank = r.u32()?;
        }
        let unsellable = if flags & 16 != 0 { r.i32()? } else { 0 };
        let mut on_hand = i64::from(p.base);
        if flags & 32 != 0 || unsellable != 0 {
            let extra = p.extra_mut();
            extra.unsellable = unsellable;
            if flags & 32 != 0 {
                let n = r.count()?;
                extra.pending.reserve_exact(n);
                let mut prev = 0i64;
                for _ in 0..n {
                    let time = prev.wrapping_add(r.i64()?);
                    let qty = r.i32()?;
                    extra.pending.push(Delta { time, qty });
                    extra.oldest = extra.oldest.min(time);
                    on_hand += i64::from(qty);
                    prev = time;
                }
            }
        }
        p.on_hand = i32::try_from(on_hand).map_err(|_| Bad("on hand out of range"))?;
        p.shrink_extra();
        Ok(p)
    }

    fn extra_mut(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(|| {
            Box::new(Extra {
                pending: Vec::new(),
                oldest: i64::MAX,
                inbound: Vec::new(),
                unsellable: 0,
            })
        })
    }

    fn shrink_extra(&mut self) {
        if self
            .extra
            .as_deref()
            .is_some_and(|e| e.pending.is_empty() && e.inbound.is_empty() && e.unsellable == 0)
        {
            self.extra = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A delta (`Ok(qty)`) or a count (`Err((rank, qty))`) at a time.
    type Step = (i64, Result<i32, (u32, i32)>);

    /// Applies `steps` in order and checks on hand.
    fn check(steps: &[Step], expected_on_hand: i32) {
        let mut p = Position::new(0);
        for (time, op) in steps {
            match op {
                Ok(delta) => p.apply_delta(*time, *delta),
                Err((rank, count)) => p.apply_count(*time, *rank, *count),
            };
        }
        assert_eq!(p.on_hand(), expected_on_hand, "{steps:?}");
    }

    #[test]
    fn count_rule_makes_order_irrelevant() {
        check(&[(1, Ok(5)), (2, Ok(-2))], 3);
        // A count overrides earlier deltas, whichever arrives first.
        check(&[(1, Ok(5)), (3, Err((0, 10)))], 10);
        check(&[(3, Err((0, 10))), (1, Ok(5))], 10);
        // A sale after the count applies on top, whichever arrives first.
        check(&[(5, Ok(-1)), (3, Err((0, 10)))], 9);
        check(&[(3, Err((0, 10))), (5, Ok(-1))], 9);
        // A delta at the count's own time is inside the count.
        check(&[(3, Ok(-1)), (3, Err((0, 10)))], 10);
        check(&[(3, Err((0, 10))), (3, Ok(-1))], 10);
        // The newer count wins; an older one arriving late is stale.
        check(&[(4, Err((0, 7))), (3, Err((0, 10))), (5, Ok(1))], 8);
        check(&[(3, Err((0, 10))), (5, Ok(1)), (4, Err((0, 7)))], 8);
        // Equal times: the higher rank wins in either order.
        check(&[(3, Err((1, 10))), (3, Err((2, 20)))], 20);
        check(&[(3, Err((2, 20))), (3, Err((1, 10)))], 20);
    }

    #[test]
    fn folding_keeps_on_hand_and_frees_memory() {
        let mut p = Position::new(0);
        p.apply_count(1, 0, 10);
        p.apply_delta(2, -3);
        p.apply_delta(9, -1);
        p.fold(5);
        assert_eq!(p.on_hand(), 6);
        p.fold(100);
        assert_eq!(p.on_hand(), 6);
        assert!(p.extra.is_none(), "nothing pending, no inbound: no box");
        // A count newer than the folded deltas still applies.
        assert!(p.apply_count(101, 0, 4));
        assert_eq!(p.on_hand(), 4);
    }

    #[test]
    fn inbound_counts_by_kind_and_due_date() {
        let mut p = Position::new(0);
        let line = |doc, kind, due, qty| Inbound {
            doc,
            kind,
            due,
            qty,
        };
        p.add_inbound(line(1, SupplyKind::InTransit, 10, 5));
        p.add_inbound(line(2, SupplyKind::OnOrder, 20, 7));
        assert_eq!(p.inbound_due(9, true, true), 0);
        assert_eq!(p.inbound_due(10, true, true), 5);
        assert_eq!(p.inbound_due(20, true, true), 12);
        assert_eq!(p.inbound_due(20, true, false), 5);
        assert!(p.remove_inbound(1));
        assert!(!p.remove_inbound(1));
        assert_eq!(p.inbound_due(20, true, true), 7);
    }

    #[test]
    fn unsellable_units_and_inbound_lines_keep_their_box() {
        let mut p = Position::new(0);
        p.add_unsellable(0);
        assert!(p.extra.is_none(), "nothing unsellable, no box");
        p.add_unsellable(3);
        p.add_inbound(Inbound {
            doc: 1,
            kind: SupplyKind::InTransit,
            due: 10,
            qty: 5,
        });
        assert!(!p.is_empty());
        p.fold(100);
        assert!(p.remove_inbound(1));
        assert!(p.is_empty(), "unsellable units are not published");
        assert_eq!(p.inbound(), &[]);
        assert_eq!(p.extra.as_deref().map(|e| e.unsellable), Some(3));
        p.add_unsellable(-3);
        assert!(p.extra.is_none());
    }

    #[test]
    fn a_plain_position_is_small() {
        assert!(std::mem::size_of::<Position>() <= 40);
    }
}
