//! Every Prometheus metric the connectors promise, registered once into a caller's
//! [`Registry`] and shared (cheap clones) by every source and sink.
//!
//! | metric | labels | moved by |
//! |---|---|---|
//! | `allot_events_consumed_total` | `topic` | Kafka source, file readers: each record decoded |
//! | `allot_events_produced_total` | `topic` | Kafka sink: each delivery acknowledged; file writers: each record written |
//! | `allot_dead_letters_total` | `topic`, `kind` | every record sent to the dead-letter destination |
//! | `allot_consumer_lag` | `topic`, `partition` | Kafka source, from librdkafka statistics |
//! | `allot_rebalances_total` | `event` | Kafka source: partitions `assigned`, `revoked` or `lost` in a rebalance |
//! | `allot_clickhouse_rows_inserted_total` | `table` | ClickHouse sink: rows of each committed batch |
//!
//! `topic` is the logical topic name ([`Topic::name`], without a deployment prefix), so
//! dashboards do not depend on the prefix. Per-topic counters are resolved once, at
//! construction, so the hot path does no label lookup.

use std::sync::Arc;

use allot_schemas::{DeadLetterKind, Topic};
use prometheus::{IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry};

/// Handles to every connector metric. Clone it into each component; all clones update the same
/// series.
#[derive(Clone, Debug)]
pub struct ConnectorMetrics {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    consumed: [IntCounter; Topic::ALL.len()],
    produced: [IntCounter; Topic::ALL.len()],
    dead_letters: IntCounterVec,
    consumer_lag: IntGaugeVec,
    rows_inserted: IntCounterVec,
    rebalances: IntCounterVec,
}

fn index(topic: Topic) -> usize {
    topic as usize
}

impl ConnectorMetrics {
    /// Creates the metrics and registers them into `registry`. Call it once per registry: a
    /// second call fails with `AlreadyReg`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let consumed = IntCounterVec::new(
            Opts::new(
                "allot_events_consumed_total",
                "Records read and decoded, per topic.",
            ),
            &["topic"],
        )?;
        let produced = IntCounterVec::new(
            Opts::new(
                "allot_events_produced_total",
                "Records written (Kafka: delivery acknowledged), per topic.",
            ),
            &["topic"],
        )?;
        let dead_letters = IntCounterVec::new(
            Opts::new(
                "allot_dead_letters_total",
                "Records refused and sent to the dead-letter destination, per source topic and kind.",
            ),
            &["topic", "kind"],
        )?;
        let consumer_lag = IntGaugeVec::new(
            Opts::new(
                "allot_consumer_lag",
                "Messages between the consumer's position and the partition's high watermark.",
            ),
            &["topic", "partition"],
        )?;
        let rows_inserted = IntCounterVec::new(
            Opts::new(
                "allot_clickhouse_rows_inserted_total",
                "Rows inserted into ClickHouse, per table (a replayed batch counts again).",
            ),
            &["table"],
        )?;
        let rebalances = IntCounterVec::new(
            Opts::new(
                "allot_rebalances_total",
                "Consumer-group rebalance callbacks of this member, by event (assigned, revoked, \
                 lost).",
            ),
            &["event"],
        )?;
        registry.register(Box::new(rebalances.clone()))?;
        registry.register(Box::new(consumed.clone()))?;
        registry.register(Box::new(produced.clone()))?;
        registry.register(Box::new(dead_letters.clone()))?;
        registry.register(Box::new(consumer_lag.clone()))?;
        registry.register(Box::new(rows_inserted.clone()))?;
        let per_topic =
            |vec: &IntCounterVec| Topic::ALL.map(|t| vec.with_label_values(&[t.name()]));
        Ok(Self {
            inner: Arc::new(Inner {
                consumed: per_topic(&consumed),
                produced: per_topic(&produced),
                dead_letters,
                consumer_lag,
                rows_inserted,
                rebalances,
            }),
        })
    }

    /// Metrics registered into a private registry nobody scrapes: for tools and tests that
    /// need a sink or source but not its numbers.
    pub fn unregistered() -> Self {
        Self::register(&Registry::new()).expect("a fresh registry accepts every metric")
    }

    /// Counts one record of `topic` read and decoded.
    pub fn consumed(&self, topic: Topic) {
        self.inner.consumed[index(topic)].inc();
    }

    /// Records read and decoded so far for `topic`.
    pub fn consumed_total(&self, topic: Topic) -> u64 {
        self.inner.consumed[index(topic)].get()
    }

    /// Counts one rebalance callback: `assigned`, `revoked` or `lost`.
    pub fn rebalance(&self, event: &'static str) {
        self.inner.rebalances.with_label_values(&[event]).inc();
    }

    /// Rebalance callbacks of `event` so far.
    pub fn rebalances_total(&self, event: &str) -> u64 {
        self.inner.rebalances.with_label_values(&[event]).get()
    }

    /// Counts one record of `topic` written.
    pub fn produced(&self, topic: Topic) {
        self.inner.produced[index(topic)].inc();
    }

    /// Records written so far for `topic`.
    pub fn produced_total(&self, topic: Topic) -> u64 {
        self.inner.produced[index(topic)].get()
    }

    /// Counts one dead letter from `topic` (the logical name, or a raw name for a topic
    /// allot does not know).
    pub fn dead_letter(&self, topic: &str, kind: DeadLetterKind) {
        self.inner
            .dead_letters
            .with_label_values(&[topic, kind_label(kind)])
            .inc();
    }

    /// Dead letters so far from `topic` of `kind`.
    pub fn dead_letters_total(&self, topic: &str, kind: DeadLetterKind) -> u64 {
        self.inner
            .dead_letters
            .with_label_values(&[topic, kind_label(kind)])
            .get()
    }

    /// Sets the consumer lag of one partition.
    pub fn set_consumer_lag(&self, topic: &str, partition: i32, lag: i64) {
        let partition = partition.to_string();
        self.inner
            .consumer_lag
            .with_label_values(&[topic, &partition])
            .set(lag);
    }

    /// The last consumer lag seen for one partition, if any.
    pub fn consumer_lag(&self, topic: &str, partition: i32) -> Option<i64> {
        let partition = partition.to_string();
        self.inner
            .consumer_lag
            .get_metric_with_label_values(&[topic, &partition])
            .ok()
            .map(|g| g.get())
    }

    /// Counts `rows` inserted into `table`.
    pub fn rows_inserted(&self, table: &str, rows: u64) {
        self.inner
            .rows_inserted
            .with_label_values(&[table])
            .inc_by(rows);
    }

    /// Rows inserted so far into `table`.
    pub fn rows_inserted_total(&self, table: &str) -> u64 {
        self.inner.rows_inserted.with_label_values(&[table]).get()
    }
}

/// The `kind` label of a dead letter: the Avro enum symbol.
pub fn kind_label(kind: DeadLetterKind) -> &'static str {
    match kind {
        DeadLetterKind::Decode => "DECODE",
        DeadLetterKind::UnknownSchema => "UNKNOWN_SCHEMA",
        DeadLetterKind::Validation => "VALIDATION",
        DeadLetterKind::UnknownReference => "UNKNOWN_REFERENCE",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::Encoder;

    fn text(registry: &Registry) -> String {
        let mut out = Vec::new();
        prometheus::TextEncoder::new()
            .encode(&registry.gather(), &mut out)
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    fn check(registry: &Registry, expected_line: &str) {
        let text = text(registry);
        assert!(
            text.lines().any(|l| l == expected_line),
            "missing line {expected_line:?} in\n{text}"
        );
    }

    #[test]
    fn every_metric_is_exported_with_its_labels() {
        let registry = Registry::new();
        let m = ConnectorMetrics::register(&registry).unwrap();
        m.consumed(Topic::Orders);
        m.consumed(Topic::Orders);
        m.produced(Topic::Availability);
        m.dead_letter("allot.orders", DeadLetterKind::UnknownSchema);
        m.set_consumer_lag("allot.orders", 3, 42);
        m.rows_inserted("pos_sales_lines", 7);
        check(
            &registry,
            r#"allot_events_consumed_total{topic="allot.orders"} 2"#,
        );
        check(
            &registry,
            r#"allot_events_consumed_total{topic="allot.receipts"} 0"#,
        );
        check(
            &registry,
            r#"allot_events_produced_total{topic="allot.availability"} 1"#,
        );
        check(
            &registry,
            r#"allot_dead_letters_total{kind="UNKNOWN_SCHEMA",topic="allot.orders"} 1"#,
        );
        check(
            &registry,
            r#"allot_consumer_lag{partition="3",topic="allot.orders"} 42"#,
        );
        check(
            &registry,
            r#"allot_clickhouse_rows_inserted_total{table="pos_sales_lines"} 7"#,
        );
        assert_eq!(m.consumed_total(Topic::Orders), 2);
        assert_eq!(m.consumer_lag("allot.orders", 3), Some(42));
    }

    #[test]
    fn clones_share_series_and_a_second_registration_is_refused() {
        let registry = Registry::new();
        let m = ConnectorMetrics::register(&registry).unwrap();
        let clone = m.clone();
        clone.produced(Topic::PosSales);
        assert_eq!(m.produced_total(Topic::PosSales), 1);
        assert!(ConnectorMetrics::register(&registry).is_err());
    }
}
