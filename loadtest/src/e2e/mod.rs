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
use allot_schemas::{Direction, Topic};
use anyhow::Context;
use serde::Serialize;
use tokio::time::Instant;

use self::allot::{AllotProcess, AllotRun};
use self::broker::{Created, GroupWatch};
use self::latency::{AvailabilityReader, Percentiles, now_ms, set_event_time};
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
    /// [`RATIO_GOAL`].
    pub ratio_goal: f64,
    /// One entry per coalescing bound.
    pub latency: Vec<LatencyReport>,
    /// [`P99_GOAL_MS`].
    pub latency_goal_p99_ms: i64,
    /// Whether the run's topics and groups were deleted.
    pub cleaned_up: bool,
    /// How to read the figures.
    pub notes: Vec<String>,
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
    /// Availability messages about the opening stock, not measured.
    pub opening_messages: u64,
    /// Availability messages whose event time could not be read.
    pub unreadable: u64,
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
    Topic::ALL
        .into_iter()
        .filter(|t| t.direction() == Direction::Input)
        .map(|t| config.topic_name(t))
        .collect()
}

async fn create(config: &KafkaConfig, created: &mut Created) -> anyhow::Result<()> {
    created.deployments.push(config.clone());
    created.groups.push(config.group_id.clone());
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
    let allot = allot_throughput(options, bin, &allot_cfg, n, notes).await?;
    let ratio = allot.records_per_sec / passthrough.records_per_sec.max(1e-9);
    notes.note(format!(
        "allot: {} records in {:.2} s = {:.0} records/s · ratio {:.2} (goal ≥ {RATIO_GOAL})",
        group(allot.records),
        allot.consume_secs,
        allot.records_per_sec,
        ratio
    ));

    // 4. Latency at half the measured rate, once per coalescing bound.
    let rate = options
        .latency_rate
        .unwrap_or(allot.records_per_sec / 2.0)
        .max(1.0);
    let trading_per_day = (n.saturating_sub(opening) as f64 / f64::from(w.days)).max(1.0);
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

    Ok(E2eReport {
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

async fn allot_throughput(
    options: &E2eOptions,
    bin: &std::path::Path,
    config: &KafkaConfig,
    n: u64,
    notes: &Notes,
) -> anyhow::Result<AllotThroughput> {
    notes.note(format!(
        "allot run --idle-exit-ms {} ({})",
        options.idle_exit_ms,
        bin.display()
    ));
    let watch = GroupWatch::new(config, &input_names(config))?;
    let mut process = AllotProcess::spawn(bin, config, None, Some(options.idle_exit_ms))?;
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
    let committed = watch.progress().await?.committed;
    anyhow::ensure!(
        committed == n,
        "allot run read all {n} records but its group committed {committed}"
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

/// `YYYY-MM-DD` of the UTC day of `t`.
fn utc_date(t: i64) -> String {
    let (y, m, d) = civil_from_days(t.div_euclid(DAY_MS));
    format!("{y:04}-{m:02}-{d:02}")
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
        // The same network, starting today, long enough for the events this phase sends.
        let needed = self.rate * options.latency_secs * 1.2 + 1_000.0;
        let days = ((needed / self.trading_per_day).ceil() as u32 + 1).clamp(1, 3_650);
        let workload = WorkloadConfig {
            start_date: utc_date(now_ms()),
            days,
            ..options.workload.clone()
        };
        let mut workload = Workload::new(workload)?;
        let start = workload.start_time();
        let mut sink = KafkaEventSink::new(config, 10_000)?;
        let mut opening = 0u64;
        let mut next = None;
        for r in workload.by_ref() {
            if r.event_time() > start {
                next = Some(r);
                break;
            }
            sink.write(&r).await?;
            opening += 1;
        }
        sink.flush().await?;

        let reader_config = KafkaConfig {
            group_id: format!("{}-reader", config.group_id),
            ..config.clone()
        };
        let reader = AvailabilityReader::start(
            &reader_config,
            &config.topic_name(Topic::Availability),
            config.partitions,
            now_ms(),
        )?;
        let watch = GroupWatch::new(config, &input_names(config))?;
        let mut process = AllotProcess::spawn(self.bin, config, Some(self.coalesce_ms), None)?;
        loop {
            if !process.running() {
                let run = process.wait(Duration::from_secs(5)).await?.report();
                anyhow::bail!("allot run exited before the latency phase began: {run:?}");
            }
            let p = watch.progress().await?;
            if p.end == opening && p.caught_up() {
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

        // Trading events at the target rate, stamped with the wall clock.
        let send_for = Duration::from_secs_f64(options.latency_secs);
        let began = Instant::now();
        let mut sent = 0u64;
        let mut ran_out = false;
        let mut last_note = began;
        while began.elapsed() < send_for {
            let Some(mut record) = next.take().or_else(|| workload.next()) else {
                ran_out = true;
                break;
            };
            set_event_time(&mut record, now_ms());
            sink.write(&record).await?;
            sent += 1;
            let due = began + Duration::from_secs_f64(sent as f64 / self.rate);
            if due > Instant::now() {
                tokio::time::sleep_until(due).await;
            }
            if last_note.elapsed() >= Duration::from_secs(2) {
                last_note = Instant::now();
                anyhow::ensure!(
                    process.running(),
                    "allot run exited during the latency phase"
                );
                notes.note(format!(
                    "  sent {} ({:.0}/s) · {} availability messages measured",
                    group(sent),
                    sent as f64 / began.elapsed().as_secs_f64(),
                    group(reader.measured())
                ));
            }
        }
        sink.flush().await?;
        let send_secs = began.elapsed().as_secs_f64();
        let quiet = Duration::from_millis((4 * self.coalesce_ms).max(1_000));
        reader.settle(quiet, Duration::from_secs(30)).await;
        let seen = reader.finish().await?;
        let run = process.stop(Duration::from_secs(30)).await?.report()?;
        anyhow::ensure!(
            run.input_records == opening + sent,
            "allot read {} records in the latency phase; {} were sent",
            run.input_records,
            opening + sent
        );
        let consume = Percentiles::of(seen.consume);
        let publish = Percentiles::of(seen.publish);
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
            achieved_rate: sent as f64 / send_secs.max(1e-9),
            sent,
            send_secs,
            opening_records: opening,
            catch_up_secs: catch_up.as_secs_f64(),
            ran_out,
            consume,
            publish,
            opening_messages: seen.before,
            unreadable: seen.unreadable,
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
        let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
        let _ = writeln!(
            out,
            "ratio allot / passthrough: {:.2} (goal ≥ {}: {})",
            self.ratio,
            self.ratio_goal,
            verdict(self.ratio >= self.ratio_goal)
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<24} {:>8} {:>9} {:>6} {:>6} {:>6} {:>6}   {:>13}",
            "latency event→consumer",
            "events/s",
            "messages",
            "p50",
            "p90",
            "p99",
            "max",
            "publish p50/99"
        );
        for l in &self.latency {
            let label = format!("coalesce {} ms", l.coalesce_ms);
            match (&l.consume, &l.publish) {
                (Some(c), p) => {
                    let publish = p
                        .as_ref()
                        .map_or("-".into(), |p| format!("{}/{}", p.p50_ms, p.p99_ms));
                    let _ = writeln!(
                        out,
                        "{:<24} {:>8} {:>9} {:>6} {:>6} {:>6} {:>6}   {:>13}   p99 {}",
                        label,
                        group(l.achieved_rate.round() as u64),
                        group(c.count),
                        c.p50_ms,
                        c.p90_ms,
                        c.p99_ms,
                        c.max_ms,
                        publish,
                        verdict(c.p99_ms <= self.latency_goal_p99_ms)
                    );
                }
                (None, _) => {
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
        }
        out
    }
}
