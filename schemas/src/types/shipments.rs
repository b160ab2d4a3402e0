//! Rust types of `schemas/avro/shipments/v1.avsc`: One step in the life of an inbound shipment: a transfer between locations, a vendor ASN, or a PO shipment. Topic `allot.shipments`, key = shipment id.

use super::EpochMillis;
use serde::{Deserialize, Serialize};

/// One step in the life of an inbound shipment: a transfer between locations, a vendor ASN, or
/// a PO shipment. Topic `allot.shipments`, key = shipment id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShipmentEvent {
    /// Globally unique id of this shipment event, set by the source system; allot applies each
    /// event id at most once (idempotency key).
    pub event_id: String,
    /// When the shipment event happened at the source, in milliseconds since the Unix epoch
    /// (UTC).
    pub event_time: EpochMillis,
    /// The system that emitted this event (for example `pos-store-0042`, `oms-web`,
    /// `wms-dc-01`).
    pub source: String,
    /// Id of the shipment; all events of one shipment share it.
    pub shipment_id: String,
    /// Transfer between own locations, vendor advance ship notice, or a shipment against a PO.
    pub kind: ShipmentKind,
    /// Which lifecycle step this event reports.
    pub status: ShipmentStatus,
    /// The sending location for a transfer; null for vendor shipments.
    pub origin_location_id: Option<String>,
    /// The vendor for ASN and PO shipments; null for transfers.
    pub vendor_id: Option<String>,
    /// The purchase order the shipment fulfils, if any.
    pub po_id: Option<String>,
    /// The location that will receive the goods.
    pub destination_location_id: String,
    /// Expected arrival at the destination as known at this event, in milliseconds since the
    /// Unix epoch (UTC).
    pub expected_arrival: EpochMillis,
    /// The shipment's lines as known at this event; may be empty on ETA_CHANGED and CANCELLED,
    /// which refer to the lines already known.
    pub lines: Vec<ShipmentLine>,
}

/// What the shipment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ShipmentKind {
    Transfer,
    VendorAsn,
    PoShipment,
}

/// The lifecycle step this event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ShipmentStatus {
    Created,
    Departed,
    EtaChanged,
    Delivered,
    Cancelled,
}

/// Units of one sku on the shipment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShipmentLine {
    /// The stock-keeping unit shipped.
    pub sku: String,
    /// Units announced on the shipment (positive).
    pub quantity: i32,
}
