//! Sku partitions: which partition owns a sku, and how an input record is split so that each
//! partition gets what its skus need (stage 2 of partitioned state; the intake that will
//! write the parts to co-partitioned topics builds on this).
//!
//! Rules, which [`AvailabilityEngine::with_shard`](crate::availability::AvailabilityEngine::with_shard)
//! completes (an engine of a shard keeps only its own skus, whatever it is given):
//! - records with sku lines (register transactions, receipts, returns, adjustments, order
//!   events that move stock) go to the partitions of their skus, each part with only that
//!   partition's lines, in the original order;
//! - documents (shipments, purchase orders) go to every partition whole: their lines and
//!   status are merged per document, and a line that moves to another sku must leave the
//!   partition it was in;
//! - a receipt against a shipment goes to every partition (it closes the shipment
//!   everywhere), each with its own lines, possibly none;
//! - reference data goes to every partition (it is read whole by every instance);
//! - records without skus (orders, other order events, outputs) go to the partition of their
//!   Kafka key.
//!
//! A record is validated whole before it is split: a bad line refuses the whole record, as
//! one engine would, not only the part that holds it.
//!
//! Invariant (tested below): applying the parts to one engine per shard gives, for every sku,
//! the owning shard the same supply (on hand and dated inbound lines per location) as one
//! engine given every record, and no other shard any position of it.

use allot_schemas::{AnyRecord, OrderEventKind};

/// Kafka's murmur2 (the Java client's `Utils.murmur2`), so a producer that keys a record by
/// sku with the Java client's default partitioner puts it in the partition
/// [`sku_partition`] names.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    let mut h: u32 = SEED ^ (len as u32);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition of `count` that owns `sku`: what Kafka's default partitioner picks for a
/// record keyed by the sku (`(murmur2(key) & 0x7fffffff) % count`).
pub fn sku_partition(sku: &str, count: u32) -> u32 {
    assert!(count > 0, "at least one partition");
    ((murmur2(sku.as_bytes()) & 0x7fff_ffff) as u32) % count
}

/// Splits `record` for `count` sku partitions: `(partition, part)` pairs, at most one per
/// partition, in partition order. A record that does not validate is returned as the
/// reason, for a dead letter at the intake.
pub fn split(record: &AnyRecord, count: u32) -> Result<Vec<(u32, AnyRecord)>, String> {
    crate::availability::validate(record)?;
    let every = |r: &AnyRecord| (0..count).map(|p| (p, r.clone())).collect();
    let by_key = |r: &AnyRecord| vec![(sku_partition(&r.key(), count), r.clone())];
    Ok(match record {
        AnyRecord::PosSale(tx) => by_lines(
            count,
            &tx.lines,
            |l| &l.sku,
            |lines| {
                AnyRecord::PosSale(allot_schemas::PosTransaction {
                    lines,
                    ..tx.clone()
                })
            },
        )
        .unwrap_or_else(|| by_key(record)),
        AnyRecord::Return(r) => by_lines(
            count,
            &r.lines,
            |l| &l.sku,
            |lines| AnyRecord::Return(allot_schemas::ReturnEvent { lines, ..r.clone() }),
        )
        .unwrap_or_else(|| by_key(record)),
        AnyRecord::Receipt(r) => {
            let part = |lines| AnyRecord::Receipt(allot_schemas::Receipt { lines, ..r.clone() });
            if r.shipment_id.is_some() {
                (0..count)
                    .map(|p| {
                        let lines = r
                            .lines
                            .iter()
                            .filter(|l| sku_partition(&l.sku, count) == p)
                            .cloned()
                            .collect();
                        (p, part(lines))
                    })
                    .collect()
            } else {
                by_lines(count, &r.lines, |l| &l.sku, part).unwrap_or_else(|| by_key(record))
            }
        }
        AnyRecord::OrderEvent(e)
            if matches!(e.kind, OrderEventKind::Shipped | OrderEventKind::PickedUp) =>
        {
            by_lines(
                count,
                &e.lines,
                |l| &l.sku,
                |lines| AnyRecord::OrderEvent(allot_schemas::OrderEvent { lines, ..e.clone() }),
            )
            .unwrap_or_else(|| by_key(record))
        }
        AnyRecord::Adjustment(a) => vec![(sku_partition(&a.sku, count), record.clone())],
        AnyRecord::Shipment(_)
        | AnyRecord::PurchaseOrder(_)
        | AnyRecord::Location(_)
        | AnyRecord::SafetyStock(_)
        | AnyRecord::SourcingRule(_)
        | AnyRecord::Price(_) => every(record),
        _ => by_key(record),
    })
}

/// One part per partition that holds any of `lines`, built by `part` from that partition's
/// lines in their order; `None` when there are no lines.
fn by_lines<L: Clone>(
    count: u32,
    lines: &[L],
    sku: impl Fn(&L) -> &String,
    part: impl Fn(Vec<L>) -> AnyRecord,
) -> Option<Vec<(u32, AnyRecord)>> {
    if lines.is_empty() {
        return None;
    }
    let mut per: Vec<Vec<L>> = vec![Vec::new(); count as usize];
    for l in lines {
        per[sku_partition(sku(l), count) as usize].push(l.clone());
    }
    Some(
        per.into_iter()
            .enumerate()
            .filter(|(_, lines)| !lines.is_empty())
            .map(|(p, lines)| (p as u32, part(lines)))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::availability::{AvailabilityConfig, AvailabilityEngine, Shard};
    use allot_loadtest::{Workload, WorkloadConfig};
    use std::collections::BTreeSet;

    #[test]
    fn murmur2_matches_the_java_client() {
        // The cases of Kafka's UtilsTest.testMurmur2.
        for (input, expected) in [
            (&b"21"[..], -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ] {
            assert_eq!(
                murmur2(input),
                expected,
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }

    /// A sku's supply as the engine holds it: (location, sellable on hand, inbound lines as
    /// (kind, due, quantity); the lines' document ids are interned per engine, so left out).
    fn supply(engine: &AvailabilityEngine, sku: &str) -> Vec<(String, i32, String)> {
        let mut out = Vec::new();
        engine.visit_supply(sku, |loc, on_hand, inbound| {
            let lines: Vec<_> = inbound.iter().map(|i| (i.kind, i.due, i.qty)).collect();
            out.push((loc.to_owned(), on_hand, format!("{lines:?}")));
        });
        out.sort();
        out
    }

    #[test]
    fn split_parts_applied_per_shard_hold_what_one_engine_holds() {
        for (seed, count) in [(1, 1), (2, 2), (3, 3), (4, 5), (5, 8)] {
            let workload = WorkloadConfig {
                seed,
                days: 3,
                stores: 6,
                skus: 120,
                ..WorkloadConfig::default()
            };
            let records: Vec<AnyRecord> = Workload::new(workload).expect("workload").collect();
            let config = AvailabilityConfig::default();
            let mut whole = AvailabilityEngine::new(config.clone());
            let mut shards: Vec<AvailabilityEngine> = (0..count)
                .map(|partition| {
                    AvailabilityEngine::with_shard(config.clone(), Some(Shard { partition, count }))
                })
                .collect();
            let mut skus = BTreeSet::new();
            let (mut parts, mut documents) = (0usize, 0usize);
            for r in &records {
                whole.apply(r);
                let split = split(r, count).expect("the workload validates");
                assert!(
                    split.windows(2).all(|w| w[0].0 < w[1].0),
                    "one part per partition, in order"
                );
                documents += usize::from(matches!(
                    r,
                    AnyRecord::Shipment(_) | AnyRecord::PurchaseOrder(_)
                ));
                for (p, part) in split {
                    parts += 1;
                    shards[p as usize].apply(&part);
                }
                for_each_sku(r, |s| {
                    skus.insert(s.to_owned());
                });
            }
            assert!(
                documents > 0 && skus.len() > 50,
                "a workload with documents"
            );
            for sku in &skus {
                let owner = sku_partition(sku, count);
                for (p, shard) in shards.iter().enumerate() {
                    let got = supply(shard, sku);
                    if p as u32 == owner {
                        assert_eq!(
                            got,
                            supply(&whole, sku),
                            "seed {seed}, {count} shards, {sku}"
                        );
                    } else {
                        assert!(got.is_empty(), "{sku} held by shard {p}, not its owner");
                    }
                }
            }
            let held: usize = shards.iter().map(AvailabilityEngine::positions).sum();
            assert_eq!(held, whole.positions(), "seed {seed}, {count} shards");
            eprintln!(
                "seed {seed}: {} records → {parts} parts over {count} shards, {} skus",
                records.len(),
                skus.len()
            );
        }
    }

    #[test]
    fn a_shard_restores_from_its_own_changelog_and_refuses_another_shards() {
        let records: Vec<AnyRecord> = Workload::new(WorkloadConfig {
            days: 2,
            stores: 4,
            skus: 60,
            ..WorkloadConfig::default()
        })
        .expect("workload")
        .collect();
        let config = AvailabilityConfig::default();
        let shard = |partition| {
            Some(Shard {
                partition,
                count: 3,
            })
        };
        let mut writer = AvailabilityEngine::with_shard(config.clone(), shard(1));
        let mut skus = BTreeSet::new();
        for r in &records {
            for (p, part) in split(r, 3).expect("validates") {
                if p == 1 {
                    writer.apply(&part);
                }
            }
            for_each_sku(r, |s| {
                skus.insert(s.to_owned());
            });
        }
        let mut batch = crate::availability::ChangelogBatch::default();
        writer.changelog_all(&mut batch);
        let mut restored = AvailabilityEngine::with_shard(config.clone(), shard(1));
        for (key, value) in batch.iter() {
            restored
                .restore(key, value)
                .expect("its own changelog restores");
        }
        restored.restore_finish();
        assert!(writer.positions() > 0);
        assert_eq!(restored.positions(), writer.positions());
        for sku in &skus {
            assert_eq!(supply(&restored, sku), supply(&writer, sku), "{sku}");
        }
        // Another partition's engine, or an unsharded one, refuses it (the meta record's
        // fingerprint names the shard).
        for other in [shard(2), None] {
            let mut wrong = AvailabilityEngine::with_shard(config.clone(), other);
            let refused = batch
                .iter()
                .any(|(key, value)| wrong.restore(key, value).is_err());
            assert!(refused, "{other:?} took shard 1's changelog");
        }
    }

    #[test]
    fn a_bad_line_refuses_the_whole_record() {
        let records: Vec<AnyRecord> = Workload::new(WorkloadConfig {
            days: 1,
            stores: 2,
            skus: 40,
            ..WorkloadConfig::default()
        })
        .expect("workload")
        .collect();
        let mut tx = records
            .iter()
            .find_map(|r| match r {
                AnyRecord::PosSale(tx) if tx.lines.len() > 1 => Some(tx.clone()),
                _ => None,
            })
            .expect("a basket of several lines");
        tx.lines[1].quantity = -1;
        let err = split(&AnyRecord::PosSale(tx), 4).unwrap_err();
        assert!(err.contains("line 1"), "{err}");
    }

    /// Calls `f` with every sku a record names.
    fn for_each_sku(r: &AnyRecord, mut f: impl FnMut(&str)) {
        match r {
            AnyRecord::PosSale(tx) => tx.lines.iter().for_each(|l| f(&l.sku)),
            AnyRecord::Receipt(x) => x.lines.iter().for_each(|l| f(&l.sku)),
            AnyRecord::Shipment(x) => x.lines.iter().for_each(|l| f(&l.sku)),
            AnyRecord::PurchaseOrder(x) => x.lines.iter().for_each(|l| f(&l.sku)),
            AnyRecord::Return(x) => x.lines.iter().for_each(|l| f(&l.sku)),
            AnyRecord::Adjustment(a) => f(&a.sku),
            AnyRecord::OrderEvent(e) => e.lines.iter().for_each(|l| f(&l.sku)),
            _ => {}
        }
    }
}
