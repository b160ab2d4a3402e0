//! `allot-loadtest e2e`: allot's end-to-end figures through a real broker, in one run.
//!
//! 1. **Load.** The built-in workload is written (untimed) to the input topics of two fresh
//!    deployments (topic prefixes `<run>-pass.` and `<run>-allot.`), N records each.
//! 2. **Passthrough** ([`passthrough`]): a plain consumer → producer copies the N raw messages
//!    of the first deployment to one output topic, with allot's own client settings. Its
//!    throughput is the ceiling of what any consumer of these topics could do here.
//! 3. **allot**: `allot run --idle-exit-ms I` ([`allot`]) reads the N records of the second
//!    deployment. Its throughput is N over its own elapsed time less the idle wait; the run
//!    must have read all N and committed all N offsets. The ratio allot / passthrough is the
//!    first figure of the issue (goal ≥ 0.6).
//! 4. **Latency** ([`latency`]), once per coalescing bound: a fresh deployment gets the
//!    opening stock and reference data, allot is started and allowed to catch up, then
//!    trading events stamped with the wall clock are sent at half allot's measured rate for
//!    a fixed time while the availability topic is read back. p50/p99 of event → readable
//!    availability is the second figure (goal p99 ≤ 25 ms, at-least-once).
//!
//! Every deployment's topics and consumer groups are deleted at the end unless asked to keep
//! them. Everything is bounded: each wait has a timeout and the workload is finite.

pub mod allot;
pub mod broker;
pub mod latency;
pub mod passthrough;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use allot_connectors::kafka::{KafkaConfig, ensure_topics};
use allot_schemas::{AnyRecord, EpochMillis, Topic};
use anyhow::Context;
use rdkafka::Offset;
use serde::Serialize;
use tokio::time::Instant;

use self::allot::{AllotProcess, AllotRun};
use self::broker::{Created, GroupWatch};
use self::latency::{Percentiles, TopicReader, now_ms, set_event_time};
use self::passthrough::PassthroughReport;
use crate::calendar::{DAY_MS, civil_from_days};
use crate::driver::{DriveOptions, drive};
use crate::sink::{EventSink, KafkaEventSink};
use crate::{Workload, WorkloadConfig};

/// The throughput ratio the issue asks for.
pub const RATIO_GOAL: f64 = 0.6;
/// The p99 latency the issue asks for, in milliseconds.
pub const P99_GOAL_MS: i64 = 25;

/// How to run the benchmark.
#[derive(Debug, Clone)]
pub struct E2eOptions {
    /// The brokers (`host:port,...`).
    pub bootstrap: String,
    /// Partitions of every topic created.
    pub partitions: i32,
    /// The workload loaded for the throughput phases (the latency phases use the same
    /// network, starting today and as long as they need).
    pub workload: WorkloadConfig,
    /// The `allot` executable.
    pub allot_bin: PathBuf,
    /// `--idle-exit-ms` of the throughput run.
    pub idle_exit_ms: u64,
    /// How long trading events are sent in each latency phase.
    pub latency_secs: f64,
    /// Events per second in the latency phases; `None`: half allot's measured rate.
    pub latency_rate: Option<f64>,
    /// One latency phase per value of `availability_coalesce_ms`.
    pub coalesce_ms: Vec<u64>,
    /// One exactly-once throughput phase per commit interval (ms).
    pub exactly_once_ms: Vec<u64>,
    /// Serve allot's `/metrics` in the latency phases and read its own publish latency
    /// from it (this also turns on allot's HTTP availability view: a little extra work).
    pub allot_metrics: bool,
    /// Leave the topics and groups on the broker.
    pub keep_topics: bool,
    /// Print what happens on stderr.
    pub progress: bool,
    /// The longest any phase may take.
    pub phase_timeout: Duration,
}

/// The machine-readable result (`--report`).
#[derive(Debug, Clone, Serialize)]
pub struct E2eReport {
    /// Names the run's topics (`<run_id>-<phase>.allot.*`) and groups.
    pub run_id: String,
    /// The brokers.
    pub bootstrap: String,
    /// Partitions per topic.
    pub partitions: i32,
    /// The binary measured.
    pub allot_bin: String,
    /// What was loaded.
    pub workload: WorkloadReport,
    /// The raw consume → produce baseline.
    pub passthrough: PassthroughReport,
    /// `allot run` over the same records.
    pub allot: AllotThroughput,
    /// `allot.records_per_sec / passthrough.records_per_sec`.
    pub ratio: f64,
    /// `allot run` in exactly-once mode over the same records, one per commit interval.
    pub exactly_once: Vec<ExactlyOnceThroughput>,
    /// [`RATIO_GOAL`].
    pub ratio_goal: f64,
    /// The latency baseline: the same paced events through a raw passthrough.
    pub latency_passthrough: PassthroughLatency,
    /// One entry per coalescing bound.
    pub latency: Vec<LatencyReport>,
    /// [`P99_GOAL_MS`].
    pub latency_goal_p99_ms: i64,
    /// Whether the run's topics and groups were deleted.
    pub cleaned_up: bool,
    /// How to read the figures.
    pub notes: Vec<String>,
    /// What makes a figure of this run doubtful.
    pub warnings: Vec<String>,
}

/// The workload of the throughput phases.
#[derive(Debug, Clone, Serialize)]
pub struct WorkloadReport {
    /// Generator seed.
    pub seed: u64,
    /// Simulated days.
    pub days: u32,
    /// Distribution centres.
    pub dcs: u32,
    /// Stores.
    pub stores: u32,
    /// Dark stores.
    pub dark_stores: u32,
    /// SKUs.
    pub skus: u32,
    /// Records loaded into each deployment (N).
    pub records: u64,
    /// Of which reference data and opening stock (at the start instant).
    pub opening_records: u64,
}

/// `allot run` over the N records.
#[derive(Debug, Clone, Serialize)]
pub struct AllotThroughput {
    /// Records it read (N).
    pub records: u64,
    /// Its elapsed time less the idle wait before its idle exit.
    pub consume_secs: f64,
    /// `records / consume_secs`.
    pub records_per_sec: f64,
    /// `--idle-exit-ms`.
    pub idle_exit_ms: u64,
    /// Offsets its group committed over the input topics after it exited (N).
    pub committed: u64,
    /// What it reported.
    pub run: AllotRun,
}

/// `allot run` in exactly-once mode over the N records.
#[derive(Debug, Clone, Serialize)]
pub struct ExactlyOnceThroughput {
    /// `runtime.commit_interval_ms`.
    pub commit_interval_ms: u64,
    /// The at-least-once run right before it, over the same records.
    pub at_least_once: AllotThroughput,
    /// The run.
    pub allot: AllotThroughput,
    /// Its throughput as a ratio to `at_least_once`'s.
    pub ratio_to_at_least_once: f64,
}

/// The latency baseline.
#[derive(Debug, Clone, Serialize)]
pub struct PassthroughLatency {
    /// Events per second asked for.
    pub target_rate: f64,
    /// Events per second sent.
    pub achieved_rate: f64,
    /// Events sent.
    pub sent: u64,
    /// How long they took to send.
    pub send_secs: f64,
    /// Messages the passthrough copied, the warm-up's not counted.
    pub copied: u64,
    /// Events sent (and copied) before the measured window, to warm the passthrough up.
    pub warm_up: u64,
    /// event time → the copy read back by a consumer.
    pub consume: Option<Percentiles>,
    /// From the end of sending to the last copy read back.
    pub drain_secs: f64,
}

/// One latency phase.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyReport {
    /// `ALLOT__RUNTIME__AVAILABILITY_COALESCE_MS` of this phase.
    pub coalesce_ms: u64,
    /// Events per second asked for.
    pub target_rate: f64,
    /// Events per second sent.
    pub achieved_rate: f64,
    /// Trading events sent.
    pub sent: u64,
    /// How long they took to send.
    pub send_secs: f64,
    /// Opening records loaded before allot started.
    pub opening_records: u64,
    /// From allot's start until its group had committed the opening records.
    pub catch_up_secs: f64,
    /// Whether the workload ended before the time was up.
    pub ran_out: bool,
    /// event time → availability read back by a consumer.
    pub consume: Option<Percentiles>,
    /// event time → allot's produce call (the Kafka timestamp of the availability message).
    pub publish: Option<Percentiles>,
    /// event time → the input event read back by a consumer with allot's settings: the
    /// broker hop allot's own consumer cannot do faster.
    pub input_hop: Option<Percentiles>,
    /// allot's own `allot_publish_latency_seconds` (from reading the oldest unpublished
    /// change to the flush that publishes it) over the sending and the drain, with
    /// `--allot-metrics`.
    pub allot_publish_latency: Option<allot::HistogramSummary>,
    /// Availability messages about the opening stock, not measured.
    pub opening_messages: u64,
    /// Availability messages whose event time could not be read.
    pub unreadable: u64,
    /// From the end of sending to the last availability message read back: about one
    /// latency when allot keeps up, longer when it fell behind.
    pub drain_secs: f64,
    /// Whether allot's group committed every record sent within a minute of the end.
    pub caught_up: bool,
    /// Records sent that allot had not read when it was stopped (0 when it kept up).
    pub backlog: u64,
    /// What allot reported when it was stopped.
    pub run: AllotRun,
}

/// Progress lines on stderr, stamped with the time since the start.
#[derive(Debug)]
struct Notes {
    started: Instant,
    enabled: bool,
}

impl Notes {
    fn note(&self, text: impl std::fmt::Display) {
        if self.enabled {
            eprintln!(
                "[e2e {:>6.1}s] {text}",
                self.started.elapsed().as_secs_f64()
            );
        }
    }
}

/// Runs every phase and returns the report; the run's topics and groups are deleted at the
/// end (also after a failure) unless `keep_topics`.
pub async fn run(options: &E2eOptions) -> anyhow::Result<E2eReport> {
    anyhow::ensure!(options.partitions >= 1, "--partitions must be at least 1");
    anyhow::ensure!(
        options.latency_secs > 0.0,
        "--latency-secs must be positive"
    );
    let bin = allot::resolve_bin(&options.allot_bin)?;
    let notes = Notes {
        started: Instant::now(),
        enabled: options.progress,
    };
    let run_id = format!("e2e-{}-{}", now_ms(), std::process::id());
    let mut created = Created::default();
    let result = phases(options, &bin, &run_id, &mut created, &notes).await;
    let cleaned_up = if options.keep_topics {
        notes.note(format!("keeping the topics {run_id}-*"));
        false
    } else {
        let problems = created.delete(&base_config(options)).await;
        for p in &problems {
            eprintln!("warning: could not delete {p}");
        }
        notes.note(format!("deleted the topics and groups of {run_id}"));
        problems.is_empty()
    };
    let mut report = result?;
    report.cleaned_up = cleaned_up;
    Ok(report)
}

fn base_config(options: &E2eOptions) -> KafkaConfig {
    KafkaConfig {
        bootstrap_servers: options.bootstrap.clone(),
        client_id: "allot-loadtest-e2e".into(),
        partitions: options.partitions,
        ..KafkaConfig::default()
    }
}

/// A deployment of its own for one phase: topic prefix `<run>-<phase>.`, group `<run>-<phase>`.
fn deployment(options: &E2eOptions, run_id: &str, phase: &str) -> KafkaConfig {
    KafkaConfig {
        topic_prefix: format!("{run_id}-{phase}."),
        group_id: format!("{run_id}-{phase}"),
        ..base_config(options)
    }
}

fn input_names(config: &KafkaConfig) -> Vec<String> {
    Topic::inputs().map(|t| config.topic_name(t)).collect()
}

/// The inputs `allot run`'s consumer group reads and commits: the event topics. The
/// reference topics (compacted) are global tables every instance reads whole, outside the
/// group, committing nothing.
fn group_input_names(config: &KafkaConfig) -> Vec<String> {
    Topic::inputs()
        .filter(|t| t.retention() != allot_schemas::Retention::Compacted)
        .map(|t| config.topic_name(t))
        .collect()
}

async fn create(config: &KafkaConfig, created: &mut Created) -> anyhow::Result<()> {
    created.deployments.push(config.clone());
    created.groups.push(config.group_id.clone());
    // allot run creates its changelog topic itself.
    created
        .topics
        .push(allot_connectors::kafka::changelog_topic(
            config,
            "availability",
        ));
    ensure_topics(config, &Topic::ALL).await.with_context(|| {
        format!(
            "failed to create the topics {}* on {}; is Kafka running (deploy/local/kafka.sh start)?",
            config.topic_prefix, config.bootstrap_servers
        )
    })?;
    Ok(())
}

/// Writes the whole workload to the input topics of `config`; returns the records written.
async fn load(
    config: &KafkaConfig,
    workload: &WorkloadConfig,
    progress: bool,
) -> anyhow::Result<u64> {
    let mut w = Workload::new(workload.clone())?;
    let mut sink = KafkaEventSink::new(config, 100_000)?;
    let options = DriveOptions {
        rate: None,
        limit: None,
        progress,
    };
    Ok(drive(&mut w, &mut sink, &options).await?.records)
}

/// Records at the start instant: reference data and opening stock.
fn opening_records(workload: &WorkloadConfig) -> anyhow::Result<u64> {
    let w = Workload::new(workload.clone())?;
    let start = w.start_time();
    Ok(w.take_while(|r| r.event_time() <= start).count() as u64)
}

fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

async fn phases(
    options: &E2eOptions,
    bin: &std::path::Path,
    run_id: &str,
    created: &mut Created,
    notes: &Notes,
) -> anyhow::Result<E2eReport> {
    let w = &options.workload;
    notes.note(format!(
        "run {run_id} on {} · {} partitions · workload seed {} · {} days · {} stores · {} skus",
        options.bootstrap, options.partitions, w.seed, w.days, w.stores, w.skus
    ));

    // 1. Load the same records into two deployments.
    let pass = deployment(options, run_id, "pass");
    let allot_cfg = deployment(options, run_id, "allot");
    let pass_out = format!("{}passthrough", pass.topic_prefix);
    create(&pass, created).await?;
    created.topics.push(pass_out.clone());
    broker::create_topic(&pass, &pass_out).await?;
    create(&allot_cfg, created).await?;
    let opening = opening_records(w)?;
    let mut n = 0;
    for d in [&pass, &allot_cfg] {
        notes.note(format!(
            "loading the workload into {}* (not timed)",
            d.topic_prefix
        ));
        let loaded = load(d, w, options.progress).await?;
        anyhow::ensure!(n == 0 || loaded == n, "loaded {loaded} records, then {n}");
        n = loaded;
        let end = GroupWatch::new(d, &input_names(d))?.end().await?;
        anyhow::ensure!(
            end == n,
            "{} records were loaded but the input topics of {}* end at {end}",
            n,
            d.topic_prefix
        );
    }
    notes.note(format!(
        "loaded {} records ({} opening) twice",
        group(n),
        group(opening)
    ));

    // 2. Passthrough.
    notes.note("passthrough: consume → produce of the raw messages");
    let passthrough = passthrough::run(
        &pass,
        &input_names(&pass),
        &pass_out,
        n,
        options.phase_timeout,
        |done, t| {
            notes.note(format!(
                "  passthrough {} / {} ({:.0} records/s)",
                group(done),
                group(n),
                done as f64 / t.as_secs_f64().max(1e-9)
            ))
        },
    )
    .await?;
    notes.note(format!(
        "passthrough: {} records in {:.2} s = {:.0} records/s (first record after {:.2} s)",
        group(passthrough.records),
        passthrough.elapsed_secs,
        passthrough.records_per_sec,
        passthrough.first_record_secs
    ));

    // 3. allot over the same records.
    let allot = allot_throughput(options, bin, &allot_cfg, None, n, notes).await?;
    let ratio = allot.records_per_sec / passthrough.records_per_sec.max(1e-9);
    notes.note(format!(
        "allot: {} records in {:.2} s = {:.0} records/s · ratio {:.2} (goal ≥ {RATIO_GOAL})",
        group(allot.records),
        allot.consume_secs,
        allot.records_per_sec,
        ratio
    ));

    // 3b. The same records again, exactly once, one group per commit interval; each right
    //     after an at-least-once run of its own over the same records, so that both read
    //     them as warm (a first read of the topics is slower than a later one).
    let mut exactly_once = Vec::new();
    for &ms in &options.exactly_once_ms {
        let group = |mode: &str| KafkaConfig {
            group_id: format!("{}-{mode}{ms}", allot_cfg.group_id),
            client_id: format!("{}-{mode}{ms}", allot_cfg.client_id),
            ..allot_cfg.clone()
        };
        let (alos_cfg, cfg) = (group("alos"), group("eos"));
        created.groups.push(alos_cfg.group_id.clone());
        created.groups.push(cfg.group_id.clone());
        let baseline = allot_throughput(options, bin, &alos_cfg, None, n, notes).await?;
        let run = allot_throughput(options, bin, &cfg, Some(ms), n, notes).await?;
        let ratio = run.records_per_sec / baseline.records_per_sec.max(1e-9);
        notes.note(format!(
            "allot exactly once, commits every {ms} ms: {:.0} records/s · {ratio:.2} of at least once",
            run.records_per_sec
        ));
        exactly_once.push(ExactlyOnceThroughput {
            commit_interval_ms: ms,
            at_least_once: baseline,
            allot: run,
            ratio_to_at_least_once: ratio,
        });
    }

    // 4. Latency at half the measured rate, once per coalescing bound.
    let rate = options
        .latency_rate
        .unwrap_or(allot.records_per_sec / 2.0)
        .max(1.0);
    let trading_per_day = (n.saturating_sub(opening) as f64 / f64::from(w.days)).max(1.0);
    let latency_passthrough = passthrough_latency(
        options,
        &deployment(options, run_id, "latpass"),
        rate,
        trading_per_day,
        created,
        notes,
    )
    .await?;
    let mut latency = Vec::new();
    for &coalesce in &options.coalesce_ms {
        let phase = LatencyPhase {
            options,
            bin,
            coalesce_ms: coalesce,
            rate,
            trading_per_day,
        };
        let report = phase
            .run(
                &deployment(options, run_id, &format!("lat{coalesce}")),
                created,
                notes,
            )
            .await?;
        latency.push(report);
    }

    let warnings = warnings(n, &allot, &latency_passthrough, &latency);
    for w in &warnings {
        notes.note(format!("warning: {w}"));
    }
    Ok(E2eReport {
        warnings,
        exactly_once,
        run_id: run_id.to_owned(),
        bootstrap: options.bootstrap.clone(),
        partitions: options.partitions,
        allot_bin: bin.display().to_string(),
        workload: WorkloadReport {
            seed: w.seed,
            days: w.days,
            dcs: w.dcs,
            stores: w.stores,
            dark_stores: w.dark_stores,
            skus: w.skus,
            records: n,
            opening_records: opening,
        },
        passthrough,
        allot,
        ratio,
        ratio_goal: RATIO_GOAL,
        latency_passthrough,
        latency,
        latency_goal_p99_ms: P99_GOAL_MS,
        cleaned_up: false,
        notes: vec![
            "throughput: passthrough = N / (subscribe → last copy acknowledged); allot = N / \
             (allot run's reported elapsed time, which starts after it subscribes, less \
             --idle-exit-ms)"
                .into(),
            "latency: receive wall time − availability.event_time, which is the event time of \
             the newest change in the message; older changes of the same sku coalesced into \
             it waited up to availability_coalesce_ms longer"
                .into(),
            "publish latency uses the Kafka timestamp set by allot's producer (CreateTime)".into(),
            "both include the input producer's linger.ms (5 ms, allot's producer settings)".into(),
        ],
    })
}

/// What makes the figures doubtful, in words.
fn warnings(
    n: u64,
    allot: &AllotThroughput,
    baseline: &PassthroughLatency,
    latency: &[LatencyReport],
) -> Vec<String> {
    let mut out = Vec::new();
    if baseline.drain_secs > 1.0 || baseline.copied < baseline.sent {
        out.push(format!(
            "the raw passthrough copied {} of {} events and its last copy came {:.1} s after the \
             last event was sent: this machine could not carry {:.0} events/s even without allot",
            baseline.copied, baseline.sent, baseline.drain_secs, baseline.achieved_rate
        ));
    }
    if allot.run.dead_lettered > 0 {
        out.push(format!(
            "allot dead-lettered {} of the {n} records of the throughput phase, so its figure is \
             not that of normal processing (first: {}); keep the workload's span inside \
             availability.max_lateness_ms, e.g. --days 1",
            allot.run.dead_lettered,
            allot.run.log_sample.first().map_or("-", String::as_str)
        ));
    }
    for l in latency {
        let slow = l.backlog > 0 || l.drain_secs > (10.0 * l.coalesce_ms as f64 / 1000.0).max(1.0);
        if slow {
            out.push(format!(
                "with availability_coalesce_ms = {} allot did not keep up with {:.0} events/s (the \
                 last availability came {:.1} s after the last event was sent{}): the percentiles \
                 measure its backlog more than its latency; try a lower --latency-rate",
                l.coalesce_ms,
                l.achieved_rate,
                l.drain_secs,
                if l.backlog > 0 {
                    format!(", {} records were never read", l.backlog)
                } else {
                    String::new()
                }
            ));
        }
        if l.ran_out {
            out.push(format!(
                "the workload ran out after {} events in the {} ms latency phase",
                l.sent, l.coalesce_ms
            ));
        }
        if l.run.dead_lettered > 0 {
            out.push(format!(
                "allot dead-lettered {} records in the {} ms latency phase (first: {})",
                l.run.dead_lettered,
                l.coalesce_ms,
                l.run.log_sample.first().map_or("-", String::as_str)
            ));
        }
    }
    out
}

/// `allot run` over the N records of `config`'s inputs, at least once, or exactly once
/// committing every `exactly_once_ms`.
async fn allot_throughput(
    options: &E2eOptions,
    bin: &std::path::Path,
    config: &KafkaConfig,
    exactly_once_ms: Option<u64>,
    n: u64,
    notes: &Notes,
) -> anyhow::Result<AllotThroughput> {
    notes.note(format!(
        "allot run --idle-exit-ms {} ({}){}",
        options.idle_exit_ms,
        bin.display(),
        exactly_once_ms.map_or(String::new(), |ms| format!(
            ", exactly once, commit interval {ms} ms"
        ))
    ));
    let watch = GroupWatch::new(config, &group_input_names(config))?;
    let mut process = AllotProcess::spawn(
        bin,
        config,
        None,
        Some(options.idle_exit_ms),
        false,
        exactly_once_ms,
    )?;
    let mut last_note = Instant::now();
    while process.running() {
        if process.elapsed() > options.phase_timeout {
            let _ = process.stop(Duration::from_secs(10)).await;
            anyhow::bail!(
                "allot run did not finish {n} records within {:?}",
                options.phase_timeout
            );
        }
        if last_note.elapsed() >= Duration::from_secs(2) {
            last_note = Instant::now();
            if let Ok(p) = watch.progress().await {
                notes.note(format!(
                    "  allot running {:.0} s, committed {} / {} (commits every 5 s)",
                    process.elapsed().as_secs_f64(),
                    group(p.committed),
                    group(p.end)
                ));
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let run = process.wait(Duration::from_secs(30)).await?.report()?;
    anyhow::ensure!(
        run.input_records == n,
        "allot run read {} of the {n} records before it exited; if it was idle for \
         --idle-exit-ms {} on a busy machine, raise it",
        run.input_records,
        options.idle_exit_ms
    );
    let progress = watch.progress().await?;
    let committed = progress.committed;
    anyhow::ensure!(
        committed == progress.end,
        "allot run read all {n} records but its group committed {committed} of the {} in \
         the topics it reads as a group",
        progress.end
    );
    let consume_secs = run.elapsed_secs - options.idle_exit_ms as f64 / 1000.0;
    anyhow::ensure!(
        consume_secs > 0.0,
        "allot run reported {} s, not more than its idle wait",
        run.elapsed_secs
    );
    Ok(AllotThroughput {
        records: n,
        consume_secs,
        records_per_sec: n as f64 / consume_secs,
        idle_exit_ms: options.idle_exit_ms,
        committed,
        run,
    })
}

/// allot's `allot_publish_latency_seconds`, if it serves `/metrics`.
async fn read_histogram(process: &AllotProcess) -> anyhow::Result<Option<allot::Histogram>> {
    Ok(process
        .scrape()
        .await?
        .and_then(|page| allot::Histogram::parse(&page, "allot_publish_latency_seconds")))
}

/// `YYYY-MM-DD` of the UTC day of `t`.
fn utc_date(t: i64) -> String {
    let (y, m, d) = civil_from_days(t.div_euclid(DAY_MS));
    format!("{y:04}-{m:02}-{d:02}")
}

/// What [`send_paced`] did.
#[derive(Debug)]
struct Sent {
    /// Events sent.
    count: u64,
    /// How long sending took.
    secs: f64,
    /// Wall clock at the end of sending.
    until_ms: i64,
    /// Whether the workload ended first.
    ran_out: bool,
}

/// A workload for a latency phase: the options' network, starting today (so the dates in
/// the events are near the wall-clock event times they get), long enough for `rate` events
/// per second over `--latency-secs`.
fn latency_workload(
    options: &E2eOptions,
    rate: f64,
    trading_per_day: f64,
) -> anyhow::Result<Workload> {
    let needed = rate * options.latency_secs * 1.2 + 1_000.0;
    let days = ((needed / trading_per_day).ceil() as u32 + 1).clamp(1, 3_650);
    Workload::new(WorkloadConfig {
        start_date: utc_date(now_ms()),
        days,
        ..options.workload.clone()
    })
}

/// Takes the opening records (at the start instant) off `workload`, writing them to `sink`
/// if given; returns how many there were and the first trading record.
async fn opening(
    workload: &mut Workload,
    mut sink: Option<&mut KafkaEventSink>,
) -> anyhow::Result<(u64, Option<AnyRecord>)> {
    let start = workload.start_time();
    let mut n = 0u64;
    for r in workload.by_ref() {
        if r.event_time() > start {
            return Ok((n, Some(r)));
        }
        if let Some(sink) = sink.as_deref_mut() {
            sink.write(&r).await?;
        }
        n += 1;
    }
    Ok((n, None))
}

/// Sends trading events at `rate` per second for `--latency-secs`, each stamped with the
/// wall clock as it is handed to the producer; `check` is called about every 2 s with the
/// count so far and may stop the phase with an error.
async fn send_paced(
    options: &E2eOptions,
    workload: &mut Workload,
    mut next: Option<AnyRecord>,
    sink: &mut KafkaEventSink,
    rate: f64,
    mut check: impl FnMut(u64, f64) -> anyhow::Result<()>,
) -> anyhow::Result<Sent> {
    let send_for = Duration::from_secs_f64(options.latency_secs);
    let began = Instant::now();
    let mut count = 0u64;
    let mut ran_out = false;
    let mut last_check = began;
    while began.elapsed() < send_for {
        let Some(mut record) = next.take().or_else(|| workload.next()) else {
            ran_out = true;
            break;
        };
        set_event_time(&mut record, now_ms());
        sink.write(&record).await?;
        count += 1;
        let due = began + Duration::from_secs_f64(count as f64 / rate);
        if due > Instant::now() {
            tokio::time::sleep_until(due).await;
        }
        if last_check.elapsed() >= Duration::from_secs(2) {
            last_check = Instant::now();
            check(count, began.elapsed().as_secs_f64())?;
        }
    }
    sink.flush().await?;
    Ok(Sent {
        count,
        secs: began.elapsed().as_secs_f64(),
        until_ms: now_ms(),
        ran_out,
    })
}

/// Events sent to warm a copier up before its latency is measured.
const WARM_UP_EVENTS: u64 = 200;

/// Sends [`WARM_UP_EVENTS`] events stamped `stamp_ms` (before `reader`'s measured window)
/// and waits until `reader` has read them back; returns the record to send next and how
/// many were sent.
async fn warm_up(
    workload: &mut Workload,
    mut next: Option<AnyRecord>,
    sink: &mut KafkaEventSink,
    reader: &TopicReader,
    stamp_ms: EpochMillis,
) -> anyhow::Result<(Option<AnyRecord>, u64)> {
    let mut sent = 0;
    while sent < WARM_UP_EVENTS {
        let Some(mut record) = next.take().or_else(|| workload.next()) else {
            break;
        };
        set_event_time(&mut record, stamp_ms);
        sink.write(&record).await?;
        sent += 1;
    }
    sink.flush().await?;
    let limit = Instant::now() + Duration::from_secs(30);
    while reader.read() < sent {
        anyhow::ensure!(
            Instant::now() < limit,
            "the warm-up events did not come back within 30 s ({} of {sent} read); is the \
             broker overloaded?",
            reader.read()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok((next, sent))
}

/// From the end of sending to the last measured message read.
fn drain_secs(seen: &latency::Observed, sent: &Sent) -> f64 {
    if seen.last_received_ms > 0 {
        (seen.last_received_ms - sent.until_ms) as f64 / 1000.0
    } else {
        0.0
    }
}

/// The latency baseline: the same paced events copied by a raw consume → produce
/// passthrough, read back from its output topic.
async fn passthrough_latency(
    options: &E2eOptions,
    config: &KafkaConfig,
    rate: f64,
    trading_per_day: f64,
    created: &mut Created,
    notes: &Notes,
) -> anyhow::Result<PassthroughLatency> {
    notes.note(format!(
        "latency of the raw passthrough: {rate:.0} events/s for {} s",
        options.latency_secs
    ));
    create(config, created).await?;
    let output = format!("{}passthrough", config.topic_prefix);
    created.topics.push(output.clone());
    broker::create_topic(config, &output).await?;
    let mut workload = latency_workload(options, rate, trading_per_day)?;
    let (_, next) = opening(&mut workload, None).await?;
    let since = now_ms();
    let reader = TopicReader::start(
        &KafkaConfig {
            group_id: format!("{}-reader", config.group_id),
            ..config.clone()
        },
        std::slice::from_ref(&output),
        config.partitions,
        Offset::Beginning,
        since,
    )?;
    let copier = passthrough::Copier::start(config, &input_names(config), &output).await?;
    let mut sink = KafkaEventSink::new(config, 10_000)?;
    // allot's phase starts warm (its opening stock went through first); so does this one:
    // connections, metadata and the first fetches cost a few hundred ms once, which would
    // otherwise land on the first measured events.
    let (next, warm) = warm_up(&mut workload, next, &mut sink, &reader, since - 1).await?;
    let sent = send_paced(options, &mut workload, next, &mut sink, rate, |n, t| {
        notes.note(format!(
            "  sent {} ({:.0}/s) · {} copies measured",
            group(n),
            n as f64 / t,
            group(reader.measured())
        ));
        Ok(())
    })
    .await?;
    reader
        .settle(Duration::from_secs(1), Duration::from_secs(30))
        .await;
    let copied = copier.finish().await?.saturating_sub(warm);
    let seen = reader.finish().await?;
    let drain = drain_secs(&seen, &sent);
    let consume = Percentiles::of(seen.consume);
    if let Some(c) = &consume {
        notes.note(format!(
            "  passthrough latency: {} copies · p50 {} ms · p90 {} ms · p99 {} ms · max {} ms",
            group(c.count),
            c.p50_ms,
            c.p90_ms,
            c.p99_ms,
            c.max_ms
        ));
    }
    Ok(PassthroughLatency {
        target_rate: rate,
        achieved_rate: sent.count as f64 / sent.secs.max(1e-9),
        sent: sent.count,
        send_secs: sent.secs,
        copied,
        warm_up: warm,
        consume,
        drain_secs: drain,
    })
}

struct LatencyPhase<'a> {
    options: &'a E2eOptions,
    bin: &'a std::path::Path,
    coalesce_ms: u64,
    rate: f64,
    /// Trading records per simulated day of the workload, to size this phase's.
    trading_per_day: f64,
}

impl LatencyPhase<'_> {
    async fn run(
        &self,
        config: &KafkaConfig,
        created: &mut Created,
        notes: &Notes,
    ) -> anyhow::Result<LatencyReport> {
        let options = self.options;
        notes.note(format!(
            "latency with availability_coalesce_ms = {}: {:.0} events/s for {} s",
            self.coalesce_ms, self.rate, options.latency_secs
        ));
        create(config, created).await?;
        let mut workload = latency_workload(options, self.rate, self.trading_per_day)?;
        let mut sink = KafkaEventSink::new(config, 10_000)?;
        let (opening, next) = opening(&mut workload, Some(&mut sink)).await?;
        sink.flush().await?;

        let reader = TopicReader::start(
            &KafkaConfig {
                group_id: format!("{}-reader", config.group_id),
                ..config.clone()
            },
            &[config.topic_name(Topic::Availability)],
            config.partitions,
            Offset::Beginning,
            now_ms(),
        )?;
        // The input topics from their end: the broker hop alone, with allot's consumer
        // settings, for comparison.
        let hop_reader = TopicReader::start(
            &KafkaConfig {
                group_id: format!("{}-hop", config.group_id),
                ..config.clone()
            },
            &input_names(config),
            config.partitions,
            Offset::End,
            now_ms(),
        )?;
        let watch = GroupWatch::new(config, &group_input_names(config))?;
        let mut process = AllotProcess::spawn(
            self.bin,
            config,
            Some(self.coalesce_ms),
            None,
            options.allot_metrics,
            None,
        )?;
        loop {
            if !process.running() {
                let run = process.wait(Duration::from_secs(5)).await?.report();
                anyhow::bail!("allot run exited before the latency phase began: {run:?}");
            }
            // A query can fail while the new topics settle; the timeout below bounds retries.
            if let Ok(p) = watch.progress().await
                && p.end > 0
                && p.end <= opening
                && p.caught_up()
            {
                break;
            }
            if process.elapsed() > options.phase_timeout {
                let _ = process.stop(Duration::from_secs(10)).await;
                anyhow::bail!(
                    "allot did not catch up on {opening} opening records within {:?}",
                    options.phase_timeout
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let catch_up = process.elapsed();
        reader
            .settle(Duration::from_millis(500), Duration::from_secs(10))
            .await;
        notes.note(format!(
            "  allot caught up on {} opening records in {:.1} s (committed offsets); sending",
            group(opening),
            catch_up.as_secs_f64()
        ));

        // allot's own publish latency counts from here (the opening's flushes are not in it).
        let at_start = read_histogram(&process).await;
        let sent = send_paced(
            options,
            &mut workload,
            next,
            &mut sink,
            self.rate,
            |n, t| {
                anyhow::ensure!(
                    process.running(),
                    "allot run exited during the latency phase"
                );
                notes.note(format!(
                    "  sent {} ({:.0}/s) · {} availability messages measured",
                    group(n),
                    n as f64 / t,
                    group(reader.measured())
                ));
                Ok(())
            },
        )
        .await?;

        // Let allot work off what it has not read yet (its group commits every 5 s), then
        // let the last availability arrive.
        let drain_limit = Duration::from_secs(60).min(options.phase_timeout);
        let drain_started = Instant::now();
        let mut caught_up = false;
        while drain_started.elapsed() < drain_limit && process.running() {
            if watch.progress().await.is_ok_and(|p| p.caught_up()) {
                caught_up = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let quiet = Duration::from_millis((4 * self.coalesce_ms).max(1_000));
        reader.settle(quiet, Duration::from_secs(10)).await;
        let seen = reader.finish().await?;
        let hop = hop_reader.finish().await?;
        let internal = match (&at_start, &read_histogram(&process).await) {
            (Ok(Some(start)), Ok(Some(end))) => Some(end.since(start).summary()),
            (Err(e), _) | (_, Err(e)) => {
                notes.note(format!("  could not read allot's /metrics: {e:#}"));
                None
            }
            _ => None,
        };
        let run = process.stop(Duration::from_secs(30)).await?.report()?;
        let backlog = (opening + sent.count).saturating_sub(run.input_records);
        let drain = drain_secs(&seen, &sent);
        if backlog > 0 {
            notes.note(format!(
                "  allot had not read {} of the {} records sent when it was stopped {:.0} s after \
                 the last one: it did not keep up with {:.0} events/s",
                group(backlog),
                group(opening + sent.count),
                drain_started.elapsed().as_secs_f64(),
                self.rate
            ));
        } else if drain > 1.0 {
            notes.note(format!(
                "  the last availability came {drain:.1} s after the last event was sent: \
                 allot fell behind {:.0} events/s",
                self.rate
            ));
        }
        let consume = Percentiles::of(seen.consume);
        let publish = Percentiles::of(seen.publish);
        let input_hop = Percentiles::of(hop.consume);
        if let Some(c) = &consume {
            notes.note(format!(
                "  latency (coalesce {} ms): {} messages · p50 {} ms · p90 {} ms · p99 {} ms · max {} ms",
                self.coalesce_ms,
                group(c.count),
                c.p50_ms,
                c.p90_ms,
                c.p99_ms,
                c.max_ms
            ));
        }
        Ok(LatencyReport {
            coalesce_ms: self.coalesce_ms,
            target_rate: self.rate,
            achieved_rate: sent.count as f64 / sent.secs.max(1e-9),
            sent: sent.count,
            send_secs: sent.secs,
            opening_records: opening,
            catch_up_secs: catch_up.as_secs_f64(),
            ran_out: sent.ran_out,
            consume,
            publish,
            input_hop,
            allot_publish_latency: internal,
            opening_messages: seen.before,
            unreadable: seen.unreadable,
            drain_secs: drain,
            caught_up,
            backlog,
            run,
        })
    }
}

impl E2eReport {
    /// The summary printed at the end of a run.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let w = &self.workload;
        let _ = writeln!(
            out,
            "allot end to end via {} ({} partitions) · {} records ({} opening) · seed {} · {} days · {} stores · {} skus",
            self.bootstrap,
            self.partitions,
            group(w.records),
            group(w.opening_records),
            w.seed,
            w.days,
            w.stores,
            w.skus
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<34} {:>10} {:>9} {:>12}",
            "throughput", "records", "seconds", "records/s"
        );
        let _ = writeln!(
            out,
            "{:<34} {:>10} {:>9.2} {:>12}",
            "passthrough (raw consume→produce)",
            group(self.passthrough.records),
            self.passthrough.elapsed_secs,
            group(self.passthrough.records_per_sec.round() as u64)
        );
        let _ = writeln!(
            out,
            "{:<34} {:>10} {:>9.2} {:>12}",
            "allot run",
            group(self.allot.records),
            self.allot.consume_secs,
            group(self.allot.records_per_sec.round() as u64)
        );
        let volume = |r: &AllotRun| {
            format!(
                "{} availability messages, {:.1} MiB (avg {:.1} KiB)",
                group(r.availability_messages),
                r.availability_mib,
                r.availability_mib * 1024.0 / r.availability_messages.max(1) as f64
            )
        };
        let _ = writeln!(out, "allot run: {}", volume(&self.allot.run));
        let run = &self.allot.run;
        if run.decisions > 0 {
            let _ = writeln!(
                out,
                "allot run sourcing: {} orders and modifications in {} batches, {:.3} s \
                 deciding = {} decisions/s",
                group(run.decisions),
                group(run.sourcing_batches),
                run.sourcing_secs,
                group((run.decisions as f64 / run.sourcing_secs.max(1e-9)).round() as u64)
            );
        }
        let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
        let _ = writeln!(
            out,
            "ratio allot / passthrough: {:.2} (goal ≥ {}: {})",
            self.ratio,
            self.ratio_goal,
            verdict(self.ratio >= self.ratio_goal)
        );
        for e in &self.exactly_once {
            let _ = writeln!(
                out,
                "exactly once, commit every {} ms: {} records/s, {:.2} of at least once ({} \
                 records/s in the run before it)",
                e.commit_interval_ms,
                group(e.allot.records_per_sec.round() as u64),
                e.ratio_to_at_least_once,
                group(e.at_least_once.records_per_sec.round() as u64)
            );
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<24} {:>8} {:>9} {:>6} {:>6} {:>6} {:>6}   {:>13} {:>11} {:>7}",
            "latency event→consumer",
            "events/s",
            "messages",
            "p50",
            "p90",
            "p99",
            "max",
            "publish p50/99",
            "hop p50/99",
            "drain s"
        );
        let pair = |p: &Option<Percentiles>| {
            p.as_ref()
                .map_or("-".into(), |p| format!("{}/{}", p.p50_ms, p.p99_ms))
        };
        let b = &self.latency_passthrough;
        if let Some(c) = &b.consume {
            let _ = writeln!(
                out,
                "{:<24} {:>8} {:>9} {:>6} {:>6} {:>6} {:>6}   {:>13} {:>11} {:>7.1}",
                "raw passthrough",
                group(b.achieved_rate.round() as u64),
                group(c.count),
                c.p50_ms,
                c.p90_ms,
                c.p99_ms,
                c.max_ms,
                "-",
                "-",
                b.drain_secs
            );
        }
        for l in &self.latency {
            let label = format!("allot, coalesce {} ms", l.coalesce_ms);
            match &l.consume {
                Some(c) => {
                    let publish = pair(&l.publish);
                    let hop = pair(&l.input_hop);
                    let _ = writeln!(
                        out,
                        "{:<24} {:>8} {:>9} {:>6} {:>6} {:>6} {:>6}   {:>13} {:>11} {:>7.1}   p99 {}{}",
                        label,
                        group(l.achieved_rate.round() as u64),
                        group(c.count),
                        c.p50_ms,
                        c.p90_ms,
                        c.p99_ms,
                        c.max_ms,
                        publish,
                        hop,
                        l.drain_secs,
                        verdict(c.p99_ms <= self.latency_goal_p99_ms),
                        if l.backlog > 0 {
                            format!(" · allot left {} unread", group(l.backlog))
                        } else {
                            String::new()
                        }
                    );
                }
                None => {
                    let _ = writeln!(out, "{label:<24} no availability message measured");
                }
            }
        }
        if !self.latency.is_empty() {
            let _ = writeln!(
                out,
                "milliseconds, from the newest event in each availability message; goal p99 ≤ {} ms (at-least-once)",
                self.latency_goal_p99_ms
            );
            for l in &self.latency {
                let _ = writeln!(out, "coalesce {} ms: {}", l.coalesce_ms, volume(&l.run));
                if let Some(h) = &l.allot_publish_latency {
                    let bound = |b: Option<f64>| b.map_or("> 1 s".into(), |b| format!("≤ {b} ms"));
                    let _ = writeln!(
                        out,
                        "  allot_publish_latency_seconds (read → flush): {} flushes, mean {:.1} ms, p50 {}, p99 {}",
                        group(h.count),
                        h.mean_ms,
                        bound(h.p50_at_most_ms),
                        bound(h.p99_at_most_ms)
                    );
                }
            }
        }
        for w in &self.warnings {
            let _ = writeln!(out, "warning: {w}");
        }
        out
    }
}
