//! The pacing driver: pulls records from a [`Workload`], writes them to an [`EventSink`] at a
//! target rate (or as fast as the sink takes them), shows progress, and returns a
//! [`RunSummary`] with per-topic counts, bytes and throughput.

use std::fmt::Write as _;
use std::time::Duration;

use allot_schemas::{EpochMillis, Topic};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use tokio::time::Instant;

use crate::calendar::format_utc;
use crate::sink::EventSink;
use crate::workload::{Workload, topic_index};

/// How to drive a run.
#[derive(Debug, Clone, Default)]
pub struct DriveOptions {
    /// Target events per second; `None` writes as fast as the sink accepts.
    pub rate: Option<f64>,
    /// Stop after this many records (the rest of the window is not generated).
    pub limit: Option<u64>,
    /// Draw a progress bar on stderr.
    pub progress: bool,
}

/// What a run produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    /// Where the records went.
    pub sink: String,
    /// The workload seed.
    pub seed: u64,
    /// Records written per topic (topics with none are left out).
    pub topics: Vec<TopicSummary>,
    /// Records written.
    pub records: u64,
    /// Bytes written, when the sink knows them for every topic it got.
    pub bytes: Option<u64>,
    /// Wall-clock duration of the run in seconds.
    pub elapsed_secs: f64,
    /// Event time of the first record (UTC milliseconds).
    pub simulated_from: EpochMillis,
    /// Event time of the last record (UTC milliseconds).
    pub simulated_to: EpochMillis,
    /// Invalid records injected on purpose (`bad_record_rate`).
    pub bad_records: u64,
    /// Orders emitted with a deliberately wrong price.
    pub price_mismatches: u64,
}

/// One topic's line of a [`RunSummary`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopicSummary {
    /// Kafka topic name.
    pub topic: String,
    /// Records written.
    pub records: u64,
    /// Bytes written, if the sink knows.
    pub bytes: Option<u64>,
}

impl RunSummary {
    /// Records per wall-clock second.
    pub fn rate(&self) -> f64 {
        if self.elapsed_secs > 0.0 {
            self.records as f64 / self.elapsed_secs
        } else {
            0.0
        }
    }

    /// The human-readable table printed at the end of a run.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{:<32} {:>12} {:>12}", "topic", "records", "bytes");
        for t in &self.topics {
            let _ = writeln!(
                out,
                "{:<32} {:>12} {:>12}",
                t.topic,
                group(t.records),
                t.bytes.map_or_else(|| "-".to_string(), human_bytes)
            );
        }
        let _ = writeln!(
            out,
            "{:<32} {:>12} {:>12}",
            "total",
            group(self.records),
            self.bytes.map_or_else(|| "-".to_string(), human_bytes)
        );
        let _ = writeln!(
            out,
            "sink {} · seed {} · {:.2} s · {} records/s",
            self.sink,
            self.seed,
            self.elapsed_secs,
            group(self.rate().round() as u64)
        );
        let _ = writeln!(
            out,
            "simulated {} → {} UTC · {} injected bad records · {} price mismatches",
            format_utc(self.simulated_from),
            format_utc(self.simulated_to),
            group(self.bad_records),
            group(self.price_mismatches)
        );
        out
    }
}

/// `1234567` -> `1,234,567`.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Writes the workload into `sink`, paced by `options`, then closes the sink.
pub async fn drive<S: EventSink>(
    workload: &mut Workload,
    sink: &mut S,
    options: &DriveOptions,
) -> anyhow::Result<RunSummary> {
    let bar = if options.progress {
        let bar = ProgressBar::with_draw_target(Some(1_000), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] [{bar:30}] simulated {percent}% {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    } else {
        ProgressBar::hidden()
    };
    let started = Instant::now();
    let mut per_topic = [0u64; 16];
    let mut records = 0u64;
    let mut first = None;
    // Check the pace about every millisecond's worth of records.
    let pace_every = options.rate.map(|r| ((r / 1_000.0) as u64).max(1));
    let mut last_draw = Instant::now();
    while options.limit.is_none_or(|l| records < l) {
        let Some(record) = workload.next() else { break };
        first.get_or_insert(record.event_time());
        sink.write(&record).await?;
        per_topic[topic_index(record.topic())] += 1;
        records += 1;
        if let (Some(rate), Some(every)) = (options.rate, pace_every)
            && records.is_multiple_of(every)
        {
            let due = started + Duration::from_secs_f64(records as f64 / rate);
            if due > Instant::now() {
                tokio::time::sleep_until(due).await;
            }
        }
        if records.is_multiple_of(4_096) && last_draw.elapsed() >= Duration::from_millis(100) {
            last_draw = Instant::now();
            let secs = started.elapsed().as_secs_f64();
            bar.set_position((workload.progress() * 1_000.0) as u64);
            bar.set_message(format!(
                "· {} · {} records · {} records/s",
                format_utc(workload.clock()),
                group(records),
                group((records as f64 / secs.max(1e-9)) as u64)
            ));
        }
    }
    sink.close().await?;
    let elapsed = started.elapsed();
    bar.finish_and_clear();

    let topics: Vec<TopicSummary> = Topic::ALL
        .iter()
        .filter(|t| per_topic[topic_index(**t)] > 0)
        .map(|t| TopicSummary {
            topic: t.name().to_string(),
            records: per_topic[topic_index(*t)],
            bytes: sink.bytes(*t),
        })
        .collect();
    let bytes = topics
        .iter()
        .map(|t| t.bytes)
        .sum::<Option<u64>>()
        .filter(|_| !topics.is_empty());
    Ok(RunSummary {
        sink: sink.describe(),
        seed: workload.config().seed,
        topics,
        records,
        bytes,
        elapsed_secs: elapsed.as_secs_f64(),
        simulated_from: first.unwrap_or(workload.start_time()),
        simulated_to: workload.clock(),
        bad_records: workload.stats().bad_total(),
        price_mismatches: workload.stats().price_mismatches,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WorkloadConfig;
    use crate::sink::CountingSink;

    fn check(n: u64, expected: &str) {
        assert_eq!(group(n), expected);
    }

    #[test]
    fn thousands_are_grouped() {
        check(0, "0");
        check(999, "999");
        check(1_000, "1,000");
        check(1_234_567, "1,234,567");
    }

    #[test]
    fn the_summary_table_reads_well() {
        let summary = RunSummary {
            sink: "count".into(),
            seed: 42,
            topics: vec![
                TopicSummary {
                    topic: "allot.pos-sales".into(),
                    records: 81_502,
                    bytes: Some(9_876_543),
                },
                TopicSummary {
                    topic: "allot.orders".into(),
                    records: 24_905,
                    bytes: Some(900),
                },
            ],
            records: 106_407,
            bytes: Some(9_877_443),
            elapsed_secs: 0.5,
            simulated_from: crate::calendar::parse_date("2025-03-03").expect("date"),
            simulated_to: crate::calendar::parse_date("2025-03-05").expect("date") - 60_000,
            bad_records: 0,
            price_mismatches: 254,
        };
        let expected = "\
topic                                 records        bytes
allot.pos-sales                        81,502      9.4 MiB
allot.orders                           24,905        900 B
total                                 106,407      9.4 MiB
sink count · seed 42 · 0.50 s · 212,814 records/s
simulated 2025-03-03 00:00 → 2025-03-04 23:59 UTC · 0 injected bad records · 254 price mismatches
";
        assert_eq!(summary.table(), expected);
    }

    fn small() -> Workload {
        Workload::new(WorkloadConfig {
            stores: 3,
            skus: 50,
            days: 1,
            orders_per_day: 300.0,
            pos_baskets_per_store_per_day: 200.0,
            ..WorkloadConfig::default()
        })
        .expect("valid")
    }

    #[tokio::test]
    async fn drives_the_whole_window_and_counts_every_topic() {
        let mut workload = small();
        let mut sink = CountingSink::new(false);
        let summary = drive(&mut workload, &mut sink, &DriveOptions::default())
            .await
            .expect("run");
        assert_eq!(summary.records, sink.records());
        assert_eq!(summary.records, workload.stats().total());
        for t in &summary.topics {
            let topic = Topic::from_name(&t.topic).expect("known topic");
            assert_eq!(t.records, workload.stats().count(topic), "{}", t.topic);
        }
        assert_eq!(summary.bytes, None, "a plain counting sink knows no bytes");
        assert!(summary.simulated_to > summary.simulated_from);
    }

    #[tokio::test(start_paused = true)]
    async fn a_target_rate_paces_the_writes() {
        let mut workload = small();
        let mut sink = CountingSink::new(false);
        let options = DriveOptions {
            rate: Some(1_000.0),
            limit: Some(1_500),
            progress: false,
        };
        let before = tokio::time::Instant::now();
        let summary = drive(&mut workload, &mut sink, &options)
            .await
            .expect("run");
        let simulated_wait = before.elapsed();
        assert_eq!(summary.records, 1_500);
        assert!(
            simulated_wait >= Duration::from_millis(1_490)
                && simulated_wait < Duration::from_millis(1_600),
            "1,500 records at 1,000/s take about 1.5 s, took {simulated_wait:?}"
        );
    }
}

/// Where `allot generate` and `allot-loadtest generate` write, parsed from `--out`.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// Generate and count only (`count`); with `measure_bytes`, Avro-encode to count bytes.
    Count {
        /// Encode every record to report bytes per topic.
        measure_bytes: bool,
    },
    /// JSON lines on standard output (`stdout`).
    Stdout,
    /// One file per topic in a directory (`avro:DIR`, `jsonl:DIR`).
    Files {
        /// The directory.
        dir: std::path::PathBuf,
        /// Avro container files or JSON lines.
        format: allot_connectors::files::Format,
    },
    /// The input topics on Kafka (`kafka` uses the given config's brokers, `kafka:SERVERS`
    /// names them).
    Kafka(allot_connectors::kafka::KafkaConfig),
}

impl Target {
    /// Parses `--out`; `kafka` is the base config for `kafka[:SERVERS]`.
    pub fn parse(
        out: &str,
        kafka: &allot_connectors::kafka::KafkaConfig,
        measure_bytes: bool,
    ) -> anyhow::Result<Target> {
        use allot_connectors::files::Format;
        Ok(match out.split_once(':') {
            None if out == "count" => Target::Count { measure_bytes },
            None if out == "stdout" => Target::Stdout,
            None if out == "kafka" => Target::Kafka(kafka.clone()),
            Some(("jsonl", dir)) => Target::Files {
                dir: dir.into(),
                format: Format::Jsonl,
            },
            Some(("avro" | "files", dir)) => Target::Files {
                dir: dir.into(),
                format: Format::Avro,
            },
            Some(("kafka", servers)) => Target::Kafka(allot_connectors::kafka::KafkaConfig {
                bootstrap_servers: servers.to_string(),
                ..kafka.clone()
            }),
            _ => anyhow::bail!(
                "--out {out:?} is not one of count, stdout, jsonl:DIR, avro:DIR, kafka, kafka:SERVERS"
            ),
        })
    }
}

/// Writes the workload to `target` (creating the input topics first for Kafka) and returns
/// the run's summary. `max_in_flight` bounds the Kafka deliveries awaited at once.
pub async fn drive_to(
    workload: &mut Workload,
    target: &Target,
    options: &DriveOptions,
    max_in_flight: usize,
) -> anyhow::Result<RunSummary> {
    use anyhow::Context as _;

    use crate::sink::{CountingSink, FilesSink, JsonLinesSink, KafkaEventSink};
    match target {
        Target::Count { measure_bytes } => {
            drive(workload, &mut CountingSink::new(*measure_bytes), options).await
        }
        Target::Stdout => drive(workload, &mut JsonLinesSink::stdout(), options).await,
        Target::Files { dir, format } => {
            drive(workload, &mut FilesSink::create(dir, *format)?, options).await
        }
        Target::Kafka(kafka) => {
            kafka.validate().map_err(anyhow::Error::msg)?;
            let inputs: Vec<Topic> = Topic::inputs().collect();
            allot_connectors::kafka::ensure_topics(kafka, &inputs)
                .await
                .with_context(|| {
                    format!(
                        "failed to create the input topics on {}; is Kafka running \
                         (deploy/local/kafka.sh start)?",
                        kafka.bootstrap_servers
                    )
                })?;
            let mut sink = KafkaEventSink::new(kafka, max_in_flight)?;
            drive(workload, &mut sink, options).await
        }
    }
}
