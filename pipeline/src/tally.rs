//! [`Tally`]: counts what flowed through the intake — records per topic, orders per channel
//! and fulfilment type, units sold, received and returned, dead letters — for the summary
//! that `allot demo` and `allot replay` print and for tests that check a run end to end.

use std::collections::BTreeMap;
use std::fmt;

use allot_schemas::{
    AnyRecord, Channel, FulfilmentType, OrderEventKind, PosLineKind, ShipmentStatus, Topic,
};

/// Running totals of one run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    /// Records per topic, dead letters included.
    pub records: BTreeMap<Topic, u64>,
    /// Orders per (channel, fulfilment type).
    pub orders: BTreeMap<(Channel, FulfilmentType), u64>,
    /// Order events per kind.
    pub order_events: BTreeMap<OrderEventKind, u64>,
    /// Units sold at store registers.
    pub pos_units_sold: i64,
    /// Units returned at store registers.
    pub pos_units_returned: i64,
    /// Good units received at DCs and stores.
    pub units_received: i64,
    /// Units received damaged.
    pub units_received_damaged: i64,
    /// Shipment ETA changes (slips).
    pub eta_changes: u64,
    /// Units returned through the returns topic.
    pub units_returned: i64,
    /// Earliest and latest event time seen (ms since the epoch).
    pub event_time_range: Option<(i64, i64)>,
}

impl Tally {
    /// Counts one record.
    pub fn apply(&mut self, record: &AnyRecord) {
        *self.records.entry(record.topic()).or_default() += 1;
        let t = record.event_time();
        self.event_time_range = Some(match self.event_time_range {
            None => (t, t),
            Some((lo, hi)) => (lo.min(t), hi.max(t)),
        });
        match record {
            AnyRecord::PosSale(tx) => {
                for line in &tx.lines {
                    match line.kind {
                        PosLineKind::Sale => self.pos_units_sold += i64::from(line.quantity),
                        PosLineKind::Return => self.pos_units_returned += i64::from(line.quantity),
                    }
                }
            }
            AnyRecord::Receipt(r) => {
                for line in &r.lines {
                    self.units_received += i64::from(line.quantity_received);
                    self.units_received_damaged += i64::from(line.quantity_damaged);
                }
            }
            AnyRecord::Shipment(s) if s.status == ShipmentStatus::EtaChanged => {
                self.eta_changes += 1;
            }
            AnyRecord::Order(o) => *self.orders.entry((o.channel, o.fulfilment)).or_default() += 1,
            AnyRecord::OrderEvent(e) => *self.order_events.entry(e.kind).or_default() += 1,
            AnyRecord::Return(r) => {
                self.units_returned += r.lines.iter().map(|l| i64::from(l.quantity)).sum::<i64>();
            }
            _ => {}
        }
    }
}

impl Tally {
    /// Total records counted, dead letters included.
    pub fn total(&self) -> u64 {
        self.records.values().sum()
    }

    /// Records of one topic.
    pub fn count(&self, topic: Topic) -> u64 {
        self.records.get(&topic).copied().unwrap_or(0)
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "  {:<32} {:>12}", "topic", "records")?;
        for (topic, n) in &self.records {
            writeln!(f, "  {:<32} {:>12}", topic.name(), n)?;
        }
        writeln!(f, "  {:<32} {:>12}", "total", self.total())?;
        writeln!(f)?;
        let orders: u64 = self.orders.values().sum();
        if orders > 0 {
            writeln!(f, "  orders by channel and fulfilment")?;
            for ((channel, fulfilment), n) in &self.orders {
                let share = 100.0 * *n as f64 / orders as f64;
                writeln!(
                    f,
                    "    {:<12} {:<20} {:>9} {:>6.1}%",
                    format!("{channel:?}"),
                    format!("{fulfilment:?}"),
                    n,
                    share
                )?;
            }
        }
        if !self.order_events.is_empty() {
            let events: Vec<String> = self
                .order_events
                .iter()
                .map(|(k, n)| format!("{k:?} {n}"))
                .collect();
            writeln!(f, "  order events: {}", events.join(", "))?;
        }
        writeln!(
            f,
            "  store registers: {} units sold, {} returned",
            self.pos_units_sold, self.pos_units_returned
        )?;
        writeln!(
            f,
            "  receipts: {} units received good, {} damaged; {} ETA changes",
            self.units_received, self.units_received_damaged, self.eta_changes
        )?;
        writeln!(f, "  returns: {} units", self.units_returned)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use allot_schemas::{PosLine, PosTransaction};

    fn sale(id: &str, t: i64, lines: &[(PosLineKind, i32)]) -> AnyRecord {
        AnyRecord::PosSale(PosTransaction {
            event_id: id.into(),
            event_time: t,
            source: "pos-s1".into(),
            store_id: "s1".into(),
            register_id: "r1".into(),
            transaction_id: id.into(),
            lines: lines
                .iter()
                .map(|(kind, quantity)| PosLine {
                    sku: "sku-1".into(),
                    quantity: *quantity,
                    kind: *kind,
                    unit_price_cents: 100,
                })
                .collect(),
            currency: "EUR".into(),
        })
    }

    fn check(input: &[AnyRecord], sold: i64, returned: i64, range: Option<(i64, i64)>) {
        let mut tally = Tally::default();
        for r in input {
            tally.apply(r);
        }
        assert_eq!(tally.count(Topic::PosSales), input.len() as u64);
        assert_eq!(
            (
                tally.pos_units_sold,
                tally.pos_units_returned,
                tally.event_time_range
            ),
            (sold, returned, range)
        );
    }

    #[test]
    fn counts_units_by_direction_and_tracks_time_range() {
        check(&[], 0, 0, None);
        check(
            &[sale("a", 5, &[(PosLineKind::Sale, 2)])],
            2,
            0,
            Some((5, 5)),
        );
        check(
            &[
                sale("a", 9, &[(PosLineKind::Sale, 2), (PosLineKind::Return, 1)]),
                sale("b", 3, &[(PosLineKind::Sale, 4)]),
            ],
            6,
            1,
            Some((3, 9)),
        );
    }
}
