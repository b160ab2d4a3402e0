//! Rust types of `schemas/avro/purchase_orders/v1.avsc`: Open supply ordered from a vendor, not yet shipped. Each event carries the whole PO as of that moment. Topic `allot.purchase-orders`, key = PO id.

use super::EpochMillis;
use serde::{Deserialize, Serialize};

/// Open supply ordered from a vendor, not yet shipped. Each event carries the whole PO as of
/// that moment. Topic `allot.purchase-orders`, key = PO id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PurchaseOrder {
    /// Globally unique id of this purchase order event, set by the source system; allot applies
    /// each event id at most once (idempotency key).
    pub event_id: String,
    /// When the purchase order event happened at the source, in milliseconds since the Unix
    /// epoch (UTC).
    pub event_time: EpochMillis,
    /// The system that emitted this event (for example `pos-store-0042`, `oms-web`,
    /// `wms-dc-01`).
    pub source: String,
    /// The purchase order id.
    pub po_id: String,
    /// The vendor the goods are ordered from.
    pub vendor_id: String,
    /// The location the goods will be delivered to.
    pub destination_location_id: String,
    /// OPEN and AMENDED count as supply on order; CANCELLED and CLOSED do not.
    pub status: PurchaseOrderStatus,
    /// Date the vendor is expected to deliver, in milliseconds since the Unix epoch (UTC).
    pub expected_date: EpochMillis,
    /// The PO's lines as of this event (an amendment replaces them all).
    pub lines: Vec<PurchaseOrderLine>,
}

/// State of a purchase order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PurchaseOrderStatus {
    Open,
    Amended,
    Cancelled,
    Closed,
}

/// Units of one sku ordered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PurchaseOrderLine {
    /// The stock-keeping unit ordered.
    pub sku: String,
    /// Units ordered (positive).
    pub quantity_ordered: i32,
}
