//! allot's stateful processors and the runtime that drives them over the in-memory bus,
//! files or Kafka. The `allot` binary (`src/main.rs`) is a thin shell over [`cli`].

pub mod availability;
pub mod bus;
pub mod cli;
pub mod config;
pub mod metrics;
pub mod runtime;
pub mod sourcing;
pub mod tally;
pub mod view;
