//! allot's contracts: the Avro schema of every topic, the Rust type of each, and the codecs
//! that turn one into the other (plain Avro and the Confluent wire format).
//!
//! The `.avsc` files under `schemas/avro/<topic>/v<N>.avsc` are the source of truth; the types
//! in [`types`] mirror them field for field.

pub mod any;
pub mod codec;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod topic;
pub mod types;

pub use any::{AnyRecord, RecordBuilder, RecordVisitor};
pub use codec::{CodecError, ConfluentCodec, SchemaResolver, StaticResolver};
pub use topic::{Direction, Record, Retention, Topic};
pub use types::*;
