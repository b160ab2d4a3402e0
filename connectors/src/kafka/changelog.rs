//! Changelog topics: compacted topics of allot's own state (raw bytes, not Avro), written
//! beside the outputs and read back whole to restore the state after a restart.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::{KafkaConfig, KafkaError};

/// The Kafka topic name of the changelog called `name` in `config`'s deployment.
pub fn changelog_topic(config: &KafkaConfig, name: &str) -> String {
    format!("{}allot.changelog.{name}", config.topic_prefix)
}

/// A consumer of committed records only, outside any group (nothing is committed; the
/// group id, `<group_id>-<role>`, only names it), for reading changelog-format topics.
fn committed_reader<C: rdkafka::config::FromClientConfig>(
    config: &KafkaConfig,
    role: &str,
) -> Result<C, KafkaError> {
    config
        .consumer_config()
        .set("group.id", format!("{}-{role}", config.group_id))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()
        .map_err(|source| KafkaError::Client {
            client: "consumer",
            source,
        })
}

/// Calls `request` until it succeeds, fails for good, or `deadline` passes. Retried: what
/// every Kafka call retries ([`KafkaError::action`]), and an unknown topic or partition: a
/// topic created a moment ago has no leader or no metadata yet for a few hundred
/// milliseconds, which is not a reason to fail a restore.
fn transient_retry<T>(
    deadline: Instant,
    mut request: impl FnMut() -> rdkafka::error::KafkaResult<T>,
) -> Result<T, KafkaError> {
    use rdkafka::error::RDKafkaErrorCode as Code;
    loop {
        let source = match request() {
            Ok(v) => return Ok(v),
            Err(source) => source,
        };
        let unknown = matches!(
            source.rdkafka_error_code(),
            Some(Code::UnknownTopicOrPartition | Code::UnknownPartition | Code::UnknownTopic)
        );
        let error = KafkaError::Consume { source };
        if (unknown || error.action() == crate::ErrorAction::Retry) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        return Err(error);
    }
}

/// What [`read_changelog`] read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangelogRead {
    /// Records handed to the callback (tombstones included).
    pub records: u64,
    /// Their key and value bytes.
    pub bytes: u64,
    /// Per partition, the end it was read to (its high watermark when the read began): the
    /// offset the next read starts from to see only what was written after this one.
    pub ends: BTreeMap<i32, i64>,
}

/// Reads every committed record of `topic` (all partitions, from `from`'s offset where it
/// names one, else the beginning, to the end as it is when called) and hands each
/// `(key, value)` to `apply` (`None`: a tombstone), in offset order per partition.
/// Blocking; call it from a blocking task. Transactions left open by a crashed writer must
/// have been aborted first (a new transactional producer of the same id does that), or the
/// read waits for them up to `timeout`. An offset in `from` past its partition's end, or for
/// a partition the topic does not have, is an error (`from` belongs to another topic, e.g.
/// one deleted and created again): nothing is read.
pub fn read_changelog(
    config: &KafkaConfig,
    topic: &str,
    from: &BTreeMap<i32, i64>,
    timeout: Duration,
    apply: impl FnMut(&[u8], Option<&[u8]>) -> Result<(), String>,
) -> Result<ChangelogRead, KafkaError> {
    read_changelog_partitions(config, topic, None, from, timeout, apply)
}

/// [`read_changelog`] of the partitions in `only` (all when `None`): a partitioned
/// changelog restored one sku partition at a time. A partition in `only` that the topic
/// does not have is an error, as one in `from` is.
pub fn read_changelog_partitions(
    config: &KafkaConfig,
    topic: &str,
    only: Option<&[i32]>,
    from: &BTreeMap<i32, i64>,
    timeout: Duration,
    mut apply: impl FnMut(&[u8], Option<&[u8]>) -> Result<(), String>,
) -> Result<ChangelogRead, KafkaError> {
    let consumer: BaseConsumer = committed_reader(config, "restore")?;
    let deadline = Instant::now() + timeout;
    let metadata = transient_retry(deadline, || consumer.fetch_metadata(Some(topic), timeout))?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    let stale = |partition: i32, reason: String| KafkaError::Restore {
        topic: topic.to_owned(),
        partition,
        offset: from.get(&partition).copied().unwrap_or(-1),
        reason,
    };
    if let Some(p) = from
        .keys()
        .chain(only.unwrap_or_default())
        .find(|p| !partitions.contains(p))
    {
        return Err(stale(
            *p,
            format!(
                "the start offsets name partition {p}, which the topic does not have ({} \
                 partitions)",
                partitions.len()
            ),
        ));
    }
    let partitions: Vec<i32> = match only {
        Some(only) => partitions
            .into_iter()
            .filter(|p| only.contains(p))
            .collect(),
        None => partitions,
    };
    let mut read = ChangelogRead::default();
    let mut ends = Vec::new();
    let mut tpl = TopicPartitionList::new();
    for &p in &partitions {
        let (low, high) =
            transient_retry(deadline, || consumer.fetch_watermarks(topic, p, timeout))?;
        read.ends.insert(p, high);
        let start = match from.get(&p) {
            Some(&o) if o > high => {
                return Err(stale(
                    p,
                    format!("the start offset {o} is past the partition's end {high}"),
                ));
            }
            Some(&o) => o.max(low),
            None => low,
        };
        if high > start {
            ends.push((p, high));
            tpl.add_partition_offset(topic, p, Offset::Offset(start))
                .map_err(|source| KafkaError::Consume { source })?;
        }
    }
    if ends.is_empty() {
        return Ok(read);
    }
    consumer
        .assign(&tpl)
        .map_err(|source| KafkaError::Consume { source })?;
    let mut quiet_since = Instant::now();
    loop {
        // Done when every partition's position has reached the end it had (control records
        // of transactions move the position without a message).
        let positions = consumer
            .position()
            .map_err(|source| KafkaError::Consume { source })?;
        let done = ends.iter().all(|&(p, end)| {
            matches!(
                positions.find_partition(topic, p).map(|e| e.offset()),
                Some(Offset::Offset(o)) if o >= end
            )
        });
        if done {
            return Ok(read);
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let key = m.key().unwrap_or_default();
                read.records += 1;
                read.bytes += (key.len() + m.payload().map_or(0, <[u8]>::len)) as u64;
                apply(key, m.payload()).map_err(|reason| KafkaError::Restore {
                    topic: topic.to_owned(),
                    partition: m.partition(),
                    offset: m.offset(),
                    reason,
                })?;
                quiet_since = Instant::now();
            }
            Some(Err(source)) => return Err(KafkaError::Consume { source }),
            None => {}
        }
        if Instant::now() > deadline {
            return Err(KafkaError::Restore {
                topic: topic.to_owned(),
                partition: -1,
                offset: -1,
                reason: format!(
                    "the changelog was not read to its end within {timeout:?} ({} records read, \
                     nothing new for {:?}); is a transaction of another writer still open?",
                    read.records,
                    quiet_since.elapsed()
                ),
            });
        }
    }
}

/// How many partitions `topic` has (0 if it does not exist). Blocking.
pub fn partition_count(
    config: &KafkaConfig,
    topic: &str,
    timeout: Duration,
) -> Result<usize, KafkaError> {
    let consumer: BaseConsumer =
        config
            .consumer_config()
            .create()
            .map_err(|source| KafkaError::Client {
                client: "consumer",
                source,
            })?;
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(|source| KafkaError::Consume { source })?;
    Ok(metadata
        .topics()
        .iter()
        .filter(|t| t.error().is_none())
        .map(|t| t.partitions().len())
        .sum())
}

/// A reader that keeps following some partitions of a changelog-format topic from given
/// offsets (committed records only, outside any group, nothing committed): the feeds
/// between partitioned state's stages, read on after [`read_changelog`] read them to an end.
pub struct ChangelogFollower {
    consumer: rdkafka::consumer::StreamConsumer,
    topic: String,
}

impl ChangelogFollower {
    /// Follows `topic` from `from` (per partition; partitions not named are not read).
    pub fn new(
        config: &KafkaConfig,
        topic: &str,
        from: &BTreeMap<i32, i64>,
    ) -> Result<ChangelogFollower, KafkaError> {
        let consumer: rdkafka::consumer::StreamConsumer = committed_reader(config, "follow")?;
        let mut tpl = TopicPartitionList::new();
        for (&p, &o) in from {
            tpl.add_partition_offset(topic, p, Offset::Offset(o))
                .map_err(|source| KafkaError::Consume { source })?;
        }
        consumer
            .assign(&tpl)
            .map_err(|source| KafkaError::Consume { source })?;
        Ok(ChangelogFollower {
            consumer,
            topic: topic.to_owned(),
        })
    }

    /// The topic followed.
    pub fn topic(&self) -> &str {
        &self.topic
    }
}

impl std::fmt::Debug for ChangelogFollower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangelogFollower")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl ChangelogFollower {
    /// The next record `(partition, key, value)` (`None`: a tombstone). Waits out the
    /// brokers being away (librdkafka reconnects and fetching resumes where it was); other
    /// errors are returned.
    pub async fn next(&self) -> Result<(i32, Vec<u8>, Option<Vec<u8>>), KafkaError> {
        loop {
            match self.consumer.recv().await {
                Ok(m) => {
                    return Ok((
                        m.partition(),
                        m.key().unwrap_or_default().to_vec(),
                        m.payload().map(<[u8]>::to_vec),
                    ));
                }
                Err(source) => {
                    let error = KafkaError::Consume { source };
                    if error.action() != crate::ErrorAction::Retry {
                        return Err(error);
                    }
                    tracing::warn!("{error}; waiting for the brokers");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }
}
