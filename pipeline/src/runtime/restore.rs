//! `allot run`'s state across restarts: at start, restore from the local snapshot (if
//! `runtime.state_dir` holds one) and then the changelog from the offsets the snapshot
//! covers, or from the whole changelog; while running and at a graceful stop, write
//! snapshots.
//!
//! Invariant: a snapshot holds exactly the state the changelog has up to its offsets. It is
//! taken only right after a flush has written everything applied to the changelog, every
//! delivery is acknowledged and (exactly once) the transaction holding them is committed,
//! with nothing read in between; its offsets are the changelog partitions' ends as this
//! instance's acknowledged deliveries (and the restore before them) left them. A snapshot
//! that cannot be read, or whose offsets do not fit the changelog topic, is ignored with a
//! message and the state is restored from the whole changelog: snapshots are only a cache.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use allot_connectors::kafka::{
    ChangelogFollower, ChangelogRead, Consumed, KafkaError, KafkaSource, changelog_topic,
    ensure_changelog, partition_count, read_changelog, read_changelog_partitions,
};
use anyhow::Context;

use super::shards::shard_engine;
use super::{Acks, Changelog, Pipeline, Publisher};
use crate::availability::{AvailabilityEngine, ChangelogBatch, RestoreError};
use crate::config::AllotConfig;
use crate::snapshot::{self, ChangelogOffsets};

/// How long reading the changelog back may take.
const RESTORE_TIMEOUT: Duration = Duration::from_secs(300);

/// Applies one changelog record to the engine or to sourcing, by its key's kind.
fn restore_record(
    pipeline: &mut Pipeline,
    key: &[u8],
    value: Option<&[u8]>,
) -> Result<(), RestoreError> {
    let sourcing_record =
        crate::availability::changelog::parse_key(key).is_ok_and(|(kind, _)| kind.is_sourcing());
    if sourcing_record {
        pipeline.sourcing.restore(key, value)
    } else {
        pipeline.engine.restore(key, value)
    }
}

/// Reads `topic` from `from` (see [`read_changelog`]) into the pipeline. Reading blocks
/// (librdkafka), so this worker thread is handed over meanwhile; each record is applied as
/// it is read, not copied first (a changelog is as large as the state).
fn read_into(
    config: &AllotConfig,
    topic: &str,
    from: &BTreeMap<i32, i64>,
    pipeline: &mut Pipeline,
) -> Result<ChangelogRead, KafkaError> {
    tokio::task::block_in_place(|| {
        read_changelog(&config.kafka, topic, from, RESTORE_TIMEOUT, |key, value| {
            restore_record(pipeline, key, value).map_err(|e| {
                format!(
                    "{e}: the record is unreadable or was written under another availability \
                     config; fix the config, or delete the topic (and the snapshots in \
                     runtime.state_dir) to rebuild the state from the inputs"
                )
            })
        })
    })
}

/// Where the snapshot of `topic` lives in `config`'s state folder, if it has one.
fn snapshot_path(config: &AllotConfig, topic: &str) -> Option<PathBuf> {
    let dir = config.runtime.state_dir.as_ref()?;
    Some(dir.join(format!("{topic}.snap")))
}

/// The snapshot of sku partition `partition`, beside `base` (the unpartitioned one's path).
fn shard_path(base: &std::path::Path, partition: i32) -> PathBuf {
    base.with_extension(format!("p{partition}.snap"))
}

/// Reads partition `partition` of the changelog `topic` from `from` into `engine`. Blocking.
fn read_shard(
    config: &AllotConfig,
    topic: &str,
    partition: i32,
    from: &BTreeMap<i32, i64>,
    engine: &mut AvailabilityEngine,
) -> Result<ChangelogRead, KafkaError> {
    read_changelog_partitions(
        &config.kafka,
        topic,
        Some(&[partition]),
        from,
        RESTORE_TIMEOUT,
        |key, value| {
            engine.restore(key, value).map_err(|e| {
                format!(
                    "{e}: the record is unreadable or was written under another availability \
                     config or runtime.sku_partitions; fix the config, or delete the topic (and \
                     the snapshots in runtime.state_dir) to rebuild the state from the inputs"
                )
            })
        },
    )
}

/// Restores the engines of sku partitions `partitions` (partitioned state, on assignment),
/// several at a time on threads of their own (each reads its own changelog partition), and
/// adds them to the pipeline. Before any of their input is read, so each state is the one
/// its partition's committed offsets belong to.
pub(super) async fn restore_shards(
    config: &AllotConfig,
    pipeline: &mut Pipeline,
    publisher: &mut Publisher,
    partitions: &[i32],
) -> anyhow::Result<()> {
    let Some(changelog) = &publisher.changelog else {
        anyhow::bail!("partitioned state needs runtime.changelog");
    };
    let topic = changelog.topic.to_string();
    let count = pipeline.shards.as_ref().expect("partitioned").count;
    let tables = pipeline.tables.as_deref().unwrap_or_default();
    let at_once = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
    let mut restored = Vec::with_capacity(partitions.len());
    tokio::task::block_in_place(|| {
        for group in partitions.chunks(at_once) {
            std::thread::scope(|scope| {
                let threads: Vec<_> = group
                    .iter()
                    .map(|&p| {
                        let topic = &topic;
                        scope.spawn(move || (p, restore_shard(config, topic, count, tables, p)))
                    })
                    .collect();
                for t in threads {
                    restored.push(t.join().expect("a partition's restore panicked"));
                }
            });
        }
    });
    for (partition, result) in restored {
        let (mut engine, end) = result?;
        publisher.changelog_ends.insert(partition, end);
        // The sourcing stage's reservations of the partition's skus, as known now (units the
        // restored state holds that the stage no longer reserves go back to 0).
        if let Some(reserved) = &pipeline.reserved {
            let mut stale = Vec::new();
            engine.visit_reserved(|sku, loc, units| {
                if reserved.units_at(sku, loc) != units {
                    stale.push((sku.to_owned(), loc.to_owned()));
                }
            });
            for (sku, loc) in stale {
                engine.set_reserved(&sku, &loc, reserved.units_at(&sku, &loc));
            }
            let mine = |sku: &str| crate::partition::sku_partition(sku, count) as i32 == partition;
            reserved.visit(mine, |sku, loc, units| engine.set_reserved(sku, loc, units));
        }
        pipeline
            .shards
            .as_mut()
            .expect("partitioned")
            .engines
            .insert(partition, engine);
    }
    Ok(())
}

/// Restores the engine of sku partition `partition`: a fresh shard engine with the
/// reference records read so far, then its snapshot and partition `partition` of the
/// changelog after it, or the whole partition. Returns it with the end of the changelog
/// partition it read to. Blocking.
fn restore_shard(
    config: &AllotConfig,
    topic: &str,
    count: u32,
    tables: &[Consumed],
    partition: i32,
) -> anyhow::Result<(AvailabilityEngine, i64)> {
    let fresh = || shard_engine(config, count, tables, partition);
    let started = Instant::now();
    let mut engine = fresh();
    let mut from = BTreeMap::new();
    let mut from_snapshot = None;
    let path = snapshot_path(config, topic).map(|base| shard_path(&base, partition));
    if let Some(path) = path.filter(|p| p.exists()) {
        let mut records = 0u64;
        let read = snapshot::read(&path, |key, value| {
            records += 1;
            engine.restore(key, value)
        });
        match read {
            Ok(offsets) if offsets.keys().all(|p| *p as i32 == partition) => {
                from = offsets.into_iter().map(|(p, o)| (p as i32, o)).collect();
                from_snapshot = Some((records, started.elapsed().as_secs_f64()));
            }
            Ok(offsets) => {
                eprintln!(
                    "allot: not using the snapshot {}: it covers changelog partitions {:?}, not \
                     {partition}; restoring from the whole partition",
                    path.display(),
                    offsets.keys().collect::<Vec<_>>()
                );
                engine = fresh();
            }
            Err(e) => {
                eprintln!(
                    "allot: not using the snapshot: {e}; restoring partition {partition} from \
                     the whole changelog {topic}"
                );
                engine = fresh();
            }
        }
    }
    let mut read = read_shard(config, topic, partition, &from, &mut engine);
    if let Err(e) = &read
        && from_snapshot.is_some()
    {
        eprintln!(
            "allot: partition {partition} of the changelog {topic} does not continue the \
             snapshot ({e}); restoring from the whole partition"
        );
        engine = fresh();
        from_snapshot = None;
        read = read_shard(config, topic, partition, &BTreeMap::new(), &mut engine);
    }
    let read = read.with_context(|| {
        format!("failed to restore sku partition {partition} from the changelog {topic}")
    })?;
    if read.records > 0 || from_snapshot.is_some() {
        engine.restore_finish();
        engine.reset_pacing();
    }
    let snapshot = match from_snapshot {
        Some((records, secs)) => format!("a snapshot of {records} records ({secs:.2} s) and "),
        None => String::new(),
    };
    eprintln!(
        "allot: restored sku partition {partition}: {} positions from {snapshot}{} changelog \
         records ({:.1} MiB) in {:.2} s",
        engine.positions(),
        read.records,
        read.bytes as f64 / (1024.0 * 1024.0),
        started.elapsed().as_secs_f64()
    );
    Ok((engine, read.ends.get(&partition).copied().unwrap_or(0)))
}

/// Creates the changelog topic if needed and restores the pipeline (fresh, with `lanes`
/// lanes open): from the snapshot and the changelog after it, or from the whole changelog.
/// Runs before any input is read, so the state is the one the last committed offsets belong
/// to.
pub(super) async fn restore_changelog(
    config: &AllotConfig,
    pipeline: &mut Pipeline,
    lanes: u32,
) -> anyhow::Result<Changelog> {
    // The sourcing stage's state is sourcing's alone, in a changelog of its own.
    let name = match pipeline.stage {
        Some(_) => "sourcing",
        None => "availability",
    };
    let topic = changelog_topic(&config.kafka, name);
    let mut kafka = config.kafka.clone();
    let partitioned = config.runtime.sku_partitions > 0 && pipeline.stage.is_none();
    if partitioned {
        // Partition p of the changelog holds sku partition p.
        kafka.partitions = config.runtime.sku_partitions as i32;
    }
    ensure_changelog(&kafka, &topic)
        .await
        .with_context(|| format!("failed to create the changelog topic {topic}"))?;
    if let Some(dir) = &config.runtime.state_dir {
        std::fs::create_dir_all(dir).with_context(|| {
            format!(
                "failed to create runtime.state_dir {}; point it at a writable folder of this \
                 instance's own, or unset it",
                dir.display()
            )
        })?;
    }
    if partitioned {
        let n = tokio::task::block_in_place(|| {
            partition_count(&config.kafka, &topic, Duration::from_secs(10))
        })
        .with_context(|| format!("failed to read the partitions of {topic}"))?;
        anyhow::ensure!(
            n == config.runtime.sku_partitions as usize,
            "the changelog topic {topic} has {n} partitions but runtime.sku_partitions is {}; \
             they must be equal (partition p holds sku partition p): keep the sku_partitions \
             the topics were made with, or delete the bysku. and changelog topics and rebuild",
            config.runtime.sku_partitions
        );
        // Each partition is restored when it is assigned (`restore_shard`).
        return Ok(changelog_of(config, &topic, BTreeMap::new()));
    }
    let started = Instant::now();
    let mut from = BTreeMap::new();
    // (records, seconds) read from the snapshot, if one was used
    let mut from_snapshot = None;
    if let Some(path) = snapshot_path(config, &topic).filter(|p| p.exists()) {
        let mut records = 0u64;
        let read = tokio::task::block_in_place(|| {
            snapshot::read(&path, |key, value| {
                records += 1;
                restore_record(pipeline, key, value)
            })
        });
        match read {
            Ok(offsets) => {
                from = offsets.into_iter().map(|(p, o)| (p as i32, o)).collect();
                from_snapshot = Some((records, started.elapsed().as_secs_f64()));
            }
            Err(e) => {
                eprintln!(
                    "allot: not using the snapshot: {e}; restoring from the whole changelog {topic}"
                );
                pipeline.fresh_state(config, lanes)?;
            }
        }
    }
    let mut read = read_into(config, &topic, &from, pipeline);
    if let Err(e) = &read
        && from_snapshot.is_some()
    {
        eprintln!(
            "allot: the changelog {topic} does not continue the snapshot ({e}); restoring from \
             the whole changelog"
        );
        pipeline.fresh_state(config, lanes)?;
        from_snapshot = None;
        read = read_into(config, &topic, &BTreeMap::new(), pipeline);
    }
    let read = read.with_context(|| format!("failed to restore from the changelog {topic}"))?;
    if read.records > 0 || from_snapshot.is_some() {
        pipeline.engine.restore_finish();
        pipeline.engine.reset_pacing();
        pipeline
            .sourcing
            .restore_finish()
            .with_context(|| format!("failed to restore sourcing from the changelog {topic}"))?;
        let snapshot = match from_snapshot {
            Some((records, secs)) => {
                format!("a snapshot of {records} records ({secs:.2} s) and ")
            }
            None => String::new(),
        };
        eprintln!(
            "allot: restored {} positions from {snapshot}{} changelog records ({:.1} MiB) of \
             {topic} in {:.2} s",
            pipeline.engine.positions(),
            read.records,
            read.bytes as f64 / (1024.0 * 1024.0),
            started.elapsed().as_secs_f64()
        );
        if config.sourcing.enabled {
            eprintln!(
                "allot: restored sourcing: {} open orders, {} order ids remembered, {} orders \
                 queued",
                pipeline.sourcing.open_orders(),
                pipeline.sourcing.remembered_orders(),
                pipeline.sourcing.pending(),
            );
        }
    }
    Ok(changelog_of(config, &topic, read.ends))
}

/// Partitioned state with sourcing on (`crate::feed`): creates the two feed topics if
/// needed (N partitions, checked), reads the one this instance follows to its end (the
/// stage: the shards' supply; `allot run`: the stage's reserved units) and returns a reader
/// that follows it from there; the other is the one `changelog` writes (the stage reads it
/// back when the orders are assigned to it: `restore_stage`). Without partitioned sourcing:
/// nothing.
pub(super) async fn open_feeds(
    config: &AllotConfig,
    pipeline: &mut Pipeline,
    changelog: &mut Changelog,
) -> anyhow::Result<Option<ChangelogFollower>> {
    let count = config.runtime.sku_partitions;
    if count == 0 || !config.sourcing.enabled {
        return Ok(None);
    }
    let mut kafka = config.kafka.clone();
    kafka.partitions = count as i32;
    let supply = changelog_topic(&config.kafka, crate::feed::SUPPLY_FEED);
    let reserved = changelog_topic(&config.kafka, crate::feed::RESERVED_FEED);
    for topic in [&supply, &reserved] {
        ensure_changelog(&kafka, topic)
            .await
            .with_context(|| format!("failed to create the feed topic {topic}"))?;
        let n = tokio::task::block_in_place(|| {
            partition_count(&config.kafka, topic, Duration::from_secs(10))
        })
        .with_context(|| format!("failed to read the partitions of {topic}"))?;
        anyhow::ensure!(
            n == count as usize,
            "the feed topic {topic} has {n} partitions but runtime.sku_partitions is {count}; \
             they must be equal: keep the sku_partitions the topics were made with, or delete \
             the bysku., changelog and feed topics and rebuild"
        );
    }
    let none = BTreeMap::new();
    let stage = pipeline.stage.is_some();
    let (writes, follows) = if stage {
        (reserved, supply)
    } else {
        (supply, reserved)
    };
    let started = Instant::now();
    let read = tokio::task::block_in_place(|| {
        read_changelog(&config.kafka, &follows, &none, RESTORE_TIMEOUT, |k, v| {
            pipeline.accept_feed(k, v).map_err(|e| format!("{e:#}"))
        })
    })
    .with_context(|| format!("failed to read the feed {follows}"))?;
    eprintln!(
        "allot: read {} records of {follows} in {:.2} s{}; following it",
        read.records,
        started.elapsed().as_secs_f64(),
        match &pipeline.stage {
            Some(mirror) => format!(" (supply of {} skus)", mirror.skus()),
            None => String::new(),
        }
    );
    changelog.feed = Some(super::Feed {
        topic: Arc::from(writes.as_str()),
        batch: ChangelogBatch::default(),
        partitions: count,
    });
    let follower = ChangelogFollower::new(&config.kafka, &follows, &read.ends)
        .with_context(|| format!("failed to follow the feed {follows}"))?;
    Ok(Some(follower))
}

/// The sourcing stage: reads back the reserved units the stage wrote to `topic`, then takes
/// the restored ledger's totals, so that it writes again only what differs.
fn read_back_reserved(
    config: &AllotConfig,
    pipeline: &mut Pipeline,
    topic: &str,
) -> anyhow::Result<()> {
    let mirror = pipeline.stage.as_mut().expect("the sourcing stage");
    let read = tokio::task::block_in_place(|| {
        read_changelog(
            &config.kafka,
            topic,
            &BTreeMap::new(),
            RESTORE_TIMEOUT,
            |k, v| mirror.apply_reserved(k, v).map_err(|e| e.to_string()),
        )
    })
    .with_context(|| format!("failed to read back the feed {topic}"))?;
    mirror.replace_reserved(pipeline.sourcing.reserved_totals());
    eprintln!(
        "allot: read back {} records of {topic} (the reserved units this stage wrote)",
        read.records
    );
    Ok(())
}

/// The sourcing stage, on an assignment of the orders after holding none: its state again,
/// fresh (the tables applied again), from the snapshot and the changelog after it, or the
/// whole changelog, and the reserved units read back. Nothing is in flight: an instance that
/// held nothing published nothing since.
pub(super) async fn restore_stage(
    config: &AllotConfig,
    pipeline: &mut Pipeline,
    publisher: &mut Publisher,
) -> anyhow::Result<()> {
    publisher.finish_snapshot().await;
    let started = Instant::now();
    pipeline.fresh_state(config, 0)?;
    let mut changelog = restore_changelog(config, pipeline, 0).await?;
    changelog.feed = publisher.changelog.take().and_then(|c| c.feed);
    if let Some(feed) = &changelog.feed {
        let topic = feed.topic.to_string();
        read_back_reserved(config, pipeline, &topic)?;
    }
    publisher.changelog_ends = changelog.ends.clone();
    publisher.changelog = Some(changelog);
    eprintln!(
        "allot: restored the sourcing stage's state on assignment in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The changelog `topic` as the publisher writes it, restored to `ends`.
fn changelog_of(config: &AllotConfig, topic: &str, ends: BTreeMap<i32, i64>) -> Changelog {
    Changelog {
        topic: Arc::from(topic),
        batch: ChangelogBatch::default(),
        ends,
        snapshots: snapshot_path(config, topic).map(|path| Snapshots {
            path,
            interval: Some(Duration::from_millis(config.runtime.snapshot_interval_ms))
                .filter(|i| !i.is_zero()),
            last: Instant::now(),
            writing: None,
        }),
        feed: None,
    }
}

/// The snapshots of one changelog: where, how often, and the write in progress.
pub(super) struct Snapshots {
    path: PathBuf,
    interval: Option<Duration>,
    last: Instant,
    writing: Option<tokio::task::JoinHandle<Result<Written, snapshot::SnapshotError>>>,
}

/// A snapshot written: records, bytes of records, seconds copying the state, seconds writing,
/// and the file written (the last, when there are several: one per sku partition).
struct Written(usize, usize, f64, f64, PathBuf, usize);

impl Snapshots {
    /// Whether the interval has passed since the last snapshot.
    pub(super) fn due(&self) -> bool {
        self.interval.is_some_and(|i| self.last.elapsed() >= i)
    }

    /// Waits for the snapshot being written, if any, and says how it went. A failure keeps
    /// the previous snapshot (the write is atomic) and is not fatal: a cache.
    pub(super) async fn finish(&mut self) {
        let Some(writing) = self.writing.take() else {
            return;
        };
        match writing.await {
            Ok(Ok(Written(records, bytes, copy, write, path, files))) => eprintln!(
                "allot: snapshot of {records} records ({:.1} MiB) written to {}{} (copy \
                 {copy:.2} s, write {write:.2} s)",
                bytes as f64 / (1024.0 * 1024.0),
                path.display(),
                match files {
                    0 => " (no file: no sku partition held)".into(),
                    1 => String::new(),
                    n => format!(" and {} more files beside it, one per sku partition", n - 1),
                }
            ),
            Ok(Err(e)) => eprintln!(
                "allot: could not write a snapshot ({e}); the previous one stays; check the \
                 free space and permissions of runtime.state_dir"
            ),
            Err(e) => eprintln!("allot: writing a snapshot panicked ({e})"),
        }
    }
}

impl Publisher {
    /// Writes a snapshot if one is due (see [`Snapshots`]).
    pub(super) async fn snapshot_if_due(
        &mut self,
        pipeline: &mut Pipeline,
        acks: &mut Acks,
        source: &KafkaSource,
    ) -> anyhow::Result<()> {
        let Some(snapshots) = self.changelog.as_mut().and_then(|c| c.snapshots.as_mut()) else {
            return Ok(());
        };
        if snapshots.writing.as_ref().is_some_and(|w| w.is_finished()) {
            snapshots.finish().await; // says how it went
        }
        let due = snapshots.due();
        if due {
            self.snapshot(pipeline, acks, source, true).await?;
        }
        Ok(())
    }

    /// Publishes everything applied (changelog included), waits for every delivery, commits
    /// (exactly once: beginning the next transaction if `reopen`), then copies the state and
    /// writes it to the snapshot file on a blocking thread (the previous write is awaited
    /// first). Does nothing without a state folder.
    pub(super) async fn snapshot(
        &mut self,
        pipeline: &mut Pipeline,
        acks: &mut Acks,
        source: &KafkaSource,
        reopen: bool,
    ) -> anyhow::Result<()> {
        if self
            .changelog
            .as_ref()
            .is_none_or(|c| c.snapshots.is_none())
        {
            return Ok(());
        }
        // (a sourcing stage holding no orders has no state of its own to keep)
        if pipeline.stage.is_some() && !pipeline.stage_current {
            return Ok(());
        }
        if pipeline.unflushed_since.is_some() || !acks.0.is_empty() {
            self.publish(pipeline, acks, source).await?;
        }
        self.drain(source).await?;
        self.commit(source, reopen)
            .await
            .context("failed to commit before a snapshot")?;
        let copying = Instant::now();
        let snapshots = self
            .changelog
            .as_mut()
            .and_then(|c| c.snapshots.as_mut())
            .expect("checked above");
        // One file per engine: the one engine's (with sourcing) covers every changelog
        // partition; a shard's covers its own.
        let mut files: Vec<(PathBuf, ChangelogOffsets, ChangelogBatch)> = Vec::new();
        let partitions = pipeline.changelog_partitions();
        for partition in partitions {
            let mut batch = ChangelogBatch::default();
            pipeline.engine_at(partition).changelog_all(&mut batch);
            let (path, offsets) = match partition {
                None => {
                    pipeline.sourcing.changelog_all(&mut batch);
                    let all = self.changelog_ends.iter();
                    (
                        snapshots.path.clone(),
                        all.map(|(p, o)| (*p as u32, *o)).collect(),
                    )
                }
                Some(p) => {
                    let end = self.changelog_ends.get(&p).copied().unwrap_or(0);
                    (shard_path(&snapshots.path, p), [(p as u32, end)].into())
                }
            };
            files.push((path, offsets, batch));
        }
        let copy = copying.elapsed().as_secs_f64();
        snapshots.finish().await;
        snapshots.last = Instant::now();
        snapshots.writing = Some(tokio::task::spawn_blocking(move || {
            let writing = Instant::now();
            let (mut records, mut bytes) = (0, 0);
            let last = files.last().map(|f| f.0.clone()).unwrap_or_default();
            for (path, offsets, batch) in &files {
                records += batch.len();
                bytes += batch
                    .iter()
                    .map(|(k, v)| k.len() + v.map_or(0, <[u8]>::len))
                    .sum::<usize>();
                snapshot::write(path, offsets, batch)?;
            }
            let secs = writing.elapsed().as_secs_f64();
            Ok(Written(records, bytes, copy, secs, last, files.len()))
        }));
        Ok(())
    }

    /// Waits for the snapshot being written, if any.
    pub(super) async fn finish_snapshot(&mut self) {
        if let Some(s) = self.changelog.as_mut().and_then(|c| c.snapshots.as_mut()) {
            s.finish().await;
        }
    }
}
