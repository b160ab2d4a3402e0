//! What the end-to-end benchmark asks of the broker beyond producing and consuming: a plain
//! topic for the passthrough's output, how far a consumer group has committed against the
//! end of its input topics, and cleaning up the topics and groups a run made.

use std::sync::Arc;
use std::time::Duration;

use allot_connectors::kafka::KafkaConfig;
use allot_schemas::Topic;
use anyhow::Context;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

fn admin(config: &KafkaConfig) -> anyhow::Result<AdminClient<DefaultClientContext>> {
    config
        .admin_config()
        .create()
        .context("failed to create the Kafka admin client")
}

/// Creates a plain (delete-retention) topic named `name` with `config.partitions` partitions.
pub async fn create_topic(config: &KafkaConfig, name: &str) -> anyhow::Result<()> {
    let client = admin(config)?;
    let topic = NewTopic::new(
        name,
        config.partitions,
        TopicReplication::Fixed(config.replication_factor),
    );
    let options = AdminOptions::new().operation_timeout(Some(ADMIN_TIMEOUT));
    for result in client
        .create_topics([&topic], &options)
        .await
        .with_context(|| format!("failed to create topic {name}"))?
    {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => anyhow::bail!("failed to create topic {name}: {code}"),
        }
    }
    Ok(())
}

/// What a run created on the broker, deleted at the end unless the user keeps it.
#[derive(Debug, Default)]
pub struct Created {
    /// Deployments (a topic prefix each) whose allot topics were created.
    pub deployments: Vec<KafkaConfig>,
    /// Plain topics created by name.
    pub topics: Vec<String>,
    /// Consumer groups that committed offsets.
    pub groups: Vec<String>,
}

impl Created {
    /// Deletes everything listed; returns what could not be deleted, as messages.
    pub async fn delete(&self, base: &KafkaConfig) -> Vec<String> {
        let mut problems = Vec::new();
        for d in &self.deployments {
            if let Err(e) = allot_connectors::kafka::delete_topics(d, &Topic::ALL).await {
                problems.push(format!("topics {}*: {e:#}", d.topic_prefix));
            }
        }
        let client = match admin(base) {
            Ok(c) => c,
            Err(e) => {
                problems.push(format!("{e:#}"));
                return problems;
            }
        };
        let options = AdminOptions::new().operation_timeout(Some(ADMIN_TIMEOUT));
        if !self.topics.is_empty() {
            let names: Vec<&str> = self.topics.iter().map(String::as_str).collect();
            match client.delete_topics(&names, &options).await {
                Ok(results) => {
                    for r in results {
                        if let Err((name, code)) = r
                            && code != RDKafkaErrorCode::UnknownTopicOrPartition
                        {
                            problems.push(format!("topic {name}: {code}"));
                        }
                    }
                }
                Err(e) => problems.push(format!("topics {}: {e}", names.join(","))),
            }
        }
        if !self.groups.is_empty() {
            let names: Vec<&str> = self.groups.iter().map(String::as_str).collect();
            match client.delete_groups(&names, &options).await {
                Ok(results) => {
                    for r in results {
                        if let Err((name, code)) = r
                            && code != RDKafkaErrorCode::GroupIdNotFound
                        {
                            problems.push(format!("group {name}: {code}"));
                        }
                    }
                }
                Err(e) => problems.push(format!("groups {}: {e}", names.join(","))),
            }
        }
        problems
    }
}

/// How far a consumer group has got through a set of topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GroupProgress {
    /// Sum over the partitions of the committed offset (0 where none is committed).
    pub committed: u64,
    /// Sum over the partitions of the high watermark: the records there are (no
    /// transactions are used, so every offset is a record).
    pub end: u64,
}

impl GroupProgress {
    /// Whether the group has committed everything there is.
    pub fn caught_up(&self) -> bool {
        self.committed >= self.end
    }
}

/// Reads a group's committed offsets and the topics' end offsets, without joining the group.
#[derive(Clone)]
pub struct GroupWatch {
    consumer: Arc<BaseConsumer>,
    partitions: Arc<TopicPartitionList>,
}

impl std::fmt::Debug for GroupWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupWatch").finish_non_exhaustive()
    }
}

impl GroupWatch {
    /// Watches `config.group_id` on `topics` (each with `config.partitions` partitions).
    pub fn new(config: &KafkaConfig, topics: &[String]) -> anyhow::Result<GroupWatch> {
        let consumer: BaseConsumer = config
            .admin_config()
            .set("group.id", &config.group_id)
            .set("enable.auto.commit", "false")
            .create()
            .context("failed to create the offset watcher")?;
        let mut tpl = TopicPartitionList::new();
        for t in topics {
            for p in 0..config.partitions {
                tpl.add_partition(t, p);
            }
        }
        Ok(GroupWatch {
            consumer: Arc::new(consumer),
            partitions: Arc::new(tpl),
        })
    }

    /// The group's progress now (queries the broker on a blocking thread).
    pub async fn progress(&self) -> anyhow::Result<GroupProgress> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.progress_blocking())
            .await
            .context("the offset query panicked")?
    }

    /// The sum of the topics' end offsets only.
    pub async fn end(&self) -> anyhow::Result<u64> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.end_blocking())
            .await
            .context("the offset query panicked")?
    }

    fn end_blocking(&self) -> anyhow::Result<u64> {
        let mut end = 0u64;
        for e in self.partitions.elements() {
            let (_, high) = self
                .consumer
                .fetch_watermarks(e.topic(), e.partition(), QUERY_TIMEOUT)
                .with_context(|| {
                    format!("failed to read the end of {}[{}]", e.topic(), e.partition())
                })?;
            end += high.max(0) as u64;
        }
        Ok(end)
    }

    fn progress_blocking(&self) -> anyhow::Result<GroupProgress> {
        let committed = self
            .consumer
            .committed_offsets((*self.partitions).clone(), QUERY_TIMEOUT)
            .context("failed to read the committed offsets")?;
        let committed = committed
            .elements()
            .iter()
            .map(|e| match e.offset() {
                Offset::Offset(o) if o > 0 => o as u64,
                _ => 0,
            })
            .sum();
        Ok(GroupProgress {
            committed,
            end: self.end_blocking()?,
        })
    }
}
