//! The pipeline's own Prometheus metrics (the connectors register theirs separately, see
//! `allot_connectors::metrics`): what the processors did with each record, what they
//! published, how big the state is, how long publishing took, and how long rebalances paused
//! processing.

use allot_schemas::Topic;
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};

use crate::availability::Applied;

/// Every metric the pipeline promises. Cheap to clone (the handles share their values).
#[derive(Debug, Clone)]
pub struct PipelineMetrics {
    applied: IntCounterVec,
    published: IntCounter,
    positions: IntGauge,
    publish_latency: Histogram,
    sourcing: IntCounterVec,
    sourcing_batch: Histogram,
    sourcing_batch_orders: Histogram,
    rebalance_pause: HistogramVec,
    transaction_commit: Histogram,
}

impl PipelineMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let m = Self::unregistered();
        registry.register(Box::new(m.applied.clone()))?;
        registry.register(Box::new(m.published.clone()))?;
        registry.register(Box::new(m.positions.clone()))?;
        registry.register(Box::new(m.publish_latency.clone()))?;
        registry.register(Box::new(m.sourcing.clone()))?;
        registry.register(Box::new(m.sourcing_batch.clone()))?;
        registry.register(Box::new(m.sourcing_batch_orders.clone()))?;
        registry.register(Box::new(m.rebalance_pause.clone()))?;
        registry.register(Box::new(m.transaction_commit.clone()))?;
        Ok(m)
    }

    /// Metrics that count but are exported nowhere (tools, tests).
    pub fn unregistered() -> Self {
        PipelineMetrics {
            applied: IntCounterVec::new(
                Opts::new(
                    "allot_records_applied_total",
                    "Input records by topic and what the processors did with them \
                     (accepted, duplicate, refused).",
                ),
                &["topic", "outcome"],
            )
            .expect("valid metric"),
            published: IntCounter::new(
                "allot_availability_published_total",
                "Availability messages published (after change detection and coalescing).",
            )
            .expect("valid metric"),
            positions: IntGauge::new(
                "allot_state_positions",
                "(sku, location) positions held in memory.",
            )
            .expect("valid metric"),
            publish_latency: Histogram::with_opts(
                HistogramOpts::new(
                    "allot_publish_latency_seconds",
                    "Wall time from reading an input record to publishing the availability \
                     it changed (includes coalescing).",
                )
                .buckets(vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                ]),
            )
            .expect("valid metric"),
            sourcing: IntCounterVec::new(
                Opts::new(
                    "allot_sourcing_total",
                    "What sourcing did, by event: orders decided, modifications, order \
                     lines allocated / backordered / rejected, price mismatches, orders \
                     replanned, reservations consumed / released / expired.",
                ),
                &["event"],
            )
            .expect("valid metric"),
            sourcing_batch: Histogram::with_opts(
                HistogramOpts::new(
                    "allot_sourcing_batch_seconds",
                    "Wall time of one sourcing batch: planning, committing, writing the \
                     reservations back to availability and building the decisions.",
                )
                .buckets(vec![
                    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                    0.5, 1.0,
                ]),
            )
            .expect("valid metric"),
            sourcing_batch_orders: Histogram::with_opts(
                HistogramOpts::new(
                    "allot_sourcing_batch_orders",
                    "Orders (and modifications) decided per sourcing batch.",
                )
                .buckets(vec![1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0]),
            )
            .expect("valid metric"),
            rebalance_pause: HistogramVec::new(
                HistogramOpts::new(
                    "allot_rebalance_pause_seconds",
                    "Wall time from a rebalance callback (partitions assigned, revoked or \
                     lost) to the first input record processed after it, per rebalance (on \
                     an idle instance this includes the wait for input).",
                )
                .buckets(vec![
                    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                ]),
                &["cause"],
            )
            .expect("valid metric"),
            transaction_commit: Histogram::with_opts(
                HistogramOpts::new(
                    "allot_transaction_commit_seconds",
                    "Wall time of committing one Kafka transaction (exactly-once): offsets \
                     sent, every message of it delivered, the commit confirmed.",
                )
                .buckets(vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                ]),
            )
            .expect("valid metric"),
        }
    }

    /// Records one rebalance pause (seconds) opened by `cause`: `assigned`, `revoked` or
    /// `lost`.
    pub fn rebalance_pause(&self, cause: &str, seconds: f64) {
        self.rebalance_pause
            .with_label_values(&[cause])
            .observe(seconds);
    }

    /// Records one committed transaction that took `seconds`.
    pub fn transaction_committed(&self, seconds: f64) {
        self.transaction_commit.observe(seconds);
    }

    /// Rebalance pauses recorded for `cause` so far.
    pub fn rebalance_pauses(&self, cause: &str) -> u64 {
        self.rebalance_pause
            .with_label_values(&[cause])
            .get_sample_count()
    }

    /// Moves the sourcing counters from `before` to `now` (the processor's totals).
    pub fn sourcing(
        &self,
        before: &crate::sourcing::SourcingStats,
        now: &crate::sourcing::SourcingStats,
    ) {
        let pairs = [
            ("orders", before.orders, now.orders),
            ("modifications", before.modifications, now.modifications),
            ("line_allocated", before.allocated, now.allocated),
            ("line_backordered", before.backordered, now.backordered),
            ("line_rejected", before.rejected, now.rejected),
            (
                "price_mismatch",
                before.price_mismatches,
                now.price_mismatches,
            ),
            ("replanned", before.replanned, now.replanned),
            (
                "duplicate_order",
                before.duplicate_orders,
                now.duplicate_orders,
            ),
            ("reservation_consumed", before.consumed, now.consumed),
            ("reservation_released", before.released, now.released),
            ("reservation_expired", before.expired, now.expired),
        ];
        for (event, b, n) in pairs {
            if n > b {
                self.sourcing.with_label_values(&[event]).inc_by(n - b);
            }
        }
    }

    /// Counts one sourcing batch of `orders` that took `seconds`.
    pub fn sourcing_batch(&self, orders: u64, seconds: f64) {
        self.sourcing_batch.observe(seconds);
        self.sourcing_batch_orders.observe(orders as f64);
    }

    /// Sourcing batches counted so far, and the orders they decided.
    pub fn sourcing_batches(&self) -> (u64, u64) {
        (
            self.sourcing_batch.get_sample_count(),
            self.sourcing_batch_orders.get_sample_sum() as u64,
        )
    }

    /// Sourcing events counted so far (see [`sourcing`](Self::sourcing)).
    pub fn sourcing_total(&self, event: &str) -> u64 {
        self.sourcing.with_label_values(&[event]).get()
    }

    /// Counts one applied record.
    pub fn applied(&self, topic: Topic, outcome: &Applied) {
        let label = match outcome {
            Applied::Accepted => "accepted",
            Applied::Duplicate => "duplicate",
            Applied::Refused(..) => "refused",
        };
        self.applied.with_label_values(&[topic.name(), label]).inc();
    }

    /// Records applied of `topic` with `outcome` so far.
    pub fn applied_total(&self, topic: Topic, outcome: &str) -> u64 {
        self.applied
            .with_label_values(&[topic.name(), outcome])
            .get()
    }

    /// Counts published availability messages.
    pub fn published(&self, n: usize) {
        self.published.inc_by(n as u64);
    }

    /// Sets the state size.
    pub fn set_positions(&self, n: usize) {
        self.positions.set(n as i64);
    }

    /// Records the latency of one flush (seconds).
    pub fn publish_latency(&self, seconds: f64) {
        self.publish_latency.observe(seconds);
    }
}
