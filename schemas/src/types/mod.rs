//! The Rust types of every topic's Avro schema, one module per topic.
//!
//! Field names, order and types mirror `schemas/avro/<topic>/v<N>.avsc` exactly; the
//! `types_fit_schemas` and `schema_data_fits_types` tests in `crate::codec` prove it for every
//! topic, in both directions. Doc comments are the schemas' own `doc` strings.

pub mod availability;
pub mod common;
pub mod dead_letters;
pub mod disruptions;
pub mod inventory_adjustments;
pub mod locations;
pub mod order_events;
pub mod orders;
pub mod pos_sales;
pub mod price_book;
pub mod purchase_orders;
pub mod receipts;
pub mod returns;
pub mod safety_stock_policies;
pub mod shipments;
pub mod sourcing_decisions;
pub mod sourcing_rules;

/// A point in time in milliseconds since the Unix epoch (UTC); Avro `timestamp-millis`.
pub type EpochMillis = i64;

pub use availability::{AtpBucket, Availability, ChannelAvailability, LocationAvailability};
pub use common::{Channel, FulfilmentType, SupplyType};
pub use dead_letters::{DeadLetter, DeadLetterKind};
pub use disruptions::{Disruption, DisruptionKind, Severity};
pub use inventory_adjustments::{AdjustmentKind, InventoryAdjustment};
pub use locations::{Capability, Location, LocationKind, OpeningHours, TransitTime};
pub use order_events::{OrderEvent, OrderEventKind, OrderEventLine};
pub use orders::{Address, DeliverySlot, Order, OrderLine};
pub use pos_sales::{PosLine, PosLineKind, PosTransaction};
pub use price_book::{PriceBookEntry, Promotion, PromotionKind};
pub use purchase_orders::{PurchaseOrder, PurchaseOrderLine, PurchaseOrderStatus};
pub use receipts::{Receipt, ReceiptLine};
pub use returns::{Disposition, ReturnCondition, ReturnEvent, ReturnLine};
pub use safety_stock_policies::SafetyStockPolicy;
pub use shipments::{ShipmentEvent, ShipmentKind, ShipmentLine, ShipmentStatus};
pub use sourcing_decisions::{
    Allocation, CostBreakdown, LineDecision, LineOutcome, RejectedAlternative, SourcingDecision,
};
pub use sourcing_rules::{CostWeights, SourcingRule, SourcingStrategy};
