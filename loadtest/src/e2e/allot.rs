//! The `allot` binary as the benchmark runs it: `allot run` against one deployment (a topic
//! prefix and consumer group), with a clean environment, its output captured, stopped with
//! SIGTERM or by its idle exit, and the report it prints read back.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use allot_connectors::kafka::KafkaConfig;
use anyhow::Context;
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

/// How many warning and error lines of allot's log the report keeps.
const LOG_SAMPLE: usize = 10;
/// How many last lines of allot's log an error message shows.
const LOG_TAIL: usize = 30;

/// The `allot` executable at `path`, made absolute (allot runs in another directory), or an
/// error that says how to build it.
pub fn resolve_bin(path: &Path) -> anyhow::Result<PathBuf> {
    std::fs::canonicalize(path)
        .ok()
        .filter(|p| p.is_file())
        .with_context(|| {
            format!(
                "the allot binary {} does not exist; build it with \
                 `cargo build --release -p allot-pipeline` or pass --allot-bin",
                path.display()
            )
        })
}

/// A running `allot run`.
#[derive(Debug)]
pub struct AllotProcess {
    child: Child,
    stdout: JoinHandle<String>,
    stderr: JoinHandle<Log>,
    started: Instant,
    /// Where its `/metrics` is served, when asked for.
    metrics_addr: Option<SocketAddr>,
}

/// allot's log, summarised as it is read (a run that dead-letters every record logs a line
/// for each, far too much to keep).
#[derive(Debug, Default)]
pub struct Log {
    /// Lines at level WARN.
    pub warnings: u64,
    /// Lines at level ERROR.
    pub errors: u64,
    /// The first warning and error lines.
    pub sample: Vec<String>,
    /// The last lines.
    pub tail: VecDeque<String>,
}

impl Log {
    /// Takes one line of the log.
    pub fn push(&mut self, line: &str) {
        let line = strip_ansi(line);
        match line.split_whitespace().nth(1).unwrap_or_default() {
            "WARN" => self.warnings += 1,
            "ERROR" => self.errors += 1,
            _ => {}
        }
        let flagged = self.warnings + self.errors;
        if flagged > self.sample.len() as u64 && self.sample.len() < LOG_SAMPLE {
            self.sample.push(line.clone());
        }
        if self.tail.len() == LOG_TAIL {
            self.tail.pop_front();
        }
        self.tail.push_back(line);
    }

    fn tail_text(&self) -> String {
        self.tail
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// What a finished `allot run` left behind.
#[derive(Debug)]
pub struct Finished {
    /// How it exited.
    pub status: ExitStatus,
    /// Its standard output (the run report).
    pub stdout: String,
    /// Its log.
    pub log: Log,
    /// From spawn to exit.
    pub wall: Duration,
}

impl AllotProcess {
    /// Starts `bin run` for the deployment `kafka`; `coalesce_ms` sets
    /// `ALLOT__RUNTIME__AVAILABILITY_COALESCE_MS` (else allot's default applies),
    /// `idle_exit_ms` passes `--idle-exit-ms`, `metrics` serves `/metrics` on a free local
    /// port (see [`scrape`](Self::scrape)), and `exactly_once_ms` runs it exactly once,
    /// committing every that many ms (else at least once). Every other `ALLOT__*` variable of
    /// this process is withheld, and allot runs in the temporary directory, so no
    /// `allot.toml` or shell setting changes what is measured.
    pub fn spawn(
        bin: &Path,
        kafka: &KafkaConfig,
        coalesce_ms: Option<u64>,
        idle_exit_ms: Option<u64>,
        metrics: bool,
        exactly_once_ms: Option<u64>,
    ) -> anyhow::Result<AllotProcess> {
        let mut cmd = Command::new(bin);
        cmd.arg("run");
        if let Some(ms) = idle_exit_ms {
            cmd.args(["--idle-exit-ms", &ms.to_string()]);
        }
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if k.starts_with("ALLOT__") || k == "ALLOT_CONFIG" || k == "RUST_LOG" {
                cmd.env_remove(k.as_ref());
            }
        }
        cmd.env("ALLOT__KAFKA__BOOTSTRAP_SERVERS", &kafka.bootstrap_servers)
            .env("ALLOT__KAFKA__TOPIC_PREFIX", &kafka.topic_prefix)
            .env("ALLOT__KAFKA__GROUP_ID", &kafka.group_id)
            .env("ALLOT__KAFKA__CLIENT_ID", &kafka.client_id)
            .env("ALLOT__RUNTIME__PROGRESS", "false")
            .env("NO_COLOR", "1");
        if let Some(ms) = coalesce_ms {
            cmd.env("ALLOT__RUNTIME__AVAILABILITY_COALESCE_MS", ms.to_string());
        }
        if let Some(ms) = exactly_once_ms {
            cmd.env("ALLOT__RUNTIME__PROCESSING", "exactly_once")
                .env("ALLOT__RUNTIME__COMMIT_INTERVAL_MS", ms.to_string())
                .env("ALLOT__RUNTIME__INSTANCE_NAME", &kafka.client_id);
        }
        let metrics_addr = if metrics {
            // A port free now; allot binds it a moment later.
            let addr = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .context("failed to find a free port for allot's /metrics")?;
            cmd.env("ALLOT__HTTP__LISTEN_ADDR", addr.to_string());
            Some(addr)
        } else {
            None
        };
        cmd.current_dir(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .with_context(|| format!("failed to start {}", bin.display()))?;
        let stdout = read_all(child.stdout.take());
        let stderr = read_log(child.stderr.take());
        Ok(AllotProcess {
            child,
            stdout,
            stderr,
            started,
            metrics_addr,
        })
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Asks it to stop (SIGTERM: it publishes, commits and prints its report), then waits up
    /// to `timeout` before killing it.
    pub async fn stop(self, timeout: Duration) -> anyhow::Result<Finished> {
        if let Some(pid) = self.child.id() {
            // `kill` by process id: the workspace forbids the unsafe code a direct call needs.
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        self.wait(timeout).await
    }

    /// Waits up to `timeout` for it to exit on its own; kills it after that.
    pub async fn wait(mut self, timeout: Duration) -> anyhow::Result<Finished> {
        let status = match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(status) => status.context("failed to wait for allot")?,
            Err(_) => {
                let _ = self.child.kill().await;
                let log = self.stderr.await.unwrap_or_default();
                anyhow::bail!(
                    "allot run did not exit within {timeout:?} and was killed; its log:\n{}",
                    log.tail_text()
                );
            }
        };
        let wall = self.started.elapsed();
        Ok(Finished {
            status,
            stdout: self.stdout.await.unwrap_or_default(),
            log: self.stderr.await.unwrap_or_default(),
            wall,
        })
    }

    /// Its `/metrics` page (Prometheus text), if it was started with metrics.
    pub async fn scrape(&self) -> anyhow::Result<Option<String>> {
        use tokio::io::AsyncWriteExt;
        let Some(addr) = self.metrics_addr else {
            return Ok(None);
        };
        let fetch = async {
            let mut stream = tokio::net::TcpStream::connect(addr).await?;
            stream
                .write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                .await?;
            let mut bytes = Vec::new();
            stream.read_to_end(&mut bytes).await?;
            std::io::Result::Ok(bytes)
        };
        let bytes = tokio::time::timeout(Duration::from_secs(5), fetch)
            .await
            .context("allot's /metrics did not answer in 5 s")?
            .with_context(|| format!("failed to read http://{addr}/metrics"))?;
        let text = String::from_utf8_lossy(&bytes);
        let body = text.split_once("\r\n\r\n").map_or(&*text, |(_, b)| b);
        Ok(Some(body.to_owned()))
    }

    /// How long it has run.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

fn read_all<R: tokio::io::AsyncRead + Unpin + Send + 'static>(
    pipe: Option<R>,
) -> JoinHandle<String> {
    tokio::spawn(async move {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes).await;
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
        text
    })
}

fn read_log<R: tokio::io::AsyncRead + Unpin + Send + 'static>(pipe: Option<R>) -> JoinHandle<Log> {
    tokio::spawn(async move {
        let mut log = Log::default();
        if let Some(pipe) = pipe {
            let mut lines = BufReader::new(pipe).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                log.push(&line);
            }
        }
        log
    })
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// What one `allot run` reported, and what its log said.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AllotRun {
    /// Input records read (`input: N records`).
    pub input_records: u64,
    /// The run's own elapsed time (`finished in S s`): from subscribing to exit, including
    /// the idle wait before an idle exit.
    pub elapsed_secs: f64,
    /// Records applied.
    pub accepted: u64,
    /// Records recognised as duplicates.
    pub duplicates: u64,
    /// Records dead-lettered.
    pub dead_lettered: u64,
    /// Availability messages published.
    pub availability_messages: u64,
    /// Their framed size in MiB (`availability: N messages (X MiB)`).
    pub availability_mib: f64,
    /// Framed input read, in MiB (`input: N records (X MiB framed)`).
    pub input_mib: f64,
    /// Orders and modifications sourced (`sourcing: N orders and M modifications
    /// decided`); 0 when the run sourced none.
    pub decisions: u64,
    /// Sourcing batches and their summed wall time (`sourcing: N batches took S s`).
    pub sourcing_batches: u64,
    /// See [`sourcing_batches`](Self::sourcing_batches).
    pub sourcing_secs: f64,
    /// From spawn to exit, as this benchmark saw it.
    pub process_secs: f64,
    /// Warning lines in its log.
    pub log_warnings: u64,
    /// Error lines in its log.
    pub log_errors: u64,
    /// The first warning and error lines, for the reader of the report.
    pub log_sample: Vec<String>,
}

impl Finished {
    /// The run's report, or an error with its log if it failed or printed none.
    pub fn report(&self) -> anyhow::Result<AllotRun> {
        if !self.status.success() {
            anyhow::bail!(
                "allot run failed ({}); its log:\n{}\n{}",
                self.status,
                self.log.tail_text(),
                tail(&self.stdout, 10)
            );
        }
        let mut run = parse_report(&self.stdout).with_context(|| {
            format!(
                "allot run printed no report this benchmark can read (did its format change?):\n{}",
                tail(&self.stdout, 20)
            )
        })?;
        run.process_secs = self.wall.as_secs_f64();
        run.log_warnings = self.log.warnings;
        run.log_errors = self.log.errors;
        run.log_sample = self.log.sample.clone();
        Ok(run)
    }
}

/// A Prometheus histogram read from a `/metrics` page, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistogramSummary {
    /// Observations.
    pub count: u64,
    /// Their mean.
    pub mean_ms: f64,
    /// The smallest bucket bound holding half of them (`None`: above the largest bound).
    pub p50_at_most_ms: Option<f64>,
    /// The smallest bucket bound holding 99 % of them.
    pub p99_at_most_ms: Option<f64>,
}

/// A Prometheus histogram as read from a `/metrics` page: cumulative bucket counts by upper
/// bound (seconds), the sum and the count.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    buckets: Vec<(f64, f64)>,
    sum: f64,
    count: f64,
}

impl Histogram {
    /// Reads the histogram `name` from a Prometheus text page.
    pub fn parse(page: &str, name: &str) -> Option<Histogram> {
        let (mut sum, mut count, mut buckets) = (None, None, Vec::new());
        for line in page.lines() {
            let Some(rest) = line.strip_prefix(name) else {
                continue;
            };
            let value = rest.rsplit(' ').next()?;
            if let Some(labels) = rest.strip_prefix("_bucket{") {
                let le = labels.split("le=\"").nth(1)?.split('"').next()?;
                if le != "+Inf" {
                    buckets.push((le.parse::<f64>().ok()?, value.parse::<f64>().ok()?));
                }
            } else if rest.starts_with("_sum ") {
                sum = value.parse::<f64>().ok();
            } else if rest.starts_with("_count ") {
                count = value.parse::<f64>().ok();
            }
        }
        Some(Histogram {
            buckets,
            sum: sum?,
            count: count?,
        })
    }

    /// The observations made after `earlier` was read.
    pub fn since(&self, earlier: &Histogram) -> Histogram {
        Histogram {
            buckets: self
                .buckets
                .iter()
                .map(|(le, c)| {
                    let before = earlier
                        .buckets
                        .iter()
                        .find(|(l, _)| l == le)
                        .map_or(0.0, |(_, c)| *c);
                    (*le, c - before)
                })
                .collect(),
            sum: self.sum - earlier.sum,
            count: self.count - earlier.count,
        }
    }

    /// Count, mean and bucket bounds of the median and the 99th percentile, in ms.
    pub fn summary(&self) -> HistogramSummary {
        let at_most = |q: f64| {
            self.buckets
                .iter()
                .find(|(_, c)| *c >= q * self.count)
                .map(|(le, _)| le * 1000.0)
        };
        HistogramSummary {
            count: self.count as u64,
            mean_ms: if self.count > 0.0 {
                self.sum * 1000.0 / self.count
            } else {
                0.0
            },
            p50_at_most_ms: at_most(0.5),
            p99_at_most_ms: at_most(0.99),
        }
    }
}

/// Drops terminal colour codes (`ESC [ ... m`).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Reads the lines of `allot run`'s summary this benchmark needs:
///
/// ```text
/// allot run finished in 12.34 s
///   input: 392114 records (45.1 MiB framed), 31776 records/s
///   outcome: 392100 accepted, 14 duplicates, 0 dead-lettered (0 refused by validation)
///   availability: 51234 messages (80.2 MiB) for 2000 skus
///   sourcing: 1000 orders and 20 modifications decided (1020 decisions published), …
///   sourcing: 12 batches took 0.051 s, 20000 orders/s while deciding
/// ```
///
/// The sourcing lines are there only when the run sourced orders.
pub fn parse_report(text: &str) -> Option<AllotRun> {
    fn first_number(s: &str) -> Option<u64> {
        s.split_whitespace().next()?.parse().ok()
    }
    fn first_number_f(s: &str) -> Option<f64> {
        s.split_whitespace().next()?.parse().ok()
    }
    /// `(12.3 MiB` anywhere in `s`.
    fn mib(s: &str) -> Option<f64> {
        let (_, rest) = s.split_once('(')?;
        rest.strip_suffix(")")
            .unwrap_or(rest)
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }
    let mut run = AllotRun::default();
    let mut seen = [false; 4];
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("allot run finished in ") {
            run.elapsed_secs = rest.split_whitespace().next()?.parse().ok()?;
            seen[0] = true;
        } else if let Some(rest) = line.strip_prefix("input: ") {
            run.input_records = first_number(rest)?;
            run.input_mib = mib(rest)?;
            seen[1] = true;
        } else if let Some(rest) = line.strip_prefix("outcome: ") {
            let mut parts = rest.split(", ");
            run.accepted = first_number(parts.next()?)?;
            run.duplicates = first_number(parts.next()?)?;
            run.dead_lettered = first_number(parts.next()?)?;
            seen[2] = true;
        } else if let Some(rest) = line.strip_prefix("sourcing: ") {
            if let Some((orders, rest)) = rest.split_once(" orders and ") {
                run.decisions = orders.parse::<u64>().ok()? + first_number(rest)?;
            } else if let Some((batches, rest)) = rest.split_once(" batches took ") {
                run.sourcing_batches = batches.parse().ok()?;
                run.sourcing_secs = first_number_f(rest)?;
            }
        } else if let Some(rest) = line.strip_prefix("availability: ") {
            run.availability_messages = first_number(rest)?;
            run.availability_mib = mib(rest)?;
            seen[3] = true;
        }
    }
    seen.iter().all(|s| *s).then_some(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Figures = (u64, f64, u64, u64, u64, u64, f64, f64);

    fn check(text: &str, expected: Option<Figures>) {
        let got = parse_report(text).map(|r| {
            (
                r.input_records,
                r.elapsed_secs,
                r.accepted,
                r.duplicates,
                r.dead_lettered,
                r.availability_messages,
                r.input_mib,
                r.availability_mib,
            )
        });
        assert_eq!(got, expected, "{text}");
    }

    #[test]
    fn reads_the_run_summary() {
        // As `RunReport`'s Display in pipeline/src/runtime.rs writes it.
        let report = "allot run finished in 12.34 s
  input: 392114 records (45.1 MiB framed), 31776 records/s
  outcome: 392100 accepted, 14 duplicates, 0 dead-lettered (0 refused by validation)
  availability: 51234 messages (80.2 MiB) for 2000 skus
  state: 1 (sku, location) positions, 1 skus, 1 locations, 0 shipments/POs, 0 event ids
";
        check(
            report,
            Some((392_114, 12.34, 392_100, 14, 0, 51_234, 45.1, 80.2)),
        );
        check(&report.replace("  input:", "  in:"), None);
        check("", None);
        check(&report.replace("392114 records", "many records"), None);
    }

    #[test]
    fn reads_the_sourcing_lines_when_there_are_any() {
        let report = "allot run finished in 2.00 s
  input: 10 records (0.1 MiB framed), 5 records/s
  outcome: 10 accepted, 0 duplicates, 0 dead-lettered (0 refused by validation)
  availability: 4 messages (0.0 MiB) for 2 skus
  sourcing: 1200 orders and 34 modifications decided (1234 decisions published), lines \
93.4% allocated, 0.2% backordered, 6.4% rejected; 3 price mismatches; 5 replanned
  sourcing: cost 4.81 per order, split rate 0.5%, ship-from-store 12.7% of shipped lines; \
reservations 1 consumed, 2 released, 3 pickups expired
  sourcing: 7 batches took 0.025 s, 49360 orders/s while deciding
";
        let run = parse_report(report).expect("report");
        assert_eq!(
            (run.decisions, run.sourcing_batches, run.sourcing_secs),
            (1234, 7, 0.025)
        );
        let without = parse_report(
            &report
                .lines()
                .filter(|l| !l.contains("sourcing"))
                .collect::<Vec<_>>()
                .join("\n"),
        )
        .expect("report");
        assert_eq!((without.decisions, without.sourcing_batches), (0, 0));
    }

    #[test]
    fn counts_warnings_and_errors_in_the_log() {
        let finished = Finished {
            status: std::process::Command::new("true")
                .status()
                .expect("true runs"),
            stdout: "allot run finished in 1.0 s\n  input: 1 records (0.0 MiB framed)\n  outcome: 1 accepted, \
                     0 duplicates, 0 dead-lettered (0 refused by validation)\n  availability: 1 \
                     messages (0.0 MiB) for 1 skus\n"
                .into(),
            log: {
                let mut log = Log::default();
                for line in [
                    "2026-01-01T00:00:00Z \u{1b}[33m WARN\u{1b}[0m allot: slow",
                    "2026-01-01T00:00:01Z ERROR allot: broken",
                    "2026-01-01T00:00:02Z  INFO allot: fine",
                ] {
                    log.push(line);
                }
                log
            },
            wall: Duration::from_secs(2),
        };
        let run = finished.report().expect("report");
        assert_eq!((run.log_warnings, run.log_errors), (1, 1));
        assert_eq!(run.log_sample.len(), 2);
        assert!(
            run.log_sample[0].contains("WARN allot: slow"),
            "{:?}",
            run.log_sample
        );
        assert_eq!(run.process_secs, 2.0);
    }

    #[test]
    fn reads_a_histogram_from_a_metrics_page() {
        let page = "# HELP allot_publish_latency_seconds Wall time\n\
# TYPE allot_publish_latency_seconds histogram
allot_publish_latency_seconds_bucket{le=\"0.005\"} 10
allot_publish_latency_seconds_bucket{le=\"0.01\"} 60
allot_publish_latency_seconds_bucket{le=\"0.05\"} 99
allot_publish_latency_seconds_bucket{le=\"0.1\"} 100
allot_publish_latency_seconds_bucket{le=\"+Inf\"} 100
allot_publish_latency_seconds_sum 1.5
allot_publish_latency_seconds_count 100
allot_publish_latency_seconds_other 7
";
        let name = "allot_publish_latency_seconds";
        let h = Histogram::parse(page, name).expect("histogram").summary();
        assert_eq!(h.count, 100);
        assert!((h.mean_ms - 15.0).abs() < 1e-9);
        assert_eq!(h.p50_at_most_ms, Some(10.0));
        assert_eq!(h.p99_at_most_ms, Some(50.0));
        assert_eq!(Histogram::parse(page, "allot_nothing_seconds"), None);
        // The 40 observations after a first reading of 60, all above 10 ms.
        let earlier = page
            .replace("} 99", "} 60")
            .replace("} 100", "} 60")
            .replace("_sum 1.5", "_sum 0.3")
            .replace("_count 100", "_count 60");
        let earlier = Histogram::parse(&earlier, name).expect("histogram");
        let later = Histogram::parse(page, name)
            .expect("histogram")
            .since(&earlier)
            .summary();
        assert_eq!(later.count, 40);
        assert!((later.mean_ms - 30.0).abs() < 1e-9);
        assert_eq!(later.p50_at_most_ms, Some(50.0));
    }

    #[test]
    fn a_long_log_is_kept_short() {
        let mut log = Log::default();
        for i in 0..1_000 {
            log.push(&format!("2026-01-01T00:00:00Z  WARN allot: line {i}"));
        }
        assert_eq!(log.warnings, 1_000);
        assert_eq!(log.sample.len(), LOG_SAMPLE);
        assert!(log.sample[0].ends_with("line 0"));
        assert_eq!(log.tail.len(), LOG_TAIL);
        assert!(log.tail_text().ends_with("line 999"));
    }
}
