//! Rust types of `schemas/avro/disruptions/v1.avsc`: A supply disruption or inventory anomaly that planners should act on. Topic `allot.disruptions`, key = sku (or location id for location-wide disruptions).

use super::EpochMillis;
use serde::{Deserialize, Serialize};

/// A supply disruption or inventory anomaly that planners should act on. Topic
/// `allot.disruptions`, key = sku (or location id for location-wide disruptions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Disruption {
    /// Globally unique id of this disruption, set by the source system; allot applies each
    /// event id at most once (idempotency key).
    pub event_id: String,
    /// When the disruption happened at the source, in milliseconds since the Unix epoch (UTC).
    pub event_time: EpochMillis,
    /// The system that emitted this event (for example `pos-store-0042`, `oms-web`,
    /// `wms-dc-01`).
    pub source: String,
    /// Id of the disruption; later updates of the same disruption share it.
    pub disruption_id: String,
    /// What went wrong.
    pub kind: DisruptionKind,
    /// How urgent it is.
    pub severity: Severity,
    /// The sku concerned, if any.
    pub sku: Option<String>,
    /// The location concerned, if any.
    pub location_id: Option<String>,
    /// The late or short shipment, if any.
    pub shipment_id: Option<String>,
    /// Units missing (receipt shortfall, oversell), if applicable.
    pub shortfall_units: Option<i64>,
    /// Days of cover left (projected stock-out), if applicable.
    pub days_of_cover: Option<f64>,
    /// Orders whose promised dates this breaks.
    pub orders_at_risk: Vec<String>,
    /// Where the orders at risk could be re-sourced from.
    pub next_best_location_id: Option<String>,
    /// A sentence for the planner.
    pub detail: String,
}

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DisruptionKind {
    LateShipment,
    ReceiptShortfall,
    ProjectedStockout,
    Oversell,
    LocationSilent,
}

/// How urgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}
