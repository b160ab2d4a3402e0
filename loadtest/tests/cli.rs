//! The `allot-loadtest` binary as a user runs it: `--help` texts (golden files under
//! `tests/golden/`; `UPDATE_GOLDEN=1` rewrites them), the report of a run, and config layering
//! through the environment.

use std::path::PathBuf;
use std::process::{Command, Output};

use allot_loadtest::{Workload, WorkloadConfig};
use allot_schemas::Topic;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_allot-loadtest"));
    // Layering must come from what each test sets, not from the caller's shell.
    for (k, _) in std::env::vars() {
        if k.starts_with("ALLOT__") {
            c.env_remove(k);
        }
    }
    c
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

fn golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).expect("write golden file");
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} missing; run with UPDATE_GOLDEN=1", path.display()));
    assert_eq!(
        actual, expected,
        "{name} changed; run with UPDATE_GOLDEN=1 if intended"
    );
}

#[test]
fn help_texts_are_golden() {
    golden("help.txt", &ok(bin().arg("--help").output().expect("run")));
    golden(
        "generate-help.txt",
        &ok(bin().args(["generate", "--help"]).output().expect("run")),
    );
    golden(
        "e2e-help.txt",
        &ok(bin().args(["e2e", "--help"]).output().expect("run")),
    );
}

#[test]
fn a_run_reports_what_the_library_generates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let report = dir.path().join("report.json");
    let args = [
        "generate", "--seed", "5", "--stores", "4", "--skus", "60", "--days", "1",
    ];
    ok(bin()
        .args(args)
        .args(["--out", "count", "--quiet", "--report"])
        .arg(&report)
        .output()
        .expect("run"));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
    let mut w = Workload::new(WorkloadConfig {
        seed: 5,
        stores: 4,
        skus: 60,
        days: 1,
        ..WorkloadConfig::default()
    })
    .expect("valid");
    let n = w.by_ref().count() as u64;
    assert_eq!(report["records"], n);
    let orders = report["topics"]
        .as_array()
        .expect("topics")
        .iter()
        .find(|t| t["topic"] == Topic::Orders.name())
        .expect("orders line");
    assert_eq!(orders["records"], w.stats().count(Topic::Orders));
    assert!(report["records_per_sec"].as_f64().expect("rate") > 0.0);
}

#[test]
fn stdout_lines_are_the_stream_in_order() {
    let out = ok(bin()
        .args([
            "generate", "--stores", "2", "--skus", "20", "--out", "stdout", "--limit", "500", "-q",
        ])
        .output()
        .expect("run"));
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 500);
    assert_eq!(lines[0]["topic"], Topic::Locations.name());
    let times: Vec<i64> = lines
        .iter()
        .map(|l| l["value"]["event_time"].as_i64().expect("time"))
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn flags_override_the_environment_which_overrides_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("w.toml");
    std::fs::write(&file, "stores = 7\nskus = 70\ndays = 3\n").expect("write");
    let out = ok(bin()
        .args(["config", "--skus", "99", "--config"])
        .arg(&file)
        .env("ALLOT__WORKLOAD__DAYS", "5")
        .env("ALLOT__WORKLOAD__SKUS", "55")
        .output()
        .expect("run"));
    let c: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        (c["stores"].as_u64(), c["days"].as_u64(), c["skus"].as_u64()),
        (Some(7), Some(5), Some(99))
    );
}

#[test]
fn a_bad_sink_or_config_is_refused_with_a_message() {
    let out = bin()
        .args(["generate", "--out", "ftp:x"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not one of count, stdout"));
    let out = bin()
        .args(["generate", "--countries", "XX"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("country \"XX\""));
}
