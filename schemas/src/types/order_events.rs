//! Rust types of `schemas/avro/order_events/v1.avsc`: A change to an order after capture, from any channel: cancel, modify lines, shipped, picked up, pickup expired. Topic `allot.order-events`, key = order id.

use super::EpochMillis;
use super::common::Channel;
use serde::{Deserialize, Serialize};

/// A change to an order after capture, from any channel: cancel, modify lines, shipped, picked
/// up, pickup expired. Topic `allot.order-events`, key = order id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderEvent {
    /// Globally unique id of this order event, set by the source system; allot applies each
    /// event id at most once (idempotency key).
    pub event_id: String,
    /// When the order event happened at the source, in milliseconds since the Unix epoch (UTC).
    pub event_time: EpochMillis,
    /// The system that emitted this event (for example `pos-store-0042`, `oms-web`,
    /// `wms-dc-01`).
    pub source: String,
    /// The order this event changes.
    pub order_id: String,
    /// The channel that made the change; it may differ from the order's own channel.
    pub channel: Channel,
    /// What happened to the order.
    pub kind: OrderEventKind,
    /// The lines concerned; empty means the whole order (for CANCEL and PICKUP_EXPIRED).
    pub lines: Vec<OrderEventLine>,
    /// The location that shipped or handed over the goods, for SHIPPED and PICKED_UP.
    pub location_id: Option<String>,
    /// Why, for CANCEL and MODIFY_LINES (customer request, fraud, ...).
    pub reason: Option<String>,
}

/// What happened to the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderEventKind {
    Cancel,
    ModifyLines,
    Shipped,
    PickedUp,
    PickupExpired,
}

/// The part of one order line this event concerns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderEventLine {
    /// The order line.
    pub line_id: String,
    /// The line's sku, repeated so consumers keyed by sku need not look the order up.
    pub sku: String,
    /// For MODIFY_LINES the new quantity of the line (0 removes it); otherwise the units
    /// concerned.
    pub quantity: i32,
}
