//! Parallel batches: plan every order of a batch with rayon against a read-only state,
//! then admit in order index order to the ledger (the check and the totals; the
//! reservations are then recorded per shard in parallel). An order refused in admission
//! is re-planned at once, on the admitting thread, against the ledger with the round's
//! admissions on top ([`Overlay`]), and admitted again. An order refused even then waits
//! for the next round; after `parallel_rounds` rounds the orders still refused are planned
//! and committed one at a time against the live ledger, where a plan always fits. So no
//! order is rejected for contention alone, and the result depends only on the batch and
//! the state (not on the thread count or timing).

use std::ops::Range;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::ledger::{Admitted, HoldRequest, Ledger, Overlay, RoundDelta, ShipmentRequest};
use super::network::Network;
use super::planner::{LinePlan, Method, PlanSummary, Planner, Scratch};
use super::request::OrderRequest;
use super::supply::SupplyView;

/// How batches are planned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// Parallel plan-then-commit rounds before the remaining refused orders are planned
    /// one at a time.
    pub parallel_rounds: u32,
    /// Orders per rayon task, at most (a small segment is cut finer). Small tasks leave
    /// less idle time where a segment's planning meets the previous segment's admission.
    /// A segment holds at least 8 tasks.
    pub chunk: usize,
    /// Segments per round: the admission of one overlaps the planning of the next.
    pub segments: usize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            parallel_rounds: 3,
            chunk: 16,
            segments: 8,
        }
    }
}

/// The committed outcome of one order of a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderOutcome {
    /// The plan's cost, objective, alternative.
    pub summary: PlanSummary,
    /// Its lines in [`BatchResult::lines`], one per order line.
    pub lines: Range<u32>,
    /// Times the order was planned (1 = its first plan was confirmed).
    pub attempts: u32,
}

/// The outcomes of a batch, in order index order.
#[derive(Debug, Default)]
pub struct BatchResult {
    /// One per order of the batch, in its order.
    pub orders: Vec<OrderOutcome>,
    /// Every order's lines.
    pub lines: Vec<LinePlan>,
}

impl BatchResult {
    /// The lines of order `i`.
    pub fn lines_of(&self, i: usize) -> &[LinePlan] {
        let r = &self.orders[i].lines;
        &self.lines[r.start as usize..r.end as usize]
    }

    /// Keeps a committed order's `lines`; its outcome refers to them.
    fn decide(&mut self, summary: PlanSummary, lines: &[LinePlan], attempts: u32) -> OrderOutcome {
        let start = self.lines.len();
        self.lines.extend_from_slice(lines);
        OrderOutcome {
            summary,
            lines: range(start, self.lines.len()),
            attempts,
        }
    }
}

/// One planned order of a rayon task: its index and its ranges in the task's buffers.
#[derive(Debug)]
struct Planned {
    index: u32,
    summary: PlanSummary,
    lines: Range<u32>,
    holds: Range<u32>,
    shipments: Range<u32>,
}

/// Plans of one rayon task, flat.
#[derive(Debug, Default)]
struct ChunkPlans {
    orders: Vec<Planned>,
    lines: Vec<LinePlan>,
    holds: Vec<HoldRequest>,
    shipments: Vec<ShipmentRequest>,
}

fn range(start: usize, end: usize) -> Range<u32> {
    start as u32..end as u32
}

/// The segment index of the orders re-planned during admission.
const AGAIN: u32 = u32::MAX;

/// Splits a round's `pending` orders into `count` segments of equal length (at least
/// `min`), the last of which is cut in halves down to `min`: the admission of the last
/// segment has no planning left to overlap, so it runs alone on one thread, and a short
/// last segment keeps that serial part short.
fn split_segments(pending: &[u32], count: usize, min: usize) -> Vec<&[u32]> {
    let equal = pending.len().div_ceil(count.max(1)).max(min);
    let mut out = Vec::new();
    let mut rest = pending;
    while !rest.is_empty() {
        let len = if rest.len() > equal {
            equal
        } else if rest.len() > 2 * min {
            rest.len() / 2
        } else {
            rest.len()
        };
        let (segment, tail) = rest.split_at(len);
        out.push(segment);
        rest = tail;
    }
    out
}

/// Sources `orders` against `supply` and `ledger` (in the current rayon pool), writing one
/// outcome per order into `result` (cleared first). Every line gets exactly one outcome;
/// the ledger confirms every hold and capacity it records.
pub fn source_batch<S: SupplyView + Sync>(
    network: &Network,
    supply: &S,
    ledger: &mut Ledger,
    orders: &[OrderRequest],
    method: Method,
    config: &BatchConfig,
    result: &mut BatchResult,
) {
    result.lines.clear();
    let mut outcomes: Vec<Option<OrderOutcome>> = vec![None; orders.len()];
    let mut attempts = vec![0u32; orders.len()];
    let mut pending: Vec<u32> = (0..orders.len() as u32).collect();
    let mut delta = RoundDelta::default();
    // For the orders planned on this thread: re-planned in admission, or one at a time.
    let mut scratch = Scratch::default();
    for _ in 0..config.parallel_rounds {
        if pending.is_empty() {
            break;
        }
        let planner = Planner {
            network,
            supply,
            ledger: &*ledger,
        };
        // A small segment is cut finer, so that every thread gets a share of it.
        let threads = rayon::current_num_threads();
        let plan = |ids: &[u32]| -> Vec<ChunkPlans> {
            let chunk = config.chunk.min(ids.len().div_ceil(4 * threads)).max(1);
            ids.par_chunks(chunk)
                .map_init(Scratch::default, |scratch, ids| {
                    let mut out = ChunkPlans::default();
                    for &i in ids {
                        let summary = planner.plan(&orders[i as usize], method, scratch);
                        let l = out.lines.len();
                        out.lines.extend_from_slice(&scratch.lines);
                        let h = out.holds.len();
                        out.holds.extend_from_slice(&scratch.holds);
                        let s = out.shipments.len();
                        out.shipments.extend_from_slice(&scratch.shipments);
                        out.orders.push(Planned {
                            index: i,
                            summary,
                            lines: range(l, out.lines.len()),
                            holds: range(h, out.holds.len()),
                            shipments: range(s, out.shipments.len()),
                        });
                    }
                    out
                })
                .collect()
        };
        // The ledger is only read during a round: every plan sees the state the round
        // started from, and admissions go to `delta`. So the admission of one segment (in
        // order, on one thread) overlaps the planning of the next (on the others).
        let segments = split_segments(&pending, config.segments, 8 * config.chunk.max(1));
        let mut planned: Vec<Vec<ChunkPlans>> = Vec::with_capacity(segments.len());
        // The plans of orders re-planned during admission.
        let mut again = ChunkPlans::default();
        // (segment, chunk, order) of each admitted order, in admission order; segment
        // `AGAIN` is `again`.
        let mut admitted: Vec<(u32, u32, u32)> = Vec::with_capacity(pending.len());
        let mut refused = Vec::new();
        let mut next = plan(segments[0]);
        for s in 0..segments.len() {
            let current = std::mem::take(&mut next);
            let mut admit = || {
                for (c, chunk) in current.iter().enumerate() {
                    for (k, p) in chunk.orders.iter().enumerate() {
                        let i = p.index as usize;
                        attempts[i] += 1;
                        let holds = &chunk.holds[p.holds.start as usize..p.holds.end as usize];
                        let ships =
                            &chunk.shipments[p.shipments.start as usize..p.shipments.end as usize];
                        let order = &orders[i];
                        if ledger
                            .admit(&mut delta, network, supply, order.today(), holds, ships)
                            .is_ok()
                        {
                            admitted.push((s as u32, c as u32, k as u32));
                            outcomes[i] = Some(result.decide(
                                p.summary,
                                &chunk.lines[p.lines.start as usize..p.lines.end as usize],
                                attempts[i],
                            ));
                            continue;
                        }
                        // Refused: an order admitted before it took what the plan counted
                        // on. Re-plan it at once, here, against the ledger with the
                        // round's admissions on top; the new plan sees every order
                        // admitted before it, so it fits. (The check still decides: an
                        // order refused again waits for the next round.)
                        attempts[i] += 1;
                        let skus = order.lines.iter().map(|l| l.sku);
                        let summary = Planner {
                            network,
                            supply,
                            ledger: &Overlay::new(ledger, &delta, supply, skus),
                        }
                        .plan(order, method, &mut scratch);
                        if ledger
                            .admit(
                                &mut delta,
                                network,
                                supply,
                                order.today(),
                                &scratch.holds,
                                &scratch.shipments,
                            )
                            .is_ok()
                        {
                            let (l, h, sh) =
                                (again.lines.len(), again.holds.len(), again.shipments.len());
                            again.lines.extend_from_slice(&scratch.lines);
                            again.holds.extend_from_slice(&scratch.holds);
                            again.shipments.extend_from_slice(&scratch.shipments);
                            admitted.push((AGAIN, 0, again.orders.len() as u32));
                            again.orders.push(Planned {
                                index: p.index,
                                summary,
                                lines: range(l, again.lines.len()),
                                holds: range(h, again.holds.len()),
                                shipments: range(sh, again.shipments.len()),
                            });
                            outcomes[i] = Some(result.decide(summary, &scratch.lines, attempts[i]));
                        } else {
                            refused.push(p.index);
                        }
                    }
                }
            };
            next = match segments.get(s + 1) {
                Some(ids) => rayon::join(|| plan(ids), admit).0,
                None => {
                    admit();
                    Vec::new()
                }
            };
            planned.push(current);
        }
        let admitted: Vec<Admitted<'_>> = admitted
            .iter()
            .map(|&(s, c, k)| {
                let chunk = match s {
                    AGAIN => &again,
                    s => &planned[s as usize][c as usize],
                };
                let p = &chunk.orders[k as usize];
                Admitted {
                    order: orders[p.index as usize].key,
                    holds: &chunk.holds[p.holds.start as usize..p.holds.end as usize],
                    shipments: &chunk.shipments
                        [p.shipments.start as usize..p.shipments.end as usize],
                }
            })
            .collect();
        ledger.merge(&mut delta, &admitted);
        pending = refused;
    }
    // The rest, one at a time against the live ledger: the plan sees every commit before
    // it, so it fits.
    for i in pending {
        let order = &orders[i as usize];
        attempts[i as usize] += 1;
        let summary = Planner {
            network,
            supply,
            ledger: &*ledger,
        }
        .plan(order, method, &mut scratch);
        ledger
            .commit(
                network,
                supply,
                order.today(),
                order.key,
                &scratch.holds,
                &scratch.shipments,
            )
            .expect("a plan made against the live ledger fits it");
        outcomes[i as usize] = Some(result.decide(summary, &scratch.lines, attempts[i as usize]));
    }
    result.orders.clear();
    result.orders.extend(
        outcomes
            .into_iter()
            .map(|o| o.expect("every order has an outcome")),
    );
}

#[cfg(test)]
mod tests {
    use super::split_segments;

    fn check(pending: u32, count: usize, min: usize, expected: &[usize]) {
        let ids: Vec<u32> = (0..pending).collect();
        let lens: Vec<usize> = split_segments(&ids, count, min)
            .iter()
            .map(|s| s.len())
            .collect();
        assert_eq!(
            lens, expected,
            "{pending} orders, {count} segments, min {min}"
        );
    }

    #[test]
    fn the_last_segment_is_cut_in_halves() {
        check(0, 8, 128, &[]);
        check(100, 8, 128, &[100]);
        check(300, 8, 128, &[128, 128, 44]);
        check(
            20_000,
            8,
            128,
            &[
                2500, 2500, 2500, 2500, 2500, 2500, 2500, 1250, 625, 312, 156, 157,
            ],
        );
        check(40, 1, 6, &[20, 10, 10]);
    }
}
