//! [`TopicFileReader`]: reads the records of one topic from one file, dead-lettering the bad
//! ones.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use allot_schemas::{AnyRecord, CodecError, Record, RecordBuilder, Topic, codec};
use apache_avro::types::Value;

use super::{DecodeFailure, FilesError, Format};
use crate::dead_letter::{DeadLetterWriter, DeadLetters, Origin};

/// Reads one topic's file front to back. Bad lines or records are handed to the dead-letter
/// writer given to [`next_record`](Self::next_record) and skipped.
pub struct TopicFileReader {
    topic: Topic,
    path: PathBuf,
    input: Input,
    /// 1-based number of the last line (JSON lines) or record (Avro) read.
    position: i64,
    dead_letters: DeadLetters,
}

enum Input {
    Avro(Box<apache_avro::Reader<'static, BufReader<File>>>),
    Jsonl {
        file: BufReader<File>,
        line: Vec<u8>,
    },
    Done,
}

impl std::fmt::Debug for TopicFileReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopicFileReader")
            .field("topic", &self.topic)
            .field("path", &self.path)
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

impl TopicFileReader {
    /// Opens `path` holding records of `topic`. An Avro file must start with a valid container
    /// header; a file written with an older schema version of the topic is resolved to the
    /// current one.
    pub fn open(
        path: &Path,
        topic: Topic,
        format: Format,
        dead_letters: DeadLetters,
    ) -> Result<Self, FilesError> {
        let open = |e: Box<dyn std::error::Error + Send + Sync>| FilesError::Open {
            path: path.to_owned(),
            source: e,
        };
        let file = BufReader::new(File::open(path).map_err(|e| open(Box::new(e)))?);
        let input = match format {
            Format::Jsonl => Input::Jsonl {
                file,
                line: Vec::new(),
            },
            Format::Avro => Input::Avro(Box::new(
                apache_avro::Reader::builder(file)
                    .reader_schema(codec::schema(topic))
                    .build()
                    .map_err(|e| open(Box::new(e)))?,
            )),
        };
        Ok(Self {
            topic,
            path: path.to_owned(),
            input,
            position: 0,
            dead_letters,
        })
    }

    /// The topic this file holds.
    pub fn topic(&self) -> Topic {
        self.topic
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next good record, or `None` at the end of the file. Every bad line or record before
    /// it has been dead-lettered into `dead_letters`.
    pub fn next_record(
        &mut self,
        dead_letters: &mut dyn DeadLetterWriter,
    ) -> Result<Option<AnyRecord>, FilesError> {
        loop {
            let (payload, failure) = match &mut self.input {
                Input::Done => return Ok(None),
                Input::Jsonl { file, line } => {
                    line.clear();
                    let n = file.read_until(b'\n', line).map_err(|e| FilesError::Read {
                        path: self.path.clone(),
                        source: e,
                    })?;
                    if n == 0 {
                        self.input = Input::Done;
                        return Ok(None);
                    }
                    self.position += 1;
                    let text = trim_line_end(line);
                    if text.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    match decode_json(self.topic, text) {
                        Ok(record) => {
                            self.dead_letters.metrics().consumed(self.topic);
                            return Ok(Some(record));
                        }
                        Err(e) => (text.to_vec(), e),
                    }
                }
                Input::Avro(reader) => match reader.next() {
                    None => {
                        self.input = Input::Done;
                        return Ok(None);
                    }
                    Some(Ok(value)) => {
                        self.position += 1;
                        match decode_value(self.topic, &value) {
                            Ok(record) => {
                                self.dead_letters.metrics().consumed(self.topic);
                                return Ok(Some(record));
                            }
                            Err(e) => (value_payload(&value), DecodeFailure::Avro(e)),
                        }
                    }
                    Some(Err(e)) => {
                        // the reader cannot resynchronise inside a block: the rest is lost,
                        // and the letter says so
                        self.position += 1;
                        self.input = Input::Done;
                        (Vec::new(), DecodeFailure::Corrupt { source: e })
                    }
                },
            };
            let error = FilesError::Decode {
                path: self.path.clone(),
                line: self.position,
                source: failure,
            };
            let origin = Origin {
                topic: self.topic.name(),
                partition: -1,
                offset: self.position,
            };
            let letter =
                self.dead_letters
                    .refuse(origin, self.topic.name(), None, &payload, &error);
            dead_letters.write_dead_letter(&letter)?;
        }
    }
}

fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn decode_json(topic: Topic, text: &[u8]) -> Result<AnyRecord, DecodeFailure> {
    struct Json<'a>(&'a [u8]);
    impl RecordBuilder for Json<'_> {
        type Error = serde_json::Error;
        fn build<R: Record>(self) -> Result<R, serde_json::Error> {
            serde_json::from_slice(self.0)
        }
    }
    AnyRecord::build(topic, Json(text)).map_err(|source| DecodeFailure::Json { topic, source })
}

fn decode_value(topic: Topic, value: &Value) -> Result<AnyRecord, CodecError> {
    struct FromValue<'a>(&'a Value);
    impl RecordBuilder for FromValue<'_> {
        type Error = CodecError;
        fn build<R: Record>(self) -> Result<R, CodecError> {
            apache_avro::from_value(self.0).map_err(|e| CodecError::Decode {
                topic: R::TOPIC,
                source: Box::new(e),
            })
        }
    }
    AnyRecord::build(topic, FromValue(value))
}

/// The bytes kept in the dead letter of an Avro record that did not fit its type: the value as
/// JSON (the container's raw bytes of one record are not exposed by the reader).
fn value_payload(value: &Value) -> Vec<u8> {
    serde_json::Value::try_from(value.clone())
        .ok()
        .and_then(|json| serde_json::to_vec(&json).ok())
        .unwrap_or_else(|| format!("{value:?}").into_bytes())
}
