//! The engine's changelog: which state changed since the last call (written as records of
//! [`super::super::changelog`]'s format), a full dump for snapshots, and restore.
//!
//! What is written, and what is rebuilt on restore instead:
//! - per sku (key = the sku): the book (changes, changed_at, version, published hash,
//!   publish-dirty flag, emitted_at_ms) and every position (on hand as base + pending
//!   deltas, reserved, unsellable, the count horizon and rank), positions in location-name
//!   order so equal state gives equal bytes;
//! - per shipment and PO: the merged document; the inbound lines of positions, what each
//!   document contributed, what transfers took out of their origin, and the PO → shipments
//!   index are functions of the documents and are rebuilt by
//!   [`AvailabilityEngine::restore_finish`];
//! - per location and safety-stock policy: the reference data (latest stamp wins);
//! - one meta record: a fingerprint of the configuration, the watermark, the input lanes
//!   and the floor;
//! - the dedupe window as numbered chunks of event ids, each the ids first applied between
//!   two calls (at most [`CHUNK_IDS`] per chunk), each written once and tombstoned once its
//!   newest event is at or under the floor (the engine refuses those events anyway). A
//!   per-sku list of ids would write an id once per sku its event touched and could not
//!   hold events that touch no sku; chunks write each id once.
//!
//! Not restored: the counters of [`super::EngineStats`] (they count this process's work).
//!
//! For the runtime that will drive this (not written yet):
//! - One engine per changelog partition. Only sku records are keyed by what the input is
//!   partitioned by; the meta record, the id chunks, documents and reference data belong to
//!   the engine that wrote them, so every record of an engine must be produced to that
//!   engine's partition explicitly, not by hashing its key. Input lanes are restored by
//!   number: the restored engine must number its input partitions as the writer did.
//! - Write the changelog in the same transaction as the flush's output and the input
//!   offsets, after the flush (a flush changes the books it publishes).
//! - A new day re-dates every sku (its change count moves), so the first changelog after
//!   midnight rewrites every sku record: about 24 bytes per position.
//! - `reserved` is restored as the engine last had it; restore the sourcing ledger from its
//!   own changelog (`Ledger::restore`) at the same point, or the ledger's next write of a
//!   (sku, location) overwrites it with an empty ledger's total.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use foldhash::fast::FixedState;

use super::super::changelog::{
    Bad, ChangelogBatch, Kind, Reader, RestoreError, body, name_u64, parse_key, put_i64,
    put_opt_str, put_str, put_u64,
};
use super::super::intern::Id;
use super::super::position::Position;
use super::super::reference::LocationRef;
use super::super::supply::{Contribution, Names, NamesMut, PurchaseOrderDoc, ShipmentDoc};
use super::{AvailabilityEngine, SkuBook};

/// Most event ids in one chunk record (about 300 KB, under Kafka's default 1 MB message).
pub const CHUNK_IDS: usize = 16_384;

/// What changed since the last [`AvailabilityEngine::changelog_dirty`], and how the dedupe
/// window was cut into chunks.
#[derive(Debug)]
pub(super) struct Log {
    /// Skus whose book changed (each once: `SkuBook::unlogged`).
    pub(super) skus: Vec<Id>,
    pub(super) shipments: HashSet<Id, FixedState>,
    pub(super) purchase_orders: HashSet<Id, FixedState>,
    pub(super) locations: HashSet<Id, FixedState>,
    pub(super) policies: BTreeSet<String>,
    /// Dedupe ids inserted before this index are in chunks already.
    ids_logged: u64,
    /// Chunks written and not yet tombstoned, by number.
    chunks: VecDeque<Chunk>,
    next_chunk: u64,
    /// The meta record last written, so an unchanged one is not written again.
    meta: Vec<u8>,
    /// Hash of the configuration, so a changelog is not restored under another one.
    fingerprint: u64,
    /// Chunks read by `restore`, inserted in number order by `restore_finish`.
    restored_chunks: BTreeMap<u64, Vec<(i64, u128)>>,
}

/// A run of dedupe ids (by insertion index) written as one record.
#[derive(Debug, Clone, Copy)]
struct Chunk {
    seq: u64,
    start: u64,
    end: u64,
    /// The newest event time in it: it is tombstoned once the floor reaches this.
    newest: i64,
}

impl Log {
    pub(super) fn new(config: &super::AvailabilityConfig, shard: Option<super::Shard>) -> Log {
        let mut config = serde_json::to_vec(config).expect("the config serializes");
        // The shard is part of what the changelog was written for; an unsharded engine's
        // fingerprint is what it always was.
        if let Some(shard) = shard {
            config.extend_from_slice(&serde_json::to_vec(&shard).expect("serializes"));
        }
        Log {
            skus: Vec::new(),
            shipments: HashSet::default(),
            purchase_orders: HashSet::default(),
            locations: HashSet::default(),
            policies: BTreeSet::new(),
            ids_logged: 0,
            chunks: VecDeque::new(),
            next_chunk: 0,
            meta: Vec::new(),
            fingerprint: xxhash_rust::xxh3::xxh3_64(&config),
            restored_chunks: BTreeMap::new(),
        }
    }
}

impl AvailabilityEngine {
    /// Writes the changelog records of everything changed since the last call: the skus,
    /// documents and reference data that changed, the dedupe ids first applied since, a
    /// tombstone for each chunk of ids the floor has passed, and the meta record if it
    /// changed. Independent of [`flush`](Self::flush) (a flush changes the books it
    /// publishes, so they are written again). Applying every record written so far, last
    /// per key, to a fresh engine and calling [`restore_finish`](Self::restore_finish) gives
    /// an engine that behaves exactly as this one.
    pub fn changelog_dirty(&mut self, out: &mut ChangelogBatch) {
        self.refresh_location_order();
        let mut locations: Vec<Id> = self.log.locations.drain().collect();
        locations.sort_unstable();
        for loc in locations {
            self.write_location(loc, out);
        }
        for id in std::mem::take(&mut self.log.policies) {
            self.write_policy(&id, out);
        }
        let mut docs: Vec<Id> = self.log.shipments.drain().collect();
        docs.sort_unstable();
        for doc in docs {
            self.write_shipment(doc, out);
        }
        let mut docs: Vec<Id> = self.log.purchase_orders.drain().collect();
        docs.sort_unstable();
        for doc in docs {
            self.write_purchase_order(doc, out);
        }
        let skus = std::mem::take(&mut self.log.skus);
        let mut order = Vec::new();
        for &sku in &skus {
            if let Some(book) = self.books.get_mut(&sku) {
                book.unlogged = false;
            }
            self.write_sku(sku, &self.location_rank, &mut order, out);
        }
        let mut skus = skus;
        skus.clear();
        self.log.skus = skus;
        // New ids, in chunks.
        let end = self.dedupe.inserted();
        while self.log.ids_logged < end {
            let start = self.log.ids_logged;
            let stop = end.min(start + CHUNK_IDS as u64);
            let chunk = Chunk {
                seq: self.log.next_chunk,
                start,
                end: stop,
                newest: self
                    .dedupe
                    .range(start, stop)
                    .map(|(t, _)| t)
                    .max()
                    .unwrap_or(i64::MIN),
            };
            self.log.ids_logged = stop;
            if chunk.newest == i64::MIN {
                continue; // evicted before it was written
            }
            self.log.next_chunk += 1;
            self.write_chunk(chunk, out);
            self.log.chunks.push_back(chunk);
        }
        let floor = self.lanes.floor;
        while let Some(chunk) = self.log.chunks.front().copied()
            && chunk.newest <= floor
        {
            out.tombstone(Kind::EventIds, &chunk.seq.to_be_bytes());
            self.log.chunks.pop_front();
        }
        let mut meta = std::mem::take(&mut self.log.meta);
        let before = meta.len();
        self.write_meta_body(self.log.next_chunk, &mut meta);
        if meta[..before] != meta[before..] {
            out.begin(Kind::Meta, b"")
                .extend_from_slice(&meta[before..]);
            out.end();
            meta.drain(..before);
        } else {
            meta.truncate(before);
        }
        self.log.meta = meta;
    }

    /// Writes a record for every part of the state (what a snapshot holds); ids applied
    /// since the last [`changelog_dirty`](Self::changelog_dirty) go in the chunks that call
    /// will write (with the same numbers), so a snapshot and the changelog after it agree.
    /// Does not change what the next `changelog_dirty` writes.
    pub fn changelog_all(&self, out: &mut ChangelogBatch) {
        let fresh;
        let rank = if self.location_rank.len() == self.locs.len() {
            &self.location_rank
        } else {
            let mut ids: Vec<Id> = (0..self.locs.len() as Id).collect();
            ids.sort_unstable_by(|a, b| self.locs.name(*a).cmp(self.locs.name(*b)));
            let mut rank = vec![0; ids.len()];
            for (r, id) in ids.into_iter().enumerate() {
                rank[id as usize] = r as u32;
            }
            fresh = rank;
            &fresh
        };
        let mut locations: Vec<Id> = self.locations.keys().copied().collect();
        locations.sort_unstable();
        for loc in locations {
            self.write_location(loc, out);
        }
        let mut policies: Vec<&str> = self.safety.policy_ids().collect();
        policies.sort_unstable();
        for id in policies {
            self.write_policy(id, out);
        }
        for &doc in self.shipments.keys() {
            self.write_shipment(doc, out);
        }
        for &doc in self.purchase_orders.keys() {
            self.write_purchase_order(doc, out);
        }
        let mut order = Vec::new();
        for &sku in self.books.keys() {
            self.write_sku(sku, rank, &mut order, out);
        }
        for chunk in &self.log.chunks {
            self.write_chunk(*chunk, out);
        }
        let (mut start, end, mut seq) = (
            self.log.ids_logged,
            self.dedupe.inserted(),
            self.log.next_chunk,
        );
        while start < end {
            let stop = end.min(start + CHUNK_IDS as u64);
            let newest = self.dedupe.range(start, stop).map(|(t, _)| t).max();
            if let Some(newest) = newest {
                let chunk = Chunk {
                    seq,
                    start,
                    end: stop,
                    newest,
                };
                self.write_chunk(chunk, out);
                seq += 1;
            }
            start = stop;
        }
        let mut meta = Vec::new();
        self.write_meta_body(seq, &mut meta);
        out.begin(Kind::Meta, b"").extend_from_slice(&meta);
        out.end();
    }

    fn names(&self) -> Names<'_> {
        Names {
            skus: &self.skus,
            locs: &self.locs,
            docs: &self.docs,
        }
    }

    fn write_location(&self, loc: Id, out: &mut ChangelogBatch) {
        let name = self.locs.name(loc).as_bytes();
        match self.locations.get(&loc) {
            None => out.tombstone(Kind::Location, name),
            Some(r) => {
                let buf = out.begin(Kind::Location, name);
                put_i64(buf, r.stamp.0);
                put_u64(buf, r.stamp.1.into());
                buf.push(r.channel_mask);
                out.end();
            }
        }
    }

    fn write_policy(&self, id: &str, out: &mut ChangelogBatch) {
        match self.safety.policy(id) {
            None => out.tombstone(Kind::SafetyPolicy, id.as_bytes()),
            Some((stamp, (sku, loc, channel), units, active)) => {
                let buf = out.begin(Kind::SafetyPolicy, id.as_bytes());
                put_i64(buf, stamp.0);
                put_u64(buf, stamp.1.into());
                put_opt_str(buf, sku.map(|s| self.skus.name(s)));
                put_opt_str(buf, loc.map(|l| self.locs.name(l)));
                match channel {
                    None => buf.push(0),
                    Some(c) => buf.extend_from_slice(&[1, c]),
                }
                put_i64(buf, units.into());
                buf.push(u8::from(active));
                out.end();
            }
        }
    }

    fn write_shipment(&self, doc: Id, out: &mut ChangelogBatch) {
        let name = self.docs.name(doc).as_bytes();
        match self.shipments.get(&doc) {
            None => out.tombstone(Kind::Shipment, name),
            Some(d) => {
                d.write_changelog(self.names(), out.begin(Kind::Shipment, name));
                out.end();
            }
        }
    }

    fn write_purchase_order(&self, doc: Id, out: &mut ChangelogBatch) {
        let name = self.docs.name(doc).as_bytes();
        match self.purchase_orders.get(&doc) {
            None => out.tombstone(Kind::PurchaseOrder, name),
            Some(d) => {
                d.write_changelog(self.names(), out.begin(Kind::PurchaseOrder, name));
                out.end();
            }
        }
    }

    /// Writes `sku`'s record (a tombstone if it has no book), positions in the order of
    /// `rank` (location id → rank of its name).
    fn write_sku(
        &self,
        sku: Id,
        rank: &[u32],
        order: &mut Vec<(u32, u32)>,
        out: &mut ChangelogBatch,
    ) {
        let name = self.skus.name(sku).as_bytes();
        let Some(book) = self.books.get(&sku) else {
            out.tombstone(Kind::Sku, name);
            return;
        };
        let buf = out.begin(Kind::Sku, name);
        put_u64(buf, book.changes);
        put_i64(buf, book.changed_at);
        put_u64(buf, book.version);
        buf.extend_from_slice(&book.published.to_le_bytes());
        buf.push(u8::from(book.dirty));
        put_u64(buf, book.emitted_at_ms);
        put_u64(buf, book.positions.len() as u64);
        order.clear();
        order.extend(
            book.positions
                .iter()
                .enumerate()
                .map(|(i, p)| (rank[p.loc as usize], i as u32)),
        );
        if !order.is_sorted() {
            order.sort_unstable();
        }
        for &(_, i) in order.iter() {
            let p = &book.positions[i as usize];
            put_str(buf, self.locs.name(p.loc));
            p.write_changelog(buf);
        }
        out.end();
    }

    fn write_chunk(&self, chunk: Chunk, out: &mut ChangelogBatch) {
        let buf = out.begin(Kind::EventIds, &chunk.seq.to_be_bytes());
        let n = self.dedupe.range(chunk.start, chunk.end).count();
        put_u64(buf, n as u64);
        let mut prev = 0i64;
        for (time, id) in self.dedupe.range(chunk.start, chunk.end) {
            put_i64(buf, time.wrapping_sub(prev));
            buf.extend_from_slice(&id.to_le_bytes());
            prev = time;
        }
        out.end();
    }

    /// The meta record's body; `next_chunk` is the number the next chunk of ids gets.
    fn write_meta_body(&self, next_chunk: u64, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.log.fingerprint.to_le_bytes());
        put_i64(buf, self.watermark);
        let lanes = &self.lanes;
        put_i64(buf, lanes.floor);
        put_i64(buf, lanes.oldest);
        put_u64(buf, lanes.seen);
        put_u64(buf, lanes.marks.len() as u64);
        for mark in &lanes.marks {
            match mark {
                None => buf.push(0),
                Some((time, last)) => {
                    buf.push(1);
                    put_i64(buf, *time);
                    put_u64(buf, *last);
                }
            }
        }
        put_u64(buf, next_chunk);
    }

    /// Applies one changelog record (`None`: a tombstone) to an engine being restored: a
    /// fresh engine of the same configuration, fed the snapshot's records and then the
    /// changelog's after the snapshot's offsets, in any order per key as long as the last
    /// record per key comes last. Call [`restore_finish`](Self::restore_finish) before
    /// applying input. A record that cannot be read changes no state (names it named may
    /// have been interned) and is an error: stop, do not skip it.
    pub fn restore(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), RestoreError> {
        let (kind, name) = parse_key(key).map_err(|b| b.at(key))?;
        if kind.is_sourcing() {
            return Err(Bad("a sourcing record, not the engine's").at(key));
        }
        if matches!(kind, Kind::Supply | Kind::Reserved) {
            return Err(Bad("a feed record (crate::feed), not the engine's").at(key));
        }
        let text = || std::str::from_utf8(name).map_err(|_| Bad("key is not UTF-8").at(key));
        let Some(value) = value else {
            match kind {
                Kind::Sku => {
                    if let Some(sku) = self.skus.get(text()?) {
                        self.books.remove(&sku);
                    }
                }
                Kind::Shipment => {
                    if let Some(doc) = self.docs.get(text()?) {
                        self.shipments.remove(&doc);
                    }
                }
                Kind::PurchaseOrder => {
                    if let Some(doc) = self.docs.get(text()?) {
                        self.purchase_orders.remove(&doc);
                    }
                }
                Kind::Location => {
                    if let Some(loc) = self.locs.get(text()?) {
                        self.locations.remove(&loc);
                    }
                }
                Kind::SafetyPolicy => self.safety.remove_policy(text()?),
                Kind::Meta => return Err(Bad("the meta record is never deleted").at(key)),
                Kind::EventIds => {
                    let seq = chunk_seq(name).map_err(|b| b.at(key))?;
                    self.log.restored_chunks.remove(&seq);
                }
                _ => unreachable!("sourcing and feed records are refused above"),
            }
            return Ok(());
        };
        let mut r = body(key, kind, value)?;
        let r = &mut r;
        let done = match kind {
            Kind::Sku => self.restore_sku(text()?, r),
            Kind::Shipment => {
                let name = text()?;
                let doc = ShipmentDoc::read_changelog(r, self.names_mut());
                doc.and_then(|d| r.end().map(|()| d)).map(|d| {
                    let id = self.docs.intern(name);
                    self.shipments.insert(id, d);
                })
            }
            Kind::PurchaseOrder => {
                let name = text()?;
                let doc = PurchaseOrderDoc::read_changelog(r, self.names_mut());
                doc.and_then(|d| r.end().map(|()| d)).map(|d| {
                    let id = self.docs.intern(name);
                    self.purchase_orders.insert(id, d);
                })
            }
            Kind::Location => self.restore_location(text()?, r),
            Kind::SafetyPolicy => self.restore_policy(text()?, r),
            Kind::Meta => {
                let found = r.fixed_u64().map_err(|b| b.at(key))?;
                if found != self.log.fingerprint {
                    return Err(RestoreError::ConfigChanged {
                        expected: self.log.fingerprint,
                        found,
                    });
                }
                self.restore_meta(r)
            }
            Kind::EventIds => chunk_seq(name).and_then(|seq| {
                let ids = read_chunk(r)?;
                self.log.restored_chunks.insert(seq, ids);
                Ok(())
            }),
            _ => unreachable!("sourcing and feed records are refused above"),
        };
        done.map_err(|b| b.at(key))
    }

    fn names_mut(&mut self) -> NamesMut<'_> {
        NamesMut {
            skus: &mut self.skus,
            locs: &mut self.locs,
            docs: &mut self.docs,
        }
    }

    fn restore_sku(&mut self, name: &str, r: &mut Reader<'_>) -> Result<(), Bad> {
        let changes = r.u64()?;
        let changed_at = r.i64()?;
        let version = r.u64()?;
        let published = r.fixed_u64()?;
        let dirty = r.bool()?;
        let emitted_at_ms = r.u64()?;
        let n = r.count()?;
        let mut positions = Vec::with_capacity(n);
        for _ in 0..n {
            let loc = self.locs.intern(r.str()?);
            positions.push(Position::read_changelog(loc, r)?);
        }
        r.end()?;
        if !positions.is_sorted_by_key(|p| p.loc) {
            positions.sort_unstable_by_key(|p| p.loc);
        }
        if positions.windows(2).any(|w| w[0].loc == w[1].loc) {
            return Err(Bad("a location listed twice"));
        }
        let sku = self.skus.intern(name);
        self.books.insert(
            sku,
            SkuBook {
                positions,
                changes,
                changed_at,
                version,
                published,
                dirty,
                emitted_at_ms,
                unlogged: false,
            },
        );
        Ok(())
    }

    fn restore_location(&mut self, name: &str, r: &mut Reader<'_>) -> Result<(), Bad> {
        let stamp = (r.i64()?, r.u32()?);
        let channel_mask = r.u8()?;
        r.end()?;
        if u32::from(channel_mask) >> self.config.channels.len() != 0 {
            return Err(Bad("channel mask names channels the config does not have"));
        }
        let loc = self.locs.intern(name);
        self.locations.insert(
            loc,
            LocationRef {
                stamp,
                channel_mask,
            },
        );
        Ok(())
    }

    fn restore_policy(&mut self, id: &str, r: &mut Reader<'_>) -> Result<(), Bad> {
        let stamp = (r.i64()?, r.u32()?);
        let sku = r.opt_str()?;
        let loc = r.opt_str()?;
        let channel = match r.u8()? {
            0 => None,
            1 => Some(r.u8()?),
            _ => return Err(Bad("bad option tag")),
        };
        let units = r.i32()?;
        let active = r.bool()?;
        r.end()?;
        if channel.is_some_and(|c| usize::from(c) >= self.config.channels.len()) {
            return Err(Bad("policy names a channel the config does not have"));
        }
        let scope = (
            sku.map(|s| self.skus.intern(s)),
            loc.map(|l| self.locs.intern(l)),
            channel,
        );
        self.safety.restore_policy(id, stamp, scope, units, active);
        Ok(())
    }

    fn restore_meta(&mut self, r: &mut Reader<'_>) -> Result<(), Bad> {
        let watermark = r.i64()?;
        let floor = r.i64()?;
        let oldest = r.i64()?;
        let seen = r.u64()?;
        let n = r.count()?;
        let mut marks = Vec::with_capacity(n);
        for _ in 0..n {
            marks.push(match r.u8()? {
                0 => None,
                1 => Some((r.i64()?, r.u64()?)),
                _ => return Err(Bad("bad lane tag")),
            });
        }
        let next_chunk = r.u64()?;
        r.end()?;
        self.watermark = watermark;
        self.lanes.floor = floor;
        self.lanes.oldest = oldest;
        self.lanes.seen = seen;
        self.lanes.marks = marks;
        self.log.next_chunk = self.log.next_chunk.max(next_chunk);
        Ok(())
    }

    /// Rebuilds what the changelog does not carry, after the last [`restore`](Self::restore):
    /// the inbound lines of positions and the document indexes (from the documents), the
    /// locations' channel masks, the safety-stock lookup, the dedupe window (from the id
    /// chunks, in chunk order), and the queue of skus awaiting publication (by sku name).
    /// May be called again after more records.
    pub fn restore_finish(&mut self) {
        // Documents → inbound lines, contributions, outbound transfers, PO → shipments.
        for book in self.books.values_mut() {
            for p in &mut book.positions {
                p.clear_inbound();
            }
        }
        self.contributed.clear();
        self.outbound.clear();
        self.po_shipments.clear();
        let mut lines: Vec<Contribution> = Vec::new();
        let mut shipments: Vec<Id> = self.shipments.keys().copied().collect();
        shipments.sort_unstable();
        for doc in shipments {
            let d = &self.shipments[&doc];
            lines.clear();
            d.contributions(doc, &mut lines);
            if let Some(outbound) = d.outbound() {
                self.outbound.insert(doc, outbound);
            }
            if let Some(po) = d.po() {
                self.po_shipments.entry(po).or_default().push(doc);
            }
            self.restore_contributions(doc, &lines);
        }
        let mut pos: Vec<Id> = self.purchase_orders.keys().copied().collect();
        pos.sort_unstable();
        for doc in pos {
            let mut shipped: HashMap<Id, i32, FixedState> = HashMap::default();
            for s in self.po_shipments.get(&doc).into_iter().flatten() {
                for (sku, qty) in self.shipments[s].shipped_against_po() {
                    *shipped.entry(sku).or_default() += qty;
                }
            }
            lines.clear();
            self.purchase_orders[&doc].contributions(doc, &shipped, &mut lines);
            self.restore_contributions(doc, &lines);
        }
        // Reference data.
        self.channel_masks = vec![0; self.locs.len()];
        for (loc, r) in &self.locations {
            self.channel_masks[*loc as usize] = r.channel_mask;
        }
        self.location_rank.clear();
        self.location_wire.clear();
        self.safety.rebuild();
        // The dedupe window.
        self.dedupe
            .reserve(self.log.restored_chunks.values().map(Vec::len).sum());
        for (seq, ids) in std::mem::take(&mut self.log.restored_chunks) {
            let start = self.dedupe.inserted();
            let mut newest = i64::MIN;
            for (time, id) in ids {
                self.dedupe.insert(id, time);
                newest = newest.max(time);
            }
            let end = self.dedupe.inserted();
            self.log.chunks.push_back(Chunk {
                seq,
                start,
                end,
                newest,
            });
            self.log.next_chunk = self.log.next_chunk.max(seq + 1);
        }
        self.dedupe.evict(self.lanes.floor);
        self.log.ids_logged = self.dedupe.inserted();
        self.log.meta.clear();
        let mut meta = Vec::new();
        self.write_meta_body(self.log.next_chunk, &mut meta);
        self.log.meta = meta;
        // The publication queue.
        let mut dirty: Vec<Id> = self
            .books
            .iter()
            .filter(|(_, b)| b.dirty)
            .map(|(s, _)| *s)
            .collect();
        dirty.sort_unstable_by(|a, b| self.skus.name(*a).cmp(self.skus.name(*b)));
        self.dirty = dirty;
    }

    /// Adds `lines` as `doc`'s contribution to positions, without marking anything (the
    /// books restored already count the change that made them).
    fn restore_contributions(&mut self, doc: Id, lines: &[Contribution]) {
        let lines = self.own_contributions(lines);
        let lines = &lines[..];
        for &(sku, loc, line) in lines {
            self.books
                .entry(sku)
                .or_default()
                .position_mut(loc)
                .add_inbound(line);
        }
        if !lines.is_empty() {
            self.contributed.insert(doc, lines.to_vec());
        }
    }

    /// Forgets when each sku's last message went out (as if never), so the first paced
    /// flush after a restore publishes at once: `emitted_at_ms` is on the clock of the
    /// process that wrote the changelog, which a new process does not share.
    pub fn reset_pacing(&mut self) {
        for book in self.books.values_mut() {
            book.emitted_at_ms = 0;
        }
    }
}

fn chunk_seq(name: &[u8]) -> Result<u64, Bad> {
    name_u64(name, "chunk key is not 8 bytes")
}

fn read_chunk(r: &mut Reader<'_>) -> Result<Vec<(i64, u128)>, Bad> {
    let n = r.count()?;
    let mut ids = Vec::with_capacity(n);
    let mut prev = 0i64;
    for _ in 0..n {
        let time = prev.wrapping_add(r.i64()?);
        ids.push((time, r.fixed_u128()?));
        prev = time;
    }
    r.end()?;
    Ok(ids)
}
