//! Reference data the ATP formula reads: which locations each channel may promise from
//! (distribution groups), which supply counts per channel, the time-phased horizon, and the
//! safety-stock policies.

use std::collections::{BTreeMap, HashMap, HashSet};

use allot_schemas::{Channel, Location, SafetyStockPolicy, SupplyType};
use foldhash::fast::FixedState;
use serde::{Deserialize, Serialize};

use super::intern::Id;
use super::supply::Stamp;

/// How available-to-promise is computed and published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AvailabilityConfig {
    /// How far (ms of event time) an inventory event may lag behind the newest one seen and
    /// still be applied exactly. Inside this window duplicates are recognised by event id and
    /// a late cycle count re-applies the deltas after it. An event older than this is
    /// dead-lettered (VALIDATION, "too late"), never applied approximately. Memory grows with
    /// the events inside the window (about 40 bytes each).
    pub max_lateness_ms: i64,
    /// The channels availability is published for, and how each counts supply.
    pub channels: Vec<ChannelPolicy>,
    /// The `source` written on availability records.
    pub source: String,
}

/// How one channel counts availability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelPolicy {
    /// The channel.
    pub channel: Channel,
    /// Locations in any of these distribution groups (from the locations topic) are eligible.
    pub distribution_groups: Vec<String>,
    /// Which supply counts: ON_HAND, IN_TRANSIT (arriving by the bucket date), ON_ORDER (expected
    /// by the bucket date).
    pub supply_types: Vec<SupplyType>,
    /// The time-phased buckets, in days after today (0 = by the end of today), ascending.
    pub bucket_days: Vec<u32>,
}

impl ChannelPolicy {
    /// Whether on hand counts.
    pub fn counts_on_hand(&self) -> bool {
        self.supply_types.contains(&SupplyType::OnHand)
    }

    /// Whether in-transit supply counts.
    pub fn counts_in_transit(&self) -> bool {
        self.supply_types.contains(&SupplyType::InTransit)
    }

    /// Whether on-order supply counts.
    pub fn counts_on_order(&self) -> bool {
        self.supply_types.contains(&SupplyType::OnOrder)
    }
}

impl Default for AvailabilityConfig {
    fn default() -> Self {
        use SupplyType::*;
        let ecom = |channel, supply: &[SupplyType], days: &[u32]| ChannelPolicy {
            channel,
            distribution_groups: vec!["ecom".into()],
            supply_types: supply.to_vec(),
            bucket_days: days.to_vec(),
        };
        AvailabilityConfig {
            max_lateness_ms: 24 * 3_600_000,
            channels: vec![
                ecom(
                    Channel::Web,
                    &[OnHand, InTransit, OnOrder],
                    &[0, 1, 3, 7, 14],
                ),
                ecom(
                    Channel::App,
                    &[OnHand, InTransit, OnOrder],
                    &[0, 1, 3, 7, 14],
                ),
                ecom(
                    Channel::CallCenter,
                    &[OnHand, InTransit, OnOrder],
                    &[0, 1, 3, 7, 14],
                ),
                ecom(Channel::Marketplace, &[OnHand, InTransit], &[0, 1, 3]),
                ChannelPolicy {
                    channel: Channel::Store,
                    distribution_groups: vec!["stores".into()],
                    supply_types: vec![OnHand],
                    bucket_days: vec![0],
                },
            ],
            source: "allot".into(),
        }
    }
}

impl AvailabilityConfig {
    /// Checks cross-field rules; the message says what to change.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_lateness_ms <= 0 {
            return Err("availability.max_lateness_ms must be positive".into());
        }
        if self.channels.len() > 8 {
            return Err("availability.channels: at most 8 channels".into());
        }
        for (i, c) in self.channels.iter().enumerate() {
            if self.channels[..i].iter().any(|o| o.channel == c.channel) {
                return Err(format!(
                    "availability.channels: {:?} is listed twice; keep one entry per channel",
                    c.channel
                ));
            }
            if c.bucket_days.is_empty() || !c.bucket_days.is_sorted() {
                return Err(format!(
                    "availability.channels {:?}: bucket_days must be non-empty and ascending",
                    c.channel
                ));
            }
            if c.supply_types.is_empty() {
                return Err(format!(
                    "availability.channels {:?}: supply_types is empty; list at least ON_HAND",
                    c.channel
                ));
            }
        }
        Ok(())
    }
}

/// What the engine knows of one location.
#[derive(Debug, Clone, PartialEq)]
pub struct LocationRef {
    /// The stamp of the location event this came from (latest wins).
    pub stamp: Stamp,
    /// Bit i set: eligible for `config.channels[i]`.
    pub channel_mask: u8,
}

impl LocationRef {
    /// Builds the eligibility of `location` under `config`.
    pub fn new(stamp: Stamp, location: &Location, config: &AvailabilityConfig) -> LocationRef {
        let mut channel_mask = 0u8;
        if location.active {
            for (i, c) in config.channels.iter().enumerate() {
                if c.distribution_groups
                    .iter()
                    .any(|g| location.distribution_groups.contains(g))
                {
                    channel_mask |= 1 << i;
                }
            }
        }
        LocationRef {
            stamp,
            channel_mask,
        }
    }
}

/// A safety-stock policy's scope: sku, location, channel (index), each optional.
pub type Scope = (Option<Id>, Option<Id>, Option<u8>);

/// The safety-stock policies, indexed for the lookup of the most specific one.
#[derive(Debug, Default)]
pub struct SafetyStock {
    /// Channels published (policies name channels by index).
    channels: u8,
    /// Policy id → (stamp, scope, units) of its latest event; inactive policies are removed.
    policies: HashMap<String, (Stamp, Scope, i32), FixedState>,
    /// Scope → units by policy id; the greatest policy id wins within one scope.
    index: HashMap<Scope, BTreeMap<String, i32>, FixedState>,
    /// Bit p set: some policy has scope pattern p (bit 0 sku, 1 location, 2 channel).
    patterns: u8,
    /// Skus named by some policy: only these need the full lookup.
    skus: HashSet<Id, FixedState>,
    /// For every other sku, the resolved units per channel at locations no policy names.
    /// Rebuilt when a policy changes (rare), as is `by_location`.
    anywhere: Vec<i32>,
    /// For every other sku, the resolved units per channel at each location some policy
    /// names (indexed by location id; `None` for the others).
    by_location: Vec<Option<Box<[i32]>>>,
}

/// Scope patterns from most to least specific: sku beats location beats channel.
const PATTERNS: [u8; 8] = [0b111, 0b011, 0b101, 0b001, 0b110, 0b010, 0b100, 0b000];

impl SafetyStock {
    /// No policies yet, for `channels` published channels.
    pub fn new(channels: usize) -> SafetyStock {
        SafetyStock {
            channels: channels as u8,
            ..Default::default()
        }
    }

    /// Applies one policy event; returns the scope whose skus' availability may change, or
    /// `None` if the event was stale.
    pub fn apply(
        &mut self,
        stamp: Stamp,
        policy: &SafetyStockPolicy,
        sku: Option<Id>,
        loc: Option<Id>,
        channel: Option<u8>,
    ) -> Option<Option<Id>> {
        if let Some((s, _, _)) = self.policies.get(&policy.policy_id)
            && *s >= stamp
        {
            return None;
        }
        if let Some((_, old_scope, _)) = self.policies.remove(&policy.policy_id)
            && let Some(m) = self.index.get_mut(&old_scope)
        {
            m.remove(&policy.policy_id);
        }
        let scope = (sku, loc, channel);
        // Inactive policies keep their stamp (so an older event cannot revive them) but no
        // units.
        self.policies.insert(
            policy.policy_id.clone(),
            (stamp, scope, policy.safety_stock_units),
        );
        if policy.active {
            self.index
                .entry(scope)
                .or_default()
                .insert(policy.policy_id.clone(), policy.safety_stock_units.max(0));
        }
        self.index.retain(|_, m| !m.is_empty());
        self.patterns = self.index.keys().fold(0, |acc, s| acc | (1 << pattern(s)));
        self.skus = self.index.keys().filter_map(|s| s.0).collect();
        self.resolve();
        Some(sku)
    }

    /// A policy as the changelog keeps it: its latest event's stamp, scope and units, and
    /// whether it is active.
    pub fn policy(&self, id: &str) -> Option<(Stamp, Scope, i32, bool)> {
        let (stamp, scope, units) = self.policies.get(id)?;
        let active = self.index.get(scope).is_some_and(|m| m.contains_key(id));
        Some((*stamp, *scope, *units, active))
    }

    /// The ids of every policy seen (inactive ones included).
    pub fn policy_ids(&self) -> impl Iterator<Item = &str> + '_ {
        self.policies.keys().map(String::as_str)
    }

    /// Puts back a policy read from the changelog (replacing any policy of that id);
    /// [`rebuild`](Self::rebuild) must follow before lookups.
    pub fn restore_policy(
        &mut self,
        id: &str,
        stamp: Stamp,
        scope: Scope,
        units: i32,
        active: bool,
    ) {
        self.remove_policy(id);
        self.policies.insert(id.to_owned(), (stamp, scope, units));
        if active {
            self.index
                .entry(scope)
                .or_default()
                .insert(id.to_owned(), units.max(0));
        }
    }

    /// Forgets a policy (a changelog tombstone); [`rebuild`](Self::rebuild) must follow.
    pub fn remove_policy(&mut self, id: &str) {
        if let Some((_, scope, _)) = self.policies.remove(id)
            && let Some(m) = self.index.get_mut(&scope)
        {
            m.remove(id);
        }
    }

    /// Rebuilds the lookup tables after policies were restored.
    pub fn rebuild(&mut self) {
        self.index.retain(|_, m| !m.is_empty());
        self.patterns = self.index.keys().fold(0, |acc, s| acc | (1 << pattern(s)));
        self.skus = self.index.keys().filter_map(|s| s.0).collect();
        self.resolve();
    }

    fn resolve(&mut self) {
        let mut locations: Vec<Option<Id>> = vec![None];
        locations.extend(
            self.index
                .keys()
                .filter(|s| s.0.is_none())
                .filter_map(|s| s.1)
                .map(Some),
        );
        locations.sort_unstable();
        locations.dedup();
        let this = &*self;
        let units = |loc| -> Box<[i32]> {
            (0..this.channels)
                .map(|c| this.lookup(None, loc, c))
                .collect()
        };
        let anywhere = units(None).into_vec();
        let mut by_location: Vec<Option<Box<[i32]>>> = Vec::new();
        for loc in locations.into_iter().flatten() {
            let i = loc as usize;
            if by_location.len() <= i {
                by_location.resize(i + 1, None);
            }
            by_location[i] = Some(units(Some(loc)));
        }
        self.anywhere = anywhere;
        self.by_location = by_location;
    }

    /// Whether some policy names `sku` (then [`units`](Self::units) needs `sku_scoped`).
    pub fn has_sku_policy(&self, sku: Id) -> bool {
        !self.skus.is_empty() && self.skus.contains(&sku)
    }

    /// The units held back for `sku` at `loc` in channel `channel`; `sku_scoped` is
    /// [`has_sku_policy`](Self::has_sku_policy) of the sku, asked once per sku by the caller.
    pub fn units(&self, sku_scoped: bool, sku: Id, loc: Id, channel: u8) -> i32 {
        if self.patterns == 0 {
            return 0;
        }
        if sku_scoped {
            return self.lookup(Some(sku), Some(loc), channel);
        }
        let units = match self.by_location.get(loc as usize) {
            Some(Some(units)) => &units[..],
            _ => &self.anywhere[..],
        };
        units.get(usize::from(channel)).copied().unwrap_or(0)
    }

    /// The most specific policy for the scope, trying the patterns in order.
    fn lookup(&self, sku: Option<Id>, loc: Option<Id>, channel: u8) -> i32 {
        for p in PATTERNS {
            if self.patterns & (1 << p) == 0 {
                continue;
            }
            let scope = (
                if p & 1 != 0 {
                    match sku {
                        Some(s) => Some(s),
                        None => continue,
                    }
                } else {
                    None
                },
                if p & 2 != 0 {
                    match loc {
                        Some(l) => Some(l),
                        None => continue,
                    }
                } else {
                    None
                },
                (p & 4 != 0).then_some(channel),
            );
            if let Some(m) = self.index.get(&scope)
                && let Some((_, units)) = m.iter().next_back()
            {
                return *units;
            }
        }
        0
    }
}

fn pattern(scope: &Scope) -> u8 {
    u8::from(scope.0.is_some())
        | (u8::from(scope.1.is_some()) << 1)
        | (u8::from(scope.2.is_some()) << 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(id: &str, units: i32, active: bool) -> SafetyStockPolicy {
        SafetyStockPolicy {
            event_id: id.into(),
            event_time: 0,
            source: "t".into(),
            policy_id: id.into(),
            sku: None,
            location_id: None,
            channel: None,
            safety_stock_units: units,
            active,
        }
    }

    #[test]
    fn the_most_specific_policy_wins() {
        let mut ss = SafetyStock::new(2);
        let units = |ss: &SafetyStock, sku, loc, c| ss.units(ss.has_sku_policy(sku), sku, loc, c);
        assert_eq!(units(&ss, 1, 2, 0), 0);
        ss.apply((1, 0), &policy("all", 2, true), None, None, None);
        ss.apply((1, 0), &policy("loc", 5, true), None, Some(2), None);
        ss.apply((1, 0), &policy("sku-ch", 9, true), Some(1), None, Some(0));
        assert_eq!(units(&ss, 1, 2, 0), 9, "sku beats location");
        assert_eq!(units(&ss, 1, 2, 1), 5, "other channel: location policy");
        assert_eq!(units(&ss, 7, 3, 1), 2, "global default");
        assert_eq!(
            units(&ss, 7, 2, 1),
            5,
            "location policy for a sku without its own"
        );
        // Deactivating removes it; an older event cannot revive it.
        ss.apply((2, 0), &policy("sku-ch", 9, false), Some(1), None, Some(0));
        ss.apply((1, 5), &policy("sku-ch", 9, true), Some(1), None, Some(0));
        assert_eq!(units(&ss, 1, 2, 0), 5);
    }

    #[test]
    fn config_rules_are_checked() {
        assert!(AvailabilityConfig::default().validate().is_ok());
        let mut c = AvailabilityConfig::default();
        c.channels[0].bucket_days = vec![3, 1];
        assert!(c.validate().unwrap_err().contains("ascending"));
        let mut c = AvailabilityConfig::default();
        let dup = c.channels[0].clone();
        c.channels.push(dup);
        assert!(c.validate().unwrap_err().contains("twice"));
    }
}
