//! Golden files: the wire bytes of every topic's sample record, as written by allot and by
//! fastavro (an independent implementation), under `schemas/golden/<topic>/`:
//!
//! - `record.json`: the sample record ([`crate::testkit::sample_any`]) as serde_json writes it;
//! - `rust.avro`: its Avro body written by allot;
//! - `fastavro.avro`: its Avro body written by fastavro from `record.json`;
//! - `confluent.bin`: the Confluent framing of `rust.avro` under the [`StaticResolver`] id.
//!
//! `ALLOT_BLESS=1 cargo test -p allot-schemas golden` rewrites the files allot writes;
//! `python3 schemas/interop/fastavro_interop.py --write-golden` rewrites `fastavro.avro`.
//! Review the diff: a changed byte is a changed contract.

use std::path::{Path, PathBuf};

use super::*;
use crate::testkit;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("golden")
}

fn bless() -> bool {
    std::env::var_os("ALLOT_BLESS").is_some_and(|v| v == "1")
}

/// Compares `actual` with the file, or writes it when blessing.
fn check_file(path: &Path, actual: &[u8]) {
    if bless() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expected = std::fs::read(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run ALLOT_BLESS=1 cargo test -p allot-schemas golden",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{} differs from what allot writes now:\n  file: {}\n  now:  {}\nIf the change is \
         intended, run ALLOT_BLESS=1 cargo test -p allot-schemas golden and review the diff.",
        path.display(),
        String::from_utf8_lossy(&expected),
        String::from_utf8_lossy(actual),
    );
}

/// The record of `topic` parsed from `record.json`.
fn record_from_json(topic: Topic, json: &str) -> AnyRecord {
    struct FromJson<'a>(&'a str);
    impl RecordBuilder for FromJson<'_> {
        type Error = serde_json::Error;
        fn build<R: Record>(self) -> Result<R, Self::Error> {
            serde_json::from_str(self.0)
        }
    }
    AnyRecord::build(topic, FromJson(json)).unwrap()
}

fn to_json(record: &AnyRecord) -> String {
    struct ToJson;
    impl RecordVisitor for ToJson {
        type Output = String;
        fn visit<R: Record>(self, record: &R) -> String {
            serde_json::to_string_pretty(record).unwrap() + "\n"
        }
    }
    record.visit(ToJson)
}

#[test]
fn golden_files_match_allot_and_fastavro() {
    let codec = ConfluentCodec::new(StaticResolver::new());
    for topic in Topic::ALL {
        let dir = golden_dir().join(topic.dir());
        let record = testkit::sample_any(topic);

        let json = to_json(&record);
        check_file(&dir.join("record.json"), json.as_bytes());
        let from_json = record_from_json(
            topic,
            &std::fs::read_to_string(dir.join("record.json")).unwrap(),
        );
        assert_eq!(
            from_json, record,
            "{topic}: record.json parses back to the sample"
        );

        let mut body = Vec::new();
        encode_any(&record, &mut body).unwrap();
        check_file(&dir.join("rust.avro"), &body);

        let mut framed = Vec::new();
        codec.encode_any(&record, &mut framed).unwrap();
        check_file(&dir.join("confluent.bin"), &framed);
        assert_eq!(
            codec
                .decode_any(topic, &std::fs::read(dir.join("confluent.bin")).unwrap())
                .unwrap(),
            record
        );

        let fastavro_path = dir.join("fastavro.avro");
        if bless() && !fastavro_path.exists() {
            continue; // First blessing: fastavro_interop.py --write-golden comes next.
        }
        let fastavro = std::fs::read(&fastavro_path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run python3 schemas/interop/fastavro_interop.py --write-golden",
                fastavro_path.display()
            )
        });
        assert_eq!(
            decode_any(topic, &fastavro).unwrap(),
            from_json,
            "{topic}: allot decodes fastavro's bytes to record.json"
        );
        assert_eq!(decode_generic_any(topic, &fastavro), from_json);
        if !bless() {
            assert_eq!(
                fastavro, body,
                "{topic}: fastavro and allot write different bytes for record.json"
            );
        }
    }
}

fn decode_generic_any(topic: Topic, body: &[u8]) -> AnyRecord {
    struct Generic<'a>(&'a [u8]);
    impl RecordBuilder for Generic<'_> {
        type Error = CodecError;
        fn build<R: Record>(self) -> Result<R, CodecError> {
            decode_generic(self.0)
        }
    }
    AnyRecord::build(topic, Generic(body)).unwrap()
}

#[test]
fn there_is_one_golden_folder_per_topic() {
    if bless() {
        return; // The other test is creating them.
    }
    let mut found: Vec<String> = std::fs::read_dir(golden_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    found.sort();
    let mut expected: Vec<String> = Topic::ALL.iter().map(|t| t.dir().to_owned()).collect();
    expected.sort();
    assert_eq!(found, expected);
}
