//! Inbound supply documents — shipments (transfers, vendor ASNs, PO shipments) and purchase
//! orders — and the in-transit / on-order lines they contribute to positions.
//!
//! A document's state is a *merge* of its events that does not depend on arrival order:
//! - every field comes from the event with the greatest `(event time, rank)` that carries it
//!   (lines only from events whose line list is not empty);
//! - a shipment that is DELIVERED, CANCELLED or named by a receipt is closed for good, so a
//!   receipt that arrives before its ASN, or an ETA change after delivery, does nothing;
//! - a PO's open quantity per sku is `ordered - shipped on its (non-cancelled) shipments -
//!   received against it without a shipment`, never below zero, and zero once the PO is
//!   CANCELLED or CLOSED.

use std::collections::HashMap;

use allot_schemas::{PurchaseOrderStatus, ShipmentStatus};
use foldhash::fast::FixedState;

use super::changelog::{Bad, Reader, put_i64, put_opt_str, put_str, put_u64};
use super::intern::{Id, Interner};
use super::position::{Inbound, SupplyKind};

/// `(event time, rank)`: the order in which document events win.
pub type Stamp = (i64, u32);

/// What a document contributes: `(sku, location, inbound line)`.
pub type Contribution = (Id, Id, Inbound);

/// The merged state of one shipment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShipmentDoc {
    /// Expected arrival and the stamp of the event it came from.
    eta: Option<(Stamp, i64)>,
    /// Destination, PO and lines, and the stamp of the event they came from.
    body: Option<(Stamp, ShipmentBody)>,
    /// Set once delivered, cancelled, or received.
    closed: bool,
    /// Cancelled (so its units count as still on order against its PO).
    cancelled: bool,
    /// The earliest departure seen (event time of a DEPARTED event).
    departed: Option<i64>,
}

/// Stock a departed transfer took out of its origin: `(origin, departure time, lines)`.
pub type Outbound = (Id, i64, Vec<(Id, i32)>);

/// The part of a shipment that comes from its most recent event with lines.
#[derive(Debug, Clone, PartialEq)]
pub struct ShipmentBody {
    /// Receiving location.
    pub destination: Id,
    /// Sending location of a transfer (none for vendor shipments).
    pub origin: Option<Id>,
    /// The PO it ships against, if any.
    pub po: Option<Id>,
    /// `(sku, units)`.
    pub lines: Vec<(Id, i32)>,
}

impl ShipmentDoc {
    /// Merges one shipment event.
    pub fn merge(
        &mut self,
        stamp: Stamp,
        status: ShipmentStatus,
        eta: i64,
        body: Option<ShipmentBody>,
    ) {
        match status {
            ShipmentStatus::Departed => {
                self.departed = Some(self.departed.map_or(stamp.0, |d| d.min(stamp.0)));
            }
            ShipmentStatus::Delivered => self.closed = true,
            ShipmentStatus::Cancelled => {
                self.closed = true;
                self.cancelled = true;
            }
            _ => {}
        }
        if self.eta.is_none_or(|(s, _)| stamp > s) {
            self.eta = Some((stamp, eta));
        }
        if let Some(body) = body
            && self.body.as_ref().is_none_or(|(s, _)| stamp > *s)
        {
            self.body = Some((stamp, body));
        }
    }

    /// Marks the shipment received (closed), as a receipt naming it does.
    pub fn close(&mut self) {
        self.closed = true;
    }

    /// The PO this shipment ships against.
    pub fn po(&self) -> Option<Id> {
        self.body.as_ref().and_then(|(_, b)| b.po)
    }

    /// Units of `sku` this shipment takes off its PO's open quantity (all its units unless
    /// it was cancelled).
    pub fn shipped_against_po(&self) -> impl Iterator<Item = (Id, i32)> + '_ {
        let lines = match (&self.body, self.cancelled) {
            (Some((_, b)), false) => b.lines.as_slice(),
            _ => &[],
        };
        lines.iter().copied()
    }

    /// What a transfer took out of its origin: once it has departed (at the earliest
    /// departure seen) and unless it was cancelled, its lines leave the origin's on hand.
    pub fn outbound(&self) -> Option<Outbound> {
        let (Some(departed), Some((_, body)), false) = (self.departed, &self.body, self.cancelled)
        else {
            return None;
        };
        Some((body.origin?, departed, body.lines.clone()))
    }

    /// The in-transit lines this shipment contributes now.
    pub fn contributions(&self, doc: Id, out: &mut Vec<Contribution>) {
        if self.closed {
            return;
        }
        let (Some((_, eta)), Some((_, body))) = (&self.eta, &self.body) else {
            return;
        };
        for &(sku, qty) in &body.lines {
            out.push((
                sku,
                body.destination,
                Inbound {
                    doc,
                    kind: SupplyKind::InTransit,
                    due: *eta,
                    qty,
                },
            ));
        }
    }
}

/// The merged state of one purchase order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PurchaseOrderDoc {
    /// The winning PO event's content.
    body: Option<(Stamp, PurchaseOrderBody)>,
    /// Units received against the PO by receipts that name no shipment, per sku.
    received_direct: HashMap<Id, i32, FixedState>,
}

/// A PO as its most recent event states it.
#[derive(Debug, Clone, PartialEq)]
pub struct PurchaseOrderBody {
    /// OPEN and AMENDED count as supply; CANCELLED and CLOSED do not.
    pub status: PurchaseOrderStatus,
    /// Receiving location.
    pub destination: Id,
    /// Expected delivery (ms since the epoch).
    pub expected: i64,
    /// `(sku, units ordered)`.
    pub lines: Vec<(Id, i32)>,
}

impl PurchaseOrderDoc {
    /// Merges one PO event (the whole PO as of that event).
    pub fn merge(&mut self, stamp: Stamp, body: PurchaseOrderBody) {
        if self.body.as_ref().is_none_or(|(s, _)| stamp > *s) {
            self.body = Some((stamp, body));
        }
    }

    /// Records units received against the PO without a shipment.
    pub fn receive_direct(&mut self, sku: Id, qty: i32) {
        *self.received_direct.entry(sku).or_default() += qty;
    }

    /// The on-order lines the PO contributes now, given the units already shipped against
    /// it per sku.
    pub fn contributions(
        &self,
        doc: Id,
        shipped: &HashMap<Id, i32, FixedState>,
        out: &mut Vec<Contribution>,
    ) {
        let Some((_, body)) = &self.body else {
            return;
        };
        if matches!(
            body.status,
            PurchaseOrderStatus::Cancelled | PurchaseOrderStatus::Closed
        ) {
            return;
        }
        // A PO may list one sku on several lines: net per sku.
        let mut ordered_per_sku: Vec<(Id, i32)> = Vec::with_capacity(body.lines.len());
        for &(sku, qty) in &body.lines {
            match ordered_per_sku.iter_mut().find(|(s, _)| *s == sku) {
                Some((_, q)) => *q += qty,
                None => ordered_per_sku.push((sku, qty)),
            }
        }
        for (sku, ordered) in ordered_per_sku {
            let done = shipped.get(&sku).copied().unwrap_or(0)
                + self.received_direct.get(&sku).copied().unwrap_or(0);
            let open = ordered - done;
            if open > 0 {
                out.push((
                    sku,
                    body.destination,
                    Inbound {
                        doc,
                        kind: SupplyKind::OnOrder,
                        due: body.expected,
                        qty: open,
                    },
                ));
            }
        }
    }
}

/// The interned names a document's changelog form refers to.
#[derive(Debug, Clone, Copy)]
pub struct Names<'a> {
    /// Skus.
    pub skus: &'a Interner,
    /// Locations.
    pub locs: &'a Interner,
    /// Shipment and PO ids.
    pub docs: &'a Interner,
}

/// [`Names`] to intern into while reading.
#[derive(Debug)]
pub struct NamesMut<'a> {
    /// Skus.
    pub skus: &'a mut Interner,
    /// Locations.
    pub locs: &'a mut Interner,
    /// Shipment and PO ids.
    pub docs: &'a mut Interner,
}

fn put_stamp(out: &mut Vec<u8>, (time, rank): Stamp) {
    put_i64(out, time);
    put_u64(out, rank.into());
}

fn read_stamp(r: &mut Reader<'_>) -> Result<Stamp, Bad> {
    Ok((r.i64()?, r.u32()?))
}

fn put_lines(out: &mut Vec<u8>, skus: &Interner, lines: &[(Id, i32)]) {
    put_u64(out, lines.len() as u64);
    for &(sku, qty) in lines {
        put_str(out, skus.name(sku));
        put_i64(out, qty.into());
    }
}

fn read_lines(r: &mut Reader<'_>, skus: &mut Interner) -> Result<Vec<(Id, i32)>, Bad> {
    let n = r.count()?;
    let mut lines = Vec::with_capacity(n);
    for _ in 0..n {
        lines.push((skus.intern(r.str()?), r.i32()?));
    }
    Ok(lines)
}

impl ShipmentDoc {
    /// Appends the document's changelog form (names, not ids).
    pub fn write_changelog(&self, names: Names<'_>, out: &mut Vec<u8>) {
        let flags = u8::from(self.closed)
            | u8::from(self.cancelled) << 1
            | u8::from(self.departed.is_some()) << 2
            | u8::from(self.eta.is_some()) << 3
            | u8::from(self.body.is_some()) << 4;
        out.push(flags);
        if let Some(departed) = self.departed {
            put_i64(out, departed);
        }
        if let Some((stamp, eta)) = self.eta {
            put_stamp(out, stamp);
            put_i64(out, eta);
        }
        if let Some((stamp, body)) = &self.body {
            put_stamp(out, *stamp);
            put_str(out, names.locs.name(body.destination));
            put_opt_str(out, body.origin.map(|o| names.locs.name(o)));
            put_opt_str(out, body.po.map(|p| names.docs.name(p)));
            put_lines(out, names.skus, &body.lines);
        }
    }

    /// Reads a document written by [`write_changelog`](Self::write_changelog).
    pub fn read_changelog(r: &mut Reader<'_>, names: NamesMut<'_>) -> Result<ShipmentDoc, Bad> {
        let flags = r.u8()?;
        if flags >> 5 != 0 {
            return Err(Bad("unknown shipment flags"));
        }
        let mut doc = ShipmentDoc {
            closed: flags & 1 != 0,
            cancelled: flags & 2 != 0,
            ..ShipmentDoc::default()
        };
        if flags & 4 != 0 {
            doc.departed = Some(r.i64()?);
        }
        if flags & 8 != 0 {
            doc.eta = Some((read_stamp(r)?, r.i64()?));
        }
        if flags & 16 != 0 {
            let stamp = read_stamp(r)?;
            let destination = names.locs.intern(r.str()?);
            let origin = r.opt_str()?.map(|o| names.locs.intern(o));
            let po = r.opt_str()?.map(|p| names.docs.intern(p));
            let lines = read_lines(r, names.skus)?;
            doc.body = Some((
                stamp,
                ShipmentBody {
                    destination,
                    origin,
                    po,
                    lines,
                },
            ));
        }
        Ok(doc)
    }
}

impl PurchaseOrderDoc {
    /// Appends the document's changelog form (names, not ids; direct receipts by sku name,
    /// so equal documents give equal bytes).
    pub fn write_changelog(&self, names: Names<'_>, out: &mut Vec<u8>) {
        match &self.body {
            None => out.push(0),
            Some((stamp, body)) => {
                out.push(1);
                put_stamp(out, *stamp);
                out.push(match body.status {
                    PurchaseOrderStatus::Open => 0,
                    PurchaseOrderStatus::Amended => 1,
                    PurchaseOrderStatus::Cancelled => 2,
                    PurchaseOrderStatus::Closed => 3,
                });
                put_str(out, names.locs.name(body.destination));
                put_i64(out, body.expected);
                put_lines(out, names.skus, &body.lines);
            }
        }
        let mut received: Vec<(&str, i32)> = self
            .received_direct
            .iter()
            .map(|(sku, qty)| (names.skus.name(*sku), *qty))
            .collect();
        received.sort_unstable();
        put_u64(out, received.len() as u64);
        for (sku, qty) in received {
            put_str(out, sku);
            put_i64(out, qty.into());
        }
    }

    /// Reads a document written by [`write_changelog`](Self::write_changelog).
    pub fn read_changelog(
        r: &mut Reader<'_>,
        names: NamesMut<'_>,
    ) -> Result<PurchaseOrderDoc, Bad> {
        let mut doc = PurchaseOrderDoc::default();
        if r.bool()? {
            let stamp = read_stamp(r)?;
            let status = match r.u8()? {
                0 => PurchaseOrderStatus::Open,
                1 => PurchaseOrderStatus::Amended,
                2 => PurchaseOrderStatus::Cancelled,
                3 => PurchaseOrderStatus::Closed,
                _ => return Err(Bad("unknown PO status")),
            };
            let destination = names.locs.intern(r.str()?);
            let expected = r.i64()?;
            let lines = read_lines(r, names.skus)?;
            doc.body = Some((
                stamp,
                PurchaseOrderBody {
                    status,
                    destination,
                    expected,
                    lines,
                },
            ));
        }
        let n = r.count()?;
        for _ in 0..n {
            let sku = names.skus.intern(r.str()?);
            if doc.received_direct.insert(sku, r.i32()?).is_some() {
                return Err(Bad("a sku received twice"));
            }
        }
        Ok(doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(lines: &[(Id, i32)]) -> Option<ShipmentBody> {
        Some(ShipmentBody {
            destination: 7,
            origin: None,
            po: None,
            lines: lines.to_vec(),
        })
    }

    fn check(
        events: &[(Stamp, ShipmentStatus, i64, Option<ShipmentBody>)],
        expected: &[(Id, i64, i32)],
    ) {
        // Every order of the events gives the same contributions.
        let mut orders = vec![events.to_vec()];
        orders.push(events.iter().rev().cloned().collect());
        for order in orders {
            let mut doc = ShipmentDoc::default();
            for (stamp, status, eta, b) in order {
                doc.merge(stamp, status, eta, b);
            }
            let mut out = Vec::new();
            doc.contributions(1, &mut out);
            let got: Vec<(Id, i64, i32)> = out.iter().map(|(s, _, l)| (*s, l.due, l.qty)).collect();
            assert_eq!(got, expected, "{events:?}");
        }
    }

    #[test]
    fn shipment_merge_is_order_independent() {
        use ShipmentStatus::*;
        check(&[((1, 0), Created, 100, body(&[(3, 5)]))], &[(3, 100, 5)]);
        // An ETA change (without lines) before or after creation: the later ETA wins.
        check(
            &[
                ((1, 0), Created, 100, body(&[(3, 5)])),
                ((2, 0), EtaChanged, 150, None),
            ],
            &[(3, 150, 5)],
        );
        // Delivered or cancelled closes it whatever came after.
        check(
            &[
                ((1, 0), Created, 100, body(&[(3, 5)])),
                ((2, 0), Delivered, 100, None),
                ((3, 0), EtaChanged, 200, None),
            ],
            &[],
        );
        check(
            &[
                ((1, 0), Created, 100, body(&[(3, 5)])),
                ((2, 0), Cancelled, 100, None),
            ],
            &[],
        );
        // Lines from the latest event that has lines.
        check(
            &[
                ((1, 0), Created, 100, body(&[(3, 5)])),
                ((2, 0), Departed, 100, body(&[(3, 4), (4, 1)])),
            ],
            &[(3, 100, 4), (4, 100, 1)],
        );
    }

    #[test]
    fn a_receipt_before_the_asn_closes_it() {
        let mut doc = ShipmentDoc::default();
        doc.close();
        doc.merge((1, 0), ShipmentStatus::Created, 100, body(&[(3, 5)]));
        let mut out = Vec::new();
        doc.contributions(1, &mut out);
        assert!(out.is_empty());
        assert_eq!(
            doc.shipped_against_po().count(),
            1,
            "its units still left the PO"
        );
    }

    #[test]
    fn po_open_quantity_nets_shipments_and_direct_receipts() {
        let mut po = PurchaseOrderDoc::default();
        let b = |status, lines: &[(Id, i32)]| PurchaseOrderBody {
            status,
            destination: 2,
            expected: 500,
            lines: lines.to_vec(),
        };
        po.merge((2, 0), b(PurchaseOrderStatus::Amended, &[(3, 10), (4, 6)]));
        po.merge((1, 0), b(PurchaseOrderStatus::Open, &[(3, 99)]));
        po.receive_direct(4, 2);
        let shipped: HashMap<Id, i32, FixedState> = [(3, 4)].into_iter().collect();
        let mut out = Vec::new();
        po.contributions(9, &shipped, &mut out);
        let got: Vec<(Id, i32)> = out.iter().map(|(s, _, l)| (*s, l.qty)).collect();
        assert_eq!(got, vec![(3, 6), (4, 4)]);
        po.merge((3, 0), b(PurchaseOrderStatus::Closed, &[(3, 10)]));
        out.clear();
        po.contributions(9, &shipped, &mut out);
        assert!(out.is_empty());
    }
}
