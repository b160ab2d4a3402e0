//! The simulated retail network: DCs, stores and dark stores placed in real cities, with
//! their capabilities, opening hours, capacities, distribution groups and transit times, and
//! the per-city lookups (nearest pickup store, same-day site, shipping candidates) that order
//! generation needs.

use allot_schemas::{Capability, Location, LocationKind, OpeningHours, TransitTime};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use crate::calendar::{HOUR_MS, Tz};
use crate::cities::{self, CITIES, City};
use crate::config::WorkloadConfig;

/// Great-circle distance in kilometres between two WGS84 points.
pub fn distance_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6_371.0 * a.sqrt().asin()
}

/// A point `km` kilometres from (`lat`, `lon`) in a random direction, at most `max_km` away.
pub fn jitter(rng: &mut ChaCha8Rng, lat: f64, lon: f64, max_km: f64) -> (f64, f64) {
    let r = max_km * rng.random::<f64>().sqrt();
    let theta = rng.random::<f64>() * std::f64::consts::TAU;
    let dlat = r * theta.cos() / 111.32;
    let dlon = r * theta.sin() / (111.32 * lat.to_radians().cos().max(0.1));
    (round6(lat + dlat), round6(lon + dlon))
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// One DC, store or dark store.
#[derive(Debug, Clone)]
pub struct Site {
    /// The location id used on every topic (`dc-01`, `store-0007`, `dark-02`).
    pub id: String,
    /// DC, store or dark store.
    pub kind: LocationKind,
    /// Display name.
    pub name: String,
    /// Index into [`CITIES`].
    pub city: usize,
    /// Latitude of the site itself.
    pub lat: f64,
    /// Longitude of the site itself.
    pub lon: f64,
    /// The site's time zone.
    pub tz: Tz,
    /// The operational system that emits its sales and handovers (`pos-store-0007`,
    /// `wms-dc-01`).
    pub ops_source: String,
    /// The inventory system that emits its receipts and counts (`sim-store-0007`,
    /// `wms-dc-01`).
    pub inventory_source: String,
    /// Demand scale relative to an average store (1.0); DCs and dark stores use it for
    /// capacities only.
    pub size: f64,
    /// What the site can do for orders.
    pub capabilities: Vec<Capability>,
    /// Opening `(open_hour, close_hour)` per ISO weekday (index 0 = Monday); `None` = closed.
    pub hours: [Option<(u8, u8)>; 7],
    /// Order lines the site can pick per day.
    pub pick_capacity_per_day: i32,
    /// Parcels the site can ship per day.
    pub ship_capacity_per_day: i32,
    /// Distribution groups the site belongs to.
    pub groups: Vec<String>,
    /// Transit days to each country of the network.
    pub transit: Vec<TransitTime>,
    /// For stores and dark stores, the index of the DC that replenishes it; for DCs, itself.
    pub serving_dc: usize,
}

impl Site {
    /// Whether the site has capability `c`.
    pub fn can(&self, c: Capability) -> bool {
        self.capabilities.contains(&c)
    }

    /// Whether the site is a store (not a DC or dark store).
    pub fn is_store(&self) -> bool {
        self.kind == LocationKind::Store
    }

    /// The country of the site.
    pub fn country(&self) -> &'static str {
        CITIES[self.city].country
    }

    /// The `Location` reference event of the site.
    pub fn to_location(&self, event_id: String, event_time: i64) -> Location {
        let city: &City = &CITIES[self.city];
        Location {
            event_id,
            event_time,
            source: "mdm-locations".to_string(),
            location_id: self.id.clone(),
            name: self.name.clone(),
            kind: self.kind,
            active: true,
            city: city.name.to_string(),
            country: city.country.to_string(),
            latitude: self.lat,
            longitude: self.lon,
            timezone: city.tz.to_string(),
            capabilities: self.capabilities.clone(),
            opening_hours: self
                .hours
                .iter()
                .enumerate()
                .filter_map(|(i, h)| {
                    h.map(|(open, close)| OpeningHours {
                        day_of_week: i as i32 + 1,
                        open_minute: i32::from(open) * 60,
                        close_minute: i32::from(close) * 60,
                    })
                })
                .collect(),
            pick_capacity_per_day: self.pick_capacity_per_day,
            ship_capacity_per_day: self.ship_capacity_per_day,
            distribution_groups: self.groups.clone(),
            transit_times: self.transit.clone(),
            default_transit_days: 5,
        }
    }

    /// Whether the site is open at UTC instant `t`.
    pub fn is_open(&self, t: i64) -> bool {
        let local = self.tz.local(t);
        match self.hours[local.weekday as usize - 1] {
            Some((open, close)) => (u32::from(open)..u32::from(close)).contains(&local.hour),
            None => false,
        }
    }

    /// The first instant at or after `t` when the site is open (or `t` itself for a site
    /// that never closes); `None` if it never opens.
    pub fn next_open(&self, t: i64) -> Option<i64> {
        if self.hours.iter().all(Option::is_none) {
            return None;
        }
        if self.is_open(t) {
            return Some(t);
        }
        // Walk local hour boundaries: at most a week of them.
        let mut c = t;
        for _ in 0..(8 * 24) {
            let local = self.tz.local(c);
            c += HOUR_MS - local.ms_of_day % HOUR_MS;
            if self.is_open(c) {
                return Some(c);
            }
        }
        None
    }
}

/// Which sites serve customers of one city.
#[derive(Debug, Clone)]
pub struct CityReach {
    /// Stores with PICKUP within 50 km, nearest first, at most 3.
    pub pickup: Vec<usize>,
    /// Same-day sites (dark stores, SAME_DAY stores) within 40 km, nearest first.
    pub same_day: Vec<usize>,
    /// INSTALLATION stores within 150 km, nearest first.
    pub installation: Vec<usize>,
    /// Sites that ship parcels (DCs, ship-from-store stores), nearest first, at most 8.
    pub shipping: Vec<usize>,
    /// Stores nearest first, at most 4 (where customers return goods).
    pub stores: Vec<usize>,
    /// The nearest DC.
    pub dc: usize,
    /// The city's time zone (customers' local time).
    pub tz: Tz,
}

/// The whole network.
#[derive(Debug, Clone)]
pub struct Network {
    /// Every site: DCs first, then stores, then dark stores.
    pub sites: Vec<Site>,
    /// Indices of the DCs in `sites`.
    pub dcs: Vec<usize>,
    /// Indices of the stores in `sites`.
    pub stores: Vec<usize>,
    /// Indices of the dark stores in `sites`.
    pub dark_stores: Vec<usize>,
    /// Indices into [`CITIES`] of the cities in the network's countries (where customers live).
    pub cities: Vec<usize>,
    /// Per entry of `cities`, the sites that serve it.
    pub reach: Vec<CityReach>,
}

/// Returns the index of `CITIES` whose name is `name`.
#[cfg(test)]
fn city_index(name: &str) -> usize {
    CITIES
        .iter()
        .position(|c| c.name == name)
        .expect("city from the table")
}

impl Network {
    /// Places the network of `config` (validated) using `rng`.
    pub fn build(config: &WorkloadConfig, rng: &mut ChaCha8Rng) -> Network {
        let cities: Vec<usize> = CITIES
            .iter()
            .enumerate()
            .filter(|(_, c)| config.countries.iter().any(|k| k == c.country))
            .map(|(i, _)| i)
            .collect();
        let mut by_population = cities.clone();
        by_population.sort_by_key(|&i| std::cmp::Reverse(CITIES[i].population_k));

        let mut sites = Vec::new();

        // DCs: spread over hub cities by farthest-point placement, starting at a random hub.
        let hubs: Vec<usize> = cities.iter().copied().filter(|&i| CITIES[i].hub).collect();
        let pool = if hubs.is_empty() {
            cities.clone()
        } else {
            hubs
        };
        let mut dc_cities: Vec<usize> = Vec::new();
        for k in 0..config.dcs as usize {
            let city = if k == 0 {
                pool[rng.random_range(0..pool.len())]
            } else {
                // The candidate farthest from every DC placed so far (re-using cities once
                // every hub has one).
                let unused: Vec<usize> = pool
                    .iter()
                    .copied()
                    .filter(|c| !dc_cities.contains(c))
                    .collect();
                let candidates = if unused.is_empty() { &pool } else { &unused };
                *candidates
                    .iter()
                    .max_by(|&&a, &&b| {
                        let da = min_distance(a, &dc_cities);
                        let db = min_distance(b, &dc_cities);
                        da.total_cmp(&db)
                    })
                    .expect("non-empty pool")
            };
            dc_cities.push(city);
        }
        for (k, &city) in dc_cities.iter().enumerate() {
            let c = &CITIES[city];
            // DCs sit in logistics parks outside the centre.
            let (lat, lon) = jitter(rng, c.lat, c.lon, 25.0);
            let id = format!("dc-{:02}", k + 1);
            let size = 0.8 + 0.4 * rng.random::<f64>();
            sites.push(Site {
                ops_source: format!("wms-{id}"),
                inventory_source: format!("wms-{id}"),
                name: format!("Allot DC {}", c.name),
                id,
                kind: LocationKind::Dc,
                city,
                lat,
                lon,
                tz: tz_of(c),
                size,
                capabilities: vec![Capability::Ship],
                hours: [None; 7],
                pick_capacity_per_day: (40_000.0 * size) as i32,
                ship_capacity_per_day: (30_000.0 * size) as i32,
                groups: vec![
                    "ecom".into(),
                    format!("ecom-{}", c.country),
                    "installation".into(),
                ],
                transit: Vec::new(),
                serving_dc: k,
            });
        }
        let dcs: Vec<usize> = (0..sites.len()).collect();

        // Stores: half one per city in order of population, the rest weighted by population.
        let n_stores = config.stores as usize;
        let mut store_cities: Vec<usize> = by_population
            .iter()
            .copied()
            .take(n_stores.div_ceil(2))
            .collect();
        let total_pop: f64 = cities
            .iter()
            .map(|&i| f64::from(CITIES[i].population_k))
            .sum();
        while store_cities.len() < n_stores {
            let mut x = rng.random::<f64>() * total_pop;
            let mut pick = cities[0];
            for &i in &cities {
                x -= f64::from(CITIES[i].population_k);
                pick = i;
                if x <= 0.0 {
                    break;
                }
            }
            store_cities.push(pick);
        }
        store_cities.sort_by_key(|&i| (std::cmp::Reverse(CITIES[i].population_k), i));
        let mut stores = Vec::new();
        let mut per_city = vec![0u32; CITIES.len()];
        let mut sizes = Vec::new();
        for (k, &city) in store_cities.iter().enumerate() {
            let c = &CITIES[city];
            per_city[city] += 1;
            let nth = per_city[city];
            let (lat, lon) = jitter(rng, c.lat, c.lon, if nth == 1 { 1.5 } else { 8.0 });
            let urban = c.population_k >= 500;
            // Flagships in big cities are larger; suburban stores vary.
            let size =
                (0.6 + 0.8 * rng.random::<f64>()) * if nth == 1 && urban { 1.4 } else { 1.0 };
            sizes.push(size);
            let sfs = rng.random_bool(config.ship_from_store_share);
            let same_day = urban && rng.random_bool(config.same_day_store_share);
            let install = rng.random_bool(config.installation_store_share);
            let mut capabilities = vec![Capability::Pickup];
            let mut groups = vec!["stores".to_string(), format!("stores-{}", c.country)];
            if sfs {
                capabilities.push(Capability::ShipFromStore);
                groups.push("ecom".into());
                groups.push(format!("ecom-{}", c.country));
            }
            if same_day {
                capabilities.push(Capability::SameDay);
                groups.push("same-day".into());
            }
            if install {
                capabilities.push(Capability::Installation);
                groups.push("installation".into());
            }
            let id = format!("store-{:04}", k + 1);
            let country = cities::country(c.country).expect("validated country");
            let (open, close) = if size > 1.2 { (8, 21) } else { (9, 20) };
            let mut hours = [Some((open, close)); 7];
            hours[6] = country.sunday_hours;
            let name = if nth == 1 {
                format!("Allot {}", c.name)
            } else {
                format!("Allot {} {}", c.name, nth)
            };
            stores.push(sites.len());
            sites.push(Site {
                ops_source: format!("pos-{id}"),
                inventory_source: format!("sim-{id}"),
                id,
                name,
                kind: LocationKind::Store,
                city,
                lat,
                lon,
                tz: tz_of(c),
                size,
                capabilities,
                hours,
                pick_capacity_per_day: if sfs {
                    (300.0 * size) as i32
                } else {
                    (80.0 * size) as i32
                },
                ship_capacity_per_day: if sfs { (200.0 * size) as i32 } else { 0 },
                groups,
                transit: Vec::new(),
                serving_dc: 0,
            });
        }
        // Normalise store sizes so that the average store is 1.0.
        let mean = sizes.iter().sum::<f64>() / sizes.len().max(1) as f64;
        for &s in &stores {
            sites[s].size /= mean;
        }
        // Guarantee at least one installation store when installation is on at all.
        if config.installation_store_share > 0.0
            && !stores
                .iter()
                .any(|&s| sites[s].can(Capability::Installation))
        {
            let s = &mut sites[stores[0]];
            s.capabilities.push(Capability::Installation);
            s.groups.push("installation".into());
        }

        // Dark stores: in the largest cities, round robin.
        let mut dark_stores = Vec::new();
        for k in 0..config.dark_stores as usize {
            let city = by_population[k % by_population.len()];
            let c = &CITIES[city];
            let (lat, lon) = jitter(rng, c.lat, c.lon, 6.0);
            let id = format!("dark-{:02}", k + 1);
            dark_stores.push(sites.len());
            sites.push(Site {
                ops_source: format!("wms-{id}"),
                inventory_source: format!("wms-{id}"),
                name: format!("Allot Now {}", c.name),
                id,
                kind: LocationKind::DarkStore,
                city,
                lat,
                lon,
                tz: tz_of(c),
                size: 1.0,
                capabilities: vec![Capability::SameDay],
                hours: [Some((7, 23)); 7],
                pick_capacity_per_day: 4_000,
                ship_capacity_per_day: 2_500,
                groups: vec!["same-day".into()],
                transit: Vec::new(),
                serving_dc: 0,
            });
        }

        // Serving DC and transit times.
        let countries: Vec<&str> = {
            let mut v: Vec<&str> = cities.iter().map(|&i| CITIES[i].country).collect();
            v.dedup();
            v
        };
        let capitals: Vec<usize> = countries
            .iter()
            .map(|k| {
                *by_population
                    .iter()
                    .find(|&&i| CITIES[i].country == *k)
                    .expect("country has a city")
            })
            .collect();
        for i in 0..sites.len() {
            if sites[i].kind != LocationKind::Dc {
                let (lat, lon) = (sites[i].lat, sites[i].lon);
                sites[i].serving_dc = nearest(&sites, &dcs, lat, lon).expect("at least one DC");
            }
            let mut transit = Vec::new();
            for (k, &cap) in countries.iter().zip(&capitals) {
                let c = &CITIES[cap];
                let km = distance_km(sites[i].lat, sites[i].lon, c.lat, c.lon);
                let domestic = sites[i].country() == *k;
                let days = match km {
                    d if d < 350.0 => 1,
                    d if d < 800.0 => 2,
                    d if d < 1_500.0 => 3,
                    _ => 4,
                } + i32::from(!domestic);
                transit.push(TransitTime {
                    region: (*k).to_string(),
                    days,
                });
            }
            sites[i].transit = transit;
        }

        let mut network = Network {
            sites,
            dcs,
            stores,
            dark_stores,
            cities: cities.clone(),
            reach: Vec::new(),
        };
        network.reach = cities.iter().map(|&c| network.reach_of(c)).collect();
        network
    }

    fn reach_of(&self, city: usize) -> CityReach {
        let c = &CITIES[city];
        let mut by_distance: Vec<(f64, usize)> = self
            .sites
            .iter()
            .enumerate()
            .map(|(i, s)| (distance_km(c.lat, c.lon, s.lat, s.lon), i))
            .collect();
        by_distance.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let within = |km: f64, pred: &dyn Fn(&Site) -> bool| -> Vec<usize> {
            by_distance
                .iter()
                .filter(|(d, i)| *d <= km && pred(&self.sites[*i]))
                .map(|(_, i)| *i)
                .collect()
        };
        CityReach {
            pickup: within(50.0, &|s| s.can(Capability::Pickup))
                .into_iter()
                .take(3)
                .collect(),
            same_day: within(40.0, &|s| s.can(Capability::SameDay)),
            installation: within(150.0, &|s| s.can(Capability::Installation)),
            shipping: within(f64::INFINITY, &|s| {
                s.can(Capability::Ship) || s.can(Capability::ShipFromStore)
            })
            .into_iter()
            .take(8)
            .collect(),
            stores: within(f64::INFINITY, &Site::is_store)
                .into_iter()
                .take(4)
                .collect(),
            dc: by_distance
                .iter()
                .find(|(_, i)| self.sites[*i].kind == LocationKind::Dc)
                .map(|(_, i)| *i)
                .expect("at least one DC"),
            tz: tz_of(c),
        }
    }

    /// The position of `city` (an index into [`CITIES`]) in `self.cities`.
    pub fn city_slot(&self, city: usize) -> Option<usize> {
        self.cities.iter().position(|&c| c == city)
    }

    /// Looks a site up by location id.
    pub fn site(&self, id: &str) -> Option<&Site> {
        self.sites.iter().find(|s| s.id == id)
    }
}

fn tz_of(c: &City) -> Tz {
    cities::time_zone(c.tz).expect("every table time zone is known")
}

fn min_distance(city: usize, placed: &[usize]) -> f64 {
    let c = &CITIES[city];
    placed
        .iter()
        .map(|&p| distance_km(c.lat, c.lon, CITIES[p].lat, CITIES[p].lon))
        .fold(f64::INFINITY, f64::min)
}

fn nearest(sites: &[Site], among: &[usize], lat: f64, lon: f64) -> Option<usize> {
    among.iter().copied().min_by(|&a, &b| {
        let da = distance_km(lat, lon, sites[a].lat, sites[a].lon);
        let db = distance_km(lat, lon, sites[b].lat, sites[b].lon);
        da.total_cmp(&db)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn network(edit: impl FnOnce(&mut WorkloadConfig)) -> Network {
        let mut config = WorkloadConfig::default();
        edit(&mut config);
        config.validate().expect("valid");
        Network::build(&config, &mut ChaCha8Rng::seed_from_u64(config.seed))
    }

    #[test]
    fn distances_are_real() {
        let paris = &CITIES[city_index("Paris")];
        let berlin = &CITIES[city_index("Berlin")];
        let km = distance_km(paris.lat, paris.lon, berlin.lat, berlin.lon);
        assert!(
            (870.0..890.0).contains(&km),
            "Paris-Berlin is about 878 km, got {km}"
        );
    }

    #[test]
    fn the_default_network_has_the_configured_shape() {
        let n = network(|_| {});
        assert_eq!(
            (n.dcs.len(), n.stores.len(), n.dark_stores.len()),
            (3, 40, 2)
        );
        let mut ids: Vec<_> = n.sites.iter().map(|s| s.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n.sites.len(), "location ids are unique");
        for s in &n.sites {
            assert!(!s.capabilities.is_empty(), "{} can do nothing", s.id);
            match s.kind {
                LocationKind::Dc => assert!(s.hours.iter().all(Option::is_none)),
                LocationKind::Store => {
                    assert!(s.can(Capability::Pickup));
                    assert!(s.hours[0].is_some(), "stores open on Mondays");
                }
                LocationKind::DarkStore => assert!(s.can(Capability::SameDay)),
            }
            assert_eq!(n.sites[s.serving_dc].kind, LocationKind::Dc);
        }
        // German stores are closed on Sundays, French ones open in the morning.
        for s in n.stores.iter().map(|&i| &n.sites[i]) {
            match s.country() {
                "DE" => assert_eq!(s.hours[6], None),
                "FR" => assert_eq!(s.hours[6], Some((9, 13))),
                _ => {}
            }
        }
        assert!(
            n.stores
                .iter()
                .any(|&s| n.sites[s].can(Capability::ShipFromStore))
        );
    }

    #[test]
    fn dcs_are_spread_out() {
        let n = network(|_| {});
        for (a, &i) in n.dcs.iter().enumerate() {
            for &j in &n.dcs[a + 1..] {
                let (x, y) = (&n.sites[i], &n.sites[j]);
                assert!(
                    distance_km(x.lat, x.lon, y.lat, y.lon) > 200.0,
                    "{} {}",
                    x.id,
                    y.id
                );
            }
        }
    }

    #[test]
    fn opening_hours_in_local_time() {
        let n = network(|c| c.countries = vec!["DE".into()]);
        let store = &n.sites[n.stores[0]];
        let (open, _) = store.hours[0].expect("open on Monday");
        // 2025-03-03 is a Monday; Berlin is UTC+1 in March.
        let monday = crate::calendar::parse_date("2025-03-03").expect("date");
        let opening = monday + (i64::from(open) - 1) * HOUR_MS;
        assert!(!store.is_open(opening - 1));
        assert!(store.is_open(opening));
        assert_eq!(store.next_open(opening - 5 * HOUR_MS - 7), Some(opening));
        // Sunday closed in Germany: from Saturday night the next opening is Monday.
        let saturday_night = monday + 5 * crate::calendar::DAY_MS + 22 * HOUR_MS;
        assert_eq!(
            store.next_open(saturday_night),
            Some(opening + 7 * crate::calendar::DAY_MS)
        );
    }
}
