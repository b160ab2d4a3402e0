//! Through the real broker: scripted input events → input topics → `allot run` →
//! availability and dead-letter topics, read back by confluent-kafka + fastavro (a client
//! no one here wrote). The scenario has receipts, sales, a transfer whose ETA slips, a count
//! that corrects drift, a return, and one invalid sale; the published ATP must equal the
//! expected values to the unit.
//!
//! Needs Kafka (started through deploy/local/kafka.sh) and `ALLOT_PYTHON` pointing at a
//! python with confluent-kafka and fastavro (`deploy/local/stack.sh install` makes one).

mod common;

use std::collections::BTreeMap;

use allot_connectors::ConnectorMetrics;
use allot_connectors::kafka::{KafkaSink, ensure_topics};
use allot_connectors::testkit;
use allot_schemas::*;
use common::count;
use serde_json::Value;

fn location(id: &str, groups: &[&str]) -> AnyRecord {
    let kind = if id.starts_with("dc") {
        LocationKind::Dc
    } else {
        LocationKind::Store
    };
    common::location(id, T0 - DAY, kind, &[Capability::Ship], groups)
}

const DAY: i64 = 86_400_000;
/// 2026-01-05 08:00 UTC.
const T0: i64 = 1_767_600_000_000;

fn sale(id: &str, t: i64, store: &str, sku: &str, qty: i32) -> AnyRecord {
    AnyRecord::PosSale(PosTransaction {
        event_id: id.into(),
        event_time: t,
        source: "pos".into(),
        store_id: store.into(),
        register_id: "r1".into(),
        transaction_id: id.into(),
        lines: vec![PosLine {
            sku: sku.into(),
            quantity: qty,
            kind: PosLineKind::Sale,
            unit_price_cents: 999,
        }],
        currency: "EUR".into(),
    })
}

fn transfer(
    id: &str,
    t: i64,
    status: ShipmentStatus,
    eta: i64,
    lines: &[(&str, i32)],
) -> AnyRecord {
    AnyRecord::Shipment(ShipmentEvent {
        event_id: id.into(),
        event_time: t,
        source: "wms".into(),
        shipment_id: "tr-1".into(),
        kind: ShipmentKind::Transfer,
        status,
        origin_location_id: Some("dc-1".into()),
        vendor_id: None,
        po_id: None,
        destination_location_id: "store-1".into(),
        expected_arrival: eta,
        lines: lines
            .iter()
            .map(|(s, q)| ShipmentLine {
                sku: s.to_string(),
                quantity: *q,
            })
            .collect(),
    })
}

/// The scripted day, in arrival order.
fn scenario() -> Vec<AnyRecord> {
    let h = 3_600_000;
    vec![
        location("dc-1", &["ecom"]),
        location("store-1", &["stores", "ecom"]),
        count("c1", T0, "dc-1", "sku-a", 100),
        count("c2", T0, "store-1", "sku-a", 10),
        count("c3", T0, "dc-1", "sku-b", 7),
        // A receipt at the store: +5 (10 → 15).
        AnyRecord::Receipt(Receipt {
            event_id: "rc1".into(),
            event_time: T0 + h,
            source: "wms".into(),
            receipt_id: "rc1".into(),
            location_id: "store-1".into(),
            shipment_id: None,
            po_id: None,
            lines: vec![ReceiptLine {
                sku: "sku-a".into(),
                quantity_received: 5,
                quantity_damaged: 0,
            }],
        }),
        // A sale: -3 (15 → 12).
        sale("s1", T0 + 2 * h, "store-1", "sku-a", 3),
        // A transfer of 20 from the DC, due in two days, departs (DC 100 → 80), then slips
        // to five days.
        transfer(
            "t1",
            T0 + 3 * h,
            ShipmentStatus::Created,
            T0 + 2 * DAY,
            &[("sku-a", 20)],
        ),
        transfer(
            "t2",
            T0 + 4 * h,
            ShipmentStatus::Departed,
            T0 + 2 * DAY,
            &[("sku-a", 20)],
        ),
        transfer(
            "t3",
            T0 + 5 * h,
            ShipmentStatus::EtaChanged,
            T0 + 5 * DAY,
            &[],
        ),
        // The shelf count finds 11, not 12: the count wins.
        count("c4", T0 + 6 * h, "store-1", "sku-a", 11),
        // A resellable return: +1 (11 → 12).
        AnyRecord::Return(ReturnEvent {
            event_id: "ret1".into(),
            event_time: T0 + 7 * h,
            source: "oms".into(),
            return_id: "ret1".into(),
            order_id: Some("o1".into()),
            customer_id: Some("cust-1".into()),
            location_id: "store-1".into(),
            channel: Channel::Web,
            lines: vec![ReturnLine {
                sku: "sku-a".into(),
                quantity: 1,
                condition: ReturnCondition::Resellable,
                disposition: Disposition::Restock,
                reason: None,
            }],
        }),
        // Invalid: a negative sale is dead-lettered, not applied.
        sale("s-bad", T0 + 8 * h, "store-1", "sku-a", -2),
        // A duplicate of the first sale changes nothing.
        sale("s1", T0 + 2 * h, "store-1", "sku-a", 3),
    ]
}

fn network(v: &Value, channel: &str) -> Vec<i64> {
    let ch = v["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel"] == channel)
        .unwrap();
    ch["network"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["atp"].as_i64().unwrap())
        .collect()
}

fn at(v: &Value, channel: &str, loc: &str) -> (i64, Vec<i64>) {
    let ch = v["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel"] == channel)
        .unwrap();
    let l = ch["locations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["location_id"] == loc)
        .unwrap();
    (
        l["on_hand"].as_i64().unwrap(),
        l["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["atp"].as_i64().unwrap())
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripted_day_through_the_broker_reads_back_exact_atp() {
    let kafka = testkit::kafka_config("kafka_availability", 3);
    ensure_topics(&kafka, &Topic::ALL).await.expect("topics");
    let sink = KafkaSink::new(&kafka, ConnectorMetrics::unregistered()).unwrap();
    for r in scenario() {
        sink.send_any(&r).await.expect("produce");
    }

    let report = common::run_allot(&kafka);
    assert!(report.contains("1 duplicates"), "{report}");

    // Availability: the last message per sku, as an independent client reads it.
    let messages = common::read_topic(
        &kafka.bootstrap_servers,
        &kafka.topic_name(Topic::Availability),
        "availability",
    );
    let mut last: BTreeMap<String, Value> = BTreeMap::new();
    for m in &messages {
        assert_eq!(m["key"], m["value"]["sku"], "keyed by sku");
        let v = m["value"].clone();
        if let Some(prev) = last.get(m["key"].as_str().unwrap()) {
            assert!(
                v["version"].as_i64() > prev["version"].as_i64(),
                "versions grow"
            );
        }
        last.insert(m["key"].as_str().unwrap().to_owned(), v);
    }
    let a = &last["sku-a"];
    // The store: counted 11, +1 returned; the DC: 100 - 20 departed; 20 in transit to the
    // store, due in five days (bucket days 0, 1, 3, 7, 14 for WEB).
    assert_eq!(at(a, "STORE", "store-1"), (12, vec![12]));
    assert_eq!(network(a, "STORE"), vec![12]);
    assert_eq!(at(a, "WEB", "dc-1"), (80, vec![80, 80, 80, 80, 80]));
    assert_eq!(at(a, "WEB", "store-1"), (12, vec![12, 12, 12, 32, 32]));
    assert_eq!(network(a, "WEB"), vec![92, 92, 92, 112, 112]);
    // No safety-stock policy is loaded here. The marketplace counts in-transit supply but
    // looks only three days ahead, so the transfer due in five days is not in it.
    assert_eq!(network(a, "MARKETPLACE"), vec![92, 92, 92]);
    assert_eq!(network(&last["sku-b"], "WEB"), vec![7, 7, 7, 7, 7]);

    // The invalid sale is on the dead-letter topic with the reason.
    let letters = common::read_topic(
        &kafka.bootstrap_servers,
        &kafka.topic_name(Topic::DeadLetters),
        "dead_letters",
    );
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = &letters[0]["value"];
    assert_eq!(letter["error_kind"], "VALIDATION");
    assert_eq!(letter["topic"], kafka.topic_name(Topic::PosSales));
    assert!(
        letter["reason"]
            .as_str()
            .unwrap()
            .contains("must be positive"),
        "{letter}"
    );
}
