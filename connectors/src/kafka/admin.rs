//! Topic admin: create allot's topics (idempotently) and delete them.

use std::time::Duration;

use allot_schemas::{Retention, Topic};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError as RdKafkaError, RDKafkaErrorCode};

use super::{KafkaConfig, KafkaError};

const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);

fn admin(config: &KafkaConfig) -> Result<AdminClient<DefaultClientContext>, KafkaError> {
    config.validate().map_err(KafkaError::Config)?;
    config
        .admin_config()
        .create()
        .map_err(|source| KafkaError::Client {
            client: "admin client",
            source,
        })
}

/// Creates the Kafka topics of `topics` that do not exist yet, with `config.partitions`
/// partitions and `config.replication_factor` replicas; compacted topics
/// ([`Retention::Compacted`]) get `cleanup.policy=compact`. Topics that already exist are left
/// as they are (their partition count is not changed). Returns the names created.
pub async fn ensure_topics(
    config: &KafkaConfig,
    topics: &[Topic],
) -> Result<Vec<String>, KafkaError> {
    let client = admin(config)?;
    let names: Vec<(String, Topic)> = topics.iter().map(|t| (config.topic_name(*t), *t)).collect();
    let new: Vec<NewTopic<'_>> = names
        .iter()
        .map(|(name, topic)| {
            let t = NewTopic::new(
                name,
                config.partitions,
                TopicReplication::Fixed(config.replication_factor),
            );
            match topic.retention() {
                Retention::Compacted => t.set("cleanup.policy", "compact"),
                Retention::Events => t.set("cleanup.policy", "delete"),
            }
        })
        .collect();
    let created = create(&client, &new).await?;
    if !created.is_empty() {
        tracing::info!(topics = ?created, partitions = config.partitions, "created Kafka topics");
    }
    Ok(created)
}

/// Deletes the Kafka topics of `topics` (missing ones are ignored). For tests and resets.
/// Creates `new` topics, leaving those that exist; returns the names created.
async fn create(
    client: &AdminClient<DefaultClientContext>,
    new: &[NewTopic<'_>],
) -> Result<Vec<String>, KafkaError> {
    let options = AdminOptions::new().operation_timeout(Some(ADMIN_TIMEOUT));
    let results = client
        .create_topics(new, &options)
        .await
        .map_err(|source| KafkaError::Admin {
            operation: "create",
            topic: "*".into(),
            source,
        })?;
    let mut created = Vec::new();
    for result in results {
        match result {
            Ok(name) => created.push(name),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(KafkaError::Admin {
                    operation: "create",
                    topic: name,
                    source: RdKafkaError::AdminOp(code),
                });
            }
        }
    }
    Ok(created)
}

/// Creates the compacted topic `topic` (allot's own state, not one of the catalogue's) with
/// the deployment's partition count, unless it exists.
pub async fn ensure_changelog(config: &KafkaConfig, topic: &str) -> Result<(), KafkaError> {
    let client = admin(config)?;
    let new = NewTopic::new(
        topic,
        config.partitions,
        TopicReplication::Fixed(config.replication_factor),
    )
    .set("cleanup.policy", "compact");
    create(&client, &[new]).await?;
    Ok(())
}

pub async fn delete_topics(config: &KafkaConfig, topics: &[Topic]) -> Result<(), KafkaError> {
    let client = admin(config)?;
    let names: Vec<String> = topics.iter().map(|t| config.topic_name(*t)).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let options = AdminOptions::new().operation_timeout(Some(ADMIN_TIMEOUT));
    let results = client
        .delete_topics(&refs, &options)
        .await
        .map_err(|source| KafkaError::Admin {
            operation: "delete",
            topic: "*".into(),
            source,
        })?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
            Err((name, code)) => {
                return Err(KafkaError::Admin {
                    operation: "delete",
                    topic: name,
                    source: RdKafkaError::AdminOp(code),
                });
            }
        }
    }
    Ok(())
}
