//! Supply: daily replenishment transfers DC -> store, daily vendor purchase orders to DCs,
//! and the lifecycle of every shipment (created, departed, ETA changed, delivered or
//! cancelled) with the receipt that closes it (sometimes short, sometimes with damaged
//! units) and the PO it fulfils.

use allot_schemas::{
    PurchaseOrder, PurchaseOrderLine, PurchaseOrderStatus, Receipt, ReceiptLine, ShipmentEvent,
    ShipmentKind, ShipmentLine, ShipmentStatus, Topic,
};
use rand::RngExt;

use super::{Biz, Pending, Workload};
use crate::calendar::{DAY_MS, HOUR_MS, MINUTE_MS};
use crate::network::distance_km;

/// Replenish a store when its position falls below this share of the order-up-to level.
const STORE_REORDER_POINT: f64 = 0.6;
/// Reorder at a DC below this share of the order-up-to level.
const DC_REORDER_POINT: f64 = 0.6;
/// Most lines on one transfer.
const MAX_TRANSFER_LINES: usize = 250;
/// Most lines on one PO.
const MAX_PO_LINES: usize = 300;

/// A shipment in flight and its next step.
#[derive(Debug)]
pub(super) struct ShipmentPlan {
    id: String,
    kind: ShipmentKind,
    /// Sending site, for transfers.
    origin: Option<usize>,
    /// Vendor index, for vendor shipments.
    vendor: Option<usize>,
    /// The PO fulfilled, for vendor shipments.
    po: Option<Box<PoPlan>>,
    destination: usize,
    /// (SKU, units shipped).
    lines: Vec<(u32, i32)>,
    eta: i64,
    arrival: i64,
    step: ShipmentStep,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ShipmentStep {
    Depart,
    Cancel,
    EtaChanged,
    Deliver,
    Receive,
    ClosePo,
}

/// An open purchase order and its next step.
#[derive(Debug)]
pub(super) struct PoPlan {
    id: String,
    vendor: usize,
    dc: usize,
    /// (SKU, units ordered).
    lines: Vec<(u32, i32)>,
    expected: i64,
    /// When the vendor ships (creates the ASN).
    ship_at: i64,
    step: PoStep,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PoStep {
    Amend,
    Cancel,
    Ship,
}

impl Workload {
    /// The daily replenishment run of a store or dark store: one transfer from its DC with
    /// every SKU below the reorder point, then tomorrow's run.
    pub(super) fn on_replenish(&mut self, site: usize) {
        let now = self.clock;
        let dc = self.network.sites[site].serving_dc;
        let mut needs: Vec<(f64, u32, i32)> = Vec::new();
        for &sku in self.book.carried(site) {
            let s = sku as usize;
            let target = self.book.target(s, site);
            let position = self.book.position(s, site);
            if f64::from(position) < f64::from(target) * STORE_REORDER_POINT {
                let want = target - position;
                let can = self.book.available(s, dc).min(want);
                if can > 0 {
                    needs.push((f64::from(position) / f64::from(target), sku, can));
                }
            }
        }
        if needs.len() > MAX_TRANSFER_LINES {
            needs.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            needs.truncate(MAX_TRANSFER_LINES);
            needs.sort_by_key(|n| n.1);
        }
        if !needs.is_empty() {
            let lines: Vec<(u32, i32)> = needs.iter().map(|&(_, s, q)| (s, q)).collect();
            for &(sku, q) in &lines {
                self.book.allocate(sku as usize, dc, q);
                self.book.transit(sku as usize, site, q);
            }
            let (a, b) = (&self.network.sites[dc], &self.network.sites[site]);
            let km = distance_km(a.lat, a.lon, b.lat, b.lon);
            // Picking takes 1-3 h, then the truck drives at about 65 km/h with stops.
            let depart = now + self.between(HOUR_MS, 3 * HOUR_MS);
            let drive = HOUR_MS + (km / 65.0 * HOUR_MS as f64) as i64;
            let eta = depart + drive;
            let plan = ShipmentPlan {
                id: self.ids.business(Biz::Transfer),
                kind: ShipmentKind::Transfer,
                origin: Some(dc),
                vendor: None,
                po: None,
                destination: site,
                lines,
                eta,
                arrival: eta,
                step: ShipmentStep::Depart,
            };
            let cancelled = self.chance(self.config.shipment_cancel_rate);
            self.shipment_created(plan, depart, cancelled);
        }
        let at = now + DAY_MS + self.between(-15 * MINUTE_MS, 15 * MINUTE_MS);
        self.schedule(at, Pending::Replenish(site as u32));
    }

    /// The daily purchasing run of a DC: one PO per vendor with every SKU below the reorder
    /// point, in whole cases, then tomorrow's run.
    pub(super) fn on_purchase(&mut self, dc: usize) {
        let now = self.clock;
        let mut by_vendor: Vec<Vec<(u32, i32)>> = vec![Vec::new(); self.catalogue.vendors.len()];
        for &sku in self.book.carried(dc) {
            let s = sku as usize;
            let target = self.book.target(s, dc);
            let position = self.book.position(s, dc);
            if f64::from(position) < f64::from(target) * DC_REORDER_POINT {
                let pack = self.catalogue.skus[s].category().case_pack;
                let cases = (target - position + pack - 1) / pack;
                by_vendor[self.catalogue.skus[s].vendor].push((sku, cases * pack));
            }
        }
        for (vendor, mut lines) in by_vendor.into_iter().enumerate() {
            if lines.is_empty() {
                continue;
            }
            lines.truncate(MAX_PO_LINES);
            for &(sku, q) in &lines {
                self.book.order(sku as usize, dc, q);
            }
            let v = &self.catalogue.vendors[vendor];
            let lead = (v.lead_time_days * DAY_MS as f64) as i64;
            let expected = now + lead;
            // The vendor ships 8-36 h before the expected date, never right away.
            let transit = self.between(8 * HOUR_MS, 36 * HOUR_MS);
            let ship_at = (expected - transit).max(now + 2 * HOUR_MS);
            let mut plan = Box::new(PoPlan {
                id: self.ids.business(Biz::Po),
                vendor,
                dc,
                lines,
                expected,
                ship_at,
                step: PoStep::Ship,
            });
            let record = self.po_record(&plan, PurchaseOrderStatus::Open);
            self.push(record);
            let (step, at) = if self.chance(self.config.po_cancel_rate) {
                (
                    PoStep::Cancel,
                    now + self.between(HOUR_MS, (ship_at - now).max(HOUR_MS + 1)),
                )
            } else if self.chance(self.config.po_amend_rate) {
                let span = ship_at - now;
                (PoStep::Amend, now + self.between(span / 4, span * 3 / 4))
            } else {
                (PoStep::Ship, ship_at)
            };
            plan.step = step;
            self.schedule(at, Pending::Po(plan));
        }
        let at = now + DAY_MS + self.between(-15 * MINUTE_MS, 15 * MINUTE_MS);
        self.schedule(at, Pending::Purchase(dc as u32));
    }

    fn po_record(&mut self, plan: &PoPlan, status: PurchaseOrderStatus) -> PurchaseOrder {
        PurchaseOrder {
            event_id: self.ids.event(Topic::PurchaseOrders),
            event_time: self.clock,
            source: "erp-purchasing".to_string(),
            po_id: plan.id.clone(),
            vendor_id: self.catalogue.vendors[plan.vendor].id.clone(),
            destination_location_id: self.network.sites[plan.dc].id.clone(),
            status,
            expected_date: plan.expected,
            lines: plan
                .lines
                .iter()
                .map(|&(sku, q)| PurchaseOrderLine {
                    sku: self.catalogue.skus[sku as usize].id.clone(),
                    quantity_ordered: q,
                })
                .collect(),
        }
    }

    pub(super) fn on_po_step(&mut self, mut plan: Box<PoPlan>) {
        let now = self.clock;
        match plan.step {
            PoStep::Cancel => {
                for &(sku, q) in &plan.lines {
                    self.book.order(sku as usize, plan.dc, -q);
                }
                let record = self.po_record(&plan, PurchaseOrderStatus::Cancelled);
                self.push(record);
            }
            PoStep::Amend => {
                if self.rng.random_bool(0.5) {
                    // The vendor pushes the date out by one or two days.
                    let slip = self.between(DAY_MS, 2 * DAY_MS);
                    plan.expected += slip;
                    plan.ship_at += slip;
                } else {
                    // A quantity changes, or a line is dropped.
                    let i = self.rng.random_range(0..plan.lines.len());
                    let (sku, q) = plan.lines[i];
                    let pack = self.catalogue.skus[sku as usize].category().case_pack;
                    let new_q = if plan.lines.len() > 1 && self.rng.random_bool(0.3) {
                        0
                    } else {
                        let factor = self.rng.random_range(0.5..1.5);
                        ((f64::from(q) * factor / f64::from(pack)).round() as i32).max(1) * pack
                    };
                    self.book.order(sku as usize, plan.dc, new_q - q);
                    if new_q == 0 {
                        plan.lines.remove(i);
                    } else {
                        plan.lines[i].1 = new_q;
                    }
                }
                let record = self.po_record(&plan, PurchaseOrderStatus::Amended);
                self.push(record);
                plan.step = PoStep::Ship;
                let at = plan.ship_at.max(now + MINUTE_MS);
                self.schedule(at, Pending::Po(plan));
            }
            PoStep::Ship => {
                let vendor = plan.vendor;
                let dc = plan.dc;
                // Most vendors ship in full; some fill a line short.
                let mut lines = Vec::with_capacity(plan.lines.len());
                for &(sku, q) in &plan.lines {
                    let shipped = if self.chance(self.config.short_ship_rate / 2.0) {
                        ((f64::from(q) * self.rng.random_range(0.5..0.9)) as i32).max(1)
                    } else {
                        q
                    };
                    self.book.order(sku as usize, dc, -q);
                    self.book.transit(sku as usize, dc, shipped);
                    lines.push((sku, shipped));
                }
                let kind = if self.catalogue.vendors[vendor].sends_asn {
                    ShipmentKind::VendorAsn
                } else {
                    ShipmentKind::PoShipment
                };
                let eta = plan.expected.max(now + 4 * HOUR_MS);
                let shipment = ShipmentPlan {
                    id: self.ids.business(Biz::Asn),
                    kind,
                    origin: None,
                    vendor: Some(vendor),
                    destination: dc,
                    po: Some(plan),
                    lines,
                    eta,
                    arrival: eta,
                    step: ShipmentStep::Depart,
                };
                let depart = now + self.between(0, HOUR_MS);
                self.shipment_created(shipment, depart, false);
            }
        }
    }

    fn shipment_record(
        &mut self,
        plan: &ShipmentPlan,
        status: ShipmentStatus,
        with_lines: bool,
    ) -> ShipmentEvent {
        let source = match (status, plan.origin, plan.vendor) {
            (
                ShipmentStatus::Created | ShipmentStatus::Departed | ShipmentStatus::Cancelled,
                Some(o),
                _,
            ) => self.network.sites[o].ops_source.clone(),
            (ShipmentStatus::Created | ShipmentStatus::Departed, None, Some(v)) => {
                format!("edi-{}", self.catalogue.vendors[v].id)
            }
            _ => "tms-carrier".to_string(),
        };
        ShipmentEvent {
            event_id: self.ids.event(Topic::Shipments),
            event_time: self.clock,
            source,
            shipment_id: plan.id.clone(),
            kind: plan.kind,
            status,
            origin_location_id: plan.origin.map(|o| self.network.sites[o].id.clone()),
            vendor_id: plan.vendor.map(|v| self.catalogue.vendors[v].id.clone()),
            po_id: plan.po.as_ref().map(|p| p.id.clone()),
            destination_location_id: self.network.sites[plan.destination].id.clone(),
            expected_arrival: plan.eta,
            lines: if with_lines {
                plan.lines
                    .iter()
                    .map(|&(sku, q)| ShipmentLine {
                        sku: self.catalogue.skus[sku as usize].id.clone(),
                        quantity: q,
                    })
                    .collect()
            } else {
                Vec::new()
            },
        }
    }

    /// Emits CREATED and schedules the departure (or the cancellation).
    fn shipment_created(&mut self, mut plan: ShipmentPlan, depart: i64, cancelled: bool) {
        let record = self.shipment_record(&plan, ShipmentStatus::Created, true);
        self.push(record);
        let now = self.clock;
        let at = if cancelled {
            plan.step = ShipmentStep::Cancel;
            now + self.between(20 * MINUTE_MS, (depart - now).max(20 * MINUTE_MS + 1))
        } else {
            plan.step = ShipmentStep::Depart;
            depart
        };
        self.schedule(at, Pending::Shipment(Box::new(plan)));
    }

    pub(super) fn on_shipment_step(&mut self, mut plan: Box<ShipmentPlan>) {
        let now = self.clock;
        match plan.step {
            ShipmentStep::Cancel => {
                let origin = plan.origin.expect("only transfers are cancelled");
                for &(sku, q) in &plan.lines {
                    self.book.allocate(sku as usize, origin, -q);
                    self.book.transit(sku as usize, plan.destination, -q);
                }
                let record = self.shipment_record(&plan, ShipmentStatus::Cancelled, false);
                self.push(record);
            }
            ShipmentStep::Depart => {
                if let Some(origin) = plan.origin {
                    for &(sku, q) in &plan.lines {
                        self.book.allocate(sku as usize, origin, -q);
                        self.book.take(sku as usize, origin, q);
                    }
                }
                let record = self.shipment_record(&plan, ShipmentStatus::Departed, true);
                self.push(record);
                let slip_rate = self.config.eta_slip_rate
                    * plan
                        .vendor
                        .map_or(1.0, |v| self.catalogue.vendors[v].slip_factor);
                let travel = (plan.eta - now).max(MINUTE_MS);
                if self.chance(slip_rate.min(1.0)) {
                    plan.step = ShipmentStep::EtaChanged;
                    let at = now + travel * 2 / 5;
                    self.schedule(at, Pending::Shipment(plan));
                } else {
                    plan.arrival = plan.eta + self.between(-30 * MINUTE_MS, 15 * MINUTE_MS);
                    plan.step = ShipmentStep::Deliver;
                    let at = plan.arrival.max(now + MINUTE_MS);
                    self.schedule(at, Pending::Shipment(plan));
                }
            }
            ShipmentStep::EtaChanged => {
                let delay = if plan.vendor.is_some() {
                    self.between(6 * HOUR_MS, 48 * HOUR_MS)
                } else {
                    self.between(HOUR_MS, 12 * HOUR_MS)
                };
                plan.eta += delay;
                plan.arrival = plan.eta + self.between(-20 * MINUTE_MS, 20 * MINUTE_MS);
                let record = self.shipment_record(&plan, ShipmentStatus::EtaChanged, false);
                self.push(record);
                plan.step = ShipmentStep::Deliver;
                let at = plan.arrival.max(now + MINUTE_MS);
                self.schedule(at, Pending::Shipment(plan));
            }
            ShipmentStep::Deliver => {
                let record = self.shipment_record(&plan, ShipmentStatus::Delivered, true);
                self.push(record);
                plan.step = ShipmentStep::Receive;
                let at = now + self.between(20 * MINUTE_MS, 150 * MINUTE_MS);
                self.schedule(at, Pending::Shipment(plan));
            }
            ShipmentStep::Receive => {
                let dest = plan.destination;
                let mut lines = Vec::with_capacity(plan.lines.len());
                for &(sku, q) in &plan.lines {
                    let damaged = if self.chance(self.config.damage_rate) {
                        self.rng.random_range(1..=2).min(q)
                    } else {
                        0
                    };
                    let short = if self.chance(self.config.short_ship_rate) {
                        self.rng.random_range(1..=(q / 4).max(1))
                    } else {
                        0
                    };
                    let received = (q - damaged - short).max(0);
                    self.book.transit(sku as usize, dest, -q);
                    self.book.put(sku as usize, dest, received);
                    lines.push(ReceiptLine {
                        sku: self.catalogue.skus[sku as usize].id.clone(),
                        quantity_received: received,
                        quantity_damaged: damaged,
                    });
                }
                let site = &self.network.sites[dest];
                let record = Receipt {
                    event_id: self.ids.event(Topic::Receipts),
                    event_time: now,
                    source: site.inventory_source.clone(),
                    receipt_id: self.ids.business(Biz::Receipt),
                    location_id: site.id.clone(),
                    shipment_id: Some(plan.id.clone()),
                    po_id: plan.po.as_ref().map(|p| p.id.clone()),
                    lines,
                };
                self.push(record);
                if plan.po.is_some() {
                    plan.step = ShipmentStep::ClosePo;
                    let at = now + self.between(30 * MINUTE_MS, 4 * HOUR_MS);
                    self.schedule(at, Pending::Shipment(plan));
                }
            }
            ShipmentStep::ClosePo => {
                if let Some(po) = plan.po.take() {
                    let record = self.po_record(&po, PurchaseOrderStatus::Closed);
                    self.push(record);
                }
            }
        }
    }
}
