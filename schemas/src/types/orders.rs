//! Rust types of `schemas/avro/orders/v1.avsc`: A customer order captured in any channel. Topic `allot.orders`, key = order id.

use super::EpochMillis;
use super::common::{Channel, FulfilmentType};
use serde::{Deserialize, Serialize};

/// A customer order captured in any channel. Topic `allot.orders`, key = order id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// Globally unique id of this order, set by the source system; allot applies each event id
    /// at most once (idempotency key).
    pub event_id: String,
    /// When the order happened at the source, in milliseconds since the Unix epoch (UTC).
    pub event_time: EpochMillis,
    /// The system that emitted this event (for example `pos-store-0042`, `oms-web`,
    /// `wms-dc-01`).
    pub source: String,
    /// The order id, unique across channels.
    pub order_id: String,
    /// The channel the order was captured in.
    pub channel: Channel,
    /// The customer, the same id in every channel.
    pub customer_id: String,
    /// How the customer asked to receive the goods.
    pub fulfilment: FulfilmentType,
    /// Where to deliver; null for pickup in store.
    pub destination: Option<Address>,
    /// The store to pick up at; set only for PICKUP_IN_STORE.
    pub pickup_location_id: Option<String>,
    /// When the customer wants the goods (delivery or pickup), in milliseconds since the Unix
    /// epoch (UTC).
    pub requested_date: EpochMillis,
    /// The delivery or installation window; set only for SCHEDULED_DELIVERY and INSTALLATION.
    pub slot: Option<DeliverySlot>,
    /// The order lines; never empty.
    pub lines: Vec<OrderLine>,
    /// ISO 4217 currency code of the prices.
    pub currency: String,
}

/// A delivery address with its geocode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Address {
    /// Postal code.
    pub postal_code: String,
    /// City name.
    pub city: String,
    /// ISO 3166-1 alpha-2 country code.
    pub country: String,
    /// Latitude in decimal degrees (WGS84).
    pub latitude: f64,
    /// Longitude in decimal degrees (WGS84).
    pub longitude: f64,
}

/// A booked delivery or installation window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliverySlot {
    /// Start of the window, in milliseconds since the Unix epoch (UTC).
    pub start: EpochMillis,
    /// End of the window, in milliseconds since the Unix epoch (UTC).
    pub end: EpochMillis,
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderLine {
    /// Line id, unique within the order.
    pub line_id: String,
    /// The stock-keeping unit ordered.
    pub sku: String,
    /// Units ordered (positive).
    pub quantity: i32,
    /// Price per unit before promotions, as the channel showed it, in minor currency units.
    pub unit_price_cents: i64,
    /// Total discount on this line from promotions, in minor currency units.
    pub discount_cents: i64,
    /// The promotions the channel applied to this line.
    pub promotion_ids: Vec<String>,
}
