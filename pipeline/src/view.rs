//! [`AvailabilityView`]: the latest published availability per sku, shared with the HTTP
//! endpoint so storefronts that are not on Kafka read exactly what the topic carries.
//! Written by the pipeline after each flush, read concurrently by request handlers
//! (a sharded map: readers never wait for the whole view).

use allot_connectors::http::AvailabilityLookup;
use allot_schemas::Availability;
use dashmap::DashMap;

/// Latest published availability per sku.
#[derive(Debug, Default)]
pub struct AvailabilityView {
    latest: DashMap<String, Availability>,
}

impl AvailabilityView {
    /// Records published messages (a newer version replaces an older one).
    pub fn publish(&self, batch: &[Availability]) {
        for a in batch {
            let newer = self
                .latest
                .get(&a.sku)
                .is_none_or(|old| old.version < a.version);
            if newer {
                self.latest.insert(a.sku.clone(), a.clone());
            }
        }
    }

    /// Skus in the view.
    pub fn len(&self) -> usize {
        self.latest.len()
    }

    /// Whether nothing was published yet.
    pub fn is_empty(&self) -> bool {
        self.latest.is_empty()
    }
}

impl AvailabilityLookup for AvailabilityView {
    fn get(&self, sku: &str) -> Option<Availability> {
        self.latest.get(sku).map(|a| a.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(sku: &str, version: i64) -> Availability {
        Availability {
            event_id: format!("{sku}/{version}"),
            event_time: 0,
            source: "t".into(),
            sku: sku.into(),
            version,
            channels: vec![],
        }
    }

    #[test]
    fn keeps_the_newest_version_per_sku() {
        let v = AvailabilityView::default();
        v.publish(&[a("x", 2), a("y", 1)]);
        v.publish(&[a("x", 1)]);
        assert_eq!(v.get("x").unwrap().version, 2);
        v.publish(&[a("x", 5)]);
        assert_eq!(v.get("x").unwrap().version, 5);
        assert_eq!(v.len(), 2);
        assert!(v.get("z").is_none());
    }
}
