//! Integration tests of the Kafka connector against the real broker started by
//! `deploy/local/kafka.sh` (KRaft, single node).

use std::sync::Arc;
use std::time::{Duration, Instant};

use allot_connectors::kafka::{
    Consumed, KafkaConfig, KafkaError, KafkaSink, KafkaSource, delete_topics, ensure_topics,
};
use allot_connectors::{ConnectorMetrics, testkit};
use allot_schemas::codec::confluent;
use allot_schemas::{
    AnyRecord, ConfluentCodec, DeadLetter, DeadLetterKind, Order, Receipt, Record, StaticResolver,
    Topic,
};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::Consumer;

const WAIT: Duration = Duration::from_secs(60);

/// A message allot cannot decode: payload, key, expected kind, expected schema id, and words
/// the letter's reason must contain.
type BadMessage = (
    Vec<u8>,
    &'static [u8],
    DeadLetterKind,
    Option<i32>,
    &'static str,
);

fn random_records(runner: &mut TestRunner, topic: Topic, n: usize) -> Vec<AnyRecord> {
    let strategy = allot_schemas::testkit::any_record(topic);
    (0..n)
        .map(|_| strategy.new_tree(runner).expect("strategy").current())
        .collect()
}

/// Reads `n` records, failing after [`WAIT`].
async fn take(source: &KafkaSource, n: usize) -> Vec<Consumed> {
    let mut out = Vec::with_capacity(n);
    let deadline = Instant::now() + WAIT;
    while out.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, source.next()).await {
            Ok(Ok(c)) => out.push(c),
            Ok(Err(e)) => panic!("source failed after {} records: {e:?}", out.len()),
            Err(_) => panic!("only {} of {n} records arrived within {WAIT:?}", out.len()),
        }
    }
    out
}

async fn cleanup(config: &KafkaConfig) {
    if let Err(e) = delete_topics(config, &Topic::ALL).await {
        eprintln!("could not delete the test topics: {e}");
    }
}

async fn topic_config(config: &KafkaConfig, topic: Topic, key: &str) -> Option<String> {
    let admin: AdminClient<DefaultClientContext> = config.admin_config().create().unwrap();
    let name = config.topic_name(topic);
    let results = admin
        .describe_configs(
            &[ResourceSpecifier::Topic(&name)],
            &AdminOptions::new().request_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .unwrap();
    let resource = results.into_iter().next().unwrap().unwrap();
    resource.get(key).and_then(|e| e.value.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_topic_round_trips_through_the_broker_with_confluent_framing() {
    let config = testkit::kafka_config("kafka_round_trip", 3);
    let created = ensure_topics(&config, &Topic::ALL).await.unwrap();
    assert_eq!(created.len(), Topic::ALL.len(), "{created:?}");
    // idempotent: a second call creates nothing and does not fail
    assert!(
        ensure_topics(&config, &Topic::ALL)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        topic_config(&config, Topic::Locations, "cleanup.policy")
            .await
            .as_deref(),
        Some("compact")
    );
    assert_eq!(
        topic_config(&config, Topic::Orders, "cleanup.policy")
            .await
            .as_deref(),
        Some("delete")
    );

    let metrics = ConnectorMetrics::unregistered();
    let sink = KafkaSink::new(&config, metrics.clone()).unwrap();
    let mut runner = TestRunner::default();
    const PER_TOPIC: usize = 8;
    let mut sent = Vec::new();
    let started = Instant::now();
    let mut deliveries = Vec::new();
    for topic in Topic::ALL {
        for record in random_records(&mut runner, topic, PER_TOPIC) {
            deliveries.push(sink.enqueue_any(&record).unwrap());
            sent.push(record);
        }
    }
    for d in deliveries {
        d.await.unwrap();
    }
    let produce_time = started.elapsed();
    for topic in Topic::ALL {
        assert_eq!(metrics.produced_total(topic), PER_TOPIC as u64, "{topic}");
    }

    let source = KafkaSource::new(&config, &Topic::ALL, sink.clone(), metrics.clone()).unwrap();
    let started = Instant::now();
    let mut got = take(&source, sent.len()).await;
    let consume_time = started.elapsed();
    eprintln!(
        "{} records over {} topics: produced in {produce_time:?}, consumed in {consume_time:?}",
        sent.len(),
        Topic::ALL.len()
    );
    for record in &sent {
        let i = got
            .iter()
            .position(|c| &c.record == record)
            .unwrap_or_else(|| panic!("sent but not received intact: {record:?}"));
        let c = got.swap_remove(i);
        assert_eq!(c.topic, record.topic());
        assert_eq!(
            c.key.as_deref(),
            Some(record.key().as_bytes()),
            "key of {record:?}"
        );
        source.ack(&c).unwrap();
    }
    assert!(got.is_empty());
    source.commit().unwrap();
    for topic in Topic::ALL {
        assert_eq!(metrics.consumed_total(topic), PER_TOPIC as u64, "{topic}");
        assert_eq!(
            metrics.dead_letters_total(topic.name(), DeadLetterKind::Decode)
                + metrics.dead_letters_total(topic.name(), DeadLetterKind::UnknownSchema),
            0
        );
    }
    cleanup(&config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_messages_go_to_the_dead_letter_topic_and_the_source_carries_on() {
    let config = testkit::kafka_config("kafka_dead_letters", 1);
    ensure_topics(&config, &[Topic::Orders, Topic::DeadLetters])
        .await
        .unwrap();
    let metrics = ConnectorMetrics::unregistered();
    let sink = KafkaSink::new(&config, metrics.clone()).unwrap();
    let codec = ConfluentCodec::new(allot_schemas::StaticResolver::new());
    let orders_topic = config.topic_name(Topic::Orders);
    let mut runner = TestRunner::default();
    let goods: Vec<Order> = random_records(&mut runner, Topic::Orders, 4)
        .into_iter()
        .map(|r| match r {
            AnyRecord::Order(o) => o,
            _ => unreachable!(),
        })
        .collect();
    let framed = |o: &Order| {
        let mut b = Vec::new();
        codec.encode(o, &mut b).unwrap();
        b
    };

    let truncated = {
        let b = framed(&goods[1]);
        b[..b.len() / 2].to_vec()
    };
    let unknown_id = {
        let mut b = Vec::new();
        confluent::write_header(4242, &mut b);
        b.extend_from_slice(&framed(&goods[1])[confluent::HEADER_LEN..]);
        b
    };
    let receipt: Receipt = allot_schemas::testkit::sample();
    let other_topic = {
        let mut b = Vec::new();
        codec.encode(&receipt, &mut b).unwrap();
        b
    };
    let receipts_id = confluent::split(&other_topic).unwrap().0 as i32;
    let orders_id = confluent::split(&framed(&goods[0])).unwrap().0 as i32;
    let bad: Vec<BadMessage> = vec![
        (
            truncated,
            b"k-trunc",
            DeadLetterKind::Decode,
            Some(orders_id),
            "failed to decode a allot.orders record",
        ),
        (
            unknown_id,
            b"k-unknown",
            DeadLetterKind::UnknownSchema,
            Some(4242),
            "unknown schema id 4242",
        ),
        (
            other_topic,
            b"k-other",
            DeadLetterKind::UnknownSchema,
            Some(receipts_id),
            "is not a schema of allot.orders",
        ),
        (
            b"hello, not avro".to_vec(),
            b"k-text",
            DeadLetterKind::Decode,
            None,
            "not in the Confluent wire format",
        ),
        (
            Vec::new(),
            b"k-empty",
            DeadLetterKind::Decode,
            None,
            "not in the Confluent wire format",
        ),
    ];

    // good, bad, good, bad, bad, bad, good, bad, good
    let mut bad_offsets = Vec::new();
    let mut good_offsets = Vec::new();
    let mut bad_iter = bad.iter();
    for step in ["g", "b", "g", "b", "b", "b", "g", "b", "g"] {
        if step == "g" {
            let o = &goods[good_offsets.len()];
            good_offsets.push(sink.send(o).await.unwrap().offset);
        } else {
            let (payload, key, ..) = bad_iter.next().unwrap();
            let d = sink
                .send_raw(&orders_topic, Some(key), payload)
                .await
                .unwrap();
            assert_eq!(d.partition, 0);
            bad_offsets.push(d.offset);
        }
    }

    let source =
        KafkaSource::new(&config, &[Topic::Orders], sink.clone(), metrics.clone()).unwrap();
    let got = take(&source, goods.len()).await;
    let got_orders: Vec<_> = got.iter().map(|c| c.record.clone()).collect();
    let want: Vec<AnyRecord> = goods.iter().cloned().map(AnyRecord::from).collect();
    assert_eq!(
        got_orders, want,
        "the good records, in order, past every bad one"
    );
    assert_eq!(
        got.iter().map(|c| c.offset).collect::<Vec<_>>(),
        good_offsets
    );

    // the dead-letter topic holds one letter per bad message, in order
    let reader_config = KafkaConfig {
        group_id: format!("{}-dlq-reader", config.group_id),
        ..config.clone()
    };
    let reader_metrics = ConnectorMetrics::unregistered();
    let reader = KafkaSource::new(
        &reader_config,
        &[Topic::DeadLetters],
        KafkaSink::new(&reader_config, reader_metrics.clone()).unwrap(),
        reader_metrics,
    )
    .unwrap();
    let letters: Vec<DeadLetter> = take(&reader, bad.len())
        .await
        .into_iter()
        .map(|c| {
            assert_eq!(
                c.key.as_deref(),
                Some(orders_topic.as_bytes()),
                "letters are keyed by topic"
            );
            match c.record {
                AnyRecord::DeadLetter(d) => d,
                other => panic!("not a dead letter: {other:?}"),
            }
        })
        .collect();
    for ((letter, (payload, key, kind, schema_id, words)), offset) in
        letters.iter().zip(&bad).zip(&bad_offsets)
    {
        assert_eq!(letter.topic, orders_topic);
        assert_eq!((letter.partition, letter.offset), (0, *offset));
        assert_eq!(&letter.payload[..], &payload[..], "payload kept as read");
        assert_eq!(letter.key.as_deref().map(|k| &k[..]), Some(*key));
        assert_eq!(letter.error_kind, *kind, "{}", letter.reason);
        assert_eq!(letter.schema_id, *schema_id, "{}", letter.reason);
        assert_eq!(letter.source, config.client_id);
        let head = format!("failed to decode {orders_topic}[0]@{offset}: ");
        assert!(letter.reason.starts_with(&head), "{}", letter.reason);
        assert!(letter.reason.contains(words), "{}", letter.reason);
        eprintln!("dead letter: {}", letter.reason);
    }
    assert_eq!(
        metrics.dead_letters_total("allot.orders", DeadLetterKind::Decode),
        3
    );
    assert_eq!(
        metrics.dead_letters_total("allot.orders", DeadLetterKind::UnknownSchema),
        2
    );
    assert_eq!(metrics.consumed_total(Topic::Orders), goods.len() as u64);
    assert_eq!(metrics.produced_total(Topic::DeadLetters), bad.len() as u64);

    // acks commit; a restarted member of the group starts after the last good record
    for c in &got {
        source.ack(c).unwrap();
    }
    source.commit().unwrap();
    drop(source);
    let last = goods.last().unwrap().clone();
    let one_more: Order = {
        let mut o = last.clone();
        o.event_id = format!("{}-after-restart", o.event_id);
        o
    };
    sink.send(&one_more).await.unwrap();
    let restarted =
        KafkaSource::new(&config, &[Topic::Orders], sink.clone(), metrics.clone()).unwrap();
    let after = take(&restarted, 1).await;
    assert_eq!(after[0].record, AnyRecord::from(one_more));
    cleanup(&config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_lag_is_reported_from_statistics() {
    let config = testkit::kafka_config("kafka_lag", 1);
    ensure_topics(&config, &[Topic::Returns, Topic::DeadLetters])
        .await
        .unwrap();
    let metrics = ConnectorMetrics::unregistered();
    let sink = KafkaSink::new(&config, metrics.clone()).unwrap();
    let mut runner = TestRunner::default();
    for r in random_records(&mut runner, Topic::Returns, 10) {
        sink.send_any(&r).await.unwrap();
    }
    let source = KafkaSource::new(&config, &[Topic::Returns], sink, metrics.clone()).unwrap();
    take(&source, 3).await;
    // statistics arrive every second; the lag falls as the source reads on
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if metrics.consumer_lag("allot.returns", 0).is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no consumer lag reported in 20 s"
        );
        // keep polling the consumer so librdkafka serves its callbacks
        let _ = tokio::time::timeout(Duration::from_millis(200), source.next()).await;
    }
    let lag = metrics.consumer_lag("allot.returns", 0).unwrap();
    assert!((0..=10).contains(&lag), "lag {lag}");
    cleanup(&config).await;
}

#[tokio::test]
async fn an_unreachable_broker_is_a_retryable_delivery_failure() {
    let config = KafkaConfig {
        bootstrap_servers: "127.0.0.1:1".into(),
        properties: [("message.timeout.ms".to_owned(), "1500".to_owned())].into(),
        ..KafkaConfig::default()
    };
    let sink = KafkaSink::new(&config, ConnectorMetrics::unregistered()).unwrap();
    let order: Order = allot_schemas::testkit::sample();
    let err = sink.send(&order).await.unwrap_err();
    assert!(matches!(err, KafkaError::Produce { .. }), "{err:?}");
    assert_eq!(
        err.action(),
        allot_connectors::ErrorAction::Retry,
        "{err:?}"
    );
    let _ = order.key();
}

/// A stand-in Schema Registry (the real one is not part of the local stack): answers
/// `GET /schemas/ids/{id}` for `known` with the orders schema, 404 for anything else.
async fn fake_registry(known: u32) -> (String, tokio::task::JoinHandle<()>) {
    use axum::extract::Path;
    use axum::http::StatusCode;
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/schemas/ids/{id}",
        get(move |Path(id): Path<u32>| async move {
            if id == known {
                let body = serde_json::json!({
                    "schema": allot_schemas::codec::schema_json(Topic::Orders)
                });
                (StatusCode::OK, body.to_string())
            } else {
                let body = serde_json::json!({"error_code": 40403, "message": "Schema not found"});
                (StatusCode::NOT_FOUND, body.to_string())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_ids_are_fetched_on_first_sight_and_unknown_ones_dead_lettered() {
    use allot_schemas::codec::{SchemaRegistryClient, SchemaRegistryConfig};
    use std::sync::Arc;
    let config = testkit::kafka_config("kafka_registry", 1);
    ensure_topics(&config, &[Topic::Orders, Topic::DeadLetters])
        .await
        .unwrap();
    let metrics = ConnectorMetrics::unregistered();
    let sink = KafkaSink::new(&config, metrics.clone()).unwrap();
    let (url, server) = fake_registry(7001).await;
    let registry = Arc::new(
        SchemaRegistryClient::new(&SchemaRegistryConfig {
            url,
            ..SchemaRegistryConfig::default()
        })
        .unwrap(),
    );
    let order: Order = allot_schemas::testkit::sample();
    let mut body = Vec::new();
    allot_schemas::codec::encode(&order, &mut body).unwrap();
    let framed = |id: u32| {
        let mut b = Vec::new();
        confluent::write_header(id, &mut b);
        b.extend_from_slice(&body);
        b
    };
    let topic = config.topic_name(Topic::Orders);
    for id in [7001, 7002, 7001] {
        sink.send_raw(&topic, Some(b"k"), &framed(id))
            .await
            .unwrap();
    }
    let source = KafkaSource::with_registry(
        &config,
        &[Topic::Orders],
        registry.clone(),
        sink.clone(),
        metrics.clone(),
    )
    .unwrap();
    let got = take(&source, 2).await;
    assert_eq!(got[0].record, AnyRecord::from(order.clone()));
    assert_eq!((got[0].offset, got[1].offset), (0, 2));
    assert_eq!(registry.cached_schemas(), 1, "7001 fetched once and cached");
    assert_eq!(
        metrics.dead_letters_total("allot.orders", DeadLetterKind::UnknownSchema),
        1
    );
    server.abort();

    // a registry that cannot be reached: the source stops instead of dead-lettering
    let down = Arc::new(
        SchemaRegistryClient::new(&SchemaRegistryConfig {
            url: "http://127.0.0.1:1".into(),
            timeout_ms: 500,
            ..SchemaRegistryConfig::default()
        })
        .unwrap(),
    );
    let other = KafkaConfig {
        group_id: format!("{}-down", config.group_id),
        ..config.clone()
    };
    let source = KafkaSource::with_registry(
        &other,
        &[Topic::Orders],
        down,
        sink.clone(),
        ConnectorMetrics::unregistered(),
    )
    .unwrap();
    let err = tokio::time::timeout(WAIT, source.next())
        .await
        .expect("the source gives up within its retries")
        .unwrap_err();
    assert!(
        matches!(err, KafkaError::SchemaFetch { id: 7001, .. }),
        "{err:?}"
    );
    assert_eq!(err.action(), allot_connectors::ErrorAction::Stop);
    cleanup(&config).await;
}

/// Runs a blocking transaction call off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("no panic")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_commits_its_outputs_and_input_offsets_together_or_not_at_all() {
    let mut config = testkit::kafka_config("kafka_txn", 1);
    // Offsets commit only inside transactions.
    config
        .properties
        .insert("enable.auto.commit".into(), "false".into());
    let out = KafkaConfig {
        topic_prefix: format!("{}out.", config.topic_prefix),
        ..config.clone()
    };
    ensure_topics(&config, &[Topic::Orders, Topic::DeadLetters])
        .await
        .unwrap();
    ensure_topics(&out, &[Topic::Orders]).await.unwrap();
    let metrics = ConnectorMetrics::unregistered();
    let plain = KafkaSink::new(&config, metrics.clone()).unwrap();
    let mut runner = TestRunner::default();
    let orders = random_records(&mut runner, Topic::Orders, 10);
    for o in &orders {
        plain.send_any(o).await.unwrap();
    }
    let source =
        KafkaSource::new(&config, &[Topic::Orders], plain.clone(), metrics.clone()).unwrap();
    let read = take(&source, 10).await;
    let group = source.group_metadata().expect("a group member");
    let id = format!("{}-txn", config.client_id);
    let (c, m, i) = (out.clone(), metrics.clone(), id.clone());
    let txn = blocking(move || {
        KafkaSink::transactional(&c, Arc::new(StaticResolver::new()), m, &i, WAIT)
    })
    .await
    .expect("transactions start");

    // The first five are copied and their offsets committed in one transaction.
    txn.begin_transaction().unwrap();
    for c in &read[..5] {
        txn.send_any(&c.record).await.unwrap();
    }
    let offsets = source
        .offsets_after([(Topic::Orders, 0, read[4].offset)])
        .unwrap();
    let t = txn.clone();
    blocking(move || t.commit_transaction(&offsets, &group, WAIT))
        .await
        .unwrap();
    // The last five are copied (delivered to the log) and then aborted.
    txn.begin_transaction().unwrap();
    for c in &read[5..] {
        txn.send_any(&c.record).await.unwrap();
    }
    let t = txn.clone();
    blocking(move || t.abort_transaction(WAIT)).await.unwrap();

    // A read_committed reader sees the committed five and nothing of the aborted ones.
    let reader = KafkaSource::new(
        &KafkaConfig {
            group_id: format!("{}-reader", out.group_id),
            ..out.clone()
        },
        &[Topic::Orders],
        plain.clone(),
        ConnectorMetrics::unregistered(),
    )
    .unwrap();
    let copied = take(&reader, 5).await;
    let ids = |cs: &[Consumed]| -> Vec<String> {
        cs.iter().map(|c| c.record.event_id().to_string()).collect()
    };
    assert_eq!(ids(&copied), ids(&read[..5]));
    let more = tokio::time::timeout(Duration::from_secs(3), reader.next()).await;
    assert!(more.is_err(), "an aborted message was read: {more:?}");
    // The group's committed offset is the one the transaction carried.
    let committed = source
        .consumer()
        .committed(Duration::from_secs(10))
        .unwrap();
    let name = config.topic_name(Topic::Orders);
    let at = committed
        .find_partition(&name, 0)
        .map(|p| p.offset())
        .expect("partition 0 listed");
    assert_eq!(at, rdkafka::Offset::Offset(read[4].offset + 1));

    // A second producer with the same id fences the first: its next commit fails, fatally.
    let (c, m, i) = (out.clone(), metrics.clone(), id.clone());
    let _successor = blocking(move || {
        KafkaSink::transactional(&c, Arc::new(StaticResolver::new()), m, &i, WAIT)
    })
    .await
    .expect("the successor starts");
    let fenced = async {
        txn.begin_transaction()?;
        txn.send_any(&read[0].record).await?;
        let t = txn.clone();
        let none = rdkafka::TopicPartitionList::new();
        let group = source.group_metadata().expect("a group member");
        blocking(move || t.commit_transaction(&none, &group, WAIT)).await
    }
    .await;
    let err = fenced.expect_err("a fenced producer cannot commit");
    assert_eq!(err.action(), allot_connectors::ErrorAction::Stop, "{err:?}");
    cleanup(&config).await;
    cleanup(&out).await;
}
