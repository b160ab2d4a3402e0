//! The real Prometheus (started by `deploy/local/prometheus.sh`) scrapes a `/metrics`
//! endpoint served by the http module, registered as a file_sd target at run time.

use std::time::Duration;

use allot_connectors::ConnectorMetrics;
use allot_connectors::http::{MetricsServer, MetricsServerConfig};
use allot_connectors::testkit::{self, ScrapeTarget};
use allot_schemas::{DeadLetterKind, Topic};
use prometheus::Registry;

const BOUND: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_metrics_endpoint() {
    let prometheus = testkit::ensure_prometheus();
    let registry = Registry::new();
    let metrics = ConnectorMetrics::register(&registry).unwrap();
    for _ in 0..3 {
        metrics.consumed(Topic::Orders);
    }
    metrics.dead_letter("allot.orders", DeadLetterKind::UnknownSchema);
    let server = MetricsServer::start(&MetricsServerConfig::ephemeral(), registry)
        .await
        .unwrap();
    let name = testkit::unique_name("prometheus_scrape");
    let target = ScrapeTarget::register(&name, server.local_addr());

    let consumed =
        format!(r#"allot_events_consumed_total{{job="allot",test="{name}",topic="allot.orders"}}"#);
    let took = testkit::wait_for_value(&prometheus, &consumed, 3.0, BOUND)
        .await
        .unwrap();
    eprintln!("first scrape seen through PromQL after {took:?}");
    testkit::wait_for_value(
        &prometheus,
        &format!(r#"allot_dead_letters_total{{test="{name}",kind="UNKNOWN_SCHEMA"}}"#),
        1.0,
        BOUND,
    )
    .await
    .unwrap();
    testkit::wait_for_value(&prometheus, &format!(r#"up{{test="{name}"}}"#), 1.0, BOUND)
        .await
        .unwrap();

    // the value follows the process: Prometheus keeps scraping
    for _ in 0..4 {
        metrics.consumed(Topic::Orders);
    }
    let took = testkit::wait_for_value(&prometheus, &consumed, 7.0, BOUND)
        .await
        .unwrap();
    eprintln!("update seen through PromQL after {took:?}");

    // after shutdown the target goes down
    server.shutdown().await.unwrap();
    testkit::wait_for_value(&prometheus, &format!(r#"up{{test="{name}"}}"#), 0.0, BOUND)
        .await
        .unwrap();
    drop(target);
}
