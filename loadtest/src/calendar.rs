//! Simulated time: epoch milliseconds, civil dates, ISO weekdays and local time in the time
//! zones of [`crate::cities`], with the European and North American daylight-saving rules.
//!
//! The generator needs only these few calendar facts, so they are computed here (Howard
//! Hinnant's civil-date algorithms) rather than pulled in from a time-zone database.

use allot_schemas::EpochMillis;

/// Milliseconds in a minute.
pub const MINUTE_MS: i64 = 60_000;
/// Milliseconds in an hour.
pub const HOUR_MS: i64 = 3_600_000;
/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// Days since 1970-01-01 of a civil (proleptic Gregorian) date.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (i64::from(month) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date `(year, month, day)` of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// ISO weekday (1 = Monday ... 7 = Sunday) of a day count since 1970-01-01 (a Thursday).
pub fn iso_weekday(days: i64) -> u32 {
    (days + 3).rem_euclid(7) as u32 + 1
}

/// Parses `YYYY-MM-DD` into the epoch milliseconds of that date's UTC midnight.
pub fn parse_date(text: &str) -> Option<EpochMillis> {
    let mut parts = text.trim().splitn(3, '-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: u32 = parts.next()?.parse().ok()?;
    let day: u32 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day) * DAY_MS)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    let next = if month == 12 {
        days_from_civil(year + 1, 1, 1)
    } else {
        days_from_civil(year, month + 1, 1)
    };
    (next - days_from_civil(year, month, 1)) as u32
}

/// Formats epoch milliseconds as `YYYY-MM-DD HH:MM` UTC (for progress output).
pub fn format_utc(t: EpochMillis) -> String {
    let days = t.div_euclid(DAY_MS);
    let ms = t.rem_euclid(DAY_MS);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        ms / HOUR_MS,
        (ms % HOUR_MS) / MINUTE_MS
    )
}

/// A daylight-saving rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DstRule {
    /// No daylight saving.
    None,
    /// EU: +1 h from the last Sunday of March to the last Sunday of October, 01:00 UTC.
    Eu,
    /// US and Canada: +1 h from the second Sunday of March to the first Sunday of November,
    /// 02:00 local time.
    NorthAmerica,
}

/// A time zone as the generator models it: a standard offset and a daylight-saving rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tz {
    /// Standard (winter) offset from UTC in minutes, east positive.
    pub std_offset_min: i32,
    /// When an hour is added.
    pub dst: DstRule,
}

impl Tz {
    /// UTC itself.
    pub const UTC: Tz = Tz {
        std_offset_min: 0,
        dst: DstRule::None,
    };

    /// The offset from UTC in milliseconds at instant `t`.
    pub fn offset_ms(&self, t: EpochMillis) -> i64 {
        let std = i64::from(self.std_offset_min) * MINUTE_MS;
        let (year, _, _) = civil_from_days(t.div_euclid(DAY_MS));
        let (start, end) = match self.dst {
            DstRule::None => return std,
            DstRule::Eu => (
                last_sunday(year, 3) * DAY_MS + HOUR_MS,
                last_sunday(year, 10) * DAY_MS + HOUR_MS,
            ),
            DstRule::NorthAmerica => (
                nth_sunday(year, 3, 2) * DAY_MS + 2 * HOUR_MS - std,
                nth_sunday(year, 11, 1) * DAY_MS + 2 * HOUR_MS - std - HOUR_MS,
            ),
        };
        if (start..end).contains(&t) {
            std + HOUR_MS
        } else {
            std
        }
    }

    /// The local wall-clock view of instant `t`.
    pub fn local(&self, t: EpochMillis) -> LocalTime {
        let local = t + self.offset_ms(t);
        let days = local.div_euclid(DAY_MS);
        let ms_of_day = local.rem_euclid(DAY_MS);
        LocalTime {
            days,
            weekday: iso_weekday(days),
            hour: (ms_of_day / HOUR_MS) as u32,
            ms_of_day,
        }
    }

    /// The UTC instant of local wall-clock time `ms_of_day` on local day `days` (a time that
    /// does not exist or exists twice around a DST change resolves to the standard offset
    /// first, which is good enough for scheduling).
    pub fn at_local(&self, days: i64, ms_of_day: i64) -> EpochMillis {
        let naive = days * DAY_MS + ms_of_day;
        let guess = naive - i64::from(self.std_offset_min) * MINUTE_MS;
        naive - self.offset_ms(guess)
    }
}

/// A local wall-clock reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    /// Local day number since 1970-01-01.
    pub days: i64,
    /// ISO weekday, 1 = Monday ... 7 = Sunday.
    pub weekday: u32,
    /// Hour of the day, 0..=23.
    pub hour: u32,
    /// Milliseconds since local midnight.
    pub ms_of_day: i64,
}

fn last_sunday(year: i64, month: u32) -> i64 {
    let first_next = if month == 12 {
        days_from_civil(year + 1, 1, 1)
    } else {
        days_from_civil(year, month + 1, 1)
    };
    let last = first_next - 1;
    last - i64::from(iso_weekday(last) % 7)
}

fn nth_sunday(year: i64, month: u32, n: i64) -> i64 {
    let first = days_from_civil(year, month, 1);
    let to_sunday = i64::from((7 - iso_weekday(first)) % 7);
    first + to_sunday + 7 * (n - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(date: &str, expected_days: i64, expected_weekday: u32) {
        let t = parse_date(date).expect("valid date");
        assert_eq!(t / DAY_MS, expected_days, "{date}");
        assert_eq!(iso_weekday(t / DAY_MS), expected_weekday, "{date}");
        let (y, m, d) = civil_from_days(expected_days);
        assert_eq!(format!("{y:04}-{m:02}-{d:02}"), date);
    }

    #[test]
    fn civil_dates_round_trip() {
        check("1970-01-01", 0, 4);
        check("2000-02-29", 11_016, 2);
        check("2025-03-03", 20_150, 1);
        check("2024-12-31", 20_088, 2);
    }

    #[test]
    fn invalid_dates_are_refused() {
        for bad in [
            "2025-02-29",
            "2025-13-01",
            "2025-00-10",
            "yesterday",
            "2025-1",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    fn check_offset(tz: &str, utc: &str, hour_utc: i64, expected_offset_h: i64) {
        let tz = crate::cities::time_zone(tz).expect("known zone");
        let t = parse_date(utc).expect("date") + hour_utc * HOUR_MS;
        assert_eq!(
            tz.offset_ms(t),
            expected_offset_h * HOUR_MS,
            "{utc} {hour_utc}h"
        );
    }

    #[test]
    fn daylight_saving_follows_the_eu_and_north_american_rules() {
        // EU 2025: 30 March 01:00 UTC to 26 October 01:00 UTC.
        check_offset("Europe/Paris", "2025-03-30", 0, 1);
        check_offset("Europe/Paris", "2025-03-30", 1, 2);
        check_offset("Europe/Paris", "2025-10-26", 0, 2);
        check_offset("Europe/Paris", "2025-10-26", 1, 1);
        check_offset("Europe/London", "2025-07-01", 12, 1);
        // US 2025: 9 March 02:00 EST (07:00 UTC) to 2 November 02:00 EDT (06:00 UTC).
        check_offset("America/New_York", "2025-03-09", 6, -5);
        check_offset("America/New_York", "2025-03-09", 7, -4);
        check_offset("America/New_York", "2025-11-02", 5, -4);
        check_offset("America/New_York", "2025-11-02", 6, -5);
        check_offset("America/Phoenix", "2025-07-01", 12, -7);
    }

    #[test]
    fn local_time_and_back() {
        let paris = crate::cities::time_zone("Europe/Paris").expect("zone");
        let t = parse_date("2025-06-15").expect("date") + 7 * HOUR_MS; // 09:00 in Paris
        let local = paris.local(t);
        assert_eq!((local.hour, local.weekday), (9, 7));
        assert_eq!(paris.at_local(local.days, 9 * HOUR_MS), t);
        assert_eq!(format_utc(t), "2025-06-15 07:00");
    }
}
