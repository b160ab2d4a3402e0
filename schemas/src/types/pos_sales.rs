//! Rust types of `schemas/avro/pos_sales/v1.avsc`: A register transaction at a store: sales and in-store returns of one basket. Topic `allot.pos-sales`, key = store id.

use super::EpochMillis;
use serde::{Deserialize, Serialize};

/// A register transaction at a store: sales and in-store returns of one basket. Topic
/// `allot.pos-sales`, key = store id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PosTransaction {
    /// Globally unique id of this register transaction, set by the source system; allot applies
    /// each event id at most once (idempotency key).
    pub event_id: String,
    /// When the register transaction happened at the source, in milliseconds since the Unix
    /// epoch (UTC).
    pub event_time: EpochMillis,
    /// The system that emitted this event (for example `pos-store-0042`, `oms-web`,
    /// `wms-dc-01`).
    pub source: String,
    /// The location id of the store where the register stands.
    pub store_id: String,
    /// The register (till) within the store.
    pub register_id: String,
    /// The store's own transaction number, for audit.
    pub transaction_id: String,
    /// The lines of the basket; never empty.
    pub lines: Vec<PosLine>,
    /// ISO 4217 currency code of the prices.
    pub currency: String,
}

/// One scanned line of a register transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PosLine {
    /// The stock-keeping unit sold or returned.
    pub sku: String,
    /// Units, always positive; the direction is given by `kind`.
    pub quantity: i32,
    /// Sale removes units from on hand; a return puts resellable units back.
    pub kind: PosLineKind,
    /// Price actually charged per unit, in minor currency units (cents).
    pub unit_price_cents: i64,
}

/// Whether a register line takes stock out (sale) or puts it back (in-store return).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PosLineKind {
    Sale,
    Return,
}
