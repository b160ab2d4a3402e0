//! A data set directory: [`DataSetWriter`] exports records to one file per topic,
//! [`DataSetReader`] merges those files back in event-time order.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use allot_schemas::{AnyRecord, EpochMillis, Record, Topic};

use super::{FilesConfig, FilesError, TopicFileReader, TopicFileWriter, topic_path};
use crate::dead_letter::{DeadLetterWriter, DeadLetters};
use crate::metrics::ConnectorMetrics;

/// Writes records of any topic to `<dir>/<topic.dir()>.<ext>`, creating each topic's file on
/// its first record (a topic never written leaves any existing file alone).
#[derive(Debug)]
pub struct DataSetWriter {
    config: FilesConfig,
    writers: BTreeMap<Topic, TopicFileWriter>,
    metrics: ConnectorMetrics,
}

impl DataSetWriter {
    /// Creates the directory if needed.
    pub fn create(config: &FilesConfig, metrics: ConnectorMetrics) -> Result<Self, FilesError> {
        std::fs::create_dir_all(&config.dir).map_err(|e| FilesError::Open {
            path: config.dir.clone(),
            source: Box::new(e),
        })?;
        Ok(Self {
            config: config.clone(),
            writers: BTreeMap::new(),
            metrics,
        })
    }

    fn writer(&mut self, topic: Topic) -> Result<&mut TopicFileWriter, FilesError> {
        if !self.writers.contains_key(&topic) {
            let path = topic_path(&self.config.dir, topic, self.config.format);
            let w = TopicFileWriter::create(
                &path,
                topic,
                self.config.format,
                self.config.deflate,
                self.metrics.clone(),
            )?;
            self.writers.insert(topic, w);
        }
        Ok(self.writers.get_mut(&topic).expect("inserted above"))
    }

    /// Appends a record to its topic's file.
    pub fn write(&mut self, record: &AnyRecord) -> Result<(), FilesError> {
        self.writer(record.topic())?.write_any(record)
    }

    /// Appends a typed record to its topic's file.
    pub fn write_record<R: Record>(&mut self, record: &R) -> Result<(), FilesError> {
        self.writer(R::TOPIC)?.write(record)
    }

    /// Flushes and closes every file; returns how many records each topic got.
    pub fn finish(self) -> Result<BTreeMap<Topic, u64>, FilesError> {
        self.writers
            .into_iter()
            .map(|(topic, w)| Ok((topic, w.finish()?)))
            .collect()
    }
}

/// Reads the topic files of a data set directory and yields their records merged by event
/// time (ties: the order of [`Topic::ALL`], then file order). Bad lines and records go to the
/// dead-letter writer `D` and are skipped.
#[derive(Debug)]
pub struct DataSetReader<D> {
    readers: Vec<TopicFileReader>,
    heads: Vec<Option<AnyRecord>>,
    queue: BinaryHeap<Reverse<(EpochMillis, usize, usize)>>,
    dead_letters: D,
    started: bool,
}

impl<D: DeadLetterWriter> DataSetReader<D> {
    /// Opens the files of `topics` found in the directory (a missing file means the data set
    /// has no records of that topic). Pass [`Topic::ALL`] for everything.
    pub fn open(
        config: &FilesConfig,
        topics: &[Topic],
        letters: DeadLetters,
        dead_letters: D,
    ) -> Result<Self, FilesError> {
        if !config.dir.is_dir() {
            return Err(FilesError::Open {
                path: config.dir.clone(),
                source: "not a directory".into(),
            });
        }
        let mut topics = topics.to_vec();
        topics.sort();
        topics.dedup();
        let mut readers = Vec::new();
        for topic in topics {
            let path = topic_path(&config.dir, topic, config.format);
            if path.exists() {
                readers.push(TopicFileReader::open(
                    &path,
                    topic,
                    config.format,
                    letters.clone(),
                )?);
            }
        }
        Ok(Self {
            heads: vec![None; readers.len()],
            readers,
            queue: BinaryHeap::new(),
            dead_letters,
            started: false,
        })
    }

    /// The topics whose files were found.
    pub fn topics(&self) -> Vec<Topic> {
        self.readers.iter().map(TopicFileReader::topic).collect()
    }

    fn advance(&mut self, i: usize) -> Result<(), FilesError> {
        if let Some(record) = self.readers[i].next_record(&mut self.dead_letters)? {
            self.queue
                .push(Reverse((record.event_time(), record.topic() as usize, i)));
            self.heads[i] = Some(record);
        }
        Ok(())
    }

    /// The next record in event-time order, or `None` when every file is exhausted (the
    /// dead-letter writer is flushed then).
    pub fn next_record(&mut self) -> Result<Option<AnyRecord>, FilesError> {
        if !self.started {
            self.started = true;
            for i in 0..self.readers.len() {
                self.advance(i)?;
            }
        }
        let Some(Reverse((_, _, i))) = self.queue.pop() else {
            self.dead_letters.flush_dead_letters()?;
            return Ok(None);
        };
        let record = self.heads[i].take().expect("a queued file has a head");
        self.advance(i)?;
        Ok(Some(record))
    }

    /// The dead-letter writer, for reading back what was refused.
    pub fn dead_letters(&self) -> &D {
        &self.dead_letters
    }

    /// Gives the dead-letter writer back.
    pub fn into_dead_letters(self) -> D {
        self.dead_letters
    }
}

impl<D: DeadLetterWriter> Iterator for DataSetReader<D> {
    type Item = Result<AnyRecord, FilesError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_record().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::Format;
    use crate::samples::{sample, sample_at};
    use allot_schemas::{DeadLetter, DeadLetterKind};
    use std::io::Write;
    use std::path::Path;

    fn letters(metrics: &ConnectorMetrics) -> DeadLetters {
        DeadLetters::new("allot-test", metrics.clone())
    }

    fn read_all(
        config: &FilesConfig,
        metrics: &ConnectorMetrics,
    ) -> (Vec<AnyRecord>, Vec<DeadLetter>) {
        let mut reader =
            DataSetReader::open(config, &Topic::ALL, letters(metrics), Vec::new()).unwrap();
        let records = reader.by_ref().collect::<Result<Vec<_>, _>>().unwrap();
        (records, reader.into_dead_letters())
    }

    fn config(dir: &Path, format: Format) -> FilesConfig {
        FilesConfig {
            format,
            ..FilesConfig::new(dir)
        }
    }

    #[test]
    fn every_topic_round_trips_in_both_formats() {
        for format in [Format::Avro, Format::Jsonl] {
            let dir = tempfile::tempdir().unwrap();
            let config = config(dir.path(), format);
            let metrics = ConnectorMetrics::unregistered();
            let mut written = Vec::new();
            let mut w = DataSetWriter::create(&config, metrics.clone()).unwrap();
            for (i, topic) in Topic::ALL.into_iter().enumerate() {
                for j in 0..5 {
                    // per-topic ascending times, interleaved across topics
                    let r = sample_at(topic, (i * 10 + j) as u64, 1_000 * j as i64 + i as i64);
                    w.write(&r).unwrap();
                    written.push(r);
                }
            }
            let counts = w.finish().unwrap();
            assert_eq!(counts.len(), Topic::ALL.len());
            assert!(counts.values().all(|n| *n == 5));
            for topic in Topic::ALL {
                assert!(
                    topic_path(dir.path(), topic, format).is_file(),
                    "{topic} {format:?}"
                );
                assert_eq!(metrics.produced_total(topic), 5);
            }
            let (read, dead) = read_all(&config, &metrics);
            assert!(dead.is_empty(), "{dead:?}");
            written.sort_by_key(|r| (r.event_time(), r.topic()));
            assert_eq!(read, written, "{format:?}");
            assert_eq!(metrics.consumed_total(Topic::Orders), 5);
        }
    }

    #[test]
    fn merge_orders_by_event_time_across_files() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path(), Format::Jsonl);
        let metrics = ConnectorMetrics::unregistered();
        let mut w = DataSetWriter::create(&config, metrics.clone()).unwrap();
        for t in [1, 4, 4, 9] {
            w.write(&sample_at(Topic::Orders, t as u64, t)).unwrap();
        }
        for t in [2, 3, 4, 10, 11] {
            w.write(&sample_at(Topic::PosSales, t as u64, t)).unwrap();
        }
        w.finish().unwrap();
        let (read, _) = read_all(&config, &metrics);
        let got: Vec<_> = read.iter().map(|r| (r.event_time(), r.topic())).collect();
        use Topic::{Orders as O, PosSales as P};
        assert_eq!(
            got,
            [
                (1, O),
                (2, P),
                (3, P),
                (4, P),
                (4, O),
                (4, O),
                (9, O),
                (10, P),
                (11, P)
            ]
        );
    }

    #[test]
    fn bad_json_lines_are_dead_lettered_and_reading_carries_on() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path(), Format::Jsonl);
        let metrics = ConnectorMetrics::unregistered();
        let good: Vec<_> = (0..3)
            .map(|i| sample_at(Topic::Receipts, i, i as i64))
            .collect();
        let mut w = DataSetWriter::create(&config, metrics.clone()).unwrap();
        w.write(&good[0]).unwrap();
        w.finish().unwrap();
        let path = topic_path(dir.path(), Topic::Receipts, Format::Jsonl);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        let line = |r: &AnyRecord| match r {
            AnyRecord::Receipt(r) => serde_json::to_string(r).unwrap(),
            _ => unreachable!(),
        };
        let truncated = &line(&good[1])[..20];
        writeln!(f, "{truncated}").unwrap(); // line 2
        writeln!(f).unwrap(); // line 3: blank, skipped
        writeln!(f, "{}", line(&good[1])).unwrap(); // line 4
        writeln!(f, r#"{{"event_id": 5}}"#).unwrap(); // line 5: wrong shape
        f.write_all(&[0xff, 0xfe, b'\n']).unwrap(); // line 6: not UTF-8
        write!(f, "{}", line(&good[2])).unwrap(); // line 7, no final newline
        drop(f);

        let (read, dead) = read_all(&config, &metrics);
        assert_eq!(read, good);
        let positions: Vec<_> = dead.iter().map(|d| (d.partition, d.offset)).collect();
        assert_eq!(positions, [(-1, 2), (-1, 5), (-1, 6)]);
        assert_eq!(&dead[0].payload[..], truncated.as_bytes());
        assert_eq!(&dead[2].payload[..], &[0xff, 0xfe]);
        for d in &dead {
            assert_eq!(d.topic, "allot.receipts");
            assert_eq!(d.error_kind, DeadLetterKind::Decode);
            assert_eq!(d.schema_id, None);
            assert!(d.key.is_none());
            assert!(
                d.reason.starts_with(&format!(
                    "failed to decode {}:{}: not a valid allot.receipts record in JSON: ",
                    path.display(),
                    d.offset
                )),
                "{}",
                d.reason
            );
        }
        assert_eq!(
            metrics.dead_letters_total("allot.receipts", DeadLetterKind::Decode),
            3
        );
        assert_eq!(metrics.consumed_total(Topic::Receipts), 3);
    }

    #[test]
    fn a_corrupt_avro_block_is_dead_lettered_and_other_files_carry_on() {
        let dir = tempfile::tempdir().unwrap();
        let config = FilesConfig {
            deflate: false,
            ..config(dir.path(), Format::Avro)
        };
        let metrics = ConnectorMetrics::unregistered();
        let mut w = DataSetWriter::create(&config, metrics.clone()).unwrap();
        let orders: Vec<_> = (0..4)
            .map(|i| sample_at(Topic::Orders, i, i as i64))
            .collect();
        for r in &orders {
            w.write(r).unwrap();
        }
        let sales: Vec<_> = (0..3)
            .map(|i| sample_at(Topic::PosSales, i, i as i64))
            .collect();
        for r in &sales {
            w.write(r).unwrap();
        }
        w.finish().unwrap();
        // chop the orders file in the middle of its only block
        let path = topic_path(dir.path(), Topic::Orders, Format::Avro);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 40]).unwrap();

        let (read, dead) = read_all(&config, &metrics);
        assert_eq!(read, sales, "the intact file is read whole");
        assert_eq!(dead.len(), 1, "{dead:?}");
        assert_eq!(
            (dead[0].topic.as_str(), dead[0].offset),
            ("allot.orders", 1)
        );
        assert!(
            dead[0]
                .reason
                .contains("corrupt Avro block; the rest of the file cannot be read"),
            "{}",
            dead[0].reason
        );
        assert_eq!(
            metrics.dead_letters_total("allot.orders", DeadLetterKind::Decode),
            1
        );
    }

    #[test]
    fn dead_letters_can_go_to_a_dead_letter_file() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(&dir.path().join("in"), Format::Jsonl);
        std::fs::create_dir_all(&config.dir).unwrap();
        std::fs::write(
            topic_path(&config.dir, Topic::Returns, Format::Jsonl),
            "nope\n",
        )
        .unwrap();
        let metrics = ConnectorMetrics::unregistered();
        let dlq_path = topic_path(&dir.path().join("dlq"), Topic::DeadLetters, Format::Avro);
        let dlq = TopicFileWriter::create(
            &dlq_path,
            Topic::DeadLetters,
            Format::Avro,
            true,
            metrics.clone(),
        )
        .unwrap();
        let mut reader =
            DataSetReader::open(&config, &[Topic::Returns], letters(&metrics), dlq).unwrap();
        assert_eq!(reader.next_record().unwrap(), None);
        reader.into_dead_letters().finish().unwrap();
        let mut back = TopicFileReader::open(
            &dlq_path,
            Topic::DeadLetters,
            Format::Avro,
            letters(&metrics),
        )
        .unwrap();
        let mut none = Vec::new();
        let Some(AnyRecord::DeadLetter(letter)) = back.next_record(&mut none).unwrap() else {
            panic!("no dead letter in the file");
        };
        assert_eq!((letter.topic.as_str(), letter.offset), ("allot.returns", 1));
        assert_eq!(&letter.payload[..], b"nope");
        assert!(none.is_empty());
    }

    #[test]
    fn a_record_of_another_topic_is_refused_by_a_topic_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = TopicFileWriter::create(
            &dir.path().join("orders.jsonl"),
            Topic::Orders,
            Format::Jsonl,
            false,
            ConnectorMetrics::unregistered(),
        )
        .unwrap();
        let err = w.write_any(&sample(Topic::Returns, 1)).unwrap_err();
        assert!(matches!(
            err,
            FilesError::WrongTopic {
                expected: Topic::Orders,
                got: Topic::Returns
            }
        ));
        assert_eq!(err.action(), crate::ErrorAction::Stop);
    }
}
