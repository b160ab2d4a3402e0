//! Demand curves: how sales and orders spread over the week and over the hours of a day, in
//! the local time of the store or customer.
//!
//! Stores peak on Saturdays and in the late afternoon; web and app orders peak in the
//! evening and on Sundays and Mondays; the call centre keeps office hours.

/// Relative weight per hour of the day (local time), index 0 = 00:00-01:00.
pub type HourlyCurve = [f64; 24];
/// Relative weight per ISO weekday, index 0 = Monday.
pub type WeeklyCurve = [f64; 7];

/// Store footfall over the day (only the open hours count).
pub const STORE_HOURLY: HourlyCurve = [
    0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.2, 0.3, 0.5, 0.7, 0.85, 1.0, 1.15, 1.05, 0.9, 0.95, 1.1, 1.3,
    1.35, 1.1, 0.8, 0.5, 0.2, 0.1,
];
/// Store footfall over the week: weekend peak.
pub const STORE_WEEKLY: WeeklyCurve = [0.85, 0.85, 0.9, 0.95, 1.1, 1.45, 0.9];

/// Web orders over the day: low at night, evening peak.
pub const WEB_HOURLY: HourlyCurve = [
    0.25, 0.15, 0.1, 0.08, 0.08, 0.12, 0.3, 0.55, 0.75, 0.9, 1.0, 1.05, 1.1, 1.05, 1.0, 1.0, 1.05,
    1.15, 1.35, 1.6, 1.75, 1.6, 1.1, 0.55,
];
/// App orders over the day: commute bumps and a later evening peak.
pub const APP_HOURLY: HourlyCurve = [
    0.3, 0.2, 0.1, 0.08, 0.08, 0.15, 0.45, 0.85, 0.9, 0.8, 0.8, 0.9, 1.1, 1.0, 0.9, 0.9, 1.0, 1.2,
    1.4, 1.7, 1.9, 1.8, 1.3, 0.7,
];
/// Call centre orders: office hours.
pub const CALL_CENTER_HOURLY: HourlyCurve = [
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.8, 1.2, 1.3, 1.2, 0.9, 1.0, 1.2, 1.2, 1.1, 1.0, 0.8,
    0.6, 0.0, 0.0, 0.0, 0.0,
];
/// Marketplace orders: like the web, flatter.
pub const MARKETPLACE_HOURLY: HourlyCurve = [
    0.4, 0.3, 0.2, 0.15, 0.15, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0, 1.0, 1.05, 1.0, 1.0, 1.0, 1.0, 1.1,
    1.2, 1.35, 1.45, 1.35, 1.0, 0.6,
];
/// Online orders over the week: Sunday evening and Monday are the busiest.
pub const ONLINE_WEEKLY: WeeklyCurve = [1.1, 1.0, 0.95, 0.95, 0.9, 0.95, 1.15];
/// Call centre over the week: closed on Sundays.
pub const CALL_CENTER_WEEKLY: WeeklyCurve = [1.2, 1.1, 1.05, 1.05, 1.0, 0.6, 0.0];

/// A curve scaled so that its values average 1.
pub fn normalized_weekly(w: &WeeklyCurve) -> WeeklyCurve {
    let mean = w.iter().sum::<f64>() / 7.0;
    w.map(|x| x / mean)
}

/// Rates per hour of the week (`[weekday][hour]`) whose day totals are
/// `per_day * weekly[weekday]` (weekly normalised to mean 1), spread over the hours by
/// `hourly` restricted to `open` hours.
pub fn rate_table(
    per_day: f64,
    weekly: &WeeklyCurve,
    hourly: &HourlyCurve,
    open: &[Option<(u8, u8)>; 7],
) -> [[f64; 24]; 7] {
    let weekly = normalized_weekly(weekly);
    let mut table = [[0.0; 24]; 7];
    for (d, row) in table.iter_mut().enumerate() {
        let Some((from, to)) = open[d] else { continue };
        let hours = usize::from(from)..usize::from(to);
        let total: f64 = hourly[hours.clone()].iter().sum();
        if total <= 0.0 {
            continue;
        }
        for h in hours {
            row[h] = per_day * weekly[d] * hourly[h] / total;
        }
    }
    table
}

/// The largest value of a rate table.
pub fn peak(table: &[[f64; 24]; 7]) -> f64 {
    table.iter().flatten().copied().fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(per_day: f64, open: [Option<(u8, u8)>; 7], expected_week_total: f64) {
        let t = rate_table(per_day, &STORE_WEEKLY, &STORE_HOURLY, &open);
        let total: f64 = t.iter().flatten().sum();
        assert!(
            (total - expected_week_total).abs() < 1e-6,
            "{total} vs {expected_week_total}"
        );
    }

    #[test]
    fn day_totals_follow_the_weekly_curve() {
        check(100.0, [Some((0, 24)); 7], 700.0);
        check(100.0, [Some((9, 20)); 7], 700.0);
        // A closed Sunday loses its share of the week.
        let mut closed_sunday = [Some((9, 20)); 7];
        closed_sunday[6] = None;
        check(
            100.0,
            closed_sunday,
            700.0 - 100.0 * normalized_weekly(&STORE_WEEKLY)[6],
        );
    }

    #[test]
    fn stores_peak_on_saturday_afternoon() {
        let t = rate_table(1000.0, &STORE_WEEKLY, &STORE_HOURLY, &[Some((9, 20)); 7]);
        assert_eq!(peak(&t), t[5][18]);
        assert_eq!(t[5][8], 0.0, "closed before nine");
    }

    #[test]
    fn online_orders_peak_in_the_evening() {
        let t = rate_table(1000.0, &ONLINE_WEEKLY, &WEB_HOURLY, &[Some((0, 24)); 7]);
        let best = (0..24).max_by(|&a, &b| t[0][a].total_cmp(&t[0][b]));
        assert_eq!(best, Some(20));
    }
}
