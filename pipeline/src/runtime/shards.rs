//! Partitioned state in `allot run` (`runtime.sku_partitions` > 0): one availability engine
//! per sku partition this instance holds.
//!
//! The `bysku.` topics that `allot intake` writes are co-partitioned: partition `p` of every
//! one of them holds only what the skus of partition `p` need (see [`crate::partition`]), and
//! the consumer group's range assignor puts partition `p` of every topic on one member. So
//! the engine of partition `p` is fed by partition `p` of each topic alone (and by every
//! reference record, read whole by every instance), writes its state to partition `p` of
//! the changelog only, and is restored from there (after its own snapshot) when `p` is
//! assigned. Invariants:
//! - an engine exists exactly for the partitions held and restored: created and restored on
//!   assignment, before any of its records is read; let go when the partition is lost or
//!   not assigned back after a revocation (eager rebalancing revokes everything, then
//!   assigns: an engine whose partition comes back to this instance is kept, as its state
//!   is exactly what the hand-over committed);
//! - a record's lane is its topic's index among the event topics, the same in every engine
//!   and every instance, so lateness is judged per topic within a partition.

use std::collections::{BTreeMap, BTreeSet};

use allot_connectors::kafka::Consumed;
use allot_schemas::{AnyRecord, DeadLetterKind, Topic};

use super::{Pipeline, Shards, event_topics};
use crate::availability::{Applied, AvailabilityEngine, EngineStats, Shard, StateSize};
use crate::config::AllotConfig;

/// The partition [`Pipeline::accept_in`] is given for a reference record: every shard's.
pub(super) const TABLE_PARTITION: i32 = -1;

/// The lane of `topic` in every shard engine (its index among the event topics).
pub(super) fn topic_lane(topic: Topic) -> u32 {
    event_topics()
        .iter()
        .position(|t| *t == topic)
        .unwrap_or_default() as u32
}

impl Shards {
    pub(super) fn new(count: u32) -> Shards {
        Shards {
            count,
            engines: BTreeMap::new(),
            retired: EngineStats::default(),
            revoked: BTreeSet::new(),
        }
    }

    /// Applies a record read from `partition` to its engine, or a reference record to every
    /// engine (refused by all or none: reference data is not split).
    pub(super) fn apply(&mut self, lane: u32, partition: i32, record: &AnyRecord) -> Applied {
        if partition == TABLE_PARTITION {
            let mut applied = None;
            for engine in self.engines.values_mut() {
                let a = engine.apply_in(lane, record);
                applied.get_or_insert(a);
            }
            // No engine yet: kept for the shards to come; refused now if it is invalid.
            return applied.unwrap_or_else(|| match crate::availability::validate(record) {
                Ok(()) => Applied::Accepted,
                Err(reason) => Applied::Refused(DeadLetterKind::Validation, reason),
            });
        }
        match self.engines.get_mut(&partition) {
            Some(engine) => engine.apply_in(lane, record),
            // A bug, not bad input: every held partition is restored before it is read.
            None => Applied::Refused(
                DeadLetterKind::Validation,
                format!(
                    "read from sku partition {partition}, which this instance has not restored \
                     (a bug: please report it)"
                ),
            ),
        }
    }

    /// Lets the engine of `partition` go, keeping its counters for the report.
    pub(super) fn retire(&mut self, partition: i32) {
        if let Some(engine) = self.engines.remove(&partition) {
            add_stats(&mut self.retired, engine.stats());
        }
    }
}

/// A fresh engine for sku partition `partition` of `count`, with its lanes open and every
/// reference record read so far (`tables`) applied, as a start applies them before its
/// restore.
pub(super) fn shard_engine(
    config: &AllotConfig,
    count: u32,
    tables: &[Consumed],
    partition: i32,
) -> AvailabilityEngine {
    let mut engine = AvailabilityEngine::with_shard(
        config.availability.clone(),
        Some(Shard {
            partition: partition as u32,
            count,
        }),
    );
    engine.open_lanes(event_topics().len() as u32);
    for consumed in tables {
        // (a refused one was dead-lettered when it was read)
        let _ = engine.apply_in(0, &consumed.record);
    }
    engine
}

fn add_stats(to: &mut EngineStats, from: &EngineStats) {
    to.accepted += from.accepted;
    to.duplicates += from.duplicates;
    to.refused += from.refused;
    to.published += from.published;
}

impl Pipeline {
    /// The engine writing to changelog partition `partition` (`None`: the one engine).
    pub(super) fn engine_at(&mut self, partition: Option<i32>) -> &mut AvailabilityEngine {
        match (partition, &mut self.shards) {
            (Some(p), Some(shards)) => shards.engines.get_mut(&p).expect("a held partition"),
            _ => &mut self.engine,
        }
    }

    /// The counters of every engine, those let go included.
    pub(super) fn engine_stats(&self) -> EngineStats {
        let mut stats = self
            .shards
            .as_ref()
            .map(|s| s.retired.clone())
            .unwrap_or_default();
        for e in self.engines() {
            add_stats(&mut stats, e.stats());
        }
        stats
    }

    /// The state held, over every engine (locations and documents counted once per engine).
    pub(super) fn state_size(&self) -> StateSize {
        let mut size = StateSize::default();
        for e in self.engines() {
            let s = e.state_size();
            size.positions += s.positions;
            size.skus += s.skus;
            size.locations = size.locations.max(s.locations);
            size.documents = size.documents.max(s.documents);
            size.remembered_event_ids += s.remembered_event_ids;
            size.unknown_locations = size.unknown_locations.max(s.unknown_locations);
        }
        size
    }
}
