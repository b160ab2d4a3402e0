//! Shared by the integration tests that run `allot run` against the real broker and read
//! its output back with confluent-kafka + fastavro (clients no one here wrote).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use allot_connectors::kafka::KafkaConfig;
use allot_schemas::*;
use serde_json::Value;

pub fn python() -> String {
    std::env::var("ALLOT_PYTHON").unwrap_or_else(|_| {
        panic!(
            "ALLOT_PYTHON is not set: point it at a python with confluent-kafka and fastavro, \
             e.g. `eval \"$(deploy/local/stack.sh env)\"` after `deploy/local/stack.sh install`"
        )
    })
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every message of `topic`, read from the beginning until idle, as JSON lines:
/// `{"key", "partition", "offset", "schema_id", "value"}`.
pub fn read_topic(bootstrap: &str, topic: &str, schema_dir: &str) -> Vec<Value> {
    let schema = repo().join(format!("schemas/avro/{schema_dir}/v1.avsc"));
    let out = Command::new(python())
        .arg(repo().join("pipeline/tests/peers/read_topic.py"))
        .args([bootstrap, topic])
        .arg(&schema)
        .args(["--idle-ms", "4000"])
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "the peer reader failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json from the peer"))
        .collect()
}

/// Runs `allot run` against `kafka` until it has been idle for 4 s; returns its report.
pub fn run_allot(kafka: &KafkaConfig) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_allot"))
        .args(["run", "--idle-exit-ms", "4000"])
        .env("ALLOT__KAFKA__BOOTSTRAP_SERVERS", &kafka.bootstrap_servers)
        .env("ALLOT__KAFKA__TOPIC_PREFIX", &kafka.topic_prefix)
        .env("ALLOT__KAFKA__GROUP_ID", &kafka.group_id)
        .env("ALLOT__KAFKA__CLIENT_ID", &kafka.client_id)
        .env_remove("ALLOT_CONFIG")
        .output()
        .expect("allot run starts");
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "allot run failed:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    report
}

/// A location record: in Lyon, open around the clock (UTC), 1,000 picks and shipments a
/// day, two transit days by default.
pub fn location(
    id: &str,
    time: i64,
    kind: LocationKind,
    caps: &[Capability],
    groups: &[&str],
) -> AnyRecord {
    AnyRecord::Location(Location {
        event_id: format!("loc-{id}"),
        event_time: time,
        source: "mdm".into(),
        location_id: id.into(),
        name: id.into(),
        kind,
        active: true,
        city: "Lyon".into(),
        country: "FR".into(),
        latitude: 45.76,
        longitude: 4.83,
        timezone: "UTC".into(),
        capabilities: caps.to_vec(),
        opening_hours: (1..=7)
            .map(|d| OpeningHours {
                day_of_week: d,
                open_minute: 0,
                close_minute: 24 * 60 - 1,
            })
            .collect(),
        pick_capacity_per_day: 1000,
        ship_capacity_per_day: 1000,
        distribution_groups: groups.iter().map(|g| g.to_string()).collect(),
        transit_times: vec![],
        default_transit_days: 2,
    })
}

/// A cycle count of `qty` units of `sku` at `loc`.
pub fn count(id: &str, t: i64, loc: &str, sku: &str, qty: i32) -> AnyRecord {
    AnyRecord::Adjustment(InventoryAdjustment {
        event_id: id.into(),
        event_time: t,
        source: "wms".into(),
        location_id: loc.into(),
        sku: sku.into(),
        kind: AdjustmentKind::CycleCount,
        quantity: qty,
        reason: None,
    })
}

/// A running `allot run` child process: its HTTP address, and its stdout and stderr lines as
/// they come.
pub struct Allot {
    child: std::process::Child,
    /// Where it serves `/metrics`, `/health`, `/ready`.
    pub addr: std::net::SocketAddr,
    stderr: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stdout: Option<std::thread::JoinHandle<String>>,
}

impl Allot {
    /// Starts `allot run` on `kafka` with an HTTP server on a free port, plus `env`; waits
    /// until it serves HTTP.
    pub fn start(kafka: &KafkaConfig, client_id: &str, env: &[(&str, &str)]) -> Allot {
        Allot::start_command("run", kafka, client_id, env)
    }

    /// [`start`](Self::start) for another command that serves HTTP (`intake`).
    pub fn start_command(
        command: &str,
        kafka: &KafkaConfig,
        client_id: &str,
        env: &[(&str, &str)],
    ) -> Allot {
        use std::io::BufRead;
        use std::process::Stdio;
        let mut child = Command::new(env!("CARGO_BIN_EXE_allot"))
            .args([command, "--metrics-addr", "127.0.0.1:0"])
            .env("ALLOT__KAFKA__BOOTSTRAP_SERVERS", &kafka.bootstrap_servers)
            .env("ALLOT__KAFKA__TOPIC_PREFIX", &kafka.topic_prefix)
            .env("ALLOT__KAFKA__GROUP_ID", &kafka.group_id)
            .env("ALLOT__KAFKA__CLIENT_ID", client_id)
            .env("ALLOT__RUNTIME__INSTANCE_NAME", client_id)
            .env_remove("ALLOT_CONFIG")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("allot run starts");
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let lines = stderr.clone();
        let err = child.stderr.take().unwrap();
        let name = client_id.to_owned();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                eprintln!("[{name}] {line}");
                if let Some(addr) = line.split("http://").nth(1) {
                    let _ = tx.send(addr.trim().parse::<std::net::SocketAddr>().ok());
                }
                lines.lock().unwrap().push(line);
            }
        });
        let mut out = child.stdout.take().unwrap();
        let stdout = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut out, &mut s);
            s
        });
        let addr = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .ok()
            .flatten()
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!(
                    "allot {command} did not serve HTTP: {:?}",
                    stderr.lock().unwrap()
                )
            });
        Allot {
            child,
            addr,
            stderr,
            stdout: Some(stdout),
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`TERM`, `INT`, `KILL`) with kill(1).
    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill runs");
        assert!(ok.success(), "kill -{signal} {} failed", self.pid());
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// The stderr lines so far.
    pub fn log(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits for the process to end, at most `timeout` (then kills it and panics); returns
    /// its exit status and stdout.
    pub fn wait(mut self, timeout: std::time::Duration) -> (std::process::ExitStatus, String) {
        let start = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                let out = self
                    .stdout
                    .take()
                    .map(|h| h.join().unwrap_or_default())
                    .unwrap_or_default();
                return (status, out);
            }
            if start.elapsed() > timeout {
                let _ = self.child.kill();
                panic!(
                    "allot run did not exit within {timeout:?}; stderr:\n{}",
                    self.log().join("\n")
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// `GET path`: status and body.
    pub fn get(&self, path: &str) -> (u16, String) {
        self.try_get(path).expect("the instance answers HTTP")
    }

    /// [`get`](Self::get), or the I/O error (an instance that just exited).
    pub fn try_get(&self, path: &str) -> std::io::Result<(u16, String)> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(self.addr)?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )?;
        let mut raw = String::new();
        s.read_to_string(&mut raw)?;
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
        let status = head.get(9..12).and_then(|c| c.parse().ok());
        Ok((status.unwrap_or(0), body.to_owned()))
    }

    /// The sum of every sample of `/metrics` whose series starts with `series` (a name, or a
    /// name and the start of its labels).
    pub fn metric(&self, series: &str) -> f64 {
        let (_, body) = self.get("/metrics");
        body.lines()
            .filter(|l| l.starts_with(series))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Polls `/metrics` until `series` sums to at least `at_least`, at most `timeout`.
    pub fn wait_metric(&self, series: &str, at_least: f64, timeout: std::time::Duration) {
        let start = std::time::Instant::now();
        while self.metric(series) < at_least {
            assert!(
                start.elapsed() < timeout,
                "{series} stayed at {} (< {at_least}) for {timeout:?}; stderr:\n{}",
                self.metric(series),
                self.log().join("\n")
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

impl Drop for Allot {
    fn drop(&mut self) {
        // A test that panicked leaves no process behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The committed offset of `group` and the high watermark of every partition of `topics`:
/// `(topic, partition, committed, high)`; committed is `None` where nothing was committed.
pub fn committed_and_ends(
    kafka: &KafkaConfig,
    topics: &[Topic],
) -> Vec<(Topic, i32, Option<i64>, i64)> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{ClientConfig, Offset, TopicPartitionList};
    let timeout = std::time::Duration::from_secs(10);
    // Not subscribed: it reads the group's offsets without joining the group.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &kafka.bootstrap_servers)
        .set("group.id", &kafka.group_id)
        .create()
        .expect("consumer");
    let mut out = Vec::new();
    for &topic in topics {
        let name = kafka.topic_name(topic);
        // A busy broker (CI, a run that just restarted it) can miss a 10 s metadata request.
        let metadata = (0..3)
            .find_map(|_| consumer.fetch_metadata(Some(&name), timeout).ok())
            .expect("metadata of the input topics within 3 tries");
        let partitions: Vec<i32> = metadata.topics()[0]
            .partitions()
            .iter()
            .map(|p| p.id())
            .collect();
        let mut tpl = TopicPartitionList::new();
        for &p in &partitions {
            tpl.add_partition(&name, p);
        }
        let committed = (0..3)
            .find_map(|_| consumer.committed_offsets(tpl.clone(), timeout).ok())
            .expect("the group's committed offsets within 3 tries");
        for &p in &partitions {
            let (_, high) = consumer
                .fetch_watermarks(&name, p, timeout)
                .expect("watermarks");
            let c = match committed.find_partition(&name, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => Some(o),
                _ => None,
            };
            out.push((topic, p, c, high));
        }
    }
    out
}

/// The state and member count of consumer group `group`, as the coordinator reports it.
pub fn group_state(kafka: &KafkaConfig) -> (String, usize) {
    use rdkafka::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &kafka.bootstrap_servers)
        .create()
        .expect("consumer");
    let list = consumer
        .fetch_group_list(Some(&kafka.group_id), std::time::Duration::from_secs(10))
        .expect("group list");
    let g = &list.groups()[0];
    (g.state().to_owned(), g.members().len())
}

/// Every availability message on the topic, read from the start until nothing came for 3 s,
/// by a reader group of its own: the last message per sku.
pub async fn last_availability(
    kafka: &KafkaConfig,
) -> std::collections::BTreeMap<String, Availability> {
    use allot_connectors::ConnectorMetrics;
    use allot_connectors::kafka::{KafkaSink, KafkaSource};
    let reader = KafkaConfig {
        group_id: format!("{}-reader", kafka.group_id),
        client_id: format!("{}-reader", kafka.client_id),
        ..kafka.clone()
    };
    let sink = KafkaSink::new(&reader, ConnectorMetrics::unregistered()).unwrap();
    let source = KafkaSource::new(
        &reader,
        &[Topic::Availability],
        sink,
        ConnectorMetrics::unregistered(),
    )
    .unwrap();
    let mut last = std::collections::BTreeMap::new();
    while let Ok(next) =
        tokio::time::timeout(std::time::Duration::from_secs(3), source.next()).await
    {
        if let AnyRecord::Availability(a) = next.expect("decodes").record {
            if let Some(prev) = last.get(&a.sku) {
                let prev: &Availability = prev;
                assert!(a.version > prev.version, "versions grow per sku");
            }
            last.insert(a.sku.clone(), a);
        }
    }
    last
}

/// A config file: static membership (a restarted instance takes its partitions back without
/// waiting for the session timeout), exactly once, 100 ms commits; `runtime` adds lines to
/// the runtime section, `sourcing` is the sourcing section (`enabled = false` for none).
pub fn crash_config(
    dir: &std::path::Path,
    member: &str,
    runtime: &str,
    sourcing: &str,
) -> std::path::PathBuf {
    let path = dir.join(format!("{member}.toml"));
    std::fs::write(
        &path,
        format!(
            "[runtime]\nprocessing = \"exactly_once\"\ncommit_interval_ms = 100\n\
             availability_coalesce_ms = 20\n{runtime}\n[sourcing]\n{sourcing}\n\n\
             [kafka.properties]\n\"group.instance.id\" = \"{member}\"\n\
             \"session.timeout.ms\" = \"10000\"\n"
        ),
    )
    .unwrap();
    path
}

/// Whether the group has committed the end of every input partition.
pub fn caught_up(kafka: &KafkaConfig) -> bool {
    // What the group reads and commits: the event topics (reference topics are global
    // tables, read outside the group, nothing committed).
    let inputs: Vec<Topic> = Topic::inputs()
        .filter(|t| t.retention() != Retention::Compacted)
        .collect();
    committed_and_ends(kafka, &inputs)
        .into_iter()
        .all(|(_, _, committed, high)| high == 0 || committed == Some(high))
}

/// Runs one instance until its group has committed every input, then stops it gracefully;
/// returns its log.
pub fn run_to_the_end(
    kafka: &KafkaConfig,
    config: &std::path::Path,
    timeout: Duration,
) -> Vec<String> {
    let allot = Allot::start(
        kafka,
        "allot-crash",
        &[("ALLOT_CONFIG", config.to_str().unwrap())],
    );
    let start = Instant::now();
    while !caught_up(kafka) {
        assert!(
            start.elapsed() < timeout,
            "not caught up within {timeout:?}; stderr:\n{}",
            allot.log().join("\n")
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    allot.signal("TERM");
    let stderr = allot.stderr.clone();
    let (status, report) = allot.wait(Duration::from_secs(60));
    assert!(status.success(), "exit {status:?}\n{report}");
    // The whole log, to the exit (its reader thread ends with the pipe).
    std::thread::sleep(Duration::from_millis(200));
    stderr.lock().unwrap().clone()
}

/// splitmix64, for the kill moments.
pub fn splitmix(seed: &mut u64) -> u64 {
    *seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *seed;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Every record of `topic` as a read_committed consumer sees it, in order per partition,
/// until 3 s pass without one.
pub async fn read_committed(kafka: &KafkaConfig, topic: Topic) -> Vec<AnyRecord> {
    use allot_connectors::ConnectorMetrics;
    use allot_connectors::kafka::{KafkaSink, KafkaSource};
    let reader = KafkaConfig {
        group_id: format!("{}-reader-{}", kafka.group_id, topic.index()),
        client_id: format!("{}-reader", kafka.client_id),
        ..kafka.clone()
    };
    let sink = KafkaSink::new(&reader, ConnectorMetrics::unregistered()).unwrap();
    let source =
        KafkaSource::new(&reader, &[topic], sink, ConnectorMetrics::unregistered()).unwrap();
    let mut all = Vec::new();
    while let Ok(next) = tokio::time::timeout(Duration::from_secs(3), source.next()).await {
        all.push(next.expect("decodes").record);
    }
    all
}

/// The event records (not reference data) `allot` has applied in this life, whatever the
/// outcome: the reference topics are read whole at every start, before the restore, so they
/// say nothing about whether the instance has started processing.
pub fn events_applied(allot: &Allot) -> f64 {
    let reference: Vec<String> = Topic::inputs()
        .filter(|t| t.retention() == Retention::Compacted)
        .map(|t| format!("topic=\"{}\"", t.name()))
        .collect();
    // (0 from an instance that has just exited by itself)
    let body = allot
        .try_get("/metrics")
        .map(|(_, b)| b)
        .unwrap_or_default();
    body.lines()
        .filter(|l| {
            l.starts_with("allot_records_applied_total{")
                && !reference.iter().any(|r| l.contains(r.as_str()))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Produces `records` to their topics in chunks of `chunk`, each chunk delivered before the
/// next, spread evenly over `over` (at once when zero).
pub async fn load(kafka: KafkaConfig, records: Vec<AnyRecord>, chunk: usize, over: Duration) {
    let sink = allot_connectors::kafka::KafkaSink::new(
        &kafka,
        allot_connectors::ConnectorMetrics::unregistered(),
    )
    .unwrap();
    let pause = over / (records.len() / chunk).max(1) as u32;
    for part in records.chunks(chunk) {
        let pending: Vec<_> = part
            .iter()
            .map(|r| sink.enqueue_any(r).expect("enqueue"))
            .collect();
        for d in pending {
            d.await.expect("delivered");
        }
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
    }
}

/// Asserts that `got` holds the same skus as `expected`, each with the same final message
/// byte for byte (every location and channel bucket: the whole published state), except the
/// version, event id, event time and source. A version counts the changes applied to the
/// sku in the order they were read, the event time is that of the newest change, and
/// reference data (a location, a policy) re-dates the skus that exist when it arrives; how
/// the topics interleave differs between any two runs, faults or not, so these may differ
/// too; the values may not. The source names the instance that published.
pub fn assert_same_availability(
    expected: &std::collections::BTreeMap<String, Availability>,
    got: &std::collections::BTreeMap<String, Availability>,
    after: &str,
) {
    use allot_schemas::codec::{ConfluentCodec, StaticResolver};
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    let codec = ConfluentCodec::new(StaticResolver::new());
    let bytes = |a: &Availability| {
        let mut a = a.clone();
        a.version = 0;
        a.event_id.clear();
        a.event_time = 0;
        a.source.clear();
        let mut out = Vec::new();
        codec.encode(&a, &mut out).expect("encodes");
        out
    };
    let differ: Vec<&String> = expected
        .iter()
        .filter(|(sku, e)| bytes(&got[*sku]) != bytes(e))
        .map(|(sku, _)| sku)
        .collect();
    assert!(
        differ.is_empty(),
        "{} of {} skus differ after {after}, e.g. {}:\nexpected {:?}\ngot {:?}",
        differ.len(),
        expected.len(),
        differ[0],
        expected[differ[0]],
        got[differ[0]]
    );
}

/// How many kills a crash test makes (`var` in the environment, else `default`) and the
/// seed of its kill moments (the clock's nanoseconds, printed so a run can be retold).
pub fn kill_plan(var: &str, default: u32) -> (u32, u64) {
    let kills = std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("{kills} kills, kill moments from seed {seed}");
    (kills, seed)
}

/// The committed decisions per order id, `source` and `event_id` cleared (they name the
/// instance that decided).
pub async fn decisions(kafka: &KafkaConfig) -> BTreeMap<String, Vec<SourcingDecision>> {
    let mut by_order: BTreeMap<String, Vec<SourcingDecision>> = BTreeMap::new();
    for r in read_committed(kafka, Topic::SourcingDecisions).await {
        let AnyRecord::Decision(mut d) = r else {
            panic!("not a decision: {r:?}");
        };
        d.source.clear();
        d.event_id.clear();
        by_order.entry(d.order_id.clone()).or_default().push(d);
    }
    by_order
}

/// Asserts what a crash test with sourcing promises: exactly one committed decision per
/// order (`got`, by order id), one outcome per line of the order (`lines`), and the same
/// decisions as the fault-free run (`expected`).
pub fn assert_decided_once_as(
    got: &BTreeMap<String, Vec<SourcingDecision>>,
    lines: &BTreeMap<String, Vec<String>>,
    expected: &BTreeMap<String, Vec<SourcingDecision>>,
    kills: u32,
) {
    // Exactly once: one committed decision per order, one outcome per line.
    let twice: Vec<_> = got.iter().filter(|(_, d)| d.len() != 1).collect();
    assert!(
        twice.is_empty(),
        "{} orders with other than one decision, e.g. {:?}",
        twice.len(),
        twice.first()
    );
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        lines.keys().collect::<Vec<_>>(),
        "a decision for every order and for nothing else"
    );
    for (order, decided) in got {
        let mut decided_lines: Vec<&String> = decided[0].lines.iter().map(|l| &l.line_id).collect();
        decided_lines.sort();
        let mut ordered: Vec<&String> = lines[order].iter().collect();
        ordered.sort();
        assert_eq!(decided_lines, ordered, "{order}: one outcome per line");
    }
    // The same decisions as the fault-free run.
    let differ: Vec<&String> = expected
        .keys()
        .filter(|order| got[*order] != expected[*order])
        .collect();
    assert!(
        differ.is_empty(),
        "{} of {} decisions differ after {kills} kills, e.g. {}:\nexpected {:?}\ngot {:?}",
        differ.len(),
        expected.len(),
        differ[0],
        expected[differ[0]],
        got[differ[0]]
    );
}
