//! `allot generate` → files → `allot replay`: the same workload recorded as Avro container
//! files and as JSON lines replays to the same final availability, byte for byte, and the
//! last availability message written per sku is that final state.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

fn allot(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_allot"))
        .args(args)
        .env_remove("ALLOT_CONFIG")
        .output()
        .expect("the allot binary runs");
    assert!(
        out.status.success(),
        "allot {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn last_per_sku(stream: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(stream).expect("stream written");
    let mut last = BTreeMap::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("json line");
        last.insert(v["sku"].as_str().unwrap().to_owned(), line.to_owned());
    }
    last
}

#[test]
fn avro_and_jsonl_replays_agree_and_the_stream_ends_in_the_state() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = |name: &str| tmp.path().join(name).to_string_lossy().into_owned();
    let workload = [
        "--days", "1", "--stores", "5", "--skus", "120", "--seed", "7",
    ];
    for (format, name) in [("avro", "in-avro"), ("jsonl", "in-jsonl")] {
        let out = format!("{format}:{}", dir(name));
        let mut args = vec!["generate", "--quiet", "--out", &out];
        args.extend(workload);
        allot(&args);
    }
    let a = allot(&[
        "replay",
        "--quiet",
        &dir("in-avro"),
        "--out",
        &dir("out-avro"),
    ]);
    let j = allot(&[
        "replay",
        "--quiet",
        &dir("in-jsonl"),
        "--out",
        &dir("out-jsonl"),
    ]);
    assert!(a.contains("0 dead-lettered"), "{a}");
    assert!(j.contains("0 dead-lettered"), "{j}");

    let snap_a =
        std::fs::read_to_string(tmp.path().join("out-avro/availability-snapshot.jsonl")).unwrap();
    let snap_j =
        std::fs::read_to_string(tmp.path().join("out-jsonl/availability-snapshot.jsonl")).unwrap();
    assert!(snap_a.lines().count() > 50, "a snapshot per stocked sku");
    assert_eq!(
        snap_a, snap_j,
        "the same events give the same state, whatever the file format"
    );

    // The JSON-lines replay wrote its availability stream as JSON lines: the last message
    // per sku is the snapshot's line for that sku.
    let last = last_per_sku(&tmp.path().join("out-jsonl/availability.jsonl"));
    let snapshot: BTreeMap<String, String> = snap_j
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["sku"].as_str().unwrap().to_owned(), l.to_owned())
        })
        .collect();
    assert_eq!(last.len(), snapshot.len());
    for (sku, line) in &snapshot {
        let published: serde_json::Value = serde_json::from_str(&last[sku]).unwrap();
        let state: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(published, state, "last message of {sku} is its state");
    }
}
