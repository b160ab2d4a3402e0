//! [`TopicFileWriter`]: appends the records of one topic to one file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use allot_schemas::{AnyRecord, DeadLetter, Record, RecordVisitor, Topic, codec};
use apache_avro::{Codec, DeflateSettings};

use super::{FilesError, Format};
use crate::dead_letter::{DeadLetterError, DeadLetterWriter};
use crate::metrics::ConnectorMetrics;

/// Writes the records of one topic to one file, in the order given. Call
/// [`finish`](Self::finish) at the end: it flushes the last Avro block and reports errors that
/// a drop would swallow.
pub struct TopicFileWriter {
    topic: Topic,
    path: PathBuf,
    out: Out,
    metrics: ConnectorMetrics,
    written: u64,
}

enum Out {
    Avro(Box<apache_avro::Writer<'static, BufWriter<File>>>),
    Jsonl(BufWriter<File>),
}

impl std::fmt::Debug for TopicFileWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopicFileWriter")
            .field("topic", &self.topic)
            .field("path", &self.path)
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

impl TopicFileWriter {
    /// Creates (or truncates) `path` for records of `topic`. `deflate` compresses Avro blocks.
    pub fn create(
        path: &Path,
        topic: Topic,
        format: Format,
        deflate: bool,
        metrics: ConnectorMetrics,
    ) -> Result<Self, FilesError> {
        let open = |e: std::io::Error| FilesError::Open {
            path: path.to_owned(),
            source: Box::new(e),
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(open)?;
        }
        let file = BufWriter::new(File::create(path).map_err(open)?);
        let out = match format {
            Format::Jsonl => Out::Jsonl(file),
            Format::Avro => {
                let codec = if deflate {
                    Codec::Deflate(DeflateSettings::default())
                } else {
                    Codec::Null
                };
                let writer = apache_avro::Writer::builder()
                    .schema(codec::schema(topic))
                    .writer(file)
                    .codec(codec)
                    .build()
                    .map_err(|e| FilesError::Open {
                        path: path.to_owned(),
                        source: Box::new(e),
                    })?;
                Out::Avro(Box::new(writer))
            }
        };
        Ok(Self {
            topic,
            path: path.to_owned(),
            out,
            metrics,
            written: 0,
        })
    }

    /// The topic this file holds.
    pub fn topic(&self) -> Topic {
        self.topic
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Appends one record of this file's topic.
    pub fn write<R: Record>(&mut self, record: &R) -> Result<(), FilesError> {
        if R::TOPIC != self.topic {
            return Err(FilesError::WrongTopic {
                expected: self.topic,
                got: R::TOPIC,
            });
        }
        match &mut self.out {
            Out::Avro(w) => {
                w.append_ser(record).map_err(|e| FilesError::Encode {
                    path: self.path.clone(),
                    source: Box::new(e),
                })?;
            }
            Out::Jsonl(w) => {
                serde_json::to_writer(&mut *w, record).map_err(|e| {
                    if e.is_io() {
                        FilesError::Write {
                            path: self.path.clone(),
                            source: e.into(),
                        }
                    } else {
                        FilesError::Encode {
                            path: self.path.clone(),
                            source: Box::new(e),
                        }
                    }
                })?;
                w.write_all(b"\n").map_err(|e| FilesError::Write {
                    path: self.path.clone(),
                    source: e,
                })?;
            }
        }
        self.written += 1;
        self.metrics.produced(self.topic);
        Ok(())
    }

    /// Appends a record of any topic; refuses one of another topic than the file's.
    pub fn write_any(&mut self, record: &AnyRecord) -> Result<(), FilesError> {
        struct Write<'a>(&'a mut TopicFileWriter);
        impl RecordVisitor for Write<'_> {
            type Output = Result<(), FilesError>;
            fn visit<R: Record>(self, record: &R) -> Self::Output {
                self.0.write(record)
            }
        }
        record.visit(Write(self))
    }

    /// Writes buffered records to the OS (an Avro file gets a block boundary).
    pub fn flush(&mut self) -> Result<(), FilesError> {
        let write = |e: std::io::Error| FilesError::Write {
            path: self.path.clone(),
            source: e,
        };
        match &mut self.out {
            Out::Avro(w) => {
                w.flush().map_err(|e| FilesError::Encode {
                    path: self.path.clone(),
                    source: Box::new(e),
                })?;
                w.get_mut().flush().map_err(write)
            }
            Out::Jsonl(w) => w.flush().map_err(write),
        }
    }

    /// Flushes and closes the file, syncing it to disk.
    pub fn finish(mut self) -> Result<u64, FilesError> {
        self.flush()?;
        let file = match self.out {
            Out::Avro(w) => w.into_inner().map_err(|e| FilesError::Encode {
                path: self.path.clone(),
                source: Box::new(e),
            })?,
            Out::Jsonl(w) => w,
        };
        let file = file.into_inner().map_err(|e| FilesError::Write {
            path: self.path.clone(),
            source: e.into_error(),
        })?;
        file.sync_all().map_err(|e| FilesError::Write {
            path: self.path.clone(),
            source: e,
        })?;
        Ok(self.written)
    }
}

/// A dead-letter file: the writer of the `dead_letters` topic takes letters from any reader.
impl DeadLetterWriter for TopicFileWriter {
    fn write_dead_letter(&mut self, letter: &DeadLetter) -> Result<(), DeadLetterError> {
        self.write(letter).map_err(|e| DeadLetterError::Write {
            origin: format!("{}[{}]@{}", letter.topic, letter.partition, letter.offset),
            source: Box::new(e),
        })
    }

    fn flush_dead_letters(&mut self) -> Result<(), DeadLetterError> {
        self.flush().map_err(|e| DeadLetterError::Write {
            origin: self.path.display().to_string(),
            source: Box::new(e),
        })
    }
}
