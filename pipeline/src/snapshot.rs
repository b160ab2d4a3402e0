//! Local snapshots of the availability engine: every changelog record of its state in one
//! file, with the changelog offsets (per partition) the state covers. A restore reads the
//! snapshot into a fresh engine, then applies only the changelog records from those
//! offsets on, then calls [`AvailabilityEngine::restore_finish`].
//!
//! File layout (all numbers LEB128 varints unless said otherwise):
//!
//! ```text
//! "ALLOTSNP"  format version (1 byte)
//! partition count, then per partition: partition, next offset (zigzag)
//! record count, then per record: key length, key, value length + 1 (0: tombstone), value
//! xxh3-64 of every byte before it (8 bytes, little endian)
//! ```
//!
//! Written to a temporary file beside the target, synced, renamed over it and the directory
//! synced: a reader sees the old snapshot or the new one, never a torn one. The checksum is
//! verified before any record is applied, so a damaged file restores nothing.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::availability::{AvailabilityEngine, ChangelogBatch, RestoreError};

const MAGIC: &[u8; 8] = b"ALLOTSNP";
const VERSION: u8 = 1;

/// Changelog partition → the offset of the first record the snapshot does not cover.
pub type ChangelogOffsets = BTreeMap<u32, i64>;

/// Why a snapshot could not be written or read. Reading: fall back to an older snapshot or
/// to the whole changelog. Writing: keep the previous snapshot and retry later.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// A file operation failed.
    #[error("snapshot {path}: could not {op}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a snapshot this build reads, or it is damaged.
    #[error("snapshot {path}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
    /// A record in an intact file did not restore.
    #[error("snapshot {path}: could not restore a record")]
    Restore {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: RestoreError,
    },
}

fn put_u64(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Writes `records` (every record of the state, as [`AvailabilityEngine::changelog_all`]
/// writes them) and the `offsets` they cover to `path`, atomically.
pub fn write(
    path: &Path,
    offsets: &ChangelogOffsets,
    records: &ChangelogBatch,
) -> Result<(), SnapshotError> {
    let io = |op| {
        let path = path.to_owned();
        move |source| SnapshotError::Io { op, path, source }
    };
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".tmp");
    let tmp = path.with_file_name(name);
    let file = std::fs::File::create(&tmp).map_err(io("create the temporary file"))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut hash = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = Vec::with_capacity(1 << 16);
    buf.extend_from_slice(MAGIC);
    buf.push(VERSION);
    put_u64(&mut buf, offsets.len() as u64);
    for (partition, offset) in offsets {
        put_u64(&mut buf, u64::from(*partition));
        put_u64(&mut buf, ((offset << 1) ^ (offset >> 63)) as u64);
    }
    put_u64(&mut buf, records.len() as u64);
    for (key, value) in records.iter() {
        put_u64(&mut buf, key.len() as u64);
        buf.extend_from_slice(key);
        match value {
            None => put_u64(&mut buf, 0),
            Some(v) => {
                put_u64(&mut buf, v.len() as u64 + 1);
                buf.extend_from_slice(v);
            }
        }
        if buf.len() >= 1 << 16 {
            hash.update(&buf);
            out.write_all(&buf).map_err(io("write"))?;
            buf.clear();
        }
    }
    hash.update(&buf);
    buf.extend_from_slice(&hash.digest().to_le_bytes());
    out.write_all(&buf).map_err(io("write"))?;
    let file = out
        .into_inner()
        .map_err(|e| e.into_error())
        .map_err(io("write"))?;
    file.sync_all().map_err(io("sync"))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(io("rename the temporary file over"))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io("sync the directory of"))?;
    }
    Ok(())
}

/// Reads the snapshot at `path`, checks it whole, then hands each record to `apply` in
/// file order; returns the offsets it covers.
pub fn read(
    path: &Path,
    mut apply: impl FnMut(&[u8], Option<&[u8]>) -> Result<(), RestoreError>,
) -> Result<ChangelogOffsets, SnapshotError> {
    let bad = |reason| SnapshotError::Format {
        path: path.to_owned(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|source| SnapshotError::Io {
        op: "read",
        path: path.to_owned(),
        source,
    })?;
    if bytes.len() < MAGIC.len() + 1 + 8 || &bytes[..MAGIC.len()] != MAGIC {
        return Err(bad("not an allot snapshot"));
    }
    if bytes[MAGIC.len()] != VERSION {
        return Err(bad("unknown snapshot format version"));
    }
    let (body, sum) = bytes.split_at(bytes.len() - 8);
    if xxhash_rust::xxh3::xxh3_64(body).to_le_bytes() != sum {
        return Err(bad("checksum mismatch: the file is damaged or truncated"));
    }
    let mut r = Cursor(&body[MAGIC.len() + 1..]);
    let mut offsets = ChangelogOffsets::new();
    for _ in 0..r.u64().ok_or(bad("truncated offsets"))? {
        let partition = r.u64().and_then(|p| u32::try_from(p).ok());
        let offset = r.u64().map(|v| (v >> 1) as i64 ^ -((v & 1) as i64));
        let (Some(partition), Some(offset)) = (partition, offset) else {
            return Err(bad("truncated offsets"));
        };
        offsets.insert(partition, offset);
    }
    let records = r.u64().ok_or(bad("truncated record count"))?;
    for _ in 0..records {
        let key = r.slice().ok_or(bad("truncated record"))?;
        let value = match r.u64().ok_or(bad("truncated record"))? {
            0 => None,
            n => Some(r.take(n as usize - 1).ok_or(bad("truncated record"))?),
        };
        apply(key, value).map_err(|source| SnapshotError::Restore {
            path: path.to_owned(),
            source,
        })?;
    }
    if !r.0.is_empty() {
        return Err(bad("bytes after the last record"));
    }
    Ok(offsets)
}

/// Restores `engine` (fresh) from the snapshot at `path`; returns the offsets to read the
/// changelog from. The caller applies those records with [`AvailabilityEngine::restore`]
/// and then calls [`AvailabilityEngine::restore_finish`].
pub fn restore(
    path: &Path,
    engine: &mut AvailabilityEngine,
) -> Result<ChangelogOffsets, SnapshotError> {
    read(path, |key, value| engine.restore(key, value))
}

/// Reads varints and slices off a byte slice.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn u64(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for (i, &b) in self.0.iter().enumerate().take(10) {
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                self.0 = &self.0[i + 1..];
                return Some(v);
            }
        }
        None
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn slice(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.u64()?).ok()?;
        self.take(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::availability::AvailabilityConfig;
    use allot_schemas::{AdjustmentKind, AnyRecord, InventoryAdjustment};

    fn count(sku: &str, loc: &str, qty: i32, n: i64) -> AnyRecord {
        AnyRecord::Adjustment(InventoryAdjustment {
            event_id: format!("c{n}"),
            event_time: 1_767_225_600_000 + n,
            source: "test".into(),
            location_id: loc.into(),
            sku: sku.into(),
            kind: AdjustmentKind::CycleCount,
            quantity: qty,
            reason: None,
        })
    }

    fn engine() -> AvailabilityEngine {
        let mut e = AvailabilityEngine::new(AvailabilityConfig::default());
        for (n, (sku, loc)) in [("a", "l1"), ("a", "l2"), ("b", "l1")].iter().enumerate() {
            e.apply(&count(sku, loc, 5 + n as i32, n as i64));
        }
        e
    }

    /// Writes the engine's snapshot, restores it, and checks both dump the same records.
    fn check(offsets: ChangelogOffsets) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("availability.snap");
        let original = engine();
        let mut records = ChangelogBatch::default();
        original.changelog_all(&mut records);
        write(&path, &offsets, &records).unwrap();
        assert!(!dir.path().join("availability.snap.tmp").exists());
        let mut restored = AvailabilityEngine::new(AvailabilityConfig::default());
        assert_eq!(restore(&path, &mut restored).unwrap(), offsets);
        restored.restore_finish();
        let mut again = ChangelogBatch::default();
        restored.changelog_all(&mut again);
        let sorted = |b: &ChangelogBatch| {
            let mut v: Vec<(Vec<u8>, Option<Vec<u8>>)> = b
                .iter()
                .map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec)))
                .collect();
            v.sort();
            v
        };
        assert_eq!(sorted(&records), sorted(&again));
        assert_eq!(restored.snapshot_all(), original.snapshot_all());
    }

    #[test]
    fn a_snapshot_round_trips_with_its_offsets() {
        check(ChangelogOffsets::new());
        check([(0, 17), (3, 0), (11, 1 << 40)].into_iter().collect());
    }

    #[test]
    fn a_damaged_snapshot_restores_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let mut records = ChangelogBatch::default();
        engine().changelog_all(&mut records);
        write(&path, &[(0, 5)].into_iter().collect(), &records).unwrap();
        let good = std::fs::read(&path).unwrap();
        let mut damaged = good.clone();
        damaged[good.len() / 2] ^= 0x10;
        let cases: [(&[u8], &str); 4] = [
            (&damaged, "checksum"),
            (&good[..good.len() - 1], "checksum"),
            (b"not a snapshot at all", "not an allot snapshot"),
            (&[b"ALLOTSNP".as_slice(), &[9; 9]].concat(), "version"),
        ];
        for (bytes, why) in cases {
            std::fs::write(&path, bytes).unwrap();
            let mut applied = 0;
            let err = read(&path, |_, _| {
                applied += 1;
                Ok(())
            })
            .unwrap_err();
            assert!(err.to_string().contains(why), "{err}");
            assert_eq!(applied, 0, "{why}: nothing applied");
        }
        let missing = read(&dir.path().join("none"), |_, _| Ok(())).unwrap_err();
        assert!(matches!(missing, SnapshotError::Io { .. }), "{missing}");
    }
}
