//! [`OrderRequest`]: an order as the planner reads it — interned ids, days, radians — built
//! once at the boundary from the Avro [`Order`].

use allot_schemas::{Channel, FulfilmentType, Order};
use xxhash_rust::xxh3::xxh3_64;

use super::ids::{Day, LocId, SkuId, day_of};
use super::network::Network;

/// Where a shipment goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Destination {
    /// Latitude in radians.
    pub lat_rad: f64,
    /// Longitude in radians.
    pub lon_rad: f64,
    /// Cosine of the latitude.
    pub cos_lat: f64,
    /// ISO country code bytes.
    pub country: [u8; 2],
    /// Postal code bytes (the first 12), for transit-time regions.
    pub postal: [u8; 12],
    /// Bytes of `postal` used.
    pub postal_len: u8,
}

impl Destination {
    /// A destination at (`lat`, `lon`) in degrees.
    pub fn new(lat: f64, lon: f64, country: &str, postal_code: &str) -> Destination {
        let lat_rad = lat.to_radians();
        let c = country.as_bytes();
        let mut postal = [0u8; 12];
        let p = postal_code.as_bytes();
        let n = p.len().min(12);
        postal[..n].copy_from_slice(&p[..n]);
        Destination {
            lat_rad,
            lon_rad: lon.to_radians(),
            cos_lat: lat_rad.cos(),
            country: [
                c.first().copied().unwrap_or(b'?'),
                c.get(1).copied().unwrap_or(b'?'),
            ],
            postal,
            postal_len: n as u8,
        }
    }

    /// The postal code bytes.
    pub fn postal(&self) -> &[u8] {
        &self.postal[..self.postal_len as usize]
    }
}

/// One order line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineRequest {
    /// Key of the line in the ledger (hash of the line id).
    pub line: u64,
    /// The sku.
    pub sku: SkuId,
    /// Units ordered; a line with fewer than 1 is rejected.
    pub qty: i32,
}

/// An order, ready to plan.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderRequest {
    /// Key of the order in the ledger (hash of the order id; 64 bits, so a collision needs
    /// billions of live orders).
    pub key: u64,
    /// The order's event time: "now" for the planner.
    pub now_ms: i64,
    /// The channel.
    pub channel: Channel,
    /// How the customer receives the goods.
    pub fulfilment: FulfilmentType,
    /// Where to ship; `None` for pickup (or a shipping order without address, which is then
    /// rejected).
    pub destination: Option<Destination>,
    /// The pickup store, for pickup in store.
    pub pickup: Option<LocId>,
    /// The requested delivery or pickup day.
    pub requested_day: Day,
    /// The delivery or installation slot's day.
    pub slot_day: Option<Day>,
    /// The lines, in order.
    pub lines: Vec<LineRequest>,
}

/// The ledger key of an order or line id.
pub fn key_of(id: &str) -> u64 {
    xxh3_64(id.as_bytes())
}

impl OrderRequest {
    /// The request for `order`, interning its skus and pickup store in `network`.
    pub fn from_order(network: &mut Network, order: &Order) -> OrderRequest {
        OrderRequest {
            key: key_of(&order.order_id),
            now_ms: order.event_time,
            channel: order.channel,
            fulfilment: order.fulfilment,
            destination: order
                .destination
                .as_ref()
                .map(|a| Destination::new(a.latitude, a.longitude, &a.country, &a.postal_code)),
            pickup: order
                .pickup_location_id
                .as_deref()
                .map(|l| network.location_id(l)),
            requested_day: day_of(order.requested_date),
            slot_day: order.slot.as_ref().map(|s| day_of(s.start)),
            lines: order
                .lines
                .iter()
                .map(|l| LineRequest {
                    line: key_of(&l.line_id),
                    sku: network.sku_id(&l.sku),
                    qty: l.quantity,
                })
                .collect(),
        }
    }

    /// The order's day.
    pub fn today(&self) -> Day {
        day_of(self.now_ms)
    }
}
