//! [`Workload`]: the deterministic stream of retail events, in non-decreasing event time.
//!
//! The stream opens with the reference data (locations, safety-stock policies, sourcing
//! rules, price book) and an opening cycle count of every stocked (SKU, location), all at the
//! start instant. Then a discrete-event simulation runs: a priority queue holds one pending
//! arrival per stream (register transactions per store, orders per channel, counts and
//! adjustments per location, daily replenishment and purchasing runs) and the future steps of
//! everything in flight (a transfer's departure and delivery, a PO's amendment and ASN, an
//! order's cancellation, shipment, pickup and return). Popping the earliest entry produces
//! its records and schedules what follows, so memory is bounded by what is in flight, never
//! by the length of the run.
//!
//! Arrivals are non-homogeneous Poisson processes sampled by thinning against the demand
//! curves of [`crate::curves`] in each store's or customer's local time.

mod bad;
mod orders;
mod reference;
mod sales;
mod supply;
#[cfg(test)]
mod tests;

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt::Write as _;

use allot_schemas::{AnyRecord, Channel, EpochMillis, FulfilmentType, Topic};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::book::StockBook;
use crate::calendar::{DAY_MS, HOUR_MS, MINUTE_MS};
use crate::catalogue::Catalogue;
use crate::cities::CITIES;
use crate::config::WorkloadConfig;
use crate::curves;
use crate::network::Network;

pub use bad::BadKind;
use orders::OrderPlan;
use supply::{PoPlan, ShipmentPlan};

/// The order channels, in the order used by every per-channel array.
pub const CHANNELS: [Channel; 5] = [
    Channel::Web,
    Channel::App,
    Channel::CallCenter,
    Channel::Store,
    Channel::Marketplace,
];

/// The fulfilment types, in the order used by every per-type array.
pub const FULFILMENTS: [FulfilmentType; 5] = [
    FulfilmentType::ShipToHome,
    FulfilmentType::PickupInStore,
    FulfilmentType::SameDayDelivery,
    FulfilmentType::ScheduledDelivery,
    FulfilmentType::Installation,
];

/// Position of a channel in [`CHANNELS`].
pub fn channel_index(c: Channel) -> usize {
    CHANNELS
        .iter()
        .position(|x| *x == c)
        .expect("every channel is listed")
}

/// Position of a fulfilment type in [`FULFILMENTS`].
pub fn fulfilment_index(f: FulfilmentType) -> usize {
    FULFILMENTS
        .iter()
        .position(|x| *x == f)
        .expect("every fulfilment type is listed")
}

/// Position of a topic in [`Topic::ALL`].
pub fn topic_index(t: Topic) -> usize {
    Topic::ALL
        .iter()
        .position(|x| *x == t)
        .expect("every topic is listed")
}

/// What the generator has produced so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkloadStats {
    /// Records per topic, indexed like [`Topic::ALL`].
    pub per_topic: [u64; 16],
    /// Injected invalid records per [`BadKind`] (indexed like [`BadKind::ALL`]).
    pub bad: [u64; 3],
    /// Orders per channel, indexed like [`CHANNELS`].
    pub orders_by_channel: [u64; 5],
    /// Orders per fulfilment type actually emitted, indexed like [`FULFILMENTS`].
    pub orders_by_fulfilment: [u64; 5],
    /// Orders that asked for pickup, same-day or installation where none was possible and
    /// fell back to another fulfilment type.
    pub fulfilment_fallbacks: u64,
    /// Orders emitted with one deliberately wrong price or promotion.
    pub price_mismatches: u64,
}

impl WorkloadStats {
    /// Records of `topic`.
    pub fn count(&self, topic: Topic) -> u64 {
        self.per_topic[topic_index(topic)]
    }

    /// All records.
    pub fn total(&self) -> u64 {
        self.per_topic.iter().sum()
    }

    /// All injected invalid records.
    pub fn bad_total(&self) -> u64 {
        self.bad.iter().sum()
    }
}

/// Kinds of business ids.
#[derive(Debug, Clone, Copy)]
enum Biz {
    Order,
    Transfer,
    Asn,
    Po,
    Receipt,
    Return,
}

impl Biz {
    const fn prefix(self) -> &'static str {
        match self {
            Biz::Order => "ORD",
            Biz::Transfer => "TRF",
            Biz::Asn => "ASN",
            Biz::Po => "PO",
            Biz::Receipt => "RCV",
            Biz::Return => "RMA",
        }
    }
}

/// Short prefix of a topic's event ids.
const fn event_prefix(t: Topic) -> &'static str {
    match t {
        Topic::PosSales => "pos",
        Topic::Receipts => "rcv",
        Topic::Shipments => "shp",
        Topic::PurchaseOrders => "po",
        Topic::InventoryAdjustments => "adj",
        Topic::Orders => "ord",
        Topic::OrderEvents => "oev",
        Topic::Returns => "ret",
        Topic::Locations => "loc",
        Topic::SafetyStockPolicies => "ssp",
        Topic::SourcingRules => "rul",
        Topic::PriceBook => "prc",
        Topic::Availability => "ava",
        Topic::SourcingDecisions => "dec",
        Topic::Disruptions => "dis",
        Topic::DeadLetters => "dlq",
    }
}

/// Deterministic, run-unique ids: `{prefix}-{seed}-{n}`.
#[derive(Debug, Clone)]
struct Ids {
    seed: u64,
    events: [u64; 16],
    business: [u64; 6],
}

impl Ids {
    fn event(&mut self, t: Topic) -> String {
        let i = topic_index(t);
        self.events[i] += 1;
        let mut s = String::with_capacity(24);
        let _ = write!(s, "{}-{}-{}", event_prefix(t), self.seed, self.events[i]);
        s
    }

    fn business(&mut self, b: Biz) -> String {
        let i = b as usize;
        self.business[i] += 1;
        let mut s = String::with_capacity(24);
        let _ = write!(s, "{}-{}-{:06}", b.prefix(), self.seed, self.business[i]);
        s
    }
}

/// Something that will happen at a future instant.
#[derive(Debug)]
enum Pending {
    /// The next candidate register transaction at a store (site index).
    Pos(u32),
    /// The next candidate order of a channel (index into [`CHANNELS`]).
    Orders(u8),
    /// The next cycle count at a site.
    Count(u32),
    /// The next shrink/damage/found/correction adjustment at a site.
    Adjust(u32),
    /// The daily replenishment run of a store or dark store.
    Replenish(u32),
    /// The daily purchasing run of a DC.
    Purchase(u32),
    /// The next step of a shipment.
    Shipment(Box<ShipmentPlan>),
    /// The next step of a purchase order.
    Po(Box<PoPlan>),
    /// The next step of a customer order.
    Order(Box<OrderPlan>),
}

#[derive(Debug)]
struct Scheduled {
    at: EpochMillis,
    seq: u64,
    what: Pending,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    // Reversed: `BinaryHeap` is a max-heap and the earliest entry must come out first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// Where the opening phase of the stream is.
#[derive(Debug, Clone, Copy)]
enum Boot {
    Prices { list: usize, sku: usize },
    Counts { loc: usize, k: usize },
    Done,
}

/// Per-stream arrival rates, in events per millisecond.
#[derive(Debug, Clone)]
struct Rates {
    /// Per site (zero tables for non-stores): register transactions by `[weekday][hour]`.
    pos: Vec<[[f64; 24]; 7]>,
    /// Per site, the peak of `pos`.
    pos_peak: Vec<f64>,
    /// Per channel: orders by local `[weekday][hour]` of the customer (unused for STORE).
    orders: [[[f64; 24]; 7]; 5],
    /// Per channel, the peak rate.
    orders_peak: [f64; 5],
    /// STORE channel: per store, orders by the store's local `[weekday][hour]`.
    store_orders: Vec<[[f64; 24]; 7]>,
    /// STORE channel: cumulative per-store peaks (to pick the store of a candidate).
    store_orders_cum: Vec<f64>,
}

/// The generator. Iterate it to get the records; see the module docs for how it works.
#[derive(Debug)]
pub struct Workload {
    config: WorkloadConfig,
    rng: ChaCha8Rng,
    network: Network,
    catalogue: Catalogue,
    book: StockBook,
    rates: Rates,
    /// Per entry of `network.cities`, the first customer index living there (plus a final
    /// entry = number of customers).
    customer_start: Vec<u32>,
    heap: BinaryHeap<Scheduled>,
    seq: u64,
    ready: VecDeque<AnyRecord>,
    boot: Boot,
    ids: Ids,
    /// Per site, the register transaction counter.
    transactions: Vec<u64>,
    start: EpochMillis,
    end: EpochMillis,
    /// Event time of the last record returned.
    clock: EpochMillis,
    /// Invalid records owed (rolled after a good record, emitted before the next one).
    bad_due: u32,
    stats: WorkloadStats,
}

impl Workload {
    /// Builds the network, catalogue and opening stock of `config` and schedules the first
    /// arrival of every stream. Fails if the config is invalid.
    pub fn new(config: WorkloadConfig) -> anyhow::Result<Workload> {
        config.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let network = Network::build(&config, &mut rng);
        let catalogue = Catalogue::build(&config, &mut rng);
        let start = config.start_time();
        let end = config.end_time();
        let n_sites = network.sites.len();

        let rates = Rates::new(&config, &network);
        let book = reference::opening_book(&config, &network, &catalogue, &mut rng);

        // Customers live in the network's cities in proportion to population.
        let pops: Vec<f64> = network
            .cities
            .iter()
            .map(|&c| f64::from(CITIES[c].population_k))
            .collect();
        let total: f64 = pops.iter().sum();
        let mut customer_start = Vec::with_capacity(pops.len() + 1);
        let mut acc = 0.0;
        for p in &pops {
            customer_start.push((acc / total * f64::from(config.customers)).round() as u32);
            acc += p;
        }
        customer_start.push(config.customers);

        let mut w = Workload {
            ids: Ids {
                seed: config.seed,
                events: [0; 16],
                business: [0; 6],
            },
            rng,
            network,
            catalogue,
            book,
            rates,
            customer_start,
            heap: BinaryHeap::new(),
            seq: 0,
            ready: VecDeque::new(),
            boot: Boot::Prices { list: 0, sku: 0 },
            transactions: vec![0; n_sites],
            start,
            end,
            clock: start,
            bad_due: 0,
            stats: WorkloadStats::default(),
            config,
        };
        w.reference_records();
        w.schedule_streams();
        Ok(w)
    }

    /// The config the stream was generated from.
    pub fn config(&self) -> &WorkloadConfig {
        &self.config
    }

    /// The simulated network.
    pub fn network(&self) -> &Network {
        &self.network
    }

    /// The SKU catalogue and price lists.
    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    /// Counts of what has been produced so far.
    pub fn stats(&self) -> &WorkloadStats {
        &self.stats
    }

    /// The generator's book of expected stock.
    pub fn book(&self) -> &StockBook {
        &self.book
    }

    /// Start of the simulated window (UTC midnight of `start_date`).
    pub fn start_time(&self) -> EpochMillis {
        self.start
    }

    /// End of the simulated window (exclusive).
    pub fn end_time(&self) -> EpochMillis {
        self.end
    }

    /// Event time of the last record returned (the simulated clock).
    pub fn clock(&self) -> EpochMillis {
        self.clock
    }

    /// Share of the simulated window done, 0.0 to 1.0.
    pub fn progress(&self) -> f64 {
        ((self.clock - self.start) as f64 / (self.end - self.start) as f64).clamp(0.0, 1.0)
    }

    fn schedule(&mut self, at: EpochMillis, what: Pending) {
        self.seq += 1;
        self.heap.push(Scheduled {
            at: at.max(self.clock),
            seq: self.seq,
            what,
        });
    }

    /// A waiting time drawn from the exponential law of `rate_per_ms`.
    fn exp_ms(&mut self, rate_per_ms: f64) -> i64 {
        let u: f64 = self.rng.random();
        // Capped at a year so that a vanishing rate cannot overflow the clock.
        (-(1.0 - u).ln() / rate_per_ms)
            .ceil()
            .clamp(1.0, 365.0 * DAY_MS as f64) as i64
    }

    /// A uniform duration between `lo` and `hi` milliseconds.
    fn between(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            lo
        } else {
            self.rng.random_range(lo..hi)
        }
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.rng.random_bool(p.min(1.0))
    }

    fn push(&mut self, record: impl Into<AnyRecord>) {
        self.ready.push_back(record.into());
    }

    fn schedule_streams(&mut self) {
        let t0 = self.start;
        for s in 0..self.network.sites.len() {
            if self.rates.pos_peak[s] > 0.0 {
                let first = t0 + self.exp_ms(self.rates.pos_peak[s]);
                if let Some(at) = self.network.sites[s].next_open(first) {
                    self.schedule(at, Pending::Pos(s as u32));
                }
            }
            if self.config.cycle_counts_per_location_per_day > 0.0 {
                let at =
                    t0 + self.exp_ms(self.config.cycle_counts_per_location_per_day / DAY_MS as f64);
                self.schedule(at, Pending::Count(s as u32));
            }
            if self.config.adjustments_per_location_per_day > 0.0 {
                let at =
                    t0 + self.exp_ms(self.config.adjustments_per_location_per_day / DAY_MS as f64);
                self.schedule(at, Pending::Adjust(s as u32));
            }
            let (kind, tz) = (self.network.sites[s].kind, self.network.sites[s].tz);
            if kind == allot_schemas::LocationKind::Dc {
                // The first purchasing run follows the opening counts.
                let at = t0 + 30 * MINUTE_MS + s as i64 * 5 * MINUTE_MS;
                self.schedule(at, Pending::Purchase(s as u32));
            } else {
                // Replenishment is planned at 04:00 local time.
                let day = tz.local(t0).days;
                let jitter = self.between(0, HOUR_MS);
                let mut at = tz.at_local(day, 4 * HOUR_MS + jitter);
                if at < t0 {
                    at += DAY_MS;
                }
                self.schedule(at, Pending::Replenish(s as u32));
            }
        }
        for c in 0..CHANNELS.len() {
            let peak = self.rates.orders_peak[c];
            if peak > 0.0 {
                let at = t0 + self.exp_ms(peak);
                self.schedule(at, Pending::Orders(c as u8));
            }
        }
    }

    /// Emits the next slice of the opening phase into `ready`; false when it is over.
    fn boot_step(&mut self) -> bool {
        let t0 = self.start;
        match self.boot {
            Boot::Prices { list, sku } => {
                if list >= self.catalogue.price_lists.len() {
                    self.boot = Boot::Counts { loc: 0, k: 0 };
                    return true;
                }
                let id = self.ids.event(Topic::PriceBook);
                let entry = self.catalogue.entry(list, sku, id, t0);
                self.push(entry);
                self.boot = if sku + 1 < self.catalogue.skus.len() {
                    Boot::Prices { list, sku: sku + 1 }
                } else {
                    Boot::Prices {
                        list: list + 1,
                        sku: 0,
                    }
                };
                true
            }
            Boot::Counts { loc, k } => {
                if loc >= self.network.sites.len() {
                    self.boot = Boot::Done;
                    return true;
                }
                let carried = self.book.carried(loc);
                if k >= carried.len() {
                    self.boot = Boot::Counts { loc: loc + 1, k: 0 };
                    return true;
                }
                let sku = carried[k] as usize;
                let units = self.book.on_hand(sku, loc);
                let record = self.count_record(sku, loc, units, "opening_count");
                self.push(record);
                self.boot = Boot::Counts { loc, k: k + 1 };
                true
            }
            Boot::Done => false,
        }
    }

    fn handle(&mut self, what: Pending) {
        match what {
            Pending::Pos(site) => self.on_pos_arrival(site as usize),
            Pending::Orders(c) => self.on_order_arrival(c as usize),
            Pending::Count(site) => self.on_count(site as usize),
            Pending::Adjust(site) => self.on_adjust(site as usize),
            Pending::Replenish(site) => self.on_replenish(site as usize),
            Pending::Purchase(site) => self.on_purchase(site as usize),
            Pending::Shipment(plan) => self.on_shipment_step(plan),
            Pending::Po(plan) => self.on_po_step(plan),
            Pending::Order(plan) => self.on_order_step(plan),
        }
    }

    fn emit(&mut self, record: AnyRecord, bad: bool) -> AnyRecord {
        self.clock = record.event_time();
        self.stats.per_topic[topic_index(record.topic())] += 1;
        if !bad && self.config.bad_record_rate > 0.0 && self.chance(self.config.bad_record_rate) {
            self.bad_due += 1;
        }
        record
    }
}

impl Iterator for Workload {
    type Item = AnyRecord;

    fn next(&mut self) -> Option<AnyRecord> {
        loop {
            if self.bad_due > 0 {
                self.bad_due -= 1;
                let record = self.bad_record();
                return Some(self.emit(record, true));
            }
            if let Some(record) = self.ready.pop_front() {
                return Some(self.emit(record, false));
            }
            if self.boot_step() {
                continue;
            }
            let next = self.heap.pop()?;
            if next.at >= self.end {
                // The window is over: drop what is still in flight.
                self.heap.clear();
                return None;
            }
            self.clock = next.at;
            self.handle(next.what);
        }
    }
}

impl Rates {
    fn new(config: &WorkloadConfig, network: &Network) -> Rates {
        let per_ms = |t: [[f64; 24]; 7]| t.map(|row| row.map(|x| x / HOUR_MS as f64));
        let always = [Some((0u8, 24u8)); 7];
        let mut pos = vec![[[0.0; 24]; 7]; network.sites.len()];
        let mut pos_peak = vec![0.0; network.sites.len()];
        let n_stores = network.stores.len().max(1) as f64;
        let shares = config.channel_mix.weights();
        let share_total: f64 = shares.iter().sum();
        let store_orders_per_day =
            config.orders_per_day * shares[channel_index(Channel::Store)] / share_total;
        let mut store_orders = Vec::with_capacity(network.stores.len());
        let mut store_orders_cum = Vec::with_capacity(network.stores.len());
        let mut cum = 0.0;
        for &s in &network.stores {
            let site = &network.sites[s];
            pos[s] = per_ms(curves::rate_table(
                config.pos_baskets_per_store_per_day * site.size,
                &curves::STORE_WEEKLY,
                &curves::STORE_HOURLY,
                &site.hours,
            ));
            pos_peak[s] = curves::peak(&pos[s]);
            let table = per_ms(curves::rate_table(
                store_orders_per_day * site.size / n_stores,
                &curves::STORE_WEEKLY,
                &curves::STORE_HOURLY,
                &site.hours,
            ));
            cum += curves::peak(&table);
            store_orders.push(table);
            store_orders_cum.push(cum);
        }
        let mut orders = [[[0.0; 24]; 7]; 5];
        let mut orders_peak = [0.0; 5];
        for (c, channel) in CHANNELS.iter().enumerate() {
            let per_day = config.orders_per_day * shares[c] / share_total;
            let (weekly, hourly) = match channel {
                Channel::Web => (&curves::ONLINE_WEEKLY, &curves::WEB_HOURLY),
                Channel::App => (&curves::ONLINE_WEEKLY, &curves::APP_HOURLY),
                Channel::CallCenter => (&curves::CALL_CENTER_WEEKLY, &curves::CALL_CENTER_HOURLY),
                Channel::Marketplace => (&curves::ONLINE_WEEKLY, &curves::MARKETPLACE_HOURLY),
                Channel::Store => {
                    orders_peak[c] = cum;
                    continue;
                }
            };
            orders[c] = per_ms(curves::rate_table(per_day, weekly, hourly, &always));
            orders_peak[c] = curves::peak(&orders[c]);
        }
        Rates {
            pos,
            pos_peak,
            orders,
            orders_peak,
            store_orders,
            store_orders_cum,
        }
    }
}
