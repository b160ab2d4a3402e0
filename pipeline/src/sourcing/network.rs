//! [`Network`]: the reference data sourcing reads — locations (geo, capabilities, opening
//! hours, capacities, distribution groups, transit times), the interned skus, and the
//! sourcing rules resolved per (channel, fulfilment).

use allot_loadtest::calendar::Tz;
use allot_schemas::{
    Capability, Channel, FulfilmentType, Location, LocationKind, SourcingRule, SourcingStrategy,
    SupplyType,
};
use std::collections::BTreeMap;

use super::SourcingError;
use super::config::{SourcingConfig, Weights};
use super::ids::{DAY_MS, Interner, LocId, SkuId};

/// Capability bits of [`Site::caps`].
pub(crate) mod cap {
    pub const SHIP: u8 = 1;
    pub const PICKUP: u8 = 2;
    pub const SHIP_FROM_STORE: u8 = 4;
    pub const SAME_DAY: u8 = 8;
    pub const INSTALLATION: u8 = 16;
}

/// Mean Earth radius used by the haversine distance, in km.
const EARTH_RADIUS_KM: f64 = 6371.0088;

/// One location as the planner needs it: compact, with trigonometry precomputed.
#[derive(Debug, Clone)]
pub struct Site {
    /// DC, store or dark store (stores pay `store_labour_cents_per_unit`).
    pub kind: LocationKind,
    /// False for closed locations and for ids seen before the locations topic named them:
    /// never a candidate.
    pub active: bool,
    /// Capability bits (`cap::*`).
    pub caps: u8,
    /// Distribution groups as bits of interned group ids.
    pub groups: u64,
    /// Latitude in radians.
    pub lat_rad: f64,
    /// Longitude in radians.
    pub lon_rad: f64,
    /// Cosine of the latitude, for the haversine.
    pub cos_lat: f64,
    /// Order lines the location can pick per day.
    pub pick_per_day: i32,
    /// Packages the location can ship per day.
    pub ship_per_day: i32,
    /// Delivery or installation slots per day.
    pub slots_per_day: i32,
    /// Opening (open, close) minutes after local midnight, Monday first; `None` = closed.
    pub hours: [Option<(u16, u16)>; 7],
    /// Time zone of the opening hours (UTC when the zone is unknown).
    pub tz: Tz,
    /// Transit days to regions not listed in `transit`.
    pub default_transit_days: i32,
    /// Transit days to listed regions: (country, postal prefix, days).
    pub transit: Vec<([u8; 2], Box<str>, i32)>,
}

impl Site {
    fn placeholder() -> Site {
        Site {
            kind: LocationKind::Store,
            active: false,
            caps: 0,
            groups: 0,
            lat_rad: 0.0,
            lon_rad: 0.0,
            cos_lat: 1.0,
            pick_per_day: 0,
            ship_per_day: 0,
            slots_per_day: 0,
            hours: [None; 7],
            tz: Tz::UTC,
            default_transit_days: 0,
            transit: Vec::new(),
        }
    }

    /// Great-circle distance to (`lat_rad`, `lon_rad`, with `cos_lat`) in km (haversine).
    pub fn distance_km(&self, lat_rad: f64, lon_rad: f64, cos_lat: f64) -> f64 {
        let s1 = ((lat_rad - self.lat_rad) * 0.5).sin();
        let s2 = ((lon_rad - self.lon_rad) * 0.5).sin();
        let a = (s1 * s1 + self.cos_lat * cos_lat * s2 * s2).min(1.0);
        2.0 * EARTH_RADIUS_KM * a.sqrt().asin()
    }

    /// Transit days to a destination in `country` with `postal` code: the longest listed
    /// prefix of that country wins, else the default.
    pub fn transit_days(&self, country: [u8; 2], postal: &[u8]) -> i32 {
        let mut best: Option<(usize, i32)> = None;
        for (c, prefix, days) in &self.transit {
            if *c == country
                && postal.starts_with(prefix.as_bytes())
                && best.is_none_or(|(len, _)| prefix.len() > len)
            {
                best = Some((prefix.len(), *days));
            }
        }
        best.map_or(self.default_transit_days, |(_, d)| d)
    }

    /// The first instant at or after `t` (ms) that falls within opening hours, looking at
    /// most 8 days ahead; `None` if the location never opens.
    pub fn next_open(&self, t: i64) -> Option<i64> {
        if self.hours.iter().all(Option::is_none) {
            return None;
        }
        let offset = self.tz.offset_ms(t);
        let local = t + offset;
        let local_day = local.div_euclid(DAY_MS);
        for k in 0..8 {
            let day = local_day + k;
            // 1970-01-01 was a Thursday: ISO weekday index 3 with Monday = 0.
            let weekday = (day + 3).rem_euclid(7) as usize;
            let Some((open, close)) = self.hours[weekday] else {
                continue;
            };
            let open_ms = day * DAY_MS + i64::from(open) * 60_000;
            let close_ms = day * DAY_MS + i64::from(close) * 60_000;
            let at = local.max(open_ms);
            if at < close_ms {
                return Some(at - offset);
            }
        }
        None
    }
}

/// A sourcing rule compiled for the planner.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// The rule id, `None` for a default rule.
    pub rule_id: Option<Box<str>>,
    /// Bit of the distribution group candidates must belong to; 0 = any.
    pub group_mask: u64,
    /// On hand now counts.
    pub on_hand: bool,
    /// In-transit or on-order supply counts (the line may be backordered against it).
    pub future: bool,
    /// Days ahead future supply may be promised.
    pub horizon_days: i32,
    /// The objective.
    pub strategy: SourcingStrategy,
    /// Preferred locations, best first.
    pub priority: Vec<LocId>,
    /// Never-used locations, sorted.
    pub excluded: Vec<LocId>,
    /// Most shipments per order.
    pub max_splits: u32,
    /// Cost weights.
    pub weights: Weights,
}

impl Rule {
    /// Whether the rule excludes `loc`.
    pub fn excludes(&self, loc: LocId) -> bool {
        self.excluded.binary_search(&loc).is_ok()
    }

    /// Rank of `loc` in the priority list (the list's length when unlisted).
    pub fn priority_rank(&self, loc: LocId) -> usize {
        self.priority
            .iter()
            .position(|&l| l == loc)
            .unwrap_or(self.priority.len())
    }
}

const CHANNELS: [Channel; 5] = [
    Channel::Web,
    Channel::App,
    Channel::CallCenter,
    Channel::Store,
    Channel::Marketplace,
];
const FULFILMENTS: [FulfilmentType; 5] = [
    FulfilmentType::ShipToHome,
    FulfilmentType::PickupInStore,
    FulfilmentType::SameDayDelivery,
    FulfilmentType::ScheduledDelivery,
    FulfilmentType::Installation,
];

fn channel_index(c: Channel) -> usize {
    CHANNELS.iter().position(|&x| x == c).expect("listed")
}

fn fulfilment_index(f: FulfilmentType) -> usize {
    FULFILMENTS.iter().position(|&x| x == f).expect("listed")
}

/// The locations, skus and rules sourcing plans against. Built from reference records
/// (sequentially, before a batch); read-only while a batch plans.
#[derive(Debug)]
pub struct Network {
    config: SourcingConfig,
    locations: Interner,
    skus: Interner,
    groups: Interner,
    sites: Vec<Site>,
    /// Latest record per rule id (event time, event id, record).
    rule_records: BTreeMap<String, (i64, String, SourcingRule)>,
    /// Compiled rules; index 0..5 are the defaults per fulfilment.
    rules: Vec<Rule>,
    /// (channel, fulfilment) → index into `rules`.
    table: [[u16; 5]; 5],
}

impl Network {
    /// An empty network with `config`'s defaults.
    pub fn new(config: SourcingConfig) -> Network {
        let mut n = Network {
            config,
            locations: Interner::default(),
            skus: Interner::default(),
            groups: Interner::default(),
            sites: Vec::new(),
            rule_records: BTreeMap::new(),
            rules: Vec::new(),
            table: [[0; 5]; 5],
        };
        n.recompile_rules()
            .expect("default groups fit in the group mask");
        n
    }

    /// The configuration.
    pub fn config(&self) -> &SourcingConfig {
        &self.config
    }

    /// The id of location `name`; a location not yet described is inactive.
    pub fn location_id(&mut self, name: &str) -> LocId {
        let id = self.locations.intern(name);
        if id as usize == self.sites.len() {
            self.sites.push(Site::placeholder());
        }
        id
    }

    /// The id of location `name` if it is known.
    pub fn find_location(&self, name: &str) -> Option<LocId> {
        self.locations.get(name)
    }

    /// The name of location `id`.
    pub fn location_name(&self, id: LocId) -> &str {
        self.locations.name(id)
    }

    /// The id of sku `name`, assigning one if new.
    pub fn sku_id(&mut self, name: &str) -> SkuId {
        self.skus.intern(name)
    }

    /// The id of sku `name` if it is known.
    pub fn find_sku(&self, name: &str) -> Option<SkuId> {
        self.skus.get(name)
    }

    /// The name of sku `id`.
    pub fn sku_name(&self, id: SkuId) -> &str {
        self.skus.name(id)
    }

    /// How many skus are interned.
    pub fn skus(&self) -> usize {
        self.skus.len()
    }

    /// How many locations are interned.
    pub fn locations(&self) -> usize {
        self.sites.len()
    }

    /// Location `id`.
    pub fn site(&self, id: LocId) -> &Site {
        &self.sites[id as usize]
    }

    /// Sets the delivery-slot capacity of a location (the locations topic has no field).
    pub fn set_slots_per_day(&mut self, id: LocId, slots: i32) {
        self.sites[id as usize].slots_per_day = slots;
    }

    fn group_bit(&mut self, group: &str) -> Result<u64, SourcingError> {
        if group.is_empty() {
            return Ok(0);
        }
        let id = self.groups.intern(group);
        if id >= 64 {
            return Err(SourcingError::TooManyGroups {
                group: group.to_string(),
            });
        }
        Ok(1 << id)
    }

    /// Applies a location record (the latest wins; the caller orders them).
    pub fn apply_location(&mut self, location: &Location) -> Result<LocId, SourcingError> {
        let id = self.location_id(&location.location_id);
        let mut groups = 0;
        for g in &location.distribution_groups {
            groups |= self.group_bit(g)?;
        }
        let mut caps = 0;
        for c in &location.capabilities {
            caps |= match c {
                Capability::Ship => cap::SHIP,
                Capability::Pickup => cap::PICKUP,
                Capability::ShipFromStore => cap::SHIP_FROM_STORE,
                Capability::SameDay => cap::SAME_DAY,
                Capability::Installation => cap::INSTALLATION,
            };
        }
        let mut hours = [None; 7];
        for h in &location.opening_hours {
            if (1..=7).contains(&h.day_of_week)
                && 0 <= h.open_minute
                && h.open_minute < h.close_minute
                && h.close_minute <= 24 * 60
            {
                hours[(h.day_of_week - 1) as usize] =
                    Some((h.open_minute as u16, h.close_minute as u16));
            }
        }
        let transit = location
            .transit_times
            .iter()
            .filter_map(|t| {
                let b = t.region.as_bytes();
                if b.len() < 2 {
                    return None;
                }
                let prefix = t.region.get(2..).unwrap_or("").trim_start_matches('-');
                Some(([b[0], b[1]], prefix.into(), t.days.max(0)))
            })
            .collect();
        let lat_rad = location.latitude.to_radians();
        let slots = self.config.slots_per_day as i32;
        self.sites[id as usize] = Site {
            kind: location.kind,
            active: location.active,
            caps,
            groups,
            lat_rad,
            lon_rad: location.longitude.to_radians(),
            cos_lat: lat_rad.cos(),
            pick_per_day: location.pick_capacity_per_day.max(0),
            ship_per_day: location.ship_capacity_per_day.max(0),
            slots_per_day: slots,
            hours,
            tz: allot_loadtest::cities::time_zone(&location.timezone).unwrap_or(Tz::UTC),
            default_transit_days: location.default_transit_days.max(0),
            transit,
        };
        Ok(id)
    }

    /// Applies a sourcing-rule record: the latest event per rule id wins (ties: the greater
    /// event id); an inactive record deletes the rule.
    pub fn apply_rule(&mut self, rule: &SourcingRule) -> Result<(), SourcingError> {
        if let Some((time, id, _)) = self.rule_records.get(&rule.rule_id)
            && (*time, id.as_str()) >= (rule.event_time, rule.event_id.as_str())
        {
            return Ok(());
        }
        self.rule_records.insert(
            rule.rule_id.clone(),
            (rule.event_time, rule.event_id.clone(), rule.clone()),
        );
        self.recompile_rules()
    }

    /// The rule that applies to `channel` and `fulfilment`: the most specific active rule
    /// (channel and fulfilment > channel > fulfilment > neither), then the highest
    /// priority, then the greatest rule id; the default for the fulfilment when none.
    pub fn rule(&self, channel: Channel, fulfilment: FulfilmentType) -> &Rule {
        &self.rules[self.table[channel_index(channel)][fulfilment_index(fulfilment)] as usize]
    }

    fn recompile_rules(&mut self) -> Result<(), SourcingError> {
        let mut rules = Vec::new();
        for f in FULFILMENTS {
            let group = self.config.default_group(f).to_string();
            rules.push(Rule {
                rule_id: None,
                group_mask: self.group_bit(&group)?,
                on_hand: true,
                future: f != FulfilmentType::PickupInStore && f != FulfilmentType::SameDayDelivery,
                horizon_days: self.config.horizon_days as i32,
                strategy: SourcingStrategy::MinimizeCost,
                priority: Vec::new(),
                excluded: Vec::new(),
                max_splits: self.config.max_splits,
                weights: self.config.weights,
            });
        }
        let records: Vec<SourcingRule> = self
            .rule_records
            .values()
            .filter(|(_, _, r)| r.active)
            .map(|(_, _, r)| r.clone())
            .collect();
        let mut compiled = Vec::with_capacity(records.len());
        for r in &records {
            let mut excluded: Vec<LocId> = r
                .excluded_location_ids
                .iter()
                .map(|l| self.location_id(l))
                .collect();
            excluded.sort_unstable();
            let priority = r
                .priority_location_ids
                .iter()
                .map(|l| self.location_id(l))
                .collect();
            compiled.push(Rule {
                rule_id: Some(r.rule_id.as_str().into()),
                group_mask: self.group_bit(&r.distribution_group)?,
                on_hand: r.supply_types.contains(&SupplyType::OnHand),
                future: r.supply_types.contains(&SupplyType::InTransit)
                    || r.supply_types.contains(&SupplyType::OnOrder),
                horizon_days: r.horizon_days.max(0),
                strategy: r.strategy,
                priority,
                excluded,
                max_splits: r.max_splits.max(1) as u32,
                weights: Weights::from(&r.cost),
            });
        }
        let mut table = [[0u16; 5]; 5];
        for (ci, c) in CHANNELS.iter().enumerate() {
            for (fi, f) in FULFILMENTS.iter().enumerate() {
                let mut best: Option<((u8, i32, &str), usize)> = None;
                for (k, r) in records.iter().enumerate() {
                    if r.channel.is_some_and(|x| x != *c) || r.fulfilment.is_some_and(|x| x != *f) {
                        continue;
                    }
                    let specificity =
                        2 * u8::from(r.channel.is_some()) + u8::from(r.fulfilment.is_some());
                    let key = (specificity, r.priority, r.rule_id.as_str());
                    if best.as_ref().is_none_or(|(b, _)| key > *b) {
                        best = Some((key, k));
                    }
                }
                table[ci][fi] = match best {
                    Some((_, k)) => (FULFILMENTS.len() + k) as u16,
                    None => fi as u16,
                };
            }
        }
        rules.extend(compiled);
        self.rules = rules;
        self.table = table;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use allot_schemas::{CostWeights, OpeningHours};

    pub(crate) fn location(id: &str, kind: LocationKind, lat: f64, lon: f64) -> Location {
        Location {
            event_id: format!("loc-{id}"),
            event_time: 0,
            source: "test".into(),
            location_id: id.into(),
            name: id.into(),
            kind,
            active: true,
            city: "Lyon".into(),
            country: "FR".into(),
            latitude: lat,
            longitude: lon,
            timezone: "Europe/Paris".into(),
            capabilities: vec![Capability::Ship],
            opening_hours: vec![],
            pick_capacity_per_day: 100,
            ship_capacity_per_day: 100,
            distribution_groups: vec!["ecom".into()],
            transit_times: vec![],
            default_transit_days: 2,
        }
    }

    fn rule(
        id: &str,
        channel: Option<Channel>,
        f: Option<FulfilmentType>,
        prio: i32,
    ) -> SourcingRule {
        SourcingRule {
            event_id: format!("{id}-1"),
            event_time: 1,
            source: "test".into(),
            rule_id: id.into(),
            channel,
            fulfilment: f,
            priority: prio,
            distribution_group: "ecom".into(),
            supply_types: vec![SupplyType::OnHand],
            horizon_days: 3,
            strategy: SourcingStrategy::MinimizeCost,
            priority_location_ids: vec![],
            excluded_location_ids: vec![],
            max_splits: 2,
            cost: CostWeights {
                shipping_cents_per_km: 1.0,
                shipping_cents_per_package: 100,
                split_penalty_cents: 10,
                store_labour_cents_per_unit: 1,
                lateness_cents_per_day: 1,
                balancing_cents_per_unit: 0,
            },
            active: true,
        }
    }

    /// The rule id chosen for (channel, fulfilment) after applying `rules`.
    fn check(rules: &[SourcingRule], channel: Channel, f: FulfilmentType, expected: Option<&str>) {
        let mut n = Network::new(SourcingConfig::default());
        for r in rules {
            n.apply_rule(r).unwrap();
        }
        assert_eq!(
            n.rule(channel, f).rule_id.as_deref(),
            expected,
            "{channel:?} {f:?}"
        );
    }

    #[test]
    fn the_most_specific_rule_wins_then_priority() {
        use Channel::*;
        use FulfilmentType::*;
        let any = rule("any", None, None, 9);
        let web = rule("web", Some(Web), None, 1);
        let ship = rule("ship", None, Some(ShipToHome), 5);
        let web_ship = rule("web-ship", Some(Web), Some(ShipToHome), 0);
        let all = [any.clone(), web.clone(), ship.clone(), web_ship.clone()];
        check(&[], Web, ShipToHome, None);
        check(&all, Web, ShipToHome, Some("web-ship"));
        check(&all, Web, PickupInStore, Some("web"));
        check(&all, App, ShipToHome, Some("ship"));
        check(&all, App, PickupInStore, Some("any"));
        let web_hi = rule("web-hi", Some(Web), None, 7);
        check(&[web.clone(), web_hi], Web, PickupInStore, Some("web-hi"));
        let mut deleted = web_ship.clone();
        deleted.event_id = "web-ship-2".into();
        deleted.event_time = 2;
        deleted.active = false;
        check(&[web_ship.clone(), deleted.clone()], Web, ShipToHome, None);
        // An older record does not resurrect a deleted rule.
        check(&[deleted, web_ship], Web, ShipToHome, None);
    }

    #[test]
    fn haversine_distance_paris_lyon() {
        let mut n = Network::new(SourcingConfig::default());
        let paris = n
            .apply_location(&location("p", LocationKind::Dc, 48.8566, 2.3522))
            .unwrap();
        let (lat, lon) = (45.764f64.to_radians(), 4.8357f64.to_radians());
        let d = n.site(paris).distance_km(lat, lon, lat.cos());
        assert!((d - 392.0).abs() < 3.0, "{d}");
    }

    #[test]
    fn transit_days_use_the_longest_prefix() {
        let mut n = Network::new(SourcingConfig::default());
        let mut l = location("p", LocationKind::Dc, 48.8, 2.3);
        l.transit_times = vec![
            allot_schemas::TransitTime {
                region: "FR".into(),
                days: 2,
            },
            allot_schemas::TransitTime {
                region: "FR-75".into(),
                days: 1,
            },
        ];
        l.default_transit_days = 4;
        let id = n.apply_location(&l).unwrap();
        let s = n.site(id);
        assert_eq!(s.transit_days(*b"FR", b"75011"), 1);
        assert_eq!(s.transit_days(*b"FR", b"69001"), 2);
        assert_eq!(s.transit_days(*b"DE", b"10115"), 4);
    }

    #[test]
    fn next_open_respects_local_hours() {
        let mut n = Network::new(SourcingConfig::default());
        let mut l = location("s", LocationKind::Store, 48.8, 2.3);
        // Monday to Saturday 9:00-20:00 Paris time; closed on Sunday.
        l.opening_hours = (1..=6)
            .map(|d| OpeningHours {
                day_of_week: d,
                open_minute: 540,
                close_minute: 1200,
            })
            .collect();
        let id = n.apply_location(&l).unwrap();
        let s = n.site(id);
        // 2026-01-05 is a Monday; Paris is UTC+1 in January.
        let monday = 20_458 * DAY_MS;
        let h = 3_600_000;
        assert_eq!(s.next_open(monday + 7 * h), Some(monday + 8 * h)); // 08:00 UTC = 09:00
        assert_eq!(s.next_open(monday + 10 * h), Some(monday + 10 * h));
        // Saturday 19:30 UTC is 20:30 local, closed; Sunday closed; Monday 08:00 UTC.
        let saturday = monday + 5 * DAY_MS;
        assert_eq!(
            s.next_open(saturday + 19 * h + h / 2),
            Some(saturday + 2 * DAY_MS + 8 * h)
        );
        let dc = n
            .apply_location(&location("d", LocationKind::Dc, 0.0, 0.0))
            .unwrap();
        assert_eq!(n.site(dc).next_open(monday), None);
    }
}
