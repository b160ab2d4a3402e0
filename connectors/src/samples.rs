//! Sample records of every topic, generated from the topic's Avro schema (so a new field or
//! topic needs no change here): deterministic for a seed, with multi-byte text, empty and
//! non-empty arrays, both arms of every union, and event times in 2024-2025.
//!
//! Compiled for unit tests and with the `integration` feature (the integration tests and
//! other crates' tests use it).

use std::collections::HashMap;

use allot_schemas::{AnyRecord, EpochMillis, Record, RecordBuilder, Topic, codec};
use apache_avro::Schema;
use apache_avro::schema::{Name, ResolvedSchema};
use apache_avro::types::Value;

/// 2024-01-01T00:00:00Z.
const EPOCH_2024_MS: EpochMillis = 1_704_067_200_000;
const YEAR_MS: i64 = 365 * 24 * 3600 * 1000;

/// A record of `topic` built from `seed`. Equal seeds give equal records.
pub fn sample(topic: Topic, seed: u64) -> AnyRecord {
    sample_with(topic, seed, None)
}

/// Like [`sample`], with the envelope's `event_time` set to `event_time`.
pub fn sample_at(topic: Topic, seed: u64, event_time: EpochMillis) -> AnyRecord {
    sample_with(topic, seed, Some(event_time))
}

/// `n` records of `topic`, seeds `seed..seed + n`.
pub fn samples(topic: Topic, seed: u64, n: usize) -> Vec<AnyRecord> {
    (0..n as u64).map(|i| sample(topic, seed + i)).collect()
}

/// A typed record of `R`'s topic.
pub fn sample_of<R: Record>(seed: u64) -> R {
    let value = sample_value(R::TOPIC, seed, None);
    apache_avro::from_value(&value).expect("a generated value fits the type")
}

fn sample_with(topic: Topic, seed: u64, event_time: Option<EpochMillis>) -> AnyRecord {
    let value = sample_value(topic, seed, event_time);
    struct FromValue(Value);
    impl RecordBuilder for FromValue {
        type Error = apache_avro::Error;
        fn build<R: Record>(self) -> Result<R, apache_avro::Error> {
            apache_avro::from_value(&self.0)
        }
    }
    AnyRecord::build(topic, FromValue(value))
        .unwrap_or_else(|e| panic!("generated {topic} value does not fit its type: {e}"))
}

/// A generated `apache_avro::Value` of `topic`'s schema.
fn sample_value(topic: Topic, seed: u64, event_time: Option<EpochMillis>) -> Value {
    let schema = codec::schema(topic);
    let resolved = ResolvedSchema::try_from(schema).expect("committed schemas resolve");
    let mut g = Generator {
        rng: Rng::new(seed ^ (topic as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        names: resolved.get_names(),
        depth: 0,
    };
    let mut value = g.value(schema, None);
    if let (Some(t), Value::Record(fields)) = (event_time, &mut value) {
        for (name, v) in fields.iter_mut() {
            if name == "event_time" {
                *v = Value::TimestampMillis(t);
            }
        }
    }
    value
}

struct Generator<'s> {
    rng: Rng,
    names: &'s HashMap<Name, &'s Schema>,
    depth: usize,
}

const WORDS: &[&str] = &[
    "sku-0001",
    "store-0042",
    "dc-01",
    "Zürich",
    "café crème",
    "東京店",
    "o'brien \"quoted\"",
    "",
    "x",
    "line\nbreak",
];

impl Generator<'_> {
    fn value(&mut self, schema: &Schema, field: Option<&str>) -> Value {
        match schema {
            Schema::Null => Value::Null,
            Schema::Boolean => Value::Boolean(self.rng.below(2) == 1),
            Schema::Int => Value::Int(self.rng.below(2001) as i32 - 1000),
            Schema::Long => Value::Long(self.rng.below(2_000_001) as i64 - 1_000_000),
            Schema::Float => Value::Float(self.rng.below(10_000) as f32 / 8.0),
            Schema::Double => Value::Double((self.rng.below(2_000_000) as f64 - 1e6) / 64.0),
            Schema::Bytes => {
                let n = self.rng.below(12) as usize;
                Value::Bytes((0..n).map(|_| self.rng.below(256) as u8).collect())
            }
            Schema::String => Value::String(self.string(field)),
            Schema::TimestampMillis => {
                Value::TimestampMillis(EPOCH_2024_MS + self.rng.below(2 * YEAR_MS as u64) as i64)
            }
            Schema::Date => Value::Date(19_723 + self.rng.below(730) as i32),
            Schema::Array(a) => {
                // deep arrays stay short so records stay small
                let max = if self.depth > 1 { 2 } else { 4 };
                let n = self.rng.below(max) as usize;
                let n = if field.is_some_and(|f| f == "lines") {
                    n.max(1)
                } else {
                    n
                };
                self.depth += 1;
                let items = (0..n).map(|_| self.value(&a.items, None)).collect();
                self.depth -= 1;
                Value::Array(items)
            }
            Schema::Map(m) => {
                let n = self.rng.below(3) as usize;
                self.depth += 1;
                let entries = (0..n)
                    .map(|i| (format!("k{i}"), self.value(&m.types, None)))
                    .collect();
                self.depth -= 1;
                Value::Map(entries)
            }
            Schema::Union(u) => {
                let i = self.rng.below(u.variants().len() as u64) as usize;
                let inner = self.value(&u.variants()[i], field);
                Value::Union(i as u32, Box::new(inner))
            }
            Schema::Record(r) => {
                self.depth += 1;
                let fields = r
                    .fields
                    .iter()
                    .map(|f| (f.name.clone(), self.value(&f.schema, Some(&f.name))))
                    .collect();
                self.depth -= 1;
                Value::Record(fields)
            }
            Schema::Enum(e) => {
                let i = self.rng.below(e.symbols.len() as u64) as usize;
                Value::Enum(i as u32, e.symbols[i].clone())
            }
            Schema::Ref { name } => {
                let target = *self
                    .names
                    .get(name)
                    .unwrap_or_else(|| panic!("unresolved schema reference {name:?}"));
                self.value(target, field)
            }
            other => panic!("the sample generator does not know the Avro type {other:?}"),
        }
    }

    fn string(&mut self, field: Option<&str>) -> String {
        let word = WORDS[self.rng.below(WORDS.len() as u64) as usize];
        let n = self.rng.below(100_000);
        match field {
            Some("currency") => ["EUR", "USD", "CHF"][(n % 3) as usize].to_owned(),
            Some(f) if f.ends_with("_id") || f == "sku" => format!("{f}-{n}"),
            _ => format!("{word}{n}"),
        }
    }
}

/// xorshift64*: small, deterministic, good enough for test data.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use allot_schemas::RecordVisitor;

    struct RoundTrip;
    impl RecordVisitor for RoundTrip {
        type Output = ();
        fn visit<R: Record>(self, record: &R) {
            let mut bytes = Vec::new();
            codec::encode(record, &mut bytes).unwrap();
            assert_eq!(&codec::decode::<R>(&bytes).unwrap(), record);
        }
    }

    #[test]
    fn every_topic_samples_are_valid_deterministic_and_varied() {
        for topic in Topic::ALL {
            let a = sample(topic, 7);
            assert_eq!(a.topic(), topic);
            assert_eq!(a, sample(topic, 7), "{topic} is not deterministic");
            assert_ne!(a, sample(topic, 8), "{topic} does not vary with the seed");
            for r in samples(topic, 100, 20) {
                r.visit(RoundTrip);
            }
        }
    }

    #[test]
    fn sample_at_sets_the_event_time() {
        for topic in Topic::ALL {
            assert_eq!(sample_at(topic, 1, 1_234).event_time(), 1_234);
        }
    }
}
