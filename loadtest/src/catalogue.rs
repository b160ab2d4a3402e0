//! The SKU catalogue (categories, prices, vendors, Zipf popularity) and the price lists with
//! their promotion campaigns.

use allot_schemas::{Channel, EpochMillis, PriceBookEntry, Promotion, PromotionKind};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Zipf};

use crate::calendar::{DAY_MS, HOUR_MS};
use crate::cities;
use crate::config::WorkloadConfig;

/// A product category: it fixes the price range, whether installation is offered and the
/// vendor case pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Category {
    /// Name, as used in SKU descriptions.
    pub name: &'static str,
    /// Relative share of the catalogue.
    pub weight: u32,
    /// Lowest list price in euro cents.
    pub min_price_cents: i64,
    /// Highest list price in euro cents.
    pub max_price_cents: i64,
    /// Whether orders may ask for installation.
    pub installable: bool,
    /// Units per vendor case; POs order whole cases.
    pub case_pack: i32,
}

/// The categories of a general-merchandise retailer.
#[rustfmt::skip]
pub const CATEGORIES: &[Category] = &[
    Category { name: "home", weight: 18, min_price_cents: 499, max_price_cents: 14_999, installable: false, case_pack: 12 },
    Category { name: "kitchen", weight: 14, min_price_cents: 399, max_price_cents: 29_999, installable: false, case_pack: 12 },
    Category { name: "electronics", weight: 12, min_price_cents: 1_999, max_price_cents: 119_999, installable: false, case_pack: 6 },
    Category { name: "appliances", weight: 6, min_price_cents: 14_999, max_price_cents: 179_999, installable: true, case_pack: 1 },
    Category { name: "furniture", weight: 6, min_price_cents: 7_999, max_price_cents: 149_999, installable: true, case_pack: 1 },
    Category { name: "apparel", weight: 16, min_price_cents: 999, max_price_cents: 8_999, installable: false, case_pack: 24 },
    Category { name: "toys", weight: 10, min_price_cents: 799, max_price_cents: 11_999, installable: false, case_pack: 12 },
    Category { name: "garden", weight: 8, min_price_cents: 499, max_price_cents: 39_999, installable: false, case_pack: 6 },
    Category { name: "sports", weight: 10, min_price_cents: 999, max_price_cents: 49_999, installable: false, case_pack: 6 },
];

/// One SKU.
#[derive(Debug, Clone)]
pub struct Sku {
    /// The SKU id used on every topic (`sku-000123`).
    pub id: String,
    /// Index into [`CATEGORIES`].
    pub category: usize,
    /// List price in euro cents (local price lists convert it).
    pub price_cents: i64,
    /// Index of the vendor it is bought from.
    pub vendor: usize,
    /// Popularity rank, 0 = best seller.
    pub rank: u32,
}

impl Sku {
    /// The SKU's category.
    pub fn category(&self) -> &'static Category {
        &CATEGORIES[self.category]
    }
}

/// A supplier.
#[derive(Debug, Clone)]
pub struct Vendor {
    /// Vendor id (`vnd-007`).
    pub id: String,
    /// Days from PO to delivery at the DC.
    pub lead_time_days: f64,
    /// Whether the vendor sends an advance ship notice (VENDOR_ASN) or a plain shipment
    /// against the PO (PO_SHIPMENT).
    pub sends_asn: bool,
    /// Multiplier of the ETA slip rate for this vendor (some vendors are less reliable).
    pub slip_factor: f64,
}

/// A promotion campaign shared by many SKUs.
#[derive(Debug, Clone)]
pub struct Campaign {
    /// Promotion id as orders reference it.
    pub id: String,
    /// How it changes the price.
    pub kind: PromotionKind,
    /// For PERCENT_OFF, basis points; for AMOUNT_OFF euro cents off per unit; for
    /// FIXED_PRICE the share of the list price charged, in basis points.
    pub value: i64,
    /// Start of the campaign.
    pub valid_from: EpochMillis,
    /// End of the campaign.
    pub valid_to: EpochMillis,
}

/// A price list: one per country for every channel, and one per currency for marketplaces.
#[derive(Debug, Clone)]
pub struct PriceList {
    /// Price list id (`pl-FR`, `pl-mkt-EUR`).
    pub id: String,
    /// ISO 4217 currency.
    pub currency: &'static str,
    /// Channels served; empty = all.
    pub channels: Vec<Channel>,
    /// List price per SKU in minor units.
    pub prices: Vec<i64>,
    /// The campaign (index into `Catalogue::campaigns`) per SKU, if the SKU is promoted.
    pub promotions: Vec<Option<u16>>,
}

/// A resolved unit price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnitPrice {
    /// List price per unit.
    pub list_cents: i64,
    /// Discount per unit from the active promotion.
    pub discount_cents: i64,
    /// The active campaign, if any.
    pub campaign: Option<u16>,
}

impl UnitPrice {
    /// Price charged per unit.
    pub fn net_cents(&self) -> i64 {
        self.list_cents - self.discount_cents
    }
}

/// The catalogue, its popularity law and its price lists.
#[derive(Debug, Clone)]
pub struct Catalogue {
    /// Every SKU, by index.
    pub skus: Vec<Sku>,
    /// SKU index by popularity rank.
    pub by_rank: Vec<u32>,
    /// Share of unit demand per rank (sums to 1).
    pub share_by_rank: Vec<f64>,
    /// Installable SKU indices, most popular first.
    pub installable: Vec<u32>,
    /// Vendors.
    pub vendors: Vec<Vendor>,
    /// Promotion campaigns.
    pub campaigns: Vec<Campaign>,
    /// Price lists; the first ones are the per-country lists in the order of
    /// `WorkloadConfig::countries`.
    pub price_lists: Vec<PriceList>,
    /// Per country of the config, index of its own list and of its marketplace list.
    pub list_of_country: Vec<(&'static str, usize, usize)>,
    zipf: Zipf<f64>,
}

impl Catalogue {
    /// Builds the catalogue of `config` (validated) using `rng`.
    pub fn build(config: &WorkloadConfig, rng: &mut ChaCha8Rng) -> Catalogue {
        let n = config.skus as usize;
        let width = (n.to_string().len()).max(6);
        let total_weight: u32 = CATEGORIES.iter().map(|c| c.weight).sum();
        let mut ranks: Vec<u32> = (0..n as u32).collect();
        // Fisher-Yates: the popularity order is unrelated to SKU ids.
        for i in (1..n).rev() {
            let j = rng.random_range(0..=i);
            ranks.swap(i, j);
        }
        let vendors: Vec<Vendor> = (0..config.vendors as usize)
            .map(|k| Vendor {
                id: format!("vnd-{:03}", k + 1),
                lead_time_days: 1.0 + (k % 5) as f64 + rng.random::<f64>(),
                sends_asn: k % 5 != 4,
                slip_factor: 0.5 + 1.5 * rng.random::<f64>(),
            })
            .collect();
        let skus: Vec<Sku> = (0..n)
            .map(|i| {
                let mut x = rng.random_range(0..total_weight);
                let category = CATEGORIES
                    .iter()
                    .position(|c| {
                        if x < c.weight {
                            true
                        } else {
                            x -= c.weight;
                            false
                        }
                    })
                    .expect("weights cover the range");
                let c = &CATEGORIES[category];
                // Log-uniform prices, ending in .99.
                let (lo, hi) = (
                    (c.min_price_cents as f64).ln(),
                    (c.max_price_cents as f64).ln(),
                );
                let raw = (lo + (hi - lo) * rng.random::<f64>()).exp();
                Sku {
                    id: format!("sku-{:0width$}", i + 1),
                    category,
                    price_cents: charm(raw),
                    vendor: rng.random_range(0..vendors.len()),
                    rank: ranks[i],
                }
            })
            .collect();
        let mut by_rank = vec![0u32; n];
        for (i, s) in skus.iter().enumerate() {
            by_rank[s.rank as usize] = i as u32;
        }
        let s = config.zipf_exponent;
        let weights: Vec<f64> = (1..=n).map(|k| (k as f64).powf(-s)).collect();
        let total: f64 = weights.iter().sum();
        let share_by_rank = weights.iter().map(|w| w / total).collect();
        let installable = by_rank
            .iter()
            .copied()
            .filter(|&i| skus[i as usize].category().installable)
            .collect();

        let t0 = config.start_time();
        let campaigns = vec![
            Campaign {
                id: "promo-spring-sale".into(),
                kind: PromotionKind::PercentOff,
                value: 2_000,
                valid_from: t0 - 5 * DAY_MS,
                valid_to: t0 + DAY_MS + 12 * HOUR_MS,
            },
            Campaign {
                id: "promo-weekend-deal".into(),
                kind: PromotionKind::PercentOff,
                value: 1_500,
                valid_from: t0 + 4 * DAY_MS,
                valid_to: t0 + 7 * DAY_MS,
            },
            Campaign {
                id: "promo-5-off".into(),
                kind: PromotionKind::AmountOff,
                value: 500,
                valid_from: t0 - 10 * DAY_MS,
                valid_to: t0 + 20 * DAY_MS,
            },
            Campaign {
                id: "promo-clearance".into(),
                kind: PromotionKind::FixedPrice,
                value: 6_000,
                valid_from: t0 - 20 * DAY_MS,
                valid_to: t0 + 30 * DAY_MS,
            },
            Campaign {
                id: "promo-new-season".into(),
                kind: PromotionKind::PercentOff,
                value: 1_000,
                valid_from: t0 + DAY_MS,
                valid_to: t0 + 15 * DAY_MS,
            },
            Campaign {
                id: "promo-flash".into(),
                kind: PromotionKind::PercentOff,
                value: 3_000,
                valid_from: t0 + DAY_MS + 8 * HOUR_MS,
                valid_to: t0 + DAY_MS + 20 * HOUR_MS,
            },
        ];

        let mut price_lists = Vec::new();
        let mut list_of_country = Vec::new();
        let mut marketplace_lists: Vec<(&'static str, usize)> = Vec::new();
        let promoted = |rng: &mut ChaCha8Rng| -> Vec<Option<u16>> {
            (0..n)
                .map(|_| {
                    rng.random_bool(config.promotion_share)
                        .then(|| rng.random_range(0..campaigns.len()) as u16)
                })
                .collect()
        };
        for code in &config.countries {
            let country = cities::country(code).expect("validated country");
            let id = price_lists.len();
            price_lists.push(PriceList {
                id: format!("pl-{}", country.code),
                currency: country.currency,
                channels: Vec::new(),
                prices: skus
                    .iter()
                    .map(|s| charm(s.price_cents as f64 * country.per_euro))
                    .collect(),
                promotions: promoted(rng),
            });
            let mkt = match marketplace_lists
                .iter()
                .find(|(c, _)| *c == country.currency)
            {
                Some((_, i)) => *i,
                None => {
                    let i = price_lists.len();
                    price_lists.push(PriceList {
                        id: format!("pl-mkt-{}", country.currency),
                        currency: country.currency,
                        channels: vec![Channel::Marketplace],
                        // Marketplace prices carry the platform's commission.
                        prices: skus
                            .iter()
                            .map(|s| charm(s.price_cents as f64 * country.per_euro * 1.08))
                            .collect(),
                        promotions: promoted(rng),
                    });
                    marketplace_lists.push((country.currency, i));
                    i
                }
            };
            list_of_country.push((country.code, id, mkt));
        }

        Catalogue {
            zipf: Zipf::new(n as f64, s).expect("validated exponent and size"),
            skus,
            by_rank,
            share_by_rank,
            installable,
            vendors,
            campaigns,
            price_lists,
            list_of_country,
        }
    }

    /// Draws a SKU index by popularity.
    pub fn sample(&self, rng: &mut ChaCha8Rng) -> usize {
        let rank = self.zipf.sample(rng) as usize;
        self.by_rank[rank.clamp(1, self.by_rank.len()) - 1] as usize
    }

    /// Draws an installable SKU (biased to the popular ones), if the catalogue has any.
    pub fn sample_installable(&self, rng: &mut ChaCha8Rng) -> Option<usize> {
        if self.installable.is_empty() {
            return None;
        }
        for _ in 0..6 {
            let s = self.sample(rng);
            if self.skus[s].category().installable {
                return Some(s);
            }
        }
        let top = self.installable.len().min(20);
        Some(self.installable[rng.random_range(0..top)] as usize)
    }

    /// Share of unit demand of SKU `sku`.
    pub fn demand_share(&self, sku: usize) -> f64 {
        self.share_by_rank[self.skus[sku].rank as usize]
    }

    /// The price list an order of `channel` from `country` uses.
    pub fn list_for(&self, country: &str, channel: Channel) -> usize {
        let (_, own, mkt) = self
            .list_of_country
            .iter()
            .find(|(c, _, _)| *c == country)
            .copied()
            .unwrap_or(self.list_of_country[0]);
        if channel == Channel::Marketplace {
            mkt
        } else {
            own
        }
    }

    /// The unit price of `sku` in list `list` at instant `t`, with the active promotion.
    pub fn price(&self, list: usize, sku: usize, t: EpochMillis) -> UnitPrice {
        let pl = &self.price_lists[list];
        let list_cents = pl.prices[sku];
        let mut price = UnitPrice {
            list_cents,
            discount_cents: 0,
            campaign: None,
        };
        if let Some(c) = pl.promotions[sku] {
            let campaign = &self.campaigns[c as usize];
            if (campaign.valid_from..campaign.valid_to).contains(&t) {
                let p = self.promotion(list, sku, c);
                price.discount_cents = unit_discount(list_cents, p.kind, p.value);
                price.campaign = Some(c);
            }
        }
        price
    }

    /// The promotion record of campaign `c` for `sku` in `list` (values in the list's
    /// currency).
    pub fn promotion(&self, list: usize, sku: usize, c: u16) -> Promotion {
        let pl = &self.price_lists[list];
        let campaign = &self.campaigns[c as usize];
        let list_cents = pl.prices[sku];
        let value = match campaign.kind {
            PromotionKind::PercentOff => campaign.value,
            // An amount off never takes more than a third of the price.
            PromotionKind::AmountOff => {
                let per_euro = list_cents as f64 / self.skus[sku].price_cents.max(1) as f64;
                ((campaign.value as f64 * per_euro).round() as i64).min(list_cents / 3)
            }
            PromotionKind::FixedPrice => {
                charm(list_cents as f64 * campaign.value as f64 / 10_000.0)
            }
        };
        Promotion {
            promotion_id: campaign.id.clone(),
            kind: campaign.kind,
            value,
            valid_from: campaign.valid_from,
            valid_to: campaign.valid_to,
        }
    }

    /// The price book entry of `sku` in `list`.
    pub fn entry(
        &self,
        list: usize,
        sku: usize,
        event_id: String,
        event_time: EpochMillis,
    ) -> PriceBookEntry {
        let pl = &self.price_lists[list];
        PriceBookEntry {
            event_id,
            event_time,
            source: "pim-pricing".to_string(),
            price_list_id: pl.id.clone(),
            sku: self.skus[sku].id.clone(),
            currency: pl.currency.to_string(),
            list_price_cents: pl.prices[sku],
            channels: pl.channels.clone(),
            valid_from: event_time - 30 * DAY_MS,
            valid_to: None,
            promotions: pl.promotions[sku]
                .map(|c| vec![self.promotion(list, sku, c)])
                .unwrap_or_default(),
        }
    }
}

/// Per-unit discount of a promotion on a list price.
pub fn unit_discount(list_cents: i64, kind: PromotionKind, value: i64) -> i64 {
    kind.unit_discount(list_cents, value)
}

/// Rounds a price up to the next whole unit minus one cent (charm pricing: 19.99).
fn charm(cents: f64) -> i64 {
    ((cents / 100.0).ceil() as i64 * 100 - 1).max(99)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn catalogue() -> Catalogue {
        let config = WorkloadConfig::default();
        Catalogue::build(&config, &mut ChaCha8Rng::seed_from_u64(1))
    }

    fn check(list_cents: i64, kind: PromotionKind, value: i64, expected: i64) {
        assert_eq!(
            unit_discount(list_cents, kind, value),
            expected,
            "{kind:?} {value}"
        );
    }

    #[test]
    fn promotions_discount_as_documented() {
        check(1_999, PromotionKind::PercentOff, 1_000, 199);
        check(1_999, PromotionKind::AmountOff, 500, 500);
        check(399, PromotionKind::AmountOff, 500, 399);
        check(1_999, PromotionKind::FixedPrice, 1_499, 500);
    }

    #[test]
    fn prices_end_in_99_and_stay_in_their_category_range() {
        let c = catalogue();
        for s in &c.skus {
            assert_eq!(s.price_cents % 100, 99, "{}", s.id);
            let cat = s.category();
            assert!(
                s.price_cents >= cat.min_price_cents && s.price_cents <= cat.max_price_cents + 100
            );
        }
    }

    #[test]
    fn popularity_follows_zipf() {
        let c = catalogue();
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut counts = vec![0u32; c.skus.len()];
        for _ in 0..100_000 {
            counts[c.sample(&mut rng)] += 1;
        }
        let best = c.by_rank[0] as usize;
        let share = f64::from(counts[best]) / 100_000.0;
        assert!(
            (share - c.share_by_rank[0]).abs() < 0.01,
            "{share} vs {}",
            c.share_by_rank[0]
        );
        let top_1pct: u32 = c.by_rank[..20].iter().map(|&i| counts[i as usize]).sum();
        assert!(top_1pct > 35_000, "top 1% got {top_1pct} of 100000 draws");
    }

    #[test]
    fn a_promotion_applies_only_within_its_window() {
        let c = catalogue();
        let (sku, campaign) = c.price_lists[0]
            .promotions
            .iter()
            .enumerate()
            .find_map(|(i, p)| p.map(|p| (i, p)))
            .expect("some sku is promoted");
        let window = &c.campaigns[campaign as usize];
        let inside = c.price(0, sku, window.valid_from);
        assert_eq!(inside.campaign, Some(campaign));
        assert!(inside.discount_cents > 0 && inside.net_cents() > 0);
        let after = c.price(0, sku, window.valid_to);
        assert_eq!((after.campaign, after.discount_cents), (None, 0));
    }
}
