//! Rust types of `schemas/avro/returns/v1.avsc`: Goods of an order returned and received at a location. Topic `allot.returns`, key = return id.

use super::EpochMillis;
use super::common::Channel;
use serde::{Deserialize, Serialize};

/// Goods of an order returned and received at a location. Topic `allot.returns`, key = return
/// id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReturnEvent {
    /// Globally unique id of this return, set by the source system; allot applies each event id
    /// at most once (idempotency key).
    pub event_id: String,
    /// When the return happened at the source, in milliseconds since the Unix epoch (UTC).
    pub event_time: EpochMillis,
    /// The system that emitted this event (for example `pos-store-0042`, `oms-web`,
    /// `wms-dc-01`).
    pub source: String,
    /// The return (RMA) id.
    pub return_id: String,
    /// The order the goods were bought in, if known.
    pub order_id: Option<String>,
    /// The returning customer, if known.
    pub customer_id: Option<String>,
    /// The DC or store that received the returned goods.
    pub location_id: String,
    /// The channel through which the return was initiated.
    pub channel: Channel,
    /// The returned lines; never empty.
    pub lines: Vec<ReturnLine>,
}

/// Returned units of one sku.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReturnLine {
    /// The stock-keeping unit returned.
    pub sku: String,
    /// Units returned (positive).
    pub quantity: i32,
    /// RESELLABLE goes back to on hand; DAMAGED and VENDOR_RETURN go to unsellable.
    pub condition: ReturnCondition,
    /// What the receiving location does with the units.
    pub disposition: Disposition,
    /// The customer's reason code.
    pub reason: Option<String>,
}

/// The state the goods came back in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReturnCondition {
    Resellable,
    Damaged,
    VendorReturn,
}

/// What the location does with the returned goods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Disposition {
    Restock,
    WriteOff,
    ReturnToVendor,
    Refurbish,
}
