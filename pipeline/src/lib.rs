//! allot's stateful processors and the runtime that drives them over the in-memory bus,
//! files or Kafka. The `allot` binary (`src/main.rs`) is a thin shell over [`cli`].

pub mod availability;
pub mod bus;
pub mod cli;
pub mod config;
pub mod feed;
pub mod metrics;
pub mod partition;
pub mod runtime;
pub mod snapshot;
pub mod sourcing;
pub mod tally;
pub mod view;

/// mimalloc for everything that links the pipeline (the `allot` binary, its tests, benches
/// and examples): the apply path allocates and frees small blocks per record (positions'
/// pending deltas, inbound lines, dedupe growth), where glibc's malloc spent a fifth of
/// the time in `perf` (consolidation and unlinking).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
