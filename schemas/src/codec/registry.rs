//! [`SchemaRegistryClient`]: a [`SchemaResolver`] backed by the Confluent Schema Registry's
//! REST API, with a cache so that decoding never waits on the network.
//!
//! # Contract
//!
//! Resolving is synchronous and answers from the cache only; a miss is
//! [`CodecError::UnknownSchema`] (decoding) or [`CodecError::Unregistered`] (encoding). The
//! async methods fill the cache:
//!
//! - at start-up, a producer calls [`register`](SchemaRegistryClient::register) (or
//!   [`lookup`](SchemaRegistryClient::lookup) where it may not register) for every topic it
//!   writes, and a consumer may call [`latest`](SchemaRegistryClient::latest) for every topic
//!   it reads;
//! - when a decode fails with [`CodecError::UnknownSchema`], the caller awaits
//!   [`fetch`](SchemaRegistryClient::fetch) for that id and decodes again
//!   ([`ConfluentCodec::decode_fetching`] does both). If the fetch itself answers
//!   `UnknownSchema`, the registry does not know the id: dead-letter the record. A
//!   [`CodecError::Registry`] error is transient: retry later.
//!
//! Schemas never change under an id, so cached entries never expire. Each id is fetched at most
//! once per client, barring concurrent first fetches of the same id.
//!
//! HTTP only (no TLS feature of reqwest is enabled in this workspace yet).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{CodecError, ConfluentCodec, SchemaResolver, WriterSchema};
use crate::topic::{Record, Topic};

/// Where the Schema Registry is and how to talk to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchemaRegistryConfig {
    /// Base URL of the registry's REST API, for example `http://localhost:8081`.
    pub url: String,
    /// User name (or API key) for HTTP basic authentication; none when unset.
    pub username: Option<String>,
    /// Password (or API secret) for HTTP basic authentication.
    pub password: Option<String>,
    /// Prepended to every subject name: subjects are `<prefix><kafka topic>-value`
    /// (TopicNameStrategy), for deployments that prefix their topic names.
    pub subject_prefix: String,
    /// Time limit of one HTTP request, in milliseconds.
    pub timeout_ms: u64,
}

impl Default for SchemaRegistryConfig {
    fn default() -> Self {
        Self {
            url: "http://localhost:8081".to_owned(),
            username: None,
            password: None,
            subject_prefix: String::new(),
            timeout_ms: 10_000,
        }
    }
}

/// An error answer of the registry: its HTTP status and JSON error body.
#[derive(Debug, thiserror::Error)]
#[error("HTTP {status}, error code {error_code}: {message}")]
pub struct RegistryResponseError {
    /// The HTTP status.
    pub status: u16,
    /// The registry's `error_code` (for example 40403, schema not found), 0 if none.
    pub error_code: u32,
    /// The registry's `message`, or the raw body.
    pub message: String,
}

/// No id in a cache slot.
const NONE: u64 = u64::MAX;

/// A caching client of the Confluent Schema Registry. Cheap to clone (clones share the cache).
#[derive(Debug, Clone)]
pub struct SchemaRegistryClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The HTTP client (connection pool).
    http: reqwest::Client,
    /// The registry's base URL, without a trailing slash.
    base_url: String,
    /// Basic authentication, if configured.
    auth: Option<(String, Option<String>)>,
    /// Subject prefix (see [`SchemaRegistryConfig::subject_prefix`]).
    subject_prefix: String,
    /// Every schema fetched or registered, by id.
    by_id: RwLock<HashMap<u32, Arc<WriterSchema>>>,
    /// Per topic index: the id to write records under ([`NONE`] until registered or looked up).
    writer_ids: [AtomicU64; Topic::ALL.len()],
    /// Per topic index: an id known to encode like the current schema, for the lock-free fast
    /// path check ([`NONE`] until one is seen).
    current_ids: [AtomicU64; Topic::ALL.len()],
    /// HTTP requests sent, for tests and metrics.
    requests: AtomicU64,
}

/// `GET /schemas/ids/{id}` answer.
#[derive(Deserialize)]
struct SchemaById {
    schema: String,
    #[serde(rename = "schemaType", default)]
    schema_type: Option<String>,
}

/// `POST /subjects/{subject}/versions` answer.
#[derive(Deserialize)]
struct Registered {
    id: u32,
}

/// `GET /subjects/{subject}/versions/latest` and `POST /subjects/{subject}` answer.
#[derive(Deserialize)]
struct SubjectVersion {
    id: u32,
    schema: String,
    #[serde(rename = "schemaType", default)]
    schema_type: Option<String>,
}

/// Error body of the registry.
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error_code: u32,
    #[serde(default)]
    message: String,
}

const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

impl SchemaRegistryClient {
    /// A client for the registry at `config.url`; sends nothing until asked.
    pub fn new(config: &SchemaRegistryConfig) -> Result<Self, CodecError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .build()
            .map_err(|e| CodecError::Registry {
                operation: "build the HTTP client",
                source: Box::new(e),
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base_url: config.url.trim_end_matches('/').to_owned(),
                auth: config
                    .username
                    .clone()
                    .map(|user| (user, config.password.clone())),
                subject_prefix: config.subject_prefix.clone(),
                by_id: RwLock::default(),
                writer_ids: std::array::from_fn(|_| AtomicU64::new(NONE)),
                current_ids: std::array::from_fn(|_| AtomicU64::new(NONE)),
                requests: AtomicU64::new(0),
            }),
        })
    }

    /// The subject of `topic`'s values.
    pub fn subject(&self, topic: Topic) -> String {
        format!("{}{}", self.inner.subject_prefix, topic.subject())
    }

    /// How many HTTP requests this client (and its clones) has sent.
    pub fn requests_sent(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// How many schemas are cached.
    pub fn cached_schemas(&self) -> usize {
        self.read_cache().len()
    }

    /// The schema with id `id`: from the cache, or fetched with `GET /schemas/ids/{id}` and
    /// cached. [`CodecError::UnknownSchema`] if the registry does not know the id.
    pub async fn fetch(&self, id: u32) -> Result<Arc<WriterSchema>, CodecError> {
        if let Ok(hit) = self.resolve(id) {
            return Ok(hit);
        }
        const OP: &str = "GET /schemas/ids/{id}";
        let url = format!("{}/schemas/ids/{id}", self.inner.base_url);
        let answer: SchemaById = match self.send(OP, self.inner.http.get(url)).await {
            Err(CodecError::Registry { source, .. }) if is_not_found(&*source) => {
                return Err(CodecError::UnknownSchema {
                    id,
                    reason: "the schema registry does not know it",
                });
            }
            other => other?,
        };
        check_avro(OP, answer.schema_type.as_deref())?;
        self.cache(OP, id, &answer.schema)
    }

    /// Registers `topic`'s current schema under its subject (`POST
    /// /subjects/{subject}/versions`; the registry checks compatibility with the versions
    /// already there) and remembers the id for writing. Returns the id. Only the first call per
    /// topic talks to the registry.
    pub async fn register(&self, topic: Topic) -> Result<u32, CodecError> {
        if let Ok(id) = self.writer_id(topic) {
            return Ok(id);
        }
        const OP: &str = "POST /subjects/{subject}/versions";
        let url = format!(
            "{}/subjects/{}/versions",
            self.inner.base_url,
            self.subject(topic)
        );
        let json = super::schema_json(topic);
        let answer: Registered = self.send(OP, self.post(url, json)).await?;
        self.cache(OP, answer.id, json)?;
        self.set_writer_id(topic, answer.id);
        Ok(answer.id)
    }

    /// Looks up the id of `topic`'s current schema under its subject without registering it
    /// (`POST /subjects/{subject}`) and remembers it for writing. [`CodecError::Unregistered`]
    /// if it is not registered.
    pub async fn lookup(&self, topic: Topic) -> Result<u32, CodecError> {
        if let Ok(id) = self.writer_id(topic) {
            return Ok(id);
        }
        const OP: &str = "POST /subjects/{subject}";
        let url = format!("{}/subjects/{}", self.inner.base_url, self.subject(topic));
        let json = super::schema_json(topic);
        let answer: SubjectVersion = match self.send(OP, self.post(url, json)).await {
            Err(CodecError::Registry { source, .. }) if is_not_found(&*source) => {
                return Err(CodecError::Unregistered { topic });
            }
            other => other?,
        };
        check_avro(OP, answer.schema_type.as_deref())?;
        self.cache(OP, answer.id, &answer.schema)?;
        self.set_writer_id(topic, answer.id);
        Ok(answer.id)
    }

    /// The latest schema registered under `topic`'s subject (`GET
    /// /subjects/{subject}/versions/latest`), cached by id. When it encodes like allot's
    /// current schema, its id also becomes the id to write under. Always asks the registry.
    pub async fn latest(&self, topic: Topic) -> Result<Arc<WriterSchema>, CodecError> {
        const OP: &str = "GET /subjects/{subject}/versions/latest";
        let url = format!(
            "{}/subjects/{}/versions/latest",
            self.inner.base_url,
            self.subject(topic)
        );
        let answer: SubjectVersion = match self.send(OP, self.inner.http.get(url)).await {
            Err(CodecError::Registry { source, .. }) if is_not_found(&*source) => {
                return Err(CodecError::Unregistered { topic });
            }
            other => other?,
        };
        check_avro(OP, answer.schema_type.as_deref())?;
        let writer = self.cache(OP, answer.id, &answer.schema)?;
        if writer.topic() == Some(topic) && writer.is_current() {
            self.set_writer_id(topic, answer.id);
        }
        Ok(writer)
    }

    fn post(&self, url: String, schema_json: &str) -> reqwest::RequestBuilder {
        #[derive(Serialize)]
        struct Body<'a> {
            schema: &'a str,
        }
        let body = serde_json::to_vec(&Body {
            schema: schema_json,
        })
        .expect("a string serialises");
        self.inner
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .body(body)
    }

    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        operation: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<T, CodecError> {
        let err = |source: Box<dyn std::error::Error + Send + Sync>| CodecError::Registry {
            operation,
            source,
        };
        let mut request = request.header(reqwest::header::ACCEPT, CONTENT_TYPE);
        if let Some((user, password)) = &self.inner.auth {
            request = request.basic_auth(user, password.as_ref());
        }
        self.inner.requests.fetch_add(1, Ordering::Relaxed);
        let response = request.send().await.map_err(|e| err(Box::new(e)))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| err(Box::new(e)))?;
        if !status.is_success() {
            let (error_code, message) = match serde_json::from_slice::<ErrorBody>(&body) {
                Ok(e) => (e.error_code, e.message),
                Err(_) => (0, String::from_utf8_lossy(&body).into_owned()),
            };
            return Err(err(Box::new(RegistryResponseError {
                status: status.as_u16(),
                error_code,
                message,
            })));
        }
        serde_json::from_slice(&body).map_err(|e| err(Box::new(e)))
    }

    fn cache(
        &self,
        operation: &'static str,
        id: u32,
        json: &str,
    ) -> Result<Arc<WriterSchema>, CodecError> {
        let writer = Arc::new(
            WriterSchema::parse(id, json).map_err(|e| CodecError::Registry {
                operation,
                source: Box::new(e),
            })?,
        );
        if let Some(topic) = writer.topic().filter(|_| writer.is_current()) {
            // Keep the first id seen: any of them is right, and a stable one keeps the lock-free
            // check hitting.
            let _ = self.inner.current_ids[topic.index()].compare_exchange(
                NONE,
                u64::from(id),
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
        let mut cache = self
            .inner
            .by_id
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(Arc::clone(cache.entry(id).or_insert(writer)))
    }

    fn set_writer_id(&self, topic: Topic, id: u32) {
        self.inner.writer_ids[topic.index()].store(u64::from(id), Ordering::Relaxed);
        self.inner.current_ids[topic.index()].store(u64::from(id), Ordering::Relaxed);
    }

    fn read_cache(&self) -> std::sync::RwLockReadGuard<'_, HashMap<u32, Arc<WriterSchema>>> {
        self.inner
            .by_id
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Whether the registry answered 404 (subject, version or schema not found).
fn is_not_found(source: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
    source
        .downcast_ref::<RegistryResponseError>()
        .is_some_and(|e| e.status == 404)
}

/// Refuses schemas of another type than Avro (the registry omits `schemaType` for Avro).
fn check_avro(operation: &'static str, schema_type: Option<&str>) -> Result<(), CodecError> {
    match schema_type {
        None | Some("AVRO") => Ok(()),
        Some(_) => Err(CodecError::Registry {
            operation,
            source: "the registry returned a schema that is not Avro".into(),
        }),
    }
}

impl SchemaResolver for SchemaRegistryClient {
    fn resolve(&self, id: u32) -> Result<Arc<WriterSchema>, CodecError> {
        self.read_cache()
            .get(&id)
            .cloned()
            .ok_or(CodecError::UnknownSchema {
                id,
                reason: "not in the schema registry client's cache: fetch it, then retry",
            })
    }

    fn writer_id(&self, topic: Topic) -> Result<u32, CodecError> {
        match self.inner.writer_ids[topic.index()].load(Ordering::Relaxed) {
            NONE => Err(CodecError::Unregistered { topic }),
            id => Ok(u32::try_from(id).expect("ids stored are u32")),
        }
    }

    fn is_current(&self, topic: Topic, id: u32) -> bool {
        self.inner.current_ids[topic.index()].load(Ordering::Relaxed) == u64::from(id)
    }
}

impl ConfluentCodec<SchemaRegistryClient> {
    /// Decodes like [`ConfluentCodec::decode`], fetching the message's schema from the
    /// registry first when it is not cached.
    pub async fn decode_fetching<R: Record>(&self, message: &[u8]) -> Result<R, CodecError> {
        match self.decode(message) {
            Err(CodecError::UnknownSchema { id, .. }) => {
                self.resolver().fetch(id).await?;
                self.decode(message)
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests;
