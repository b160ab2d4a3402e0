//! Named types that appear in more than one topic's schema.

use serde::{Deserialize, Serialize};

/// A sales channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Channel {
    Web,
    App,
    CallCenter,
    Store,
    Marketplace,
}

/// How the customer asked to receive the goods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FulfilmentType {
    ShipToHome,
    PickupInStore,
    SameDayDelivery,
    ScheduledDelivery,
    Installation,
}

/// A kind of supply that can count towards available-to-promise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SupplyType {
    OnHand,
    InTransit,
    OnOrder,
}
