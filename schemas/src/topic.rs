//! The catalogue of topics: each topic's name, its schema versions, how its records are keyed,
//! and the [`Record`] trait that ties a Rust type to its topic.

use std::fmt;

use crate::types::*;

/// Every topic allot reads or writes. The Avro schema of each lives in
/// `schemas/avro/<dir>/v<N>.avsc`; the highest version is the one allot writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    PosSales,
    Receipts,
    Shipments,
    PurchaseOrders,
    InventoryAdjustments,
    Orders,
    OrderEvents,
    Returns,
    Locations,
    SafetyStockPolicies,
    SourcingRules,
    PriceBook,
    Availability,
    SourcingDecisions,
    Disruptions,
    DeadLetters,
}

/// Whether a topic carries events (append-only) or reference data / state (compacted,
/// latest value per key wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// Append-only event log.
    Events,
    /// Log-compacted: consumers need only the latest value per key.
    Compacted,
}

/// Which way a topic flows relative to allot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Written by stores, DCs, order capture; read by allot.
    Input,
    /// Written by allot; read by storefronts, planners, analytics.
    Output,
}

impl Topic {
    /// All topics, inputs first, in a stable order.
    pub const ALL: [Topic; 16] = [
        Topic::PosSales,
        Topic::Receipts,
        Topic::Shipments,
        Topic::PurchaseOrders,
        Topic::InventoryAdjustments,
        Topic::Orders,
        Topic::OrderEvents,
        Topic::Returns,
        Topic::Locations,
        Topic::SafetyStockPolicies,
        Topic::SourcingRules,
        Topic::PriceBook,
        Topic::Availability,
        Topic::SourcingDecisions,
        Topic::Disruptions,
        Topic::DeadLetters,
    ];

    /// The position of this topic in [`Topic::ALL`] (0-based). Stable: schema ids of the
    /// `StaticResolver` are derived from it, so new topics are only ever appended.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The topics allot reads (direction `Input`), in `ALL` order.
    pub fn inputs() -> impl Iterator<Item = Topic> {
        Topic::ALL
            .into_iter()
            .filter(|t| t.direction() == Direction::Input)
    }

    /// The folder under `schemas/avro/` holding this topic's schema versions.
    pub const fn dir(self) -> &'static str {
        match self {
            Topic::PosSales => "pos_sales",
            Topic::Receipts => "receipts",
            Topic::Shipments => "shipments",
            Topic::PurchaseOrders => "purchase_orders",
            Topic::InventoryAdjustments => "inventory_adjustments",
            Topic::Orders => "orders",
            Topic::OrderEvents => "order_events",
            Topic::Returns => "returns",
            Topic::Locations => "locations",
            Topic::SafetyStockPolicies => "safety_stock_policies",
            Topic::SourcingRules => "sourcing_rules",
            Topic::PriceBook => "price_book",
            Topic::Availability => "availability",
            Topic::SourcingDecisions => "sourcing_decisions",
            Topic::Disruptions => "disruptions",
            Topic::DeadLetters => "dead_letters",
        }
    }

    /// The default Kafka topic name (a deployment may add a prefix).
    pub const fn name(self) -> &'static str {
        match self {
            Topic::PosSales => "allot.pos-sales",
            Topic::Receipts => "allot.receipts",
            Topic::Shipments => "allot.shipments",
            Topic::PurchaseOrders => "allot.purchase-orders",
            Topic::InventoryAdjustments => "allot.inventory-adjustments",
            Topic::Orders => "allot.orders",
            Topic::OrderEvents => "allot.order-events",
            Topic::Returns => "allot.returns",
            Topic::Locations => "allot.locations",
            Topic::SafetyStockPolicies => "allot.safety-stock-policies",
            Topic::SourcingRules => "allot.sourcing-rules",
            Topic::PriceBook => "allot.price-book",
            Topic::Availability => "allot.availability",
            Topic::SourcingDecisions => "allot.sourcing-decisions",
            Topic::Disruptions => "allot.disruptions",
            Topic::DeadLetters => "allot.dead-letters",
        }
    }

    /// Looks a topic up by its Kafka name or its schema folder name.
    pub fn from_name(name: &str) -> Option<Topic> {
        Topic::ALL
            .into_iter()
            .find(|t| t.name() == name || t.dir() == name)
    }

    /// The Schema Registry subject of the topic's values (TopicNameStrategy).
    pub fn subject(self) -> String {
        format!("{}-value", self.name())
    }

    /// Append-only or compacted.
    pub const fn retention(self) -> Retention {
        match self {
            Topic::Locations
            | Topic::SafetyStockPolicies
            | Topic::SourcingRules
            | Topic::PriceBook
            | Topic::Availability => Retention::Compacted,
            _ => Retention::Events,
        }
    }

    /// Input or output of allot.
    pub const fn direction(self) -> Direction {
        match self {
            Topic::Availability
            | Topic::SourcingDecisions
            | Topic::Disruptions
            | Topic::DeadLetters => Direction::Output,
            _ => Direction::Input,
        }
    }

    /// What the record key is, in words (for docs and `--help`).
    pub const fn key_doc(self) -> &'static str {
        match self {
            Topic::PosSales => "store id",
            Topic::Receipts => "location id",
            Topic::Shipments => "shipment id",
            Topic::PurchaseOrders => "PO id",
            Topic::InventoryAdjustments => "sku",
            Topic::Orders | Topic::OrderEvents | Topic::SourcingDecisions => "order id",
            Topic::Returns => "return id",
            Topic::Locations => "location id",
            Topic::SafetyStockPolicies => "policy id",
            Topic::SourcingRules => "rule id",
            Topic::PriceBook => "price list id + '/' + sku",
            Topic::Availability => "sku",
            Topic::Disruptions => "sku, or location id",
            Topic::DeadLetters => "original topic",
        }
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A Rust type that is the value of one topic.
///
/// Every record carries the three envelope fields (event id for idempotency, event time,
/// source system) and knows its own Kafka key. Only allot's record types implement it (its
/// [`AvroDatum`](crate::codec::AvroDatum) supertrait, the fast codec, is sealed).
pub trait Record:
    crate::codec::AvroDatum
    + serde::Serialize
    + serde::de::DeserializeOwned
    + Clone
    + fmt::Debug
    + PartialEq
    + Send
    + Sync
    + 'static
{
    /// The topic this type is the value of.
    const TOPIC: Topic;
    /// Idempotency key set by the source system.
    fn event_id(&self) -> &str;
    /// When the event happened at the source.
    fn event_time(&self) -> EpochMillis;
    /// The emitting system.
    fn source(&self) -> &str;
    /// The Kafka record key (see [`Topic::key_doc`]).
    fn key(&self) -> String;
}

macro_rules! record {
    ($ty:ty, $topic:expr, |$r:ident| $key:expr) => {
        impl Record for $ty {
            const TOPIC: Topic = $topic;
            fn event_id(&self) -> &str {
                &self.event_id
            }
            fn event_time(&self) -> EpochMillis {
                self.event_time
            }
            fn source(&self) -> &str {
                &self.source
            }
            fn key(&self) -> String {
                let $r = self;
                $key
            }
        }
    };
}

record!(PosTransaction, Topic::PosSales, |r| r.store_id.clone());
record!(Receipt, Topic::Receipts, |r| r.location_id.clone());
record!(ShipmentEvent, Topic::Shipments, |r| r.shipment_id.clone());
record!(PurchaseOrder, Topic::PurchaseOrders, |r| r.po_id.clone());
record!(InventoryAdjustment, Topic::InventoryAdjustments, |r| r
    .sku
    .clone());
record!(Order, Topic::Orders, |r| r.order_id.clone());
record!(OrderEvent, Topic::OrderEvents, |r| r.order_id.clone());
record!(ReturnEvent, Topic::Returns, |r| r.return_id.clone());
record!(Location, Topic::Locations, |r| r.location_id.clone());
record!(SafetyStockPolicy, Topic::SafetyStockPolicies, |r| r
    .policy_id
    .clone());
record!(SourcingRule, Topic::SourcingRules, |r| r.rule_id.clone());
record!(PriceBookEntry, Topic::PriceBook, |r| format!(
    "{}/{}",
    r.price_list_id, r.sku
));
record!(Availability, Topic::Availability, |r| r.sku.clone());
record!(SourcingDecision, Topic::SourcingDecisions, |r| r
    .order_id
    .clone());
record!(Disruption, Topic::Disruptions, |r| r
    .sku
    .clone()
    .or_else(|| r.location_id.clone())
    .unwrap_or_else(|| r.disruption_id.clone()));
record!(DeadLetter, Topic::DeadLetters, |r| r.topic.clone());

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_is_the_position_in_all_and_names_are_unique() {
        for (i, topic) in Topic::ALL.into_iter().enumerate() {
            assert_eq!(topic.index(), i);
            assert_eq!(Topic::from_name(topic.name()), Some(topic));
            assert_eq!(Topic::from_name(topic.dir()), Some(topic));
        }
        assert_eq!(Topic::from_name("allot.nothing"), None);
    }
}
