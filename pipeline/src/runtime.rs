//! The runtime: wires a source of records (the built-in workload on the in-memory bus, a
//! directory of files, or Kafka) to the processors, and the processors' outputs to a
//! destination, and reports what happened.
//!
//! Every mode goes through [`Pipeline`]: a framed message is decoded into an [`AnyRecord`]
//! or becomes a [`DeadLetter`] with the reason; a decoded record is applied to every
//! processor, and a record the availability engine refuses (invalid, too late) becomes a
//! dead letter too. Nothing is dropped silently: every input ends accepted, duplicate or
//! dead-lettered, and the report's counts add up to the input count. Availability is
//! published in coalesced flushes, at most `availability_coalesce_ms` after the change.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use allot_connectors::files::{DataSetReader, DataSetWriter, FilesConfig, Format};
use allot_connectors::http::{
    MetricsServer, MetricsServerConfig, Readiness, availability_router, readiness_router,
};
use allot_connectors::kafka::{Consumed, Delivery, GroupEvent, KafkaSink, KafkaSource};
use allot_connectors::{ConnectorMetrics, DeadLetters, ErrorAction, Origin};
use allot_schemas::codec::{ConfluentCodec, RecordSlots, SchemaResolver, StaticResolver};
use allot_schemas::{AnyRecord, Availability, DeadLetter, Topic};
use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use prometheus::Registry;

use crate::availability::{Applied, AvailabilityEngine, ChangelogBatch, EncodedBatch, Held, Pace};
use crate::bus::bus;
use crate::config::{AllotConfig, Processing};
use crate::metrics::PipelineMetrics;
use crate::sourcing::SourcingProcessor;
use crate::tally::Tally;
use crate::view::AvailabilityView;

mod intake;
mod restore;
mod shards;

pub use intake::{IntakeReport, run_intake};

use shards::{TABLE_PARTITION, topic_lane};

/// The processors of one instance and the intake in front of them.
#[derive(Debug)]
pub struct Pipeline {
    codec: ConfluentCodec,
    /// One reused record per topic for decoding framed input (taken while a record is
    /// applied, so the record can borrow it).
    slots: Option<RecordSlots>,
    dead_letters: DeadLetters,
    engine: AvailabilityEngine,
    sourcing: SourcingProcessor,
    /// The sourcing totals already counted in the metrics.
    sourcing_counted: crate::sourcing::SourcingStats,
    /// Wall-clock time spent deciding batches of orders, and the batches that sourced any.
    sourcing_busy: SourcingBusy,
    /// Decisions and order events not yet handed to the destination.
    records: Vec<AnyRecord>,
    tally: Tally,
    metrics: PipelineMetrics,
    /// Dead letters not yet handed to the destination.
    letters: Vec<DeadLetter>,
    /// When the oldest change not yet published was read.
    unflushed_since: Option<Instant>,
    coalesce: Duration,
    /// Set for live runs: flushes are paced per sku (see [`Pace`]) on a clock starting here.
    paced_since: Option<Instant>,
    /// What the last paced flush held back (times on the `paced_since` clock).
    held: Option<Held>,
    /// What the HTTP endpoint serves, when it runs.
    view: Option<Arc<AvailabilityView>>,
    /// The schema id written on availability messages.
    availability_schema_id: u32,
    input_records: u64,
    input_bytes: u64,
    /// The reference records read at start, kept until the restore is done, so that a
    /// restore that falls back to a fresh state applies them again (see `read_tables`).
    tables: Option<Vec<Consumed>>,
    /// Partitioned state (`runtime.sku_partitions` > 0): one engine per sku partition held,
    /// in place of `engine` (which then stays empty).
    shards: Option<Shards>,
    /// Partitioned state's sourcing stage (`allot source`): the shards' supply, which
    /// sourcing decides against in place of `engine` (which then stays empty).
    stage: Option<crate::feed::SupplyMirror>,
    /// Partitioned state with sourcing on (`allot run`): the stage's reserved units, set on
    /// the engines of the shards holding their skus.
    reserved: Option<crate::feed::ReservedMirror>,
    /// The sourcing stage: whether its state is the committed state of the orders it holds
    /// (restored when they were assigned, kept through a hand-over that gave them straight
    /// back). False at start and while it holds nothing: another instance may be deciding.
    stage_current: bool,
    /// `allot run` with one engine, at start: the supply in the input topics then, which
    /// the queued orders wait for (see [`SupplyHold`]).
    supply_hold: Option<SupplyHold>,
}

/// At the start of `allot run` (one engine, sourcing on), orders are queued, not decided,
/// until every supply partition it holds has been read to where it ended at start: the
/// orders topic may be fetched ahead of the inventory topics, and an order decided then
/// would see no stock, or stock already sold. An order event for a queued order decides
/// the queue first (see [`Pipeline::accept_in`]); so does a queue of [`HOLD_MAX_ORDERS`],
/// and the run's end.
#[derive(Debug)]
struct SupplyHold {
    /// `(topic, partition, end)` not read to its end yet.
    ends: Vec<(Topic, i32, i64)>,
    since: Instant,
    /// When the ends were last compared with the consumer's positions, and last reported.
    checked: Instant,
    reported: Instant,
}

/// Queued orders that are decided even while the supply is read (memory bound).
const HOLD_MAX_ORDERS: usize = 200_000;

impl SupplyHold {
    /// A hold until `ends` are read, from now; the first check is due at once (after a
    /// restart the supply may all be read).
    fn new(ends: Vec<(Topic, i32, i64)>) -> SupplyHold {
        let now = Instant::now();
        SupplyHold {
            ends,
            since: now,
            checked: now.checked_sub(HOLD_CHECK_EVERY).unwrap_or(now),
            reported: now,
        }
    }
}

/// The availability engines of a partitioned `allot run`: one per sku partition this
/// instance holds, each fed only by that partition of the `bysku.` topics (and every
/// reference record), each with its own changelog partition and snapshot.
#[derive(Debug)]
struct Shards {
    count: u32,
    engines: BTreeMap<i32, AvailabilityEngine>,
    /// The counters of engines let go (their partitions moved), for the run's report.
    retired: crate::availability::EngineStats,
    /// Partitions revoked and not assigned again yet: their engines go unless the next
    /// assignment gives them back.
    revoked: std::collections::BTreeSet<i32>,
}

impl Pipeline {
    /// A pipeline with the processors configured by `config`, counting into the given
    /// metrics.
    pub fn new(
        config: &AllotConfig,
        metrics: PipelineMetrics,
        connector_metrics: ConnectorMetrics,
    ) -> Pipeline {
        Pipeline {
            codec: ConfluentCodec::new(StaticResolver::new()),
            slots: Some(RecordSlots::default()),
            dead_letters: DeadLetters::new(config.runtime.instance_name.clone(), connector_metrics),
            engine: AvailabilityEngine::new(config.availability.clone()),
            sourcing: SourcingProcessor::new(
                config.sourcing.clone(),
                &config.runtime.instance_name,
            ),
            records: Vec::new(),
            sourcing_counted: Default::default(),
            sourcing_busy: SourcingBusy::default(),
            tally: Tally::default(),
            metrics,
            letters: Vec::new(),
            unflushed_since: None,
            coalesce: Duration::from_millis(config.runtime.availability_coalesce_ms),
            paced_since: None,
            held: None,
            view: None,
            availability_schema_id: StaticResolver::new()
                .writer_id(Topic::Availability)
                .expect("the static resolver knows every topic"),
            input_records: 0,
            input_bytes: 0,
            tables: None,
            shards: None,
            stage: None,
            reserved: None,
            stage_current: false,
            supply_hold: None,
        }
    }

    /// Every engine: the one engine, or each shard's.
    fn engines_mut(&mut self) -> impl Iterator<Item = &mut AvailabilityEngine> {
        let single = self.shards.is_none().then_some(&mut self.engine);
        let shards = self.shards.iter_mut().flat_map(|s| s.engines.values_mut());
        single.into_iter().chain(shards)
    }

    /// The changelog partition of each engine, in [`engines`](Self::engines) order: `None`
    /// for the one engine (by key), a shard's sku partition (see [`engine_at`](Self::engine_at)).
    fn changelog_partitions(&self) -> Vec<Option<i32>> {
        match &self.shards {
            None => vec![None],
            Some(s) => s.engines.keys().map(|p| Some(*p)).collect(),
        }
    }

    fn engines(&self) -> impl Iterator<Item = &AvailabilityEngine> {
        let single = self.shards.is_none().then_some(&self.engine);
        single
            .into_iter()
            .chain(self.shards.iter().flat_map(|s| s.engines.values()))
    }

    /// Positions held, over every engine.
    fn positions(&self) -> usize {
        self.engines().map(AvailabilityEngine::positions).sum()
    }

    /// Takes one Confluent-framed message read from `origin`.
    pub fn accept_framed(&mut self, origin: Origin<'_>, topic: Topic, key: &[u8], payload: &[u8]) {
        self.input_bytes += payload.len() as u64;
        // Decoded into the slot reused for this topic: no allocation per record.
        let mut slots = self.slots.take().unwrap_or_default();
        let decoded = self.codec.decode_slot(topic, payload, &mut slots);
        match decoded {
            Ok(record) => {
                self.accept(origin, record);
                self.slots = Some(slots);
            }
            Err(err) => {
                self.input_records += 1;
                let letter =
                    self.dead_letters
                        .refuse(origin, topic.name(), Some(key), payload, &err);
                self.tally.apply(&AnyRecord::DeadLetter(letter.clone()));
                self.letters.push(letter);
                self.slots = Some(slots);
            }
        }
    }

    /// Takes one decoded record read from `origin`, the only input lane.
    pub fn accept(&mut self, origin: Origin<'_>, record: &AnyRecord) {
        self.accept_in(0, origin, record);
    }

    /// Takes one decoded record read from `origin`, input lane `lane` (see
    /// [`AvailabilityEngine::apply_in`]).
    pub fn accept_in(&mut self, lane: u32, origin: Origin<'_>, record: &AnyRecord) {
        self.input_records += 1;
        self.unflushed_since.get_or_insert_with(Instant::now);
        let mut applied = match (&self.stage, &mut self.shards) {
            // (the sourcing stage keeps no availability)
            (Some(_), _) => Applied::Accepted,
            (None, None) => self.engine.apply_in(lane, record),
            (None, Some(shards)) => shards.apply(lane, origin.partition, record),
        };
        // Partitioned state's shards do not source: the stage does.
        if matches!(applied, Applied::Accepted) && self.shards.is_none() {
            // An event of an order still queued applies to its decision, not to nothing.
            if let AnyRecord::OrderEvent(e) = record
                && self.sourcing.queued(&e.order_id)
            {
                self.decide_now();
            }
            let sourced = match &mut self.stage {
                Some(mirror) => self.sourcing.apply(record, mirror),
                None => self.sourcing.apply(record, &mut self.engine),
            };
            match sourced {
                Ok(true) => {}
                Ok(false) => applied = Applied::Duplicate,
                Err((kind, reason)) => applied = Applied::Refused(kind, reason),
            }
            if self.sourcing.batch_due() {
                self.decide();
            }
        }
        self.metrics.applied(record.topic(), &applied);
        match applied {
            Applied::Accepted | Applied::Duplicate => self.tally.apply(record),
            Applied::Refused(kind, reason) => {
                let key = record.key();
                let letter = refusal(
                    &self.dead_letters,
                    &self.codec,
                    origin,
                    Some(key.as_bytes()),
                    record,
                    kind,
                    &reason,
                );
                self.tally.apply(&AnyRecord::DeadLetter(letter.clone()));
                self.letters.push(letter);
            }
        }
    }

    /// Takes one record of a global table (reference data, read whole by every instance
    /// outside the group; see [`reference_topics`]).
    pub fn accept_table(
        &mut self,
        kafka: &allot_connectors::kafka::KafkaConfig,
        consumed: Consumed,
    ) {
        if let Some(kept) = &mut self.tables {
            kept.push(consumed.clone());
        }
        self.apply_table(kafka, &consumed);
    }

    fn apply_table(&mut self, kafka: &allot_connectors::kafka::KafkaConfig, consumed: &Consumed) {
        let name = kafka.topic_name(consumed.topic);
        self.input_bytes += consumed.bytes as u64;
        self.accept_in(
            0,
            Origin {
                topic: &name,
                // (partitioned: reference data goes to every shard, see `Shards::apply`)
                partition: TABLE_PARTITION,
                offset: consumed.offset,
            },
            &consumed.record,
        );
    }

    /// Takes one record of a feed between partitioned state's stages (`crate::feed`): the
    /// supply feed in the sourcing stage, the reserved-units feed in `allot run`, where the
    /// units go to the engine holding the sku (and are published at the next flush). A
    /// record that does not read is an error: the mirror could not be trusted after it.
    fn accept_feed(&mut self, key: &[u8], value: Option<&[u8]>) -> anyhow::Result<()> {
        if let Some(mirror) = &mut self.stage {
            return Ok(mirror.apply(key, value)?);
        }
        let (Some(mirror), Some(shards)) = (&mut self.reserved, &mut self.shards) else {
            return Ok(());
        };
        let (sku, changed) = mirror.apply(key, value)?;
        let p = crate::partition::sku_partition(sku, shards.count) as i32;
        if let Some(engine) = shards.engines.get_mut(&p) {
            for (loc, units) in changed {
                engine.set_reserved(sku, &loc, units);
            }
            self.unflushed_since.get_or_insert_with(Instant::now);
        }
        Ok(())
    }

    /// Whether the oldest unpublished change has waited the coalescing bound, or a sku held
    /// back by pacing is due.
    pub fn flush_due(&self) -> bool {
        self.next_flush().is_some_and(|t| t <= Instant::now())
    }

    /// An instant of the last paced flush's holds (`first_due_ms` or `last_due_ms`).
    fn held_at(&self, due: impl Fn(&Held) -> u64) -> Option<Instant> {
        let since = self.paced_since?;
        self.held
            .as_ref()
            .map(|h| since + Duration::from_millis(due(h)))
    }

    /// When a flush is due at the latest.
    fn next_flush(&self) -> Option<Instant> {
        let bound = self.unflushed_since.map(|t| t + self.coalesce);
        match (bound, self.held_at(|h| h.first_due_ms)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Publishes what changed: sources the queued orders when `decide` (live runs), appends
    /// availability messages (key, Confluent-framed value) to `availability`, and returns
    /// the dead letters, decisions and order events collected since the last flush.
    pub fn flush(&mut self, availability: &mut EncodedBatch, decide: bool) -> Flushed {
        if decide {
            self.decide();
        }
        let before = availability.len();
        match self.paced_since {
            Some(since) => {
                let pace = Pace {
                    now_ms: since.elapsed().as_millis() as u64,
                    interval_ms: self.coalesce.as_millis() as u64,
                };
                let id = self.availability_schema_id;
                self.held = self
                    .engines_mut()
                    .filter_map(|e| e.flush_encoded_paced(id, pace, availability))
                    .reduce(|a, b| Held {
                        first_due_ms: a.first_due_ms.min(b.first_due_ms),
                        last_due_ms: a.last_due_ms.max(b.last_due_ms),
                    });
            }
            None => {
                let id = self.availability_schema_id;
                for e in self.engines_mut() {
                    e.flush_encoded(id, availability);
                }
            }
        }
        self.metrics.published(availability.len() - before);
        if let Some(view) = &self.view {
            let fresh: Vec<Availability> = availability
                .iter()
                .skip(before)
                .filter_map(|(_, value)| self.codec.decode(value).ok())
                .collect();
            view.publish(&fresh);
        }
        if let Some(t) = self.unflushed_since.take() {
            self.metrics.publish_latency(t.elapsed().as_secs_f64());
        }
        self.metrics.set_positions(self.positions());
        let now = self.sourcing.stats().clone();
        self.metrics.sourcing(&self.sourcing_counted, &now);
        self.sourcing_counted = now;
        Flushed {
            letters: std::mem::take(&mut self.letters),
            records: std::mem::take(&mut self.records),
        }
    }

    /// Loads the sourcing rules of `sourcing.rules_file`, if set: JSON lines of
    /// `SourcingRule` records, applied as if read from the topic. Returns how many.
    pub fn load_rules(&mut self, config: &AllotConfig) -> anyhow::Result<usize> {
        let Some(path) = &config.sourcing.rules_file else {
            return Ok(0);
        };
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "failed to read sourcing.rules_file {}; fix the path or unset it",
                path.display()
            )
        })?;
        let mut n = 0;
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let rule: allot_schemas::SourcingRule =
                serde_json::from_str(line).with_context(|| {
                    format!(
                        "{}:{}: not a SourcingRule (JSON, with the fields of \
                     schemas/avro/sourcing_rules/v1.avsc)",
                        path.display(),
                        i + 1
                    )
                })?;
            self.sourcing
                .apply(&AnyRecord::SourcingRule(rule), &mut self.engine)
                .map_err(|(_, why)| anyhow::anyhow!("{}:{}: {why}", path.display(), i + 1))?;
            n += 1;
        }
        Ok(n)
    }

    /// Replaces the processors' state with a fresh one, as [`new`](Self::new) and
    /// [`load_rules`](Self::load_rules) leave it, with `lanes` lanes open (after a restore
    /// that could not be finished).
    fn fresh_state(&mut self, config: &AllotConfig, lanes: u32) -> anyhow::Result<()> {
        self.engine = AvailabilityEngine::new(config.availability.clone());
        self.sourcing =
            SourcingProcessor::new(config.sourcing.clone(), &config.runtime.instance_name);
        self.load_rules(config)?;
        if lanes > 0 {
            self.engine.open_lanes(lanes);
        }
        for consumed in self.tables.take().unwrap_or_default() {
            self.apply_table(&config.kafka, &consumed);
            self.tables.get_or_insert_default().push(consumed);
        }
        Ok(())
    }

    /// The availability engine (for snapshots).
    pub fn engine(&self) -> &AvailabilityEngine {
        &self.engine
    }

    /// Sources the queued orders, timing the batch; while the supply is read at start, only
    /// a queue of [`HOLD_MAX_ORDERS`].
    fn decide(&mut self) {
        if self.supply_hold.is_some() && self.sourcing.pending() < HOLD_MAX_ORDERS {
            return;
        }
        self.decide_now();
    }

    /// Sources the queued orders now, timing the batch.
    fn decide_now(&mut self) {
        let decided = |s: &crate::sourcing::SourcingStats| s.orders + s.modifications;
        let (before, started) = (decided(self.sourcing.stats()), Instant::now());
        match (&mut self.stage, &self.shards) {
            (Some(mirror), _) => self.sourcing.decide(mirror, &mut self.records),
            (None, None) => self.sourcing.decide(&mut self.engine, &mut self.records),
            (None, Some(_)) => return,
        }
        let sourced = decided(self.sourcing.stats()) - before;
        if sourced > 0 {
            let took = started.elapsed();
            self.sourcing_busy.batches += 1;
            self.sourcing_busy.elapsed += took;
            self.metrics.sourcing_batch(sourced, took.as_secs_f64());
        }
    }

    fn report(&self, mode: &'static str, elapsed: Duration, outputs: OutputStats) -> RunReport {
        RunReport {
            mode,
            input_records: self.input_records,
            input_bytes: self.input_bytes,
            elapsed,
            tally: self.tally.clone(),
            engine: self.engine_stats(),
            state: self.state_size(),
            sourcing: self.sourcing.stats().clone(),
            sourcing_busy: self.sourcing_busy,
            outputs,
        }
    }
}

/// The dead letter of a decoded `record` refused for `reason`: its bytes encoded again (a
/// record that decoded always encodes; if it did not, the letter still carries the reason),
/// the reason prefixed with its topic and event id.
fn refusal<R: SchemaResolver>(
    dead_letters: &DeadLetters,
    codec: &ConfluentCodec<R>,
    origin: Origin<'_>,
    key: Option<&[u8]>,
    record: &AnyRecord,
    kind: allot_schemas::DeadLetterKind,
    reason: &str,
) -> DeadLetter {
    let mut payload = Vec::new();
    let _ = codec.encode_any(record, &mut payload);
    dead_letters.refuse_as(
        origin,
        record.topic().name(),
        key,
        &payload,
        kind,
        &format!("{} {}: {reason}", record.topic(), record.event_id()),
    )
}

/// Wall-clock time a run spent sourcing batches of orders (planning, committing, writing
/// reservations back and building decisions), so decisions per second can be told apart
/// from the rest of the run.
#[derive(Debug, Clone, Copy, Default)]
pub struct SourcingBusy {
    /// Batches that sourced at least one order.
    pub batches: u64,
    /// Their time, summed.
    pub elapsed: Duration,
}

/// What a flush hands to the destination besides availability.
#[derive(Debug, Default)]
pub struct Flushed {
    /// Dead letters.
    pub letters: Vec<DeadLetter>,
    /// Sourcing decisions and the order events sourcing emits (pickups expired).
    pub records: Vec<AnyRecord>,
}

/// What went out of a run.
#[derive(Debug, Clone, Default)]
pub struct OutputStats {
    /// Availability messages published.
    pub availability: u64,
    /// Distinct skus among them.
    pub skus: u64,
    /// Bytes of framed availability published.
    pub availability_bytes: u64,
    /// Dead letters written.
    pub dead_letters: u64,
    /// Sourcing decisions published.
    pub decisions: u64,
    /// Order events published (pickups expired).
    pub order_events: u64,
    /// A few skus' network ATP as last published (for the summary).
    pub samples: Vec<Availability>,
}

/// How a run went: counts, time, and what flowed through.
#[derive(Debug)]
pub struct RunReport {
    /// Which subcommand ran (`demo`, `replay`, `run`).
    pub mode: &'static str,
    /// Input messages read, good and bad.
    pub input_records: u64,
    /// Bytes of framed input read (0 where the source decodes itself).
    pub input_bytes: u64,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
    /// What the processors saw.
    pub tally: Tally,
    /// What the availability engine did.
    pub engine: crate::availability::EngineStats,
    /// State held at the end.
    pub state: crate::availability::StateSize,
    /// What sourcing did.
    pub sourcing: crate::sourcing::SourcingStats,
    /// How long sourcing took.
    pub sourcing_busy: SourcingBusy,
    /// What was published.
    pub outputs: OutputStats,
}

/// Stop conditions of `allot run`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunLimits {
    /// Stop after this many input records.
    pub max_records: Option<u64>,
    /// Stop after this long without input.
    pub idle_exit_ms: Option<u64>,
}

/// Counts what a mode publishes. Nothing per message is kept: a long `allot run` would
/// otherwise hold a copy of every sku's availability.
#[derive(Debug, Default)]
struct Published {
    stats: OutputStats,
}

impl Published {
    /// Counts a flush's output; returns its dead letters.
    fn record(&mut self, batch: &EncodedBatch, flushed: &Flushed) -> u64 {
        self.stats.availability += batch.len() as u64;
        self.stats.availability_bytes += batch.value_bytes() as u64;
        for r in &flushed.records {
            match r {
                AnyRecord::Decision(_) => self.stats.decisions += 1,
                _ => self.stats.order_events += 1,
            }
        }
        flushed.letters.len() as u64
    }

    /// The totals; `samples` asks for the three best-stocked skus' availability (built from
    /// the engine's state, so only for modes that end with a summary of a bounded run).
    fn finish(self, pipeline: &Pipeline, letters: u64, samples: bool) -> OutputStats {
        let mut stats = self.stats;
        stats.skus = pipeline.engines().map(|e| e.published_skus() as u64).sum();
        let engine = pipeline.engine();
        stats.dead_letters = letters;
        if samples {
            let first_atp = |a: &Availability| {
                a.channels
                    .first()
                    .and_then(|c| c.network.first())
                    .map_or(0, |b| b.atp)
            };
            let mut all = engine.snapshot_all();
            all.sort_by_key(|a| std::cmp::Reverse(first_atp(a)));
            all.truncate(3);
            stats.samples = all;
        }
        stats
    }
}

fn progress_bar(enabled: bool, what: &str, len: Option<u64>) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = match len {
        Some(len) => ProgressBar::new(len).with_style(
            ProgressStyle::with_template(&format!(
                "{what} [{{bar:30}}] {{percent:>3}}% {{elapsed_precise}} eta {{eta}} {{msg}}"
            ))
            .expect("valid progress template")
            .progress_chars("=> "),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template(&format!(
                "{{spinner}} {what} {{elapsed_precise}} {{human_pos}} records ({{per_sec}}) {{msg}}"
            ))
            .expect("valid progress template"),
        ),
    };
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Starts `/metrics`, `/health`, `/ready` (over `readiness`) and `/availability` if the
/// config asks for them; returns the server and the view the pipeline must keep up to date.
async fn serve_http(
    config: &AllotConfig,
    registry: &Registry,
    readiness: Arc<Readiness>,
) -> anyhow::Result<(Option<MetricsServer>, Option<Arc<AvailabilityView>>)> {
    let Some(addr) = config.http.listen_addr else {
        return Ok((None, None));
    };
    let view = Arc::new(AvailabilityView::default());
    let routes = allot_connectors::http::router(registry.clone())
        .merge(readiness_router(readiness))
        .merge(availability_router(view.clone()));
    let server = MetricsServer::start_router(&MetricsServerConfig { listen_addr: addr }, routes)
        .await
        .with_context(|| {
            format!("failed to serve metrics on {addr}; pick a free address with --metrics-addr")
        })?;
    eprintln!(
        "serving /metrics, /health, /ready and /availability on http://{}",
        server.local_addr()
    );
    Ok((Some(server), Some(view)))
}

fn registries() -> anyhow::Result<(Registry, PipelineMetrics, ConnectorMetrics)> {
    let registry = Registry::new();
    let metrics = PipelineMetrics::register(&registry).context("failed to register metrics")?;
    let connector = ConnectorMetrics::register(&registry).context("failed to register metrics")?;
    Ok((registry, metrics, connector))
}

/// `allot demo`: the built-in workload, encoded as it would travel on Kafka, through the
/// in-memory bus into the processors.
pub async fn demo(config: &AllotConfig) -> anyhow::Result<RunReport> {
    let (registry, metrics, connector_metrics) = registries()?;
    // Not a consumer-group member: nothing to restore.
    let (server, view) = serve_http(config, &registry, Arc::new(Readiness::ready_now())).await?;
    let workload = allot_loadtest::Workload::new(config.workload.clone())
        .context("failed to build the workload; check the [workload] section")?;
    let (start, end) = (workload.start_time(), workload.end_time());
    let (mut producer, mut consumer) =
        bus(config.runtime.partitions, config.runtime.channel_capacity);
    let clock = Arc::new(AtomicU64::new(0));
    let produce_clock = clock.clone();
    let codec = ConfluentCodec::new(StaticResolver::new());
    let started = Instant::now();
    let produce = tokio::spawn(async move {
        let mut workload = workload;
        let mut buf = Vec::with_capacity(512);
        let mut n = 0u64;
        for record in workload.by_ref() {
            buf.clear();
            codec.encode_any(&record, &mut buf)?;
            producer
                .send(record.topic(), record.key().into_bytes(), buf.clone())
                .await?;
            n += 1;
            if n.is_multiple_of(4096) {
                produce_clock.store(
                    (record.event_time() - start).max(0) as u64,
                    Ordering::Relaxed,
                );
            }
        }
        anyhow::Ok(workload.stats().clone())
    });

    let span_ms = (end - start).max(1) as u64;
    let bar = progress_bar(config.runtime.progress, "demo", Some(span_ms));
    let mut pipeline = Pipeline::new(config, metrics, connector_metrics);
    pipeline.load_rules(config)?;
    pipeline.view = view;
    let mut published = Published::default();
    let mut letters = 0u64;
    let mut out = EncodedBatch::default();
    let mut batch = Vec::with_capacity(1024);
    loop {
        batch.clear();
        if consumer.recv_many(&mut batch, 1024).await == 0 {
            break;
        }
        for msg in &batch {
            let topic_name = msg.topic.name();
            let origin = Origin {
                topic: topic_name,
                partition: msg.partition as i32,
                offset: msg.offset as i64,
            };
            pipeline.accept_framed(origin, msg.topic, &msg.key, &msg.payload);
        }
        if pipeline.flush_due() {
            out.clear();
            let flushed = pipeline.flush(&mut out, false);
            letters += published.record(&out, &flushed);
        }
        bar.set_position(clock.load(Ordering::Relaxed));
        bar.set_message(format!("{} records", pipeline.input_records));
    }
    out.clear();
    let flushed = pipeline.flush(&mut out, true);
    letters += published.record(&out, &flushed);
    bar.finish_and_clear();
    let generated = produce.await.context("the workload task panicked")??;
    anyhow::ensure!(
        generated.total() == pipeline.input_records,
        "the bus lost records: {} generated, {} processed",
        generated.total(),
        pipeline.input_records
    );
    if let Some(server) = server {
        server.shutdown().await?;
    }
    Ok(pipeline.report(
        "demo",
        started.elapsed(),
        published.finish(&pipeline, letters, true),
    ))
}

/// `allot replay DIR`: the recorded topics of `dir`, in event-time order, through the
/// processors; the availability stream, a final snapshot and the dead letters are written
/// to `out` (if given).
pub async fn replay(
    config: &AllotConfig,
    dir: &Path,
    out_dir: Option<&Path>,
) -> anyhow::Result<RunReport> {
    let (registry, metrics, connector_metrics) = registries()?;
    let (server, view) = serve_http(config, &registry, Arc::new(Readiness::ready_now())).await?;
    let format = detect_format(dir)?;
    let input = FilesConfig {
        format,
        ..FilesConfig::new(dir)
    };
    let letters_path = DeadLetters::new(
        config.runtime.instance_name.clone(),
        connector_metrics.clone(),
    );
    let mut reader = DataSetReader::open(
        &input,
        &input_topics(),
        letters_path,
        Vec::<DeadLetter>::new(),
    )
    .with_context(|| format!("failed to open the data set in {}", dir.display()))?;
    let mut writer = match out_dir {
        Some(out) => Some(
            DataSetWriter::create(
                &FilesConfig {
                    format,
                    ..FilesConfig::new(out)
                },
                connector_metrics.clone(),
            )
            .with_context(|| format!("failed to create {}", out.display()))?,
        ),
        None => None,
    };
    let started = Instant::now();
    let bar = progress_bar(config.runtime.progress, "replay", None);
    let mut pipeline = Pipeline::new(config, metrics, connector_metrics);
    pipeline.load_rules(config)?;
    pipeline.view = view;
    let codec = ConfluentCodec::new(StaticResolver::new());
    let mut published = Published::default();
    let mut letters = 0u64;
    let mut out = EncodedBatch::default();
    let mut n = 0i64;
    loop {
        let record = reader
            .next_record()
            .context("failed to read the data set")?;
        let Some(record) = record else { break };
        n += 1;
        let topic = record.topic();
        pipeline.accept(
            Origin {
                topic: topic.name(),
                partition: -1,
                offset: n,
            },
            &record,
        );
        if n % 1024 == 0 {
            bar.set_position(n as u64);
            if pipeline.flush_due() {
                out.clear();
                let flushed = pipeline.flush(&mut out, false);
                write_outputs(writer.as_mut(), &codec, &out, &flushed)?;
                letters += published.record(&out, &flushed);
            }
        }
    }
    out.clear();
    let flushed = pipeline.flush(&mut out, true);
    write_outputs(writer.as_mut(), &codec, &out, &flushed)?;
    letters += published.record(&out, &flushed);
    // Records the reader could not decode were dead-lettered by it.
    let unreadable = reader.into_dead_letters();
    letters += unreadable.len() as u64;
    pipeline.input_records += unreadable.len() as u64;
    if let Some(w) = writer.as_mut() {
        for l in &unreadable {
            w.write_record(l)?;
        }
    }
    bar.finish_and_clear();
    if let (Some(w), Some(out_dir)) = (writer, out_dir) {
        w.finish()?;
        let snapshot = out_dir.join("availability-snapshot.jsonl");
        let mut text = String::new();
        for a in pipeline.engine().snapshot_all() {
            text.push_str(&serde_json::to_string(&a)?);
            text.push('\n');
        }
        std::fs::write(&snapshot, text)
            .with_context(|| format!("failed to write {}", snapshot.display()))?;
    }
    if let Some(server) = server {
        server.shutdown().await?;
    }
    Ok(pipeline.report(
        "replay",
        started.elapsed(),
        published.finish(&pipeline, letters, true),
    ))
}

/// The topics allot reads.
fn input_topics() -> Vec<Topic> {
    Topic::inputs().collect()
}

/// The reference-data topics (compacted inputs: locations, safety-stock policies, sourcing
/// rules, the price book). `allot run` reads them as global tables: every instance reads
/// every partition, outside the consumer group.
pub fn reference_topics() -> Vec<Topic> {
    Topic::inputs()
        .filter(|t| t.retention() == allot_schemas::Retention::Compacted)
        .collect()
}

/// The input topics shared out by the consumer group: the inputs that are not reference data.
fn event_topics() -> Vec<Topic> {
    Topic::inputs()
        .filter(|t| t.retention() != allot_schemas::Retention::Compacted)
        .collect()
}

/// How long reading the reference topics to their end at start may take.
const TABLES_TIMEOUT: Duration = Duration::from_secs(300);

/// Reads the reference topics to the end they have now, applying every record, before the
/// instance takes part in the group; returns the reader, which the loop keeps following.
async fn read_tables(
    config: &AllotConfig,
    pipeline: &mut Pipeline,
    connector_metrics: &ConnectorMetrics,
    signals: &mut Signals,
) -> anyhow::Result<(KafkaSource, Option<Stop>)> {
    let dlq_sink = KafkaSink::new(&config.kafka, connector_metrics.clone())?;
    let mut kafka = config.kafka.clone();
    // Its own consumer, never in a group: its group id only names it to the brokers.
    kafka.group_id = format!(
        "{}-tables-{}",
        config.kafka.group_id, config.runtime.instance_name
    );
    let tables = KafkaSource::read_all(
        &kafka,
        &reference_topics(),
        dlq_sink,
        connector_metrics.clone(),
    )
    .context("failed to assign the reference topics; check kafka.bootstrap_servers")?;
    let started = Instant::now();
    let ends = tokio::task::block_in_place(|| tables.ends(Duration::from_secs(10)))
        .context("failed to read the reference topics' ends")?;
    let mut n = 0u64;
    while !tables.reached(&ends)? {
        anyhow::ensure!(
            started.elapsed() < TABLES_TIMEOUT,
            "the reference topics were not read to their end within {TABLES_TIMEOUT:?} ({n} \
             records read)"
        );
        tokio::select! {
            biased;
            // Nothing is read from the group yet: a stop now has nothing to publish.
            signal = signals.recv() => return Ok((tables, Some(signal))),
            read = tokio::time::timeout(Duration::from_millis(200), tables.next()) => {
                if let Ok(consumed) = read {
                    let consumed = consumed.context("failed to read a reference topic")?;
                    pipeline.accept_table(&config.kafka, consumed);
                    n += 1;
                }
            }
        }
    }
    eprintln!(
        "allot: read {n} reference records (locations, policies, rules, prices) in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    Ok((tables, None))
}

fn write_outputs(
    writer: Option<&mut DataSetWriter>,
    codec: &ConfluentCodec,
    availability: &EncodedBatch,
    flushed: &Flushed,
) -> anyhow::Result<()> {
    if let Some(w) = writer {
        for (_, value) in availability.iter() {
            let a: Availability = codec
                .decode(value)
                .context("an availability message the engine wrote does not decode")?;
            w.write_record(&a)?;
        }
        for l in &flushed.letters {
            w.write_record(l)?;
        }
        for r in &flushed.records {
            w.write(r)?;
        }
    }
    Ok(())
}

/// The format of the data set in `dir`: Avro if any `.avro` file is there, else JSON lines.
fn detect_format(dir: &Path) -> anyhow::Result<Format> {
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!(
            "cannot read {}; pass a directory written by `allot generate --out avro:DIR`",
            dir.display()
        )
    })?;
    let mut found = None;
    for e in entries.flatten() {
        if let Some(f) = Format::of_path(&e.path()) {
            if f == Format::Avro {
                return Ok(f);
            }
            found = Some(f);
        }
    }
    found.with_context(|| {
        format!(
            "{} holds no <topic>.avro or <topic>.jsonl file",
            dir.display()
        )
    })
}

/// `allot run`: the input topics on Kafka through the processors; availability and dead
/// letters back to Kafka. At-least-once: an input offset is acknowledged (and so committed)
/// only after everything the flush that covered it produced has been acknowledged by the
/// brokers.
///
/// The loop never waits for the brokers: it reads every message that is ready, and when
/// none is (it has caught up) or the oldest unpublished change has waited
/// `availability_coalesce_ms`, it builds a flush and hands it to the producer. Deliveries are
/// awaited in flush order alongside the reading, and each flush's offsets are acknowledged
/// when all its deliveries are in. So a trickle of events is published at once, and under
/// load flushes grow until their cost is amortized, never later than the bound.
///
/// Group membership: a revocation is deferred until the instance has published everything
/// it read, seen it acknowledged and committed the offsets ([`Publisher::hand_over`]); only
/// then do the partitions go. `/ready` follows the group (see [`Readiness`]). Each rebalance's
/// pause, from the callback to the first record processed after it, goes to
/// `allot_rebalance_pause_seconds` and a log line.
///
/// Shutdown on SIGTERM or SIGINT: stop reading, publish everything (held skus too), wait for
/// every delivery, commit, leave the group, return the report (exit 0). A second signal exits
/// at once with 128 + the signal number; what was not committed is read again after a
/// restart.
pub async fn run_kafka(config: &AllotConfig, limits: RunLimits) -> anyhow::Result<RunReport> {
    run_group(config, limits, false).await
}

/// `allot source`: partitioned state's sourcing stage. Decides the orders of the `orders`
/// and `order-events` topics (one partition each, so that every order is decided in one
/// sequence by one ledger; a second instance is a standby that takes over) in the consumer
/// group `<group_id>.sourcing`, against the supply the shards feed it, and feeds the units
/// it reserves back to them (`crate::feed`). Its state (ledger and processor) goes to the
/// changelog `allot.changelog.sourcing` and its snapshot. Otherwise as `allot run`: exactly
/// once or at least once, commits, hand-over, readiness, shutdown.
pub async fn run_source(config: &AllotConfig, limits: RunLimits) -> anyhow::Result<RunReport> {
    anyhow::ensure!(
        config.runtime.sku_partitions > 0,
        "allot source is partitioned state's sourcing stage, and runtime.sku_partitions is 0; \
         set it to the value allot intake and allot run use (without partitioned state, allot \
         run sources the orders itself)"
    );
    anyhow::ensure!(
        config.sourcing.enabled,
        "allot source decides orders, and sourcing.enabled is false; turn it on (for allot run \
         too: its shards then feed their supply to the stage and show its reservations)"
    );
    let mut config = config.clone();
    config.kafka.group_id = format!("{}.sourcing", config.kafka.group_id);
    let mut one = config.kafka.clone();
    one.partitions = 1;
    let orders = [Topic::Orders, Topic::OrderEvents];
    allot_connectors::kafka::ensure_topics(&one, &orders)
        .await
        .context("failed to create the order topics; check kafka.bootstrap_servers")?;
    for topic in orders {
        let name = config.kafka.topic_name(topic);
        let n = tokio::task::block_in_place(|| {
            allot_connectors::kafka::partition_count(&config.kafka, &name, Duration::from_secs(10))
        })
        .with_context(|| format!("failed to read the partitions of {name}"))?;
        anyhow::ensure!(
            n == 1,
            "{name} has {n} partitions; allot source decides every order in one sequence \
             (one ledger, so no unit is promised twice) and reads it from one partition: \
             recreate {name} with one partition, or run without partitioned state \
             (runtime.sku_partitions = 0), where allot run sources the orders itself"
        );
    }
    run_group(&config, limits, true).await
}

/// `allot run` (`stage` false) or `allot source` (`stage` true: the orders only, decided
/// against the shards' supply).
async fn run_group(
    config: &AllotConfig,
    limits: RunLimits,
    stage: bool,
) -> anyhow::Result<RunReport> {
    // First, so a SIGTERM during start-up is a graceful stop, not the default kill.
    let mut signals = Signals::listen().context("failed to listen for SIGTERM and SIGINT")?;
    let (registry, metrics, connector_metrics) = registries()?;
    let inputs = match stage {
        true => vec![Topic::Orders, Topic::OrderEvents],
        false => event_topics(),
    };
    let exactly_once = config.runtime.processing == Processing::ExactlyOnce;
    let partitioned = config.runtime.sku_partitions > 0 && !stage;
    // Partitioned: the group reads the co-partitioned topics `allot intake` writes.
    let mut consumer_config = if partitioned {
        let bysku = bysku_kafka(config);
        ensure_bysku_topics(&bysku, config.runtime.sku_partitions).await?;
        bysku
    } else {
        config.kafka.clone()
    };
    let sink = if exactly_once {
        // Offsets are committed only inside transactions.
        consumer_config
            .properties
            .insert("enable.auto.commit".into(), "false".into());
        let id = format!("{}-{}", config.kafka.group_id, config.runtime.instance_name);
        let (kafka, m) = (config.kafka.clone(), connector_metrics.clone());
        let sink = tokio::task::spawn_blocking(move || {
            KafkaSink::transactional(
                &kafka,
                Arc::new(StaticResolver::new()),
                m,
                &id,
                TRANSACTION_TIMEOUT,
            )
        })
        .await
        .context("starting the transactional producer panicked")?
        .context(
            "failed to start the transactional producer; check kafka.bootstrap_servers, and that \
             the brokers allow transactions (transaction.state.log.* settings)",
        )?;
        sink.begin_transaction()?;
        sink
    } else {
        KafkaSink::new(&config.kafka, connector_metrics.clone())
            .context("failed to create the Kafka producer; check kafka.bootstrap_servers")?
    };
    // Dead letters of undecodable input are written as the source reads, outside any
    // transaction (at least once).
    let dlq_sink = KafkaSink::new(&config.kafka, connector_metrics.clone())?;
    let source = KafkaSource::new(
        &consumer_config,
        &inputs,
        dlq_sink,
        connector_metrics.clone(),
    )
    .context(
        "failed to create the Kafka consumer; check kafka.bootstrap_servers and kafka.group_id",
    )?;
    source.defer_revocations();
    let readiness = source.readiness();
    let (server, view) = serve_http(config, &registry, readiness.clone()).await?;
    let mut pauses = Pauses::new(metrics.clone());
    let mut pipeline = Pipeline::new(config, metrics, connector_metrics.clone());
    pipeline.load_rules(config)?;
    pipeline.view = view;
    pipeline.paced_since = Some(Instant::now());
    if stage {
        pipeline.stage = Some(crate::feed::SupplyMirror::default());
    } else if partitioned && config.sourcing.enabled {
        pipeline.reserved = Some(crate::feed::ReservedMirror::default());
    }
    let mut lanes = Lanes::default();
    let input_partitions = if partitioned {
        // (each shard engine opens one lane per topic: `topic_lane`)
        pipeline.shards = Some(Shards::new(config.runtime.sku_partitions));
        Ok(Vec::new())
    } else {
        source.partitions(Duration::from_secs(10))
    };
    match input_partitions {
        Ok(partitions) if partitioned => debug_assert!(partitions.is_empty()),
        Ok(partitions) => {
            for (topic, partition) in partitions {
                lanes.lane(topic, partition);
            }
            pipeline.engine.open_lanes(lanes.len());
        }
        Err(e) => eprintln!(
            "allot: could not read the input topics' partitions ({e}); lateness is judged per \
             partition as they appear"
        ),
    }
    // The reference data first, whole (every instance needs all locations and policies), so
    // that what interns location and sku names meets them in the topics' order at every
    // start, whatever the changelog holds (sourcing breaks cost ties by that order). Kept
    // until the restore is done: a restore that falls back to a fresh state applies them
    // again.
    pipeline.tables = Some(Vec::new());
    let (tables, mut stopped_by) =
        read_tables(config, &mut pipeline, &connector_metrics, &mut signals).await?;
    // The state as of the last commit, before any input is read.
    let mut changelog = if config.runtime.changelog {
        Some(restore::restore_changelog(config, &mut pipeline, lanes.len()).await?)
    } else {
        None
    };
    // Partitioned state with sourcing on: the feed this instance follows, read to its end.
    let follower = match &mut changelog {
        Some(changelog) => restore::open_feeds(config, &mut pipeline, changelog).await?,
        None => None,
    };
    if !partitioned && !stage {
        // (partitioned: kept for the life of the run, for the shards yet to be assigned; the
        // stage: for the restore at each assignment)
        pipeline.tables = None;
    }
    if !partitioned && !stage && config.sourcing.enabled {
        let mut ends = tokio::task::block_in_place(|| source.ends(Duration::from_secs(10)))
            .context("failed to read where the input topics end")?;
        ends.retain(|&(topic, _, _)| topic != Topic::Orders);
        if !ends.is_empty() {
            pipeline.supply_hold = Some(SupplyHold::new(ends));
        }
    }
    let commits = if exactly_once {
        Commits::Transactions {
            interval: Duration::from_millis(config.runtime.commit_interval_ms),
            opened: Instant::now(),
            offsets: Acks::default(),
            dirty: false,
        }
    } else {
        Commits::Acks
    };
    let mut publisher = Publisher::new(sink, commits, pipeline.metrics.clone(), changelog);
    let mut acks = Acks::default();
    let started = Instant::now();
    let idle = limits.idle_exit_ms.map(Duration::from_millis);
    let mut last_input = Instant::now();
    let tick = Duration::from_millis(config.runtime.availability_coalesce_ms.max(1));
    // Kept across iterations, never dropped half-way: `next` may be dead-lettering a message.
    let mut next = Box::pin(source.next());
    let mut next_table = Box::pin(tables.next());
    let mut next_fed = Box::pin(follow(follower.as_ref()));
    let topic_names: Vec<String> = Topic::ALL
        .iter()
        .map(|t| consumer_config.topic_name(*t))
        .collect();
    let mut take = |pipeline: &mut Pipeline, acks: &mut Acks, consumed: Consumed| {
        let origin_topic = &topic_names[consumed.topic.index()];
        let lane = if partitioned {
            topic_lane(consumed.topic)
        } else {
            lanes.lane(consumed.topic, consumed.partition)
        };
        pipeline.input_bytes += consumed.bytes as u64;
        pipeline.accept_in(
            lane,
            Origin {
                topic: origin_topic,
                partition: consumed.partition,
                offset: consumed.offset,
            },
            &consumed.record,
        );
        acks.note(consumed.topic, consumed.partition, consumed.offset);
    };
    // (A signal while the tables were read skips the loop.)
    while stopped_by.is_none() {
        if limits
            .max_records
            .is_some_and(|m| pipeline.input_records >= m)
        {
            break;
        }
        let wake = wake_in(&pipeline, &publisher, tick);
        tokio::select! {
            biased;
            signal = signals.recv() => {
                stopped_by = Some(signal);
                break;
            }
            _ = source.group_changed() => {
                for event in source.take_group_events() {
                    follow_group(config, event, &mut pipeline, &mut acks, &mut publisher, &source, &readiness, &mut pauses).await?;
                }
            }
            acked = publisher.ack_oldest(&source), if publisher.in_flight() > 0 => acked?,
            // Reference data keeps arriving; applied like input, never committed (every
            // start reads the tables whole).
            consumed = &mut next_table => {
                next_table.set(tables.next());
                pipeline.accept_table(&config.kafka, consumed.context("failed to read a reference topic")?);
            }
            // The feed from the other stage (before the input: the stage sources orders
            // against the newest supply it has).
            fed = &mut next_fed => {
                next_fed.set(follow(follower.as_ref()));
                let (_, key, value) = fed.context("failed to read a feed between stages")?;
                pipeline.accept_feed(&key, value.as_deref()).context(
                    "a record of a feed between stages does not read; the stage that wrote it \
                     may be of another allot version",
                )?;
            }
            consumed = &mut next => {
                next.set(source.next());
                take(&mut pipeline, &mut acks, consumed.context("failed to read from Kafka")?);
                last_input = Instant::now();
                pauses.resumed();
                // Read what is ready without waiting, then publish if caught up or due.
                let mut caught_up = false;
                for n in 0..DRAIN_MAX {
                    // (reading the clock per message costs more than applying one)
                    if n % 64 == 63 && pipeline.flush_due() {
                        break;
                    }
                    match poll_once(next.as_mut()).await {
                        Some(consumed) => {
                            next.set(source.next());
                            take(&mut pipeline, &mut acks, consumed.context("failed to read from Kafka")?);
                        }
                        None => {
                            caught_up = true;
                            break;
                        }
                    }
                }
                check_supply_hold(&mut pipeline, &source);
                if caught_up || pipeline.flush_due() {
                    publisher.publish(&mut pipeline, &mut acks, &source).await?;
                }
                publisher.commit_if_due(&source).await?;
                publisher.snapshot_if_due(&mut pipeline, &mut acks, &source).await?;
            }
            _ = tokio::time::sleep(wake) => {
                check_supply_hold(&mut pipeline, &source);
                if pipeline.flush_due() || publisher.next_release().is_some_and(|t| t <= Instant::now()) {
                    publisher.publish(&mut pipeline, &mut acks, &source).await?;
                }
                publisher.commit_if_due(&source).await?;
                publisher.snapshot_if_due(&mut pipeline, &mut acks, &source).await?;
                if idle.is_some_and(|i| last_input.elapsed() >= i) {
                    break;
                }
            }
        }
    }
    drop(next);
    drop(next_table);
    drop(next_fed);
    drop(follower);
    drop(tables);
    readiness.shutting_down();
    if let Some(signal) = stopped_by {
        eprintln!(
            "allot: {} received: publishing, committing and leaving the group (send it again \
             to exit at once)",
            signal.name
        );
        // A second signal exits at once; nothing after the last commit is lost, only read again.
        tokio::spawn(async move {
            let again = signals.recv().await;
            eprintln!(
                "allot: second signal ({}): exiting without finishing",
                again.name
            );
            std::process::exit(again.exit_code);
        });
    }
    // The last flush publishes every sku, held or not, and decides every queued order.
    pipeline.paced_since = None;
    pipeline.held = None;
    pipeline.supply_hold = None;
    publisher.publish(&mut pipeline, &mut acks, &source).await?;
    publisher.drain(&source).await?;
    publisher.commit(&source, false).await.context(
        "failed to commit the consumed offsets while stopping; they are read again after a restart",
    )?;
    // So the next start reads only what comes after this stop.
    publisher
        .snapshot(&mut pipeline, &mut acks, &source, false)
        .await?;
    publisher.finish_snapshot().await;
    close_source(source).await?;
    if let Some(server) = server {
        server.shutdown().await?;
    }
    let letters = publisher.letters;
    Ok(pipeline.report(
        if stage { "source" } else { "run" },
        started.elapsed(),
        publisher.published.finish(&pipeline, letters, false),
    ))
}

/// The next record of `follower`, or never without one.
async fn follow(
    follower: Option<&allot_connectors::kafka::ChangelogFollower>,
) -> Result<(i32, Vec<u8>, Option<Vec<u8>>), allot_connectors::kafka::KafkaError> {
    match follower {
        Some(f) => f.next().await,
        None => std::future::pending().await,
    }
}

/// How long the loop may sleep when no message comes: until a flush or a release of parked
/// offsets is due, at most `tick`.
fn wake_in(pipeline: &Pipeline, publisher: &Publisher, tick: Duration) -> Duration {
    [
        pipeline.next_flush(),
        publisher.next_release(),
        publisher.commit_due(),
    ]
    .into_iter()
    .flatten()
    .min()
    .map_or(tick, |t| {
        t.saturating_duration_since(Instant::now()).min(tick)
    })
}

/// How often a [`SupplyHold`] compares the consumer's positions with the supply's ends, and
/// how often it says how far it is.
const HOLD_CHECK_EVERY: Duration = Duration::from_millis(100);
const HOLD_REPORT_EVERY: Duration = Duration::from_secs(10);

/// Lets the queued orders be decided once the supply that was in the topics at start has
/// been read (see [`SupplyHold`]). A failed comparison is tried again at the next check.
fn check_supply_hold(pipeline: &mut Pipeline, source: &KafkaSource) {
    let Some(hold) = &mut pipeline.supply_hold else {
        return;
    };
    if hold.checked.elapsed() < HOLD_CHECK_EVERY {
        return;
    }
    let read = tokio::task::block_in_place(|| {
        source.reached_assigned(&mut hold.ends, Duration::from_secs(10))
    });
    hold.checked = Instant::now();
    let queued = pipeline.sourcing.pending();
    match read {
        Ok(true) => {
            eprintln!(
                "allot: sourcing: read the supply that was in the topics at start in {:.1} s; \
                 deciding the {queued} orders queued meanwhile",
                hold.since.elapsed().as_secs_f64()
            );
            pipeline.supply_hold = None;
            if queued > 0 {
                pipeline.unflushed_since.get_or_insert_with(Instant::now);
            }
        }
        Ok(false) if hold.reported.elapsed() >= HOLD_REPORT_EVERY => {
            hold.reported = Instant::now();
            eprintln!(
                "allot: sourcing: reading the supply that was in the topics at start before \
                 deciding orders: {} partitions to go, {queued} orders queued ({:.0} s)",
                hold.ends.len(),
                hold.since.elapsed().as_secs_f64()
            );
        }
        Ok(false) => {}
        Err(e) => eprintln!(
            "allot: sourcing: could not compare the consumer's positions with the supply's \
             ends ({e}); trying again"
        ),
    }
}

/// Leaves the consumer group (blocking until the coordinator answers, on a blocking thread),
/// giving up when librdkafka cannot finish the close (`CloseWatch::stuck`) or after
/// [`CLOSE_TIMEOUT`]: the partitions then move after the session timeout.
async fn close_source(source: KafkaSource) -> anyhow::Result<()> {
    let watch = source.close_watch();
    let mut closing = tokio::task::spawn_blocking(move || source.close());
    let started_closing = Instant::now();
    loop {
        match tokio::time::timeout(Duration::from_millis(100), &mut closing).await {
            Ok(joined) => {
                joined.context("closing the Kafka consumer panicked")?;
                break;
            }
            Err(_) if watch.stuck() => {
                eprintln!(
                    "allot: the group assigned partitions while the consumer was closing, which \
                     librdkafka cannot finish (librdkafka #4884); exiting without leaving the \
                     group: its partitions move after the session timeout. Everything read \
                     was committed."
                );
                break;
            }
            Err(_) if started_closing.elapsed() >= CLOSE_TIMEOUT => {
                eprintln!(
                    "allot: the consumer did not leave the group within {CLOSE_TIMEOUT:?}; its \
                     partitions move after the session timeout"
                );
                break;
            }
            Err(_) => {}
        }
    }
    Ok(())
}

/// How long a stopping instance waits for the group coordinator to confirm it left.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

/// Acts on one change of this instance's partitions.
///
/// - Revoked (deferred): hand over, then let the partitions go. The pause starts at the
///   callback.
/// - Lost: the partitions are already gone; nothing may be committed for them.
/// - Assigned: with partitioned state, restore the engines of partitions new to this
///   instance (and let go those revoked and not given back), then report ready. Without,
///   the state was restored at start, so the instance is ready at once.
#[allow(clippy::too_many_arguments)]
async fn follow_group(
    config: &AllotConfig,
    event: GroupEvent,
    pipeline: &mut Pipeline,
    acks: &mut Acks,
    publisher: &mut Publisher,
    source: &KafkaSource,
    readiness: &Readiness,
    pauses: &mut Pauses,
) -> anyhow::Result<()> {
    match event {
        GroupEvent::Revoked {
            partitions,
            deferred,
            at,
        } => {
            pauses.open(at, "revoked", partitions.len());
            // What it hands over includes its decisions: the queued orders are decided now.
            pipeline.supply_hold = None;
            if let Some(shards) = &mut pipeline.shards {
                shards.revoked.extend(partitions.iter().map(|(_, p)| *p));
            }
            if deferred {
                let started = Instant::now();
                publisher.hand_over(pipeline, acks, source).await?;
                source
                    .release_revoked()
                    .context("failed to release the revoked partitions")?;
                eprintln!(
                    "allot: handed over {} partitions in {:.3} s (published, delivered, committed) \
                     at_ms={}",
                    partitions.len(),
                    started.elapsed().as_secs_f64(),
                    epoch_ms(Instant::now()),
                );
            }
        }
        GroupEvent::Lost { partitions, at } => {
            pauses.open(at, "lost", partitions.len());
            pipeline.stage_current = false;
            if let Some(shards) = &mut pipeline.shards {
                // Another member may already have moved their state on.
                for (_, p) in &partitions {
                    shards.retire(*p);
                }
            }
            eprintln!(
                "allot: lost {} partitions (session timed out?); what was read from them and not \
                 committed is read again by their new owner",
                partitions.len()
            );
        }
        GroupEvent::Assigned {
            partitions,
            held,
            at,
        } => {
            pauses.open(at, "assigned", partitions.len());
            if pipeline.shards.is_some() {
                restore_assigned(config, &partitions, pipeline, publisher).await?;
            }
            if pipeline.stage.is_some() {
                if partitions.is_empty() {
                    pipeline.stage_current = false;
                } else if !pipeline.stage_current {
                    // Another instance may have decided orders since this one's state was
                    // read: read it again, as of the last commit.
                    restore::restore_stage(config, pipeline, publisher).await?;
                    pipeline.stage_current = true;
                }
            }
            readiness.restored();
            if held == 0 {
                pauses.idle();
            }
            eprintln!(
                "allot: assigned {} partitions, holding {held} at_ms={}",
                partitions.len(),
                epoch_ms(at)
            );
        }
        // GroupEvent is non-exhaustive: a new kind of event is logged, not ignored silently.
        #[allow(unreachable_patterns)]
        other => eprintln!("allot: consumer group event {other:?}"),
    }
    Ok(())
}

/// Partitioned state, on an assignment: lets go the engines of partitions revoked and not
/// given back, and restores those of the partitions new to this instance (see `shards`).
async fn restore_assigned(
    config: &AllotConfig,
    assigned: &[(Topic, i32)],
    pipeline: &mut Pipeline,
    publisher: &mut Publisher,
) -> anyhow::Result<()> {
    let held: std::collections::BTreeSet<i32> = assigned.iter().map(|(_, p)| *p).collect();
    let shards = pipeline.shards.as_mut().expect("partitioned");
    for p in std::mem::take(&mut shards.revoked) {
        if !held.contains(&p) {
            shards.retire(p);
        }
    }
    let new: Vec<i32> = held
        .iter()
        .filter(|p| !shards.engines.contains_key(p))
        .copied()
        .collect();
    let started = Instant::now();
    restore::restore_shards(config, pipeline, publisher, &new).await?;
    if !new.is_empty() {
        eprintln!(
            "allot: restored {} sku partitions {new:?} in {:.2} s; holding {held:?}",
            new.len(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// `allot run`'s and `allot intake`'s Kafka config for the `bysku.` topics: the prefix
/// extended, `runtime.sku_partitions` partitions.
pub fn bysku_kafka(config: &AllotConfig) -> allot_connectors::kafka::KafkaConfig {
    let mut kafka = config.kafka.clone();
    kafka.topic_prefix = format!("{}bysku.", config.kafka.topic_prefix);
    kafka.partitions = config.runtime.sku_partitions as i32;
    kafka
}

/// Creates the `bysku.` event topics if needed, and checks each has `count` partitions.
async fn ensure_bysku_topics(
    bysku: &allot_connectors::kafka::KafkaConfig,
    count: u32,
) -> anyhow::Result<()> {
    allot_connectors::kafka::ensure_topics(bysku, &event_topics())
        .await
        .context("failed to create the bysku. topics; check kafka.bootstrap_servers")?;
    for topic in event_topics() {
        let name = bysku.topic_name(topic);
        let n = tokio::task::block_in_place(|| {
            allot_connectors::kafka::partition_count(bysku, &name, Duration::from_secs(10))
        })
        .with_context(|| format!("failed to read the partitions of {name}"))?;
        anyhow::ensure!(
            n == count as usize,
            "{name} has {n} partitions but runtime.sku_partitions is {count}; they must be \
             equal: keep the sku_partitions the topics were made with, or delete the bysku. \
             and changelog topics and rebuild them from the inputs"
        );
    }
    Ok(())
}

/// `instant` as milliseconds since the Unix epoch (for log lines compared across instances).
fn epoch_ms(instant: Instant) -> u128 {
    let now = std::time::SystemTime::now();
    let ago = Instant::now().saturating_duration_since(instant);
    now.checked_sub(ago)
        .unwrap_or(now)
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// The rebalance pause in progress: from the callback that opened it to the first record
/// processed after it.
struct Pauses {
    metrics: PipelineMetrics,
    /// When the pause began, what began it, and how many partitions moved.
    open: Option<(Instant, &'static str, usize)>,
}

impl Pauses {
    fn new(metrics: PipelineMetrics) -> Pauses {
        Pauses {
            metrics,
            open: None,
        }
    }

    /// A rebalance callback at `at`; a pause already open keeps its start.
    fn open(&mut self, at: Instant, cause: &'static str, partitions: usize) {
        self.open.get_or_insert((at, cause, partitions));
    }

    /// The instance holds no partition now (a standby): nothing waits for it, so no pause
    /// is open (the next one starts at the callback that gives it partitions).
    fn idle(&mut self) {
        self.open = None;
    }

    /// A record was processed: closes the open pause, if any.
    fn resumed(&mut self) {
        if let Some((at, cause, partitions)) = self.open.take() {
            let pause = at.elapsed().as_secs_f64();
            self.metrics.rebalance_pause(cause, pause);
            eprintln!(
                "allot: rebalance pause {pause:.3} s ({cause} {partitions} partitions, then the \
                 first record) event_at_ms={} resumed_at_ms={}",
                epoch_ms(at),
                epoch_ms(Instant::now())
            );
        }
    }
}

/// Messages read without waiting before the loop looks at its other work.
const DRAIN_MAX: usize = 4096;

/// Flushes handed to the producer and not yet acknowledged, at most; beyond, the loop waits
/// for the oldest before building another.
const MAX_IN_FLIGHT: usize = 64;

/// Polls `future` once: its output if it is ready, `None` if not (it stays alive).
async fn poll_once<F: Future>(mut future: Pin<&mut F>) -> Option<F::Output> {
    std::future::poll_fn(|cx| match future.as_mut().poll(cx) {
        Poll::Ready(out) => Poll::Ready(Some(out)),
        Poll::Pending => Poll::Ready(None),
    })
    .await
}

/// Input lanes: each (topic, partition) read gets a number for the engine's lateness rule.
#[derive(Debug, Default)]
struct Lanes(HashMap<(Topic, i32), u32>);

impl Lanes {
    fn lane(&mut self, topic: Topic, partition: i32) -> u32 {
        let n = self.0.len() as u32;
        *self.0.entry((topic, partition)).or_insert(n)
    }

    fn len(&self) -> u32 {
        self.0.len() as u32
    }
}

/// Input offsets to acknowledge: (topic, partition, newest offset).
type Offsets = Vec<(Topic, i32, i64)>;

/// The newest offset read per input partition since the last flush.
#[derive(Debug, Default)]
struct Acks(Offsets);

impl Acks {
    fn note(&mut self, topic: Topic, partition: i32, offset: i64) {
        match self
            .0
            .iter_mut()
            .find(|(t, p, _)| *t == topic && *p == partition)
        {
            Some((_, _, o)) => *o = (*o).max(offset),
            None => self.0.push((topic, partition, offset)),
        }
    }
}

/// One flush on its way to the brokers, and the input offsets it covers.
struct InFlight {
    deliveries: Vec<Delivery>,
    /// The changelog's deliveries, whose offsets a snapshot records.
    changelog: Vec<Delivery>,
    acks: Offsets,
}

/// The changelog topic of the availability engine's state, and the batch reused per flush.
struct Changelog {
    topic: Arc<str>,
    batch: ChangelogBatch,
    /// Per partition, the end the restore read to (see [`Publisher::changelog_ends`]).
    ends: BTreeMap<i32, i64>,
    /// Local snapshots of the state, with `runtime.state_dir`.
    snapshots: Option<restore::Snapshots>,
    /// Partitioned state with sourcing on: the feed this instance writes beside its
    /// changelog (`crate::feed`: the shards' supply, or the stage's reserved units).
    feed: Option<Feed>,
}

/// A feed between partitioned state's stages, as its writer keeps it.
struct Feed {
    topic: Arc<str>,
    batch: ChangelogBatch,
    /// Its partitions: `runtime.sku_partitions`, partition = the sku's.
    partitions: u32,
}

/// How a [`Publisher`] commits (see [`Processing`]).
enum Commits {
    /// At least once: acknowledged offsets go to the consumer, which commits them.
    Acks,
    /// Exactly once: one Kafka transaction open at a time, committed every `interval` with
    /// the input offsets its outputs cover.
    Transactions {
        interval: Duration,
        /// When the open transaction began.
        opened: Instant,
        /// Offsets covered by acknowledged flushes of the open transaction.
        offsets: Acks,
        /// Something was produced or covered since the last commit.
        dirty: bool,
    },
}

/// The longest a transaction step may block.
const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(60);

/// Hands flushes to the producer and reports, in flush order, when each is acknowledged.
struct Publisher {
    sink: KafkaSink,
    commits: Commits,
    metrics: PipelineMetrics,
    /// Where the engine's changed state goes with every flush, if anywhere.
    changelog: Option<Changelog>,
    /// Per changelog partition, the offset after the last record of this instance's that
    /// the brokers acknowledged (from the restore's ends on): where a snapshot taken now
    /// would have the changelog continue.
    changelog_ends: BTreeMap<i32, i64>,
    pending: VecDeque<InFlight>,
    /// Offsets of input whose changes a paced flush held back, each with the time by which
    /// every sku it held is published; released in order into the first flush at or after.
    parked: VecDeque<(Instant, Offsets)>,
    out: EncodedBatch,
    published: Published,
    letters: u64,
}

impl Publisher {
    fn new(
        sink: KafkaSink,
        commits: Commits,
        metrics: PipelineMetrics,
        changelog: Option<Changelog>,
    ) -> Publisher {
        let changelog_ends = changelog
            .as_ref()
            .map(|c| c.ends.clone())
            .unwrap_or_default();
        Publisher {
            sink,
            commits,
            metrics,
            changelog,
            changelog_ends,
            pending: VecDeque::new(),
            parked: VecDeque::new(),
            out: EncodedBatch::default(),
            published: Published::default(),
            letters: 0,
        }
    }

    fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// When the oldest parked offsets may be released by a flush.
    fn next_release(&self) -> Option<Instant> {
        self.parked.front().map(|(due, _)| *due)
    }

    /// Waits for the oldest flush to be acknowledged; returns the offsets it covers.
    /// Cancel-safe: a delivery is removed only once it has resolved.
    async fn next_done(&mut self) -> anyhow::Result<Offsets> {
        let Some(front) = self.pending.front_mut() else {
            return Ok(Vec::new());
        };
        while let Some(delivery) = front.deliveries.last_mut() {
            delivery.await.context("failed to publish to Kafka")?;
            front.deliveries.pop();
        }
        while let Some(delivery) = front.changelog.last_mut() {
            let at = delivery.await.context("failed to write the changelog")?;
            front.changelog.pop();
            let end = self.changelog_ends.entry(at.partition).or_insert(0);
            *end = (*end).max(at.offset + 1);
        }
        let done = self.pending.pop_front().expect("front exists");
        Ok(done.acks)
    }

    /// Waits for the oldest flush and acknowledges its input offsets. An offset of a partition
    /// no longer held here (lost) is skipped: its new owner reads from the last commit.
    async fn ack_oldest(&mut self, source: &KafkaSource) -> anyhow::Result<()> {
        let done = self.next_done().await?;
        if let Commits::Transactions { offsets, dirty, .. } = &mut self.commits {
            // Committed with the transaction, not by the consumer.
            for (topic, partition, offset) in done {
                offsets.note(topic, partition, offset);
                *dirty = true;
            }
            return Ok(());
        }
        for (topic, partition, offset) in done {
            match source.ack_offset(topic, partition, offset) {
                Err(e @ allot_connectors::kafka::KafkaError::NotAssigned { .. }) => {
                    tracing::warn!("{e}; its new owner reads it again from the last commit");
                }
                other => other?,
            }
        }
        Ok(())
    }

    /// Flushes the pipeline into the producer's queue without waiting for the brokers.
    async fn publish(
        &mut self,
        pipeline: &mut Pipeline,
        acks: &mut Acks,
        source: &KafkaSource,
    ) -> anyhow::Result<()> {
        while self.pending.len() >= MAX_IN_FLIGHT {
            self.ack_oldest(source).await?;
        }
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        let flushed_at = Instant::now();
        // The last flush of a run is not paced: it publishes everything, held or not.
        let last = pipeline.paced_since.is_none();
        let flushed = pipeline.flush(&mut out, true);
        let letters = &flushed.letters;
        // Offsets are acknowledged only once every change they made is in published output.
        let mut covered = Acks::default();
        while self
            .parked
            .front()
            .is_some_and(|(due, _)| last || *due <= flushed_at)
        {
            let (_, parked) = self.parked.pop_front().expect("front exists");
            for (t, p, o) in parked {
                covered.note(t, p, o);
            }
        }
        let read = std::mem::take(&mut acks.0);
        // Exactly once with a changelog: the changelog written below carries the skus held
        // back by pacing (still to publish), in the same transaction as these offsets, so a
        // restarted instance publishes them itself: nothing needs parking. (Parking there
        // would commit state ahead of its offsets, and input read again after a restart
        // would re-date skus twice.)
        let atomic =
            self.changelog.is_some() && matches!(self.commits, Commits::Transactions { .. });
        match pipeline.held_at(|h| h.last_due_ms).filter(|_| !atomic) {
            Some(due) => self.parked.push_back((due, read)),
            None if self.parked.is_empty() => {
                for (t, p, o) in read {
                    covered.note(t, p, o);
                }
            }
            // behind older parked offsets: wait for them
            None => self.parked.push_back((flushed_at, read)),
        }
        let mut flight = InFlight {
            deliveries: Vec::with_capacity(out.len() + letters.len() + flushed.records.len()),
            changelog: Vec::new(),
            acks: covered.0,
        };
        for (key, value) in out.iter() {
            let d = self
                .enqueue(source, "failed to publish availability", |sink| {
                    sink.enqueue_framed(Topic::Availability, key, value)
                })
                .await?;
            flight.deliveries.push(d);
        }
        for l in letters {
            flight.deliveries.push(
                self.sink
                    .enqueue(l)
                    .context("failed to publish a dead letter")?,
            );
        }
        // The state this flush leaves, in the same flight (and transaction) as its outputs:
        // its offsets are acknowledged only once the changelog has it too. (A sourcing stage
        // that does not hold the orders writes nothing: its state may be stale, and the
        // instance that holds them owns the changelog and the reserved units.)
        let owns_state = pipeline.stage.is_none() || pipeline.stage_current;
        if owns_state && let Some(mut changelog) = self.changelog.take() {
            let mut written = Ok(());
            // One batch per engine, to its changelog partition (sourcing's with the one engine).
            let partitions = pipeline.changelog_partitions();
            for partition in partitions {
                changelog.batch.clear();
                pipeline
                    .engine_at(partition)
                    .changelog_dirty(&mut changelog.batch);
                if partition.is_none() {
                    pipeline.sourcing.changelog_dirty(&mut changelog.batch);
                }
                written = self
                    .write_changelog(&changelog, partition, &mut flight, source)
                    .await;
                if written.is_err() {
                    break;
                }
                // A shard's supply of the skus whose state this flush wrote, for the stage.
                if let (Some(feed), Some(_)) = (&mut changelog.feed, partition) {
                    feed.batch.clear();
                    let engine = pipeline.engine_at(partition);
                    crate::feed::write_supply(engine, &changelog.batch, &mut feed.batch);
                    written = self.write_feed(feed, &mut flight, source).await;
                    if written.is_err() {
                        break;
                    }
                }
            }
            // The stage's reserved units that changed, for the shards.
            if let (Some(feed), Some(mirror), Ok(())) =
                (&mut changelog.feed, &mut pipeline.stage, &written)
            {
                feed.batch.clear();
                mirror.write_reserved(&mut feed.batch);
                written = self.write_feed(feed, &mut flight, source).await;
            }
            self.changelog = Some(changelog);
            written?;
        }
        for r in &flushed.records {
            flight.deliveries.push(
                self.sink
                    .enqueue_any(r)
                    .with_context(|| format!("failed to publish to {}", r.topic()))?,
            );
        }
        // Awaited last first, so the first to resolve frees the most.
        flight.deliveries.reverse();
        flight.changelog.reverse();
        self.letters += self.published.record(&out, &flushed);
        self.out = out;
        if !flight.deliveries.is_empty() || !flight.changelog.is_empty() || !flight.acks.is_empty()
        {
            if let Commits::Transactions { dirty, .. } = &mut self.commits {
                *dirty = true;
            }
            self.pending.push_back(flight);
        }
        Ok(())
    }

    /// Queues `changelog`'s batch into `flight` (to `partition` when given, else by key), making room in the producer's queue by
    /// waiting for older flushes when it is full.
    async fn write_changelog(
        &mut self,
        changelog: &Changelog,
        partition: Option<i32>,
        flight: &mut InFlight,
        source: &KafkaSource,
    ) -> anyhow::Result<()> {
        for (key, value) in changelog.batch.iter() {
            let d = self
                .enqueue(source, "failed to write the changelog", |sink| {
                    sink.enqueue_raw_at(&changelog.topic, partition, key, value)
                })
                .await?;
            flight.changelog.push(d);
        }
        Ok(())
    }

    /// Queues `feed`'s batch into `flight`, each record to its sku's partition.
    async fn write_feed(
        &mut self,
        feed: &Feed,
        flight: &mut InFlight,
        source: &KafkaSource,
    ) -> anyhow::Result<()> {
        for (key, value) in feed.batch.iter() {
            let sku = crate::feed::sku_of(key).expect("feed records are keyed by sku");
            let partition = crate::partition::sku_partition(sku, feed.partitions) as i32;
            let d = self
                .enqueue(source, "failed to write a feed between stages", |sink| {
                    sink.enqueue_raw_at(&feed.topic, Some(partition), key, value)
                })
                .await?;
            flight.deliveries.push(d);
        }
        Ok(())
    }

    /// Queues one message with `send`; while the producer's queue is full, makes room by
    /// waiting for older flushes (or a moment, if none is in flight).
    async fn enqueue(
        &mut self,
        source: &KafkaSource,
        what: &'static str,
        mut send: impl FnMut(&KafkaSink) -> Result<Delivery, allot_connectors::kafka::KafkaError>,
    ) -> anyhow::Result<Delivery> {
        loop {
            match send(&self.sink) {
                Ok(d) => return Ok(d),
                Err(e) if e.action() == ErrorAction::Retry && !self.pending.is_empty() => {
                    self.ack_oldest(source).await?;
                }
                Err(e) if e.action() == ErrorAction::Retry => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err(e) => return Err(e).context(what),
            }
        }
    }

    /// When the open transaction is due to commit (exactly-once only).
    fn commit_due(&self) -> Option<Instant> {
        match &self.commits {
            Commits::Transactions {
                interval, opened, ..
            } => Some(*opened + *interval),
            Commits::Acks => None,
        }
    }

    /// Commits if the commit interval has passed.
    async fn commit_if_due(&mut self, source: &KafkaSource) -> anyhow::Result<()> {
        if self.commit_due().is_some_and(|t| t <= Instant::now()) {
            self.commit(source, true).await?;
        }
        Ok(())
    }

    /// At least once: commits the acknowledged offsets now. Exactly once: waits for every
    /// flush in flight, commits the transaction with the input offsets its outputs cover,
    /// and (if `reopen`) begins the next one. A failed transaction is aborted and the run
    /// stops: its outputs are discarded and its input is read again after a restart.
    async fn commit(&mut self, source: &KafkaSource, reopen: bool) -> anyhow::Result<()> {
        if matches!(self.commits, Commits::Acks) {
            return Ok(source.commit()?);
        }
        self.drain(source).await?;
        let Commits::Transactions {
            opened,
            offsets,
            dirty,
            ..
        } = &mut self.commits
        else {
            unreachable!("checked above")
        };
        if std::mem::take(dirty) {
            let started = Instant::now();
            let list = source.offsets_after(std::mem::take(&mut offsets.0))?;
            let group = source.group_metadata().context(
                "the consumer has no group metadata to commit offsets with; is kafka.group_id set?",
            )?;
            let sink = self.sink.clone();
            let committed = tokio::task::spawn_blocking(move || {
                sink.commit_transaction(&list, &group, TRANSACTION_TIMEOUT)
            })
            .await
            .context("committing the transaction panicked")?;
            if let Err(e) = committed {
                let sink = self.sink.clone();
                if let Ok(Err(abort)) =
                    tokio::task::spawn_blocking(move || sink.abort_transaction(TRANSACTION_TIMEOUT))
                        .await
                {
                    tracing::warn!("aborting the failed transaction failed too: {abort}");
                }
                return Err(e).context(
                    "the Kafka transaction failed and was aborted: its outputs are discarded and \
                     its input is read again from the last commit; restart allot run",
                );
            }
            self.metrics
                .transaction_committed(started.elapsed().as_secs_f64());
            if reopen {
                self.sink.begin_transaction()?;
            }
        }
        *opened = Instant::now();
        Ok(())
    }

    /// Waits for every flush in flight and acknowledges its offsets.
    async fn drain(&mut self, source: &KafkaSource) -> anyhow::Result<()> {
        while !self.pending.is_empty() {
            self.ack_oldest(source).await?;
        }
        Ok(())
    }

    /// Before partitions go to another member: publishes every change read so far (skus held
    /// by pacing too), waits until the brokers have acknowledged all of it, and commits the
    /// offsets it covers. So the new owner starts after the last input this instance applied,
    /// and no message of this instance for those skus lands after the new owner's.
    async fn hand_over(
        &mut self,
        pipeline: &mut Pipeline,
        acks: &mut Acks,
        source: &KafkaSource,
    ) -> anyhow::Result<()> {
        let paced = pipeline.paced_since.take();
        let published = self.publish(pipeline, acks, source).await;
        pipeline.paced_since = paced;
        pipeline.held = None;
        published?;
        self.drain(source).await?;
        self.commit(source, true)
            .await
            .context("failed to commit offsets before handing partitions over")?;
        Ok(())
    }
}

/// A stop signal: its name and the exit code of a process killed by it.
#[derive(Debug, Clone, Copy)]
struct Stop {
    name: &'static str,
    exit_code: i32,
}

/// SIGTERM and SIGINT (Ctrl-C), listened for from start-up on.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn listen() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// The next signal. Cancel-safe.
    async fn recv(&mut self) -> Stop {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.term.recv() => Stop { name: "SIGTERM", exit_code: 128 + 15 },
                _ = self.int.recv() => Stop { name: "SIGINT", exit_code: 128 + 2 },
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            Stop {
                name: "Ctrl-C",
                exit_code: 130,
            }
        }
    }
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        writeln!(f, "allot {} finished in {:.2} s", self.mode, secs)?;
        writeln!(
            f,
            "  input: {} records ({:.1} MiB framed), {:.0} records/s",
            self.input_records,
            self.input_bytes as f64 / (1024.0 * 1024.0),
            self.input_records as f64 / secs,
        )?;
        writeln!(
            f,
            "  outcome: {} accepted, {} duplicates, {} dead-lettered ({} refused by validation)",
            self.engine.accepted,
            self.engine.duplicates,
            self.outputs.dead_letters,
            self.engine.refused
        )?;
        writeln!(
            f,
            "  availability: {} messages ({:.1} MiB) for {} skus",
            self.outputs.availability,
            self.outputs.availability_bytes as f64 / (1024.0 * 1024.0),
            self.outputs.skus,
        )?;
        writeln!(
            f,
            "  state: {} (sku, location) positions, {} skus, {} locations, {} shipments/POs, {} event ids in the dedupe window",
            self.state.positions,
            self.state.skus,
            self.state.locations,
            self.state.documents,
            self.state.remembered_event_ids
        )?;
        let so = &self.sourcing;
        if so.orders > 0 {
            let lines = (so.allocated + so.backordered + so.rejected).max(1) as f64;
            writeln!(
                f,
                "  sourcing: {} orders and {} modifications decided ({} decisions published), lines \
                 {:.1}% allocated, {:.1}% backordered, {:.1}% rejected; {} price mismatches; {} \
                 replanned",
                so.orders,
                so.modifications,
                self.outputs.decisions,
                100.0 * so.allocated as f64 / lines,
                100.0 * so.backordered as f64 / lines,
                100.0 * so.rejected as f64 / lines,
                so.price_mismatches,
                so.replanned,
            )?;
            writeln!(
                f,
                "  sourcing: cost {:.2} per order, split rate {:.1}%, ship-from-store {:.1}% of \
                 shipped lines; reservations {} consumed, {} released, {} pickups expired",
                so.cost_cents as f64 / 100.0 / so.orders as f64,
                100.0 * so.shipments.saturating_sub(so.shipped_orders) as f64
                    / so.shipped_orders.max(1) as f64,
                100.0 * so.ship_from_store_lines as f64 / so.shipped_lines.max(1) as f64,
                so.consumed,
                so.released,
                so.expired,
            )?;
            let busy = self.sourcing_busy.elapsed.as_secs_f64();
            writeln!(
                f,
                "  sourcing: {} batches took {:.3} s, {:.0} orders/s while deciding",
                self.sourcing_busy.batches,
                busy,
                (so.orders + so.modifications) as f64 / busy.max(1e-9),
            )?;
        }
        if self.state.unknown_locations > 0 {
            writeln!(
                f,
                "  note: {} locations have stock but are not on the locations topic, so they are \
                 in no channel",
                self.state.unknown_locations
            )?;
        }
        if let Some((lo, hi)) = self.tally.event_time_range {
            writeln!(
                f,
                "  simulated time covered: {:.1} days",
                (hi - lo) as f64 / 86_400_000.0
            )?;
        }
        writeln!(f)?;
        write!(f, "{}", self.tally)?;
        if !self.outputs.samples.is_empty() {
            writeln!(f)?;
            writeln!(
                f,
                "  network ATP of the best-stocked skus (first bucket = today):"
            )?;
            for a in &self.outputs.samples {
                let per_channel: Vec<String> = a
                    .channels
                    .iter()
                    .map(|c| {
                        let b: Vec<String> = c.network.iter().map(|b| b.atp.to_string()).collect();
                        format!("{:?} [{}]", c.channel, b.join(" "))
                    })
                    .collect();
                writeln!(
                    f,
                    "    {:<12} v{:<5} {}",
                    a.sku,
                    a.version,
                    per_channel.join("  ")
                )?;
            }
        }
        Ok(())
    }
}

/// The table printed by `allot topics`.
pub fn topics_table() -> String {
    let mut s = format!(
        "{:<30} {:<7} {:<10} {:<26} {}\n",
        "topic", "flow", "retention", "key", "schema"
    );
    for t in Topic::ALL {
        s.push_str(&format!(
            "{:<30} {:<7} {:<10} {:<26} schemas/avro/{}/\n",
            t.name(),
            format!("{:?}", t.direction()).to_lowercase(),
            format!("{:?}", t.retention()).to_lowercase(),
            t.key_doc(),
            t.dir()
        ));
    }
    s
}

/// `allot topics --create N`: creates every topic (compacted where the topic says so).
///
/// With partitioned state and sourcing on, `orders` and `order-events` get one partition:
/// `allot source` decides every order in one sequence and refuses more.
pub async fn create_topics(config: &AllotConfig, partitions: i32) -> anyhow::Result<()> {
    let mut kafka = config.kafka.clone();
    kafka.partitions = partitions;
    let staged = config.runtime.sku_partitions > 0 && config.sourcing.enabled;
    let (orders, rest): (Vec<Topic>, Vec<Topic>) = Topic::ALL
        .iter()
        .partition(|t| staged && matches!(t, Topic::Orders | Topic::OrderEvents));
    allot_connectors::kafka::ensure_topics(&kafka, &rest)
        .await
        .context("failed to create the topics; check kafka.bootstrap_servers")?;
    if !orders.is_empty() {
        kafka.partitions = 1;
        allot_connectors::kafka::ensure_topics(&kafka, &orders)
            .await
            .context("failed to create the order topics; check kafka.bootstrap_servers")?;
    }
    Ok(())
}

/// `allot generate`: the built-in workload to `out` (`count`, `stdout`, `avro:DIR`,
/// `jsonl:DIR`, `kafka` or `kafka:SERVERS`), at `rate` events/s (0: as fast as possible).
pub async fn generate(config: &AllotConfig, out: &str, rate: u64) -> anyhow::Result<()> {
    use allot_loadtest::driver::{DriveOptions, Target, drive_to};
    let target = Target::parse(out, &config.kafka, false)?;
    let mut workload = allot_loadtest::Workload::new(config.workload.clone())
        .context("failed to build the workload; check the [workload] section")?;
    let options = DriveOptions {
        rate: (rate > 0).then_some(rate as f64),
        limit: None,
        progress: config.runtime.progress,
    };
    let summary = drive_to(&mut workload, &target, &options, 10_000).await?;
    eprint!("{}", summary.table());
    Ok(())
}

#[cfg(test)]
mod tests {
    use allot_connectors::ConnectorMetrics;
    use allot_schemas::*;

    use super::*;

    /// The demo's workload through a `Pipeline`: sourcing's counters reach the metrics at
    /// the flush, and decisions come out with it.
    #[test]
    fn sourcing_rules_load_from_a_file_and_a_bad_line_says_where() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rules.jsonl");
        let rule = SourcingRule {
            event_id: "r-1".into(),
            event_time: 0,
            source: "file".into(),
            rule_id: "web-ship-dc-only".into(),
            channel: Some(Channel::Web),
            fulfilment: Some(FulfilmentType::ShipToHome),
            priority: 10,
            distribution_group: "ecom".into(),
            supply_types: vec![SupplyType::OnHand],
            horizon_days: 0,
            strategy: SourcingStrategy::MinimizeSplits,
            priority_location_ids: vec![],
            excluded_location_ids: vec!["store-9".into()],
            max_splits: 1,
            cost: CostWeights {
                shipping_cents_per_km: 1.0,
                shipping_cents_per_package: 500,
                split_penalty_cents: 800,
                store_labour_cents_per_unit: 150,
                lateness_cents_per_day: 300,
                balancing_cents_per_unit: 0,
            },
            active: true,
        };
        std::fs::write(&path, serde_json::to_string(&rule).unwrap() + "\n").unwrap();
        let mut config = AllotConfig::default();
        config.sourcing.rules_file = Some(path.clone());
        let mut pipeline = Pipeline::new(
            &config,
            PipelineMetrics::unregistered(),
            ConnectorMetrics::unregistered(),
        );
        assert_eq!(pipeline.load_rules(&config).unwrap(), 1);
        let r = pipeline
            .sourcing
            .rule(Channel::Web, FulfilmentType::ShipToHome);
        assert_eq!(r.rule_id.as_deref(), Some("web-ship-dc-only"));
        assert_eq!(r.max_splits, 1);
        assert!(!r.future, "on hand only");
        // Other channels keep the defaults.
        let other = pipeline
            .sourcing
            .rule(Channel::App, FulfilmentType::ShipToHome);
        assert_eq!(other.rule_id, None);

        std::fs::write(&path, "{\"rule_id\": 1}\n").unwrap();
        let err = format!("{:#}", pipeline.load_rules(&config).unwrap_err());
        assert!(err.contains("rules.jsonl:1: not a SourcingRule"), "{err}");
    }

    #[test]
    fn sourcing_is_counted_in_the_metrics_at_the_flush() {
        let mut config = AllotConfig::default();
        config.workload.days = 1;
        config.workload.orders_per_day = 500.0;
        config.sourcing.threads = 1;
        let metrics = PipelineMetrics::unregistered();
        let mut pipeline =
            Pipeline::new(&config, metrics.clone(), ConnectorMetrics::unregistered());
        let workload = allot_loadtest::Workload::new(config.workload.clone()).unwrap();
        let mut orders = 0u64;
        for (n, record) in workload.enumerate() {
            orders += u64::from(matches!(record, AnyRecord::Order(_)));
            let origin = Origin {
                topic: record.topic().name(),
                partition: 0,
                offset: n as i64,
            };
            pipeline.accept(origin, &record);
        }
        assert_eq!(
            metrics.sourcing_total("orders"),
            0,
            "nothing counted before a flush"
        );
        let mut out = EncodedBatch::default();
        let flushed = pipeline.flush(&mut out, true);
        let decisions = flushed
            .records
            .iter()
            .filter(|r| matches!(r, AnyRecord::Decision(_)))
            .count() as u64;
        assert!(orders > 100, "{orders} orders");
        assert_eq!(metrics.sourcing_total("orders"), orders);
        assert_eq!(
            decisions,
            orders + metrics.sourcing_total("modifications"),
            "one decision per order and per modification"
        );
        let lines = ["line_allocated", "line_backordered", "line_rejected"]
            .map(|e| metrics.sourcing_total(e))
            .iter()
            .sum::<u64>();
        assert!(metrics.sourcing_total("line_allocated") > 0);
        assert!(lines >= orders);
        // Every batch is timed, and the batches add up to the decisions.
        let (batches, decided) = metrics.sourcing_batches();
        assert!(batches >= 1);
        assert_eq!(decided, decisions);
        let busy = pipeline
            .report("test", Duration::from_secs(1), OutputStats::default())
            .sourcing_busy;
        assert_eq!(busy.batches, batches);
        assert!(busy.elapsed > Duration::ZERO);
    }

    /// A DC shipping for the web, and a count of 10 `sku-a` there.
    fn dc_and_count(t: i64) -> [AnyRecord; 2] {
        [
            AnyRecord::Location(crate::sourcing::tests::dc("dc-1", (48.9, 2.3))),
            AnyRecord::Adjustment(crate::sourcing::tests::cycle_count(
                "count-1", t, "sku-a", "dc-1", 10,
            )),
        ]
    }

    fn web_order(id: &str, t: i64, qty: i32) -> AnyRecord {
        let order = crate::sourcing::tests::order(id, t, FulfilmentType::ShipToHome, "sku-a", qty);
        AnyRecord::Order(order)
    }

    /// While the supply in the topics at start is read, orders are queued, not decided: an
    /// order read before the count would otherwise find no stock. An event naming a queued
    /// order decides the queue first, so a cancellation read before its order's decision
    /// still releases the order's units.
    #[test]
    fn orders_wait_for_the_supply_and_an_event_for_a_queued_order_decides_it() {
        let t = 1_767_600_000_000;
        let mut pipeline = Pipeline::new(
            &AllotConfig::default(),
            PipelineMetrics::unregistered(),
            ConnectorMetrics::unregistered(),
        );
        pipeline.supply_hold = Some(SupplyHold::new(vec![(Topic::InventoryAdjustments, 0, 1)]));
        let origin = |n: i64| Origin {
            topic: "test",
            partition: 0,
            offset: n,
        };
        let decisions = |flushed: &Flushed| -> Vec<(String, String)> {
            flushed
                .records
                .iter()
                .filter_map(|r| match r {
                    AnyRecord::Decision(d) => {
                        Some((d.order_id.clone(), format!("{:?}", d.lines[0].outcome)))
                    }
                    _ => None,
                })
                .collect()
        };
        let mut out = EncodedBatch::default();
        // The orders come first, as when their topic is fetched ahead of the counts.
        pipeline.accept(origin(0), &web_order("o-1", t + 1, 3));
        pipeline.accept(origin(1), &web_order("o-2", t + 1, 4));
        assert!(decisions(&pipeline.flush(&mut out, true)).is_empty());
        assert_eq!(
            pipeline.sourcing.pending(),
            2,
            "queued while the supply is read"
        );
        let [dc, count] = dc_and_count(t);
        pipeline.accept(origin(2), &dc);
        pipeline.accept(origin(3), &count);
        assert!(decisions(&pipeline.flush(&mut out, true)).is_empty());
        // The cancellation of o-1 decides both, then releases o-1's 3 units.
        pipeline.accept(
            origin(4),
            &AnyRecord::OrderEvent(OrderEvent {
                event_id: "oe-1".into(),
                event_time: t + 2,
                source: "web".into(),
                order_id: "o-1".into(),
                channel: Channel::Web,
                kind: OrderEventKind::Cancel,
                lines: vec![],
                location_id: None,
                reason: None,
            }),
        );
        assert_eq!(pipeline.sourcing.stats().unknown_order_events, 0);
        assert_eq!(pipeline.sourcing.open_orders(), 1, "o-1 holds nothing now");
        let flushed = pipeline.flush(&mut out, true);
        assert_eq!(
            decisions(&flushed),
            [("o-1", "Allocated"), ("o-2", "Allocated")].map(|(o, s)| (o.into(), s.into()))
        );
        // Still held: the next order waits, until the hold is lifted.
        pipeline.accept(origin(5), &web_order("o-3", t + 3, 6));
        assert!(decisions(&pipeline.flush(&mut out, true)).is_empty());
        pipeline.supply_hold = None;
        let flushed = pipeline.flush(&mut out, true);
        assert_eq!(
            decisions(&flushed),
            [("o-3".to_string(), "Allocated".to_string())],
            "6 of the 10 units are free after o-1's cancellation"
        );
    }

    /// Orders queued while the supply is read are decided in arrival order, in batches of
    /// `batch_orders`: the same decisions as when the supply is all read before the first
    /// order arrives.
    #[test]
    fn orders_queued_while_the_supply_is_read_are_decided_in_batches_as_they_came() {
        let mut config = AllotConfig::default();
        // (a busy day on a small network, as kafka_crash_sourcing's: batches of 1 and one
        // batch of them all decide some orders differently)
        config.workload.days = 1;
        config.workload.stores = 12;
        config.workload.skus = 300;
        config.workload.orders_per_day = 3_000.0;
        config.sourcing.batch_orders = 1;
        config.sourcing.threads = 1;
        let records: Vec<AnyRecord> = allot_loadtest::Workload::new(config.workload.clone())
            .unwrap()
            .filter(|r| !matches!(r, AnyRecord::OrderEvent(_)))
            .collect();
        let decide = |records: &mut dyn Iterator<Item = &AnyRecord>, hold: bool| {
            let mut pipeline = Pipeline::new(
                &config,
                PipelineMetrics::unregistered(),
                ConnectorMetrics::unregistered(),
            );
            pipeline.supply_hold =
                hold.then(|| SupplyHold::new(vec![(Topic::InventoryAdjustments, 0, 1)]));
            let mut decisions = Vec::new();
            for (n, r) in records.enumerate() {
                let origin = Origin {
                    topic: r.topic().name(),
                    partition: 0,
                    offset: n as i64,
                };
                pipeline.accept(origin, r);
                decisions.append(&mut pipeline.records);
            }
            let queued = pipeline.sourcing.pending();
            pipeline.supply_hold = None;
            decisions.extend(pipeline.flush(&mut EncodedBatch::default(), true).records);
            let decisions: Vec<SourcingDecision> = decisions
                .into_iter()
                .filter_map(|r| match r {
                    AnyRecord::Decision(d) => Some(d),
                    _ => None,
                })
                .collect();
            (decisions, queued)
        };
        let is_order = |r: &&AnyRecord| matches!(r, AnyRecord::Order(_));
        let (held, queued) = decide(&mut records.iter(), true);
        let supply_first = records.iter().filter(|r| !is_order(r));
        let (expected, _) = decide(
            &mut supply_first.chain(records.iter().filter(is_order)),
            false,
        );
        assert!(queued > 100, "{queued} orders queued");
        assert_eq!(held.len(), expected.len());
        assert!(held == expected, "the same decisions, in the same order");
    }
}
