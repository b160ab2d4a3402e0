//! The ledger's changelog: per order, its confirmed reservations and the shipment capacity
//! it still holds; per capacity pool (location, day), its use. Records use the format of
//! [`crate::availability::changelog`], names instead of the network's ids.
//!
//! The units held per (sku, location, day) and the pickup timers are sums and lists of the
//! confirmed reservations: not written, rebuilt by [`Ledger::restore_finish`]. Terminal
//! reservations are not written either (nothing reads them; an order's list in a shard
//! exists exactly while one of its reservations there is confirmed). Pools are written
//! whole, zero use included, as the ledger keeps them.

use super::super::ids::{Day, LocId};
use super::super::network::Network;
use super::{HoldKind, HoldState, Ledger, PoolUse, Reservation, ShipmentHold, add_hold};
use crate::availability::ChangelogBatch;
use crate::availability::RestoreError;
use crate::availability::changelog::{
    Bad, Kind, Reader, body, name_u64, parse_key, put_i64, put_str, put_u64,
};

/// What changed since the last [`Ledger::changelog_dirty`]. Order keys are never reused,
/// so nothing is noted before the first call (a ledger nobody logs keeps no list).
#[derive(Debug, Default)]
pub(super) struct LedgerLog {
    pub(super) enabled: bool,
    pub(super) orders: Vec<u64>,
    pub(super) pools: Vec<(LocId, Day)>,
}

impl LedgerLog {
    pub(super) fn order(&mut self, order: u64) {
        if self.enabled {
            self.orders.push(order);
        }
    }

    pub(super) fn pool(&mut self, loc: LocId, day: Day) {
        if self.enabled {
            self.pools.push((loc, day));
        }
    }
}

fn pool_key(loc: &str, day: Day, key: &mut Vec<u8>) {
    key.clear();
    key.extend_from_slice(&((day as u32) ^ 0x8000_0000).to_be_bytes());
    key.extend_from_slice(loc.as_bytes());
}

impl Ledger {
    /// Writes the changelog records of the orders and pools changed since the last call
    /// (a tombstone for an order with nothing confirmed left); the first call writes
    /// everything, as [`changelog_all`](Self::changelog_all). Applying every record
    /// written so far, last per key, to an empty ledger (of any shard count) with
    /// [`restore`](Self::restore) and calling [`restore_finish`](Self::restore_finish)
    /// gives a ledger that behaves as this one.
    pub fn changelog_dirty(&mut self, network: &Network, out: &mut ChangelogBatch) {
        if !self.log.enabled {
            self.log.enabled = true;
            self.changelog_all(network, out);
            return;
        }
        let mut orders = std::mem::take(&mut self.log.orders);
        orders.sort_unstable();
        orders.dedup();
        for &order in &orders {
            self.write_order(order, network, out);
        }
        orders.clear();
        self.log.orders = orders;
        let mut pools = std::mem::take(&mut self.log.pools);
        pools.sort_unstable();
        pools.dedup();
        let mut key = Vec::new();
        for &(loc, day) in &pools {
            self.write_pool(loc, day, network, &mut key, out);
        }
        pools.clear();
        self.log.pools = pools;
    }

    /// Writes a record for every order with something confirmed and every pool (what a
    /// snapshot holds).
    pub fn changelog_all(&self, network: &Network, out: &mut ChangelogBatch) {
        let mut orders: Vec<u64> = self
            .skus
            .iter()
            .flat_map(|s| s.orders.keys())
            .chain(self.pools.iter().flat_map(|s| s.orders.keys()))
            .copied()
            .collect();
        orders.sort_unstable();
        orders.dedup();
        for order in orders {
            self.write_order(order, network, out);
        }
        let mut key = Vec::new();
        for ((loc, day), _) in self.pools() {
            self.write_pool(loc, day, network, &mut key, out);
        }
    }

    fn write_order(&self, order: u64, network: &Network, out: &mut ChangelogBatch) {
        let name = order.to_be_bytes();
        let reservations = || {
            self.skus
                .iter()
                .filter_map(move |s| s.orders.get(&order))
                .flatten()
                .filter(|r| r.state == HoldState::Confirmed)
        };
        let shipments = || {
            self.pools
                .iter()
                .filter_map(move |s| s.orders.get(&order))
                .flatten()
        };
        let (n_res, n_ship) = (reservations().count(), shipments().count());
        if n_res == 0 && n_ship == 0 {
            out.tombstone(Kind::Order, &name);
            return;
        }
        let buf = out.begin(Kind::Order, &name);
        put_u64(buf, n_res as u64);
        for r in reservations() {
            buf.extend_from_slice(&r.line.to_le_bytes());
            put_str(buf, network.sku_name(r.sku));
            put_str(buf, network.location_name(r.loc));
            put_i64(buf, r.qty.into());
            put_i64(buf, r.day.into());
            put_u64(buf, r.shipment.into());
            buf.push(match r.kind {
                HoldKind::Ship => 0,
                HoldKind::Pickup => 1,
            });
            put_i64(buf, r.expires_ms);
            buf.push(u8::from(r.picked));
        }
        put_u64(buf, n_ship as u64);
        for s in shipments() {
            put_u64(buf, s.index.into());
            put_str(buf, network.location_name(s.loc));
            put_i64(buf, s.ship_day.into());
            match s.slot_day {
                None => buf.push(0),
                Some(d) => {
                    buf.push(1);
                    put_i64(buf, d.into());
                }
            }
            put_i64(buf, s.packages.into());
            put_i64(buf, s.lines_open.into());
            buf.push(u8::from(s.worked));
        }
        out.end();
    }

    fn write_pool(
        &self,
        loc: LocId,
        day: Day,
        network: &Network,
        key: &mut Vec<u8>,
        out: &mut ChangelogBatch,
    ) {
        pool_key(network.location_name(loc), day, key);
        match self.pools[self.pool_shard(loc)].used.get(&(loc, day)) {
            None => out.tombstone(Kind::Pool, key),
            Some(u) => {
                let buf = out.begin(Kind::Pool, key);
                put_i64(buf, u.pick.into());
                put_i64(buf, u.ship.into());
                put_i64(buf, u.slots.into());
                out.end();
            }
        }
    }

    /// Applies one changelog record (`None`: a tombstone) to a ledger being restored,
    /// interning names in `network`; call [`restore_finish`](Self::restore_finish) before
    /// using it. A record that cannot be read changes nothing (names may have been
    /// interned) and is an error: stop, do not skip it.
    pub fn restore(
        &mut self,
        network: &mut Network,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<(), RestoreError> {
        let (kind, name) = parse_key(key).map_err(|b| b.at(key))?;
        match kind {
            Kind::Order => {
                let order = name_u64(name, "order key is not 8 bytes").map_err(|b| b.at(key))?;
                let read = match value {
                    None => None,
                    Some(v) => {
                        let mut r = body(key, kind, v)?;
                        Some(read_order(&mut r, network).map_err(|b| b.at(key))?)
                    }
                };
                for shard in &mut self.skus {
                    shard.orders.remove(&order);
                }
                for shard in &mut self.pools {
                    shard.orders.remove(&order);
                }
                if let Some((reservations, shipments)) = read {
                    for r in reservations {
                        let k = self.sku_shard(r.sku);
                        self.skus[k].orders.entry(order).or_default().push(r);
                    }
                    for s in shipments {
                        let p = self.pool_shard(s.loc);
                        self.pools[p].orders.entry(order).or_default().push(s);
                    }
                }
            }
            Kind::Pool => {
                let (day, loc) = name
                    .split_first_chunk::<4>()
                    .ok_or(Bad("pool key too short").at(key))?;
                let day = (u32::from_be_bytes(*day) ^ 0x8000_0000) as Day;
                let loc = std::str::from_utf8(loc).map_err(|_| Bad("key is not UTF-8").at(key))?;
                let used = match value {
                    None => None,
                    Some(v) => {
                        let mut r = body(key, kind, v)?;
                        let read = |r: &mut Reader<'_>| -> Result<PoolUse, Bad> {
                            let u = PoolUse {
                                pick: r.i32()?,
                                ship: r.i32()?,
                                slots: r.i32()?,
                            };
                            r.end()?;
                            Ok(u)
                        };
                        Some(read(&mut r).map_err(|b| b.at(key))?)
                    }
                };
                let loc = network.location_id(loc);
                let p = self.pool_shard(loc);
                match used {
                    None => self.pools[p].used.remove(&(loc, day)),
                    Some(u) => self.pools[p].used.insert((loc, day), u),
                };
            }
            _ => return Err(Bad("not a ledger record").at(key)),
        }
        Ok(())
    }

    /// Rebuilds the units held per (sku, location, day) and the pickup timers from the
    /// confirmed reservations, after the last [`restore`](Self::restore).
    pub fn restore_finish(&mut self) {
        for shard in &mut self.skus {
            shard.holds.clear();
            shard.timers.clear();
            for (order, list) in &shard.orders {
                for r in list {
                    add_hold(shard.holds.entry(r.sku).or_default(), r.loc, r.day, r.qty);
                    if r.kind == HoldKind::Pickup {
                        shard.timers.insert((r.expires_ms, *order, r.line));
                    }
                }
            }
            shard.holds.retain(|_, list| !list.is_empty());
        }
    }
}

type OrderState = (Vec<Reservation>, Vec<ShipmentHold>);

fn read_order(r: &mut Reader<'_>, network: &mut Network) -> Result<OrderState, Bad> {
    let n = r.count()?;
    let mut reservations = Vec::with_capacity(n);
    for _ in 0..n {
        let line = u64::from_le_bytes(r.bytes(8)?.try_into().expect("8 bytes"));
        let sku = network.sku_id(r.str()?);
        let loc = network.location_id(r.str()?);
        let qty = r.i32()?;
        if qty <= 0 {
            return Err(Bad("a confirmed reservation of no units"));
        }
        let day = r.i32()?;
        let shipment = u16::try_from(r.u64()?).map_err(|_| Bad("shipment index out of range"))?;
        let kind = match r.u8()? {
            0 => HoldKind::Ship,
            1 => HoldKind::Pickup,
            _ => return Err(Bad("unknown hold kind")),
        };
        let expires_ms = r.i64()?;
        let picked = r.bool()?;
        reservations.push(Reservation {
            line,
            sku,
            loc,
            qty,
            day,
            shipment,
            kind,
            expires_ms,
            state: HoldState::Confirmed,
            picked,
        });
    }
    let n = r.count()?;
    let mut shipments = Vec::with_capacity(n);
    for _ in 0..n {
        let index = u16::try_from(r.u64()?).map_err(|_| Bad("shipment index out of range"))?;
        let loc = network.location_id(r.str()?);
        let ship_day = r.i32()?;
        let slot_day = match r.u8()? {
            0 => None,
            1 => Some(r.i32()?),
            _ => return Err(Bad("bad option tag")),
        };
        shipments.push(ShipmentHold {
            index,
            loc,
            ship_day,
            slot_day,
            packages: r.i32()?,
            lines_open: r.i32()?,
            worked: r.bool()?,
        });
    }
    r.end()?;
    Ok((reservations, shipments))
}
