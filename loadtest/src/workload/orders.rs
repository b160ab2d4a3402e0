//! Customer orders from every channel and what happens to them afterwards: cancellations
//! (sometimes from another channel, sometimes one line only), line modifications, shipments
//! (split over locations when one cannot serve every line), pickups and expired pickups, and
//! returns a few days later.

use std::fmt::Write as _;

use allot_schemas::{
    Address, Channel, DeliverySlot, Disposition, FulfilmentType, Order, OrderEvent, OrderEventKind,
    OrderEventLine, OrderLine, ReturnCondition, ReturnEvent, ReturnLine, Topic,
};
use rand::RngExt;

use super::{Biz, CHANNELS, FULFILMENTS, Pending, Workload, fulfilment_index};
use crate::calendar::{DAY_MS, HOUR_MS, MINUTE_MS};
use crate::catalogue::unit_discount;
use crate::cities::{self, CITIES};

/// The order-management system of each channel, indexed like [`CHANNELS`].
const OMS_SOURCES: [&str; 5] = [
    "oms-web",
    "oms-app",
    "oms-callcenter",
    "oms-store",
    "oms-marketplace",
];

/// A customer order in flight and its next step.
#[derive(Debug)]
pub(super) struct OrderPlan {
    id: String,
    /// Index into [`CHANNELS`].
    channel: usize,
    customer: u32,
    /// Index into `Network::cities` of the customer's city.
    city: usize,
    fulfilment: FulfilmentType,
    /// The pickup store, same-day site or installation store.
    site: Option<usize>,
    lines: Vec<PlanLine>,
    /// When the goods leave or are collected.
    fulfil_at: i64,
    /// The step after a cancellation of one line or a modification.
    fulfil_step: OrderStep,
    /// Where the goods went out from (for returns).
    shipped_from: Option<usize>,
    step: OrderStep,
}

#[derive(Debug, Clone, Copy)]
struct PlanLine {
    line: u8,
    sku: u32,
    quantity: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OrderStep {
    Cancel { partial: bool },
    Modify,
    Ship,
    PickUp,
    Expire,
    Return,
}

/// A 64-bit mix of `x` (SplitMix64), for per-customer attributes that need no storage.
pub(super) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

impl Workload {
    /// A candidate order of channel `c` (thinning against the channel curve in the
    /// customer's or store's local time), then the next candidate.
    pub(super) fn on_order_arrival(&mut self, c: usize) {
        let now = self.clock;
        let peak = self.rates.orders_peak[c];
        if CHANNELS[c] == Channel::Store {
            let x = self.rng.random::<f64>() * peak;
            let cum = &self.rates.store_orders_cum;
            let k = cum.partition_point(|&v| v <= x).min(cum.len() - 1);
            let store_peak = cum[k] - if k > 0 { cum[k - 1] } else { 0.0 };
            let site = self.network.stores[k];
            let local = self.network.sites[site].tz.local(now);
            let rate = self.rates.store_orders[k][local.weekday as usize - 1][local.hour as usize];
            if rate > 0.0 && self.rng.random::<f64>() * store_peak < rate {
                let city = self
                    .network
                    .city_slot(self.network.sites[site].city)
                    .expect("stores are in network cities");
                let (from, to) = (self.customer_start[city], self.customer_start[city + 1]);
                let customer = if to > from {
                    self.rng.random_range(from..to)
                } else {
                    self.rng.random_range(0..self.config.customers)
                };
                let city = self.city_of(customer);
                self.create_order(c, customer, city, Some(site));
            }
        } else {
            let customer = self.rng.random_range(0..self.config.customers);
            let city = self.city_of(customer);
            let local = self.network.reach[city].tz.local(now);
            let rate = self.rates.orders[c][local.weekday as usize - 1][local.hour as usize];
            if rate > 0.0 && self.rng.random::<f64>() * peak < rate {
                self.create_order(c, customer, city, None);
            }
        }
        let at = now + self.exp_ms(peak);
        self.schedule(at, Pending::Orders(c as u8));
    }

    fn city_of(&self, customer: u32) -> usize {
        self.customer_start.partition_point(|&s| s <= customer) - 1
    }

    pub(super) fn customer_address(&self, customer: u32, city: usize) -> Address {
        let c = &CITIES[self.network.cities[city]];
        let h = mix(self.config.seed ^ mix(u64::from(customer)));
        let u1 = (h & 0xFFFF) as f64 / 65_536.0;
        let u2 = ((h >> 16) & 0xFFFF) as f64 / 65_536.0;
        let r = 10.0 * u1.sqrt();
        let theta = u2 * std::f64::consts::TAU;
        let lat = c.lat + r * theta.cos() / 111.32;
        let lon = c.lon + r * theta.sin() / (111.32 * c.lat.to_radians().cos());
        Address {
            postal_code: cities::postal_code(c.country, c.postal, h >> 32),
            city: c.name.to_string(),
            country: c.country.to_string(),
            latitude: (lat * 1e6).round() / 1e6,
            longitude: (lon * 1e6).round() / 1e6,
        }
    }

    fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.rng.random::<f64>() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.iter().rposition(|w| *w > 0.0).unwrap_or(0)
    }

    fn line_quantity(&mut self) -> i32 {
        match self.rng.random_range(0..100) {
            0..85 => 1,
            85..96 => 2,
            _ => self.rng.random_range(3..=4),
        }
    }

    fn add_line(lines: &mut Vec<PlanLine>, sku: usize, quantity: i32) {
        if let Some(l) = lines.iter_mut().find(|l| l.sku as usize == sku) {
            l.quantity += quantity;
        } else {
            lines.push(PlanLine {
                line: lines.len() as u8 + 1,
                sku: sku as u32,
                quantity,
            });
        }
    }

    /// Lines of SKUs in stock at `site` (what a pickup or same-day storefront offers).
    fn lines_in_stock_at(&mut self, site: usize, wanted: usize) -> Vec<PlanLine> {
        let mut lines = Vec::with_capacity(wanted);
        for _ in 0..wanted {
            for _ in 0..5 {
                let sku = self.catalogue.sample(&mut self.rng);
                let already = lines
                    .iter()
                    .find(|l: &&PlanLine| l.sku as usize == sku)
                    .map_or(0, |l| l.quantity);
                let free = self.book.available(sku, site) - already;
                if free > 0 {
                    let q = if self.rng.random_bool(0.9) { 1 } else { 2 };
                    Self::add_line(&mut lines, sku, q.min(free));
                    break;
                }
            }
        }
        lines
    }

    fn create_order(&mut self, c: usize, customer: u32, city: usize, store: Option<usize>) {
        let now = self.clock;
        let channel = CHANNELS[c];
        let weights = self.config.fulfilment_mix.per_channel()[c].weights();
        let wanted = FULFILMENTS[self.weighted(&weights)];
        let reach = &self.network.reach[city];
        let (mut fulfilment, mut site) = match wanted {
            FulfilmentType::PickupInStore => {
                let options: Vec<usize> = reach
                    .pickup
                    .iter()
                    .copied()
                    .filter(|&s| Some(s) != store)
                    .collect();
                match options.len() {
                    0 => (FulfilmentType::ShipToHome, None),
                    1 => (wanted, Some(options[0])),
                    _ => (
                        wanted,
                        Some(options[usize::from(self.rng.random_bool(0.3))]),
                    ),
                }
            }
            FulfilmentType::SameDayDelivery => match reach.same_day.first() {
                Some(&s) => (wanted, Some(s)),
                None => (FulfilmentType::ShipToHome, None),
            },
            FulfilmentType::Installation => {
                match (
                    reach.installation.first(),
                    self.catalogue.installable.is_empty(),
                ) {
                    (Some(&s), false) => (wanted, Some(s)),
                    _ => (FulfilmentType::ScheduledDelivery, None),
                }
            }
            other => (other, None),
        };
        let n_lines = match channel {
            Channel::Marketplace => 1,
            Channel::CallCenter => self.rng.random_range(1..=3),
            Channel::Store => self.rng.random_range(1..=2),
            Channel::Web | Channel::App => {
                let mut n = 1;
                while n < 6 && self.rng.random_bool(0.4) {
                    n += 1;
                }
                n
            }
        };
        let mut lines = match (fulfilment, site) {
            (FulfilmentType::PickupInStore | FulfilmentType::SameDayDelivery, Some(s)) => {
                self.lines_in_stock_at(s, n_lines)
            }
            (FulfilmentType::Installation, Some(_)) => {
                let mut lines = Vec::new();
                let sku = self
                    .catalogue
                    .sample_installable(&mut self.rng)
                    .expect("installable SKUs exist");
                Self::add_line(&mut lines, sku, 1);
                if self.rng.random_bool(0.3) {
                    let accessory = self.catalogue.sample(&mut self.rng);
                    Self::add_line(&mut lines, accessory, 1);
                }
                lines
            }
            _ => Vec::new(),
        };
        if lines.is_empty() {
            if matches!(
                fulfilment,
                FulfilmentType::PickupInStore | FulfilmentType::SameDayDelivery
            ) {
                // Nothing wanted is in stock there: the customer has it shipped instead.
                fulfilment = FulfilmentType::ShipToHome;
                site = None;
            }
            for _ in 0..n_lines {
                let sku = self.catalogue.sample(&mut self.rng);
                let q = self.line_quantity();
                Self::add_line(&mut lines, sku, q);
            }
        }
        if fulfilment != wanted {
            self.stats.fulfilment_fallbacks += 1;
        }
        if matches!(
            fulfilment,
            FulfilmentType::PickupInStore | FulfilmentType::SameDayDelivery
        ) {
            let s = site.expect("pickup and same-day have a site");
            for l in &lines {
                self.book.allocate(l.sku as usize, s, l.quantity);
            }
        }

        // When and where.
        let tz = self.network.reach[city].tz;
        let (requested, slot, fulfil_at) = match fulfilment {
            FulfilmentType::ShipToHome => {
                let requested = now + self.between(2 * DAY_MS, 4 * DAY_MS);
                let requested = requested - requested % HOUR_MS;
                (
                    requested,
                    None,
                    now + self.between(2 * HOUR_MS, 30 * HOUR_MS),
                )
            }
            FulfilmentType::PickupInStore => {
                let ready = now + self.between(2 * HOUR_MS, 24 * HOUR_MS);
                let requested = ready - ready % HOUR_MS + HOUR_MS;
                (requested, None, requested)
            }
            FulfilmentType::SameDayDelivery => {
                let requested = now + self.between(3 * HOUR_MS, 6 * HOUR_MS);
                (
                    requested,
                    None,
                    now + self.between(20 * MINUTE_MS, 90 * MINUTE_MS),
                )
            }
            FulfilmentType::ScheduledDelivery | FulfilmentType::Installation => {
                let install = fulfilment == FulfilmentType::Installation;
                let day = tz.local(now).days
                    + if install {
                        self.rng.random_range(3..=10)
                    } else {
                        self.rng.random_range(2..=7)
                    };
                let (hour, hours) = if install {
                    (if self.rng.random_bool(0.5) { 8 } else { 13 }, 4)
                } else {
                    (8 + 2 * self.rng.random_range(0..6), 2)
                };
                let start = tz.at_local(day, hour * HOUR_MS);
                let slot = DeliverySlot {
                    start,
                    end: start + hours * HOUR_MS,
                };
                let leave = (start - self.between(6 * HOUR_MS, 30 * HOUR_MS)).max(now + HOUR_MS);
                (start, Some(slot), leave)
            }
        };

        // Prices from the price book of the country the goods are delivered or collected
        // in, with the odd deliberate mismatch.
        let country = match (fulfilment, site) {
            (FulfilmentType::PickupInStore, Some(s)) => self.network.sites[s].country(),
            _ => CITIES[self.network.cities[city]].country,
        };
        let list = self.catalogue.list_for(country, channel);
        let mismatch = self.chance(self.config.price_mismatch_rate);
        if mismatch {
            self.stats.price_mismatches += 1;
        }
        let mut order_lines = Vec::with_capacity(lines.len());
        for (i, l) in lines.iter().enumerate() {
            let sku = l.sku as usize;
            let price = self.catalogue.price(list, sku, now);
            let mut unit_price_cents = price.list_cents;
            let mut discount_cents = price.discount_cents * i64::from(l.quantity);
            let mut promotion_ids: Vec<String> = price
                .campaign
                .map(|k| vec![self.catalogue.campaigns[k as usize].id.clone()])
                .unwrap_or_default();
            if mismatch && i == 0 {
                let wrong = self.catalogue.campaigns.iter().position(|k| {
                    Some(k.id.as_str()) != promotion_ids.first().map(String::as_str)
                        && !(k.valid_from..k.valid_to).contains(&now)
                });
                match wrong {
                    // A promotion that is not running (or not for this SKU) applied anyway.
                    Some(k) if self.rng.random_bool(0.5) => {
                        let campaign = &self.catalogue.campaigns[k];
                        let value = match campaign.kind {
                            allot_schemas::PromotionKind::FixedPrice => {
                                unit_price_cents * campaign.value / 10_000
                            }
                            _ => campaign.value,
                        };
                        discount_cents = unit_discount(unit_price_cents, campaign.kind, value)
                            * i64::from(l.quantity);
                        promotion_ids = vec![campaign.id.clone()];
                    }
                    // A stale list price, 5-15% off either way.
                    _ => {
                        let factor = 1.0
                            + if self.rng.random_bool(0.5) { 1.0 } else { -1.0 }
                                * self.rng.random_range(0.05..0.15);
                        unit_price_cents = ((unit_price_cents as f64 * factor) as i64).max(1);
                    }
                }
            }
            let mut line_id = String::with_capacity(2);
            let _ = write!(line_id, "{}", l.line);
            order_lines.push(OrderLine {
                line_id,
                sku: self.catalogue.skus[sku].id.clone(),
                quantity: l.quantity,
                unit_price_cents,
                discount_cents,
                promotion_ids,
            });
        }

        let order_id = self.ids.business(Biz::Order);
        let record = Order {
            event_id: self.ids.event(Topic::Orders),
            event_time: now,
            source: OMS_SOURCES[c].to_string(),
            order_id: order_id.clone(),
            channel,
            customer_id: customer_id(customer),
            fulfilment,
            destination: (fulfilment != FulfilmentType::PickupInStore)
                .then(|| self.customer_address(customer, city)),
            pickup_location_id: (fulfilment == FulfilmentType::PickupInStore)
                .then(|| self.network.sites[site.expect("pickup store")].id.clone()),
            requested_date: requested,
            slot,
            lines: order_lines,
            currency: self.catalogue.price_lists[list].currency.to_string(),
        };
        self.push(record);
        self.stats.orders_by_channel[c] += 1;
        self.stats.orders_by_fulfilment[fulfilment_index(fulfilment)] += 1;

        // What happens next.
        let hold = i64::from(self.config.pickup_hold_hours) * HOUR_MS;
        let (fulfil_step, fulfil_at) = if fulfilment == FulfilmentType::PickupInStore {
            if self.chance(self.config.pickup_expiry_rate) {
                (OrderStep::Expire, requested + hold)
            } else {
                (OrderStep::PickUp, requested + self.between(0, hold * 3 / 5))
            }
        } else {
            (OrderStep::Ship, fulfil_at)
        };
        let roll: f64 = self.rng.random();
        let (step, at) = if roll < self.config.cancel_rate + self.config.modify_rate {
            let step = if roll < self.config.cancel_rate {
                OrderStep::Cancel {
                    partial: lines.len() > 1 && self.rng.random_bool(0.2),
                }
            } else {
                OrderStep::Modify
            };
            let span = (fulfil_at - now).max(10 * MINUTE_MS);
            (
                step,
                now + self.between(5 * MINUTE_MS.min(span / 2), span * 3 / 5),
            )
        } else {
            (fulfil_step, fulfil_at)
        };
        let plan = OrderPlan {
            id: order_id,
            channel: c,
            customer,
            city,
            fulfilment,
            site,
            lines,
            fulfil_at,
            fulfil_step,
            shipped_from: None,
            step,
        };
        self.schedule(at, Pending::Order(Box::new(plan)));
    }

    fn order_event(
        &mut self,
        plan: &OrderPlan,
        kind: OrderEventKind,
        channel: usize,
        lines: Vec<OrderEventLine>,
        location: Option<usize>,
        reason: Option<&str>,
    ) -> OrderEvent {
        let source = match (kind, location) {
            (OrderEventKind::Shipped, Some(l)) => self.network.sites[l].inventory_source.clone(),
            (OrderEventKind::PickedUp, Some(l)) => self.network.sites[l].ops_source.clone(),
            _ => OMS_SOURCES[channel].to_string(),
        };
        OrderEvent {
            event_id: self.ids.event(Topic::OrderEvents),
            event_time: self.clock,
            source,
            order_id: plan.id.clone(),
            channel: CHANNELS[channel],
            kind,
            lines,
            location_id: location.map(|l| self.network.sites[l].id.clone()),
            reason: reason.map(str::to_string),
        }
    }

    fn event_line(&self, l: &PlanLine, quantity: i32) -> OrderEventLine {
        OrderEventLine {
            line_id: l.line.to_string(),
            sku: self.catalogue.skus[l.sku as usize].id.clone(),
            quantity,
        }
    }

    /// The channel making a change: sometimes another one than the order's (the customer
    /// calls the call centre, or uses the app for a web order).
    fn changing_channel(&mut self, order_channel: usize) -> usize {
        if self.chance(self.config.cross_channel_change_share) {
            let call_center = 2;
            if order_channel == call_center {
                0
            } else {
                call_center
            }
        } else {
            order_channel
        }
    }

    /// Units held at the order's site for pickup or same-day.
    fn holds_stock(plan: &OrderPlan) -> Option<usize> {
        match plan.fulfilment {
            FulfilmentType::PickupInStore | FulfilmentType::SameDayDelivery => plan.site,
            _ => None,
        }
    }

    pub(super) fn on_order_step(&mut self, mut plan: Box<OrderPlan>) {
        let now = self.clock;
        match plan.step {
            OrderStep::Cancel { partial } => {
                let channel = self.changing_channel(plan.channel);
                let reasons = [
                    "customer_request",
                    "customer_request",
                    "customer_request",
                    "payment_declined",
                    "fraud_suspected",
                    "delivery_too_late",
                    "duplicate_order",
                ];
                let reason = reasons[self.rng.random_range(0..reasons.len())];
                let held = Self::holds_stock(&plan);
                if partial && plan.lines.len() > 1 {
                    let i = self.rng.random_range(0..plan.lines.len());
                    let l = plan.lines.remove(i);
                    if let Some(s) = held {
                        self.book.allocate(l.sku as usize, s, -l.quantity);
                    }
                    let lines = vec![self.event_line(&l, l.quantity)];
                    let record = self.order_event(
                        &plan,
                        OrderEventKind::Cancel,
                        channel,
                        lines,
                        None,
                        Some(reason),
                    );
                    self.push(record);
                    self.continue_to_fulfilment(plan);
                } else {
                    if let Some(s) = held {
                        for l in &plan.lines {
                            self.book.allocate(l.sku as usize, s, -l.quantity);
                        }
                    }
                    let record = self.order_event(
                        &plan,
                        OrderEventKind::Cancel,
                        channel,
                        Vec::new(),
                        None,
                        Some(reason),
                    );
                    self.push(record);
                }
            }
            OrderStep::Modify => {
                let channel = self.changing_channel(plan.channel);
                let i = self.rng.random_range(0..plan.lines.len());
                let l = plan.lines[i];
                let held = Self::holds_stock(&plan);
                let new_quantity = if plan.lines.len() > 1 && self.rng.random_bool(0.3) {
                    0
                } else if l.quantity > 1 && (held.is_some() || self.rng.random_bool(0.5)) {
                    l.quantity - 1
                } else if held.is_none() {
                    l.quantity + 1
                } else {
                    l.quantity
                };
                if let Some(s) = held {
                    self.book
                        .allocate(l.sku as usize, s, new_quantity - l.quantity);
                }
                let lines = vec![self.event_line(&l, new_quantity)];
                let record = self.order_event(
                    &plan,
                    OrderEventKind::ModifyLines,
                    channel,
                    lines,
                    None,
                    Some("customer_request"),
                );
                self.push(record);
                if new_quantity == 0 {
                    plan.lines.remove(i);
                } else {
                    plan.lines[i].quantity = new_quantity;
                }
                self.continue_to_fulfilment(plan);
            }
            OrderStep::Ship => {
                let reach = &self.network.reach[plan.city];
                let mut candidates: Vec<usize> = Vec::with_capacity(10);
                match (plan.fulfilment, plan.site) {
                    (FulfilmentType::SameDayDelivery, Some(s)) => candidates.push(s),
                    (FulfilmentType::Installation, Some(s)) => {
                        candidates.push(s);
                        candidates.extend(&reach.shipping);
                    }
                    _ => candidates.extend(&reach.shipping),
                }
                let fallback = if plan.fulfilment == FulfilmentType::SameDayDelivery {
                    candidates[0]
                } else {
                    reach.dc
                };
                let held = Self::holds_stock(&plan);
                // Each line ships from the first candidate that has it; lines group by site.
                let mut from: Vec<(usize, Vec<OrderEventLine>)> = Vec::new();
                for k in 0..plan.lines.len() {
                    let l = plan.lines[k];
                    let sku = l.sku as usize;
                    if let Some(s) = held {
                        self.book.allocate(sku, s, -l.quantity);
                    }
                    let loc = candidates
                        .iter()
                        .copied()
                        .find(|&c| self.book.available(sku, c) >= l.quantity)
                        .unwrap_or(fallback);
                    self.book.take(sku, loc, l.quantity);
                    let line = self.event_line(&l, l.quantity);
                    match from.iter_mut().find(|(s, _)| *s == loc) {
                        Some((_, lines)) => lines.push(line),
                        None => from.push((loc, vec![line])),
                    }
                }
                plan.shipped_from = from.first().map(|(s, _)| *s);
                for (loc, lines) in from {
                    let record = self.order_event(
                        &plan,
                        OrderEventKind::Shipped,
                        plan.channel,
                        lines,
                        Some(loc),
                        None,
                    );
                    self.push(record);
                }
                self.maybe_return(plan);
            }
            OrderStep::PickUp => {
                let store = plan.site.expect("pickup store");
                let mut lines = Vec::with_capacity(plan.lines.len());
                for l in &plan.lines {
                    self.book.allocate(l.sku as usize, store, -l.quantity);
                    self.book.take(l.sku as usize, store, l.quantity);
                    lines.push(self.event_line(l, l.quantity));
                }
                plan.shipped_from = Some(store);
                let store_channel = 3;
                let record = self.order_event(
                    &plan,
                    OrderEventKind::PickedUp,
                    store_channel,
                    lines,
                    Some(store),
                    None,
                );
                self.push(record);
                self.maybe_return(plan);
            }
            OrderStep::Expire => {
                let store = plan.site.expect("pickup store");
                for l in &plan.lines {
                    self.book.allocate(l.sku as usize, store, -l.quantity);
                }
                let record = self.order_event(
                    &plan,
                    OrderEventKind::PickupExpired,
                    plan.channel,
                    Vec::new(),
                    None,
                    Some("not_collected"),
                );
                self.push(record);
            }
            OrderStep::Return => self.return_goods(&plan, now),
        }
    }

    fn continue_to_fulfilment(&mut self, mut plan: Box<OrderPlan>) {
        if plan.lines.is_empty() {
            return;
        }
        plan.step = plan.fulfil_step;
        let at = plan.fulfil_at.max(self.clock + MINUTE_MS);
        self.schedule(at, Pending::Order(plan));
    }

    fn maybe_return(&mut self, mut plan: Box<OrderPlan>) {
        if self.chance(self.config.return_rate) {
            plan.step = OrderStep::Return;
            let at = self.clock + self.between(12 * HOUR_MS, 5 * DAY_MS);
            self.schedule(at, Pending::Order(plan));
        }
    }

    fn return_goods(&mut self, plan: &OrderPlan, now: i64) {
        let reach = &self.network.reach[plan.city];
        let (location, channel, source) = match reach.stores.first() {
            Some(&s) if self.rng.random_bool(0.55) => {
                (s, 3, self.network.sites[s].ops_source.clone())
            }
            _ => {
                let dc = reach.dc;
                (
                    dc,
                    plan.channel,
                    self.network.sites[dc].inventory_source.clone(),
                )
            }
        };
        let all = plan.lines.len() == 1 || self.rng.random_bool(0.3);
        let first = self.rng.random_range(0..plan.lines.len());
        let mut lines = Vec::new();
        for (k, l) in plan.lines.iter().enumerate() {
            if !all && k != first {
                continue;
            }
            let quantity = if l.quantity > 1 && self.rng.random_bool(0.5) {
                1
            } else {
                l.quantity
            };
            let (condition, disposition, reason) = match self.rng.random_range(0..100) {
                0..40 => (
                    ReturnCondition::Resellable,
                    Disposition::Restock,
                    "changed_mind",
                ),
                40..62 => (
                    ReturnCondition::Resellable,
                    Disposition::Restock,
                    "wrong_size",
                ),
                62..72 => (
                    ReturnCondition::Resellable,
                    Disposition::Restock,
                    "arrived_late",
                ),
                72..80 => (
                    ReturnCondition::Damaged,
                    Disposition::WriteOff,
                    "damaged_in_transit",
                ),
                80..86 => (
                    ReturnCondition::Damaged,
                    Disposition::Refurbish,
                    "not_as_described",
                ),
                _ => (
                    ReturnCondition::VendorReturn,
                    Disposition::ReturnToVendor,
                    "defective",
                ),
            };
            if condition == ReturnCondition::Resellable {
                self.book.put(l.sku as usize, location, quantity);
            }
            lines.push(ReturnLine {
                sku: self.catalogue.skus[l.sku as usize].id.clone(),
                quantity,
                condition,
                disposition,
                reason: Some(reason.to_string()),
            });
        }
        let record = ReturnEvent {
            event_id: self.ids.event(Topic::Returns),
            event_time: now,
            source,
            return_id: self.ids.business(Biz::Return),
            order_id: Some(plan.id.clone()),
            customer_id: Some(customer_id(plan.customer)),
            location_id: self.network.sites[location].id.clone(),
            channel: CHANNELS[channel],
            lines,
        };
        self.push(record);
    }
}

/// The id of customer number `k` (the same in every channel).
pub(super) fn customer_id(k: u32) -> String {
    format!("C{:07}", k + 1)
}
