//! Rust types of `schemas/avro/availability/v1.avsc`: Available-to-promise of one sku: per location and across the network, per channel, time-phased. Compacted topic `allot.availability`, key = sku; emitted only when a value changes.

use super::EpochMillis;
use super::common::Channel;
use serde::{Deserialize, Serialize};

/// Available-to-promise of one sku: per location and across the network, per channel,
/// time-phased. Compacted topic `allot.availability`, key = sku; emitted only when a value
/// changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Availability {
    /// Globally unique id of this availability update, set by the source system; allot applies
    /// each event id at most once (idempotency key).
    pub event_id: String,
    /// When the availability update happened at the source, in milliseconds since the Unix
    /// epoch (UTC).
    pub event_time: EpochMillis,
    /// The system that emitted this event (for example `pos-store-0042`, `oms-web`,
    /// `wms-dc-01`).
    pub source: String,
    /// The stock-keeping unit.
    pub sku: String,
    /// Monotonic version per sku; a consumer keeps the highest it has seen.
    pub version: i64,
    /// One entry per channel.
    pub channels: Vec<ChannelAvailability>,
}

/// ATP of the sku for one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelAvailability {
    /// The channel these figures are for.
    pub channel: Channel,
    /// Network ATP (sum over the channel's eligible locations), one bucket per horizon date,
    /// ascending.
    pub network: Vec<AtpBucket>,
    /// Per-location ATP for the locations eligible in this channel.
    pub locations: Vec<LocationAvailability>,
}

/// ATP promised up to a date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AtpBucket {
    /// The date D (end of the bucket), in milliseconds since the Unix epoch (UTC).
    pub until: EpochMillis,
    /// Units available to promise for delivery by D; never negative.
    pub atp: i64,
}

/// ATP at one location for the channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocationAvailability {
    /// The location.
    pub location_id: String,
    /// Units physically at the location and sellable.
    pub on_hand: i64,
    /// Units allocated to orders, not yet shipped or picked up.
    pub reserved: i64,
    /// Units held back by safety-stock policy.
    pub safety_stock: i64,
    /// ATP at this location per horizon date, ascending.
    pub buckets: Vec<AtpBucket>,
}
