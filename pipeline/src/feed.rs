//! The feeds between partitioned state's stages (`runtime.sku_partitions` = N > 0 with
//! sourcing on). Sourcing needs the supply of every sku of an order, which N shards hold;
//! the shards need the units sourcing reserves, to show them in availability. Two compacted
//! topics carry that, raw records in the changelog format
//! ([`crate::availability::changelog`]), keyed by sku, N partitions, partition `p` holding
//! the skus of sku partition `p`:
//!
//! - `allot.changelog.supply` ([`SUPPLY_FEED`]): written by the holder of each sku
//!   partition at every flush, for every sku whose state the flush wrote to the changelog:
//!   its supply per location as sourcing reads it
//!   ([`AvailabilityEngine::visit_supply`]: sellable on hand less safety stock, and the
//!   inbound lines) and the shard's watermark. Read by the sourcing stage (`allot source`)
//!   into a [`SupplyMirror`], the [`Stock`] it sources against.
//! - `allot.changelog.reserved` ([`RESERVED_FEED`]): written by the sourcing stage at every
//!   flush, for every sku whose reserved units changed: the units per location (a tombstone
//!   once none are). Read by every `allot run` instance into a [`ReservedMirror`], which
//!   sets them on the engine of the shard holding the sku.
//!
//! Both are written in the writer's flight (and transaction, exactly once) with its other
//! outputs, and read committed. Each record is a sku's whole value, so the last record per
//! key is all a reader needs: compaction keeps the topics at the size of the state.
//!
//! Invariants (tested below): a supply record read into a mirror gives sourcing exactly the
//! supply the engine that wrote it gives (`visit_supply`); reserved records written from
//! any sequence of `set_reserved` calls leave a reader holding, per (sku, location), the
//! last units set, and nothing where they went back to 0.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::availability::changelog::{
    Bad, Kind, Reader, body, parse_key, put_i64, put_str, put_u64,
};
use crate::availability::{AvailabilityEngine, ChangelogBatch, Inbound, RestoreError, SupplyKind};
use crate::sourcing::Stock;

/// The name of the supply feed's topic (`changelog_topic(kafka, SUPPLY_FEED)`).
pub const SUPPLY_FEED: &str = "supply";

/// The name of the reserved-units feed's topic (`changelog_topic(kafka, RESERVED_FEED)`).
pub const RESERVED_FEED: &str = "reserved";

/// The sku a feed record (supply or reserved units) is keyed by.
pub fn sku_of(key: &[u8]) -> Option<&str> {
    match parse_key(key) {
        Ok((Kind::Supply | Kind::Reserved, name)) => std::str::from_utf8(name).ok(),
        _ => None,
    }
}

/// Writes one supply record for every sku record in `changelog` (what a flush of `engine`
/// wrote to its changelog), from the engine's state now.
pub fn write_supply(
    engine: &AvailabilityEngine,
    changelog: &ChangelogBatch,
    out: &mut ChangelogBatch,
) {
    let mut locs = Vec::new();
    for (key, _) in changelog.iter() {
        let Ok((Kind::Sku, name)) = parse_key(key) else {
            continue;
        };
        let Ok(sku) = std::str::from_utf8(name) else {
            continue;
        };
        locs.clear();
        let mut n = 0u64;
        engine.visit_supply(sku, |loc, on_hand, inbound| {
            n += 1;
            put_str(&mut locs, loc);
            put_i64(&mut locs, on_hand.into());
            put_u64(&mut locs, inbound.len() as u64);
            for i in inbound {
                put_i64(&mut locs, i.due);
                put_i64(&mut locs, i.qty.into());
                locs.push(match i.kind {
                    SupplyKind::InTransit => 0,
                    SupplyKind::OnOrder => 1,
                });
            }
        });
        let buf = out.begin(Kind::Supply, name);
        put_i64(buf, engine.watermark());
        put_u64(buf, n);
        buf.extend_from_slice(&locs);
        out.end();
    }
}

/// One location's supply of a sku, as a supply record carries it.
#[derive(Debug, Clone, PartialEq)]
struct LocSupply {
    loc: String,
    on_hand: i32,
    inbound: Vec<Inbound>,
}

/// The sourcing stage's view of the shards' supply (from [`SUPPLY_FEED`]) and the units it
/// reserves (for [`RESERVED_FEED`]).
#[derive(Debug)]
pub struct SupplyMirror {
    supply: HashMap<String, Vec<LocSupply>>,
    /// The newest watermark of any shard (pickups expire against it, as beside one engine).
    watermark: i64,
    /// Reserved units per sku and location, as last written (or to be written).
    reserved: HashMap<String, BTreeMap<String, i32>>,
    /// Skus whose reserved units changed since the last [`write_reserved`](Self::write_reserved).
    dirty: BTreeSet<String>,
}

impl Default for SupplyMirror {
    fn default() -> Self {
        SupplyMirror {
            supply: HashMap::new(),
            watermark: i64::MIN,
            reserved: HashMap::new(),
            dirty: BTreeSet::new(),
        }
    }
}

impl SupplyMirror {
    /// Applies one record of the supply feed (`None`: a tombstone).
    pub fn apply(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), RestoreError> {
        let sku = match parse_key(key) {
            Ok((Kind::Supply, name)) => {
                std::str::from_utf8(name).map_err(|_| Bad("key is not UTF-8").at(key))?
            }
            _ => return Err(Bad("not a supply record").at(key)),
        };
        let Some(value) = value else {
            self.supply.remove(sku);
            return Ok(());
        };
        let mut r = body(key, Kind::Supply, value)?;
        let (watermark, locs) = read_supply(&mut r).map_err(|b| b.at(key))?;
        self.watermark = self.watermark.max(watermark);
        if locs.is_empty() {
            self.supply.remove(sku);
        } else {
            self.supply.insert(sku.to_owned(), locs);
        }
        Ok(())
    }

    /// Skus with supply.
    pub fn skus(&self) -> usize {
        self.supply.len()
    }

    /// Applies one record of the reserved feed as what was written before (a restarted
    /// stage reads the feed back, so it writes only what differs from it).
    pub fn apply_reserved(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), RestoreError> {
        let (sku, units) = read_reserved_record(key, value)?;
        if units.is_empty() {
            self.reserved.remove(sku);
        } else {
            self.reserved.insert(sku.to_owned(), units);
        }
        Ok(())
    }

    /// Replaces every reserved unit by `totals` (the ledger's, after a restore): skus whose
    /// units differ from what was written are written again, those no longer reserved as
    /// tombstones.
    pub fn replace_reserved<'a>(
        &mut self,
        totals: impl IntoIterator<Item = (&'a str, &'a str, i32)>,
    ) {
        let mut fresh: HashMap<String, BTreeMap<String, i32>> = HashMap::new();
        for (sku, loc, units) in totals {
            if units != 0 {
                fresh
                    .entry(sku.to_owned())
                    .or_default()
                    .insert(loc.to_owned(), units);
            }
        }
        for (sku, units) in &self.reserved {
            if fresh.get(sku) != Some(units) {
                self.dirty.insert(sku.clone());
            }
        }
        for sku in fresh.keys() {
            if !self.reserved.contains_key(sku) {
                self.dirty.insert(sku.clone());
            }
        }
        self.reserved = fresh;
    }

    /// Writes a reserved record (or a tombstone) for every sku changed since the last call.
    pub fn write_reserved(&mut self, out: &mut ChangelogBatch) {
        for sku in std::mem::take(&mut self.dirty) {
            match self.reserved.get(&sku) {
                None => out.tombstone(Kind::Reserved, sku.as_bytes()),
                Some(units) => {
                    let buf = out.begin(Kind::Reserved, sku.as_bytes());
                    put_u64(buf, units.len() as u64);
                    for (loc, u) in units {
                        put_str(buf, loc);
                        put_i64(buf, (*u).into());
                    }
                    out.end();
                }
            }
        }
    }
}

impl Stock for SupplyMirror {
    fn visit_supply(&self, sku: &str, mut f: impl FnMut(&str, i32, &[Inbound])) {
        for l in self.supply.get(sku).into_iter().flatten() {
            f(&l.loc, l.on_hand, &l.inbound);
        }
    }

    fn set_reserved(&mut self, sku: &str, loc: &str, units: i32) {
        let entry = self.reserved.entry(sku.to_owned()).or_default();
        let before = entry.get(loc).copied().unwrap_or(0);
        if before == units {
            if entry.is_empty() {
                self.reserved.remove(sku);
            }
            return;
        }
        if units == 0 {
            entry.remove(loc);
            if entry.is_empty() {
                self.reserved.remove(sku);
            }
        } else {
            entry.insert(loc.to_owned(), units);
        }
        self.dirty.insert(sku.to_owned());
    }

    fn watermark(&self) -> i64 {
        self.watermark
    }
}

fn read_supply(r: &mut Reader<'_>) -> Result<(i64, Vec<LocSupply>), Bad> {
    let watermark = r.i64()?;
    let n = r.count()?;
    let mut locs = Vec::with_capacity(n);
    for _ in 0..n {
        let loc = r.str()?.to_owned();
        let on_hand = r.i32()?;
        let m = r.count()?;
        let mut inbound = Vec::with_capacity(m);
        for _ in 0..m {
            let due = r.i64()?;
            let qty = r.i32()?;
            let kind = match r.u8()? {
                0 => SupplyKind::InTransit,
                1 => SupplyKind::OnOrder,
                _ => return Err(Bad("unknown supply kind")),
            };
            // (the document is not carried: sourcing reads due, quantity and kind only)
            inbound.push(Inbound {
                doc: 0,
                kind,
                due,
                qty,
            });
        }
        locs.push(LocSupply {
            loc,
            on_hand,
            inbound,
        });
    }
    r.end()?;
    Ok((watermark, locs))
}

/// A reserved record's sku and units per location (empty for a tombstone).
fn read_reserved_record<'k>(
    key: &'k [u8],
    value: Option<&[u8]>,
) -> Result<(&'k str, BTreeMap<String, i32>), RestoreError> {
    let sku = match parse_key(key) {
        Ok((Kind::Reserved, name)) => {
            std::str::from_utf8(name).map_err(|_| Bad("key is not UTF-8").at(key))?
        }
        _ => return Err(Bad("not a reserved-units record").at(key)),
    };
    let mut units = BTreeMap::new();
    if let Some(value) = value {
        let mut r = body(key, Kind::Reserved, value)?;
        let read = (|| {
            let n = r.count()?;
            for _ in 0..n {
                let loc = r.str()?.to_owned();
                let u = r.i32()?;
                units.insert(loc, u);
            }
            r.end()
        })();
        read.map_err(|b| b.at(key))?;
    }
    Ok((sku, units))
}

/// A reserved record applied: its sku and, per location whose units changed, the new units.
pub type ReservedChange<'k> = (&'k str, Vec<(String, i32)>);

/// What an `allot run` instance knows of the sourcing stage's reservations (from
/// [`RESERVED_FEED`]): units per sku and location, for every sku, so that a shard assigned
/// later gets them at once.
#[derive(Debug, Default)]
pub struct ReservedMirror {
    units: HashMap<String, BTreeMap<String, i32>>,
}

impl ReservedMirror {
    /// Applies one record; returns its sku and, per location whose units changed, the new
    /// units (0 where a reservation went away), for the engine holding the sku.
    pub fn apply<'k>(
        &mut self,
        key: &'k [u8],
        value: Option<&[u8]>,
    ) -> Result<ReservedChange<'k>, RestoreError> {
        let (sku, units) = read_reserved_record(key, value)?;
        let before = self.units.remove(sku).unwrap_or_default();
        let mut changed: Vec<(String, i32)> = before
            .iter()
            .filter(|(loc, _)| !units.contains_key(*loc))
            .map(|(loc, _)| (loc.clone(), 0))
            .collect();
        changed.extend(
            units
                .iter()
                .filter(|(loc, u)| before.get(*loc) != Some(u))
                .map(|(loc, u)| (loc.clone(), *u)),
        );
        if !units.is_empty() {
            self.units.insert(sku.to_owned(), units);
        }
        Ok((sku, changed))
    }

    /// The units reserved of `sku` at `loc`.
    pub fn units_at(&self, sku: &str, loc: &str) -> i32 {
        self.units
            .get(sku)
            .and_then(|u| u.get(loc))
            .copied()
            .unwrap_or(0)
    }

    /// Every (location, units) reserved of the skus `mine` selects, for an engine that
    /// takes over a shard.
    pub fn visit(&self, mine: impl Fn(&str) -> bool, mut f: impl FnMut(&str, &str, i32)) {
        for (sku, units) in self.units.iter().filter(|(s, _)| mine(s)) {
            for (loc, u) in units {
                f(sku, loc, *u);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use allot_schemas::*;

    use super::*;
    use crate::availability::AvailabilityConfig;

    type LocLines = (String, i32, Vec<(i64, i32, SupplyKind)>);

    fn supply_of(stock: &impl Stock, sku: &str) -> Vec<LocLines> {
        let mut out = Vec::new();
        stock.visit_supply(sku, |loc, on_hand, inbound| {
            out.push((
                loc.to_owned(),
                on_hand,
                inbound.iter().map(|i| (i.due, i.qty, i.kind)).collect(),
            ));
        });
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The generated workload through one engine: a mirror fed the supply records of every
    /// flush gives sourcing the engine's supply for every sku, and its watermark.
    #[test]
    fn a_supply_mirror_gives_sourcing_the_engines_supply() {
        let config = allot_loadtest::WorkloadConfig {
            days: 2,
            stores: 6,
            skus: 60,
            ..allot_loadtest::WorkloadConfig::default()
        };
        let mut engine = AvailabilityEngine::new(AvailabilityConfig::default());
        let mut mirror = SupplyMirror::default();
        let (mut log, mut feed) = (ChangelogBatch::default(), ChangelogBatch::default());
        let mut skus = BTreeSet::new();
        for (i, r) in allot_loadtest::Workload::new(config).unwrap().enumerate() {
            engine.apply(&r);
            if let AnyRecord::PosSale(s) = &r {
                skus.extend(s.lines.iter().map(|l| l.sku.clone()));
            }
            if i % 97 == 0 {
                log.clear();
                feed.clear();
                engine.changelog_dirty(&mut log);
                write_supply(&engine, &log, &mut feed);
                for (k, v) in feed.iter() {
                    mirror.apply(k, v).unwrap();
                }
            }
        }
        log.clear();
        feed.clear();
        engine.changelog_dirty(&mut log);
        write_supply(&engine, &log, &mut feed);
        for (k, v) in feed.iter() {
            assert_eq!(sku_of(k).map(str::len), Some(k.len() - 2));
            mirror.apply(k, v).unwrap();
        }
        assert!(skus.len() > 20, "the workload sells many skus");
        let mut with_inbound = 0;
        for sku in &skus {
            let want = supply_of(&engine, sku);
            with_inbound += want.iter().any(|l| !l.2.is_empty()) as usize;
            assert_eq!(supply_of(&mirror, sku), want, "{sku}");
        }
        assert!(with_inbound > 0, "some skus have inbound supply");
        assert_eq!(Stock::watermark(&mirror), engine.watermark());
    }

    /// Reserved units set in any order reach a reader as the last units per (sku,
    /// location), with nothing where they went back to 0; a stage that read the feed back
    /// and is given the ledger's totals writes only what differs.
    #[test]
    fn reserved_units_reach_the_shards_as_last_set() {
        let mut stage = SupplyMirror::default();
        let mut shards = ReservedMirror::default();
        let mut seen: HashMap<(String, String), i32> = HashMap::new();
        let mut want: HashMap<(String, String), i32> = HashMap::new();
        // The stage's changed units, written and read by the shards' mirror.
        fn deliver(
            stage: &mut SupplyMirror,
            shards: &mut ReservedMirror,
            seen: &mut HashMap<(String, String), i32>,
        ) {
            let mut feed = ChangelogBatch::default();
            stage.write_reserved(&mut feed);
            for (k, v) in feed.iter() {
                let (sku, changed) = shards.apply(k, v).unwrap();
                for (loc, u) in changed {
                    seen.insert((sku.to_owned(), loc), u);
                }
            }
        }
        let mut feed = ChangelogBatch::default();
        let mut seed = 7u64;
        for round in 0..200 {
            for _ in 0..5 {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let (sku, loc) = (format!("s{}", seed >> 60), format!("l{}", (seed >> 56) & 3));
                let units = ((seed >> 40) % 4) as i32;
                stage.set_reserved(&sku, &loc, units);
                want.insert((sku, loc), units);
            }
            if round % 3 == 0 {
                deliver(&mut stage, &mut shards, &mut seen);
            }
        }
        deliver(&mut stage, &mut shards, &mut seen);
        want.retain(|_, u| *u != 0);
        seen.retain(|_, u| *u != 0);
        assert_eq!(seen, want);
        let mut held = HashMap::new();
        shards.visit(
            |_| true,
            |s, l, u| {
                held.insert((s.to_owned(), l.to_owned()), u);
            },
        );
        assert_eq!(held, want);

        // A restarted stage: reads the feed back, then takes the ledger's totals, of which
        // one changed and one is gone.
        let mut restarted = SupplyMirror::default();
        let mut all = ChangelogBatch::default();
        let mut again = SupplyMirror::default();
        for ((s, l), u) in &want {
            again.set_reserved(s, l, *u);
        }
        again.write_reserved(&mut all);
        for (k, v) in all.iter() {
            restarted.apply_reserved(k, v).unwrap();
        }
        let mut totals: Vec<(String, String, i32)> = want
            .iter()
            .map(|((s, l), u)| (s.clone(), l.clone(), *u))
            .collect();
        totals.sort();
        let gone = totals.remove(0);
        totals[0].2 += 1;
        restarted.replace_reserved(totals.iter().map(|(s, l, u)| (s.as_str(), l.as_str(), *u)));
        feed.clear();
        restarted.write_reserved(&mut feed);
        let written: BTreeSet<&str> = feed.iter().filter_map(|(k, _)| sku_of(k)).collect();
        let expected: BTreeSet<&str> = [gone.0.as_str(), totals[0].0.as_str()].into();
        assert_eq!(written, expected);
    }
}
