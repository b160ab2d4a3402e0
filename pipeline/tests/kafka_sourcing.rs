//! Through the real broker: orders in → `allot run` → decisions out, availability updated,
//! read back by confluent-kafka + fastavro. A ship-to-home order reserves at the DC and
//! stays reserved; a pickup that is not collected expires when event time passes its
//! window, a PICKUP_EXPIRED order event is published, and its stock comes back. The counts
//! come behind a backlog of other counts: the orders wait for them.
//!
//! Needs Kafka (started through deploy/local/kafka.sh) and `ALLOT_PYTHON` (see
//! `kafka_availability.rs`).

mod common;

use std::collections::BTreeMap;

use allot_connectors::ConnectorMetrics;
use allot_connectors::kafka::{KafkaSink, ensure_topics};
use allot_connectors::testkit;
use allot_schemas::*;
use common::count;
use serde_json::Value;

fn location(id: &str, kind: LocationKind, caps: &[Capability], groups: &[&str]) -> AnyRecord {
    common::location(id, T0 - 24 * HOUR, kind, caps, groups)
}

const HOUR: i64 = 3_600_000;
/// Counts of other skus written before the scenario's counts.
const FILLER: usize = 20_000;
/// 2026-01-05 08:00 UTC, a Monday.
const T0: i64 = 1_767_600_000_000;

fn order(id: &str, t: i64, fulfilment: FulfilmentType, sku: &str, qty: i32) -> AnyRecord {
    let pickup = fulfilment == FulfilmentType::PickupInStore;
    AnyRecord::Order(Order {
        event_id: format!("ev-{id}"),
        event_time: t,
        source: "web".into(),
        order_id: id.into(),
        channel: Channel::Web,
        customer_id: "cust-1".into(),
        fulfilment,
        destination: (!pickup).then(|| Address {
            postal_code: "69001".into(),
            city: "Lyon".into(),
            country: "FR".into(),
            latitude: 45.77,
            longitude: 4.83,
        }),
        pickup_location_id: pickup.then(|| "store-1".into()),
        requested_date: t + 48 * HOUR,
        slot: None,
        lines: vec![OrderLine {
            line_id: "1".into(),
            sku: sku.into(),
            quantity: qty,
            unit_price_cents: 1999,
            discount_cents: 0,
            promotion_ids: vec![],
        }],
        currency: "EUR".into(),
    })
}

fn scenario() -> Vec<AnyRecord> {
    vec![
        location("dc-1", LocationKind::Dc, &[Capability::Ship], &["ecom"]),
        location(
            "store-1",
            LocationKind::Store,
            &[Capability::Pickup],
            &["stores"],
        ),
        count("c1", T0, "dc-1", "sku-a", 10),
        count("c2", T0, "store-1", "sku-a", 4),
        order("o-ship", T0 + HOUR, FulfilmentType::ShipToHome, "sku-a", 3),
        order(
            "o-pick",
            T0 + HOUR,
            FulfilmentType::PickupInStore,
            "sku-a",
            2,
        ),
        // Four days later: the 72 h pickup window has passed.
        count("c3", T0 + 96 * HOUR, "dc-1", "sku-b", 1),
    ]
}

/// (on hand, reserved, first bucket's ATP) of `loc` in `channel`.
fn at(v: &Value, channel: &str, loc: &str) -> (i64, i64, i64) {
    let l = v["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel"] == channel)
        .and_then(|c| {
            c["locations"]
                .as_array()
                .unwrap()
                .iter()
                .find(|l| l["location_id"] == loc)
        })
        .unwrap_or_else(|| panic!("{loc} in {channel}: {v}"));
    (
        l["on_hand"].as_i64().unwrap(),
        l["reserved"].as_i64().unwrap(),
        l["buckets"][0]["atp"].as_i64().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_in_decisions_out_and_an_uncollected_pickup_expires() {
    let kafka = testkit::kafka_config("kafka_sourcing", 3);
    ensure_topics(&kafka, &Topic::ALL).await.expect("topics");
    let sink = KafkaSink::new(&kafka, ConnectorMetrics::unregistered()).unwrap();
    // Reference data and counts first, so the orders find the stock: the counts behind a
    // backlog of other skus' counts, which `allot run` reads before it decides the orders
    // (its orders topic, short, may be fetched first).
    let records = scenario();
    let mut first = records[..2].to_vec();
    first.extend(
        (0..FILLER).map(|n| count(&format!("f{n}"), T0, "dc-1", &format!("filler-{n}"), 1)),
    );
    first.extend_from_slice(&records[2..4]);
    common::load(kafka.clone(), first, 5_000, std::time::Duration::ZERO).await;
    for r in &records[4..] {
        sink.send_any(r).await.expect("produce");
    }
    let report = common::run_allot(&kafka);
    assert!(report.contains("sourcing: 2 orders"), "{report}");

    let decisions = common::read_topic(
        &kafka.bootstrap_servers,
        &kafka.topic_name(Topic::SourcingDecisions),
        "sourcing_decisions",
    );
    let by_order: BTreeMap<&str, &Value> = decisions
        .iter()
        .map(|m| (m["value"]["order_id"].as_str().unwrap(), &m["value"]))
        .collect();
    assert_eq!(decisions.len(), 2, "one decision per order: {decisions:?}");
    for (id, loc) in [("o-ship", "dc-1"), ("o-pick", "store-1")] {
        let line = &by_order[id]["lines"][0];
        assert_eq!(line["outcome"], "ALLOCATED", "{id}: {line}");
        assert_eq!(line["allocations"][0]["location_id"], loc, "{id}");
    }
    assert!(by_order["o-ship"]["cost"]["total_cents"].as_i64().unwrap() > 0);

    let events = common::read_topic(
        &kafka.bootstrap_servers,
        &kafka.topic_name(Topic::OrderEvents),
        "order_events",
    );
    let expired: Vec<&Value> = events
        .iter()
        .map(|m| &m["value"])
        .filter(|v| v["kind"] == "PICKUP_EXPIRED")
        .collect();
    assert_eq!(expired.len(), 1, "{events:?}");
    assert_eq!(expired[0]["order_id"], "o-pick");
    assert_eq!(expired[0]["lines"][0]["quantity"], 2);

    // The last availability of sku-a: 3 still reserved at the DC, none at the store.
    let messages = common::read_topic(
        &kafka.bootstrap_servers,
        &kafka.topic_name(Topic::Availability),
        "availability",
    );
    let last = messages
        .iter()
        .filter(|m| m["key"] == "sku-a")
        .max_by_key(|m| m["value"]["version"].as_i64())
        .map(|m| &m["value"])
        .expect("availability of sku-a");
    assert_eq!(at(last, "WEB", "dc-1"), (10, 3, 7));
    assert_eq!(at(last, "STORE", "store-1"), (4, 0, 4));
}
