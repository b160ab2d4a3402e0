//! Where generated records go: the [`EventSink`] trait and its implementations.
//!
//! - [`CountingSink`]: counts (and optionally Avro-encodes, to measure bytes) and discards.
//! - [`JsonLinesSink`]: one self-describing JSON line per record (`{"topic", "key",
//!   "value"}`) to any async writer, e.g. stdout, so a stream of mixed topics stays readable.
//! - [`FilesSink`]: a data set directory through `allot_connectors::files` (one Avro or JSON
//!   lines file per topic, replayable by the files source).
//! - [`KafkaEventSink`]: Confluent-framed Avro to Kafka through
//!   `allot_connectors::kafka::KafkaSink`, with many deliveries in flight.

use std::collections::VecDeque;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use allot_connectors::files::{DataSetWriter, FilesConfig, Format, topic_path};
use allot_connectors::kafka::{Delivery, KafkaConfig, KafkaSink};
use allot_connectors::{ConnectorMetrics, ErrorAction};
use allot_schemas::{AnyRecord, Record, RecordVisitor, Topic};
use anyhow::Context;
use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter};

use crate::workload::topic_index;

/// A destination for generated records.
///
/// Writes arrive in event-time order. `flush` makes everything written so far durable or
/// delivered; `close` is called once at the end (after it, no more writes).
pub trait EventSink: Send {
    /// Writes one record.
    fn write(&mut self, record: &AnyRecord) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// Waits until everything written so far has reached the destination.
    fn flush(&mut self) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// Flushes and releases the destination; the default just flushes.
    fn close(&mut self) -> impl Future<Output = anyhow::Result<()>> + Send {
        self.flush()
    }

    /// Bytes written for `topic`, when the sink knows (after `close` for file sinks).
    fn bytes(&self, _topic: Topic) -> Option<u64> {
        None
    }

    /// What the sink writes to, for the summary (`count`, `stdout`, `kafka:host:9092`).
    fn describe(&self) -> String;
}

/// Avro-encodes any record (the codec the Kafka sink uses, without framing).
fn encode_any(record: &AnyRecord, out: &mut Vec<u8>) -> anyhow::Result<()> {
    struct Encode<'a>(&'a mut Vec<u8>);
    impl RecordVisitor for Encode<'_> {
        type Output = Result<(), allot_schemas::CodecError>;
        fn visit<R: Record>(self, record: &R) -> Self::Output {
            allot_schemas::codec::encode(record, self.0)
        }
    }
    record
        .visit(Encode(out))
        .with_context(|| format!("failed to encode {}", record.event_id()))
}

/// Counts records and drops them; with `measure_bytes`, Avro-encodes each one to count the
/// bytes a Kafka or Avro sink would carry (without framing).
#[derive(Debug, Default)]
pub struct CountingSink {
    measure_bytes: bool,
    records: u64,
    bytes: [u64; 16],
    buf: Vec<u8>,
}

impl CountingSink {
    /// A sink that counts; `measure_bytes` also encodes every record.
    pub fn new(measure_bytes: bool) -> Self {
        CountingSink {
            measure_bytes,
            ..CountingSink::default()
        }
    }

    /// Records written.
    pub fn records(&self) -> u64 {
        self.records
    }
}

impl EventSink for CountingSink {
    async fn write(&mut self, record: &AnyRecord) -> anyhow::Result<()> {
        self.records += 1;
        if self.measure_bytes {
            self.buf.clear();
            encode_any(record, &mut self.buf)?;
            self.bytes[topic_index(record.topic())] += self.buf.len() as u64;
        }
        Ok(())
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        Ok(())
    }

    fn bytes(&self, topic: Topic) -> Option<u64> {
        self.measure_bytes.then(|| self.bytes[topic_index(topic)])
    }

    fn describe(&self) -> String {
        if self.measure_bytes {
            "count (Avro bytes measured)".into()
        } else {
            "count".into()
        }
    }
}

/// Serializes the typed record inside an [`AnyRecord`] as JSON.
fn json_value(record: &AnyRecord, out: &mut Vec<u8>) -> anyhow::Result<()> {
    struct Json<'a>(&'a mut Vec<u8>);
    impl RecordVisitor for Json<'_> {
        type Output = serde_json::Result<()>;
        fn visit<R: Record>(self, record: &R) -> Self::Output {
            serde_json::to_writer(self.0, record)
        }
    }
    Ok(record.visit(Json(out))?)
}

/// Writes `{"topic":"allot.pos-sales","key":"store-0001","value":{...}}` lines.
#[derive(Debug)]
pub struct JsonLinesSink<W: AsyncWrite + Unpin + Send> {
    out: BufWriter<W>,
    line: Vec<u8>,
    bytes: [u64; 16],
    name: String,
}

impl JsonLinesSink<tokio::io::Stdout> {
    /// JSON lines to standard output.
    pub fn stdout() -> Self {
        JsonLinesSink::new(tokio::io::stdout(), "stdout")
    }
}

impl<W: AsyncWrite + Unpin + Send> JsonLinesSink<W> {
    /// JSON lines to `out`, described as `name` in summaries.
    pub fn new(out: W, name: &str) -> Self {
        JsonLinesSink {
            out: BufWriter::with_capacity(1 << 16, out),
            line: Vec::with_capacity(1024),
            bytes: [0; 16],
            name: name.to_string(),
        }
    }

    /// The writer, once closed.
    pub fn into_inner(self) -> W {
        self.out.into_inner()
    }
}

impl<W: AsyncWrite + Unpin + Send> EventSink for JsonLinesSink<W> {
    async fn write(&mut self, record: &AnyRecord) -> anyhow::Result<()> {
        self.line.clear();
        self.line.extend_from_slice(b"{\"topic\":");
        serde_json::to_writer(&mut self.line, record.topic().name())?;
        self.line.extend_from_slice(b",\"key\":");
        serde_json::to_writer(&mut self.line, &record.key())?;
        self.line.extend_from_slice(b",\"value\":");
        json_value(record, &mut self.line)?;
        self.line.extend_from_slice(b"}\n");
        self.bytes[topic_index(record.topic())] += self.line.len() as u64;
        self.out
            .write_all(&self.line)
            .await
            .with_context(|| format!("failed to write to {}", self.name))
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        self.out
            .flush()
            .await
            .with_context(|| format!("failed to flush {}", self.name))
    }

    fn bytes(&self, topic: Topic) -> Option<u64> {
        Some(self.bytes[topic_index(topic)])
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}

/// A data set directory written by the files connector (one file per topic). The files
/// connector writes synchronously; each write is a buffered append.
#[derive(Debug)]
pub struct FilesSink {
    config: FilesConfig,
    writer: Option<DataSetWriter>,
    bytes: [Option<u64>; 16],
}

impl FilesSink {
    /// Creates `dir` (if needed) for a data set in `format`.
    pub fn create(dir: impl Into<PathBuf>, format: Format) -> anyhow::Result<Self> {
        let mut config = FilesConfig::new(dir);
        config.format = format;
        let writer = DataSetWriter::create(&config, ConnectorMetrics::unregistered())
            .with_context(|| format!("failed to create data set {}", config.dir.display()))?;
        Ok(FilesSink {
            config,
            writer: Some(writer),
            bytes: [None; 16],
        })
    }
}

impl EventSink for FilesSink {
    async fn write(&mut self, record: &AnyRecord) -> anyhow::Result<()> {
        let writer = self
            .writer
            .as_mut()
            .context("failed to write: the data set is closed")?;
        writer
            .write(record)
            .with_context(|| format!("failed to write to {}", self.config.dir.display()))
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        // The data set writer flushes its files when it finishes.
        Ok(())
    }

    async fn close(&mut self) -> anyhow::Result<()> {
        if let Some(writer) = self.writer.take() {
            let written = writer
                .finish()
                .with_context(|| format!("failed to finish {}", self.config.dir.display()))?;
            for topic in written.keys() {
                let path = topic_path(&self.config.dir, *topic, self.config.format);
                self.bytes[topic_index(*topic)] = std::fs::metadata(&path).ok().map(|m| m.len());
            }
        }
        Ok(())
    }

    fn bytes(&self, topic: Topic) -> Option<u64> {
        self.bytes[topic_index(topic)]
    }

    fn describe(&self) -> String {
        format!(
            "{}:{}",
            self.config.format.extension(),
            self.config.dir.display()
        )
    }
}

/// Kafka through the connectors' producer: records are queued without waiting, up to
/// `max_in_flight` deliveries are awaited lazily, and a full local queue is waited out.
#[derive(Debug)]
pub struct KafkaEventSink {
    sink: KafkaSink,
    in_flight: VecDeque<Delivery>,
    max_in_flight: usize,
    bootstrap: String,
}

impl KafkaEventSink {
    /// Connects a producer with `config` (topics are not created here).
    pub fn new(config: &KafkaConfig, max_in_flight: usize) -> anyhow::Result<Self> {
        let sink = KafkaSink::new(config, ConnectorMetrics::unregistered())
            .context("failed to create the Kafka producer")?;
        Ok(KafkaEventSink {
            sink,
            in_flight: VecDeque::new(),
            max_in_flight: max_in_flight.max(1),
            bootstrap: config.bootstrap_servers.clone(),
        })
    }

    async fn settle_oldest(&mut self) -> anyhow::Result<()> {
        if let Some(delivery) = self.in_flight.pop_front() {
            delivery.await.context("a record was not delivered")?;
        }
        Ok(())
    }
}

impl EventSink for KafkaEventSink {
    async fn write(&mut self, record: &AnyRecord) -> anyhow::Result<()> {
        loop {
            match self.sink.enqueue_any(record) {
                Ok(delivery) => {
                    self.in_flight.push_back(delivery);
                    if self.in_flight.len() > self.max_in_flight {
                        self.settle_oldest().await?;
                    }
                    return Ok(());
                }
                // The local queue is full: wait for the oldest deliveries, then try again.
                Err(e) if e.action() == ErrorAction::Retry => {
                    if self.in_flight.is_empty() {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    } else {
                        for _ in 0..(self.in_flight.len() / 4).max(1) {
                            self.settle_oldest().await?;
                        }
                    }
                }
                Err(e) => return Err(e).context("failed to produce to Kafka"),
            }
        }
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        while !self.in_flight.is_empty() {
            self.settle_oldest().await?;
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!("kafka:{}", self.bootstrap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Workload, WorkloadConfig};

    fn small() -> Vec<AnyRecord> {
        let config = WorkloadConfig {
            stores: 3,
            skus: 50,
            days: 1,
            orders_per_day: 200.0,
            pos_baskets_per_store_per_day: 100.0,
            ..WorkloadConfig::default()
        };
        Workload::new(config).expect("valid").take(3_000).collect()
    }

    #[tokio::test]
    async fn json_lines_are_self_describing_and_count_their_bytes() {
        let records = small();
        let mut sink = JsonLinesSink::new(Vec::new(), "memory");
        for r in &records {
            sink.write(r).await.expect("write");
        }
        sink.close().await.expect("close");
        let total: u64 = Topic::ALL.iter().filter_map(|t| sink.bytes(*t)).sum();
        let text = String::from_utf8(sink.into_inner()).expect("utf-8");
        assert_eq!(text.len() as u64, total);
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is JSON"))
            .collect();
        assert_eq!(lines.len(), records.len());
        for (line, record) in lines.iter().zip(&records) {
            assert_eq!(line["topic"], record.topic().name());
            assert_eq!(line["key"], record.key());
            assert_eq!(line["value"]["event_id"], record.event_id());
        }
    }

    #[tokio::test]
    async fn counting_sink_measures_avro_bytes_per_topic() {
        let records = small();
        let mut sink = CountingSink::new(true);
        for r in &records {
            sink.write(r).await.expect("write");
        }
        assert_eq!(sink.records(), records.len() as u64);
        let locations = sink.bytes(Topic::Locations).expect("measured");
        assert!(locations > 100, "{locations}");
        assert_eq!(sink.bytes(Topic::Availability), Some(0));
        assert_eq!(CountingSink::new(false).bytes(Topic::Locations), None);
    }

    #[tokio::test]
    async fn files_sink_writes_a_data_set_the_files_connector_reads_back() {
        let records = small();
        let dir = tempfile::tempdir().expect("tempdir");
        let mut sink = FilesSink::create(dir.path(), Format::Avro).expect("create");
        for r in &records {
            sink.write(r).await.expect("write");
        }
        sink.close().await.expect("close");
        assert!(sink.bytes(Topic::Locations).is_some_and(|b| b > 0));
        let letters = allot_connectors::DeadLetters::new("test", ConnectorMetrics::unregistered());
        let mut reader = allot_connectors::files::DataSetReader::open(
            &FilesConfig::new(dir.path()),
            &Topic::ALL,
            letters,
            Vec::<allot_schemas::DeadLetter>::new(),
        )
        .expect("open");
        let mut back = Vec::new();
        while let Some(r) = reader.next_record().expect("read") {
            back.push(r);
        }
        assert!(reader.dead_letters().is_empty(), "every record decodes");
        assert_eq!(back.len(), records.len());
        // The reader merges by event time; within equal times the order may differ.
        let mut expected: Vec<&str> = records.iter().map(AnyRecord::event_id).collect();
        let mut got: Vec<&str> = back.iter().map(AnyRecord::event_id).collect();
        expected.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, expected);
    }
}
