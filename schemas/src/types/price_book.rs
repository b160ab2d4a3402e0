//! Rust types of `schemas/avro/price_book/v1.avsc`: The list price of a sku in a price list and the promotions that apply to it. Compacted topic `allot.price-book`, key = price list id and sku.

use super::EpochMillis;
use super::common::Channel;
use serde::{Deserialize, Serialize};

/// The list price of a sku in a price list and the promotions that apply to it. Compacted topic
/// `allot.price-book`, key = price list id and sku.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceBookEntry {
    /// Globally unique id of this price update, set by the source system; allot applies each
    /// event id at most once (idempotency key).
    pub event_id: String,
    /// When the price update happened at the source, in milliseconds since the Unix epoch
    /// (UTC).
    pub event_time: EpochMillis,
    /// The system that emitted this event (for example `pos-store-0042`, `oms-web`,
    /// `wms-dc-01`).
    pub source: String,
    /// The price list (for example one per country or channel).
    pub price_list_id: String,
    /// The stock-keeping unit priced.
    pub sku: String,
    /// ISO 4217 currency code.
    pub currency: String,
    /// List price per unit in minor currency units.
    pub list_price_cents: i64,
    /// Channels this price list serves; empty means all.
    pub channels: Vec<Channel>,
    /// When the price takes effect, in milliseconds since the Unix epoch (UTC).
    pub valid_from: EpochMillis,
    /// When the price ends; null for open-ended.
    pub valid_to: Option<EpochMillis>,
    /// Promotions that apply to this sku in this price list.
    pub promotions: Vec<Promotion>,
}

/// A promotion on the sku.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Promotion {
    /// Id of the promotion, as orders reference it.
    pub promotion_id: String,
    /// How the promotion changes the price.
    pub kind: PromotionKind,
    /// For PERCENT_OFF basis points (1000 = 10%); for AMOUNT_OFF and FIXED_PRICE minor currency
    /// units per unit.
    pub value: i64,
    /// Start of the promotion, in milliseconds since the Unix epoch (UTC).
    pub valid_from: EpochMillis,
    /// End of the promotion, in milliseconds since the Unix epoch (UTC).
    pub valid_to: EpochMillis,
}

/// How a promotion changes the price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PromotionKind {
    PercentOff,
    AmountOff,
    FixedPrice,
}

impl PromotionKind {
    /// The discount per unit this promotion gives on `list_cents` (`value`: basis points
    /// for `PERCENT_OFF`, minor units per unit off for `AMOUNT_OFF`, the price charged for
    /// `FIXED_PRICE`). Never more than the list price.
    pub fn unit_discount(self, list_cents: i64, value: i64) -> i64 {
        match self {
            PromotionKind::PercentOff => list_cents * value / 10_000,
            PromotionKind::AmountOff => value.min(list_cents),
            PromotionKind::FixedPrice => (list_cents - value).max(0),
        }
    }
}
