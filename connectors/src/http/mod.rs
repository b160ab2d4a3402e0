//! The HTTP endpoints operators and Prometheus use: `GET /metrics` (the Prometheus text
//! format of a [`Registry`]), `GET /health` (liveness: 200 and a small JSON body while the
//! process serves), `GET /ready` (readiness: 200 once the instance holds and has restored its
//! partitions, see [`readiness`]), and the availability routes for storefronts
//! ([`availability`]).
//! [`MetricsServer`] runs them on a given or ephemeral port and shuts down gracefully.

pub mod availability;
pub mod readiness;

pub use availability::{AvailabilityLookup, availability_router};
pub use readiness::{Phase, Readiness, readiness_router};

use std::net::SocketAddr;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus::{Encoder, Registry, TextEncoder};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::ErrorAction;

/// Where the metrics endpoint listens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsServerConfig {
    /// `ip:port` to listen on; port 0 picks a free one (see [`MetricsServer::local_addr`]).
    /// The default matches the target `deploy/local/prometheus.sh` scrapes.
    #[serde(default = "MetricsServerConfig::default_listen_addr")]
    pub listen_addr: SocketAddr,
}

impl Default for MetricsServerConfig {
    fn default() -> Self {
        Self {
            listen_addr: Self::default_listen_addr(),
        }
    }
}

impl MetricsServerConfig {
    fn default_listen_addr() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 9464))
    }

    /// Listen on a free port of 127.0.0.1 (tests).
    pub fn ephemeral() -> Self {
        Self {
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }
}

/// A failure of the HTTP server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The listen address could not be bound (in use, not a local address, no permission).
    #[error("failed to listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the OS reported.
        #[source]
        source: std::io::Error,
    },
    /// The server stopped with an error.
    #[error("the metrics server failed")]
    Serve {
        /// What failed.
        #[source]
        source: std::io::Error,
    },
}

impl HttpError {
    /// Neither a taken port nor a failed server gets better by retrying at once: stop and
    /// report.
    pub fn action(&self) -> ErrorAction {
        ErrorAction::Stop
    }
}

/// The routes, for embedding in a larger server: `/metrics` and `/health`.
pub fn router(registry: Registry) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .with_state(registry)
}

async fn metrics(State(registry): State<Registry>) -> Response {
    let encoder = TextEncoder::new();
    let mut body = Vec::with_capacity(4096);
    match encoder.encode(&registry.gather(), &mut body) {
        Ok(()) => (
            [(header::CONTENT_TYPE, encoder.format_type().to_owned())],
            body,
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to encode metrics: {e}"),
        )
            .into_response(),
    }
}

async fn health() -> impl IntoResponse {
    axum::Json(serde_json::json!({
        "status": "ok",
        "service": "allot",
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

/// A running `/metrics` + `/health` server.
#[derive(Debug)]
pub struct MetricsServer {
    local_addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl MetricsServer {
    /// Binds `config.listen_addr` and serves `registry` on a tokio task.
    pub async fn start(
        config: &MetricsServerConfig,
        registry: Registry,
    ) -> Result<Self, HttpError> {
        Self::start_router(config, router(registry)).await
    }

    /// Binds `config.listen_addr` and serves `routes` (for example [`router`] merged with
    /// [`availability_router`]) on a tokio task.
    pub async fn start_router(
        config: &MetricsServerConfig,
        routes: Router,
    ) -> Result<Self, HttpError> {
        let listener = tokio::net::TcpListener::bind(config.listen_addr)
            .await
            .map_err(|source| HttpError::Bind {
                addr: config.listen_addr,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| HttpError::Bind {
            addr: config.listen_addr,
            source,
        })?;
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, routes)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
        });
        tracing::info!(%local_addr, "serving /metrics and /health");
        Ok(Self {
            local_addr,
            shutdown: Some(tx),
            task,
        })
    }

    /// The address actually bound (the port picked when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting connections, lets requests in flight finish, and waits for the server
    /// task to end.
    pub async fn shutdown(mut self) -> Result<(), HttpError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match (&mut self.task).await {
            Ok(result) => result.map_err(|source| HttpError::Serve { source }),
            Err(join) => Err(HttpError::Serve {
                source: std::io::Error::other(join),
            }),
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        // a server dropped without `shutdown` stops too, without waiting
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::ConnectorMetrics;
    use allot_schemas::Topic;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A minimal HTTP/1.1 GET over a raw socket: status code and body.
    async fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).await.unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        let status = head[9..12].parse().unwrap();
        (status, head.to_owned(), body.to_owned())
    }

    #[tokio::test]
    async fn serves_metrics_and_health_then_shuts_down() {
        let registry = Registry::new();
        let m = ConnectorMetrics::register(&registry).unwrap();
        m.consumed(Topic::Orders);
        m.consumed(Topic::Orders);
        let server = MetricsServer::start(&MetricsServerConfig::ephemeral(), registry)
            .await
            .unwrap();
        let addr = server.local_addr();
        assert_ne!(addr.port(), 0);

        let (status, head, body) = get(addr, "/metrics").await;
        assert_eq!(status, 200);
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: text/plain; version=0.0.4"),
            "{head}"
        );
        assert!(
            body.lines()
                .any(|l| l == r#"allot_events_consumed_total{topic="allot.orders"} 2"#),
            "{body}"
        );
        let (status, _, body) = get(addr, "/health").await;
        assert_eq!(status, 200);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["status"], "ok");
        assert_eq!(get(addr, "/nope").await.0, 404);

        server.shutdown().await.unwrap();
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "still listening"
        );
    }

    #[tokio::test]
    async fn a_taken_port_is_a_bind_error() {
        let first = MetricsServer::start(&MetricsServerConfig::ephemeral(), Registry::new())
            .await
            .unwrap();
        let taken = MetricsServerConfig {
            listen_addr: first.local_addr(),
        };
        let err = MetricsServer::start(&taken, Registry::new())
            .await
            .unwrap_err();
        assert!(matches!(err, HttpError::Bind { addr, .. } if addr == first.local_addr()));
        assert_eq!(err.action(), ErrorAction::Stop);
        first.shutdown().await.unwrap();
    }

    struct Fixed(std::collections::HashMap<String, allot_schemas::Availability>);
    impl AvailabilityLookup for Fixed {
        fn get(&self, sku: &str) -> Option<allot_schemas::Availability> {
            self.0.get(sku).cloned()
        }
    }

    fn availability(sku: &str) -> allot_schemas::Availability {
        use allot_schemas::{AtpBucket, ChannelAvailability, LocationAvailability};
        let loc = |id: &str, atp| LocationAvailability {
            location_id: id.into(),
            on_hand: atp,
            reserved: 0,
            safety_stock: 0,
            buckets: vec![AtpBucket { until: 10, atp }],
        };
        let channel = |c, atp| ChannelAvailability {
            channel: c,
            network: vec![AtpBucket { until: 10, atp }],
            locations: vec![loc("dc-1", atp - 1), loc("store-1", 1)],
        };
        allot_schemas::Availability {
            event_id: format!("availability/{sku}/3"),
            event_time: 5,
            source: "allot".into(),
            sku: sku.into(),
            version: 3,
            channels: vec![
                channel(allot_schemas::Channel::Web, 7),
                channel(allot_schemas::Channel::Store, 2),
            ],
        }
    }

    #[tokio::test]
    async fn serves_availability_one_and_batch_with_filters() {
        let view = Fixed(
            ["a", "b"]
                .into_iter()
                .map(|s| (s.to_owned(), availability(s)))
                .collect(),
        );
        let routes = router(Registry::new()).merge(availability_router(std::sync::Arc::new(view)));
        let server = MetricsServer::start_router(&MetricsServerConfig::ephemeral(), routes)
            .await
            .unwrap();
        let addr = server.local_addr();
        let json = |body: &str| serde_json::from_str::<serde_json::Value>(body).unwrap();

        let (status, _, body) = get(addr, "/availability/a").await;
        assert_eq!(status, 200);
        let a = json(&body);
        assert_eq!(a["sku"], "a");
        assert_eq!(a["version"], 3);
        assert_eq!(a["channels"].as_array().unwrap().len(), 2);

        let (_, _, body) = get(addr, "/availability/a?channel=web&location=dc-1").await;
        let a = json(&body);
        assert_eq!(a["channels"].as_array().unwrap().len(), 1);
        assert_eq!(a["channels"][0]["channel"], "WEB");
        assert_eq!(a["channels"][0]["network"][0]["atp"], 7);
        assert_eq!(a["channels"][0]["locations"].as_array().unwrap().len(), 1);
        assert_eq!(a["channels"][0]["locations"][0]["location_id"], "dc-1");

        let (status, _, body) = get(addr, "/availability/zzz").await;
        assert_eq!(status, 404);
        assert!(body.contains("zzz"), "{body}");
        let (status, _, body) = get(addr, "/availability/a?channel=fax").await;
        assert_eq!(status, 400);
        assert!(body.contains("WEB"), "{body}");

        let (status, _, body) = get(addr, "/availability?skus=a,zzz,b&channel=STORE").await;
        assert_eq!(status, 200);
        let batch = json(&body);
        assert_eq!(batch["availability"].as_array().unwrap().len(), 2);
        assert_eq!(batch["availability"][1]["sku"], "b");
        assert_eq!(batch["availability"][1]["channels"][0]["channel"], "STORE");
        assert_eq!(batch["unknown"], serde_json::json!(["zzz"]));
        assert_eq!(get(addr, "/availability").await.0, 400);
        // The metrics stay on the same server.
        assert_eq!(get(addr, "/metrics").await.0, 200);
        server.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn ready_is_503_with_a_reason_until_restored() {
        let readiness = std::sync::Arc::new(Readiness::new());
        let routes = router(Registry::new()).merge(readiness_router(readiness.clone()));
        let server = MetricsServer::start_router(&MetricsServerConfig::ephemeral(), routes)
            .await
            .unwrap();
        let addr = server.local_addr();
        let json = |body: &str| serde_json::from_str::<serde_json::Value>(body).unwrap();
        let (status, _, body) = get(addr, "/ready").await;
        assert_eq!(status, 503);
        assert_eq!(json(&body)["phase"], "starting");
        readiness.assigned(2);
        readiness.restored();
        let (status, _, body) = get(addr, "/ready").await;
        assert_eq!(status, 200);
        assert_eq!(json(&body)["partitions"], 2);
        readiness.rebalancing();
        assert_eq!(get(addr, "/ready").await.0, 503);
        readiness.shutting_down();
        let (status, _, body) = get(addr, "/ready").await;
        assert_eq!(status, 503);
        assert_eq!(json(&body)["phase"], "shutting_down");
        // Liveness is not readiness.
        assert_eq!(get(addr, "/health").await.0, 200);
        server.shutdown().await.unwrap();
    }

    #[test]
    fn config_default_matches_the_local_prometheus_target() {
        let c: MetricsServerConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c.listen_addr.to_string(), "127.0.0.1:9464");
        assert!(serde_json::from_str::<MetricsServerConfig>(r#"{"listen": "x"}"#).is_err());
    }
}
