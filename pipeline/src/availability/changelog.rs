//! The changelog format of the availability engine's state: keys, the value encoding, the
//! batch the engine writes records into, and what a bad record is.
//!
//! A changelog record is `(key, value)`; a `None` value is a tombstone. The topic is
//! compacted, so the last record per key is the state of that key. Key spaces:
//!
//! | key | value kind | what |
//! | --- | --- | --- |
//! | the sku itself (`\0S` + sku if it begins with a NUL byte) | `S` | a sku's book and positions |
//! | `\0H` + shipment id | `H` | a shipment document |
//! | `\0P` + PO id | `P` | a purchase-order document |
//! | `\0L` + location id | `L` | a location's channel eligibility |
//! | `\0Y` + policy id | `Y` | a safety-stock policy |
//! | `\0M` | `M` | engine-wide: config fingerprint, watermark, input lanes, floor |
//! | `\0E` + chunk number (8 bytes, big endian) | `E` | event ids of the dedupe window |
//!
//! The sourcing ledger writes its own changelog in the same format:
//!
//! | key | value kind | what |
//! | --- | --- | --- |
//! | `\0O` + order key (8 bytes, big endian) | `O` | an order's confirmed reservations and open shipment capacity |
//! | `\0C` + day (4 bytes, big endian, sign bit flipped) + location id | `C` | a capacity pool's use |
//!
//! And the sourcing processor around it (`sourcing/changelog.rs`):
//!
//! | key | value kind | what |
//! | --- | --- | --- |
//! | `\0Q` + order key (8 bytes, big endian) | `Q` | an order holding reservations, as sourced |
//! | `\0W` | `W` | the orders queued and not decided yet |
//! | `\0D` + chunk number (8 bytes, big endian) | `D` | order ids remembered for duplicate detection |
//! | `\0Z` | `Z` | the processor's meta: ids evicted, next chunk, pools kept from |
//!
//! The feeds between partitioned state's stages (`crate::feed`, topics of their own) use
//! the same format: `\0U` + sku (a sku's supply) and `\0R` + sku (its reserved units).
//!
//! A value is `[FORMAT_VERSION, kind, body...]`, hand-encoded: LEB128 varints for counts
//! and unsigned numbers, zigzag varints for signed ones, length-prefixed UTF-8 for names,
//! fixed little-endian bytes for hashes. Hand-written rather than through serde so the
//! engine encodes straight from its own structs (no intermediate owned tree per sku) and
//! restore interns names as it reads them; the format is small enough to review whole.

use std::ops::Range;

/// The version byte every value starts with. A reader refuses any other.
pub const FORMAT_VERSION: u8 = 1;

/// What a record holds, from its key and its value's second byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    Sku = b'S',
    Shipment = b'H',
    PurchaseOrder = b'P',
    Location = b'L',
    SafetyPolicy = b'Y',
    Meta = b'M',
    EventIds = b'E',
    /// The sourcing ledger's reservations and shipment capacity of one order.
    Order = b'O',
    /// The sourcing ledger's use of one capacity pool (location, day).
    Pool = b'C',
    /// The sourcing processor: an order holding reservations (the order as it was sourced).
    OpenOrder = b'Q',
    /// The sourcing processor: the orders queued and not decided yet.
    Queued = b'W',
    /// The sourcing processor: a run of order ids remembered for duplicate detection.
    OrderIds = b'D',
    /// The sourcing processor: its own counters of the state (one record).
    SourcingMeta = b'Z',
    /// Partitioned state's supply feed (`crate::feed`): a sku's supply per location.
    Supply = b'U',
    /// Partitioned state's reservation feed (`crate::feed`): a sku's reserved units per
    /// location.
    Reserved = b'R',
}

impl Kind {
    /// Whether the record belongs to sourcing (the ledger or the processor), not to the
    /// availability engine.
    pub(crate) fn is_sourcing(self) -> bool {
        matches!(
            self,
            Kind::Order
                | Kind::Pool
                | Kind::OpenOrder
                | Kind::Queued
                | Kind::OrderIds
                | Kind::SourcingMeta
        )
    }

    fn from_byte(b: u8) -> Option<Kind> {
        Some(match b {
            b'S' => Kind::Sku,
            b'H' => Kind::Shipment,
            b'P' => Kind::PurchaseOrder,
            b'L' => Kind::Location,
            b'Y' => Kind::SafetyPolicy,
            b'M' => Kind::Meta,
            b'E' => Kind::EventIds,
            b'O' => Kind::Order,
            b'C' => Kind::Pool,
            b'Q' => Kind::OpenOrder,
            b'W' => Kind::Queued,
            b'D' => Kind::OrderIds,
            b'Z' => Kind::SourcingMeta,
            b'U' => Kind::Supply,
            b'R' => Kind::Reserved,
            _ => return None,
        })
    }
}

/// Why a changelog record could not be restored. The state it would have restored cannot
/// be trusted: the runtime must stop (and restore from an older snapshot or the full
/// changelog), never skip the record.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// The value starts with a format version this build does not read (written by a newer
    /// allot, or not a changelog record at all).
    #[error(
        "changelog record {key}: unknown format version {version} (this build reads {FORMAT_VERSION})"
    )]
    UnknownVersion {
        /// The record's key, lossily as text.
        key: String,
        /// The version byte found.
        version: u8,
    },
    /// The bytes do not decode as the record the key names.
    #[error("changelog record {key}: corrupt ({reason})")]
    Corrupt {
        /// The record's key, lossily as text.
        key: String,
        /// What was wrong.
        reason: &'static str,
    },
    /// The changelog was written under another availability configuration (channels,
    /// lateness, source); restoring it would publish inconsistent availability.
    #[error(
        "changelog was written under another availability configuration (fingerprint {found:016x}, this one {expected:016x}); rebuild the state from the inputs"
    )]
    ConfigChanged {
        /// The fingerprint of the running configuration.
        expected: u64,
        /// The fingerprint in the changelog.
        found: u64,
    },
}

/// A decoding failure before the key is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bad(pub &'static str);

impl Bad {
    pub(crate) fn at(self, key: &[u8]) -> RestoreError {
        RestoreError::Corrupt {
            key: String::from_utf8_lossy(key).into_owned(),
            reason: self.0,
        }
    }
}

/// Changelog records written by the engine: keys and values in one buffer.
#[derive(Debug, Default)]
pub struct ChangelogBatch {
    bytes: Vec<u8>,
    items: Vec<Item>,
    /// Where the record being written starts (its key), and where its value starts.
    open: Option<(usize, usize)>,
}

#[derive(Debug, Clone)]
struct Item {
    key: Range<usize>,
    value: Option<Range<usize>>,
}

impl ChangelogBatch {
    /// Forgets the records, keeping the buffers.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.items.clear();
        self.open = None;
    }

    /// How many records (tombstones included).
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Bytes of all keys and values.
    pub fn byte_len(&self) -> usize {
        self.bytes.len()
    }

    /// `(key, value)` of each record in the order written; `None` is a tombstone.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], Option<&[u8]>)> + '_ {
        self.items.iter().map(|i| {
            (
                &self.bytes[i.key.clone()],
                i.value.clone().map(|v| &self.bytes[v]),
            )
        })
    }

    /// Starts a record of `kind` named `name`: writes its key and the value's header, and
    /// returns the buffer to write the body into; [`end`](Self::end) closes it.
    pub(crate) fn begin(&mut self, kind: Kind, name: &[u8]) -> &mut Vec<u8> {
        let key = self.bytes.len();
        write_key(kind, name, &mut self.bytes);
        let value = self.bytes.len();
        self.bytes.push(FORMAT_VERSION);
        self.bytes.push(kind as u8);
        self.open = Some((key, value));
        &mut self.bytes
    }

    /// Closes the record [`begin`](Self::begin) opened.
    pub(crate) fn end(&mut self) {
        let (key, value) = self.open.take().expect("begin before end");
        self.items.push(Item {
            key: key..value,
            value: Some(value..self.bytes.len()),
        });
    }

    /// Writes a tombstone for `kind` named `name`.
    pub(crate) fn tombstone(&mut self, kind: Kind, name: &[u8]) {
        let key = self.bytes.len();
        write_key(kind, name, &mut self.bytes);
        self.items.push(Item {
            key: key..self.bytes.len(),
            value: None,
        });
    }
}

fn write_key(kind: Kind, name: &[u8], out: &mut Vec<u8>) {
    if kind != Kind::Sku || name.first() == Some(&0) {
        out.push(0);
        out.push(kind as u8);
    }
    out.extend_from_slice(name);
}

/// The kind and name a key names.
pub(crate) fn parse_key(key: &[u8]) -> Result<(Kind, &[u8]), Bad> {
    match key {
        [0, kind, name @ ..] => Kind::from_byte(*kind)
            .map(|k| (k, name))
            .ok_or(Bad("unknown key kind")),
        [0] => Err(Bad("key too short")),
        name => Ok((Kind::Sku, name)),
    }
}

/// The number a key's 8-byte big-endian name holds (chunk numbers, order keys);
/// `what` names it in the error.
pub(crate) fn name_u64(name: &[u8], what: &'static str) -> Result<u64, Bad> {
    let bytes: [u8; 8] = name.try_into().map_err(|_| Bad(what))?;
    Ok(u64::from_be_bytes(bytes))
}

/// Checks the header of `value` against the key's kind; returns the body.
pub(crate) fn body<'v>(
    key: &[u8],
    kind: Kind,
    value: &'v [u8],
) -> Result<Reader<'v>, RestoreError> {
    match value {
        [FORMAT_VERSION, k, body @ ..] if *k == kind as u8 => Ok(Reader::new(body)),
        [FORMAT_VERSION, ..] => Err(Bad("value kind does not match the key").at(key)),
        [version, ..] => Err(RestoreError::UnknownVersion {
            key: String::from_utf8_lossy(key).into_owned(),
            version: *version,
        }),
        [] => Err(Bad("empty value").at(key)),
    }
}

/// Appends `v` as a LEB128 varint.
#[inline]
pub(crate) fn put_u64(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends `v` as a zigzag varint.
#[inline]
pub(crate) fn put_i64(out: &mut Vec<u8>, v: i64) {
    put_u64(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// Appends a length-prefixed string.
#[inline]
pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u64(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Appends an optional string (0, or 1 and the string).
pub(crate) fn put_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            put_str(out, s);
        }
    }
}

/// Reads a value's body; every read fails cleanly on truncated or malformed bytes.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf }
    }

    #[inline]
    pub(crate) fn u8(&mut self) -> Result<u8, Bad> {
        let (&b, rest) = self.buf.split_first().ok_or(Bad("truncated"))?;
        self.buf = rest;
        Ok(b)
    }

    #[inline]
    pub(crate) fn u64(&mut self) -> Result<u64, Bad> {
        let mut v = 0u64;
        for (i, &b) in self.buf.iter().enumerate().take(10) {
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                if i == 9 && b > 1 {
                    return Err(Bad("varint overflows 64 bits"));
                }
                self.buf = &self.buf[i + 1..];
                return Ok(v);
            }
        }
        Err(Bad("truncated or overlong varint"))
    }

    #[inline]
    pub(crate) fn i64(&mut self) -> Result<i64, Bad> {
        let v = self.u64()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    #[inline]
    pub(crate) fn i32(&mut self) -> Result<i32, Bad> {
        i32::try_from(self.i64()?).map_err(|_| Bad("value out of range"))
    }

    #[inline]
    pub(crate) fn u32(&mut self) -> Result<u32, Bad> {
        u32::try_from(self.u64()?).map_err(|_| Bad("value out of range"))
    }

    /// A count of items that each take at least one byte: never more than the bytes left,
    /// so a corrupt count cannot make the caller reserve huge memory.
    #[inline]
    pub(crate) fn count(&mut self) -> Result<usize, Bad> {
        let n = self.u64()?;
        if n > self.buf.len() as u64 {
            return Err(Bad("count larger than the record"));
        }
        Ok(n as usize)
    }

    #[inline]
    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], Bad> {
        if n > self.buf.len() {
            return Err(Bad("truncated"));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    /// One Avro-encoded record (self-delimiting, so no length is written before it).
    pub(crate) fn avro<T: allot_schemas::codec::AvroDatum>(&mut self) -> Result<T, Bad> {
        T::read_avro(&mut self.buf).map_err(|_| Bad("not a valid Avro record"))
    }

    #[inline]
    pub(crate) fn str(&mut self) -> Result<&'a str, Bad> {
        let n = self.count()?;
        std::str::from_utf8(self.bytes(n)?).map_err(|_| Bad("name is not UTF-8"))
    }

    pub(crate) fn opt_str(&mut self) -> Result<Option<&'a str>, Bad> {
        match self.u8()? {
            0 => Ok(None),
            1 => self.str().map(Some),
            _ => Err(Bad("bad option tag")),
        }
    }

    pub(crate) fn bool(&mut self) -> Result<bool, Bad> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(Bad("bad boolean")),
        }
    }

    pub(crate) fn fixed_u64(&mut self) -> Result<u64, Bad> {
        let b = self.bytes(8)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    pub(crate) fn fixed_u128(&mut self) -> Result<u128, Bad> {
        let b = self.bytes(16)?;
        Ok(u128::from_le_bytes(b.try_into().expect("16 bytes")))
    }

    /// Fails unless every byte was read.
    pub(crate) fn end(&self) -> Result<(), Bad> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(Bad("trailing bytes"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `values` as zigzag varints and reads them back.
    fn check(values: &[i64]) {
        let mut buf = Vec::new();
        for v in values {
            put_i64(&mut buf, *v);
        }
        let mut r = Reader::new(&buf);
        for v in values {
            assert_eq!(r.i64(), Ok(*v));
        }
        assert_eq!(r.end(), Ok(()));
    }

    #[test]
    fn varints_round_trip_at_the_edges() {
        check(&[
            0,
            1,
            -1,
            63,
            -64,
            64,
            1 << 40,
            i64::MIN,
            i64::MAX,
            i32::MIN.into(),
        ]);
    }

    #[test]
    fn malformed_varints_are_errors() {
        assert!(Reader::new(&[0x80]).u64().is_err(), "truncated");
        assert!(Reader::new(&[0xff; 11]).u64().is_err(), "overlong");
        assert!(
            Reader::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02])
                .u64()
                .is_err()
        );
        assert!(
            Reader::new(&[0x80, 0x80, 0x80, 0x80, 0x10]).i32().is_err(),
            "out of i32 range"
        );
        assert!(
            Reader::new(&[5, b'a']).str().is_err(),
            "string longer than the record"
        );
    }

    #[test]
    fn keys_name_their_kind() {
        let key = |kind, name: &[u8]| {
            let mut k = Vec::new();
            write_key(kind, name, &mut k);
            k
        };
        assert_eq!(key(Kind::Sku, b"sku-1"), b"sku-1");
        assert_eq!(parse_key(b"sku-1"), Ok((Kind::Sku, &b"sku-1"[..])));
        let odd = key(Kind::Sku, b"\0odd");
        assert_eq!(parse_key(&odd), Ok((Kind::Sku, &b"\0odd"[..])));
        let ship = key(Kind::Shipment, b"s-1");
        assert_eq!(parse_key(&ship), Ok((Kind::Shipment, &b"s-1"[..])));
        assert!(parse_key(b"\0").is_err());
        assert!(parse_key(b"\0z").is_err());
    }
}
