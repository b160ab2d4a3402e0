//! The `allot` configuration: one serde struct per component, defaults in code, layered as
//! defaults < config file (TOML) < `ALLOT__SECTION__KEY` environment variables.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Everything `allot` can be configured with. Print the effective value with
/// `allot config`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AllotConfig {
    /// The runtime shared by every mode.
    pub runtime: RuntimeConfig,
    /// How available-to-promise is computed and published.
    pub availability: crate::availability::AvailabilityConfig,
    /// How orders are sourced and reserved.
    pub sourcing: crate::sourcing::SourcingSettings,
    /// The HTTP server for `/metrics` and `/health`.
    pub http: HttpConfig,
    /// The built-in workload generator used by `allot demo`.
    pub workload: allot_loadtest::WorkloadConfig,
    /// Kafka, for `allot run`.
    pub kafka: allot_connectors::kafka::KafkaConfig,
}

/// How the runtime moves records between stages and publishes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// Names this instance in the `source` of what it writes (dead letters, availability).
    pub instance_name: String,
    /// The longest a change waits before its availability is published: changes inside this
    /// window are coalesced into one message per sku.
    pub availability_coalesce_ms: u64,
    /// Partitions per topic on the in-memory bus; records are assigned by key hash, as Kafka
    /// would, so per-key order is kept.
    pub partitions: u32,
    /// Records buffered between the producer and the processors before the producer waits
    /// (backpressure).
    pub channel_capacity: usize,
    /// Show a progress bar on long runs (off automatically when stderr is not a terminal).
    pub progress: bool,
    /// How `allot run` commits: `at_least_once` (outputs are published as soon as they are
    /// flushed and input offsets committed after the brokers acknowledge them; after a crash
    /// some outputs appear twice) or `exactly_once` (outputs and input offsets commit in one
    /// Kafka transaction every `commit_interval_ms`; read_committed consumers see each
    /// output once, but only at the commit, so latency grows by up to the interval).
    pub processing: Processing,
    /// With `exactly_once`: how often the transaction commits.
    pub commit_interval_ms: u64,
    /// `allot run` writes the availability engine's changed state to the compacted topic
    /// `allot.changelog.availability` with every flush (in the same transaction as the
    /// outputs with `exactly_once`), and restores it from there at start, so a restarted
    /// instance carries on from its last commit.
    pub changelog: bool,
    /// A folder of this instance's own for local snapshots of its state (with `changelog`
    /// on): every `snapshot_interval_ms` and at a graceful stop, the whole state and the
    /// changelog offsets it covers go to `<state_dir>/<changelog topic>.snap`; a start
    /// restores the snapshot and reads the changelog only from those offsets on. Only a
    /// cache: a missing, damaged or stale snapshot means a full read of the changelog.
    /// Unset: no snapshots.
    pub state_dir: Option<PathBuf>,
    /// How often a snapshot is written (the loop pauses while the state is copied: about
    /// 0.2 s per million positions); 0: only at a graceful stop.
    pub snapshot_interval_ms: u64,
    /// Partitioned state: 0 (the default) keeps one engine per instance over the input
    /// topics as they are. N > 0: `allot intake` splits every input record by sku into the
    /// co-partitioned topics `<kafka.topic_prefix>bysku.<topic>` (N partitions each; part
    /// `p` holds the lines of the skus of partition `p`), and `allot run` reads those as a
    /// consumer group, one engine per assigned partition, each restored from partition `p`
    /// of the changelog (N partitions) and its own snapshot when assigned. N is fixed for
    /// the life of the topics: changing it means new topics and a rebuild. Needs the
    /// changelog. With sourcing on, `allot source` decides the orders (an order's skus
    /// span partitions): it sources against the supply the shards feed it and feeds the
    /// units it reserves back to them (`allot.changelog.supply`, `allot.changelog.reserved`).
    pub sku_partitions: u32,
}

/// See [`RuntimeConfig::processing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Processing {
    /// Publish at once; commit input offsets once their outputs are acknowledged.
    AtLeastOnce,
    /// Kafka transactions: outputs and input offsets together, every commit interval. The
    /// transactional id is `<kafka.group_id>-<runtime.instance_name>`, so each instance
    /// needs a name of its own, kept across restarts (a restart fences its former self).
    ExactlyOnce,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            instance_name: "allot".into(),
            availability_coalesce_ms: 50,
            partitions: 8,
            channel_capacity: 8192,
            progress: true,
            processing: Processing::AtLeastOnce,
            commit_interval_ms: 100,
            changelog: true,
            state_dir: None,
            snapshot_interval_ms: 300_000,
            sku_partitions: 0,
        }
    }
}

/// Where the metrics and health endpoints listen.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Listen address of `/metrics` and `/health` (e.g. `127.0.0.1:9464`); unset disables
    /// the server.
    pub listen_addr: Option<SocketAddr>,
}

/// A configuration that cannot be used, with what to change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file or an environment variable could not be parsed into the config.
    #[error("failed to load the configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    /// A cross-field rule failed.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl AllotConfig {
    /// Loads defaults, then `file` (if given), then `ALLOT__SECTION__KEY` environment
    /// variables (for example `ALLOT__RUNTIME__PARTITIONS=4`), then validates.
    pub fn load(file: Option<&Path>) -> Result<AllotConfig, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(AllotConfig::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError::Invalid(format!(
                    "config file {} does not exist; pass an existing TOML file or drop --config",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file(file));
        }
        figment = figment.merge(Env::prefixed("ALLOT__").split("__"));
        let config: AllotConfig = figment.extract().map_err(Box::new)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the rules that span fields; the message says what to change.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.runtime.partitions == 0 {
            return Err(ConfigError::Invalid(
                "runtime.partitions is 0; set it to 1 or more (ALLOT__RUNTIME__PARTITIONS)".into(),
            ));
        }
        self.availability.validate().map_err(ConfigError::Invalid)?;
        self.sourcing.validate().map_err(ConfigError::Invalid)?;
        self.kafka.validate().map_err(ConfigError::Invalid)?;
        if self.runtime.processing == Processing::ExactlyOnce
            && self.runtime.commit_interval_ms == 0
        {
            return Err(ConfigError::Invalid(
                "runtime.commit_interval_ms is 0; exactly_once needs an interval (100 ms is \
                 Kafka Streams' default; 1000 trades latency for throughput)"
                    .into(),
            ));
        }
        if self.runtime.state_dir.is_some() && !self.runtime.changelog {
            return Err(ConfigError::Invalid(
                "runtime.state_dir is set but runtime.changelog is off; snapshots are a cache \
                 of the changelog: turn the changelog on or unset state_dir"
                    .into(),
            ));
        }
        if self.runtime.sku_partitions > 0 && !self.runtime.changelog {
            return Err(ConfigError::Invalid(
                "runtime.sku_partitions is set but runtime.changelog is off; a partition that \
                 moves to another instance is restored from the changelog: turn it on"
                    .into(),
            ));
        }
        if self.runtime.channel_capacity == 0 {
            return Err(ConfigError::Invalid(
                "runtime.channel_capacity is 0; set it to 1 or more".into(),
            ));
        }
        Ok(())
    }

    /// The effective configuration as TOML (for `allot config`).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

/// Where the config file is looked for when `--config` is not given: `ALLOT_CONFIG`, then
/// `./allot.toml` if it exists.
pub fn default_config_path() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("ALLOT_CONFIG") {
        return Some(PathBuf::from(p));
    }
    let local = PathBuf::from("allot.toml");
    local.exists().then_some(local)
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's Jail API returns figment::Error.
mod tests {
    use super::*;

    #[test]
    fn layers_defaults_file_then_env() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "allot.toml",
                "[runtime]\npartitions = 3\nchannel_capacity = 10\n",
            )?;
            jail.set_env("ALLOT__RUNTIME__CHANNEL_CAPACITY", "99");
            let config = AllotConfig::load(Some(Path::new("allot.toml"))).expect("loads");
            assert_eq!(config.runtime.partitions, 3, "file overrides default");
            assert_eq!(config.runtime.channel_capacity, 99, "env overrides file");
            assert!(config.runtime.progress, "untouched default stays");
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("allot.toml", "[runtime]\npartitons = 3\n")?;
            let err = AllotConfig::load(Some(Path::new("allot.toml"))).unwrap_err();
            assert!(err.to_string().contains("partitons"), "{err}");
            jail.create_file("zero.toml", "[runtime]\npartitions = 0\n")?;
            let err = AllotConfig::load(Some(Path::new("zero.toml"))).unwrap_err();
            assert!(
                err.to_string().contains("ALLOT__RUNTIME__PARTITIONS"),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    fn partitioned_state_needs_the_changelog() {
        let mut config = AllotConfig::default();
        config.runtime.sku_partitions = 4;
        // (sourcing then runs in `allot source`, beside the shards)
        config.validate().expect("partitioned with sourcing");
        config.sourcing.enabled = false;
        config.validate().expect("partitioned without sourcing");
        config.runtime.changelog = false;
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("turn it on"), "{err}");
    }

    #[test]
    fn missing_file_says_what_to_do() {
        let err = AllotConfig::load(Some(Path::new("/nonexistent/allot.toml"))).unwrap_err();
        assert!(err.to_string().contains("drop --config"), "{err}");
    }
}
