//! Available-to-promise: positions per (sku, location), the inbound supply documents that
//! feed them, the reference data that shapes them, and the engine that publishes
//! time-phased availability per channel. Pure: no I/O, no clock.

pub(crate) mod changelog;
mod dedupe;
mod engine;
mod intern;
mod position;
mod reference;
mod supply;
#[cfg(test)]
mod tests;

pub use changelog::{ChangelogBatch, FORMAT_VERSION, RestoreError};
pub(crate) use dedupe::Dedupe;
pub(crate) use engine::validate;
pub use engine::{
    Applied, AvailabilityEngine, EncodedBatch, EngineStats, Held, Pace, Shard, StateSize,
};
pub use intern::Interner;
pub use position::{Inbound, SupplyKind};
pub use reference::{AvailabilityConfig, ChannelPolicy};
