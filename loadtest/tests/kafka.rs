//! The Kafka adapter against a real broker (started by `deploy/local/kafka.sh` through the
//! connectors' testkit): every generated record arrives on its own topic, under its key, and
//! decodes to the value that was generated.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use allot_connectors::kafka::{KafkaSink, KafkaSource, delete_topics, ensure_topics};
use allot_connectors::{ConnectorMetrics, testkit};
use allot_loadtest::driver::{DriveOptions, drive};
use allot_loadtest::sink::KafkaEventSink;
use allot_loadtest::{Workload, WorkloadConfig};
use allot_schemas::{AnyRecord, Topic};

const RECORDS: usize = 5_000;
const WAIT: Duration = Duration::from_secs(60);

fn workload() -> Workload {
    Workload::new(WorkloadConfig {
        stores: 4,
        skus: 80,
        days: 1,
        orders_per_day: 2_000.0,
        pos_baskets_per_store_per_day: 400.0,
        bad_record_rate: 0.01,
        ..WorkloadConfig::default()
    })
    .expect("valid config")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_records_arrive_on_their_topics_under_their_keys() {
    let config = testkit::kafka_config("loadtest_kafka_sink", 3);
    let inputs: Vec<Topic> = Topic::inputs().collect();
    ensure_topics(&config, &inputs)
        .await
        .expect("topics created");

    let expected: Vec<AnyRecord> = workload().take(RECORDS).collect();
    let mut generator = workload();
    let mut sink = KafkaEventSink::new(&config, 1_000).expect("producer");
    let options = DriveOptions {
        limit: Some(RECORDS as u64),
        ..DriveOptions::default()
    };
    let summary = drive(&mut generator, &mut sink, &options)
        .await
        .expect("run");
    assert_eq!(summary.records, RECORDS as u64);

    let metrics = ConnectorMetrics::unregistered();
    let dead_letters = KafkaSink::new(&config, metrics.clone()).expect("sink");
    let source = KafkaSource::new(&config, &inputs, dead_letters, metrics).expect("source");
    let mut got: HashMap<String, (Topic, Option<Vec<u8>>, AnyRecord)> = HashMap::new();
    let deadline = Instant::now() + WAIT;
    while got.len() < RECORDS {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, source.next()).await {
            Ok(Ok(c)) => {
                got.insert(c.record.event_id().to_string(), (c.topic, c.key, c.record));
            }
            Ok(Err(e)) => panic!("source failed after {} records: {e:?}", got.len()),
            Err(_) => panic!(
                "only {} of {RECORDS} records arrived within {WAIT:?}",
                got.len()
            ),
        }
    }
    for record in &expected {
        let (topic, key, value) = got
            .get(record.event_id())
            .unwrap_or_else(|| panic!("{} never arrived", record.event_id()));
        assert_eq!(*topic, record.topic());
        assert_eq!(key.as_deref(), Some(record.key().as_bytes()));
        assert_eq!(value, record);
    }
    if let Err(e) = delete_topics(&config, &Topic::ALL).await {
        eprintln!("could not delete the test topics: {e}");
    }
}
