//! [`AvailabilityEngine`]: applies inventory events to positions and publishes time-phased
//! available-to-promise per sku, per channel, per location and across the network.
//!
//! `ATP(sku, loc, channel, D) = on_hand - reserved - safety_stock + in_transit(due <= D) +
//! on_order(due <= D)`, each supply term only if the channel counts it; published values are
//! never negative, and network ATP sums the eligible locations' published values, so a
//! location short of stock never borrows from another's.

use std::borrow::Cow;
use std::collections::HashMap;

use allot_schemas::{
    AdjustmentKind, AnyRecord, AtpBucket, Availability, ChannelAvailability, DeadLetterKind,
    LocationAvailability, OrderEventKind, PosLineKind, ReturnCondition,
};
use foldhash::fast::FixedState;

mod changelog;
mod sourcing;

use super::dedupe::{Dedupe, id_hash};
use super::intern::{Id, Interner};
use super::position::Position;
use super::reference::{AvailabilityConfig, LocationRef, SafetyStock};
use super::supply::{
    Contribution, Outbound, PurchaseOrderBody, PurchaseOrderDoc, ShipmentBody, ShipmentDoc, Stamp,
};

const DAY_MS: i64 = 86_400_000;

/// What became of one input record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Applied (it may or may not have changed availability).
    Accepted,
    /// An event id already applied inside the lateness window; nothing changed.
    Duplicate,
    /// Not applied; the record goes to the dead-letter topic with this reason.
    Refused(DeadLetterKind, String),
}

/// All positions of one sku and what was last published for it.
#[derive(Debug, Default)]
struct SkuBook {
    /// Sorted by location id.
    positions: Vec<Position>,
    /// Changes applied to the sku so far (events that touched it, and reference-data or
    /// day changes that re-dated it). A message's version is this count when it was built,
    /// so versions grow with every message and do not depend on when flushes happen.
    changes: u64,
    /// Event time of the newest change; the `event_time` of the next message.
    changed_at: i64,
    /// Version of the last published availability (0: never published).
    version: u64,
    /// Hash of the last published content.
    published: u64,
    /// Queued for the next flush.
    dirty: bool,
    /// When its last message was emitted, on the caller's clock of a paced flush (see
    /// [`Pace`]); 0 if never.
    emitted_at_ms: u64,
    /// Changed since the last [`AvailabilityEngine::changelog_dirty`] (queued in
    /// `Log::skus`); apart from `dirty`, which is about publishing.
    unlogged: bool,
}

impl SkuBook {
    /// The position at `loc`, created empty if there is none.
    fn position_mut(&mut self, loc: Id) -> &mut Position {
        let i = match self.positions.binary_search_by_key(&loc, |p| p.loc) {
            Ok(i) => i,
            Err(i) => {
                self.positions.insert(i, Position::new(loc));
                i
            }
        };
        &mut self.positions[i]
    }

    /// Records a change at event time `time`; returns whether the sku must be queued.
    fn touch(&mut self, time: i64) -> bool {
        self.changes += 1;
        self.changed_at = self.changed_at.max(time);
        !std::mem::replace(&mut self.dirty, true)
    }

    /// Notes a change for the changelog; returns whether the sku must be queued for it.
    fn unlogged(&mut self) -> bool {
        !std::mem::replace(&mut self.unlogged, true)
    }
}

/// Input lanes and their watermarks.
///
/// A lane is one ordered input: a Kafka partition of an input topic, or the whole input of
/// a replay. An inventory event is too late when it is more than `max_lateness_ms` behind
/// the newest event of its own lane (so the outcome depends only on that lane's order, not
/// on how lanes interleave), or at or before the floor. The floor is the oldest live lane's
/// watermark less `max_lateness_ms`; it only rises, and under it event ids are forgotten
/// and pending deltas folded. A lane that has delivered nothing for [`Lanes::IDLE_RECORDS`]
/// records stops holding the floor back (a partition that went quiet must not keep every
/// event id since); if it wakes up, its events under the floor are refused as too late.
#[derive(Debug)]
struct Lanes {
    /// Per lane (None: not a lane): newest event time (`i64::MIN` while it has delivered
    /// nothing), and the record count when it opened or last delivered.
    marks: Vec<Option<(i64, u64)>>,
    /// The oldest live lane's watermark when the floor was last computed.
    oldest: i64,
    floor: i64,
    seen: u64,
}

impl Default for Lanes {
    fn default() -> Self {
        Lanes {
            marks: Vec::new(),
            oldest: i64::MIN,
            floor: i64::MIN,
            seen: 0,
        }
    }
}

impl Lanes {
    /// Records after which a silent lane no longer holds the floor back.
    const IDLE_RECORDS: u64 = 1_000_000;

    /// Records between two scans for lanes gone idle (otherwise only the oldest lane's
    /// advance can move the floor, and a scan of every lane per record is wasted).
    const RESCAN_RECORDS: u64 = 4096;

    fn slot(&mut self, lane: u32) -> &mut Option<(i64, u64)> {
        let lane = lane as usize;
        if lane >= self.marks.len() {
            self.marks.resize(lane + 1, None);
        }
        &mut self.marks[lane]
    }

    /// Declares a lane before it delivers: until it does (or has been silent for
    /// [`Self::IDLE_RECORDS`]), the floor does not rise.
    fn open(&mut self, lane: u32) {
        let seen = self.seen;
        self.slot(lane).get_or_insert((i64::MIN, seen));
    }

    fn too_late(&self, lane: u32, time: i64, lateness: i64) -> Option<String> {
        let own = self
            .marks
            .get(lane as usize)
            .copied()
            .flatten()
            .map_or(i64::MIN, |(mark, _)| mark);
        if own != i64::MIN && time <= own.saturating_sub(lateness) {
            return Some(format!(
                "too late: event time {time} is more than max_lateness_ms ({lateness}) behind \
                 the newest event of its input partition ({own}); replay into a fresh state or \
                 raise availability.max_lateness_ms"
            ));
        }
        if time <= self.floor {
            return Some(format!(
                "too late: event time {time} is at or before the floor {} (the oldest active \
                 input partition less max_lateness_ms {lateness}); its partition was idle or \
                 behind the others by more than the window; raise \
                 availability.max_lateness_ms",
                self.floor
            ));
        }
        None
    }

    /// Notes an accepted event at `time` on `lane`; returns whether the floor rose.
    fn advance(&mut self, lane: u32, time: i64, lateness: i64) -> bool {
        self.seen += 1;
        let seen = self.seen;
        let oldest_before = self.oldest;
        let (mark, last) = self.slot(lane).get_or_insert((i64::MIN, seen));
        *last = seen;
        if time <= *mark {
            return false;
        }
        let was_oldest = *mark <= oldest_before;
        *mark = time;
        if !was_oldest && !seen.is_multiple_of(Self::RESCAN_RECORDS) {
            // Another lane is older: the floor cannot rise (it lags, safely, until a rescan
            // notices a lane gone idle).
            return false;
        }
        let oldest = self
            .marks
            .iter()
            .flatten()
            .filter(|&&(_, last)| seen - last < Self::IDLE_RECORDS)
            .map(|&(m, _)| m)
            .min()
            .unwrap_or(time);
        self.oldest = oldest;
        if oldest == i64::MIN {
            // an open lane has not delivered yet
            return false;
        }
        let floor = oldest.saturating_sub(lateness);
        if floor > self.floor {
            self.floor = floor;
            true
        } else {
            false
        }
    }
}

/// The clock and interval of a paced flush
/// ([`AvailabilityEngine::flush_encoded_paced`]); milliseconds on any monotonic clock of the
/// caller's (the engine itself never reads a clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// Now.
    pub now_ms: u64,
    /// The least time between two messages of one sku: the coalescing bound.
    pub interval_ms: u64,
}

/// The skus a paced flush held back: when the first is due, and when all are (a flush at
/// or after `last_due_ms` publishes every one of them, so the input that changed them is
/// then covered by published output).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// When the earliest held sku is due.
    pub first_due_ms: u64,
    /// When the last held sku is due.
    pub last_due_ms: u64,
}

/// Counters for the metrics and the summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Records applied.
    pub accepted: u64,
    /// Duplicates recognised.
    pub duplicates: u64,
    /// Records refused (dead-lettered).
    pub refused: u64,
    /// Availability records emitted.
    pub published: u64,
}

/// How much state an engine holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateSize {
    /// (sku, location) positions.
    pub positions: usize,
    /// Distinct skus seen.
    pub skus: usize,
    /// Distinct locations seen.
    pub locations: usize,
    /// Shipments and POs seen (closed ones included).
    pub documents: usize,
    /// Event ids remembered for deduplication (those inside the lateness window).
    pub remembered_event_ids: usize,
    /// Locations named by inventory events but not (yet) on the locations topic; their stock
    /// is kept but is in no channel.
    pub unknown_locations: usize,
}

/// The availability state of every sku and location this instance owns.
#[derive(Debug)]
pub struct AvailabilityEngine {
    config: AvailabilityConfig,
    skus: Interner,
    locs: Interner,
    docs: Interner,
    books: HashMap<Id, SkuBook, FixedState>,
    locations: HashMap<Id, LocationRef, FixedState>,
    safety: SafetyStock,
    shipments: HashMap<Id, ShipmentDoc, FixedState>,
    purchase_orders: HashMap<Id, PurchaseOrderDoc, FixedState>,
    /// Document → the inbound lines it currently contributes to positions.
    contributed: HashMap<Id, Vec<Contribution>, FixedState>,
    /// Transfer → the stock it took out of its origin.
    outbound: HashMap<Id, Outbound, FixedState>,
    /// PO → the shipments that ship against it.
    po_shipments: HashMap<Id, Vec<Id>, FixedState>,
    dedupe: Dedupe,
    /// The newest event time applied; "today" for the buckets.
    watermark: i64,
    /// Per-input-lane watermarks and the floor under which events are refused.
    lanes: Lanes,
    /// Event time of the record being applied.
    now: i64,
    dirty: Vec<Id>,
    stats: EngineStats,
    scratch: Vec<Contribution>,
    rows: Rows,
    /// Location id → rank of its id string (wire order), see `refresh_location_order`.
    location_rank: Vec<u32>,
    /// Location id → its Avro `string` encoding, when at most [`WIRE_NAME`] bytes long
    /// (see `refresh_location_order`).
    location_wire: Vec<Option<WireName>>,
    /// Location id → channel mask of its `locations` entry (0 when it has none).
    channel_masks: Vec<u8>,
    /// What changed since the last changelog call.
    log: changelog::Log,
    /// The sku partition this engine owns, if it owns only one (see [`Shard`]).
    shard: Option<Shard>,
    /// Sku id → whether the shard owns it: 0 not asked yet, 1 owned, 2 another's.
    owned: Vec<u8>,
}

/// One sku partition of `count`: an engine of a partitioned deployment keeps the positions
/// of the skus [`sku_partition`](crate::partition::sku_partition) puts in `partition` and
/// nothing of any other sku, whatever records it is given. Documents (shipments, POs) are
/// given to every partition whole; each engine takes only its own skus' lines from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Shard {
    /// This engine's partition, `< count`.
    pub partition: u32,
    /// How many sku partitions there are.
    pub count: u32,
}

/// Longest location encoding kept in `location_wire`.
const WIRE_NAME: usize = 30;

/// A short Avro `string` (length prefix and bytes), copied in one fixed-size move.
#[derive(Debug, Clone, Copy)]
struct WireName {
    bytes: [u8; WIRE_NAME],
    len: u8,
}

impl WireName {
    fn new(name: &str) -> Option<WireName> {
        let mut buf = Vec::with_capacity(WIRE_NAME);
        allot_schemas::codec::wire::write_str(name, &mut buf);
        let mut bytes = [0u8; WIRE_NAME];
        bytes.get_mut(..buf.len())?.copy_from_slice(&buf);
        Some(WireName {
            bytes,
            len: buf.len() as u8,
        })
    }

    #[inline]
    fn write(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.bytes);
        buf.truncate(buf.len() - (WIRE_NAME - usize::from(self.len)));
    }
}

impl AvailabilityEngine {
    /// An empty engine. The config must have passed [`AvailabilityConfig::validate`].
    pub fn new(config: AvailabilityConfig) -> AvailabilityEngine {
        Self::with_shard(config, None)
    }

    /// An empty engine that owns only the skus of `shard` (all skus when `None`). The shard
    /// is part of the configuration fingerprint, so a changelog of one partition is never
    /// restored into the engine of another.
    pub fn with_shard(config: AvailabilityConfig, shard: Option<Shard>) -> AvailabilityEngine {
        assert!(
            shard.is_none_or(|s| s.partition < s.count),
            "a shard's partition is below its count"
        );
        let channels = config.channels.len();
        AvailabilityEngine {
            skus: Interner::default(),
            locs: Interner::default(),
            docs: Interner::default(),
            books: HashMap::default(),
            locations: HashMap::default(),
            safety: SafetyStock::new(channels),
            shipments: HashMap::default(),
            purchase_orders: HashMap::default(),
            contributed: HashMap::default(),
            outbound: HashMap::default(),
            po_shipments: HashMap::default(),
            dedupe: Dedupe::default(),
            watermark: i64::MIN,
            lanes: Lanes::default(),
            now: i64::MIN,
            dirty: Vec::new(),
            stats: EngineStats::default(),
            scratch: Vec::new(),
            rows: Rows::default(),
            location_rank: Vec::new(),
            location_wire: Vec::new(),
            channel_masks: Vec::new(),
            log: changelog::Log::new(&config, shard),
            config,
            shard,
            owned: Vec::new(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> &EngineStats {
        &self.stats
    }

    /// (sku, location) positions held.
    pub fn positions(&self) -> usize {
        self.books.values().map(|b| b.positions.len()).sum()
    }

    /// Skus with at least one availability message published.
    pub fn published_skus(&self) -> usize {
        self.books.values().filter(|b| b.version > 0).count()
    }

    /// How much state is held, by kind.
    pub fn state_size(&self) -> StateSize {
        StateSize {
            positions: self.positions(),
            skus: self.skus.len(),
            locations: self.locs.len(),
            documents: self.docs.len(),
            remembered_event_ids: self.dedupe.len(),
            unknown_locations: (0..self.locs.len() as Id)
                .filter(|l| !self.locations.contains_key(l))
                .count(),
        }
    }

    /// The newest event time applied.
    pub fn watermark(&self) -> i64 {
        self.watermark
    }

    /// Events at or before this time are refused on every lane: their ids may have left the
    /// dedupe window and positions have folded their deltas.
    pub fn floor(&self) -> i64 {
        self.lanes.floor
    }

    /// Declares input lanes `0..n` before they deliver, so that the first lane to deliver
    /// does not raise the floor over the others' backlog (see [`Lanes`]).
    pub fn open_lanes(&mut self, n: u32) {
        for lane in 0..n {
            self.lanes.open(lane);
        }
    }

    /// Applies one record read from the only input (lane 0): a file replay merged in event
    /// time, the in-process bus, a test.
    pub fn apply(&mut self, record: &AnyRecord) -> Applied {
        self.apply_in(0, record)
    }

    /// Applies one record read from input lane `lane` (a Kafka partition of an input topic,
    /// numbered by the caller from 0). Lateness is judged against the lane's own newest
    /// event, so a backlog read from several partitions, each in event-time order but far
    /// apart from one another, is not refused; see [`Lanes`].
    pub fn apply_in(&mut self, lane: u32, record: &AnyRecord) -> Applied {
        let result = self.apply_inner(lane, record);
        match &result {
            Applied::Accepted => self.stats.accepted += 1,
            Applied::Duplicate => self.stats.duplicates += 1,
            Applied::Refused(..) => self.stats.refused += 1,
        }
        result
    }

    fn apply_inner(&mut self, lane: u32, record: &AnyRecord) -> Applied {
        let time = record.event_time();
        self.now = time;
        let inventory = match record {
            AnyRecord::PosSale(_)
            | AnyRecord::Receipt(_)
            | AnyRecord::Shipment(_)
            | AnyRecord::PurchaseOrder(_)
            | AnyRecord::Adjustment(_)
            | AnyRecord::Return(_) => true,
            // Only shipments and pickups move stock; the other order events are for
            // sourcing.
            AnyRecord::OrderEvent(e) => {
                matches!(e.kind, OrderEventKind::Shipped | OrderEventKind::PickedUp)
            }
            AnyRecord::Location(_) | AnyRecord::SafetyStock(_) => false,
            // Orders, sourcing rules and prices are for sourcing; outputs are not inputs.
            _ => return Applied::Accepted,
        };
        if !inventory {
            return self.apply_reference(record);
        }
        if let Err(reason) = validate(record) {
            return Applied::Refused(DeadLetterKind::Validation, reason);
        }
        if let Some(reason) = self.lanes.too_late(lane, time, self.config.max_lateness_ms) {
            return Applied::Refused(DeadLetterKind::Validation, reason);
        }
        let id = id_hash(record.event_id());
        let is_document = matches!(record, AnyRecord::Shipment(_) | AnyRecord::PurchaseOrder(_));
        if !is_document && !self.dedupe.insert(id, time) {
            return Applied::Duplicate;
        }
        let rank = id as u32;
        if self.lanes.advance(lane, time, self.config.max_lateness_ms) {
            self.dedupe.evict(self.lanes.floor);
        }
        self.advance(time);
        let stamp = (time, rank);
        match record {
            AnyRecord::PosSale(tx) => {
                let loc = self.loc(&tx.store_id);
                for line in &tx.lines {
                    let qty = match line.kind {
                        PosLineKind::Sale => -line.quantity,
                        PosLineKind::Return => line.quantity,
                    };
                    self.with_position(&line.sku, loc, |p| p.apply_delta(time, qty));
                }
            }
            AnyRecord::Receipt(r) => {
                let loc = self.loc(&r.location_id);
                for line in &r.lines {
                    let received = line.quantity_received;
                    let damaged = line.quantity_damaged;
                    self.with_position(&line.sku, loc, |p| {
                        p.add_unsellable(damaged);
                        p.apply_delta(time, received) || damaged != 0
                    });
                }
                if let Some(s) = &r.shipment_id {
                    let doc = self.docs.intern(s);
                    self.change_shipment(doc, |d| d.close());
                } else if let Some(po) = &r.po_id {
                    let doc = self.docs.intern(po);
                    let lines: Vec<(Id, i32)> = r
                        .lines
                        .iter()
                        .map(|l| {
                            (
                                self.skus.intern(&l.sku),
                                l.quantity_received + l.quantity_damaged,
                            )
                        })
                        .collect();
                    self.change_purchase_order(doc, |d| {
                        for (sku, qty) in lines {
                            d.receive_direct(sku, qty);
                        }
                    });
                }
            }
            AnyRecord::Shipment(s) => {
                let doc = self.docs.intern(&s.shipment_id);
                let body = (!s.lines.is_empty()).then(|| ShipmentBody {
                    destination: self.locs.intern(&s.destination_location_id),
                    origin: s.origin_location_id.as_deref().map(|o| self.locs.intern(o)),
                    po: s.po_id.as_deref().map(|p| self.docs.intern(p)),
                    lines: s
                        .lines
                        .iter()
                        .map(|l| (self.skus.intern(&l.sku), l.quantity))
                        .collect(),
                });
                let eta = s.expected_arrival;
                let status = s.status;
                self.change_shipment(doc, |d| d.merge(stamp, status, eta, body));
            }
            AnyRecord::PurchaseOrder(po) => {
                let doc = self.docs.intern(&po.po_id);
                let body = PurchaseOrderBody {
                    status: po.status,
                    destination: self.locs.intern(&po.destination_location_id),
                    expected: po.expected_date,
                    lines: po
                        .lines
                        .iter()
                        .map(|l| (self.skus.intern(&l.sku), l.quantity_ordered))
                        .collect(),
                };
                self.change_purchase_order(doc, |d| d.merge(stamp, body));
            }
            AnyRecord::Adjustment(a) => {
                let loc = self.loc(&a.location_id);
                let q = a.quantity;
                self.with_position(&a.sku, loc, |p| match a.kind {
                    AdjustmentKind::CycleCount => p.apply_count(time, rank, q),
                    AdjustmentKind::Shrink => p.apply_delta(time, -q),
                    AdjustmentKind::Damage => {
                        p.add_unsellable(q);
                        p.apply_delta(time, -q);
                        true
                    }
                    AdjustmentKind::Found | AdjustmentKind::Correction => p.apply_delta(time, q),
                });
            }
            AnyRecord::Return(r) => {
                let loc = self.loc(&r.location_id);
                for line in &r.lines {
                    let q = line.quantity;
                    let resellable = line.condition == ReturnCondition::Resellable;
                    self.with_position(&line.sku, loc, |p| {
                        if resellable {
                            p.apply_delta(time, q)
                        } else {
                            p.add_unsellable(q);
                            true
                        }
                    });
                }
            }
            AnyRecord::OrderEvent(e) => {
                if matches!(e.kind, OrderEventKind::Shipped | OrderEventKind::PickedUp)
                    && let Some(loc) = &e.location_id
                {
                    let loc = self.loc(loc);
                    for line in &e.lines {
                        let q = line.quantity;
                        self.with_position(&line.sku, loc, |p| p.apply_delta(time, -q));
                    }
                }
            }
            _ => unreachable!("only inventory records get here"),
        }
        Applied::Accepted
    }

    /// Reference data and records the ATP formula does not read.
    fn apply_reference(&mut self, record: &AnyRecord) -> Applied {
        let stamp: Stamp = (record.event_time(), id_hash(record.event_id()) as u32);
        match record {
            AnyRecord::Location(l) => {
                let loc = self.locs.intern(&l.location_id);
                if self.locations.get(&loc).is_some_and(|r| r.stamp >= stamp) {
                    return Applied::Accepted;
                }
                let new = LocationRef::new(stamp, l, &self.config);
                let old_mask = self.locations.get(&loc).map(|r| r.channel_mask);
                let i = loc as usize;
                if self.channel_masks.len() <= i {
                    self.channel_masks.resize(i + 1, 0);
                }
                self.channel_masks[i] = new.channel_mask;
                self.locations.insert(loc, new.clone());
                self.log.locations.insert(loc);
                if old_mask != Some(new.channel_mask) {
                    self.mark_all_dirty();
                }
            }
            AnyRecord::SafetyStock(p) => {
                let sku = p.sku.as_deref().map(|s| self.skus.intern(s));
                let loc = p.location_id.as_deref().map(|l| self.locs.intern(l));
                let channel = match p.channel {
                    None => None,
                    Some(c) => match self.config.channels.iter().position(|x| x.channel == c) {
                        Some(i) => Some(i as u8),
                        // A policy for a channel we do not publish changes nothing.
                        None => return Applied::Accepted,
                    },
                };
                let applied = self.safety.apply(stamp, p, sku, loc, channel);
                if applied.is_some() {
                    self.log.policies.insert(p.policy_id.clone());
                }
                match applied {
                    None => {}
                    Some(Some(sku)) => self.mark_dirty(sku),
                    Some(None) => self.mark_all_dirty(),
                }
            }
            // Orders, sourcing rules and prices are for sourcing; outputs are not inputs.
            _ => {}
        }
        Applied::Accepted
    }

    fn advance(&mut self, time: i64) {
        if time <= self.watermark {
            return;
        }
        let new_day = self.watermark == i64::MIN
            || time.div_euclid(DAY_MS) != self.watermark.div_euclid(DAY_MS);
        self.watermark = time;
        if new_day {
            // The bucket dates moved: every sku's availability is re-dated.
            self.mark_all_dirty();
        }
    }

    fn loc(&mut self, name: &str) -> Id {
        self.locs.intern(name)
    }

    /// Runs `f` on the position of (`sku`, `loc`), creating it if needed; marks the sku dirty
    /// if `f` says it changed anything.
    fn with_position(&mut self, sku: &str, loc: Id, f: impl FnOnce(&mut Position) -> bool) {
        let sku = self.skus.intern(sku);
        self.with_position_id(sku, loc, f);
    }

    /// Whether this engine keeps `sku` (always, unless it owns one [`Shard`]).
    fn owns(&mut self, sku: Id) -> bool {
        let Some(shard) = self.shard else {
            return true;
        };
        let i = sku as usize;
        if self.owned.len() <= i {
            self.owned.resize(i + 1, 0);
        }
        match self.owned[i] {
            1 => true,
            2 => false,
            _ => {
                let own = crate::partition::sku_partition(self.skus.name(sku), shard.count)
                    == shard.partition;
                self.owned[i] = if own { 1 } else { 2 };
                own
            }
        }
    }

    /// [`with_position`](Self::with_position) for an interned sku.
    fn with_position_id(&mut self, sku: Id, loc: Id, f: impl FnOnce(&mut Position) -> bool) {
        if !self.owns(sku) {
            return;
        }
        let cutoff = self.lanes.floor;
        let book = self.books.entry(sku).or_default();
        let p = book.position_mut(loc);
        p.fold(cutoff);
        if f(p) && book.touch(self.now) {
            self.dirty.push(sku);
        }
        if book.unlogged() {
            self.log.skus.push(sku);
        }
    }

    fn mark_dirty(&mut self, sku: Id) {
        if !self.owns(sku) {
            return;
        }
        let now = self.now;
        let book = self.books.entry(sku).or_default();
        if book.touch(now) {
            self.dirty.push(sku);
        }
        if book.unlogged() {
            self.log.skus.push(sku);
        }
    }

    fn mark_all_dirty(&mut self) {
        let now = self.now;
        let log = &mut self.log.skus;
        let mut skus: Vec<Id> = self
            .books
            .iter_mut()
            .filter_map(|(s, b)| {
                if b.unlogged() {
                    log.push(*s);
                }
                b.touch(now).then_some(*s)
            })
            .collect();
        skus.sort_unstable();
        self.dirty.extend(skus);
    }

    /// Applies `change` to a shipment and moves its in-transit lines (and its PO's on-order
    /// lines) to match.
    fn change_shipment(&mut self, doc: Id, change: impl FnOnce(&mut ShipmentDoc)) {
        self.log.shipments.insert(doc);
        let d = self.shipments.entry(doc).or_default();
        let old_po = d.po();
        change(d);
        let new_po = d.po();
        let mut new = std::mem::take(&mut self.scratch);
        new.clear();
        d.contributions(doc, &mut new);
        let outbound = d.outbound();
        self.replace_contributions(doc, &new);
        self.scratch = new;
        self.replace_outbound(doc, outbound);
        if let Some(po) = new_po {
            let list = self.po_shipments.entry(po).or_default();
            if !list.contains(&doc) {
                list.push(doc);
            }
        }
        if old_po != new_po
            && let Some(po) = old_po
            && let Some(list) = self.po_shipments.get_mut(&po)
        {
            list.retain(|s| *s != doc);
        }
        for po in [old_po, new_po].into_iter().flatten() {
            self.change_purchase_order(po, |_| {});
        }
    }

    /// Applies `change` to a PO and moves its on-order lines to match (also after a change
    /// to one of its shipments, with a no-op `change`).
    fn change_purchase_order(&mut self, doc: Id, change: impl FnOnce(&mut PurchaseOrderDoc)) {
        let mut shipped: HashMap<Id, i32, FixedState> = HashMap::default();
        for s in self.po_shipments.get(&doc).into_iter().flatten() {
            if let Some(sd) = self.shipments.get(s) {
                for (sku, qty) in sd.shipped_against_po() {
                    *shipped.entry(sku).or_default() += qty;
                }
            }
        }
        self.log.purchase_orders.insert(doc);
        let d = self.purchase_orders.entry(doc).or_default();
        change(d);
        let mut new = Vec::new();
        d.contributions(doc, &shipped, &mut new);
        self.replace_contributions(doc, &new);
    }

    /// Makes `new` what departed transfer `doc` took out of its origin: the stock it took
    /// before is put back (at the same time, so the count rule treats both alike) and the
    /// new lines are taken.
    fn replace_outbound(&mut self, doc: Id, new: Option<Outbound>) {
        if self.outbound.get(&doc) == new.as_ref() {
            return;
        }
        if let Some((origin, time, lines)) = self.outbound.remove(&doc) {
            for (sku, qty) in lines {
                self.with_position_id(sku, origin, |p| p.apply_delta(time, qty));
            }
        }
        if let Some((origin, time, lines)) = new.clone() {
            for (sku, qty) in lines {
                self.with_position_id(sku, origin, |p| p.apply_delta(time, -qty));
            }
            self.outbound.insert(doc, new.expect("checked above"));
        }
    }

    /// The contributions of `lines` to skus this engine owns (all of them without a shard).
    fn own_contributions<'a>(&mut self, lines: &'a [Contribution]) -> Cow<'a, [Contribution]> {
        if self.shard.is_none() {
            return Cow::Borrowed(lines);
        }
        Cow::Owned(lines.iter().filter(|c| self.owns(c.0)).cloned().collect())
    }

    /// Makes `new` the inbound lines `doc` contributes, replacing what it contributed
    /// before; marks the skus whose lines changed.
    fn replace_contributions(&mut self, doc: Id, new: &[Contribution]) {
        let new = self.own_contributions(new);
        let new = &new[..];
        let old = self.contributed.get(&doc).map_or(&[][..], Vec::as_slice);
        if old == new {
            return;
        }
        let old = self.contributed.remove(&doc).unwrap_or_default();
        for &(sku, loc, _) in &old {
            if let Some(book) = self.books.get_mut(&sku)
                && let Ok(i) = book.positions.binary_search_by_key(&loc, |p| p.loc)
            {
                book.positions[i].remove_inbound(doc);
            }
            self.mark_dirty(sku);
        }
        for &(sku, loc, line) in new {
            self.books
                .entry(sku)
                .or_default()
                .position_mut(loc)
                .add_inbound(line);
            self.mark_dirty(sku);
        }
        if !new.is_empty() {
            self.contributed.insert(doc, new.to_vec());
        }
    }

    /// Publishes the availability of every sku changed since the last flush whose published
    /// values differ from the last message, in the order the skus were first changed.
    pub fn flush(&mut self, out: &mut Vec<Availability>) {
        self.flush_changed(
            None,
            &mut Records {
                out,
                channels: Vec::new(),
            },
        );
    }

    /// Like [`flush`](Self::flush), but writes each message straight from the engine's
    /// rows as a Confluent-framed Avro value (`schema_id` in the header), without building
    /// the record tree: what the runtime publishes. The bytes equal the codec's encoding of
    /// the record [`flush`](Self::flush) would have built (tested).
    pub fn flush_encoded(&mut self, schema_id: u32, out: &mut EncodedBatch) {
        self.flush_changed(
            None,
            &mut Encoded {
                schema_id,
                out,
                key_start: 0,
                value_start: 0,
            },
        );
    }

    /// Like [`flush_encoded`](Self::flush_encoded), but a sku whose last message went out
    /// less than `pace.interval_ms` ago stays queued (held) until that much time has passed,
    /// so a hot sku is published at most once per interval while a change to a quiet one
    /// goes out at once. No change waits longer than the interval. Returns when the held
    /// skus are due (`None` if none is held). Versions and content do not depend on the
    /// pacing: only which changes are folded into one message.
    pub fn flush_encoded_paced(
        &mut self,
        schema_id: u32,
        pace: Pace,
        out: &mut EncodedBatch,
    ) -> Option<Held> {
        self.flush_changed(
            Some(pace),
            &mut Encoded {
                schema_id,
                out,
                key_start: 0,
                value_start: 0,
            },
        )
    }

    /// Runs change detection over the skus changed since the last flush and has `publisher`
    /// publish each whose published values differ from its last message (or that was never
    /// published), under its new version. With a pace, skus published too recently stay
    /// queued; returns when those are due.
    ///
    /// Per sku, the rows are computed once and the publisher writes the Avro encoding of the
    /// message's `channels` field from them; the change hash is the hash of those bytes
    /// (they encode every published value, so equal bytes mean equal content).
    fn flush_changed(
        &mut self,
        pace: Option<Pace>,
        publisher: &mut impl Publisher,
    ) -> Option<Held> {
        self.refresh_location_order();
        let dirty = std::mem::take(&mut self.dirty);
        let mut rows = std::mem::take(&mut self.rows);
        let mut held = Vec::new();
        let mut due_span: Option<Held> = None;
        self.bucket_ends_into(&mut rows);
        for sku in &dirty {
            if let Some(pace) = pace {
                let book = &self.books[sku];
                let due = book.emitted_at_ms.saturating_add(pace.interval_ms);
                if book.version > 0 && due > pace.now_ms {
                    held.push(*sku);
                    let span = due_span.get_or_insert(Held {
                        first_due_ms: due,
                        last_due_ms: due,
                    });
                    span.first_due_ms = span.first_due_ms.min(due);
                    span.last_due_ms = span.last_due_ms.max(due);
                    continue;
                }
            }
            self.rows(*sku, &mut rows);
            let hash = publisher.write(self, *sku, &rows);
            let book = self.books.get_mut(sku).expect("dirty skus have a book");
            book.dirty = false;
            if book.unlogged() {
                self.log.skus.push(*sku);
            }
            let keep = !(book.version > 0 && book.published == hash
                || book.version == 0 && rows.rows.is_empty());
            if keep {
                book.version = book.changes;
                book.published = hash;
                if let Some(pace) = pace {
                    book.emitted_at_ms = pace.now_ms;
                }
                self.stats.published += 1;
            }
            publisher.finish(self, *sku, &rows, keep);
        }
        self.rows = rows;
        let mut dirty = dirty;
        dirty.clear();
        if self.dirty.is_empty() {
            self.dirty = dirty;
        }
        // Held skus are still dirty (their flag was not cleared): queue them again.
        self.dirty.extend(held);
        due_span
    }

    /// Ranks locations by id string, for listing them in wire order without sorting
    /// strings per message. Recomputed only when new locations were interned.
    fn refresh_location_order(&mut self) {
        if self.location_rank.len() == self.locs.len() {
            return;
        }
        let mut ids: Vec<Id> = (0..self.locs.len() as Id).collect();
        ids.sort_unstable_by(|a, b| self.locs.name(*a).cmp(self.locs.name(*b)));
        self.location_rank = vec![0; ids.len()];
        for (rank, id) in ids.into_iter().enumerate() {
            self.location_rank[id as usize] = rank as u32;
        }
        self.location_wire = (0..self.locs.len() as Id)
            .map(|id| WireName::new(self.locs.name(id)))
            .collect();
    }

    /// Appends the Avro encoding of the `channels` field of `sku`'s message, from `rows`
    /// (computed by [`rows`](Self::rows) with fresh location ranks), to `buf`.
    fn write_channels(&self, sku: Id, rows: &Rows, buf: &mut Vec<u8>) {
        use allot_schemas::codec::wire::{write_long, write_str};
        let book = &self.books[&sku];
        let channels = self.config.channels.len();
        write_long(channels as i64, buf);
        let mut network_at = 0;
        for (c, policy) in self.config.channels.iter().enumerate() {
            let ends = &rows.ends_wire[c];
            write_long(policy.channel as i64, buf);
            write_array_len(ends.len(), buf);
            for (until, total) in ends.iter().zip(&rows.network[network_at..]) {
                until.write(buf);
                write_long(*total, buf);
            }
            network_at += ends.len();
            if !ends.is_empty() {
                buf.push(0);
            }
            let mine = &rows.rows[rows.by_channel[c].clone()];
            write_array_len(mine.len(), buf);
            for row in mine {
                let p = &book.positions[row.position as usize];
                match self.location_wire.get(p.loc as usize) {
                    Some(Some(name)) => name.write(buf),
                    _ => write_str(self.locs.name(p.loc), buf),
                }
                write_long(i64::from(p.on_hand()), buf);
                write_long(i64::from(p.reserved()), buf);
                write_long(i64::from(row.safety_stock), buf);
                write_array_len(ends.len(), buf);
                let start = row.atp as usize;
                for (until, v) in ends.iter().zip(&rows.atp[start..start + ends.len()]) {
                    until.write(buf);
                    write_long(*v, buf);
                }
                if !ends.is_empty() {
                    buf.push(0);
                }
            }
            if !mine.is_empty() {
                buf.push(0);
            }
        }
        if channels > 0 {
            buf.push(0);
        }
    }

    /// Appends the fields of `sku`'s message before `channels` (event_id, event_time,
    /// source, sku, version), for the message of version `version`.
    fn write_head(&self, sku: Id, version: u64, buf: &mut Vec<u8>) {
        use allot_schemas::codec::wire::{write_long, write_str};
        let name = self.skus.name(sku);
        let mut digits = [0u8; 20];
        let digits = decimal(version, &mut digits);
        write_long(
            (b"availability/".len() + name.len() + 1 + digits.len()) as i64,
            buf,
        );
        buf.extend_from_slice(b"availability/");
        buf.extend_from_slice(name.as_bytes());
        buf.push(b'/');
        buf.extend_from_slice(digits);
        write_long(self.books[&sku].changed_at.max(0), buf);
        write_str(&self.config.source, buf);
        write_str(name, buf);
        write_long(version as i64, buf);
    }

    /// The availability of `sku` as it stands, with the version of the last message
    /// published for it (0 if none). `None` for a sku never seen.
    pub fn snapshot(&self, sku: &str) -> Option<Availability> {
        self.skus
            .get(sku)
            .filter(|s| self.books.contains_key(s))
            .map(|s| self.current(s))
    }

    /// The current availability of every sku that has something to publish (for final
    /// snapshots and tests), sorted by sku.
    pub fn snapshot_all(&self) -> Vec<Availability> {
        let mut all: Vec<Availability> = self
            .books
            .iter()
            .filter(|(_, b)| b.version > 0 || b.positions.iter().any(|p| !p.is_empty()))
            .map(|(s, _)| self.current(*s))
            .collect();
        all.sort_by(|a, b| a.sku.cmp(&b.sku));
        all
    }

    /// Computes every published row of `sku` into `rows`: per channel, per eligible,
    /// non-empty position in the order of location ranks (wire order when the ranks are
    /// fresh), its safety stock and its ATP per bucket; and the network ATP per channel
    /// and bucket.
    fn rows(&self, sku: Id, rows: &mut Rows) {
        rows.clear();
        let channels = &self.config.channels;
        rows.network
            .extend(rows.bucket_ends.iter().flatten().map(|_| 0));
        let Some(book) = self.books.get(&sku) else {
            rows.by_channel.resize(channels.len(), 0..0);
            return;
        };
        // Eligible positions by location rank: (rank << 32 | index, channel mask).
        for (i, p) in book.positions.iter().enumerate() {
            if p.is_empty() {
                continue;
            }
            let mask = self.channel_masks.get(p.loc as usize).copied().unwrap_or(0);
            if mask == 0 {
                continue;
            }
            let rank = self.location_rank.get(p.loc as usize).copied();
            let rank = u64::from(rank.unwrap_or(p.loc));
            rows.order.push((rank << 32 | i as u64, mask));
        }
        if !rows.order.is_sorted_by_key(|(key, _)| *key) {
            rows.order.sort_unstable_by_key(|(key, _)| *key);
        }
        let sku_scoped = self.safety.has_sku_policy(sku);
        let mut network_at = 0;
        for (c, policy) in channels.iter().enumerate() {
            let ends = &rows.bucket_ends[c];
            let network = &mut rows.network[network_at..network_at + ends.len()];
            network_at += ends.len();
            let first = rows.rows.len();
            let (on_hand, in_transit, on_order) = (
                policy.counts_on_hand(),
                policy.counts_in_transit(),
                policy.counts_on_order(),
            );
            for &(key, mask) in &rows.order {
                if mask & (1 << c) == 0 {
                    continue;
                }
                let i = key as u32;
                let p = &book.positions[i as usize];
                let ss = self.safety.units(sku_scoped, sku, p.loc, c as u8);
                let base = if on_hand { i64::from(p.on_hand()) } else { 0 }
                    - i64::from(p.reserved())
                    - i64::from(ss);
                rows.rows.push(Row {
                    position: i,
                    safety_stock: ss,
                    atp: rows.atp.len() as u32,
                });
                if p.inbound().is_empty() {
                    let v = base.max(0);
                    for n in network.iter_mut() {
                        rows.atp.push(v);
                        *n += v;
                    }
                } else {
                    for (until, n) in ends.iter().zip(network.iter_mut()) {
                        let v = (base + p.inbound_due(*until, in_transit, on_order)).max(0);
                        rows.atp.push(v);
                        *n += v;
                    }
                }
            }
            rows.by_channel.push(first..rows.rows.len());
        }
    }

    /// Sets the bucket dates of every channel from the watermark's day.
    fn bucket_ends_into(&self, rows: &mut Rows) {
        let today = if self.watermark == i64::MIN {
            0
        } else {
            self.watermark.div_euclid(DAY_MS)
        };
        let channels = self.config.channels.len();
        rows.bucket_ends.resize(channels, Vec::new());
        rows.ends_wire.resize(channels, Vec::new());
        for (c, policy) in self.config.channels.iter().enumerate() {
            let ends = &mut rows.bucket_ends[c];
            ends.clear();
            ends.extend(
                policy
                    .bucket_days
                    .iter()
                    .map(|d| (today + i64::from(*d) + 1) * DAY_MS - 1),
            );
            let wire = &mut rows.ends_wire[c];
            wire.clear();
            wire.extend(ends.iter().map(|until| WireLong::new(*until)));
        }
    }

    fn build(&self, sku: Id, rows: &Rows) -> Availability {
        let book = &self.books[&sku];
        let mut network_at = 0;
        let mut channels: Vec<ChannelAvailability> = Vec::with_capacity(rows.by_channel.len());
        for ((policy, ends), mine) in self
            .config
            .channels
            .iter()
            .zip(&rows.bucket_ends)
            .zip(&rows.by_channel)
        {
            let bucket = |(until, atp): (&i64, &i64)| AtpBucket {
                until: *until,
                atp: *atp,
            };
            let network = &rows.network[network_at..network_at + ends.len()];
            network_at += ends.len();
            let mut locations: Vec<LocationAvailability> = rows.rows[mine.clone()]
                .iter()
                .map(|row| {
                    let p = &book.positions[row.position as usize];
                    let start = row.atp as usize;
                    LocationAvailability {
                        location_id: self.locs.name(p.loc).to_owned(),
                        on_hand: i64::from(p.on_hand()),
                        reserved: i64::from(p.reserved()),
                        safety_stock: i64::from(row.safety_stock),
                        buckets: ends
                            .iter()
                            .zip(&rows.atp[start..start + ends.len()])
                            .map(bucket)
                            .collect(),
                    }
                })
                .collect();
            // In wire order already when the ranks are fresh (flushes); not so for
            // snapshots taken after new locations were interned.
            locations.sort_unstable_by(|a, b| a.location_id.cmp(&b.location_id));
            channels.push(ChannelAvailability {
                channel: policy.channel,
                network: ends.iter().zip(network).map(bucket).collect(),
                locations,
            });
        }
        let name = self.skus.name(sku);
        Availability {
            event_id: format!("availability/{name}/{}", book.version),
            event_time: book.changed_at.max(0),
            source: self.config.source.clone(),
            sku: name.to_owned(),
            version: book.version as i64,
            channels,
        }
    }

    /// Builds the current availability of `sku`.
    fn current(&self, sku: Id) -> Availability {
        let mut rows = Rows::default();
        self.bucket_ends_into(&mut rows);
        self.rows(sku, &mut rows);
        self.build(sku, &rows)
    }
}

/// How a flush writes the messages it publishes.
trait Publisher {
    /// Writes the candidate message of `sku` from `rows`, at the version it gets if
    /// published; returns the hash of its `channels` bytes.
    fn write(&mut self, engine: &AvailabilityEngine, sku: Id, rows: &Rows) -> u64;
    /// Publishes the candidate just written (`keep`; the sku's book carries its new version)
    /// or forgets it.
    fn finish(&mut self, engine: &AvailabilityEngine, sku: Id, rows: &Rows, keep: bool);
}

/// Publishes `Availability` records.
struct Records<'a> {
    out: &'a mut Vec<Availability>,
    /// The `channels` bytes, for the hash only.
    channels: Vec<u8>,
}

impl Publisher for Records<'_> {
    fn write(&mut self, engine: &AvailabilityEngine, sku: Id, rows: &Rows) -> u64 {
        self.channels.clear();
        engine.write_channels(sku, rows, &mut self.channels);
        xxhash_rust::xxh3::xxh3_64(&self.channels)
    }

    fn finish(&mut self, engine: &AvailabilityEngine, sku: Id, rows: &Rows, keep: bool) {
        if keep {
            self.out.push(engine.build(sku, rows));
        }
    }
}

/// Publishes keys and Confluent-framed values: writes each candidate message in place and
/// cuts it off again if it is not published.
struct Encoded<'a> {
    schema_id: u32,
    out: &'a mut EncodedBatch,
    key_start: usize,
    value_start: usize,
}

impl Publisher for Encoded<'_> {
    fn write(&mut self, engine: &AvailabilityEngine, sku: Id, rows: &Rows) -> u64 {
        use allot_schemas::codec::confluent::write_header;
        let buf = &mut self.out.bytes;
        self.key_start = buf.len();
        buf.extend_from_slice(engine.skus.name(sku).as_bytes());
        self.value_start = buf.len();
        write_header(self.schema_id, buf);
        engine.write_head(sku, engine.books[&sku].changes, buf);
        let channels_start = buf.len();
        engine.write_channels(sku, rows, buf);
        xxhash_rust::xxh3::xxh3_64(&buf[channels_start..])
    }

    fn finish(&mut self, _: &AvailabilityEngine, _: Id, _: &Rows, keep: bool) {
        if keep {
            self.out.items.push(EncodedItem {
                key: self.key_start..self.value_start,
                value: self.value_start..self.out.bytes.len(),
            });
        } else {
            self.out.bytes.truncate(self.key_start);
        }
    }
}

/// Writes `n` in decimal into `buf`, returning the digits.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
        }
    }
}

/// Writes an Avro array's block count (a single block; the terminating 0 is the caller's,
/// and an empty array is just the 0).
fn write_array_len(n: usize, buf: &mut Vec<u8>) {
    if n == 0 {
        buf.push(0);
    } else {
        allot_schemas::codec::wire::write_long(n as i64, buf);
    }
}

/// Availability messages encoded by [`AvailabilityEngine::flush_encoded`]: keys and
/// Confluent-framed values in one buffer.
#[derive(Debug, Default)]
pub struct EncodedBatch {
    bytes: Vec<u8>,
    items: Vec<EncodedItem>,
}

#[derive(Debug, Clone)]
struct EncodedItem {
    key: std::ops::Range<usize>,
    value: std::ops::Range<usize>,
}

impl EncodedBatch {
    /// Forgets the messages, keeping the buffers.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.items.clear();
    }

    /// How many messages.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Bytes of all values.
    pub fn value_bytes(&self) -> usize {
        self.items.iter().map(|i| i.value.len()).sum()
    }

    /// `(key, framed value)` of each message, in publication order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.items
            .iter()
            .map(|i| (&self.bytes[i.key.clone()], &self.bytes[i.value.clone()]))
    }
}

/// An Avro `long`, encoded once and copied in one fixed-size move.
#[derive(Debug, Clone, Copy)]
struct WireLong {
    bytes: [u8; 10],
    len: u8,
}

impl WireLong {
    fn new(v: i64) -> WireLong {
        let mut buf = Vec::with_capacity(10);
        allot_schemas::codec::wire::write_long(v, &mut buf);
        let mut bytes = [0u8; 10];
        bytes[..buf.len()].copy_from_slice(&buf);
        WireLong {
            bytes,
            len: buf.len() as u8,
        }
    }

    #[inline]
    fn write(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.bytes);
        buf.truncate(buf.len() - (10 - usize::from(self.len)));
    }
}

/// One published (position, channel) pair of a sku.
#[derive(Debug, Clone, Copy)]
struct Row {
    position: u32,
    safety_stock: i32,
    /// Where its ATP values (one per bucket of the channel) start in `Rows::atp`.
    atp: u32,
}

/// Scratch space for computing a sku's availability once per flush and reusing it for the
/// change hash and, when changed, the message.
#[derive(Debug, Default)]
struct Rows {
    /// Per channel, the bucket end dates.
    bucket_ends: Vec<Vec<i64>>,
    /// Per channel and bucket, the end date as an Avro long.
    ends_wire: Vec<Vec<WireLong>>,
    /// Eligible positions (location rank << 32 | index, channel mask), by location rank.
    order: Vec<(u64, u8)>,
    /// Channel after channel, each in wire order of locations.
    rows: Vec<Row>,
    /// Per channel, its range of `rows`.
    by_channel: Vec<std::ops::Range<usize>>,
    /// ATP per bucket, row after row.
    atp: Vec<i64>,
    /// Network ATP per bucket, channel after channel.
    network: Vec<i64>,
}

impl Rows {
    fn clear(&mut self) {
        self.order.clear();
        self.rows.clear();
        self.by_channel.clear();
        self.atp.clear();
        self.network.clear();
    }
}

/// Checks an inventory record's quantities; the error says which line and why.
pub(crate) fn validate(record: &AnyRecord) -> Result<(), String> {
    fn positive(what: &str, i: usize, q: i32) -> Result<(), String> {
        if q <= 0 {
            return Err(format!("line {i}: {what} must be positive, got {q}"));
        }
        Ok(())
    }
    match record {
        AnyRecord::PosSale(tx) => {
            if tx.lines.is_empty() {
                return Err("a register transaction without lines".into());
            }
            tx.lines
                .iter()
                .enumerate()
                .try_for_each(|(i, l)| positive("quantity", i, l.quantity))
        }
        AnyRecord::Receipt(r) => r.lines.iter().enumerate().try_for_each(|(i, l)| {
            if l.quantity_received < 0 || l.quantity_damaged < 0 {
                Err(format!(
                    "line {i}: received and damaged quantities must not be negative, got {} and {}",
                    l.quantity_received, l.quantity_damaged
                ))
            } else {
                Ok(())
            }
        }),
        AnyRecord::Shipment(s) => s
            .lines
            .iter()
            .enumerate()
            .try_for_each(|(i, l)| positive("quantity", i, l.quantity)),
        AnyRecord::PurchaseOrder(po) => po
            .lines
            .iter()
            .enumerate()
            .try_for_each(|(i, l)| positive("quantity_ordered", i, l.quantity_ordered)),
        AnyRecord::Adjustment(a) => match a.kind {
            AdjustmentKind::CycleCount if a.quantity < 0 => Err(format!(
                "a cycle count must not be negative, got {}",
                a.quantity
            )),
            AdjustmentKind::Shrink | AdjustmentKind::Damage | AdjustmentKind::Found
                if a.quantity <= 0 =>
            {
                Err(format!(
                    "{:?} quantity must be positive (the kind gives the sign), got {}",
                    a.kind, a.quantity
                ))
            }
            _ => Ok(()),
        },
        AnyRecord::Return(r) => r
            .lines
            .iter()
            .enumerate()
            .try_for_each(|(i, l)| positive("quantity", i, l.quantity)),
        AnyRecord::OrderEvent(e) => match e.kind {
            OrderEventKind::Shipped | OrderEventKind::PickedUp => {
                if e.location_id.is_none() {
                    return Err(format!("{:?} without a location_id", e.kind));
                }
                e.lines
                    .iter()
                    .enumerate()
                    .try_for_each(|(i, l)| positive("quantity", i, l.quantity))
            }
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}
