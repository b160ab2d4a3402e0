//! Interop with fastavro, an Avro implementation no one here wrote: random records of every
//! topic, encoded by allot, must decode in fastavro to the same values, and fastavro must
//! encode those values to the same bytes, which allot then decodes back.
//!
//! Needs the `interop` feature and `ALLOT_PYTHON` naming a Python with fastavro:
//!
//! ```sh
//! python3 -m venv .local/venv && .local/venv/bin/pip install fastavro
//! ALLOT_PYTHON=.local/venv/bin/python cargo test -p allot-schemas --features interop --test fastavro_interop
//! ```
#![cfg(feature = "interop")]

use std::path::{Path, PathBuf};
use std::process::Command;

use allot_schemas::codec;
use allot_schemas::testkit;
use allot_schemas::{AnyRecord, Record, RecordVisitor, Topic};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;

/// Records per topic.
const RECORDS: usize = 48;

fn python() -> PathBuf {
    let Some(python) = std::env::var_os("ALLOT_PYTHON") else {
        panic!(
            "ALLOT_PYTHON is not set. This test needs a Python with fastavro: \
             `python3 -m venv .local/venv && .local/venv/bin/pip install fastavro`, then \
             run with ALLOT_PYTHON=$PWD/.local/venv/bin/python (or any python3 that can \
             `import fastavro`)."
        )
    };
    let python = PathBuf::from(python);
    // A relative path is relative to the workspace root, where the test runner sets it.
    if python.is_relative() && !python.exists() {
        let from_root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(&python);
        if from_root.exists() {
            return from_root;
        }
    }
    python
}

fn to_json(record: &AnyRecord) -> String {
    struct ToJson;
    impl RecordVisitor for ToJson {
        type Output = String;
        fn visit<R: Record>(self, record: &R) -> String {
            serde_json::to_string(record).unwrap()
        }
    }
    record.visit(ToJson)
}

#[test]
fn fastavro_reads_and_writes_what_allot_does() {
    let python = python();
    let dir = tempfile::tempdir().unwrap();
    let mut runner = TestRunner::default();
    let mut written = Vec::new();
    for topic in Topic::ALL {
        let folder = dir.path().join(topic.dir());
        std::fs::create_dir(&folder).unwrap();
        let strategy = testkit::any_record(topic);
        for n in 0..RECORDS {
            let record = strategy.new_tree(&mut runner).unwrap().current();
            let mut body = Vec::new();
            codec::encode_any(&record, &mut body).unwrap();
            std::fs::write(folder.join(format!("{n}.avro")), &body).unwrap();
            std::fs::write(folder.join(format!("{n}.json")), to_json(&record)).unwrap();
            written.push((topic, folder.join(format!("{n}.fastavro.avro")), record));
        }
    }

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/fastavro_interop.py");
    let output = Command::new(&python)
        .arg(&script)
        .arg("--check")
        .arg(dir.path())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        let kept = dir.keep();
        panic!(
            "fastavro disagrees with allot (records kept in {}):\n{stdout}\n{stderr}",
            kept.display()
        );
    }
    println!("{stdout}");

    for (topic, path, record) in written {
        let fastavro = std::fs::read(&path).unwrap();
        assert_eq!(
            codec::decode_any(topic, &fastavro).unwrap(),
            record,
            "{}",
            path.display()
        );
    }
}
