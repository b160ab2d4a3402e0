//! Rust types of `schemas/avro/locations/v1.avsc`: Reference data for a DC, store or dark store. Compacted topic `allot.locations`, key = location id; the latest value per key wins.

use super::EpochMillis;
use serde::{Deserialize, Serialize};

/// Reference data for a DC, store or dark store. Compacted topic `allot.locations`, key =
/// location id; the latest value per key wins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Location {
    /// Globally unique id of this location update, set by the source system; allot applies each
    /// event id at most once (idempotency key).
    pub event_id: String,
    /// When the location update happened at the source, in milliseconds since the Unix epoch
    /// (UTC).
    pub event_time: EpochMillis,
    /// The system that emitted this event (for example `pos-store-0042`, `oms-web`,
    /// `wms-dc-01`).
    pub source: String,
    /// The location id used on every other topic.
    pub location_id: String,
    /// Human-readable name.
    pub name: String,
    /// DC, store or dark store.
    pub kind: LocationKind,
    /// False when the location is closed for good; it is then never a sourcing candidate.
    pub active: bool,
    /// City the location is in.
    pub city: String,
    /// ISO 3166-1 alpha-2 country code.
    pub country: String,
    /// Latitude in decimal degrees (WGS84).
    pub latitude: f64,
    /// Longitude in decimal degrees (WGS84).
    pub longitude: f64,
    /// IANA time zone of the location (opening hours are local time).
    pub timezone: String,
    /// What the location can do for orders.
    pub capabilities: Vec<Capability>,
    /// Opening hours per day; a day not listed is closed. Empty for DCs that never serve
    /// customers.
    pub opening_hours: Vec<OpeningHours>,
    /// Order lines the location can pick per day.
    pub pick_capacity_per_day: i32,
    /// Parcels the location can ship per day.
    pub ship_capacity_per_day: i32,
    /// The distribution groups (location groups that channels source from) this location
    /// belongs to.
    pub distribution_groups: Vec<String>,
    /// Transit times to destination regions; regions not listed use `default_transit_days`.
    pub transit_times: Vec<TransitTime>,
    /// Transit days to any region not listed in `transit_times`.
    pub default_transit_days: i32,
}

/// What sort of location.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LocationKind {
    Dc,
    Store,
    DarkStore,
}

/// Something a location can do for an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Capability {
    Ship,
    Pickup,
    ShipFromStore,
    SameDay,
    Installation,
}

/// Opening hours on one day of the week.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpeningHours {
    /// ISO day of week, 1 = Monday ... 7 = Sunday.
    pub day_of_week: i32,
    /// Opening time in minutes after local midnight.
    pub open_minute: i32,
    /// Closing time in minutes after local midnight.
    pub close_minute: i32,
}

/// Carrier transit time from this location to a destination region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransitTime {
    /// Destination region: a country code, or country code and postal prefix like `FR-75`.
    pub region: String,
    /// Transit days to that region.
    pub days: i32,
}
