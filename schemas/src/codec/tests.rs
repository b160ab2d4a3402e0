//! Tests of the plain Avro codecs: the fast path against the generic reference for every topic,
//! and the Rust types against the `.avsc` files in both directions.

use std::collections::HashMap;

use apache_avro::schema::{Name, ResolvedSchema};
use apache_avro::types::Value;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestCaseResult;

use super::*;
use crate::testkit;
use crate::types::*;

/// Encodes `record` both ways and decodes each result the other way.
fn check_round_trip<R: Record>(record: &R) -> TestCaseResult {
    let mut fast = vec![0xAA];
    encode(record, &mut fast).map_err(fail)?;
    prop_assert_eq!(fast.remove(0), 0xAA, "encode appends");
    let mut generic = Vec::new();
    encode_generic(record, &mut generic).map_err(fail)?;
    prop_assert_eq!(&fast, &generic, "fast and generic encodings differ");

    prop_assert_eq!(&decode::<R>(&generic).map_err(fail)?, record);

    // serde_avro_fast, a third implementation, agrees too.
    let schema = serde_avro_fast_schema(R::TOPIC);
    let third = serde_avro_fast::to_datum_vec(
        record,
        &mut serde_avro_fast::ser::SerializerConfig::new(schema),
    )
    .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&third, &fast, "serde_avro_fast encodes differently");
    let back: R = serde_avro_fast::from_datum_slice(&fast, schema)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&back, record);
    prop_assert_eq!(&decode_generic::<R>(&fast).map_err(fail)?, record);
    let any = decode_any(R::TOPIC, &fast).map_err(fail)?;
    let mut again = Vec::new();
    encode_any(&any, &mut again).map_err(fail)?;
    prop_assert_eq!(&again, &fast);
    Ok(())
}

/// The current schema of `topic` compiled for serde_avro_fast.
fn serde_avro_fast_schema(topic: Topic) -> &'static serde_avro_fast::Schema {
    static SCHEMAS: std::sync::OnceLock<Vec<serde_avro_fast::Schema>> = std::sync::OnceLock::new();
    &SCHEMAS.get_or_init(|| {
        Topic::ALL
            .iter()
            .map(|t| schema_json(*t).parse().unwrap())
            .collect()
    })[topic.index()]
}

fn fail(e: CodecError) -> TestCaseError {
    TestCaseError::fail(format!("{e}: {:?}", std::error::Error::source(&e)))
}

/// Named types of `topic`'s schema, for following references.
fn names(topic: Topic) -> HashMap<Name, Schema> {
    ResolvedSchema::try_from(schema(topic))
        .unwrap()
        .get_names()
        .iter()
        .map(|(name, schema)| (name.clone(), (*schema).clone()))
        .collect()
}

/// The Rust value of `record`, as serde sees it, has exactly the schema's shape: the same
/// field names in the same order, and values of the schema's types.
fn check_value_fits_schema<R: Record>(record: &R) -> TestCaseResult {
    let value = apache_avro::to_value(record).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let names = names(R::TOPIC);
    fits(&value, schema(R::TOPIC), &names, R::TOPIC.dir().to_owned()).map_err(TestCaseError::fail)
}

fn fits(
    value: &Value,
    schema: &Schema,
    names: &HashMap<Name, Schema>,
    path: String,
) -> Result<(), String> {
    let mismatch = || {
        Err(format!(
            "{path}: the Rust value {value:?} does not fit {schema:?}"
        ))
    };
    match (schema, value) {
        (Schema::Ref { name }, _) => fits(value, &names[name], names, path),
        (Schema::Record(record), Value::Record(fields)) => {
            let expected: Vec<&str> = record.fields.iter().map(|f| f.name.as_str()).collect();
            let got: Vec<&str> = fields.iter().map(|(name, _)| name.as_str()).collect();
            if expected != got {
                return Err(format!(
                    "{path}: the Rust type has fields {got:?}, the schema {expected:?}"
                ));
            }
            for (field, (name, value)) in record.fields.iter().zip(fields) {
                fits(value, &field.schema, names, format!("{path}.{name}"))?;
            }
            Ok(())
        }
        (Schema::Union(union), _) => {
            // A Rust `Option` is `null` or the value itself; it must fit exactly one branch.
            let inner = match value {
                Value::Union(_, inner) => inner,
                other => other,
            };
            let fitting = union
                .variants()
                .iter()
                .filter(|branch| fits(inner, branch, names, path.clone()).is_ok())
                .count();
            if fitting == 1 { Ok(()) } else { mismatch() }
        }
        (Schema::Enum(e), Value::String(symbol) | Value::Enum(_, symbol)) => {
            if e.symbols.contains(symbol) {
                Ok(())
            } else {
                Err(format!(
                    "{path}: the Rust variant {symbol} is not a symbol of {:?}",
                    e.symbols
                ))
            }
        }
        (Schema::Array(array), Value::Array(items)) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| fits(item, &array.items, names, format!("{path}[{i}]"))),
        (Schema::Null, Value::Null)
        | (Schema::Boolean, Value::Boolean(_))
        | (Schema::Int, Value::Int(_))
        | (Schema::Long | Schema::TimestampMillis, Value::Long(_) | Value::TimestampMillis(_))
        | (Schema::Double, Value::Double(_))
        | (Schema::String, Value::String(_))
        | (Schema::Bytes, Value::Bytes(_)) => Ok(()),
        _ => mismatch(),
    }
}

/// Random values of any schema allot uses, built from the schema alone.
fn value_of(schema: &Schema, names: &HashMap<Name, Schema>) -> BoxedStrategy<Value> {
    match schema {
        Schema::Ref { name } => value_of(&names[name], names),
        Schema::Null => Just(Value::Null).boxed(),
        Schema::Boolean => any::<bool>().prop_map(Value::Boolean).boxed(),
        Schema::Int => any::<i32>().prop_map(Value::Int).boxed(),
        Schema::Long => any::<i64>().prop_map(Value::Long).boxed(),
        Schema::TimestampMillis => any::<i64>().prop_map(Value::TimestampMillis).boxed(),
        Schema::Double => testkit::finite_f64().prop_map(Value::Double).boxed(),
        Schema::String => "\\PC{0,6}".prop_map(Value::String).boxed(),
        Schema::Bytes => vec(any::<u8>(), 0..6).prop_map(Value::Bytes).boxed(),
        Schema::Enum(e) => {
            let symbols = e.symbols.clone();
            (0..symbols.len())
                .prop_map(move |i| Value::Enum(i as u32, symbols[i].clone()))
                .boxed()
        }
        Schema::Array(array) => vec(value_of(&array.items, names), 0..3)
            .prop_map(Value::Array)
            .boxed(),
        Schema::Union(union) => {
            let branches: Vec<_> = union
                .variants()
                .iter()
                .zip(0u32..)
                .map(|(branch, i)| {
                    value_of(branch, names)
                        .prop_map(move |v| Value::Union(i, Box::new(v)))
                        .boxed()
                })
                .collect();
            proptest::strategy::Union::new(branches).boxed()
        }
        Schema::Record(record) => {
            let fields: Vec<_> = record
                .fields
                .iter()
                .map(|field| {
                    let name = field.name.clone();
                    value_of(&field.schema, names)
                        .prop_map(move |v| (name.clone(), v))
                        .boxed()
                })
                .collect();
            fields.prop_map(Value::Record).boxed()
        }
        other => panic!("allot's schemas do not use {other:?}; teach this test about it"),
    }
}

/// Any datum the schema allows decodes into the Rust type and encodes back to the same bytes:
/// the type can represent everything the schema can (every enum symbol, union branch, value).
fn check_schema_data_fits_type<R: Record>(value: &Value) -> TestCaseResult {
    let schema = schema(R::TOPIC);
    let writer = apache_avro::writer::datum::GenericDatumWriter::builder(schema)
        .build()
        .unwrap();
    let mut bytes = Vec::new();
    writer
        .write_value_ref(&mut bytes, value)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let record: R = decode(&bytes).map_err(fail)?;
    let mut again = Vec::new();
    encode(&record, &mut again).map_err(fail)?;
    prop_assert_eq!(again, bytes);
    Ok(())
}

/// Decoding `record`'s bytes into `before` (another record of the topic, whose strings and
/// vectors get reused) gives `record`, directly and through the Confluent codec's slots.
fn check_decode_into<R: Record>(record: &R, before: R) -> TestCaseResult
where
    AnyRecord: From<R>,
{
    let mut body = Vec::new();
    encode(record, &mut body).map_err(fail)?;
    let mut into = before.clone();
    decode_into(&body, &mut into).map_err(fail)?;
    prop_assert_eq!(&into, record);

    let codec = ConfluentCodec::new(StaticResolver::new());
    let mut framed = Vec::new();
    codec.encode(record, &mut framed).map_err(fail)?;
    let mut slots = RecordSlots::default();
    // Empty slot, a slot holding another record of the topic, a slot holding the record.
    for _ in 0..3 {
        let got = codec
            .decode_slot(R::TOPIC, &framed, &mut slots)
            .map_err(fail)?;
        prop_assert_eq!(got, &AnyRecord::from(record.clone()));
        let mut other = Vec::new();
        codec.encode(&before, &mut other).map_err(fail)?;
        codec
            .decode_slot(R::TOPIC, &other, &mut slots)
            .map_err(fail)?;
    }
    // A record of another topic is replaced.
    let mut any = AnyRecord::DeadLetter(testkit::sample());
    if R::TOPIC != Topic::DeadLetters {
        decode_any_into(R::TOPIC, &body, &mut any).map_err(fail)?;
        prop_assert_eq!(any, AnyRecord::from(record.clone()));
    }
    // A truncated body is refused and does not poison the slot.
    if !framed.is_empty() {
        let cut = &framed[..framed.len() - 1];
        prop_assert!(codec.decode_slot(R::TOPIC, cut, &mut slots).is_err());
        let got = codec
            .decode_slot(R::TOPIC, &framed, &mut slots)
            .map_err(fail)?;
        prop_assert_eq!(got, &AnyRecord::from(record.clone()));
    }
    Ok(())
}

macro_rules! per_topic {
    ($($test:ident: $ty:ty,)*) => {
        mod fast_path_matches_generic_path {
            use super::*;
            proptest! {
                $(
                    #[test]
                    fn $test(record in any::<$ty>()) {
                        check_round_trip(&record)?;
                    }
                )*
            }
        }

        mod decode_into_equals_decode {
            use super::*;
            proptest! {
                $(
                    #[test]
                    fn $test(record in any::<$ty>(), before in any::<$ty>()) {
                        check_decode_into(&record, before)?;
                    }
                )*
            }
        }

        mod types_fit_schemas {
            use super::*;
            proptest! {
                $(
                    #[test]
                    fn $test(record in any::<$ty>()) {
                        check_value_fits_schema(&record)?;
                    }
                )*
            }
        }

        mod schema_data_fits_types {
            use super::*;
            $(
                #[test]
                fn $test() {
                    let topic = <$ty as Record>::TOPIC;
                    let names = names(topic);
                    proptest!(|(value in value_of(schema(topic), &names))| {
                        check_schema_data_fits_type::<$ty>(&value)?;
                    });
                }
            )*
        }

        #[test]
        fn every_topic_is_covered() {
            let covered = [$(<$ty as Record>::TOPIC),*];
            assert_eq!(covered, Topic::ALL);
        }
    };
}

per_topic! {
    pos_sales: PosTransaction,
    receipts: Receipt,
    shipments: ShipmentEvent,
    purchase_orders: PurchaseOrder,
    inventory_adjustments: InventoryAdjustment,
    orders: Order,
    order_events: OrderEvent,
    returns: ReturnEvent,
    locations: Location,
    safety_stock_policies: SafetyStockPolicy,
    sourcing_rules: SourcingRule,
    price_book: PriceBookEntry,
    availability: Availability,
    sourcing_decisions: SourcingDecision,
    disruptions: Disruption,
    dead_letters: DeadLetter,
}

fn check_bytes<R: Record>(record: &R, expected: &[u8]) {
    let mut fast = Vec::new();
    encode(record, &mut fast).unwrap();
    assert_eq!(fast, expected, "fast path");
    let mut generic = Vec::new();
    encode_generic(record, &mut generic).unwrap();
    assert_eq!(generic, expected, "generic path");
    assert_eq!(&decode::<R>(expected).unwrap(), record);
}

#[test]
fn the_encoding_follows_the_avro_spec_byte_for_byte() {
    // Zigzag varints, union branch indexes, enum indexes, timestamp-millis as long.
    check_bytes(
        &SafetyStockPolicy {
            event_id: "e".into(),
            event_time: -1,
            source: "s".into(),
            policy_id: "p".into(),
            sku: None,
            location_id: Some("é".into()),
            channel: Some(Channel::Store),
            safety_stock_units: 64,
            active: true,
        },
        &[
            2, b'e', // event_id
            1,    // event_time -1
            2, b's', 2, b'p', // source, policy_id
            0,    // sku: branch 0 (null)
            2, 4, 0xC3, 0xA9, // location_id: branch 1, 2 bytes of UTF-8
            2, 6, // channel: branch 1, symbol 3 (STORE)
            0x80, 1, // 64 zigzag = 128
            1, // true
        ],
    );
    // Arrays as one block then an empty block; bytes length-prefixed; unions of bytes and int.
    check_bytes(
        &DeadLetter {
            event_id: String::new(),
            event_time: 1_000,
            source: String::new(),
            topic: "t".into(),
            partition: -1,
            offset: 0,
            key: None,
            payload: serde_bytes::ByteBuf::from(vec![0, 255]),
            error_kind: DeadLetterKind::UnknownReference,
            reason: String::new(),
            schema_id: Some(-65),
        },
        &[
            0, 0xD0, 0x0F, 0, // event_id "", event_time 1000, source ""
            2, b't', 1, 0, // topic, partition -1, offset 0
            0, 4, 0, 255, // key null, payload [0, 255]
            6, 0, // UNKNOWN_REFERENCE (3), reason ""
            2, 0x81, 1, // schema_id: branch 1, -65
        ],
    );
    check_bytes(
        &PurchaseOrder {
            event_id: String::new(),
            event_time: 0,
            source: String::new(),
            po_id: String::new(),
            vendor_id: String::new(),
            destination_location_id: String::new(),
            status: PurchaseOrderStatus::Closed,
            expected_date: 0,
            lines: vec![
                PurchaseOrderLine {
                    sku: "a".into(),
                    quantity_ordered: 1,
                },
                PurchaseOrderLine {
                    sku: "b".into(),
                    quantity_ordered: -2,
                },
            ],
        },
        &[0, 0, 0, 0, 0, 0, 6, 0, 4, 2, b'a', 2, 2, b'b', 3, 0],
    );
}

#[test]
fn decode_refuses_truncated_and_padded_bodies() {
    for topic in Topic::ALL {
        let record = testkit::sample_any(topic);
        let mut body = Vec::new();
        encode_any(&record, &mut body).unwrap();
        for len in 0..body.len() {
            assert!(
                matches!(
                    decode_any(topic, &body[..len]),
                    Err(CodecError::Decode { .. })
                ),
                "{topic}: a body cut at {len} of {} bytes decoded",
                body.len()
            );
        }
        body.push(0);
        assert!(
            matches!(decode_any(topic, &body), Err(CodecError::Decode { .. })),
            "{topic}"
        );
    }
}

#[test]
fn decoding_the_other_path_refuses_padded_bodies_too() {
    let record: Order = testkit::sample();
    let mut body = Vec::new();
    encode(&record, &mut body).unwrap();
    body.push(0);
    assert!(matches!(
        decode_generic::<Order>(&body),
        Err(CodecError::Decode { .. })
    ));
}

proptest! {
    /// Garbage never panics either decoder and never decodes differently on the two paths.
    #[test]
    fn garbage_is_refused_or_decoded_alike(topic in proptest::sample::select(&Topic::ALL[..]), bytes in vec(any::<u8>(), 0..64)) {
        struct Both<'a>(&'a [u8]);
        impl crate::any::RecordBuilder for Both<'_> {
            type Error = String;
            fn build<R: Record>(self) -> Result<R, String> {
                match (decode::<R>(self.0), decode_generic::<R>(self.0)) {
                    (Ok(a), Ok(b)) if a == b => Ok(a),
                    (Err(_), Err(_)) => Err("refused".into()),
                    (a, b) => Err(format!("fast path {a:?}, generic path {b:?}")),
                }
            }
        }
        match AnyRecord::build(topic, Both(&bytes)) {
            Ok(_) => {}
            Err(e) => prop_assert_eq!(e, "refused"),
        }
    }
}

#[test]
fn schema_versions_and_current_version_agree() {
    for topic in Topic::ALL {
        let versions = schema_versions(topic);
        assert!(!versions.is_empty());
        assert_eq!(current_version(topic) as usize, versions.len());
        assert_eq!(schema_json(topic), *versions.last().unwrap());
        assert_eq!(
            schema(topic).canonical_form(),
            current_canonical_form(topic)
        );
    }
}

#[test]
fn encode_appends_after_what_the_buffer_holds() {
    let record: Receipt = testkit::sample();
    let mut out = b"prefix".to_vec();
    encode(&record, &mut out).unwrap();
    let mut alone = Vec::new();
    encode(&record, &mut alone).unwrap();
    assert_eq!(&out[..6], b"prefix");
    assert_eq!(&out[6..], &alone[..]);
}
