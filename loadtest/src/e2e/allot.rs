//! The `allot` binary as the benchmark runs it: `allot run` against one deployment (a topic
//! prefix and consumer group), with a clean environment, its output captured, stopped with
//! SIGTERM or by its idle exit, and the report it prints read back.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use allot_connectors::kafka::KafkaConfig;
use anyhow::Context;
use serde::Serialize;
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

/// How many warning and error lines of allot's log the report keeps.
const LOG_SAMPLE: usize = 10;

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
    stderr: JoinHandle<String>,
    started: Instant,
}

/// What a finished `allot run` left behind.
#[derive(Debug)]
pub struct Finished {
    /// How it exited.
    pub status: ExitStatus,
    /// Its standard output (the run report).
    pub stdout: String,
    /// Its log.
    pub stderr: String,
    /// From spawn to exit.
    pub wall: Duration,
}

impl AllotProcess {
    /// Starts `bin run` for the deployment `kafka`; `coalesce_ms` sets
    /// `ALLOT__RUNTIME__AVAILABILITY_COALESCE_MS` (else allot's default applies) and
    /// `idle_exit_ms` passes `--idle-exit-ms`. Every other `ALLOT__*` variable of this
    /// process is withheld, and allot runs in the temporary directory, so no `allot.toml`
    /// or shell setting changes what is measured.
    pub fn spawn(
        bin: &Path,
        kafka: &KafkaConfig,
        coalesce_ms: Option<u64>,
        idle_exit_ms: Option<u64>,
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
        let stderr = read_all(child.stderr.take());
        Ok(AllotProcess {
            child,
            stdout,
            stderr,
            started,
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
                let stderr = self.stderr.await.unwrap_or_default();
                anyhow::bail!(
                    "allot run did not exit within {timeout:?} and was killed; its log:\n{}",
                    tail(&stderr, 20)
                );
            }
        };
        let wall = self.started.elapsed();
        Ok(Finished {
            status,
            stdout: self.stdout.await.unwrap_or_default(),
            stderr: self.stderr.await.unwrap_or_default(),
            wall,
        })
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
                tail(&self.stderr, 30),
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
        for line in self.stderr.lines() {
            let line = strip_ansi(line);
            let level = line.split_whitespace().nth(1).unwrap_or_default();
            match level {
                "WARN" => run.log_warnings += 1,
                "ERROR" => run.log_errors += 1,
                _ => continue,
            }
            if run.log_sample.len() < LOG_SAMPLE {
                run.log_sample.push(line);
            }
        }
        Ok(run)
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
/// ```
pub fn parse_report(text: &str) -> Option<AllotRun> {
    fn first_number(s: &str) -> Option<u64> {
        s.split_whitespace().next()?.parse().ok()
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
            seen[1] = true;
        } else if let Some(rest) = line.strip_prefix("outcome: ") {
            let mut parts = rest.split(", ");
            run.accepted = first_number(parts.next()?)?;
            run.duplicates = first_number(parts.next()?)?;
            run.dead_lettered = first_number(parts.next()?)?;
            seen[2] = true;
        } else if let Some(rest) = line.strip_prefix("availability: ") {
            run.availability_messages = first_number(rest)?;
            seen[3] = true;
        }
    }
    seen.iter().all(|s| *s).then_some(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Option<(u64, f64, u64, u64, u64, u64)>) {
        let got = parse_report(text).map(|r| {
            (
                r.input_records,
                r.elapsed_secs,
                r.accepted,
                r.duplicates,
                r.dead_lettered,
                r.availability_messages,
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
        check(report, Some((392_114, 12.34, 392_100, 14, 0, 51_234)));
        check(&report.replace("  input:", "  in:"), None);
        check("", None);
        check(&report.replace("392114 records", "many records"), None);
    }

    #[test]
    fn counts_warnings_and_errors_in_the_log() {
        let finished = Finished {
            status: std::process::Command::new("true")
                .status()
                .expect("true runs"),
            stdout: "allot run finished in 1.0 s\n  input: 1 records\n  outcome: 1 accepted, \
                     0 duplicates, 0 dead-lettered (0 refused by validation)\n  availability: 1 \
                     messages (0.0 MiB) for 1 skus\n"
                .into(),
            stderr: "2026-01-01T00:00:00Z \u{1b}[33m WARN\u{1b}[0m allot: slow\n\
                     2026-01-01T00:00:01Z ERROR allot: broken\n\
                     2026-01-01T00:00:02Z  INFO allot: fine\n"
                .into(),
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
}
