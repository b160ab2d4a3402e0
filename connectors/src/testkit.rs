//! Support for integration tests against the real services (cargo feature `integration`).
//!
//! - [`ensure_kafka`], [`ensure_clickhouse`], [`ensure_prometheus`] run
//!   `deploy/local/<svc>.sh start` once per test process (the scripts are idempotent and
//!   serialise concurrent callers) and return the address from `KAFKA_BOOTSTRAP`,
//!   `CLICKHOUSE_URL`, `PROMETHEUS_URL` (defaults: the scripts' ports on 127.0.0.1). If a
//!   service cannot be started they panic with the script's whole output. Set
//!   `ALLOT_TEST_SERVICES=external` to skip the scripts and use the addresses as given.
//! - [`unique_name`] and the `*_config` helpers give each test its own topics (a topic prefix),
//!   consumer group and ClickHouse database, so tests run in parallel without seeing each
//!   other's data.
//! - [`ScrapeTarget`] registers an endpoint with the local Prometheus at run time (a file_sd
//!   file in `deploy/local/prometheus.sh`'s targets folder, job `allot`), and
//!   [`prometheus_query`] / [`wait_for_value`] read it back through the HTTP API.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::clickhouse::ClickHouseConfig;
use crate::kafka::KafkaConfig;

/// The repository root (the parent of this crate's folder).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("connectors/ has a parent")
        .to_path_buf()
}

fn external() -> bool {
    std::env::var("ALLOT_TEST_SERVICES").is_ok_and(|v| v == "external")
}

/// Runs `deploy/local/<service>.sh start` once per process; panics with its output if it
/// fails.
fn ensure(service: &'static str, cell: &'static OnceLock<()>) {
    if external() {
        return;
    }
    cell.get_or_init(|| {
        let script = repo_root().join("deploy/local").join(format!("{service}.sh"));
        assert!(
            script.is_file(),
            "\n\n*** {service}: {} is missing; cannot start the service for the integration tests ***\n",
            script.display()
        );
        let started = Instant::now();
        let out = Command::new("bash")
            .arg(&script)
            .arg("start")
            .current_dir(repo_root())
            .output()
            .unwrap_or_else(|e| panic!("\n\n*** {service}: could not run {}: {e} ***\n", script.display()));
        if !out.status.success() {
            panic!(
                "\n\n*** {service} could not be started: `{} start` exited with {} after {:.1?} ***\n\
                 --- stdout ---\n{}\n--- stderr ---\n{}\n*** end of {service}.sh output ***\n",
                script.display(),
                out.status,
                started.elapsed(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
            );
        }
    });
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// Starts Kafka if needed; returns the bootstrap servers (`KAFKA_BOOTSTRAP`, default
/// `127.0.0.1:9092`).
pub fn ensure_kafka() -> String {
    static STARTED: OnceLock<()> = OnceLock::new();
    ensure("kafka", &STARTED);
    env_or("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
}

/// Restarts the local broker (`deploy/local/kafka.sh restart`), for tests of what a broker
/// restart does; blocks until it is back, and panics with the script's output if it is not.
/// Refused with external services (`ALLOT_TEST_SERVICES=external`): the test cannot
/// restart a broker it did not start.
pub fn restart_kafka() {
    assert!(
        !external(),
        "restart_kafka: the broker is external (ALLOT_TEST_SERVICES=external); this test restarts \
         the local one and cannot run against another"
    );
    let script = repo_root().join("deploy/local/kafka.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg("restart")
        .current_dir(repo_root())
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "\n\n*** kafka could not be restarted: `{} restart` exited with {} ***\n--- stdout ---\n{}\n--- stderr ---\n{}\n",
        script.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
}

/// Starts ClickHouse if needed; returns its HTTP URL (`CLICKHOUSE_URL`, default
/// `http://127.0.0.1:8123`).
pub fn ensure_clickhouse() -> String {
    static STARTED: OnceLock<()> = OnceLock::new();
    ensure("clickhouse", &STARTED);
    env_or("CLICKHOUSE_URL", "http://127.0.0.1:8123")
}

/// Starts Prometheus if needed; returns its URL (`PROMETHEUS_URL`, default
/// `http://127.0.0.1:9090`).
pub fn ensure_prometheus() -> String {
    static STARTED: OnceLock<()> = OnceLock::new();
    ensure("prometheus", &STARTED);
    env_or("PROMETHEUS_URL", "http://127.0.0.1:9090")
}

/// `<test>-<16 hex digits>`: lower-case, with anything but letters, digits and `-` turned
/// into `-`. Unique across threads and processes.
pub fn unique_name(test: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    let base: String = test
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!("{base}-{:016x}", h.finish())
}

/// A Kafka config of the test's own: topics prefixed `<unique>.`, group and client id
/// `<unique>`, `partitions` partitions, statistics every second.
pub fn kafka_config(test: &str, partitions: i32) -> KafkaConfig {
    let name = unique_name(test);
    KafkaConfig {
        bootstrap_servers: ensure_kafka(),
        client_id: name.clone(),
        group_id: name.clone(),
        topic_prefix: format!("{name}."),
        partitions,
        statistics_interval_ms: 1_000,
        ..KafkaConfig::default()
    }
}

/// A ClickHouse config with a database of the test's own (not created yet: call
/// [`crate::clickhouse::create_database`]).
pub fn clickhouse_config(test: &str) -> ClickHouseConfig {
    ClickHouseConfig {
        url: ensure_clickhouse(),
        database: unique_name(test).replace('-', "_"),
        ..ClickHouseConfig::default()
    }
}

/// The folder the local Prometheus reads file_sd targets from: `PROMETHEUS_TARGETS_DIR`, or
/// `$PROMETHEUS_DIR/targets`, or `$ALLOT_LOCAL_HOME/prometheus/targets`, or
/// `<repo>/.local/prometheus/targets` (as `deploy/local/prometheus.sh` computes it).
pub fn prometheus_targets_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("PROMETHEUS_TARGETS_DIR") {
        return dir.into();
    }
    if let Ok(dir) = std::env::var("PROMETHEUS_DIR") {
        return Path::new(&dir).join("targets");
    }
    let home = std::env::var("ALLOT_LOCAL_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join(".local"));
    home.join("prometheus").join("targets")
}

/// A scrape target registered with the local Prometheus (job `allot`, with the label
/// `test="<name>"` on every series it scrapes). Removed again on drop.
#[derive(Debug)]
pub struct ScrapeTarget {
    path: PathBuf,
    name: String,
}

impl ScrapeTarget {
    /// Registers `addr` under the label `test="<name>"`. Prometheus picks it up within its
    /// file_sd refresh interval (2 s locally).
    pub fn register(name: &str, addr: SocketAddr) -> Self {
        let dir = prometheus_targets_dir();
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let body = serde_json::json!([{
            "targets": [addr.to_string()],
            "labels": { "test": name },
        }]);
        let path = dir.join(format!("{name}.json"));
        // write then rename, so Prometheus never reads half a file
        let tmp = dir.join(format!(".{name}.json.tmp"));
        std::fs::write(&tmp, body.to_string())
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", tmp.display()));
        std::fs::rename(&tmp, &path)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        Self {
            path,
            name: name.to_owned(),
        }
    }

    /// The `test` label value.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for ScrapeTarget {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// One series of an instant query result: its labels and value.
pub type Sample = (BTreeMap<String, String>, f64);

/// Runs an instant PromQL query through the HTTP API.
pub async fn prometheus_query(url: &str, expr: &str) -> Result<Vec<Sample>, String> {
    let endpoint = reqwest::Url::parse_with_params(
        &format!("{}/api/v1/query", url.trim_end_matches('/')),
        &[("query", expr)],
    )
    .map_err(|e| format!("bad Prometheus URL {url:?}: {e}"))?;
    let response = reqwest::Client::new()
        .get(endpoint)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .map_err(|e| format!("GET /api/v1/query: {e}"))?;
    let status = response.status();
    let body: serde_json::Value = response
        .json()
        .await
        .map_err(|e| format!("query answer is not JSON ({status}): {e}"))?;
    if body["status"] != "success" {
        return Err(format!("query {expr:?} failed: {body}"));
    }
    let results = body["data"]["result"]
        .as_array()
        .ok_or_else(|| format!("no result array in {body}"))?;
    results
        .iter()
        .map(|r| {
            let labels = r["metric"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                        .collect()
                })
                .unwrap_or_default();
            let value = r["value"][1]
                .as_str()
                .and_then(|v| v.parse::<f64>().ok())
                .ok_or_else(|| format!("no value in {r}"))?;
            Ok((labels, value))
        })
        .collect()
}

/// Polls `expr` until it returns exactly one series with value `expected`, for at most
/// `timeout`; returns how long it took, or a message with the last answer.
pub async fn wait_for_value(
    url: &str,
    expr: &str,
    expected: f64,
    timeout: Duration,
) -> Result<Duration, String> {
    let start = Instant::now();
    let mut last = String::from("no answer yet");
    while start.elapsed() < timeout {
        match prometheus_query(url, expr).await {
            Ok(samples) if samples.len() == 1 && samples[0].1 == expected => {
                return Ok(start.elapsed());
            }
            Ok(samples) => last = format!("{samples:?}"),
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Err(format!(
        "{expr} did not reach {expected} within {timeout:?}; last answer: {last}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_differ_and_are_safe_names() {
        let a = unique_name("kafka::Round Trip");
        let b = unique_name("kafka::Round Trip");
        assert_ne!(a, b);
        assert!(a.starts_with("kafka--round-trip-"), "{a}");
        assert!(
            a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
    }
}
