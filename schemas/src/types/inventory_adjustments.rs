//! Rust types of `schemas/avro/inventory_adjustments/v1.avsc`: A correction of stock at one location for one sku: a cycle count (absolute) or a shrink/damage/found delta. Topic `allot.inventory-adjustments`, key = sku.

use super::EpochMillis;
use serde::{Deserialize, Serialize};

/// A correction of stock at one location for one sku: a cycle count (absolute) or a
/// shrink/damage/found delta. Topic `allot.inventory-adjustments`, key = sku.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InventoryAdjustment {
    /// Globally unique id of this adjustment, set by the source system; allot applies each
    /// event id at most once (idempotency key).
    pub event_id: String,
    /// When the adjustment happened at the source, in milliseconds since the Unix epoch (UTC).
    pub event_time: EpochMillis,
    /// The system that emitted this event (for example `pos-store-0042`, `oms-web`,
    /// `wms-dc-01`).
    pub source: String,
    /// The location whose stock is adjusted.
    pub location_id: String,
    /// The stock-keeping unit adjusted.
    pub sku: String,
    /// CYCLE_COUNT sets on hand absolutely and overrides every earlier delta; the others are
    /// deltas.
    pub kind: AdjustmentKind,
    /// For CYCLE_COUNT the counted on-hand units (zero or more); for SHRINK and DAMAGE the
    /// units lost (positive); for FOUND the units found (positive); for CORRECTION a signed
    /// delta.
    pub quantity: i32,
    /// Free-text reason code from the store or DC system.
    pub reason: Option<String>,
}

/// What kind of adjustment this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AdjustmentKind {
    CycleCount,
    Shrink,
    Damage,
    Found,
    Correction,
}
