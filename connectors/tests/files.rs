//! The files connector end to end on random records of every topic (the proptest strategies
//! of allot-schemas): export a data set in both formats, replay it, and dead-letter corrupted
//! lines into a dead-letter file.

use allot_connectors::files::{
    DataSetReader, DataSetWriter, FilesConfig, Format, TopicFileReader, TopicFileWriter, topic_path,
};
use allot_connectors::{ConnectorMetrics, DeadLetters};
use allot_schemas::{AnyRecord, DeadLetterKind, Topic};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;

const PER_TOPIC: usize = 40;

fn random_data_set() -> Vec<AnyRecord> {
    let mut runner = TestRunner::default();
    let mut all = Vec::new();
    for topic in Topic::ALL {
        let strategy = allot_schemas::testkit::any_record(topic);
        let mut records: Vec<AnyRecord> = (0..PER_TOPIC)
            .map(|_| strategy.new_tree(&mut runner).unwrap().current())
            .collect();
        // a data set is exported in event-time order
        records.sort_by_key(AnyRecord::event_time);
        all.extend(records);
    }
    all
}

fn letters(metrics: &ConnectorMetrics) -> DeadLetters {
    DeadLetters::new("files-test", metrics.clone())
}

#[test]
fn every_topic_exports_and_replays_in_both_formats() {
    let records = random_data_set();
    for format in [Format::Avro, Format::Jsonl] {
        let dir = tempfile::tempdir().unwrap();
        let config = FilesConfig {
            format,
            ..FilesConfig::new(dir.path())
        };
        let metrics = ConnectorMetrics::unregistered();
        let mut writer = DataSetWriter::create(&config, metrics.clone()).unwrap();
        for r in &records {
            writer.write(r).unwrap();
        }
        writer.finish().unwrap();

        let mut reader =
            DataSetReader::open(&config, &Topic::ALL, letters(&metrics), Vec::new()).unwrap();
        assert_eq!(reader.topics(), Topic::ALL.to_vec());
        let replayed: Vec<AnyRecord> = reader.by_ref().map(Result::unwrap).collect();
        assert!(
            reader.dead_letters().is_empty(),
            "{:?}",
            reader.dead_letters()
        );
        assert!(
            replayed
                .windows(2)
                .all(|w| w[0].event_time() <= w[1].event_time()),
            "{format:?}: not in event-time order"
        );
        // same records, merged: per topic in file order
        for topic in Topic::ALL {
            let want: Vec<_> = records.iter().filter(|r| r.topic() == topic).collect();
            let got: Vec<_> = replayed.iter().filter(|r| r.topic() == topic).collect();
            assert_eq!(got.len(), want.len(), "{format:?} {topic}");
            for (g, w) in got.iter().zip(&want) {
                assert_eq!(g, w, "{format:?} {topic}");
            }
            assert_eq!(metrics.consumed_total(topic), PER_TOPIC as u64);
        }
    }
}

#[test]
fn corrupted_lines_go_to_the_dead_letter_file() {
    let records = random_data_set();
    let dir = tempfile::tempdir().unwrap();
    let config = FilesConfig {
        format: Format::Jsonl,
        ..FilesConfig::new(dir.path().join("in"))
    };
    let metrics = ConnectorMetrics::unregistered();
    let mut writer = DataSetWriter::create(&config, metrics.clone()).unwrap();
    for r in records.iter().filter(|r| r.topic() == Topic::Shipments) {
        writer.write(r).unwrap();
    }
    writer.finish().unwrap();
    // corrupt lines 3 (cut short) and 7 (one byte flipped into invalid JSON)
    let path = topic_path(&config.dir, Topic::Shipments, Format::Jsonl);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    // cut on a char boundary: random strings hold multi-byte characters
    let mut at = lines[2].len() / 3;
    while !lines[2].is_char_boundary(at) {
        at -= 1;
    }
    let cut = lines[2][..at].to_owned();
    lines[2] = cut.clone();
    lines[6] = lines[6].replacen('{', "[", 1);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();

    let dlq_path = dir.path().join("dead_letters.avro");
    let dlq = TopicFileWriter::create(
        &dlq_path,
        Topic::DeadLetters,
        Format::Avro,
        true,
        metrics.clone(),
    )
    .unwrap();
    let mut reader = DataSetReader::open(&config, &Topic::ALL, letters(&metrics), dlq).unwrap();
    let good: Vec<AnyRecord> = reader.by_ref().map(Result::unwrap).collect();
    reader.into_dead_letters().finish().unwrap();
    let want: Vec<AnyRecord> = records
        .iter()
        .filter(|r| r.topic() == Topic::Shipments)
        .enumerate()
        .filter(|(i, _)| *i != 2 && *i != 6)
        .map(|(_, r)| r.clone())
        .collect();
    assert_eq!(good, want, "every other line is read");

    let mut back = TopicFileReader::open(
        &dlq_path,
        Topic::DeadLetters,
        Format::Avro,
        letters(&metrics),
    )
    .unwrap();
    let mut none = Vec::new();
    let mut got = Vec::new();
    while let Some(r) = back.next_record(&mut none).unwrap() {
        match r {
            AnyRecord::DeadLetter(d) => got.push(d),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(got.len(), 2);
    assert_eq!((got[0].partition, got[0].offset), (-1, 3));
    assert_eq!((got[1].partition, got[1].offset), (-1, 7));
    assert_eq!(&got[0].payload[..], cut.as_bytes());
    for d in &got {
        assert_eq!(d.topic, "allot.shipments");
        assert_eq!(d.error_kind, DeadLetterKind::Decode);
        assert!(
            d.reason.contains(&format!(
                ":{}: not a valid allot.shipments record in JSON",
                d.offset
            )),
            "{}",
            d.reason
        );
    }
    assert_eq!(
        metrics.dead_letters_total("allot.shipments", DeadLetterKind::Decode),
        2
    );
}
