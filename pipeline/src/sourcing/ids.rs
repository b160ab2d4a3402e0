//! Dense ids for skus, locations and distribution groups, and the day arithmetic every part
//! of sourcing shares (days are UTC days since the Unix epoch).

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

/// The interner the availability engine uses too (one implementation of string ids).
pub use crate::availability::Interner;

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
}
