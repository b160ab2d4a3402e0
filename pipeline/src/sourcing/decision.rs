//! The boundary out: a committed plan as the Avro [`SourcingDecision`].

use allot_schemas::{
    Allocation, CostBreakdown, LineDecision, LineOutcome, Order, RejectedAlternative,
    SourcingDecision,
};

use super::network::Network;
use super::planner::{LinePlan, LineStatus, LossReason, PlanSummary};

/// The decision for `order` from its plan (`summary`, `lines`, one per order line).
/// `event_id` and `source` identify the decision; `price_mismatch` comes from the price
/// check (not part of sourcing).
pub fn to_decision(
    network: &Network,
    order: &Order,
    summary: &PlanSummary,
    lines: &[LinePlan],
    event_id: String,
    source: &str,
    price_mismatch: bool,
) -> SourcingDecision {
    debug_assert_eq!(order.lines.len(), lines.len());
    let decisions = order
        .lines
        .iter()
        .zip(lines)
        .map(|(l, p)| {
            let (outcome, reason) = match p.status {
                LineStatus::Allocated => (LineOutcome::Allocated, None),
                LineStatus::Backordered => (
                    LineOutcome::Backordered,
                    Some(format!(
                        "promised against {:?} supply arriving at {}",
                        p.supply,
                        network.location_name(p.loc)
                    )),
                ),
                LineStatus::Rejected(r) => (LineOutcome::Rejected, Some(r.describe().to_string())),
            };
            let allocations = match p.status {
                LineStatus::Rejected(_) => Vec::new(),
                _ => vec![Allocation {
                    location_id: network.location_name(p.loc).to_string(),
                    quantity: p.qty,
                    supply: p.supply,
                    promised_ship_date: p.ship_ms,
                    promised_delivery_date: p.delivery_ms,
                }],
            };
            LineDecision {
                line_id: l.line_id.clone(),
                sku: l.sku.clone(),
                quantity: l.quantity,
                outcome,
                allocations,
                reason,
            }
        })
        .collect();
    let c = summary.cost;
    let best_alternative = summary.alternative.map(|a| {
        // The chosen plan's locations with the moved line at its alternative.
        let mut locs: Vec<String> = Vec::new();
        for (i, p) in lines.iter().enumerate() {
            let loc = if i == a.line as usize {
                Some(a.loc)
            } else if matches!(p.status, LineStatus::Rejected(_)) {
                None
            } else {
                Some(p.loc)
            };
            if let Some(loc) = loc {
                let name = network.location_name(loc);
                if !locs.iter().any(|l| l == name) {
                    locs.push(name.to_string());
                }
            }
        }
        let line_id = &order.lines[a.line as usize].line_id;
        let at = network.location_name(a.loc);
        let lost_because = match a.reason {
            LossReason::Costlier { delta_cents, part } => {
                format!("line {line_id} from {at} costs {delta_cents} more, mostly {part}")
            }
            LossReason::FillsFewerLines => format!("line {line_id} from {at} fills fewer lines"),
            LossReason::SplitLimit => {
                format!("line {line_id} from {at} would exceed the split limit")
            }
            LossReason::Capacity => format!("{at} has no capacity left for line {line_id}"),
            LossReason::Tie => format!("line {line_id} from {at} costs the same; tie broken"),
        };
        RejectedAlternative {
            location_ids: locs,
            total_cents: a.total_cents,
            lost_because,
        }
    });
    SourcingDecision {
        event_id,
        event_time: order.event_time,
        source: source.to_string(),
        order_id: order.order_id.clone(),
        order_event_id: order.event_id.clone(),
        channel: order.channel,
        lines: decisions,
        cost: CostBreakdown {
            shipping_cents: c.shipping,
            split_penalty_cents: c.split,
            labour_cents: c.labour,
            lateness_cents: c.lateness,
            balancing_cents: c.balancing,
            total_cents: c.total(),
        },
        best_alternative,
        price_mismatch,
    }
}
