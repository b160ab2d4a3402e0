//! Rust types of `schemas/avro/safety_stock_policies/v1.avsc`: Units held back from available-to-promise. The most specific policy matching (sku, location, channel) applies. Compacted topic `allot.safety-stock-policies`, key = policy id.

use super::EpochMillis;
use super::common::Channel;
use serde::{Deserialize, Serialize};

/// Units held back from available-to-promise. The most specific policy matching (sku, location,
/// channel) applies. Compacted topic `allot.safety-stock-policies`, key = policy id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SafetyStockPolicy {
    /// Globally unique id of this policy update, set by the source system; allot applies each
    /// event id at most once (idempotency key).
    pub event_id: String,
    /// When the policy update happened at the source, in milliseconds since the Unix epoch
    /// (UTC).
    pub event_time: EpochMillis,
    /// The system that emitted this event (for example `pos-store-0042`, `oms-web`,
    /// `wms-dc-01`).
    pub source: String,
    /// Id of the policy.
    pub policy_id: String,
    /// The sku it applies to; null for every sku.
    pub sku: Option<String>,
    /// The location it applies to; null for every location.
    pub location_id: Option<String>,
    /// The channel it applies to; null for every channel.
    pub channel: Option<Channel>,
    /// Units held back from ATP (zero or more).
    pub safety_stock_units: i32,
    /// False deletes the policy.
    pub active: bool,
}
