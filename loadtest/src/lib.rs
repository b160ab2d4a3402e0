//! allot's load test: a deterministic retail workload generator and the drivers that push
//! its events into a sink at a target rate.
//!
//! - [`WorkloadConfig`] says what to simulate (network size, catalogue, demand, error
//!   rates); the same seed and config always give the same stream.
//! - [`Workload`] is an [`Iterator`] of [`allot_schemas::AnyRecord`] in non-decreasing event
//!   time: reference data first, then a simulated retail network at work (register sales,
//!   replenishment transfers, vendor POs and ASNs, receipts, counts, orders from every
//!   channel with their cancellations, shipments, pickups and returns).
//! - [`sink::EventSink`] is where records go; [`driver::drive`] paces the writes and reports.
//! - [`e2e`] measures allot itself through a real broker: throughput against a raw
//!   passthrough and event-to-availability latency (`allot-loadtest e2e`).
//!
//! The network is placed in real cities ([`cities`]), demand follows weekly and daily curves
//! ([`curves`]) in local time ([`calendar`]), SKU popularity follows a Zipf law
//! ([`catalogue`]), and an internal stock book ([`book`]) keeps sales, counts and
//! replenishment consistent with each other.

pub mod book;
pub mod calendar;
pub mod catalogue;
pub mod cities;
pub mod config;
pub mod curves;
pub mod driver;
pub mod e2e;
pub mod network;
pub mod sink;
pub mod workload;

pub use config::WorkloadConfig;
pub use workload::{BadKind, Workload, WorkloadStats};
