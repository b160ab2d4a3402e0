//! Protocol tests of [`SchemaRegistryClient`] against a tiny in-test HTTP server that speaks the
//! Schema Registry's JSON (the subset the client uses), and of the client's caching.

use std::collections::HashMap;
use std::sync::Mutex;

use apache_avro::Schema;
use apache_avro::types::Value;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::any::AnyRecord;
use crate::codec::confluent;
use crate::testkit;
use crate::types::*;

/// What the fake registry holds and saw.
#[derive(Default)]
struct State {
    /// Schema texts; the id of `schemas[i]` is `FIRST_ID + i`.
    schemas: Vec<String>,
    /// Subject to the ids of its versions, oldest first.
    subjects: HashMap<String, Vec<u32>>,
    /// `"METHOD path"` of every request, in order.
    requests: Vec<String>,
    /// The `authorization` header of the last request.
    authorization: Option<String>,
    /// When set, every request fails with HTTP 500.
    broken: bool,
}

/// Ids far from the static table, so a mix-up would show.
const FIRST_ID: u32 = 7_000;

struct FakeRegistry {
    url: String,
    state: Arc<Mutex<State>>,
}

impl FakeRegistry {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve(stream, Arc::clone(&shared)));
            }
        });
        Self { url, state }
    }

    fn client(&self) -> SchemaRegistryClient {
        SchemaRegistryClient::new(&SchemaRegistryConfig {
            url: format!("{}/", self.url),
            ..SchemaRegistryConfig::default()
        })
        .unwrap()
    }

    /// Registers `schema` under `subject` directly (as another producer would); returns its id.
    fn seed(&self, subject: &str, schema: &str) -> u32 {
        register(&mut self.state.lock().unwrap(), subject, schema)
    }

    fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }
}

fn register(state: &mut State, subject: &str, schema: &str) -> u32 {
    let index = match state.schemas.iter().position(|s| s == schema) {
        Some(i) => i,
        None => {
            state.schemas.push(schema.to_owned());
            state.schemas.len() - 1
        }
    };
    let id = FIRST_ID + index as u32;
    let versions = state.subjects.entry(subject.to_owned()).or_default();
    if !versions.contains(&id) {
        versions.push(id);
    }
    id
}

/// Serves HTTP/1.1 requests on one connection until the client closes it.
async fn serve(mut stream: TcpStream, state: Arc<Mutex<State>>) {
    let mut buffer = Vec::new();
    loop {
        let header_end = loop {
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            let mut chunk = [0; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8(buffer[..header_end].to_vec()).unwrap();
        let mut lines = head.split("\r\n");
        let mut request_line = lines.next().unwrap().split(' ');
        let (method, path) = (
            request_line.next().unwrap().to_owned(),
            request_line.next().unwrap().to_owned(),
        );
        let header = |name: &str| {
            head.split("\r\n").find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.eq_ignore_ascii_case(name)
                    .then(|| value.trim().to_owned())
            })
        };
        let length: usize = header("content-length").map_or(0, |l| l.parse().unwrap());
        assert_eq!(
            header("accept").as_deref(),
            Some(CONTENT_TYPE),
            "the client asks for the registry's media type"
        );
        while buffer.len() < header_end + length {
            let mut chunk = [0; 4096];
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "connection closed mid-body");
            buffer.extend_from_slice(&chunk[..n]);
        }
        let body: Vec<u8> = buffer
            .drain(..header_end + length)
            .skip(header_end)
            .collect();
        let (status, answer) = {
            let mut state = state.lock().unwrap();
            state.requests.push(format!("{method} {path}"));
            state.authorization = header("authorization");
            route(&mut state, &method, &path, &body)
        };
        let answer = answer.to_string();
        let response = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: {CONTENT_TYPE}\r\ncontent-length: {}\r\n\r\n{answer}",
            answer.len()
        );
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn route(state: &mut State, method: &str, path: &str, body: &[u8]) -> (u16, serde_json::Value) {
    if state.broken {
        return (
            500,
            json!({"error_code": 50001, "message": "store unavailable"}),
        );
    }
    let schema_of_body = || {
        let body: serde_json::Value = serde_json::from_slice(body).unwrap();
        body["schema"].as_str().unwrap().to_owned()
    };
    let not_found = |code: u32, what: &str| (404, json!({"error_code": code, "message": what}));
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        ("GET", ["schemas", "ids", id]) => {
            let id: u32 = id.parse().unwrap();
            match id
                .checked_sub(FIRST_ID)
                .and_then(|i| state.schemas.get(i as usize))
            {
                Some(schema) => (200, json!({ "schema": schema })),
                None => not_found(40403, "Schema not found"),
            }
        }
        ("POST", ["subjects", subject, "versions"]) => {
            let id = register(state, subject, &schema_of_body());
            (200, json!({ "id": id }))
        }
        ("POST", ["subjects", subject]) => {
            let schema = schema_of_body();
            let Some(versions) = state.subjects.get(*subject) else {
                return not_found(40401, "Subject not found");
            };
            match versions
                .iter()
                .position(|id| state.schemas[(id - FIRST_ID) as usize] == schema)
            {
                Some(v) => (
                    200,
                    json!({"subject": subject, "id": versions[v], "version": v + 1, "schema": schema}),
                ),
                None => not_found(40403, "Schema not found"),
            }
        }
        ("GET", ["subjects", subject, "versions", "latest"]) => {
            match state.subjects.get(*subject).and_then(|v| v.last()) {
                Some(id) => (
                    200,
                    json!({
                        "subject": subject,
                        "id": id,
                        "version": state.subjects[*subject].len(),
                        "schema": state.schemas[(id - FIRST_ID) as usize],
                    }),
                ),
                None => not_found(40401, "Subject not found"),
            }
        }
        _ => not_found(404, "no such route"),
    }
}

/// The current Orders schema with `edit` applied, as JSON text.
fn orders_schema(edit: impl FnOnce(&mut Vec<serde_json::Value>)) -> String {
    let mut schema: serde_json::Value =
        serde_json::from_str(crate::codec::schema_json(Topic::Orders)).unwrap();
    edit(schema["fields"].as_array_mut().unwrap());
    schema.to_string()
}

/// Frames the Avro body of `value`, written with `schema_json`, under `id`.
fn framed(id: u32, schema_json: &str, value: &Value) -> Vec<u8> {
    let schema = Schema::parse_str(schema_json).unwrap();
    let mut out = Vec::new();
    confluent::write_header(id, &mut out);
    apache_avro::writer::datum::GenericDatumWriter::builder(&schema)
        .build()
        .unwrap()
        .write_value_ref(&mut out, &value.clone().resolve(&schema).unwrap())
        .unwrap();
    out
}

#[tokio::test]
async fn a_consumer_fetches_an_unknown_id_once_then_decodes_from_the_cache() {
    let registry = FakeRegistry::start().await;
    let producer = ConfluentCodec::new(registry.client());
    let id = producer.resolver().register(Topic::Orders).await.unwrap();
    assert_eq!(id, FIRST_ID);
    assert_eq!(
        producer.resolver().register(Topic::Orders).await.unwrap(),
        id
    );
    assert_eq!(
        registry.requests(),
        ["POST /subjects/allot.orders-value/versions"]
    );

    let order: Order = testkit::sample();
    let mut message = Vec::new();
    producer.encode(&order, &mut message).unwrap();
    assert_eq!(confluent::split(&message).unwrap().0, id);
    assert_eq!(
        producer.decode::<Order>(&message).unwrap(),
        order,
        "registered ids are cached"
    );

    let consumer = ConfluentCodec::new(registry.client());
    assert!(matches!(
        consumer.decode::<Order>(&message),
        Err(CodecError::UnknownSchema { id: got, .. }) if got == id
    ));
    assert!(matches!(
        consumer.encode(&order, &mut Vec::new()),
        Err(CodecError::Unregistered {
            topic: Topic::Orders
        })
    ));
    assert_eq!(consumer.resolver().requests_sent(), 0, "a miss does no I/O");

    let writer = consumer.resolver().fetch(id).await.unwrap();
    assert_eq!(
        (writer.topic(), writer.version(), writer.is_current()),
        (Some(Topic::Orders), Some(1), true)
    );
    for _ in 0..3 {
        assert_eq!(consumer.decode::<Order>(&message).unwrap(), order);
        consumer.resolver().fetch(id).await.unwrap();
    }
    assert_eq!(consumer.resolver().requests_sent(), 1);
    assert_eq!(consumer.resolver().cached_schemas(), 1);
    assert!(
        consumer.resolver().is_current(Topic::Orders, id),
        "the fast check learnt the id"
    );
    assert_eq!(
        registry.requests(),
        [
            "POST /subjects/allot.orders-value/versions",
            "GET /schemas/ids/7000"
        ]
    );
}

#[tokio::test]
async fn decode_fetching_resolves_older_and_newer_versions_and_refuses_unknown_ids() {
    let registry = FakeRegistry::start().await;
    let subject = "allot.orders-value";
    // An older version without the optional `slot` field, and a newer one with an extra field.
    let older = orders_schema(|fields| fields.retain(|f| f["name"] != "slot"));
    let newer = orders_schema(|fields| {
        fields.push(json!({"name": "gift_message", "type": ["null", "string"], "default": null}));
    });
    let older_id = registry.seed(subject, &older);
    let newer_id = registry.seed(subject, &newer);

    let order: Order = testkit::sample();
    let value = apache_avro::to_value(&order).unwrap();
    let Value::Record(mut fields) = value else {
        panic!("a record")
    };
    let without_slot = Value::Record(
        fields
            .iter()
            .filter(|(n, _)| n != "slot")
            .cloned()
            .collect(),
    );
    fields.push((
        "gift_message".into(),
        Value::Union(1, Box::new(Value::String("🎁".into()))),
    ));
    let with_gift = Value::Record(fields);

    let consumer = ConfluentCodec::new(registry.client());
    let decoded: Order = consumer
        .decode_fetching(&framed(older_id, &older, &without_slot))
        .await
        .unwrap();
    assert_eq!(
        decoded,
        Order {
            slot: None,
            ..order.clone()
        },
        "the missing field takes its default"
    );
    let writer = consumer.resolver().resolve(older_id).unwrap();
    assert_eq!((writer.version(), writer.is_current()), (None, false));

    let decoded: Order = consumer
        .decode_fetching(&framed(newer_id, &newer, &with_gift))
        .await
        .unwrap();
    assert_eq!(decoded, order, "the unknown field is skipped");
    assert_eq!(consumer.resolver().requests_sent(), 2);

    let mut unknown = framed(older_id, &older, &without_slot);
    unknown[1..5].copy_from_slice(&9_999u32.to_be_bytes());
    assert!(matches!(
        consumer.decode_fetching::<Order>(&unknown).await,
        Err(CodecError::UnknownSchema {
            id: 9_999,
            reason: "the schema registry does not know it"
        })
    ));
}

#[tokio::test]
async fn an_id_of_another_topic_is_refused() {
    let registry = FakeRegistry::start().await;
    let client = registry.client();
    let id = client.register(Topic::PosSales).await.unwrap();
    let codec = ConfluentCodec::new(client);
    let mut message = Vec::new();
    codec
        .encode(&testkit::sample::<PosTransaction>(), &mut message)
        .unwrap();
    assert!(matches!(
        codec.decode_fetching::<Order>(&message).await,
        Err(CodecError::WrongTopic { id: got, expected: Topic::Orders, found: Some(Topic::PosSales) }) if got == id
    ));
    assert!(matches!(
        codec.decode_any(Topic::PosSales, &message),
        Ok(AnyRecord::PosSale(_))
    ));
}

#[tokio::test]
async fn lookup_and_latest_find_ids_without_registering() {
    let registry = FakeRegistry::start().await;
    let client = registry.client();
    assert!(matches!(
        client.lookup(Topic::Returns).await,
        Err(CodecError::Unregistered {
            topic: Topic::Returns
        })
    ));
    assert!(matches!(
        client.latest(Topic::Returns).await,
        Err(CodecError::Unregistered {
            topic: Topic::Returns
        })
    ));

    let id = registry.seed(
        "allot.returns-value",
        crate::codec::schema_json(Topic::Returns),
    );
    assert_eq!(client.lookup(Topic::Returns).await.unwrap(), id);
    assert_eq!(client.writer_id(Topic::Returns).unwrap(), id);

    // A newer, foreign version as latest: cached, but not used for writing.
    let fresh = registry.client();
    let other = registry.seed(
        "allot.receipts-value",
        r#"{"type":"record","name":"Receipt","namespace":"allot","fields":[{"name":"only","type":"int"}]}"#,
    );
    let latest = fresh.latest(Topic::Receipts).await.unwrap();
    assert_eq!(
        (latest.id(), latest.topic(), latest.is_current()),
        (other, Some(Topic::Receipts), false)
    );
    assert!(fresh.writer_id(Topic::Receipts).is_err());
    assert_eq!(fresh.latest(Topic::Returns).await.unwrap().id(), id);
    assert_eq!(
        fresh.writer_id(Topic::Returns).unwrap(),
        id,
        "latest is ours: write under it"
    );
}

#[tokio::test]
async fn registry_failures_are_transient_errors_and_nothing_is_cached() {
    let registry = FakeRegistry::start().await;
    registry.state.lock().unwrap().broken = true;
    let client = registry.client();
    let err = client.fetch(FIRST_ID).await.unwrap_err();
    let CodecError::Registry { operation, source } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*operation, "GET /schemas/ids/{id}");
    let response = source.downcast_ref::<RegistryResponseError>().unwrap();
    assert_eq!((response.status, response.error_code), (500, 50001));
    assert!(matches!(
        client.register(Topic::Orders).await,
        Err(CodecError::Registry { .. })
    ));
    assert_eq!(client.cached_schemas(), 0);

    registry.state.lock().unwrap().broken = false;
    client.register(Topic::Orders).await.unwrap();
    assert_eq!(
        client.fetch(FIRST_ID).await.unwrap().topic(),
        Some(Topic::Orders)
    );

    // Nobody listening at all.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let client = SchemaRegistryClient::new(&SchemaRegistryConfig {
        url,
        timeout_ms: 2_000,
        ..SchemaRegistryConfig::default()
    })
    .unwrap();
    assert!(matches!(
        client.fetch(1).await,
        Err(CodecError::Registry { .. })
    ));
}

#[tokio::test]
async fn basic_auth_and_subject_prefix_are_sent() {
    let registry = FakeRegistry::start().await;
    let client = SchemaRegistryClient::new(&SchemaRegistryConfig {
        url: registry.url.clone(),
        username: Some("key".into()),
        password: Some("secret".into()),
        subject_prefix: "staging.".into(),
        timeout_ms: 5_000,
    })
    .unwrap();
    client.register(Topic::Availability).await.unwrap();
    assert_eq!(
        registry.requests(),
        ["POST /subjects/staging.allot.availability-value/versions"]
    );
    // base64("key:secret")
    assert_eq!(
        registry.state.lock().unwrap().authorization.as_deref(),
        Some("Basic a2V5OnNlY3JldA==")
    );
}

#[test]
fn the_config_refuses_unknown_keys_and_fills_defaults() {
    let config: SchemaRegistryConfig =
        serde_json::from_str(r#"{"url": "http://registry:8081"}"#).unwrap();
    assert_eq!(config.url, "http://registry:8081");
    assert_eq!(
        config.timeout_ms,
        SchemaRegistryConfig::default().timeout_ms
    );
    assert!(serde_json::from_str::<SchemaRegistryConfig>(r#"{"uri": "x"}"#).is_err());
}
