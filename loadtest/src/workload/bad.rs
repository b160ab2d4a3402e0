//! Invalid-but-decodable records, injected at `bad_record_rate` so that validation and
//! dead-letter paths downstream have something to catch. Every one decodes fine with the
//! topic's schema; what is wrong is its content:
//!
//! | kind | carried by | what is wrong |
//! |---|---|---|
//! | [`BadKind::NegativeQuantity`] | a POS sale line, a SHRINK adjustment, an order line | quantity below zero |
//! | [`BadKind::UnknownLocation`] | a POS transaction, a receipt, a count | a location id no `Location` record announced |
//! | [`BadKind::UnknownSku`] | a POS line, an order line, a count | a SKU id that is in no price list |
//!
//! Unknown ids look like real ones (`store-0041` in a 40-store network, `sku-002001` in a
//! 2,000-SKU catalogue), so only a lookup can tell. Bad records never touch the stock book.

use allot_schemas::{
    AdjustmentKind, AnyRecord, Channel, FulfilmentType, InventoryAdjustment, Order, OrderLine,
    PosLine, PosLineKind, PosTransaction, Receipt, ReceiptLine, Topic,
};
use rand::RngExt;

use super::Workload;

/// What is wrong with an injected record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BadKind {
    /// A quantity below zero where the schema says positive.
    NegativeQuantity,
    /// A location id that no `Location` record announced.
    UnknownLocation,
    /// A SKU id that is in no price list.
    UnknownSku,
}

impl BadKind {
    /// Every kind, in the order of `WorkloadStats::bad`.
    pub const ALL: [BadKind; 3] = [
        BadKind::NegativeQuantity,
        BadKind::UnknownLocation,
        BadKind::UnknownSku,
    ];
}

impl Workload {
    /// Builds one invalid record at the current clock and counts it.
    pub(super) fn bad_record(&mut self) -> AnyRecord {
        let k = self.rng.random_range(0..BadKind::ALL.len());
        self.stats.bad[k] += 1;
        let carrier = self.rng.random_range(0..3);
        let store = self.network.stores[self.rng.random_range(0..self.network.stores.len())];
        let sku = self.catalogue.sample(&mut self.rng);
        let sku_id = self.catalogue.skus[sku].id.clone();
        let unknown_sku = {
            let width = self.catalogue.skus[0].id.len() - "sku-".len();
            let n = self.catalogue.skus.len() + 1 + self.rng.random_range(0..1000);
            format!("sku-{n:0width$}")
        };
        let unknown_store = format!(
            "store-{:04}",
            self.network.stores.len() + 1 + self.rng.random_range(0..100)
        );
        match (BadKind::ALL[k], carrier) {
            (BadKind::NegativeQuantity, 0) => {
                let q = -self.rng.random_range(1..=3);
                self.pos_with(store, None, &sku_id, q).into()
            }
            (BadKind::NegativeQuantity, 1) => {
                let q = -self.rng.random_range(1..=5);
                self.adjustment_with(store, None, &sku_id, AdjustmentKind::Shrink, q)
                    .into()
            }
            (BadKind::NegativeQuantity, _) => self.order_with(&sku_id, -1).into(),
            (BadKind::UnknownLocation, 0) => self
                .pos_with(store, Some(&unknown_store), &sku_id, 1)
                .into(),
            (BadKind::UnknownLocation, 1) => {
                let record = Receipt {
                    event_id: self.ids.event(Topic::Receipts),
                    event_time: self.clock,
                    source: "sim-unknown".to_string(),
                    receipt_id: self.ids.business(super::Biz::Receipt),
                    location_id: unknown_store,
                    shipment_id: None,
                    po_id: None,
                    lines: vec![ReceiptLine {
                        sku: sku_id,
                        quantity_received: 2,
                        quantity_damaged: 0,
                    }],
                };
                record.into()
            }
            (BadKind::UnknownLocation, _) => {
                let q = self.rng.random_range(0..20);
                self.adjustment_with(
                    store,
                    Some(&unknown_store),
                    &sku_id,
                    AdjustmentKind::CycleCount,
                    q,
                )
                .into()
            }
            (_, 0) => self.pos_with(store, None, &unknown_sku, 1).into(),
            (_, 1) => self.order_with(&unknown_sku, 1).into(),
            (_, _) => {
                let q = self.rng.random_range(0..20);
                self.adjustment_with(store, None, &unknown_sku, AdjustmentKind::CycleCount, q)
                    .into()
            }
        }
    }

    fn pos_with(
        &mut self,
        store: usize,
        store_id: Option<&str>,
        sku: &str,
        quantity: i32,
    ) -> PosTransaction {
        let s = &self.network.sites[store];
        let store_id = store_id.unwrap_or(&s.id).to_string();
        PosTransaction {
            event_id: self.ids.event(Topic::PosSales),
            event_time: self.clock,
            source: format!("pos-{store_id}"),
            transaction_id: format!("{store_id}-bad-{}", self.stats.bad_total()),
            store_id,
            register_id: "reg-01".to_string(),
            lines: vec![PosLine {
                sku: sku.to_string(),
                quantity,
                kind: PosLineKind::Sale,
                unit_price_cents: 999,
            }],
            currency: self.catalogue.price_lists[0].currency.to_string(),
        }
    }

    fn adjustment_with(
        &mut self,
        site: usize,
        location_id: Option<&str>,
        sku: &str,
        kind: AdjustmentKind,
        quantity: i32,
    ) -> InventoryAdjustment {
        let s = &self.network.sites[site];
        InventoryAdjustment {
            event_id: self.ids.event(Topic::InventoryAdjustments),
            event_time: self.clock,
            source: s.inventory_source.clone(),
            location_id: location_id.unwrap_or(&s.id).to_string(),
            sku: sku.to_string(),
            kind,
            quantity,
            reason: Some("manual_entry".to_string()),
        }
    }

    fn order_with(&mut self, sku: &str, quantity: i32) -> Order {
        let customer = self.rng.random_range(0..self.config.customers);
        let city = self.customer_start.partition_point(|&s| s <= customer) - 1;
        Order {
            event_id: self.ids.event(Topic::Orders),
            event_time: self.clock,
            source: "oms-web".to_string(),
            order_id: self.ids.business(super::Biz::Order),
            channel: Channel::Web,
            customer_id: super::orders::customer_id(customer),
            fulfilment: FulfilmentType::ShipToHome,
            destination: Some(self.customer_address(customer, city)),
            pickup_location_id: None,
            requested_date: self.clock + 3 * crate::calendar::DAY_MS,
            slot: None,
            lines: vec![OrderLine {
                line_id: "1".to_string(),
                sku: sku.to_string(),
                quantity,
                unit_price_cents: 1_999,
                discount_cents: 0,
                promotion_ids: Vec::new(),
            }],
            currency: self.catalogue.price_lists[0].currency.to_string(),
        }
    }
}
