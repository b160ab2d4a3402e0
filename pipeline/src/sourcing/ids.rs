//! Dense ids for skus, locations and distribution groups, and the day arithmetic every part
//! of sourcing shares (days are UTC days since the Unix epoch).

use std::collections::HashMap;

use foldhash::fast::FixedState;

/// A sku interned by [`Network`](super::Network).
pub type SkuId = u32;
/// A location interned by [`Network`](super::Network).
pub type LocId = u32;
/// A UTC day: days since 1970-01-01.
pub type Day = i32;

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// The UTC day of instant `ms`.
pub fn day_of(ms: i64) -> Day {
    ms.div_euclid(DAY_MS) as Day
}

/// The last millisecond of `day`: promises are "by the end of that day", as availability
/// buckets are.
pub fn end_of_day(day: Day) -> i64 {
    i64::from(day) * DAY_MS + DAY_MS - 1
}

/// Assigns dense ids to strings, first come first served; ids are never reused. (The
/// availability engine keeps its own; the integrator maps between the two.)
#[derive(Debug, Default, Clone)]
pub struct Interner {
    ids: HashMap<Box<str>, u32, FixedState>,
    names: Vec<Box<str>>,
}

impl Interner {
    /// The id of `name`, assigning the next one if it is new.
    pub fn intern(&mut self, name: &str) -> u32 {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = u32::try_from(self.names.len()).expect("fewer than 2^32 distinct ids");
        self.names.push(name.into());
        self.ids.insert(name.into(), id);
        id
    }

    /// The id of `name` if it was interned.
    pub fn get(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }

    /// The string of `id`.
    pub fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }

    /// How many distinct strings are interned.
    pub fn len(&self) -> usize {
        self.names.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_and_floor_negative_times() {
        assert_eq!(day_of(0), 0);
        assert_eq!(day_of(DAY_MS - 1), 0);
        assert_eq!(day_of(DAY_MS), 1);
        assert_eq!(day_of(-1), -1);
        assert_eq!(end_of_day(1), 2 * DAY_MS - 1);
    }

    #[test]
    fn interner_ids_are_dense_and_reversible() {
        let mut i = Interner::default();
        assert_eq!(i.intern("a"), 0);
        assert_eq!(i.intern("b"), 1);
        assert_eq!(i.intern("a"), 0);
        assert_eq!(i.get("c"), None);
        assert_eq!(i.name(1), "b");
        assert_eq!(i.len(), 2);
    }
}
