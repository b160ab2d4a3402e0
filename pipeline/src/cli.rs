//! The command line of the `allot` binary: argument parsing (clap) and one function per
//! subcommand. Each subcommand loads the layered configuration (defaults < `--config` file
//! < `ALLOT__SECTION__KEY` environment variables), then applies its flags on top.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::config::{AllotConfig, default_config_path};
use crate::runtime;

/// allot — a real-time inventory and sourcing engine for retailers.
///
/// allot reads POS sales, receipts, shipments, purchase orders, adjustments, orders and
/// returns, keeps what can be promised where, and publishes availability, sourcing
/// decisions and supply disruptions. The same processors run in one process over an
/// in-memory bus (`demo`), over files (`replay`) and over Kafka (`run`).
#[derive(Debug, Parser)]
#[command(name = "allot", version, propagate_version = true)]
pub struct Cli {
    /// TOML configuration file; defaults to $ALLOT_CONFIG, then ./allot.toml if present.
    /// Any key can also be set as ALLOT__SECTION__KEY (e.g. ALLOT__RUNTIME__PARTITIONS=4).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// More log output (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the built-in retail workload through the processors on the in-memory bus and print
    /// a summary. Needs nothing but this binary.
    Demo(DemoArgs),
    /// Process the input topics on Kafka (consume, decode, dead-letter bad records, process)
    /// until interrupted (Ctrl-C / SIGTERM) or --max-records.
    Run(RunArgs),
    /// Partitioned state: split the input topics' records by sku into the co-partitioned
    /// `bysku.` topics that `allot run` reads when runtime.sku_partitions is set (run one
    /// or more beside the `allot run` instances, with the same config).
    Intake(RunArgs),
    /// Partitioned state with sourcing on: decide the orders (orders and order-events, one
    /// partition each) against the supply the `allot run` shards feed, and feed the units
    /// reserved back to them (same config; one instance decides, more are standbys).
    Source(RunArgs),
    /// Process a directory of recorded topics (Avro container files or JSON lines, as
    /// written by `allot generate --out avro:DIR`) in event-time order and print a summary.
    Replay(ReplayArgs),
    /// Generate the built-in workload to Kafka or to files.
    Generate(GenerateArgs),
    /// List the topics allot reads and writes: name, key, retention, schema.
    Topics(TopicsArgs),
    /// Print the effective configuration (defaults, file and environment merged) as TOML.
    Config,
}

/// Workload-shaping flags shared by `demo` and `generate`; unset flags keep the config's values.
#[derive(Debug, Args)]
pub struct WorkloadArgs {
    /// Random seed; the same seed gives the same events.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Simulated days of trading.
    #[arg(long)]
    pub days: Option<u32>,
    /// Number of stores in the network.
    #[arg(long)]
    pub stores: Option<u32>,
    /// Number of SKUs in the catalogue.
    #[arg(long)]
    pub skus: Option<u32>,
}

/// Flags of `allot demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub workload: WorkloadArgs,
    /// Serve /metrics and /health here while the demo runs (e.g. 127.0.0.1:9464).
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// Flags of `allot run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Kafka bootstrap servers (overrides kafka.bootstrap_servers).
    #[arg(
        long,
        env = "KAFKA_BOOTSTRAP",
        hide_env_values = true,
        value_name = "HOST:PORT"
    )]
    pub bootstrap: Option<String>,
    /// Consumer group id (overrides kafka.group_id).
    #[arg(long)]
    pub group: Option<String>,
    /// Serve /metrics and /health here (e.g. 127.0.0.1:9464).
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Stop after this many input records (for tests and benchmarks).
    #[arg(long)]
    pub max_records: Option<u64>,
    /// Stop after this many milliseconds without any input record.
    #[arg(long, value_name = "MS")]
    pub idle_exit_ms: Option<u64>,
}

impl RunArgs {
    /// Puts the flags into `config`; returns the limits they set.
    fn apply(self, config: &mut AllotConfig) -> runtime::RunLimits {
        if let Some(b) = self.bootstrap {
            config.kafka.bootstrap_servers = b;
        }
        if let Some(g) = self.group {
            config.kafka.group_id = g;
        }
        if self.metrics_addr.is_some() {
            config.http.listen_addr = self.metrics_addr;
        }
        runtime::RunLimits {
            max_records: self.max_records,
            idle_exit_ms: self.idle_exit_ms,
        }
    }
}

/// Flags of `allot replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Directory holding one file per topic (<topic>.avro or <topic>.jsonl).
    pub dir: PathBuf,
    /// Write the availability stream, the dead letters and a final snapshot
    /// (availability-snapshot.jsonl) to this directory, in the input's format.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// Flags of `allot generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub workload: WorkloadArgs,
    /// Where to write: `count` (generate and count only), `stdout` (JSON lines),
    /// `avro:DIR` (one Avro container file per topic), `jsonl:DIR` (one JSON-lines file per
    /// topic), `kafka` (the input topics on kafka.bootstrap_servers) or `kafka:SERVERS`.
    #[arg(long, default_value = "count")]
    pub out: String,
    /// Target events per second; 0 writes as fast as possible.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// Flags of `allot topics`.
#[derive(Debug, Args)]
pub struct TopicsArgs {
    /// Also create the topics on Kafka (kafka.bootstrap_servers) with this many partitions.
    #[arg(long, value_name = "PARTITIONS")]
    pub create: Option<i32>,
}

/// Sets up `tracing` to stderr; `RUST_LOG` wins over `-v`.
pub fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

impl WorkloadArgs {
    fn apply(&self, config: &mut AllotConfig) {
        let w = &mut config.workload;
        if let Some(v) = self.seed {
            w.seed = v;
        }
        if let Some(v) = self.days {
            w.days = v;
        }
        if let Some(v) = self.stores {
            w.stores = v;
        }
        if let Some(v) = self.skus {
            w.skus = v;
        }
    }
}

/// Runs one parsed command line.
pub fn execute(cli: Cli) -> anyhow::Result<()> {
    let file = cli.config.clone().or_else(default_config_path);
    let mut config = AllotConfig::load(file.as_deref())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    match cli.command {
        Command::Demo(args) => {
            args.workload.apply(&mut config);
            if args.metrics_addr.is_some() {
                config.http.listen_addr = args.metrics_addr;
            }
            if args.quiet {
                config.runtime.progress = false;
            }
            config.validate()?;
            let report = rt.block_on(runtime::demo(&config))?;
            out(&format!("{report}\n"))?;
            Ok(())
        }
        Command::Run(args) => {
            let limits = args.apply(&mut config);
            let report = rt.block_on(runtime::run_kafka(&config, limits));
            // A consumer close that librdkafka cannot finish (see `CloseWatch`) is left on
            // its blocking thread: do not wait for it at exit.
            rt.shutdown_timeout(std::time::Duration::from_secs(1));
            out(&format!("{}\n", report?))?;
            Ok(())
        }
        Command::Intake(args) => {
            let limits = args.apply(&mut config);
            let report = rt.block_on(runtime::run_intake(&config, limits));
            rt.shutdown_timeout(std::time::Duration::from_secs(1));
            out(&format!("{}\n", report?))?;
            Ok(())
        }
        Command::Source(args) => {
            let limits = args.apply(&mut config);
            let report = rt.block_on(runtime::run_source(&config, limits));
            rt.shutdown_timeout(std::time::Duration::from_secs(1));
            out(&format!("{}\n", report?))?;
            Ok(())
        }
        Command::Replay(args) => {
            if args.quiet {
                config.runtime.progress = false;
            }
            let report = rt.block_on(runtime::replay(&config, &args.dir, args.out.as_deref()))?;
            out(&format!("{report}\n"))?;
            Ok(())
        }
        Command::Generate(args) => {
            args.workload.apply(&mut config);
            if args.quiet {
                config.runtime.progress = false;
            }
            rt.block_on(runtime::generate(&config, &args.out, args.rate))
        }
        Command::Topics(args) => {
            out(&runtime::topics_table())?;
            if let Some(partitions) = args.create {
                rt.block_on(runtime::create_topics(&config, partitions))?;
                println!(
                    "created (or found) every topic on {}",
                    config.kafka.bootstrap_servers
                );
            }
            Ok(())
        }
        Command::Config => {
            out(&config.to_toml())?;
            Ok(())
        }
    }
}

/// Writes to stdout; a closed pipe (`allot topics | head`) ends quietly instead of panicking.
fn out(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    match std::io::stdout().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
