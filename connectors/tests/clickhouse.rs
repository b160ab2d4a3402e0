//! Integration tests of the ClickHouse connector against the real server started by
//! `deploy/local/clickhouse.sh` (Debian's 18.16), each in a database of its own.

use std::time::Instant;

use allot_connectors::clickhouse::{
    ClickHouseConfig, ClickHouseError, ClickHouseSink, DeadLetterRow, PosSalesLineRow, TABLES,
    client, create_database, create_tables,
};
use allot_connectors::samples::{sample, samples};
use allot_connectors::{ConnectorMetrics, ErrorAction, testkit};
use allot_schemas::{AnyRecord, DeadLetter, PosTransaction, Topic};

async fn count(client: &clickhouse::Client, sql: &str) -> u64 {
    client.query(sql).fetch_one::<u64>().await.unwrap()
}

async fn drop_database(config: &ClickHouseConfig) {
    let server = ClickHouseConfig {
        database: "default".into(),
        ..config.clone()
    };
    client(&server)
        .query(&format!("DROP DATABASE IF EXISTS {}", config.database))
        .execute()
        .await
        .unwrap();
}

fn pos_sales(n: usize) -> Vec<PosTransaction> {
    samples(Topic::PosSales, 1_000, n)
        .into_iter()
        .map(|r| match r {
            AnyRecord::PosSale(t) => t,
            _ => unreachable!(),
        })
        .collect()
}

#[tokio::test]
async fn rows_round_trip_and_a_replayed_batch_does_not_double_count() {
    let config = ClickHouseConfig {
        batch_rows: 64,
        ..testkit::clickhouse_config("clickhouse_round_trip")
    };
    create_database(&config).await.unwrap();
    let ch = client(&config);
    create_tables(&ch).await.unwrap();
    create_tables(&ch).await.unwrap(); // idempotent
    let metrics = ConnectorMetrics::unregistered();
    let mut sink = ClickHouseSink::new(&config, metrics.clone());

    let sales = pos_sales(200);
    let letters: Vec<DeadLetter> = samples(Topic::DeadLetters, 5, 30)
        .into_iter()
        .map(|r| match r {
            AnyRecord::DeadLetter(d) => d,
            _ => unreachable!(),
        })
        .collect();
    let mut expected: Vec<PosSalesLineRow> = sales
        .iter()
        .flat_map(PosSalesLineRow::from_transaction)
        .collect();
    let started = Instant::now();
    for t in &sales {
        assert!(sink.write(&AnyRecord::from(t.clone())).await.unwrap());
    }
    for d in &letters {
        assert!(sink.write(&AnyRecord::from(d.clone())).await.unwrap());
    }
    // a topic without a table is not taken
    assert!(!sink.write(&sample(Topic::Orders, 1)).await.unwrap());
    sink.flush().await.unwrap();
    let insert_time = started.elapsed();
    assert_eq!(sink.pending_rows(), 0);
    let lines = expected.len() as u64;
    assert_eq!(metrics.rows_inserted_total("pos_sales_lines"), lines);
    assert_eq!(
        metrics.rows_inserted_total("dead_letters"),
        letters.len() as u64
    );
    eprintln!(
        "{lines} pos_sales_lines rows + {} dead_letters rows inserted in {insert_time:?}",
        letters.len()
    );

    // every row comes back exactly as written
    let mut got: Vec<PosSalesLineRow> = ch
        .query("SELECT ?fields FROM pos_sales_lines")
        .fetch_all()
        .await
        .unwrap();
    let key = |r: &PosSalesLineRow| (r.event_id.clone(), r.line_no);
    got.sort_by_key(key);
    expected.sort_by_key(key);
    assert_eq!(got, expected);
    let mut got: Vec<DeadLetterRow> = ch
        .query("SELECT ?fields FROM dead_letters")
        .fetch_all()
        .await
        .unwrap();
    let mut want: Vec<DeadLetterRow> = letters.iter().map(DeadLetterRow::from).collect();
    got.sort_by_key(|r| r.event_id.clone());
    want.sort_by_key(|r| r.event_id.clone());
    assert_eq!(got, want);

    // replay the same records: the inserts happen (and are counted) but the table, read with
    // FINAL or after a merge, still holds each line once
    for t in &sales {
        sink.write_pos_sale(t).await.unwrap();
    }
    sink.flush().await.unwrap();
    assert_eq!(metrics.rows_inserted_total("pos_sales_lines"), 2 * lines);
    assert_eq!(
        count(&ch, "SELECT count() FROM pos_sales_lines FINAL").await,
        lines
    );
    ch.query("OPTIMIZE TABLE pos_sales_lines FINAL")
        .execute()
        .await
        .unwrap();
    assert_eq!(
        count(&ch, "SELECT count() FROM pos_sales_lines").await,
        lines
    );
    // an analyst's query works on the table as created
    let units: u64 = ch
        .query("SELECT toUInt64(sum(quantity)) FROM pos_sales_lines WHERE kind = 'SALE'")
        .fetch_one()
        .await
        .unwrap();
    let want_units: i64 = expected
        .iter()
        .filter(|r| r.kind == 1)
        .map(|r| i64::from(r.quantity))
        .sum();
    assert_eq!(units as i64, want_units);

    drop_database(&config).await;
}

#[tokio::test]
async fn a_server_refusal_is_a_stop_and_keeps_the_batch() {
    let config = ClickHouseConfig {
        batch_rows: 1_000,
        ..testkit::clickhouse_config("clickhouse_refusal")
    };
    create_database(&config).await.unwrap();
    // no tables created: the insert is refused
    let metrics = ConnectorMetrics::unregistered();
    let mut sink = ClickHouseSink::new(&config, metrics.clone());
    let sale = pos_sales(1).remove(0);
    sink.write_pos_sale(&sale).await.unwrap();
    let err = sink.flush().await.unwrap_err();
    assert!(
        matches!(
            err,
            ClickHouseError::Insert {
                table: "pos_sales_lines",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.action(), ErrorAction::Stop, "{err:?}");
    assert_eq!(sink.pending_rows(), sale.lines.len(), "the batch is kept");
    assert_eq!(metrics.rows_inserted_total("pos_sales_lines"), 0);
    // once the table exists the kept batch goes in
    create_tables(&client(&config)).await.unwrap();
    assert_eq!(sink.flush().await.unwrap(), sale.lines.len() as u64);
    assert_eq!(
        metrics.rows_inserted_total("pos_sales_lines"),
        sale.lines.len() as u64
    );
    assert_eq!(TABLES.len(), 2);
    drop_database(&config).await;
}

#[tokio::test]
async fn an_unreachable_server_is_a_retry() {
    let config = ClickHouseConfig {
        url: "http://127.0.0.1:1".into(),
        ..ClickHouseConfig::default()
    };
    let err = create_database(&config).await.unwrap_err();
    assert_eq!(err.action(), ErrorAction::Retry, "{err:?}");
}
