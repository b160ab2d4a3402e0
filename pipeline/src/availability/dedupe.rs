//! [`Dedupe`]: remembers the event ids applied inside the lateness window, so a replayed or
//! duplicated event changes nothing.
//!
//! Ids are kept as 128-bit xxh3 hashes (collisions are out of reach at any realistic volume:
//! the chance is about n²/2¹²⁹), in arrival order so the oldest can be forgotten once the
//! window has passed them.

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

/// The 128-bit hash of an event id.
pub fn id_hash(event_id: &str) -> u128 {
    xxhash_rust::xxh3::xxh3_128(event_id.as_bytes())
}

/// The set of applied event ids inside the window.
#[derive(Debug, Default)]
pub struct Dedupe {
    seen: HashSet<u128, BuildHasherDefault<PassThrough>>,
    order: VecDeque<(i64, u128)>,
    /// How many ids were ever evicted: `order[i]` is the id inserted `evicted + i`-th, which
    /// is how the changelog names runs of ids.
    evicted: u64,
}

impl Dedupe {
    /// Records `id` seen at event time `time`; returns false if it was already there.
    pub fn insert(&mut self, id: u128, time: i64) -> bool {
        if !self.seen.insert(id) {
            return false;
        }
        self.order.push_back((time, id));
        true
    }

    /// Forgets ids of events at or before `cutoff` (the engine refuses such events anyway).
    pub fn evict(&mut self, cutoff: i64) {
        while let Some((time, id)) = self.order.front().copied() {
            if time > cutoff {
                break;
            }
            self.order.pop_front();
            self.seen.remove(&id);
            self.evicted += 1;
        }
        // After a burst has left the window, give the memory back.
        if self.seen.capacity() > 4 * self.seen.len().max(1024) {
            self.seen.shrink_to_fit();
            self.order.shrink_to_fit();
        }
    }

    /// Makes room for `n` more ids (a restore knows how many come).
    pub fn reserve(&mut self, n: usize) {
        self.seen.reserve(n);
        self.order.reserve(n);
    }

    /// How many ids are remembered.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// How many ids were ever evicted (the index of the oldest one remembered).
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Starts an empty window's numbering at `evicted` (a restore: the ids inserted next
    /// get the indexes the writer gave them).
    pub fn start_at(&mut self, evicted: u64) {
        debug_assert!(self.order.is_empty(), "start_at on a window with ids");
        self.evicted = evicted;
    }

    /// How many ids were ever inserted (the index the next one gets).
    pub fn inserted(&self) -> u64 {
        self.evicted + self.order.len() as u64
    }

    /// `(event time, id)` of the ids inserted `start`-th to `end`-th (exclusive) that are
    /// still remembered, in insertion order.
    pub fn range(&self, start: u64, end: u64) -> impl Iterator<Item = (i64, u128)> + '_ {
        let from = start.saturating_sub(self.evicted) as usize;
        let to = end.saturating_sub(self.evicted) as usize;
        self.order
            .range(from.min(self.order.len())..to.min(self.order.len()))
            .copied()
    }
}

/// The keys are already uniform hashes: use their low bits as they are.
#[derive(Debug, Default)]
pub struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(b);
        }
    }
    fn write_u128(&mut self, i: u128) {
        self.0 = i as u64 ^ (i >> 64) as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_inside_the_window_are_caught_and_old_ids_forgotten() {
        let mut d = Dedupe::default();
        assert!(d.insert(id_hash("a"), 1));
        assert!(d.insert(id_hash("b"), 5));
        assert!(!d.insert(id_hash("a"), 9));
        d.evict(1);
        assert_eq!(d.len(), 1);
        assert!(d.insert(id_hash("a"), 9), "forgotten after the window");
        assert_ne!(id_hash("a"), id_hash("b"));
    }
}
