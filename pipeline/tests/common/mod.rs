//! Shared by the integration tests that run `allot run` against the real broker and read
//! its output back with confluent-kafka + fastavro (clients no one here wrote).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

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
