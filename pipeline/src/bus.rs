//! The in-memory bus: the embedded stand-in for Kafka's *transport* in one process.
//!
//! It keeps Kafka's contract that the processors rely on — records are Confluent-framed
//! bytes, assigned to a partition by key hash, and numbered by a per-partition offset, so
//! per-key order holds — and adds backpressure through bounded channels. It is not used in
//! integration tests in place of Kafka; those run against the real broker.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use allot_schemas::Topic;
use tokio::sync::mpsc;

/// One record on the bus, as a consumer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusMessage {
    /// The topic it was sent to.
    pub topic: Topic,
    /// The partition its key hashes to.
    pub partition: u32,
    /// Its position in that partition, from 0.
    pub offset: u64,
    /// The record key.
    pub key: Vec<u8>,
    /// The Confluent-framed Avro value.
    pub payload: Vec<u8>,
}

/// The sending side of the bus.
#[derive(Debug)]
pub struct BusProducer {
    partitions: u32,
    next_offset: HashMap<(Topic, u32), u64>,
    tx: mpsc::Sender<BusMessage>,
}

/// The receiving side of the bus: every topic's messages, in send order.
#[derive(Debug)]
pub struct BusConsumer {
    rx: mpsc::Receiver<BusMessage>,
}

/// The consumer went away; nothing more can be sent.
#[derive(Debug, thiserror::Error)]
#[error("the in-memory bus is closed: its consumer stopped")]
pub struct BusClosed;

/// Creates a bus with `partitions` partitions per topic that buffers up to `capacity`
/// messages before `send` waits.
pub fn bus(partitions: u32, capacity: usize) -> (BusProducer, BusConsumer) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    (
        BusProducer {
            partitions: partitions.max(1),
            next_offset: HashMap::new(),
            tx,
        },
        BusConsumer { rx },
    )
}

/// The partition a key is assigned to (stable for the life of the process).
pub fn partition_for(key: &[u8], partitions: u32) -> u32 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    (h.finish() % u64::from(partitions.max(1))) as u32
}

impl BusProducer {
    /// Sends one message; waits while the bus is full.
    pub async fn send(
        &mut self,
        topic: Topic,
        key: Vec<u8>,
        payload: Vec<u8>,
    ) -> Result<(), BusClosed> {
        let partition = partition_for(&key, self.partitions);
        let next = self.next_offset.entry((topic, partition)).or_insert(0);
        let offset = *next;
        *next += 1;
        self.tx
            .send(BusMessage {
                topic,
                partition,
                offset,
                key,
                payload,
            })
            .await
            .map_err(|_| BusClosed)
    }
}

impl BusConsumer {
    /// The next message, or `None` once every producer is gone and the bus is drained.
    pub async fn recv(&mut self) -> Option<BusMessage> {
        self.rx.recv().await
    }

    /// Up to `max` messages appended to `out`; waits only for the first. Returns how many.
    pub async fn recv_many(&mut self, out: &mut Vec<BusMessage>, max: usize) -> usize {
        self.rx.recv_many(out, max).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn offsets_count_per_topic_partition_and_keys_keep_their_partition() {
        let (mut p, mut c) = bus(4, 16);
        for i in 0..8u8 {
            p.send(Topic::Orders, vec![i % 2], vec![i]).await.unwrap();
        }
        p.send(Topic::Receipts, vec![0], vec![99]).await.unwrap();
        drop(p);
        let mut seen = Vec::new();
        while let Some(m) = c.recv().await {
            seen.push(m);
        }
        assert_eq!(seen.len(), 9);
        let even: Vec<u64> = seen
            .iter()
            .filter(|m| m.topic == Topic::Orders && m.key == [0])
            .map(|m| m.offset)
            .collect();
        let odd: Vec<u64> = seen
            .iter()
            .filter(|m| m.topic == Topic::Orders && m.key == [1])
            .map(|m| m.offset)
            .collect();
        let same_partition = partition_for(&[0], 4) == partition_for(&[1], 4);
        if same_partition {
            assert_eq!(even, vec![0, 2, 4, 6]);
            assert_eq!(odd, vec![1, 3, 5, 7]);
        } else {
            assert_eq!(even, vec![0, 1, 2, 3]);
            assert_eq!(odd, vec![0, 1, 2, 3]);
        }
        let receipt = seen.iter().find(|m| m.topic == Topic::Receipts).unwrap();
        assert_eq!(receipt.offset, 0, "offsets are per topic");
        assert_eq!(receipt.partition, partition_for(&[0], 4));
    }

    #[tokio::test]
    async fn send_after_consumer_dropped_is_an_error() {
        let (mut p, c) = bus(1, 1);
        drop(c);
        assert!(p.send(Topic::Orders, vec![], vec![]).await.is_err());
    }
}
