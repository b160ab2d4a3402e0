//! The fast path: the Avro binary encoding of every allot type, written out per type with
//! [`AvroDatum`] (zigzag varints, length-prefixed strings and bytes, `["null", T]` unions,
//! enums as their symbol index, arrays in blocks).
//!
//! Why not `serde_avro_fast`: it matches every field and enum symbol by name at run time and
//! measured about 10 times slower than this on encode and 2 times on decode (see
//! `benches/codec.rs`, which keeps it as a comparison), which missed the 1 µs per event budget
//! for orders and availability.
//!
//! Field and symbol lists below are checked both ways: the compiler refuses a list that misses
//! a field or variant (struct literals and patterns without `..`, exhaustive matches), and the
//! tests in `codec::tests` require byte-identical output with the `apache_avro` reference path
//! for random records of every topic, so the order is the schema's.

use serde_bytes::ByteBuf;

use crate::types::*;

/// Why a body could not be decoded. Only built on the error path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WireError(&'static str);

const EOF: WireError = WireError("unexpected end of input");

mod sealed {
    pub trait Sealed {}
}

/// A value with a fixed Avro schema among allot's, encoded and decoded without any schema
/// lookup. Implemented for every record type and its parts; sealed.
pub trait AvroDatum: Sized + sealed::Sealed {
    /// Appends the Avro binary encoding of `self`.
    fn write_avro(&self, out: &mut Vec<u8>);
    /// Reads one value from the front of `input`, advancing it.
    fn read_avro(input: &mut &[u8]) -> Result<Self, WireError>;
    /// Reads one value from the front of `input` into `self`, reusing the strings and
    /// vectors `self` already holds (no allocation when they are large enough). On error
    /// `self` holds a mix of old and new values and must be overwritten before use.
    #[inline]
    fn read_avro_into(&mut self, input: &mut &[u8]) -> Result<(), WireError> {
        *self = Self::read_avro(input)?;
        Ok(())
    }
}

/// Appends `v` as a zigzag varint (Avro `int` and `long`).
#[inline]
pub fn write_long(v: i64, out: &mut Vec<u8>) {
    let z = ((v << 1) ^ (v >> 63)) as u64;
    if z < 0x80 {
        out.push(z as u8);
    } else if z < 0x4000 {
        out.extend_from_slice(&[z as u8 | 0x80, (z >> 7) as u8]);
    } else {
        write_varint(z, out);
    }
}

/// Appends a varint of three bytes or more (timestamps take 6): built on the stack and
/// appended with one fixed-size copy, then the unused tail is cut, which is cheaper than a
/// push per byte.
#[inline(never)]
fn write_varint(mut z: u64, out: &mut Vec<u8>) {
    let mut bytes = [0u8; 10];
    let mut n = 0;
    while z >= 0x80 {
        bytes[n] = z as u8 | 0x80;
        z >>= 7;
        n += 1;
    }
    bytes[n] = z as u8;
    out.extend_from_slice(&bytes);
    out.truncate(out.len() - (bytes.len() - 1 - n));
}

/// Appends `s` as an Avro `string` (length, then UTF-8 bytes).
#[inline]
pub fn write_str(s: &str, out: &mut Vec<u8>) {
    write_long(s.len() as i64, out);
    out.extend_from_slice(s.as_bytes());
}

/// Reads a zigzag varint of at most 10 bytes.
#[inline]
fn read_long(input: &mut &[u8]) -> Result<i64, WireError> {
    let unzigzag = |z: u64| (z >> 1) as i64 ^ -((z & 1) as i64);
    match input.first() {
        Some(&byte) if byte < 0x80 => {
            *input = &input[1..];
            Ok(unzigzag(u64::from(byte)))
        }
        _ => read_long_slow(input).map(unzigzag),
    }
}

#[inline]
fn read_long_slow(input: &mut &[u8]) -> Result<u64, WireError> {
    let bytes = *input;
    let mut z: u64 = 0;
    let mut i = 0;
    while i < bytes.len().min(10) {
        let byte = bytes[i];
        z |= u64::from(byte & 0x7f) << (7 * i);
        i += 1;
        if byte < 0x80 {
            *input = &bytes[i..];
            return Ok(z);
        }
    }
    Err(if bytes.len() < 10 {
        EOF
    } else {
        WireError("varint longer than 10 bytes")
    })
}

/// Reads a length prefix and the slice it announces.
#[inline]
fn read_slice<'a>(input: &mut &'a [u8]) -> Result<&'a [u8], WireError> {
    let len = usize::try_from(read_long(input)?).map_err(|_| WireError("negative length"))?;
    if len > input.len() {
        return Err(EOF);
    }
    let (slice, rest) = input.split_at(len);
    *input = rest;
    Ok(slice)
}

macro_rules! sealed {
    ($($ty:ty),* $(,)?) => {
        $(impl sealed::Sealed for $ty {})*
    };
}

sealed!(i32, i64, f64, bool, String, ByteBuf);
impl<T: AvroDatum> sealed::Sealed for Option<T> {}
impl<T: AvroDatum> sealed::Sealed for Vec<T> {}

impl AvroDatum for i64 {
    #[inline]
    fn write_avro(&self, out: &mut Vec<u8>) {
        write_long(*self, out);
    }
    #[inline]
    fn read_avro(input: &mut &[u8]) -> Result<Self, WireError> {
        read_long(input)
    }
}

impl AvroDatum for i32 {
    #[inline]
    fn write_avro(&self, out: &mut Vec<u8>) {
        write_long(i64::from(*self), out);
    }
    #[inline]
    fn read_avro(input: &mut &[u8]) -> Result<Self, WireError> {
        i32::try_from(read_long(input)?).map_err(|_| WireError("int out of range"))
    }
}

impl AvroDatum for f64 {
    #[inline]
    fn write_avro(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    #[inline]
    fn read_avro(input: &mut &[u8]) -> Result<Self, WireError> {
        let (bytes, rest) = input.split_first_chunk::<8>().ok_or(EOF)?;
        *input = rest;
        Ok(f64::from_le_bytes(*bytes))
    }
}

impl AvroDatum for bool {
    #[inline]
    fn write_avro(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
    #[inline]
    fn read_avro(input: &mut &[u8]) -> Result<Self, WireError> {
        let (&byte, rest) = input.split_first().ok_or(EOF)?;
        *input = rest;
        match byte {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(WireError("boolean byte is neither 0 nor 1")),
        }
    }
}

impl AvroDatum for String {
    #[inline]
    fn write_avro(&self, out: &mut Vec<u8>) {
        write_str(self, out);
    }
    #[inline]
    fn read_avro(input: &mut &[u8]) -> Result<Self, WireError> {
        read_str(input).map(str::to_owned)
    }
    #[inline]
    fn read_avro_into(&mut self, input: &mut &[u8]) -> Result<(), WireError> {
        let s = read_str(input)?;
        self.clear();
        self.push_str(s);
        Ok(())
    }
}

/// Reads an Avro `string` without copying it.
#[inline]
fn read_str<'a>(input: &mut &'a [u8]) -> Result<&'a str, WireError> {
    std::str::from_utf8(read_slice(input)?).map_err(|_| WireError("string is not UTF-8"))
}

impl AvroDatum for ByteBuf {
    #[inline]
    fn write_avro(&self, out: &mut Vec<u8>) {
        write_long(self.len() as i64, out);
        out.extend_from_slice(self);
    }
    #[inline]
    fn read_avro(input: &mut &[u8]) -> Result<Self, WireError> {
        read_slice(input).map(|bytes| ByteBuf::from(bytes.to_vec()))
    }
    #[inline]
    fn read_avro_into(&mut self, input: &mut &[u8]) -> Result<(), WireError> {
        let bytes = read_slice(input)?;
        self.clear();
        self.extend_from_slice(bytes);
        Ok(())
    }
}

/// Every union in allot's schemas is `["null", T]`.
impl<T: AvroDatum> AvroDatum for Option<T> {
    #[inline]
    fn write_avro(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(value) => {
                out.push(2);
                value.write_avro(out);
            }
        }
    }
    #[inline]
    fn read_avro(input: &mut &[u8]) -> Result<Self, WireError> {
        match read_long(input)? {
            0 => Ok(None),
            1 => T::read_avro(input).map(Some),
            _ => Err(WireError("union branch index out of range")),
        }
    }
    #[inline]
    fn read_avro_into(&mut self, input: &mut &[u8]) -> Result<(), WireError> {
        match (read_long(input)?, self.as_mut()) {
            (0, _) => *self = None,
            (1, Some(value)) => value.read_avro_into(input)?,
            (1, None) => *self = Some(T::read_avro(input)?),
            _ => return Err(WireError("union branch index out of range")),
        }
        Ok(())
    }
}

/// Written as one block and the empty end block (as the reference implementations do); read in
/// any blocking, including blocks with a negative count followed by their size in bytes.
impl<T: AvroDatum> AvroDatum for Vec<T> {
    #[inline]
    fn write_avro(&self, out: &mut Vec<u8>) {
        if !self.is_empty() {
            write_long(self.len() as i64, out);
            for item in self {
                item.write_avro(out);
            }
        }
        out.push(0);
    }
    fn read_avro(input: &mut &[u8]) -> Result<Self, WireError> {
        let mut items = Vec::new();
        items.read_avro_into(input)?;
        Ok(items)
    }
    /// Overwrites the items `self` has, then appends or truncates.
    fn read_avro_into(&mut self, input: &mut &[u8]) -> Result<(), WireError> {
        let mut len = 0;
        loop {
            let count = match read_long(input)? {
                0 => {
                    self.truncate(len);
                    return Ok(());
                }
                n if n < 0 => {
                    read_long(input)?; // The block's size in bytes, for skipping; not needed.
                    n.checked_neg()
                        .ok_or(WireError("array block count out of range"))?
                }
                n => n,
            };
            // Every item of every allot schema takes at least one byte: a longer count is
            // corrupt, and refusing it bounds the allocation below.
            let count = usize::try_from(count)
                .ok()
                .filter(|n| *n <= input.len())
                .ok_or(WireError("array block longer than the message"))?;
            self.reserve((len + count).saturating_sub(self.len()));
            for _ in 0..count {
                match self.get_mut(len) {
                    Some(item) => item.read_avro_into(input)?,
                    None => self.push(T::read_avro(input)?),
                }
                len += 1;
            }
        }
    }
}

/// Implements [`AvroDatum`] for a fieldless enum whose variants are listed in the order of the
/// schema's symbols (and of their declaration, so the discriminant is the symbol index).
macro_rules! avro_enum {
    ($ty:ident { $($variant:ident),* $(,)? }) => {
        impl sealed::Sealed for $ty {}
        impl AvroDatum for $ty {
            #[inline]
            fn write_avro(&self, out: &mut Vec<u8>) {
                // Exhaustive: a variant missing from the list does not compile.
                let index = match self { $($ty::$variant => $ty::$variant as i64,)* };
                write_long(index, out);
            }
            #[inline]
            fn read_avro(input: &mut &[u8]) -> Result<Self, WireError> {
                const SYMBOLS: &[$ty] = &[$($ty::$variant),*];
                usize::try_from(read_long(input)?)
                    .ok()
                    .and_then(|i| SYMBOLS.get(i).copied())
                    .ok_or(WireError("enum symbol index out of range"))
            }
        }
    };
}

/// Implements [`AvroDatum`] for a struct whose fields are listed in the schema's order.
macro_rules! avro_record {
    ($ty:ident { $($field:ident),* $(,)? }) => {
        impl sealed::Sealed for $ty {}
        impl AvroDatum for $ty {
            #[inline]
            fn write_avro(&self, out: &mut Vec<u8>) {
                // No `..`: a field missing from the list does not compile.
                let $ty { $($field),* } = self;
                $($field.write_avro(out);)*
            }
            #[inline]
            fn read_avro(input: &mut &[u8]) -> Result<Self, WireError> {
                Ok($ty { $($field: AvroDatum::read_avro(input)?),* })
            }
            #[inline]
            fn read_avro_into(&mut self, input: &mut &[u8]) -> Result<(), WireError> {
                let $ty { $($field),* } = self;
                $($field.read_avro_into(input)?;)*
                Ok(())
            }
        }
    };
}

// common
avro_enum!(Channel {
    Web,
    App,
    CallCenter,
    Store,
    Marketplace
});
avro_enum!(FulfilmentType {
    ShipToHome,
    PickupInStore,
    SameDayDelivery,
    ScheduledDelivery,
    Installation,
});
avro_enum!(SupplyType {
    OnHand,
    InTransit,
    OnOrder
});

// pos_sales
avro_record!(PosTransaction {
    event_id,
    event_time,
    source,
    store_id,
    register_id,
    transaction_id,
    lines,
    currency,
});
avro_record!(PosLine {
    sku,
    quantity,
    kind,
    unit_price_cents
});
avro_enum!(PosLineKind { Sale, Return });

// receipts
avro_record!(Receipt {
    event_id,
    event_time,
    source,
    receipt_id,
    location_id,
    shipment_id,
    po_id,
    lines,
});
avro_record!(ReceiptLine {
    sku,
    quantity_received,
    quantity_damaged
});

// shipments
avro_record!(ShipmentEvent {
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
    lines,
});
avro_enum!(ShipmentKind {
    Transfer,
    VendorAsn,
    PoShipment
});
avro_enum!(ShipmentStatus {
    Created,
    Departed,
    EtaChanged,
    Delivered,
    Cancelled,
});
avro_record!(ShipmentLine { sku, quantity });

// purchase_orders
avro_record!(PurchaseOrder {
    event_id,
    event_time,
    source,
    po_id,
    vendor_id,
    destination_location_id,
    status,
    expected_date,
    lines,
});
avro_enum!(PurchaseOrderStatus {
    Open,
    Amended,
    Cancelled,
    Closed
});
avro_record!(PurchaseOrderLine {
    sku,
    quantity_ordered
});

// inventory_adjustments
avro_record!(InventoryAdjustment {
    event_id,
    event_time,
    source,
    location_id,
    sku,
    kind,
    quantity,
    reason,
});
avro_enum!(AdjustmentKind {
    CycleCount,
    Shrink,
    Damage,
    Found,
    Correction,
});

// orders
avro_record!(Order {
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
});
avro_record!(Address {
    postal_code,
    city,
    country,
    latitude,
    longitude
});
avro_record!(DeliverySlot { start, end });
avro_record!(OrderLine {
    line_id,
    sku,
    quantity,
    unit_price_cents,
    discount_cents,
    promotion_ids,
});

// order_events
avro_record!(OrderEvent {
    event_id,
    event_time,
    source,
    order_id,
    channel,
    kind,
    lines,
    location_id,
    reason,
});
avro_enum!(OrderEventKind {
    Cancel,
    ModifyLines,
    Shipped,
    PickedUp,
    PickupExpired,
});
avro_record!(OrderEventLine {
    line_id,
    sku,
    quantity
});

// returns
avro_record!(ReturnEvent {
    event_id,
    event_time,
    source,
    return_id,
    order_id,
    customer_id,
    location_id,
    channel,
    lines,
});
avro_record!(ReturnLine {
    sku,
    quantity,
    condition,
    disposition,
    reason,
});
avro_enum!(ReturnCondition {
    Resellable,
    Damaged,
    VendorReturn
});
avro_enum!(Disposition {
    Restock,
    WriteOff,
    ReturnToVendor,
    Refurbish,
});

// locations
avro_record!(Location {
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
});
avro_enum!(LocationKind {
    Dc,
    Store,
    DarkStore
});
avro_enum!(Capability {
    Ship,
    Pickup,
    ShipFromStore,
    SameDay,
    Installation,
});
avro_record!(OpeningHours {
    day_of_week,
    open_minute,
    close_minute
});
avro_record!(TransitTime { region, days });

// safety_stock_policies
avro_record!(SafetyStockPolicy {
    event_id,
    event_time,
    source,
    policy_id,
    sku,
    location_id,
    channel,
    safety_stock_units,
    active,
});

// sourcing_rules
avro_record!(SourcingRule {
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
});
avro_enum!(SourcingStrategy {
    MinimizeCost,
    MinimizeSplits,
    Proximity,
    Priority,
});
avro_record!(CostWeights {
    shipping_cents_per_km,
    shipping_cents_per_package,
    split_penalty_cents,
    store_labour_cents_per_unit,
    lateness_cents_per_day,
    balancing_cents_per_unit,
});

// price_book
avro_record!(PriceBookEntry {
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
});
avro_record!(Promotion {
    promotion_id,
    kind,
    value,
    valid_from,
    valid_to,
});
avro_enum!(PromotionKind {
    PercentOff,
    AmountOff,
    FixedPrice
});

// availability
avro_record!(Availability {
    event_id,
    event_time,
    source,
    sku,
    version,
    channels,
});
avro_record!(ChannelAvailability {
    channel,
    network,
    locations
});
avro_record!(AtpBucket { until, atp });
avro_record!(LocationAvailability {
    location_id,
    on_hand,
    reserved,
    safety_stock,
    buckets,
});

// sourcing_decisions
avro_record!(SourcingDecision {
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
});
avro_record!(LineDecision {
    line_id,
    sku,
    quantity,
    outcome,
    allocations,
    reason,
});
avro_enum!(LineOutcome {
    Allocated,
    Backordered,
    Rejected
});
avro_record!(Allocation {
    location_id,
    quantity,
    supply,
    promised_ship_date,
    promised_delivery_date,
});
avro_record!(CostBreakdown {
    shipping_cents,
    split_penalty_cents,
    labour_cents,
    lateness_cents,
    balancing_cents,
    total_cents,
});
avro_record!(RejectedAlternative {
    location_ids,
    total_cents,
    lost_because
});

// disruptions
avro_record!(Disruption {
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
});
avro_enum!(DisruptionKind {
    LateShipment,
    ReceiptShortfall,
    ProjectedStockout,
    Oversell,
    LocationSilent,
});
avro_enum!(Severity {
    Info,
    Warning,
    Critical
});

// dead_letters
avro_record!(DeadLetter {
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
});
avro_enum!(DeadLetterKind {
    Decode,
    UnknownSchema,
    Validation,
    UnknownReference,
});

#[cfg(test)]
mod tests {
    use super::*;

    fn check_long(value: i64, bytes: &[u8]) {
        let mut out = Vec::new();
        write_long(value, &mut out);
        assert_eq!(out, bytes, "{value}");
        let mut input = bytes;
        assert_eq!(read_long(&mut input), Ok(value));
        assert!(input.is_empty());
    }

    #[test]
    fn longs_are_zigzag_varints() {
        check_long(0, &[0]);
        check_long(-1, &[1]);
        check_long(1, &[2]);
        check_long(-64, &[0x7f]);
        check_long(64, &[0x80, 1]);
        check_long(-8192, &[0xff, 0x7f]);
        check_long(8192, &[0x80, 0x80, 1]);
        check_long(1_767_225_600_000, &[0x80, 0xa0, 0xd5, 0xed, 0xee, 0x66]);
        check_long(
            i64::MAX,
            &[0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1],
        );
        check_long(
            i64::MIN,
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1],
        );
    }

    fn check_read<T: AvroDatum + PartialEq + std::fmt::Debug>(
        bytes: &[u8],
        expected: Result<T, &str>,
    ) {
        let mut input = bytes;
        assert_eq!(
            T::read_avro(&mut input).map_err(|e| e.0),
            expected,
            "{bytes:?}"
        );
    }

    #[test]
    fn malformed_input_is_refused() {
        check_read::<i64>(&[], Err("unexpected end of input"));
        check_read::<i64>(&[0x80, 0x80], Err("unexpected end of input"));
        check_read::<i64>(&[0xff; 11], Err("varint longer than 10 bytes"));
        check_read::<i32>(&[0x80, 0x80, 0x80, 0x80, 0x10], Err("int out of range"));
        check_read::<bool>(&[2], Err("boolean byte is neither 0 nor 1"));
        check_read::<String>(&[4, b'a'], Err("unexpected end of input"));
        check_read::<String>(&[3], Err("negative length"));
        check_read::<String>(&[2, 0xff], Err("string is not UTF-8"));
        check_read::<Option<i64>>(&[4, 0], Err("union branch index out of range"));
        check_read::<Channel>(&[10], Err("enum symbol index out of range"));
        check_read::<Channel>(&[1], Err("enum symbol index out of range"));
        check_read::<Vec<i64>>(
            &[0xfe, 0xff, 0xff, 0xff, 0x0f],
            Err("array block longer than the message"),
        );
        check_read::<f64>(&[0; 7], Err("unexpected end of input"));
    }

    #[test]
    fn arrays_are_read_in_any_blocking() {
        // Two blocks, the second with a negative count and its byte size.
        check_read::<Vec<i64>>(&[4, 2, 4, 1, 2, 6, 0], Ok(vec![1, 2, 3]));
        check_read::<Vec<i64>>(&[0], Ok(vec![]));
        check_read::<Vec<Channel>>(
            &[2, 8, 2, 0, 0],
            Ok(vec![Channel::Marketplace, Channel::Web]),
        );
    }

    #[test]
    fn enum_lists_follow_the_declaration_order() {
        // The discriminant is the symbol index written; the decode table must agree.
        for (i, channel) in [
            Channel::Web,
            Channel::App,
            Channel::CallCenter,
            Channel::Store,
            Channel::Marketplace,
        ]
        .into_iter()
        .enumerate()
        {
            let mut out = Vec::new();
            channel.write_avro(&mut out);
            check_read(&out, Ok(channel));
            assert_eq!(out, [i as u8 * 2]);
        }
    }
}
