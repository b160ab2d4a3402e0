//! Rust types of `schemas/avro/receipts/v1.avsc`: Goods received at a DC or store. Topic `allot.receipts`, key = location id.

use super::EpochMillis;
use serde::{Deserialize, Serialize};

/// Goods received at a DC or store. Topic `allot.receipts`, key = location id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    /// Globally unique id of this receipt, set by the source system; allot applies each event
    /// id at most once (idempotency key).
    pub event_id: String,
    /// When the receipt happened at the source, in milliseconds since the Unix epoch (UTC).
    pub event_time: EpochMillis,
    /// The system that emitted this event (for example `pos-store-0042`, `oms-web`,
    /// `wms-dc-01`).
    pub source: String,
    /// The receiving system's id for this receipt.
    pub receipt_id: String,
    /// The DC or store that received the goods.
    pub location_id: String,
    /// The shipment (transfer or vendor ASN) this receipt closes, if any.
    pub shipment_id: Option<String>,
    /// The purchase order this receipt is against, if any.
    pub po_id: Option<String>,
    /// What was counted in, per sku; may be less than what the shipment announced (short
    /// shipment).
    pub lines: Vec<ReceiptLine>,
}

/// Units of one sku counted in at receiving.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceiptLine {
    /// The stock-keeping unit received.
    pub sku: String,
    /// Good units received into on hand (zero or more).
    pub quantity_received: i32,
    /// Units received damaged; they go to unsellable, never to on hand.
    pub quantity_damaged: i32,
}
