//! Test support for every crate: proptest strategies for all record types (`Arbitrary` for the
//! sixteen top-level types, so `any::<Order>()` works) and one deterministic, hand-written
//! sample record per topic ([`sample`], [`sample_any`]) with non-trivial values (unions set and
//! null, several lines, bytes, negative numbers, unicode).
//!
//! Enabled in this crate's tests and, for other crates, by the `testkit` cargo feature.
//!
//! Generated values stay inside what every Avro implementation represents losslessly:
//! timestamps between 1900 and 2100 (Python's `datetime` covers years 1 to 9999) and finite
//! doubles.

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use serde_bytes::ByteBuf;

use crate::any::AnyRecord;
use crate::topic::{Record, Topic};
use crate::types::*;

/// Earliest generated timestamp: 1900-01-01T00:00:00Z.
pub const MIN_TIME: EpochMillis = -2_208_988_800_000;
/// Latest generated timestamp: 2100-01-01T00:00:00Z.
pub const MAX_TIME: EpochMillis = 4_102_444_800_000;

/// Timestamps (`timestamp-millis`) between 1900 and 2100, negative ones included.
pub fn timestamp() -> impl Strategy<Value = EpochMillis> + Clone {
    MIN_TIME..=MAX_TIME
}

/// Ids and free text: mostly ASCII ids, sometimes arbitrary printable unicode, sometimes empty.
pub fn text() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        6 => "[a-z0-9-]{1,16}",
        3 => "\\PC{0,12}",
        1 => Just(String::new()),
    ]
}

/// Any finite double (normal, subnormal, zero, either sign).
pub fn finite_f64() -> impl Strategy<Value = f64> + Clone {
    prop::num::f64::NORMAL | prop::num::f64::SUBNORMAL | prop::num::f64::ZERO
}

/// Short arrays: the sizes records have in practice, empty included.
fn few<S: Strategy>(s: S) -> impl Strategy<Value = Vec<S::Value>> {
    vec(s, 0..4)
}

/// The three envelope fields every record starts with.
fn envelope() -> impl Strategy<Value = (String, EpochMillis, String)> {
    (text(), timestamp(), text())
}

fn channel() -> impl Strategy<Value = Channel> + Clone {
    select(
        &[
            Channel::Web,
            Channel::App,
            Channel::CallCenter,
            Channel::Store,
            Channel::Marketplace,
        ][..],
    )
}

fn fulfilment() -> impl Strategy<Value = FulfilmentType> + Clone {
    select(
        &[
            FulfilmentType::ShipToHome,
            FulfilmentType::PickupInStore,
            FulfilmentType::SameDayDelivery,
            FulfilmentType::ScheduledDelivery,
            FulfilmentType::Installation,
        ][..],
    )
}

fn supply() -> impl Strategy<Value = SupplyType> + Clone {
    select(
        &[
            SupplyType::OnHand,
            SupplyType::InTransit,
            SupplyType::OnOrder,
        ][..],
    )
}

/// Implements `Arbitrary` for a record type from a strategy expression.
macro_rules! arbitrary {
    ($ty:ty, $strategy:expr) => {
        impl Arbitrary for $ty {
            type Parameters = ();
            type Strategy = BoxedStrategy<$ty>;
            fn arbitrary_with((): ()) -> Self::Strategy {
                $strategy.boxed()
            }
        }
    };
}

arbitrary!(
    PosTransaction,
    (
        envelope(),
        (text(), text(), text()),
        few((
            text(),
            any::<i32>(),
            select(&[PosLineKind::Sale, PosLineKind::Return][..]),
            any::<i64>()
        )),
        text(),
    )
        .prop_map(
            |(
                (event_id, event_time, source),
                (store_id, register_id, transaction_id),
                lines,
                currency,
            )| {
                PosTransaction {
                    event_id,
                    event_time,
                    source,
                    store_id,
                    register_id,
                    transaction_id,
                    lines: lines
                        .into_iter()
                        .map(|(sku, quantity, kind, unit_price_cents)| PosLine {
                            sku,
                            quantity,
                            kind,
                            unit_price_cents,
                        })
                        .collect(),
                    currency,
                }
            }
        )
);

arbitrary!(
    Receipt,
    (
        envelope(),
        (text(), text(), option::of(text()), option::of(text())),
        few((text(), any::<i32>(), any::<i32>())),
    )
        .prop_map(
            |(
                (event_id, event_time, source),
                (receipt_id, location_id, shipment_id, po_id),
                lines,
            )| {
                Receipt {
                    event_id,
                    event_time,
                    source,
                    receipt_id,
                    location_id,
                    shipment_id,
                    po_id,
                    lines: lines
                        .into_iter()
                        .map(|(sku, quantity_received, quantity_damaged)| ReceiptLine {
                            sku,
                            quantity_received,
                            quantity_damaged,
                        })
                        .collect(),
                }
            }
        )
);

arbitrary!(
    ShipmentEvent,
    (
        envelope(),
        (
            text(),
            select(
                &[
                    ShipmentKind::Transfer,
                    ShipmentKind::VendorAsn,
                    ShipmentKind::PoShipment
                ][..]
            ),
            select(
                &[
                    ShipmentStatus::Created,
                    ShipmentStatus::Departed,
                    ShipmentStatus::EtaChanged,
                    ShipmentStatus::Delivered,
                    ShipmentStatus::Cancelled,
                ][..]
            ),
        ),
        (
            option::of(text()),
            option::of(text()),
            option::of(text()),
            text(),
            timestamp()
        ),
        few((text(), any::<i32>())),
    )
        .prop_map(
            |(
                (event_id, event_time, source),
                (shipment_id, kind, status),
                (origin_location_id, vendor_id, po_id, destination_location_id, expected_arrival),
                lines,
            )| ShipmentEvent {
                event_id,
                event_time,
                source,
                shipment_id,
                kind,
                status,
                origin_location_id,
                vendor_id,
                po_id,
                destination_location_id,
                expected_arrival,
                lines: lines
                    .into_iter()
                    .map(|(sku, quantity)| ShipmentLine { sku, quantity })
                    .collect(),
            }
        )
);

arbitrary!(
    PurchaseOrder,
    (
        envelope(),
        (
            text(),
            text(),
            text(),
            select(
                &[
                    PurchaseOrderStatus::Open,
                    PurchaseOrderStatus::Amended,
                    PurchaseOrderStatus::Cancelled,
                    PurchaseOrderStatus::Closed,
                ][..]
            ),
            timestamp(),
        ),
        few((text(), any::<i32>())),
    )
        .prop_map(
            |(
                (event_id, event_time, source),
                (po_id, vendor_id, destination_location_id, status, expected_date),
                lines,
            )| PurchaseOrder {
                event_id,
                event_time,
                source,
                po_id,
                vendor_id,
                destination_location_id,
                status,
                expected_date,
                lines: lines
                    .into_iter()
                    .map(|(sku, quantity_ordered)| PurchaseOrderLine {
                        sku,
                        quantity_ordered,
                    })
                    .collect(),
            }
        )
);

arbitrary!(
    InventoryAdjustment,
    (
        envelope(),
        text(),
        text(),
        select(
            &[
                AdjustmentKind::CycleCount,
                AdjustmentKind::Shrink,
                AdjustmentKind::Damage,
                AdjustmentKind::Found,
                AdjustmentKind::Correction,
            ][..]
        ),
        any::<i32>(),
        option::of(text()),
    )
        .prop_map(
            |((event_id, event_time, source), location_id, sku, kind, quantity, reason)| {
                InventoryAdjustment {
                    event_id,
                    event_time,
                    source,
                    location_id,
                    sku,
                    kind,
                    quantity,
                    reason,
                }
            }
        )
);

fn address() -> impl Strategy<Value = Address> {
    (text(), text(), text(), -90.0..=90.0f64, -180.0..=180.0f64).prop_map(
        |(postal_code, city, country, latitude, longitude)| Address {
            postal_code,
            city,
            country,
            latitude,
            longitude,
        },
    )
}

fn order_line() -> impl Strategy<Value = OrderLine> {
    (
        text(),
        text(),
        any::<i32>(),
        any::<i64>(),
        any::<i64>(),
        few(text()),
    )
        .prop_map(
            |(line_id, sku, quantity, unit_price_cents, discount_cents, promotion_ids)| OrderLine {
                line_id,
                sku,
                quantity,
                unit_price_cents,
                discount_cents,
                promotion_ids,
            },
        )
}

arbitrary!(
    Order,
    (
        envelope(),
        (text(), channel(), text(), fulfilment()),
        (
            option::of(address()),
            option::of(text()),
            timestamp(),
            option::of(
                (timestamp(), timestamp()).prop_map(|(start, end)| DeliverySlot { start, end })
            ),
        ),
        few(order_line()),
        text(),
    )
        .prop_map(
            |(
                (event_id, event_time, source),
                (order_id, channel, customer_id, fulfilment),
                (destination, pickup_location_id, requested_date, slot),
                lines,
                currency,
            )| Order {
                event_id,
                event_time,
                source,
                order_id,
                channel,
                customer_id,
                fulfilment,
                destination,
                pickup_location_id,
                requested_date,
                slot,
                lines,
                currency,
            }
        )
);

arbitrary!(
    OrderEvent,
    (
        envelope(),
        text(),
        channel(),
        select(
            &[
                OrderEventKind::Cancel,
                OrderEventKind::ModifyLines,
                OrderEventKind::Shipped,
                OrderEventKind::PickedUp,
                OrderEventKind::PickupExpired,
            ][..]
        ),
        few((text(), text(), any::<i32>())),
        option::of(text()),
        option::of(text()),
    )
        .prop_map(
            |(
                (event_id, event_time, source),
                order_id,
                channel,
                kind,
                lines,
                location_id,
                reason,
            )| {
                OrderEvent {
                    event_id,
                    event_time,
                    source,
                    order_id,
                    channel,
                    kind,
                    lines: lines
                        .into_iter()
                        .map(|(line_id, sku, quantity)| OrderEventLine {
                            line_id,
                            sku,
                            quantity,
                        })
                        .collect(),
                    location_id,
                    reason,
                }
            }
        )
);

fn return_line() -> impl Strategy<Value = ReturnLine> {
    (
        text(),
        any::<i32>(),
        select(
            &[
                ReturnCondition::Resellable,
                ReturnCondition::Damaged,
                ReturnCondition::VendorReturn,
            ][..],
        ),
        select(
            &[
                Disposition::Restock,
                Disposition::WriteOff,
                Disposition::ReturnToVendor,
                Disposition::Refurbish,
            ][..],
        ),
        option::of(text()),
    )
        .prop_map(
            |(sku, quantity, condition, disposition, reason)| ReturnLine {
                sku,
                quantity,
                condition,
                disposition,
                reason,
            },
        )
}

arbitrary!(
    ReturnEvent,
    (
        envelope(),
        (
            text(),
            option::of(text()),
            option::of(text()),
            text(),
            channel()
        ),
        few(return_line()),
    )
        .prop_map(
            |(
                (event_id, event_time, source),
                (return_id, order_id, customer_id, location_id, channel),
                lines,
            )| {
                ReturnEvent {
                    event_id,
                    event_time,
                    source,
                    return_id,
                    order_id,
                    customer_id,
                    location_id,
                    channel,
                    lines,
                }
            }
        )
);

arbitrary!(
    Location,
    (
        envelope(),
        (
            text(),
            text(),
            select(
                &[
                    LocationKind::Dc,
                    LocationKind::Store,
                    LocationKind::DarkStore
                ][..]
            ),
            any::<bool>(),
            text(),
            text(),
        ),
        (-90.0..=90.0f64, -180.0..=180.0f64, text()),
        (
            few(select(
                &[
                    Capability::Ship,
                    Capability::Pickup,
                    Capability::ShipFromStore,
                    Capability::SameDay,
                    Capability::Installation,
                ][..]
            )),
            few((any::<i32>(), any::<i32>(), any::<i32>()).prop_map(
                |(day_of_week, open_minute, close_minute)| OpeningHours {
                    day_of_week,
                    open_minute,
                    close_minute,
                }
            )),
            any::<i32>(),
            any::<i32>(),
        ),
        (
            few(text()),
            few((text(), any::<i32>()).prop_map(|(region, days)| TransitTime { region, days })),
            any::<i32>(),
        ),
    )
        .prop_map(
            |(
                (event_id, event_time, source),
                (location_id, name, kind, active, city, country),
                (latitude, longitude, timezone),
                (capabilities, opening_hours, pick_capacity_per_day, ship_capacity_per_day),
                (distribution_groups, transit_times, default_transit_days),
            )| Location {
                event_id,
                event_time,
                source,
                location_id,
                name,
                kind,
                active,
                city,
                country,
                latitude,
                longitude,
                timezone,
                capabilities,
                opening_hours,
                pick_capacity_per_day,
                ship_capacity_per_day,
                distribution_groups,
                transit_times,
                default_transit_days,
            }
        )
);

arbitrary!(
    SafetyStockPolicy,
    (
        envelope(),
        text(),
        option::of(text()),
        option::of(text()),
        option::of(channel()),
        any::<i32>(),
        any::<bool>(),
    )
        .prop_map(
            |(
                (event_id, event_time, source),
                policy_id,
                sku,
                location_id,
                channel,
                safety_stock_units,
                active,
            )| {
                SafetyStockPolicy {
                    event_id,
                    event_time,
                    source,
                    policy_id,
                    sku,
                    location_id,
                    channel,
                    safety_stock_units,
                    active,
                }
            }
        )
);

fn cost_weights() -> impl Strategy<Value = CostWeights> {
    (
        finite_f64(),
        any::<i64>(),
        any::<i64>(),
        any::<i64>(),
        any::<i64>(),
        any::<i64>(),
    )
        .prop_map(
            |(
                shipping_cents_per_km,
                shipping_cents_per_package,
                split_penalty_cents,
                store_labour_cents_per_unit,
                lateness_cents_per_day,
                balancing_cents_per_unit,
            )| CostWeights {
                shipping_cents_per_km,
                shipping_cents_per_package,
                split_penalty_cents,
                store_labour_cents_per_unit,
                lateness_cents_per_day,
                balancing_cents_per_unit,
            },
        )
}

arbitrary!(
    SourcingRule,
    (
        envelope(),
        (
            text(),
            option::of(channel()),
            option::of(fulfilment()),
            any::<i32>(),
            text()
        ),
        (
            few(supply()),
            any::<i32>(),
            select(
                &[
                    SourcingStrategy::MinimizeCost,
                    SourcingStrategy::MinimizeSplits,
                    SourcingStrategy::Proximity,
                    SourcingStrategy::Priority,
                ][..]
            ),
        ),
        (
            few(text()),
            few(text()),
            any::<i32>(),
            cost_weights(),
            any::<bool>()
        ),
    )
        .prop_map(
            |(
                (event_id, event_time, source),
                (rule_id, channel, fulfilment, priority, distribution_group),
                (supply_types, horizon_days, strategy),
                (priority_location_ids, excluded_location_ids, max_splits, cost, active),
            )| SourcingRule {
                event_id,
                event_time,
                source,
                rule_id,
                channel,
                fulfilment,
                priority,
                distribution_group,
                supply_types,
                horizon_days,
                strategy,
                priority_location_ids,
                excluded_location_ids,
                max_splits,
                cost,
                active,
            }
        )
);

arbitrary!(
    PriceBookEntry,
    (
        envelope(),
        (text(), text(), text(), any::<i64>()),
        (few(channel()), timestamp(), option::of(timestamp())),
        few((
            text(),
            select(
                &[
                    PromotionKind::PercentOff,
                    PromotionKind::AmountOff,
                    PromotionKind::FixedPrice
                ][..]
            ),
            any::<i64>(),
            timestamp(),
            timestamp(),
        )
            .prop_map(
                |(promotion_id, kind, value, valid_from, valid_to)| Promotion {
                    promotion_id,
                    kind,
                    value,
                    valid_from,
                    valid_to,
                }
            )),
    )
        .prop_map(
            |(
                (event_id, event_time, source),
                (price_list_id, sku, currency, list_price_cents),
                (channels, valid_from, valid_to),
                promotions,
            )| PriceBookEntry {
                event_id,
                event_time,
                source,
                price_list_id,
                sku,
                currency,
                list_price_cents,
                channels,
                valid_from,
                valid_to,
                promotions,
            }
        )
);

fn atp_bucket() -> impl Strategy<Value = AtpBucket> {
    (timestamp(), any::<i64>()).prop_map(|(until, atp)| AtpBucket { until, atp })
}

arbitrary!(
    Availability,
    (
        envelope(),
        text(),
        any::<i64>(),
        few((
            channel(),
            few(atp_bucket()),
            few((
                text(),
                any::<i64>(),
                any::<i64>(),
                any::<i64>(),
                few(atp_bucket())
            )
                .prop_map(|(location_id, on_hand, reserved, safety_stock, buckets)| {
                    LocationAvailability {
                        location_id,
                        on_hand,
                        reserved,
                        safety_stock,
                        buckets,
                    }
                })),
        )),
    )
        .prop_map(|((event_id, event_time, source), sku, version, channels)| {
            Availability {
                event_id,
                event_time,
                source,
                sku,
                version,
                channels: channels
                    .into_iter()
                    .map(|(channel, network, locations)| ChannelAvailability {
                        channel,
                        network,
                        locations,
                    })
                    .collect(),
            }
        })
);

fn line_decision() -> impl Strategy<Value = LineDecision> {
    (
        text(),
        text(),
        any::<i32>(),
        select(
            &[
                LineOutcome::Allocated,
                LineOutcome::Backordered,
                LineOutcome::Rejected,
            ][..],
        ),
        few(
            (text(), any::<i32>(), supply(), timestamp(), timestamp()).prop_map(
                |(location_id, quantity, supply, promised_ship_date, promised_delivery_date)| {
                    Allocation {
                        location_id,
                        quantity,
                        supply,
                        promised_ship_date,
                        promised_delivery_date,
                    }
                },
            ),
        ),
        option::of(text()),
    )
        .prop_map(
            |(line_id, sku, quantity, outcome, allocations, reason)| LineDecision {
                line_id,
                sku,
                quantity,
                outcome,
                allocations,
                reason,
            },
        )
}

arbitrary!(
    SourcingDecision,
    (
        envelope(),
        (text(), text(), channel()),
        few(line_decision()),
        (
            any::<i64>(),
            any::<i64>(),
            any::<i64>(),
            any::<i64>(),
            any::<i64>(),
            any::<i64>()
        )
            .prop_map(
                |(
                    shipping_cents,
                    split_penalty_cents,
                    labour_cents,
                    lateness_cents,
                    balancing_cents,
                    total_cents,
                )| CostBreakdown {
                    shipping_cents,
                    split_penalty_cents,
                    labour_cents,
                    lateness_cents,
                    balancing_cents,
                    total_cents,
                }
            ),
        option::of((few(text()), any::<i64>(), text()).prop_map(
            |(location_ids, total_cents, lost_because)| RejectedAlternative {
                location_ids,
                total_cents,
                lost_because,
            }
        )),
        any::<bool>(),
    )
        .prop_map(
            |(
                (event_id, event_time, source),
                (order_id, order_event_id, channel),
                lines,
                cost,
                best_alternative,
                price_mismatch,
            )| SourcingDecision {
                event_id,
                event_time,
                source,
                order_id,
                order_event_id,
                channel,
                lines,
                cost,
                best_alternative,
                price_mismatch,
            }
        )
);

arbitrary!(
    Disruption,
    (
        envelope(),
        (
            text(),
            select(
                &[
                    DisruptionKind::LateShipment,
                    DisruptionKind::ReceiptShortfall,
                    DisruptionKind::ProjectedStockout,
                    DisruptionKind::Oversell,
                    DisruptionKind::LocationSilent,
                ][..]
            ),
            select(&[Severity::Info, Severity::Warning, Severity::Critical][..]),
        ),
        (
            option::of(text()),
            option::of(text()),
            option::of(text()),
            option::of(any::<i64>()),
            option::of(finite_f64()),
        ),
        (few(text()), option::of(text()), text()),
    )
        .prop_map(
            |(
                (event_id, event_time, source),
                (disruption_id, kind, severity),
                (sku, location_id, shipment_id, shortfall_units, days_of_cover),
                (orders_at_risk, next_best_location_id, detail),
            )| Disruption {
                event_id,
                event_time,
                source,
                disruption_id,
                kind,
                severity,
                sku,
                location_id,
                shipment_id,
                shortfall_units,
                days_of_cover,
                orders_at_risk,
                next_best_location_id,
                detail,
            }
        )
);

fn bytes() -> impl Strategy<Value = ByteBuf> {
    vec(any::<u8>(), 0..24).prop_map(ByteBuf::from)
}

arbitrary!(
    DeadLetter,
    (
        envelope(),
        (text(), any::<i32>(), any::<i64>()),
        (option::of(bytes()), bytes()),
        (
            select(
                &[
                    DeadLetterKind::Decode,
                    DeadLetterKind::UnknownSchema,
                    DeadLetterKind::Validation,
                    DeadLetterKind::UnknownReference,
                ][..]
            ),
            text(),
            option::of(any::<i32>()),
        ),
    )
        .prop_map(
            |(
                (event_id, event_time, source),
                (topic, partition, offset),
                (key, payload),
                (error_kind, reason, schema_id),
            )| DeadLetter {
                event_id,
                event_time,
                source,
                topic,
                partition,
                offset,
                key,
                payload,
                error_kind,
                reason,
                schema_id,
            }
        )
);

/// Random records of `topic`.
pub fn any_record(topic: Topic) -> BoxedStrategy<AnyRecord> {
    struct Of;
    impl crate::any::RecordBuilder for Of {
        type Error = BoxedStrategy<AnyRecord>;
        fn build<R: Record>(self) -> Result<R, Self::Error> {
            Err(any_of::<R>())
        }
    }
    match AnyRecord::build(topic, Of) {
        Err(strategy) => strategy,
        Ok(_) => unreachable!("the builder never builds"),
    }
}

/// Random records of a random topic.
pub fn any_topic_record() -> BoxedStrategy<AnyRecord> {
    select(&Topic::ALL[..]).prop_flat_map(any_record).boxed()
}

/// `any::<R>()` for a record type known through [`Record`] only.
fn any_of<R: Record>() -> BoxedStrategy<AnyRecord> {
    fn boxed<T: Arbitrary + Into<AnyRecord> + 'static>() -> BoxedStrategy<AnyRecord> {
        any::<T>().prop_map(Into::into).boxed()
    }
    let strategies: [BoxedStrategy<AnyRecord>; 16] = [
        boxed::<PosTransaction>(),
        boxed::<Receipt>(),
        boxed::<ShipmentEvent>(),
        boxed::<PurchaseOrder>(),
        boxed::<InventoryAdjustment>(),
        boxed::<Order>(),
        boxed::<OrderEvent>(),
        boxed::<ReturnEvent>(),
        boxed::<Location>(),
        boxed::<SafetyStockPolicy>(),
        boxed::<SourcingRule>(),
        boxed::<PriceBookEntry>(),
        boxed::<Availability>(),
        boxed::<SourcingDecision>(),
        boxed::<Disruption>(),
        boxed::<DeadLetter>(),
    ];
    strategies
        .into_iter()
        .nth(R::TOPIC.index())
        .expect("one strategy per topic")
}

/// Converts an [`AnyRecord`] to the typed record it holds, if it is an `R`.
pub fn downcast<R: Record>(record: &AnyRecord) -> Option<R> {
    struct Down;
    impl crate::any::RecordVisitor for Down {
        type Output = Box<dyn std::any::Any>;
        fn visit<T: Record>(self, record: &T) -> Self::Output {
            Box::new(record.clone())
        }
    }
    record.visit(Down).downcast::<R>().ok().map(|b| *b)
}

/// The deterministic sample record of `R`'s topic (see [`sample_any`]).
pub fn sample<R: Record>() -> R {
    downcast(&sample_any(R::TOPIC)).expect("sample_any returns the topic's type")
}

fn s(text: &str) -> String {
    text.to_owned()
}

/// One hand-written record per topic, with realistic sizes and non-trivial values: unions both
/// set and null, several lines, bytes, negative numbers and unicode text. These are the records
/// of the golden files under `schemas/golden/<topic>/` and of the codec benchmarks.
pub fn sample_any(topic: Topic) -> AnyRecord {
    const T: EpochMillis = 1_767_225_600_000; // 2026-01-01T00:00:00Z
    const DAY: EpochMillis = 86_400_000;
    match topic {
        Topic::PosSales => PosTransaction {
            event_id: s("pos-0042-r03-000123"),
            event_time: T + 37_512_345,
            source: s("pos-store-0042"),
            store_id: s("store-0042"),
            register_id: s("r03"),
            transaction_id: s("tx-2026-000123"),
            lines: vec![
                PosLine {
                    sku: s("sku-000101"),
                    quantity: 2,
                    kind: PosLineKind::Sale,
                    unit_price_cents: 1_999,
                },
                PosLine {
                    sku: s("sku-004711"),
                    quantity: 1,
                    kind: PosLineKind::Return,
                    unit_price_cents: -450,
                },
                PosLine {
                    sku: s("sku-café-☕"),
                    quantity: 3,
                    kind: PosLineKind::Sale,
                    unit_price_cents: 349,
                },
            ],
            currency: s("EUR"),
        }
        .into(),
        Topic::Receipts => Receipt {
            event_id: s("wms-dc-01-rcpt-77"),
            event_time: T + DAY,
            source: s("wms-dc-01"),
            receipt_id: s("rcpt-77"),
            location_id: s("dc-01"),
            shipment_id: Some(s("asn-5566")),
            po_id: None,
            lines: vec![
                ReceiptLine {
                    sku: s("sku-000101"),
                    quantity_received: 480,
                    quantity_damaged: 12,
                },
                ReceiptLine {
                    sku: s("sku-000102"),
                    quantity_received: 0,
                    quantity_damaged: 0,
                },
            ],
        }
        .into(),
        Topic::Shipments => ShipmentEvent {
            event_id: s("tms-ship-9001-eta2"),
            event_time: T + 2 * DAY,
            source: s("tms"),
            shipment_id: s("ship-9001"),
            kind: ShipmentKind::VendorAsn,
            status: ShipmentStatus::EtaChanged,
            origin_location_id: None,
            vendor_id: Some(s("vendor-Ørsted")),
            po_id: Some(s("po-1234")),
            destination_location_id: s("dc-01"),
            expected_arrival: T + 9 * DAY,
            lines: vec![
                ShipmentLine {
                    sku: s("sku-000101"),
                    quantity: 500,
                },
                ShipmentLine {
                    sku: s("sku-000103"),
                    quantity: 24,
                },
            ],
        }
        .into(),
        Topic::PurchaseOrders => PurchaseOrder {
            event_id: s("erp-po-1234-v2"),
            event_time: -DAY * 3,
            source: s("erp"),
            po_id: s("po-1234"),
            vendor_id: s("vendor-Ørsted"),
            destination_location_id: s("dc-01"),
            status: PurchaseOrderStatus::Amended,
            expected_date: T + 30 * DAY,
            lines: vec![
                PurchaseOrderLine {
                    sku: s("sku-000101"),
                    quantity_ordered: 1_000,
                },
                PurchaseOrderLine {
                    sku: s("sku-000104"),
                    quantity_ordered: 60,
                },
            ],
        }
        .into(),
        Topic::InventoryAdjustments => InventoryAdjustment {
            event_id: s("store-0042-adj-881"),
            event_time: T + 3_600_000,
            source: s("store-ops-0042"),
            location_id: s("store-0042"),
            sku: s("sku-000101"),
            kind: AdjustmentKind::Correction,
            quantity: -7,
            reason: Some(s("inventaire tournant – écart")),
        }
        .into(),
        Topic::Orders => Order {
            event_id: s("oms-web-ord-5001"),
            event_time: T + 45_000_000,
            source: s("oms-web"),
            order_id: s("ord-5001"),
            channel: Channel::Web,
            customer_id: s("cust-ü-8842"),
            fulfilment: FulfilmentType::ScheduledDelivery,
            destination: Some(Address {
                postal_code: s("75011"),
                city: s("Paris"),
                country: s("FR"),
                latitude: 48.8589,
                longitude: 2.3802,
            }),
            pickup_location_id: None,
            requested_date: T + 4 * DAY,
            slot: Some(DeliverySlot {
                start: T + 4 * DAY + 32_400_000,
                end: T + 4 * DAY + 43_200_000,
            }),
            lines: vec![
                OrderLine {
                    line_id: s("1"),
                    sku: s("sku-000101"),
                    quantity: 2,
                    unit_price_cents: 1_999,
                    discount_cents: 400,
                    promotion_ids: vec![s("promo-winter"), s("promo-app-10")],
                },
                OrderLine {
                    line_id: s("2"),
                    sku: s("sku-000205"),
                    quantity: 1,
                    unit_price_cents: 89_900,
                    discount_cents: 0,
                    promotion_ids: vec![],
                },
                OrderLine {
                    line_id: s("3"),
                    sku: s("sku-000310"),
                    quantity: 4,
                    unit_price_cents: 250,
                    discount_cents: -50,
                    promotion_ids: vec![s("promo-bundle")],
                },
            ],
            currency: s("EUR"),
        }
        .into(),
        Topic::OrderEvents => OrderEvent {
            event_id: s("oms-web-ord-5001-mod-1"),
            event_time: T + 46_000_000,
            source: s("oms-web"),
            order_id: s("ord-5001"),
            channel: Channel::CallCenter,
            kind: OrderEventKind::ModifyLines,
            lines: vec![
                OrderEventLine {
                    line_id: s("1"),
                    sku: s("sku-000101"),
                    quantity: 1,
                },
                OrderEventLine {
                    line_id: s("3"),
                    sku: s("sku-000310"),
                    quantity: 0,
                },
            ],
            location_id: None,
            reason: Some(s("customer called: „only one, please“")),
        }
        .into(),
        Topic::Returns => ReturnEvent {
            event_id: s("rma-3003"),
            event_time: T + 10 * DAY,
            source: s("returns-portal"),
            return_id: s("rma-3003"),
            order_id: Some(s("ord-5001")),
            customer_id: None,
            location_id: s("store-0042"),
            channel: Channel::Store,
            lines: vec![
                ReturnLine {
                    sku: s("sku-000101"),
                    quantity: 1,
                    condition: ReturnCondition::Resellable,
                    disposition: Disposition::Restock,
                    reason: Some(s("wrong size")),
                },
                ReturnLine {
                    sku: s("sku-000205"),
                    quantity: 1,
                    condition: ReturnCondition::Damaged,
                    disposition: Disposition::ReturnToVendor,
                    reason: None,
                },
            ],
        }
        .into(),
        Topic::Locations => Location {
            event_id: s("mdm-loc-store-0042-v9"),
            event_time: T - 30 * DAY,
            source: s("mdm"),
            location_id: s("store-0042"),
            name: s("Zürich Hauptbahnhof"),
            kind: LocationKind::Store,
            active: true,
            city: s("Zürich"),
            country: s("CH"),
            latitude: 47.378_177,
            longitude: 8.540_192,
            timezone: s("Europe/Zurich"),
            capabilities: vec![Capability::Pickup, Capability::ShipFromStore],
            opening_hours: vec![
                OpeningHours {
                    day_of_week: 1,
                    open_minute: 480,
                    close_minute: 1_200,
                },
                OpeningHours {
                    day_of_week: 6,
                    open_minute: 540,
                    close_minute: 1_080,
                },
            ],
            pick_capacity_per_day: 400,
            ship_capacity_per_day: 120,
            distribution_groups: vec![s("ch-stores"), s("eu-ship-from-store")],
            transit_times: vec![
                TransitTime {
                    region: s("CH"),
                    days: 1,
                },
                TransitTime {
                    region: s("DE-79"),
                    days: 2,
                },
            ],
            default_transit_days: 5,
        }
        .into(),
        Topic::SafetyStockPolicies => SafetyStockPolicy {
            event_id: s("plan-ss-17-v3"),
            event_time: T - DAY,
            source: s("planning"),
            policy_id: s("ss-17"),
            sku: Some(s("sku-000101")),
            location_id: None,
            channel: Some(Channel::Marketplace),
            safety_stock_units: 25,
            active: true,
        }
        .into(),
        Topic::SourcingRules => SourcingRule {
            event_id: s("plan-rule-web-sth-v4"),
            event_time: T - 2 * DAY,
            source: s("planning"),
            rule_id: s("rule-web-sth"),
            channel: Some(Channel::Web),
            fulfilment: None,
            priority: -10,
            distribution_group: s("eu-ship-from-store"),
            supply_types: vec![SupplyType::OnHand, SupplyType::InTransit],
            horizon_days: 14,
            strategy: SourcingStrategy::MinimizeCost,
            priority_location_ids: vec![s("dc-01"), s("dc-02")],
            excluded_location_ids: vec![],
            max_splits: 2,
            cost: CostWeights {
                shipping_cents_per_km: 0.35,
                shipping_cents_per_package: 450,
                split_penalty_cents: 700,
                store_labour_cents_per_unit: 120,
                lateness_cents_per_day: 300,
                balancing_cents_per_unit: -15,
            },
            active: true,
        }
        .into(),
        Topic::PriceBook => PriceBookEntry {
            event_id: s("pricing-eu-sku-000101-v12"),
            event_time: T - 5 * DAY,
            source: s("pricing"),
            price_list_id: s("eu-retail"),
            sku: s("sku-000101"),
            currency: s("EUR"),
            list_price_cents: 1_999,
            channels: vec![Channel::Web, Channel::App, Channel::Store],
            valid_from: T - 5 * DAY,
            valid_to: None,
            promotions: vec![
                Promotion {
                    promotion_id: s("promo-winter"),
                    kind: PromotionKind::PercentOff,
                    value: 10,
                    valid_from: T,
                    valid_to: T + 31 * DAY,
                },
                Promotion {
                    promotion_id: s("promo-app-10"),
                    kind: PromotionKind::AmountOff,
                    value: 100,
                    valid_from: T,
                    valid_to: T + 7 * DAY,
                },
            ],
        }
        .into(),
        Topic::Availability => {
            let buckets = |base: i64| {
                vec![
                    AtpBucket {
                        until: T + DAY,
                        atp: base,
                    },
                    AtpBucket {
                        until: T + 7 * DAY,
                        atp: base + 480,
                    },
                ]
            };
            let location = |id: &str, on_hand: i64, reserved: i64| LocationAvailability {
                location_id: s(id),
                on_hand,
                reserved,
                safety_stock: 5,
                buckets: buckets((on_hand - reserved - 5).max(0)),
            };
            Availability {
                event_id: s("allot-avail-sku-000101-v77"),
                event_time: T + 50_000_000,
                source: s("allot"),
                sku: s("sku-000101"),
                version: 77,
                channels: vec![
                    ChannelAvailability {
                        channel: Channel::Web,
                        network: buckets(143),
                        locations: vec![location("dc-01", 120, 10), location("store-0042", 40, 2)],
                    },
                    ChannelAvailability {
                        channel: Channel::Store,
                        network: buckets(33),
                        locations: vec![location("store-0042", 40, 2)],
                    },
                    ChannelAvailability {
                        channel: Channel::Marketplace,
                        network: vec![],
                        locations: vec![location("dc-01", 120, 10), location("dc-02", -3, 0)],
                    },
                ],
            }
            .into()
        }
        Topic::SourcingDecisions => SourcingDecision {
            event_id: s("allot-dec-ord-5001-1"),
            event_time: T + 45_000_100,
            source: s("allot"),
            order_id: s("ord-5001"),
            order_event_id: s("oms-web-ord-5001"),
            channel: Channel::Web,
            lines: vec![
                LineDecision {
                    line_id: s("1"),
                    sku: s("sku-000101"),
                    quantity: 2,
                    outcome: LineOutcome::Allocated,
                    allocations: vec![
                        Allocation {
                            location_id: s("dc-01"),
                            quantity: 1,
                            supply: SupplyType::OnHand,
                            promised_ship_date: T + DAY,
                            promised_delivery_date: T + 3 * DAY,
                        },
                        Allocation {
                            location_id: s("store-0042"),
                            quantity: 1,
                            supply: SupplyType::OnHand,
                            promised_ship_date: T + DAY,
                            promised_delivery_date: T + 2 * DAY,
                        },
                    ],
                    reason: None,
                },
                LineDecision {
                    line_id: s("2"),
                    sku: s("sku-000205"),
                    quantity: 1,
                    outcome: LineOutcome::Backordered,
                    allocations: vec![Allocation {
                        location_id: s("dc-01"),
                        quantity: 1,
                        supply: SupplyType::OnOrder,
                        promised_ship_date: T + 30 * DAY,
                        promised_delivery_date: T + 32 * DAY,
                    }],
                    reason: Some(s("no stock on hand; promised against po-1234")),
                },
                LineDecision {
                    line_id: s("3"),
                    sku: s("sku-000310"),
                    quantity: 4,
                    outcome: LineOutcome::Rejected,
                    allocations: vec![],
                    reason: Some(s("no eligible location within the 14-day horizon")),
                },
            ],
            cost: CostBreakdown {
                shipping_cents: 1_210,
                split_penalty_cents: 700,
                labour_cents: 120,
                lateness_cents: 0,
                balancing_cents: -30,
                total_cents: 2_000,
            },
            best_alternative: Some(RejectedAlternative {
                location_ids: vec![s("dc-02")],
                total_cents: 2_450,
                lost_because: s("more expensive by 450"),
            }),
            price_mismatch: false,
        }
        .into(),
        Topic::Disruptions => Disruption {
            event_id: s("allot-dis-ship-9001-late"),
            event_time: T + 2 * DAY + 1,
            source: s("allot"),
            disruption_id: s("dis-ship-9001"),
            kind: DisruptionKind::LateShipment,
            severity: Severity::Critical,
            sku: Some(s("sku-000101")),
            location_id: Some(s("dc-01")),
            shipment_id: Some(s("ship-9001")),
            shortfall_units: Some(-12),
            days_of_cover: Some(1.75),
            orders_at_risk: vec![s("ord-5001"), s("ord-5002"), s("ord-5003")],
            next_best_location_id: None,
            detail: s("ETA moved by 4 days: breaks 3 promised dates ⚠"),
        }
        .into(),
        Topic::DeadLetters => DeadLetter {
            event_id: s("allot-dlq-pos-17-889"),
            event_time: T + 60_000,
            source: s("allot"),
            topic: s("allot.pos-sales"),
            partition: 17,
            offset: 889_123,
            key: Some(ByteBuf::from(b"store-0042".to_vec())),
            payload: ByteBuf::from(vec![0x00, 0x00, 0x00, 0x00, 0x65, 0xff, 0x80, 0x01, 0x7f]),
            error_kind: DeadLetterKind::Decode,
            reason: s("failed to decode a allot.pos-sales record: unexpected end of input"),
            schema_id: Some(-1),
        }
        .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    #[test]
    fn samples_and_strategies_belong_to_their_topic() {
        let mut runner = TestRunner::deterministic();
        for topic in Topic::ALL {
            assert_eq!(sample_any(topic).topic(), topic);
            for _ in 0..8 {
                let record = any_record(topic).new_tree(&mut runner).unwrap().current();
                assert_eq!(record.topic(), topic);
                assert!((MIN_TIME..=MAX_TIME).contains(&record.event_time()));
            }
        }
    }

    #[test]
    fn downcast_returns_the_record_only_for_its_type() {
        let record = sample_any(Topic::Orders);
        assert_eq!(
            downcast::<Order>(&record).map(AnyRecord::from),
            Some(record.clone())
        );
        assert_eq!(downcast::<PosTransaction>(&record), None);
    }
}
