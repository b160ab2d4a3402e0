//! Every topic as files: Avro object container files (the topic's schema in the header,
//! deflate-compressed blocks) and JSON lines (serde_json of the Rust type, one record per line).
//!
//! A data set is a directory with one file per topic, `<dir>/<topic.dir()>.avro` or
//! `<dir>/<topic.dir()>.jsonl` (for example `pos_sales.avro`). [`DataSetWriter`] exports to
//! that layout; [`DataSetReader`] merges the topic files of a directory in event-time order (a
//! k-way merge, so each file must itself be in event-time order, as the writer leaves it when
//! fed in that order) for replay.
//!
//! A line or record that cannot be decoded gets the same dead-letter treatment as a bad Kafka
//! message (partition -1, offset = 1-based line or record number): a `DeadLetter` to the
//! caller's [`DeadLetterWriter`](crate::DeadLetterWriter), the `allot_dead_letters_total`
//! counter, a warning, and the reader carries on. An Avro file whose block is corrupt cannot be
//! read past it (the container has no record boundaries inside a block): the rest of that file
//! becomes one dead letter saying so, and the other files carry on.

mod dataset;
mod reader;
mod writer;

use std::path::{Path, PathBuf};

use allot_schemas::{CodecError, Topic};
use serde::{Deserialize, Serialize};

use crate::ErrorAction;
use crate::dead_letter::DeadLetterError;

pub use dataset::{DataSetReader, DataSetWriter};
pub use reader::TopicFileReader;
pub use writer::TopicFileWriter;

/// How records are laid out in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Avro object container file (`.avro`): schema in the header, deflate blocks.
    Avro,
    /// JSON lines (`.jsonl`): one record per line, serde_json of the Rust type.
    Jsonl,
}

impl Format {
    /// The file extension, without the dot.
    pub const fn extension(self) -> &'static str {
        match self {
            Format::Avro => "avro",
            Format::Jsonl => "jsonl",
        }
    }

    /// The format a path's extension names, if any.
    pub fn of_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()? {
            "avro" => Some(Format::Avro),
            "jsonl" => Some(Format::Jsonl),
            _ => None,
        }
    }
}

/// Where a data set lives and how it is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesConfig {
    /// The data set's directory: one file per topic, named after the topic's schema folder
    /// (`pos_sales.avro`, `orders.jsonl`, ...).
    pub dir: PathBuf,
    /// `avro` (object container files) or `jsonl` (JSON lines).
    #[serde(default = "FilesConfig::default_format")]
    pub format: Format,
    /// Deflate-compress the blocks of Avro files (ignored for JSON lines).
    #[serde(default = "FilesConfig::default_deflate")]
    pub deflate: bool,
}

impl FilesConfig {
    fn default_format() -> Format {
        Format::Avro
    }
    fn default_deflate() -> bool {
        true
    }

    /// A config for `dir` with the defaults (Avro, deflate).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            format: Self::default_format(),
            deflate: Self::default_deflate(),
        }
    }
}

/// The file of `topic` in the data set at `dir`.
pub fn topic_path(dir: &Path, topic: Topic, format: Format) -> PathBuf {
    dir.join(format!("{}.{}", topic.dir(), format.extension()))
}

/// A failure of the files connector.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FilesError {
    /// A file or directory could not be opened or created, or its Avro header is not valid.
    #[error("failed to open {}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// What the OS or the Avro reader reported.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A record does not fit its topic's schema (a bug in the caller).
    #[error("failed to encode a record for {}", path.display())]
    Encode {
        /// The file being written.
        path: PathBuf,
        /// What the encoder reported.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A record was handed to the writer of another topic.
    #[error("a {got} record was written to the {expected} file")]
    WrongTopic {
        /// The writer's topic.
        expected: Topic,
        /// The record's topic.
        got: Topic,
    },
    /// Writing or flushing a file failed.
    #[error("failed to write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What the OS reported.
        #[source]
        source: std::io::Error,
    },
    /// Reading a file failed (an I/O error, not a bad record).
    #[error("failed to read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS reported.
        #[source]
        source: std::io::Error,
    },
    /// One line or record could not be decoded. Readers dead-letter these themselves; the
    /// variant exists so the letter's reason names the file and position.
    #[error("failed to decode {}:{line}", path.display())]
    Decode {
        /// The file.
        path: PathBuf,
        /// 1-based line (JSON lines) or record (Avro) number.
        line: i64,
        /// What the decoder reported.
        #[source]
        source: DecodeFailure,
    },
    /// A refused record could not be handed to the dead-letter destination.
    #[error(transparent)]
    DeadLetter(#[from] DeadLetterError),
}

impl FilesError {
    /// What the caller should do.
    pub fn action(&self) -> ErrorAction {
        match self {
            FilesError::Decode { .. } => ErrorAction::DeadLetter,
            FilesError::Read { .. } => ErrorAction::Retry,
            FilesError::Open { .. }
            | FilesError::Encode { .. }
            | FilesError::WrongTopic { .. }
            | FilesError::Write { .. }
            | FilesError::DeadLetter(_) => ErrorAction::Stop,
        }
    }
}

/// Why one line or record of a file could not be decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeFailure {
    /// A JSON line is not a valid record of the topic.
    #[error("not a valid {topic} record in JSON")]
    Json {
        /// The file's topic.
        topic: Topic,
        /// What serde_json reported.
        #[source]
        source: serde_json::Error,
    },
    /// An Avro value does not fit the topic's Rust type.
    #[error(transparent)]
    Avro(#[from] CodecError),
    /// The Avro container is corrupt at this record; nothing after it in the file can be read.
    #[error("corrupt Avro block; the rest of the file cannot be read")]
    Corrupt {
        /// What the Avro reader reported.
        #[source]
        source: apache_avro::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_and_refuses_unknown_fields() {
        let c: FilesConfig = serde_json::from_str(r#"{"dir": "/data"}"#).unwrap();
        assert_eq!(c, FilesConfig::new("/data"));
        let c: FilesConfig =
            serde_json::from_str(r#"{"dir": "d", "format": "jsonl", "deflate": false}"#).unwrap();
        assert_eq!((c.format, c.deflate), (Format::Jsonl, false));
        assert!(serde_json::from_str::<FilesConfig>(r#"{"dir": "d", "fromat": "avro"}"#).is_err());
    }

    #[test]
    fn layout_names_files_after_the_schema_folder() {
        let check = |topic, format, expected: &str| {
            assert_eq!(
                topic_path(Path::new("/d"), topic, format),
                Path::new(expected)
            );
        };
        check(Topic::PosSales, Format::Avro, "/d/pos_sales.avro");
        check(Topic::OrderEvents, Format::Jsonl, "/d/order_events.jsonl");
        assert_eq!(
            Format::of_path(Path::new("x/orders.jsonl")),
            Some(Format::Jsonl)
        );
        assert_eq!(Format::of_path(Path::new("x/orders.csv")), None);
    }
}
