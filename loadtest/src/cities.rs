//! The embedded table of real cities the retail network is placed in: coordinates, country,
//! IANA time zone, population and a postal code to build addresses from, plus the per-country
//! facts (currency, Sunday trading, postal format) the generator needs.
//!
//! Coordinates are city centres (WGS84) rounded to four decimals; populations are city-proper
//! figures in thousands, used only as weights.

use crate::calendar::{DstRule, Tz};

/// One real city.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct City {
    /// English name.
    pub name: &'static str,
    /// ISO 3166-1 alpha-2 country code.
    pub country: &'static str,
    /// Latitude in decimal degrees.
    pub lat: f64,
    /// Longitude in decimal degrees.
    pub lon: f64,
    /// IANA time zone.
    pub tz: &'static str,
    /// Population in thousands (a weight for stores and customers).
    pub population_k: u32,
    /// A real postal code of the centre; addresses vary its last characters.
    pub postal: &'static str,
    /// Whether the city is a usual site for a distribution centre (a logistics hub).
    pub hub: bool,
}

macro_rules! cities {
    ($(($name:literal, $cc:literal, $lat:literal, $lon:literal, $tz:literal, $pop:literal, $postal:literal, $hub:literal)),* $(,)?) => {
        /// Every city the generator can place a location or a customer in.
        pub const CITIES: &[City] = &[
            $(City { name: $name, country: $cc, lat: $lat, lon: $lon, tz: $tz, population_k: $pop, postal: $postal, hub: $hub },)*
        ];
    };
}

#[rustfmt::skip]
cities![
    // France
    ("Paris", "FR", 48.8566, 2.3522, "Europe/Paris", 2161, "75001", false),
    ("Marseille", "FR", 43.2965, 5.3698, "Europe/Paris", 870, "13001", false),
    ("Lyon", "FR", 45.7640, 4.8357, "Europe/Paris", 516, "69001", true),
    ("Toulouse", "FR", 43.6047, 1.4442, "Europe/Paris", 493, "31000", false),
    ("Nice", "FR", 43.7102, 7.2620, "Europe/Paris", 342, "06000", false),
    ("Nantes", "FR", 47.2184, -1.5536, "Europe/Paris", 314, "44000", false),
    ("Strasbourg", "FR", 48.5734, 7.7521, "Europe/Paris", 284, "67000", false),
    ("Montpellier", "FR", 43.6108, 3.8767, "Europe/Paris", 285, "34000", false),
    ("Bordeaux", "FR", 44.8378, -0.5792, "Europe/Paris", 257, "33000", false),
    ("Lille", "FR", 50.6292, 3.0573, "Europe/Paris", 233, "59000", true),
    ("Rennes", "FR", 48.1173, -1.6778, "Europe/Paris", 217, "35000", false),
    ("Orléans", "FR", 47.9030, 1.9093, "Europe/Paris", 116, "45000", true),
    // Germany
    ("Berlin", "DE", 52.5200, 13.4050, "Europe/Berlin", 3645, "10115", false),
    ("Hamburg", "DE", 53.5511, 9.9937, "Europe/Berlin", 1841, "20095", true),
    ("Munich", "DE", 48.1351, 11.5820, "Europe/Berlin", 1472, "80331", false),
    ("Cologne", "DE", 50.9375, 6.9603, "Europe/Berlin", 1086, "50667", false),
    ("Frankfurt", "DE", 50.1109, 8.6821, "Europe/Berlin", 753, "60311", true),
    ("Stuttgart", "DE", 48.7758, 9.1829, "Europe/Berlin", 635, "70173", false),
    ("Düsseldorf", "DE", 51.2277, 6.7735, "Europe/Berlin", 619, "40213", false),
    ("Leipzig", "DE", 51.3397, 12.3731, "Europe/Berlin", 587, "04109", true),
    ("Dortmund", "DE", 51.5136, 7.4653, "Europe/Berlin", 588, "44135", true),
    ("Essen", "DE", 51.4556, 7.0116, "Europe/Berlin", 582, "45127", false),
    ("Bremen", "DE", 53.0793, 8.8017, "Europe/Berlin", 567, "28195", false),
    ("Dresden", "DE", 51.0504, 13.7373, "Europe/Berlin", 556, "01067", false),
    ("Hanover", "DE", 52.3759, 9.7320, "Europe/Berlin", 535, "30159", false),
    ("Nuremberg", "DE", 49.4521, 11.0767, "Europe/Berlin", 518, "90402", false),
    ("Kassel", "DE", 51.3127, 9.4797, "Europe/Berlin", 201, "34117", true),
    // Netherlands
    ("Amsterdam", "NL", 52.3676, 4.9041, "Europe/Amsterdam", 872, "1012", false),
    ("Rotterdam", "NL", 51.9244, 4.4777, "Europe/Amsterdam", 651, "3011", false),
    ("The Hague", "NL", 52.0705, 4.3007, "Europe/Amsterdam", 545, "2511", false),
    ("Utrecht", "NL", 52.0907, 5.1214, "Europe/Amsterdam", 357, "3511", true),
    ("Eindhoven", "NL", 51.4416, 5.4697, "Europe/Amsterdam", 235, "5611", false),
    ("Tilburg", "NL", 51.5555, 5.0913, "Europe/Amsterdam", 220, "5038", true),
    ("Venlo", "NL", 51.3704, 6.1724, "Europe/Amsterdam", 101, "5911", true),
    // Belgium
    ("Brussels", "BE", 50.8503, 4.3517, "Europe/Brussels", 1209, "1000", false),
    ("Antwerp", "BE", 51.2194, 4.4025, "Europe/Brussels", 529, "2000", true),
    ("Ghent", "BE", 51.0543, 3.7174, "Europe/Brussels", 263, "9000", false),
    ("Liège", "BE", 50.6326, 5.5797, "Europe/Brussels", 197, "4000", true),
    // Spain
    ("Madrid", "ES", 40.4168, -3.7038, "Europe/Madrid", 3223, "28001", true),
    ("Barcelona", "ES", 41.3874, 2.1686, "Europe/Madrid", 1620, "08001", false),
    ("Valencia", "ES", 39.4699, -0.3763, "Europe/Madrid", 791, "46001", false),
    ("Seville", "ES", 37.3891, -5.9845, "Europe/Madrid", 688, "41001", false),
    ("Zaragoza", "ES", 41.6488, -0.8891, "Europe/Madrid", 675, "50001", true),
    ("Málaga", "ES", 36.7213, -4.4214, "Europe/Madrid", 578, "29001", false),
    ("Bilbao", "ES", 43.2630, -2.9350, "Europe/Madrid", 346, "48001", false),
    // Italy
    ("Rome", "IT", 41.9028, 12.4964, "Europe/Rome", 2873, "00118", false),
    ("Milan", "IT", 45.4642, 9.1900, "Europe/Rome", 1352, "20121", true),
    ("Naples", "IT", 40.8518, 14.2681, "Europe/Rome", 959, "80121", false),
    ("Turin", "IT", 45.0703, 7.6869, "Europe/Rome", 848, "10121", false),
    ("Palermo", "IT", 38.1157, 13.3615, "Europe/Rome", 657, "90121", false),
    ("Genoa", "IT", 44.4056, 8.9463, "Europe/Rome", 580, "16121", false),
    ("Bologna", "IT", 44.4949, 11.3426, "Europe/Rome", 390, "40121", true),
    ("Florence", "IT", 43.7696, 11.2558, "Europe/Rome", 382, "50121", false),
    ("Verona", "IT", 45.4384, 10.9916, "Europe/Rome", 257, "37121", true),
    // Austria
    ("Vienna", "AT", 48.2082, 16.3738, "Europe/Vienna", 1897, "1010", true),
    ("Graz", "AT", 47.0707, 15.4395, "Europe/Vienna", 291, "8010", false),
    ("Linz", "AT", 48.3069, 14.2858, "Europe/Vienna", 207, "4020", true),
    // Switzerland
    ("Zurich", "CH", 47.3769, 8.5417, "Europe/Zurich", 415, "8001", true),
    ("Geneva", "CH", 46.2044, 6.1432, "Europe/Zurich", 201, "1201", false),
    ("Basel", "CH", 47.5596, 7.5886, "Europe/Zurich", 178, "4001", false),
    // Poland
    ("Warsaw", "PL", 52.2297, 21.0122, "Europe/Warsaw", 1790, "00-001", false),
    ("Kraków", "PL", 50.0647, 19.9450, "Europe/Warsaw", 779, "30-001", false),
    ("Łódź", "PL", 51.7592, 19.4560, "Europe/Warsaw", 679, "90-001", true),
    ("Wrocław", "PL", 51.1079, 17.0385, "Europe/Warsaw", 643, "50-001", true),
    ("Poznań", "PL", 52.4064, 16.9252, "Europe/Warsaw", 534, "60-001", true),
    ("Gdańsk", "PL", 54.3520, 18.6466, "Europe/Warsaw", 470, "80-001", false),
    // Czechia
    ("Prague", "CZ", 50.0755, 14.4378, "Europe/Prague", 1309, "110 00", true),
    ("Brno", "CZ", 49.1951, 16.6068, "Europe/Prague", 382, "602 00", false),
    // Denmark
    ("Copenhagen", "DK", 55.6761, 12.5683, "Europe/Copenhagen", 644, "1050", false),
    ("Aarhus", "DK", 56.1629, 10.2039, "Europe/Copenhagen", 285, "8000", true),
    // Sweden
    ("Stockholm", "SE", 59.3293, 18.0686, "Europe/Stockholm", 975, "111 20", false),
    ("Gothenburg", "SE", 57.7089, 11.9746, "Europe/Stockholm", 583, "411 01", true),
    ("Malmö", "SE", 55.6050, 13.0038, "Europe/Stockholm", 347, "211 20", false),
    // Portugal
    ("Lisbon", "PT", 38.7223, -9.1393, "Europe/Lisbon", 545, "1100-148", true),
    ("Porto", "PT", 41.1579, -8.6291, "Europe/Lisbon", 232, "4000-001", false),
    // Ireland
    ("Dublin", "IE", 53.3498, -6.2603, "Europe/Dublin", 554, "D01", true),
    ("Cork", "IE", 51.8985, -8.4756, "Europe/Dublin", 224, "T12", false),
    // United Kingdom
    ("London", "GB", 51.5074, -0.1278, "Europe/London", 8982, "EC1A", false),
    ("Birmingham", "GB", 52.4862, -1.8904, "Europe/London", 1141, "B1", true),
    ("Manchester", "GB", 53.4808, -2.2426, "Europe/London", 553, "M1", false),
    ("Leeds", "GB", 53.8008, -1.5491, "Europe/London", 793, "LS1", false),
    ("Glasgow", "GB", 55.8642, -4.2518, "Europe/London", 633, "G1", false),
    ("Liverpool", "GB", 53.4084, -2.9916, "Europe/London", 498, "L1", false),
    ("Bristol", "GB", 51.4545, -2.5879, "Europe/London", 467, "BS1", false),
    ("Edinburgh", "GB", 55.9533, -3.1883, "Europe/London", 524, "EH1", false),
    ("Milton Keynes", "GB", 52.0406, -0.7594, "Europe/London", 230, "MK9", true),
    // United States
    ("New York", "US", 40.7128, -74.0060, "America/New_York", 8336, "10001", false),
    ("Los Angeles", "US", 34.0522, -118.2437, "America/Los_Angeles", 3980, "90012", false),
    ("Chicago", "US", 41.8781, -87.6298, "America/Chicago", 2716, "60601", true),
    ("Houston", "US", 29.7604, -95.3698, "America/Chicago", 2320, "77002", false),
    ("Phoenix", "US", 33.4484, -112.0740, "America/Phoenix", 1680, "85003", false),
    ("Philadelphia", "US", 39.9526, -75.1652, "America/New_York", 1584, "19102", false),
    ("San Antonio", "US", 29.4241, -98.4936, "America/Chicago", 1547, "78205", false),
    ("San Diego", "US", 32.7157, -117.1611, "America/Los_Angeles", 1423, "92101", false),
    ("Dallas", "US", 32.7767, -96.7970, "America/Chicago", 1343, "75201", true),
    ("San Jose", "US", 37.3382, -121.8863, "America/Los_Angeles", 1021, "95113", false),
    ("Austin", "US", 30.2672, -97.7431, "America/Chicago", 978, "78701", false),
    ("Columbus", "US", 39.9612, -82.9988, "America/New_York", 898, "43215", true),
    ("Seattle", "US", 47.6062, -122.3321, "America/Los_Angeles", 753, "98101", false),
    ("Denver", "US", 39.7392, -104.9903, "America/Denver", 727, "80202", true),
    ("Boston", "US", 42.3601, -71.0589, "America/New_York", 692, "02108", false),
    ("Memphis", "US", 35.1495, -90.0490, "America/Chicago", 651, "38103", true),
    ("Atlanta", "US", 33.7490, -84.3880, "America/New_York", 498, "30303", true),
    ("Miami", "US", 25.7617, -80.1918, "America/New_York", 467, "33130", false),
    ("Reno", "US", 39.5296, -119.8138, "America/Los_Angeles", 264, "89501", true),
    // Canada
    ("Toronto", "CA", 43.6532, -79.3832, "America/Toronto", 2731, "M5H", true),
    ("Montreal", "CA", 45.5019, -73.5674, "America/Toronto", 1780, "H2Y", false),
    ("Calgary", "CA", 51.0447, -114.0719, "America/Edmonton", 1336, "T2P", true),
    ("Ottawa", "CA", 45.4215, -75.6972, "America/Toronto", 1017, "K1P", false),
    ("Edmonton", "CA", 53.5461, -113.4938, "America/Edmonton", 981, "T5J", false),
    ("Vancouver", "CA", 49.2827, -123.1207, "America/Vancouver", 675, "V6B", false),
];

/// Facts about a country the generator needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Country {
    /// ISO 3166-1 alpha-2 code.
    pub code: &'static str,
    /// ISO 4217 currency of its price list.
    pub currency: &'static str,
    /// Units of the currency per euro, to derive local list prices from the catalogue's
    /// euro prices.
    pub per_euro: f64,
    /// Sunday opening of stores as `(open_hour, close_hour)`; `None` where stores are closed
    /// on Sundays by law.
    pub sunday_hours: Option<(u8, u8)>,
}

/// Every country with at least one city in [`CITIES`].
#[rustfmt::skip]
pub const COUNTRIES: &[Country] = &[
    Country { code: "FR", currency: "EUR", per_euro: 1.0, sunday_hours: Some((9, 13)) },
    Country { code: "DE", currency: "EUR", per_euro: 1.0, sunday_hours: None },
    Country { code: "NL", currency: "EUR", per_euro: 1.0, sunday_hours: Some((12, 18)) },
    Country { code: "BE", currency: "EUR", per_euro: 1.0, sunday_hours: Some((10, 18)) },
    Country { code: "ES", currency: "EUR", per_euro: 1.0, sunday_hours: Some((11, 20)) },
    Country { code: "IT", currency: "EUR", per_euro: 1.0, sunday_hours: Some((10, 20)) },
    Country { code: "AT", currency: "EUR", per_euro: 1.0, sunday_hours: None },
    Country { code: "CH", currency: "CHF", per_euro: 0.95, sunday_hours: None },
    Country { code: "PL", currency: "PLN", per_euro: 4.3, sunday_hours: None },
    Country { code: "CZ", currency: "CZK", per_euro: 25.0, sunday_hours: Some((10, 18)) },
    Country { code: "DK", currency: "DKK", per_euro: 7.46, sunday_hours: Some((10, 17)) },
    Country { code: "SE", currency: "SEK", per_euro: 11.2, sunday_hours: Some((11, 17)) },
    Country { code: "PT", currency: "EUR", per_euro: 1.0, sunday_hours: Some((10, 20)) },
    Country { code: "IE", currency: "EUR", per_euro: 1.0, sunday_hours: Some((12, 18)) },
    Country { code: "GB", currency: "GBP", per_euro: 0.85, sunday_hours: Some((10, 16)) },
    Country { code: "US", currency: "USD", per_euro: 1.08, sunday_hours: Some((10, 19)) },
    Country { code: "CA", currency: "CAD", per_euro: 1.47, sunday_hours: Some((10, 18)) },
];

/// Looks a country up by its ISO code.
pub fn country(code: &str) -> Option<&'static Country> {
    COUNTRIES.iter().find(|c| c.code == code)
}

/// The UTC offset and daylight-saving rule of every time zone in [`CITIES`].
pub fn time_zone(name: &str) -> Option<Tz> {
    let (std_offset_min, dst) = match name {
        "Europe/London" | "Europe/Dublin" | "Europe/Lisbon" => (0, DstRule::Eu),
        "Europe/Paris" | "Europe/Berlin" | "Europe/Amsterdam" | "Europe/Brussels"
        | "Europe/Madrid" | "Europe/Rome" | "Europe/Vienna" | "Europe/Zurich" | "Europe/Warsaw"
        | "Europe/Prague" | "Europe/Copenhagen" | "Europe/Stockholm" => (60, DstRule::Eu),
        "America/New_York" | "America/Toronto" => (-300, DstRule::NorthAmerica),
        "America/Chicago" => (-360, DstRule::NorthAmerica),
        "America/Denver" | "America/Edmonton" => (-420, DstRule::NorthAmerica),
        "America/Phoenix" => (-420, DstRule::None),
        "America/Los_Angeles" | "America/Vancouver" => (-480, DstRule::NorthAmerica),
        _ => return None,
    };
    Some(Tz {
        std_offset_min,
        dst,
    })
}

/// A plausible postal code near `base` in `country`, varied by `salt`.
///
/// The format follows the country's real scheme (five digits in FR/DE/ES/IT/US, four digits
/// and two letters in NL, `NN-NNN` in PL, outward and inward codes in GB, FSA plus LDU in CA,
/// and so on); the leading part stays that of the city so the code stays in the right area.
pub fn postal_code(country: &str, base: &str, salt: u64) -> String {
    let digit = |k: u32| char::from(b'0' + (((salt >> (k * 4)) & 0xF) % 10) as u8);
    let letter = |k: u32| {
        // Letters used in GB inward codes and NL suffixes (no C, I, K, M, O, V).
        const L: &[u8] = b"ABDEFGHJLNPQRSTUWXYZ";
        char::from(L[((salt >> (k * 5 + 20)) % L.len() as u64) as usize])
    };
    let keep = |n: usize| base.chars().take(n).collect::<String>();
    match country {
        "FR" | "DE" | "ES" | "IT" | "US" => {
            let mut s = keep(3);
            s.push(digit(0));
            s.push(digit(1));
            s
        }
        "NL" => format!(
            "{}{}{} {}{}",
            keep(2),
            digit(0),
            digit(1),
            letter(0),
            letter(1)
        ),
        "BE" | "AT" | "CH" | "DK" => {
            let mut s = keep(2);
            s.push(digit(0));
            s.push(digit(1));
            s
        }
        "PL" => format!("{}-{}{}{}", keep(2), digit(0), digit(1), digit(2)),
        "CZ" | "SE" => format!("{}{} {}{}", keep(2), digit(0), digit(1), digit(2)),
        "PT" => format!(
            "{}{}{}-{}{}{}",
            keep(2),
            digit(0),
            digit(1),
            digit(2),
            digit(3),
            digit(4)
        ),
        "GB" => format!("{} {}{}{}", base, digit(0), letter(0), letter(1)),
        "IE" => format!("{} {}{}{}{}", base, letter(0), digit(0), digit(1), digit(2)),
        "CA" => format!("{} {}{}{}", base, digit(0), letter(0), digit(1)),
        _ => base.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_city_has_a_known_country_and_time_zone() {
        assert!(CITIES.len() >= 80, "the brief asks for about 80 cities");
        for c in CITIES {
            assert!(country(c.country).is_some(), "{} has no country", c.name);
            assert!(time_zone(c.tz).is_some(), "{} has no time zone", c.name);
            assert!((-90.0..=90.0).contains(&c.lat) && (-180.0..=180.0).contains(&c.lon));
        }
        for k in COUNTRIES {
            assert!(
                CITIES.iter().any(|c| c.country == k.code),
                "{} has no city",
                k.code
            );
        }
    }

    #[test]
    fn city_names_are_unique() {
        let mut names: Vec<_> = CITIES.iter().map(|c| c.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
    }

    fn check(country: &str, base: &str, salt: u64, expected: &str) {
        assert_eq!(
            postal_code(country, base, salt),
            expected,
            "{country} {base} {salt}"
        );
    }

    #[test]
    fn postal_codes_follow_each_country_s_format() {
        check("FR", "75001", 0x21, "75012");
        check("NL", "1012", 0x21, "1012 AA");
        check("PL", "00-001", 0x321, "00-123");
        check("GB", "EC1A", 0x5, "EC1A 5AA");
        check("CA", "M5H", 0x21, "M5H 1A2");
        check("US", "10001", 0x98, "10089");
    }
}
