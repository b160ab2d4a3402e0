//! [`KafkaConfig`]: where the brokers are, who allot is to them, how its topics are named and
//! created, and the librdkafka settings of its producers and consumers.

use std::collections::BTreeMap;

use allot_schemas::Topic;
use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};

/// Kafka settings shared by the sink, the source and topic admin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Comma-separated `host:port` list of brokers to bootstrap from (`bootstrap.servers`).
    #[serde(default = "KafkaConfig::default_bootstrap_servers")]
    pub bootstrap_servers: String,
    /// Names this instance to the brokers (`client.id`); also the `source` of the dead
    /// letters it writes.
    #[serde(default = "KafkaConfig::default_client_id")]
    pub client_id: String,
    /// The consumer group; instances with the same group share the input partitions.
    #[serde(default = "KafkaConfig::default_group_id")]
    pub group_id: String,
    /// Prepended to every topic name (`allot.orders` becomes `<prefix>allot.orders`), to run
    /// several deployments (or tests) on one cluster. Letters, digits, `.`, `_`, `-` only.
    #[serde(default)]
    pub topic_prefix: String,
    /// Partitions of each topic [`ensure_topics`](super::ensure_topics) creates. Inputs keyed
    /// by sku are co-partitioned, so all topics get the same count; it bounds the parallelism
    /// of a consumer group.
    #[serde(default = "KafkaConfig::default_partitions")]
    pub partitions: i32,
    /// Replicas of each topic created (1 for a single broker, 3 in production).
    #[serde(default = "KafkaConfig::default_replication_factor")]
    pub replication_factor: i32,
    /// How often librdkafka reports statistics, from which `allot_consumer_lag` is set;
    /// 0 turns them (and the lag metric) off.
    #[serde(default = "KafkaConfig::default_statistics_interval_ms")]
    pub statistics_interval_ms: u64,
    /// Extra librdkafka properties (`"linger.ms" = "20"`, `"security.protocol" = "SSL"`, ...),
    /// applied to every client after allot's own, so they win.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            bootstrap_servers: Self::default_bootstrap_servers(),
            client_id: Self::default_client_id(),
            group_id: Self::default_group_id(),
            topic_prefix: String::new(),
            partitions: Self::default_partitions(),
            replication_factor: Self::default_replication_factor(),
            statistics_interval_ms: Self::default_statistics_interval_ms(),
            properties: BTreeMap::new(),
        }
    }
}

impl KafkaConfig {
    fn default_bootstrap_servers() -> String {
        "127.0.0.1:9092".into()
    }
    fn default_client_id() -> String {
        "allot".into()
    }
    fn default_group_id() -> String {
        "allot".into()
    }
    fn default_partitions() -> i32 {
        6
    }
    fn default_replication_factor() -> i32 {
        1
    }
    fn default_statistics_interval_ms() -> u64 {
        5_000
    }

    /// Refuses settings that cannot work, saying what to change.
    pub fn validate(&self) -> Result<(), String> {
        if self.bootstrap_servers.trim().is_empty() {
            return Err("kafka.bootstrap_servers is empty: give at least one host:port".into());
        }
        if self.client_id.is_empty() || self.group_id.is_empty() {
            return Err("kafka.client_id and kafka.group_id must not be empty".into());
        }
        if !self
            .topic_prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err(format!(
                "kafka.topic_prefix {:?} may hold only ASCII letters, digits, '.', '_' and '-'",
                self.topic_prefix
            ));
        }
        if self.partitions < 1 {
            return Err(format!(
                "kafka.partitions is {}; it must be at least 1",
                self.partitions
            ));
        }
        if self.replication_factor < 1 {
            return Err(format!(
                "kafka.replication_factor is {}; it must be at least 1",
                self.replication_factor
            ));
        }
        Ok(())
    }

    /// The Kafka topic name of `topic` in this deployment.
    pub fn topic_name(&self, topic: Topic) -> String {
        format!("{}{}", self.topic_prefix, topic.name())
    }

    /// The allot topic a Kafka topic name of this deployment stands for.
    pub fn topic_of(&self, name: &str) -> Option<Topic> {
        let name = name.strip_prefix(&self.topic_prefix)?;
        Topic::ALL.into_iter().find(|t| t.name() == name)
    }

    fn base(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap_servers)
            .set("client.id", &self.client_id);
        c
    }

    fn with_properties(&self, mut c: ClientConfig) -> ClientConfig {
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        c
    }

    /// Settings of the sink's producer: idempotent (no duplicates or reordering on retry),
    /// acknowledged by all in-sync replicas, LZ4, a 1 ms linger (a flush enqueues its messages
    /// at once, so batching needs no wait; 5 ms cost every availability message 5 ms), and a 30 s
    /// delivery timeout so a failure surfaces instead of waiting for librdkafka's 5 minutes.
    pub fn producer_config(&self) -> ClientConfig {
        let mut c = self.base();
        c.set("enable.idempotence", "true")
            .set("acks", "all")
            .set("compression.type", "lz4")
            .set("linger.ms", "1")
            .set("message.timeout.ms", "30000");
        self.with_properties(c)
    }

    /// Settings of the source's consumer: in the group, reading only committed transactional
    /// output, from the earliest offset for a new group, committing only the offsets the
    /// application acknowledged (`enable.auto.offset.store=false`).
    ///
    /// Assignment is `range` with the classic (eager) protocol: partition `p` of every input
    /// topic goes to the same member, which is what co-partitioning by sku needs (one member
    /// owns all state of a sku). `cooperative-sticky` balances the partition count across
    /// all topics instead, so a sku's receipts and sales could land on different members; its
    /// gain, that unmoved partitions keep flowing during a rebalance, does not outweigh that.
    /// The price of eager: every partition pauses for the rebalance (measured in
    /// BENCHMARKS.md). Heartbeats every second, so members notice a rebalance within a second
    /// rather than librdkafka's default three.
    pub fn consumer_config(&self) -> ClientConfig {
        let mut c = self.base();
        c.set("group.id", &self.group_id)
            .set("partition.assignment.strategy", "range")
            .set("heartbeat.interval.ms", "1000")
            .set("isolation.level", "read_committed")
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "true")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false")
            .set(
                "statistics.interval.ms",
                self.statistics_interval_ms.to_string(),
            );
        self.with_properties(c)
    }

    /// Settings of the admin client.
    pub fn admin_config(&self) -> ClientConfig {
        self.with_properties(self.base())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_unknown_fields() {
        let c: KafkaConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c, KafkaConfig::default());
        assert_eq!(c.bootstrap_servers, "127.0.0.1:9092");
        assert!(c.validate().is_ok());
        let c: KafkaConfig =
            serde_json::from_str(r#"{"topic_prefix": "t1.", "properties": {"linger.ms": "50"}}"#)
                .unwrap();
        assert_eq!(c.properties["linger.ms"], "50");
        assert!(serde_json::from_str::<KafkaConfig>(r#"{"bootstrap": "x:1"}"#).is_err());
    }

    #[test]
    fn validate_names_the_setting() {
        let check = |c: KafkaConfig, field: &str| {
            let e = c.validate().unwrap_err();
            assert!(e.contains(field), "{e}");
        };
        let ok = KafkaConfig::default();
        check(
            KafkaConfig {
                bootstrap_servers: " ".into(),
                ..ok.clone()
            },
            "kafka.bootstrap_servers",
        );
        check(
            KafkaConfig {
                topic_prefix: "a/b".into(),
                ..ok.clone()
            },
            "kafka.topic_prefix",
        );
        check(
            KafkaConfig {
                partitions: 0,
                ..ok.clone()
            },
            "kafka.partitions",
        );
        check(
            KafkaConfig {
                replication_factor: 0,
                ..ok
            },
            "kafka.replication_factor",
        );
    }

    #[test]
    fn prefixed_names_map_back_to_topics() {
        let c = KafkaConfig {
            topic_prefix: "t-42.".into(),
            ..Default::default()
        };
        for topic in Topic::ALL {
            assert_eq!(c.topic_of(&c.topic_name(topic)), Some(topic));
        }
        assert_eq!(c.topic_name(Topic::Orders), "t-42.allot.orders");
        assert_eq!(
            c.topic_of("allot.orders"),
            None,
            "another deployment's topic"
        );
        assert_eq!(
            c.topic_of("t-42.orders"),
            None,
            "a schema folder name is no topic"
        );
    }

    #[test]
    fn user_properties_override_allot_defaults() {
        let mut c = KafkaConfig::default();
        c.properties.insert("linger.ms".into(), "50".into());
        c.properties
            .insert("isolation.level".into(), "read_uncommitted".into());
        assert_eq!(c.producer_config().get("linger.ms"), Some("50"));
        assert_eq!(c.producer_config().get("enable.idempotence"), Some("true"));
        assert_eq!(
            c.consumer_config().get("isolation.level"),
            Some("read_uncommitted")
        );
        assert_eq!(c.consumer_config().get("group.id"), Some("allot"));
        assert_eq!(
            c.consumer_config().get("partition.assignment.strategy"),
            Some("range")
        );
    }
}
