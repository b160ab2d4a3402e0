//! All of allot's I/O, one module per system: [`kafka`] (topic admin, a Confluent-framed Avro
//! sink and source), [`files`] (Avro object container files and JSON lines, one file per topic,
//! merged in event-time order for replay), [`clickhouse`] (DDL and a batched, idempotent sink)
//! and [`http`] (the `/metrics` and `/health` endpoints).
//!
//! Cross-cutting pieces live at the top: [`ErrorAction`] (what the runtime does with a failure),
//! [`metrics::ConnectorMetrics`] (every Prometheus metric the connectors promise) and
//! [`dead_letter`] (how a record that cannot be decoded becomes a `DeadLetter`; nothing is
//! dropped silently).
//!
//! With the cargo feature `integration`, [`testkit`] starts the real services through
//! `deploy/local/<svc>.sh` and hands out unique names, for the integration tests in `tests/`.

pub mod clickhouse;
pub mod dead_letter;
pub mod files;
pub mod http;
pub mod kafka;
pub mod metrics;
#[cfg(any(test, feature = "integration"))]
pub mod samples;
#[cfg(feature = "integration")]
pub mod testkit;

pub use dead_letter::{DeadLetterError, DeadLetterWriter, DeadLetters, Origin};
pub use metrics::ConnectorMetrics;

/// What the runtime should do with a failed operation. Every connector error says which one
/// through an `action()` method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorAction {
    /// A passing fault (broker or server unreachable, timeout): try the same operation again,
    /// with backoff.
    Retry,
    /// The record itself is bad (cannot be decoded or validated): write it to the dead-letter
    /// destination and carry on with the next one.
    DeadLetter,
    /// Retrying cannot help (bad configuration, a bug, a refused schema): stop and report.
    Stop,
}
