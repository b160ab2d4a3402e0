//! The sourcing processor's changelog: the ledger's records (reservations, capacity pools;
//! `ledger/changelog.rs`) and the processor's own state around them, in the format of
//! [`crate::availability::changelog`]:
//!
//! - per order holding reservations (`Q` + order key): the order as it was sourced, Avro
//!   encoded, so its later events (ship, cancel, modify, expiry) map back to its lines;
//! - the orders queued and not decided yet (`W`, one record; empty when none);
//! - the order ids remembered for duplicate detection, in numbered chunks (`D`): each chunk
//!   holds the ids first seen between two writes, and is tombstoned once every id in it has
//!   been evicted (the window evicts in insertion order, so that is exact);
//! - one meta record (`Z`): ids evicted so far, the next chunk's number, and the day the
//!   ledger's capacity pools are kept from.
//!
//! Rebuilt on restore instead of written: the set of orders with a modification queued (the
//! queued orders say which), the ledger's sums and timers ([`Ledger::restore_finish`]).
//! Not written: the network and the price book (reference data: the runtime reads those
//! topics again), and the counters of [`SourcingStats`](super::SourcingStats).
//!
//! Applying every record written so far, last per key, to a fresh processor with
//! [`SourcingProcessor::restore`] and calling [`SourcingProcessor::restore_finish`] gives a
//! processor that decides as this one does (given the same reference data).

use std::collections::{BTreeMap, VecDeque};

use allot_schemas::Order;
use allot_schemas::codec::AvroDatum;

use super::super::request::key_of;
use super::{OpenOrder, SourcingProcessor};
use crate::availability::ChangelogBatch;
use crate::availability::RestoreError;
use crate::availability::changelog::{
    Bad, Kind, Reader, body, name_u64, parse_key, put_i64, put_u64,
};

/// Most order ids in one chunk record (about 250 KB).
const CHUNK_IDS: usize = 16_384;

/// What changed since the last [`SourcingProcessor::changelog_dirty`].
#[derive(Debug, Default)]
pub(super) struct ProcessorLog {
    /// Whether anything was written yet (the first write is everything).
    enabled: bool,
    /// Orders whose `open` entry was inserted or removed.
    open: Vec<u64>,
    /// Whether the last queued-orders record written held any.
    queued: bool,
    /// Order ids inserted before this index are in chunks already.
    ids_logged: u64,
    /// Chunks written and not yet tombstoned: (number, end index).
    chunks: VecDeque<(u64, u64)>,
    next_chunk: u64,
    /// The meta record's body as last written.
    meta: Vec<u8>,
    /// Read by `restore`: chunks by number (first index, (time, key) per id), and the meta.
    restored_chunks: BTreeMap<u64, (u64, Vec<(i64, u64)>)>,
    restored_meta: Option<(u64, u64, i32)>,
}

impl ProcessorLog {
    pub(super) fn open(&mut self, order: u64) {
        if self.enabled {
            self.open.push(order);
        }
    }
}

/// The meta record's body.
fn meta_body(evicted: u64, next_chunk: u64, pools_kept_from: i32) -> Vec<u8> {
    let mut meta = Vec::new();
    put_u64(&mut meta, evicted);
    put_u64(&mut meta, next_chunk);
    put_i64(&mut meta, i64::from(pools_kept_from));
    meta
}

impl SourcingProcessor {
    /// Writes the changelog records of the sourcing state changed since the last call (the
    /// first call writes all of it): the ledger's, then the processor's own. Call it after
    /// [`decide`](Self::decide), in the same flight (transaction) as the flush's outputs.
    pub fn changelog_dirty(&mut self, out: &mut ChangelogBatch) {
        if !self.settings.enabled {
            return;
        }
        self.ledger.changelog_dirty(&self.network, out);
        let first = !self.log.enabled;
        self.log.enabled = true;
        let mut dirty = std::mem::take(&mut self.log.open);
        if first {
            dirty.extend(self.open.keys().copied());
        }
        dirty.sort_unstable();
        dirty.dedup();
        for &key in &dirty {
            let name = key.to_be_bytes();
            match self.open.get(&key) {
                Some(_) => self.write_open(key, out),
                None => out.tombstone(Kind::OpenOrder, &name),
            }
        }
        dirty.clear();
        self.log.open = dirty;
        // Queued orders: written while there are any, and once more (empty) after.
        if first || self.log.queued || !self.pending.is_empty() {
            self.write_queued(out);
            self.log.queued = !self.pending.is_empty();
        }
        // New order ids, in chunks; chunks whose ids have all been evicted, tombstoned.
        self.log.ids_logged = self.log.ids_logged.max(self.seen.evicted());
        let end = self.seen.inserted();
        while self.log.ids_logged < end {
            let start = self.log.ids_logged;
            let stop = end.min(start + CHUNK_IDS as u64);
            let seq = self.log.next_chunk;
            self.log.next_chunk += 1;
            self.write_chunk(seq, start, stop, out);
            self.log.chunks.push_back((seq, stop));
            self.log.ids_logged = stop;
        }
        let evicted = self.seen.evicted();
        while let Some(&(seq, stop)) = self.log.chunks.front()
            && stop <= evicted
        {
            out.tombstone(Kind::OrderIds, &seq.to_be_bytes());
            self.log.chunks.pop_front();
        }
        let meta = meta_body(evicted, self.log.next_chunk, self.pools_kept_from);
        if first || meta != self.log.meta {
            out.begin(Kind::SourcingMeta, b"").extend_from_slice(&meta);
            out.end();
            self.log.meta = meta;
        }
    }

    /// Writes a record for every part of the sourcing state (what a snapshot holds), in the
    /// numbering of the changelog written so far: order ids inserted since the last
    /// [`changelog_dirty`](Self::changelog_dirty) go in the chunks that call will write (with
    /// the same numbers), so a snapshot and the changelog after it agree. Does not change what
    /// the next `changelog_dirty` writes.
    pub fn changelog_all(&self, out: &mut ChangelogBatch) {
        if !self.settings.enabled {
            return;
        }
        self.ledger.changelog_all(&self.network, out);
        let mut open: Vec<u64> = self.open.keys().copied().collect();
        open.sort_unstable();
        for key in open {
            self.write_open(key, out);
        }
        self.write_queued(out);
        let evicted = self.seen.evicted();
        // Chunks written and not tombstoned yet, from the first id still remembered.
        let mut start = evicted;
        for &(seq, stop) in &self.log.chunks {
            if stop > evicted {
                self.write_chunk(seq, start.max(evicted), stop, out);
            }
            start = stop;
        }
        let (mut start, end) = (self.log.ids_logged.max(evicted), self.seen.inserted());
        let mut seq = self.log.next_chunk;
        while start < end {
            let stop = end.min(start + CHUNK_IDS as u64);
            self.write_chunk(seq, start, stop, out);
            seq += 1;
            start = stop;
        }
        out.begin(Kind::SourcingMeta, b"")
            .extend_from_slice(&meta_body(evicted, seq, self.pools_kept_from));
        out.end();
    }

    /// The record of an open order (`key` must be in `open`).
    fn write_open(&self, key: u64, out: &mut ChangelogBatch) {
        self.open[&key]
            .order
            .write_avro(out.begin(Kind::OpenOrder, &key.to_be_bytes()));
        out.end();
    }

    /// The record of the queued orders (empty when none are).
    fn write_queued(&self, out: &mut ChangelogBatch) {
        let buf = out.begin(Kind::Queued, b"");
        put_u64(buf, self.pending.len() as u64);
        for (order, modified) in &self.pending {
            buf.push(u8::from(*modified));
            order.write_avro(buf);
        }
        out.end();
    }

    /// Chunk `seq` of the order-id window: the ids inserted at indexes `start..stop`.
    fn write_chunk(&self, seq: u64, start: u64, stop: u64, out: &mut ChangelogBatch) {
        let buf = out.begin(Kind::OrderIds, &seq.to_be_bytes());
        put_u64(buf, start);
        put_u64(buf, stop - start);
        let mut prev = 0i64;
        for (time, id) in self.seen.range(start, stop) {
            put_i64(buf, time.wrapping_sub(prev));
            buf.extend_from_slice(&(id as u64).to_le_bytes());
            prev = time;
        }
        out.end();
    }

    /// Applies one sourcing changelog record (`None`: a tombstone) to a processor being
    /// restored; call [`restore_finish`](Self::restore_finish) before using it. A record that
    /// cannot be read is an error: stop, do not skip it.
    pub fn restore(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), RestoreError> {
        let (kind, name) = parse_key(key).map_err(|b| b.at(key))?;
        let log = &mut self.log;
        match (kind, value) {
            (Kind::Order | Kind::Pool, _) => {
                return self.ledger.restore(&mut self.network, key, value);
            }
            (Kind::OpenOrder, value) => {
                let order = name_u64(name, "order key is not 8 bytes").map_err(|b| b.at(key))?;
                match value {
                    None => {
                        self.open.remove(&order);
                    }
                    Some(v) => {
                        let mut r = body(key, kind, v)?;
                        let o = r
                            .avro::<Order>()
                            .and_then(|o| r.end().map(|()| o))
                            .map_err(|b| b.at(key))?;
                        if key_of(&o.order_id) != order {
                            return Err(Bad("order key does not match its order id").at(key));
                        }
                        self.open.insert(order, OpenOrder { order: o });
                    }
                }
            }
            (Kind::Queued, None) => self.pending.clear(),
            (Kind::Queued, Some(v)) => {
                let mut r = body(key, kind, v)?;
                let read = |r: &mut Reader<'_>| -> Result<Vec<(Order, bool)>, Bad> {
                    let n = r.count()?;
                    let mut list = Vec::with_capacity(n.min(1 << 16));
                    for _ in 0..n {
                        let modified = r.bool()?;
                        list.push((r.avro()?, modified));
                    }
                    r.end()?;
                    Ok(list)
                };
                self.pending = read(&mut r).map_err(|b| b.at(key))?;
            }
            (Kind::OrderIds, value) => {
                let seq = name_u64(name, "chunk key is not 8 bytes").map_err(|b| b.at(key))?;
                match value {
                    None => {
                        log.restored_chunks.remove(&seq);
                    }
                    Some(v) => {
                        let mut r = body(key, kind, v)?;
                        let read = |r: &mut Reader<'_>| -> Result<(u64, Vec<(i64, u64)>), Bad> {
                            let first = r.u64()?;
                            let n = r.count()?;
                            let mut ids = Vec::with_capacity(n.min(CHUNK_IDS));
                            let mut time = 0i64;
                            for _ in 0..n {
                                time = time.wrapping_add(r.i64()?);
                                ids.push((time, r.fixed_u64()?));
                            }
                            r.end()?;
                            Ok((first, ids))
                        };
                        let chunk = read(&mut r).map_err(|b| b.at(key))?;
                        log.restored_chunks.insert(seq, chunk);
                    }
                }
            }
            (Kind::SourcingMeta, None) => {
                return Err(Bad("the sourcing meta record is never deleted").at(key));
            }
            (Kind::SourcingMeta, Some(v)) => {
                let mut r = body(key, kind, v)?;
                let read = |r: &mut Reader<'_>| -> Result<(u64, u64, i32), Bad> {
                    let evicted = r.u64()?;
                    let next_chunk = r.u64()?;
                    let kept_from = i32::try_from(r.i64()?).map_err(|_| Bad("day out of range"))?;
                    r.end()?;
                    Ok((evicted, next_chunk, kept_from))
                };
                log.restored_meta = Some(read(&mut r).map_err(|b| b.at(key))?);
            }
            _ => return Err(Bad("not a sourcing record").at(key)),
        }
        Ok(())
    }

    /// Finishes a restore: rebuilds the ledger's sums and timers, the order-id window, and
    /// which orders have a modification queued. The next
    /// [`changelog_dirty`](Self::changelog_dirty) writes only what changes after this.
    pub fn restore_finish(&mut self) -> Result<(), RestoreError> {
        self.ledger.restore_finish();
        let chunks = std::mem::take(&mut self.log.restored_chunks);
        let Some((evicted, next_chunk, kept_from)) = self.log.restored_meta.take() else {
            if chunks.is_empty() && self.open.is_empty() && self.pending.is_empty() {
                return Ok(()); // nothing of the processor's was written
            }
            return Err(Bad("sourcing records without their meta record").at(b"\0Z"));
        };
        self.pools_kept_from = kept_from;
        self.seen = crate::availability::Dedupe::default();
        self.seen.start_at(evicted);
        self.seen
            .reserve(chunks.values().map(|(_, ids)| ids.len()).sum());
        self.log.chunks.clear();
        for (seq, (first, ids)) in chunks {
            let stop = first + ids.len() as u64;
            for (i, (time, id)) in ids.into_iter().enumerate() {
                let index = first + i as u64;
                if index < evicted {
                    continue;
                }
                if index != self.seen.inserted() {
                    return Err(Bad("order-id chunks are not contiguous").at(&seq.to_be_bytes()));
                }
                self.seen.insert(u128::from(id), time);
            }
            if stop > evicted {
                self.log.chunks.push_back((seq, stop));
            }
        }
        self.modifying = self
            .pending
            .iter()
            .filter(|(_, modified)| *modified)
            .map(|(o, _)| key_of(&o.order_id))
            .collect();
        self.log.enabled = true;
        self.log.ids_logged = self.seen.inserted();
        self.log.next_chunk = next_chunk;
        self.log.queued = !self.pending.is_empty();
        self.log.open.clear();
        self.log.meta = meta_body(evicted, next_chunk, kept_from);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use allot_schemas::{AnyRecord, Topic};

    use super::super::{SourcingProcessor, SourcingSettings};
    use crate::availability::changelog::parse_key;
    use crate::availability::{AvailabilityConfig, AvailabilityEngine, ChangelogBatch};

    type Log = Vec<(Vec<u8>, Option<Vec<u8>>)>;

    fn settings() -> SourcingSettings {
        SourcingSettings {
            threads: 1,
            // Small batches and a short retention, so the queue, the order-id chunks and
            // their tombstones and pickup expiry all occur in one generated day.
            batch_orders: 16,
            order_id_retention_hours: 3,
            defaults: crate::sourcing::SourcingConfig {
                pickup_window_hours: 2,
                ..Default::default()
            },
            ..SourcingSettings::default()
        }
    }

    /// Feeds `records` (numbered from `from`) to `engine` and `sourcing`; every 97 records
    /// decides, flushes and (with `log`) writes the changelog, as the runtime does. Returns
    /// what sourcing emitted, with the index of the record after which it was emitted.
    fn run(
        records: &[AnyRecord],
        from: usize,
        engine: &mut AvailabilityEngine,
        sourcing: &mut SourcingProcessor,
        mut log: Option<&mut Log>,
    ) -> Vec<(usize, AnyRecord)> {
        let mut emitted = Vec::new();
        let (mut out, mut published, mut batch) =
            (Vec::new(), Vec::new(), ChangelogBatch::default());
        for (i, r) in records.iter().enumerate() {
            let i = from + i;
            engine.apply(r);
            let _ = sourcing.apply(r, engine);
            if sourcing.batch_due() {
                sourcing.decide(engine, &mut out);
            }
            if i.is_multiple_of(97) || i + 1 == from + records.len() {
                sourcing.decide(engine, &mut out);
                engine.flush(&mut published);
                if let Some(log) = log.as_deref_mut() {
                    batch.clear();
                    engine.changelog_dirty(&mut batch);
                    sourcing.changelog_dirty(&mut batch);
                    log.extend(
                        batch
                            .iter()
                            .map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec))),
                    );
                }
            }
            emitted.extend(out.drain(..).map(|r| (i, r)));
        }
        emitted
    }

    /// The generated workload, stopped at several points: an engine and a sourcing
    /// processor restored from the changelog written up to each point (the reference data
    /// read again, as the runtime reads those topics again) and fed the rest decide and
    /// publish exactly what the uninterrupted pair does.
    /// The generated workload, with every 5th order coming again 400 records later (a
    /// producer's retry), so the order-id window is restored and used.
    fn workload() -> Vec<AnyRecord> {
        let config = allot_loadtest::WorkloadConfig {
            days: 1,
            stores: 6,
            skus: 80,
            pos_baskets_per_store_per_day: 200.0,
            orders_per_day: 1_500.0,
            ..allot_loadtest::WorkloadConfig::default()
        };
        let mut records = Vec::new();
        let mut again: std::collections::VecDeque<(usize, AnyRecord)> = Default::default();
        for (i, r) in allot_loadtest::Workload::new(config).unwrap().enumerate() {
            if matches!(r, AnyRecord::Order(_)) && i % 5 == 0 {
                again.push_back((i + 400, r.clone()));
            }
            records.push(r);
            while again.front().is_some_and(|(at, _)| *at <= i) {
                records.push(again.pop_front().unwrap().1);
            }
        }
        records
    }

    /// A fresh engine and processor with the reference data of `records` read again (as
    /// the runtime reads those topics again), restored from `log` in order, finished.
    fn restored<'a>(
        records: &[AnyRecord],
        log: impl IntoIterator<Item = &'a (Vec<u8>, Option<Vec<u8>>)>,
        kinds: &mut std::collections::BTreeSet<u8>,
    ) -> (AvailabilityEngine, SourcingProcessor) {
        let mut engine = AvailabilityEngine::new(AvailabilityConfig::default());
        let mut sourcing = SourcingProcessor::new(settings(), "test");
        for r in records.iter().filter(|r| {
            matches!(
                r.topic(),
                Topic::Locations | Topic::SourcingRules | Topic::PriceBook
            )
        }) {
            sourcing.apply(r, &mut engine).unwrap();
        }
        for (k, v) in log {
            let (kind, _) = parse_key(k).unwrap();
            if kind.is_sourcing() {
                kinds.insert(kind as u8);
                sourcing.restore(k, v.as_deref()).unwrap();
            } else {
                engine.restore(k, v.as_deref()).unwrap();
            }
        }
        engine.restore_finish();
        sourcing.restore_finish().unwrap();
        (engine, sourcing)
    }

    /// The generated workload, stopped at several points: an engine and a sourcing
    /// processor restored from the changelog written up to each point and fed the rest
    /// decide and publish exactly what the uninterrupted pair does.
    #[test]
    fn restored_sourcing_carries_on_the_generated_workload_exactly() {
        let records = workload();
        let mut engine = AvailabilityEngine::new(AvailabilityConfig::default());
        let mut sourcing = SourcingProcessor::new(settings(), "test");
        let whole = run(&records, 0, &mut engine, &mut sourcing, None);
        let decisions = whole
            .iter()
            .filter(|(_, r)| matches!(r, AnyRecord::Decision(_)))
            .count();
        assert!(decisions > 500, "{decisions} decisions");
        let s = sourcing.stats();
        assert!(
            s.expired > 0 && s.modifications > 0 && s.consumed > 0 && s.duplicate_orders > 50,
            "{s:?}"
        );
        let whole_state = engine.snapshot_all();
        let mut kinds = std::collections::BTreeSet::new();
        // Each split right after a flush (the changelog is written at flushes).
        for split in [records.len() / 5, records.len() / 2, 4 * records.len() / 5] {
            let split = split / 97 * 97 + 1;
            let mut log = Log::new();
            let mut engine = AvailabilityEngine::new(AvailabilityConfig::default());
            let mut sourcing = SourcingProcessor::new(settings(), "test");
            run(
                &records[..split],
                0,
                &mut engine,
                &mut sourcing,
                Some(&mut log),
            );
            // Last record per key, as compaction keeps it.
            let mut compacted = std::collections::BTreeMap::new();
            for (k, v) in log {
                compacted.insert(k, v);
            }
            let compacted: Log = compacted.into_iter().collect();
            let (mut engine, mut sourcing) = restored(&records[..split], &compacted, &mut kinds);
            let rest = run(&records[split..], split, &mut engine, &mut sourcing, None);
            let want: Vec<&(usize, AnyRecord)> =
                whole.iter().filter(|(i, _)| *i >= split).collect();
            for (got, want) in rest.iter().zip(&want) {
                assert_eq!(got, *want, "split at {split}");
            }
            assert_eq!(rest.len(), want.len(), "split at {split}");
            assert_eq!(engine.snapshot_all(), whole_state, "split at {split}");
        }
        // Every kind of sourcing record took part.
        assert_eq!(kinds.len(), 6, "{kinds:?}");
    }

    /// A snapshot (`changelog_all` of engine and processor right after a changelog write)
    /// followed by the changelog written after it restores a pair that carries on exactly,
    /// however far the window's chunks and their numbering moved in between.
    #[test]
    fn a_snapshot_and_the_changelog_after_it_restore_exactly() {
        let records = workload();
        let n = records.len();
        let mut engine = AvailabilityEngine::new(AvailabilityConfig::default());
        let mut sourcing = SourcingProcessor::new(settings(), "test");
        let whole = run(&records, 0, &mut engine, &mut sourcing, None);
        let whole_state = engine.snapshot_all();
        let mut kinds = std::collections::BTreeSet::new();
        for (split, after) in [(n / 5, n / 4), (n / 2, n / 5), (3 * n / 4, 97)] {
            let split = split / 97 * 97 + 1;
            let resume = (split + after) / 97 * 97 + 1;
            let (mut log, mut later) = (Log::new(), Log::new());
            let mut engine = AvailabilityEngine::new(AvailabilityConfig::default());
            let mut sourcing = SourcingProcessor::new(settings(), "test");
            run(
                &records[..split],
                0,
                &mut engine,
                &mut sourcing,
                Some(&mut log),
            );
            let mut snapshot = ChangelogBatch::default();
            engine.changelog_all(&mut snapshot);
            sourcing.changelog_all(&mut snapshot);
            let mut from: Log = snapshot
                .iter()
                .map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec)))
                .collect();
            run(
                &records[split..resume],
                split,
                &mut engine,
                &mut sourcing,
                Some(&mut later),
            );
            from.extend(later);
            let (mut engine, mut sourcing) = restored(&records[..resume], &from, &mut kinds);
            let rest = run(&records[resume..], resume, &mut engine, &mut sourcing, None);
            let want: Vec<&(usize, AnyRecord)> =
                whole.iter().filter(|(i, _)| *i >= resume).collect();
            for (got, want) in rest.iter().zip(&want) {
                assert_eq!(got, *want, "snapshot at {split}, resumed at {resume}");
            }
            assert_eq!(
                rest.len(),
                want.len(),
                "snapshot at {split}, resumed at {resume}"
            );
            assert_eq!(engine.snapshot_all(), whole_state, "snapshot at {split}");
        }
        assert_eq!(kinds.len(), 6, "{kinds:?}");
    }
}
