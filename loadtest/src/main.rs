//! `allot-loadtest`: generates the deterministic retail workload and writes it to stdout,
//! a data set directory, Kafka, or nowhere (to measure the generator), at a target rate.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use allot_connectors::kafka::KafkaConfig;
use allot_loadtest::driver::{DriveOptions, RunSummary, Target, drive_to};
use allot_loadtest::e2e::E2eOptions;
use allot_loadtest::{Workload, WorkloadConfig};
use anyhow::Context;
use clap::{Args, Parser, Subcommand};

/// Deterministic retail workload generator for allot.
///
/// Simulates a retail network (DCs, stores and dark stores in real cities) and emits its
/// events in event-time order: reference data, register sales, transfers, purchase orders,
/// receipts, counts, orders from every channel and what happens to them. The same seed and
/// config always give the same stream.
///
/// Config layers: built-in defaults < --config file < ALLOT__WORKLOAD__<KEY> environment
/// variables < the flags below.
#[derive(Debug, Parser)]
#[command(name = "allot-loadtest", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate the workload and write it to a sink, then print a summary.
    Generate(GenerateArgs),
    /// Print the effective workload config (after every layer) as JSON.
    Config(WorkloadArgs),
    /// Print the simulated network: every location with its city and capabilities.
    Network(WorkloadArgs),
    /// Measure allot end to end through Kafka: throughput against a raw passthrough, and
    /// event-to-availability latency at half that load.
    ///
    /// Phases: load the workload twice (untimed); copy it with a raw consume → produce
    /// passthrough; read it with `allot run`; then send paced events stamped with the wall
    /// clock through the raw passthrough (the baseline) and through allot once per
    /// --coalesce-ms value, reading the outputs back to measure latency.
    ///
    /// Needs a broker (`deploy/local/kafka.sh start`) and the allot binary (`cargo build
    /// --release -p allot-pipeline`). Unless flags, a config file or variables say otherwise,
    /// the workload is one busy day: --days 1 --stores 100 --baskets-per-store-per-day 2500
    /// --orders-per-day 40000, about 420,000 records, to keep a run short (--days 5 gives
    /// 1.7M).
    /// Every topic and group the run creates is deleted at the end unless --keep-topics.
    E2e(E2eArgs),
}

/// The workload knobs that have flags; every other key comes from the file or environment.
#[derive(Debug, Args)]
struct WorkloadArgs {
    /// A TOML file with workload keys, at the top level or under `[workload]`.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Seed of the generator; also part of every id.
    #[arg(long)]
    seed: Option<u64>,
    /// Simulated days.
    #[arg(long)]
    days: Option<u32>,
    /// First simulated day, YYYY-MM-DD (UTC midnight).
    #[arg(long, value_name = "DATE")]
    start_date: Option<String>,
    /// Comma-separated ISO country codes the network spans (e.g. FR,DE,NL).
    #[arg(long, value_delimiter = ',', value_name = "CODES")]
    countries: Option<Vec<String>>,
    /// Distribution centres.
    #[arg(long)]
    dcs: Option<u32>,
    /// Stores.
    #[arg(long)]
    stores: Option<u32>,
    /// Dark stores (same-day sites).
    #[arg(long)]
    dark_stores: Option<u32>,
    /// SKUs in the catalogue.
    #[arg(long)]
    skus: Option<u32>,
    /// Orders per day over all channels.
    #[arg(long)]
    orders_per_day: Option<f64>,
    /// Register transactions per average store per day.
    #[arg(long)]
    baskets_per_store_per_day: Option<f64>,
    /// Probability per record of also emitting an invalid-but-decodable record.
    #[arg(long, value_name = "P")]
    bad_record_rate: Option<f64>,
}

impl WorkloadArgs {
    fn load(&self) -> anyhow::Result<WorkloadConfig> {
        let mut c = WorkloadConfig::load(self.config.as_deref())?;
        macro_rules! set {
            ($($field:ident => $target:ident),*) => {
                $(if let Some(v) = &self.$field { c.$target = v.clone(); })*
            };
        }
        set!(seed => seed, days => days, start_date => start_date, countries => countries,
             dcs => dcs, stores => stores, dark_stores => dark_stores, skus => skus,
             orders_per_day => orders_per_day,
             baskets_per_store_per_day => pos_baskets_per_store_per_day,
             bad_record_rate => bad_record_rate);
        c.validate()?;
        Ok(c)
    }
}

#[derive(Debug, Args)]
struct GenerateArgs {
    #[command(flatten)]
    workload: WorkloadArgs,
    /// Target records per second; 0 writes as fast as the sink takes them.
    #[arg(long, default_value_t = 0.0, value_name = "R")]
    rate: f64,
    /// Where records go:
    /// `count` (discard, count only),
    /// `stdout` (JSON lines {"topic","key","value"}),
    /// `jsonl:DIR` or `avro:DIR` (a data set: one file per topic, replayable by `allot`),
    /// `kafka:HOST:PORT[,HOST:PORT...]` (Confluent-framed Avro; creates missing topics).
    #[arg(
        long,
        default_value = "count",
        value_name = "SINK",
        verbatim_doc_comment
    )]
    out: String,
    /// Stop after this many records.
    #[arg(long, value_name = "N")]
    limit: Option<u64>,
    /// With `--out count`, Avro-encode every record to report bytes per topic.
    #[arg(long)]
    measure_bytes: bool,
    /// With `--out kafka:...`, prefix of every topic name.
    #[arg(long, default_value = "", value_name = "PREFIX")]
    topic_prefix: String,
    /// With `--out kafka:...`, most deliveries awaited at once.
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    max_in_flight: usize,
    /// Write the summary as JSON to this file as well.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// No progress bar and no summary table (the report file is still written).
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Debug, Args)]
struct E2eArgs {
    #[command(flatten)]
    workload: WorkloadArgs,
    /// Kafka brokers, host:port[,host:port...].
    #[arg(long, default_value = "127.0.0.1:9092", value_name = "SERVERS")]
    bootstrap: String,
    /// Partitions of every topic the run creates.
    #[arg(long, default_value_t = 4, value_name = "N")]
    partitions: i32,
    /// The allot binary to measure.
    #[arg(long, default_value = "target/release/allot", value_name = "PATH")]
    allot_bin: PathBuf,
    /// `allot run --idle-exit-ms` of the throughput phase (subtracted from its elapsed time).
    #[arg(long, default_value_t = 2_000, value_name = "MS")]
    idle_exit_ms: u64,
    /// Seconds of paced trading events in each latency phase.
    #[arg(long, default_value_t = 20.0, value_name = "S")]
    latency_secs: f64,
    /// Events per second in the latency phases [default: half allot's measured rate].
    #[arg(long, value_name = "R")]
    latency_rate: Option<f64>,
    /// allot's availability_coalesce_ms in the latency phases, comma-separated; one phase
    /// per value.
    #[arg(long, value_delimiter = ',', default_value = "50,5", value_name = "MS")]
    coalesce_ms: Vec<u64>,
    /// The longest any one phase may take, in seconds.
    #[arg(long, default_value_t = 600, value_name = "S")]
    phase_timeout_secs: u64,
    /// Where the JSON report is written.
    #[arg(long, default_value = "target/e2e-report.json", value_name = "FILE")]
    report: PathBuf,
    /// Serve allot's /metrics on a free local port in the latency phases and report its own
    /// publish latency (also turns on allot's HTTP availability view: a little extra work).
    #[arg(long)]
    allot_metrics: bool,
    /// After the throughput phase, read the same records again once per commit interval
    /// given here (ms, comma-separated, e.g. 100,1000): with `allot run` at least once, then
    /// exactly once (Kafka transactions), and report the second's throughput as a ratio to
    /// the first's.
    #[arg(long, value_delimiter = ',', value_name = "MS")]
    exactly_once_ms: Vec<u64>,
    /// Leave the run's topics and consumer groups on the broker.
    #[arg(long)]
    keep_topics: bool,
    /// No progress lines and no summary table (the report file is still written).
    #[arg(long, short)]
    quiet: bool,
}

/// The e2e workload where nothing else sets it: one busy day of a larger network.
fn e2e_workload(args: &WorkloadArgs) -> anyhow::Result<WorkloadConfig> {
    let mut c = args.load()?;
    let d = WorkloadConfig::default();
    if args.days.is_none() && c.days == d.days {
        c.days = 1;
    }
    if args.stores.is_none() && c.stores == d.stores {
        c.stores = 100;
    }
    if args.baskets_per_store_per_day.is_none()
        && c.pos_baskets_per_store_per_day == d.pos_baskets_per_store_per_day
    {
        c.pos_baskets_per_store_per_day = 2_500.0;
    }
    if args.orders_per_day.is_none() && c.orders_per_day == d.orders_per_day {
        c.orders_per_day = 40_000.0;
    }
    c.validate()?;
    Ok(c)
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Config(args) => print_config(&args),
        Command::Network(args) => args.load().and_then(|c| print_network(&c)),
        Command::Generate(args) => generate(args).await,
        Command::E2e(args) => e2e(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`| head`): that is how a pipeline ends, not a failure.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn print_config(args: &WorkloadArgs) -> anyhow::Result<()> {
    let config = args.load()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", serde_json::to_string_pretty(&config)?)?;
    Ok(())
}

fn print_network(config: &WorkloadConfig) -> anyhow::Result<()> {
    let workload = Workload::new(config.clone())?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<11} {:<10} {:<28} {:<14} {:<3} {:>9} {:>10}  capabilities / groups",
        "id", "kind", "name", "city", "cc", "latitude", "longitude"
    )?;
    for s in &workload.network().sites {
        let city = allot_loadtest::cities::CITIES[s.city];
        let capabilities: Vec<String> = s
            .capabilities
            .iter()
            .map(|c| serde_json::to_string(c).map(|j| j.trim_matches('"').to_string()))
            .collect::<Result<_, _>>()?;
        writeln!(
            out,
            "{:<11} {:<10} {:<28} {:<14} {:<3} {:>9.4} {:>10.4}  {} / {}",
            s.id,
            serde_json::to_string(&s.kind)?.trim_matches('"'),
            s.name,
            city.name,
            city.country,
            s.lat,
            s.lon,
            capabilities.join(","),
            s.groups.join(",")
        )?;
    }
    Ok(())
}

async fn generate(args: GenerateArgs) -> anyhow::Result<()> {
    let config = args.workload.load()?;
    let mut workload = Workload::new(config)?;
    let options = DriveOptions {
        rate: (args.rate > 0.0).then_some(args.rate),
        limit: args.limit,
        progress: !args.quiet,
    };
    let kafka = KafkaConfig {
        client_id: "allot-loadtest".to_string(),
        topic_prefix: args.topic_prefix.clone(),
        ..KafkaConfig::default()
    };
    let target = Target::parse(&args.out, &kafka, args.measure_bytes)?;
    let summary = drive_to(&mut workload, &target, &options, args.max_in_flight).await?;
    if !args.quiet {
        eprint!("{}", summary.table());
    }
    if let Some(path) = &args.report {
        write_report(path, &summary)?;
    }
    Ok(())
}

fn write_report(path: &std::path::Path, summary: &RunSummary) -> anyhow::Result<()> {
    let mut json = serde_json::to_value(summary)?;
    json["records_per_sec"] = serde_json::json!(summary.rate());
    std::fs::write(path, serde_json::to_string_pretty(&json)? + "\n")
        .with_context(|| format!("failed to write the report {}", path.display()))
}

async fn e2e(args: E2eArgs) -> anyhow::Result<()> {
    let workload = e2e_workload(&args.workload)?;
    let options = E2eOptions {
        bootstrap: args.bootstrap,
        partitions: args.partitions,
        workload,
        allot_bin: args.allot_bin,
        idle_exit_ms: args.idle_exit_ms,
        latency_secs: args.latency_secs,
        latency_rate: args.latency_rate,
        coalesce_ms: args.coalesce_ms,
        exactly_once_ms: args.exactly_once_ms,
        allot_metrics: args.allot_metrics,
        keep_topics: args.keep_topics,
        progress: !args.quiet,
        phase_timeout: std::time::Duration::from_secs(args.phase_timeout_secs),
    };
    let report = allot_loadtest::e2e::run(&options).await?;
    if let Some(dir) = args.report.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("failed to create {}", dir.display()))?;
    }
    std::fs::write(&args.report, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("failed to write the report {}", args.report.display()))?;
    if !args.quiet {
        eprintln!();
        eprint!("{}", report.table());
        eprintln!("report: {}", args.report.display());
    }
    Ok(())
}
