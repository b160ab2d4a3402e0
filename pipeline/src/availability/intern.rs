//! [`Interner`]: maps the string ids of the wire (skus, locations, shipment and PO ids) to
//! dense `u32`s, so state is keyed by small integers and a string is stored once.

use std::collections::HashMap;

use foldhash::fast::FixedState;

/// A string interned to a dense id (index into the interner's table).
pub type Id = u32;

/// Assigns dense ids to strings, first come first served; ids are never reused.
///
/// Strings of up to 15 bytes (skus, locations and document ids usually are) are looked up
/// by value, packed with their length into a `u128`: no pointer to follow and no byte
/// comparison per lookup. Longer strings are looked up as strings.
#[derive(Debug, Default, Clone)]
pub struct Interner {
    short: HashMap<u128, Id, FixedState>,
    long: HashMap<Box<str>, Id, FixedState>,
    names: Vec<Box<str>>,
}

/// `name`'s bytes (little-endian) and its length (top byte) in one `u128`, if it has at
/// most 15 bytes: distinct strings, distinct keys. Read as two overlapping words rather
/// than copied byte by byte.
#[inline]
fn pack(name: &str) -> Option<u128> {
    let b = name.as_bytes();
    let len = b.len();
    let word = |bytes: &[u8]| -> u128 {
        match *bytes {
            [a, b, c, d] => u128::from(u32::from_le_bytes([a, b, c, d])),
            [a, b, c, d, e, f, g, h] => u128::from(u64::from_le_bytes([a, b, c, d, e, f, g, h])),
            _ => unreachable!("called with 4 or 8 bytes"),
        }
    };
    let bytes = match len {
        0..=3 => b.iter().rev().fold(0, |k, &x| k << 8 | u128::from(x)),
        // The head word and the tail word overlap; the tail's new bytes go above the head.
        4..=7 => word(&b[..4]) | (word(&b[len - 4..]) >> (8 * (8 - len))) << 32,
        8..=15 => word(&b[..8]) | (word(&b[len - 8..]) >> (8 * (16 - len))) << 64,
        _ => return None,
    };
    Some(bytes | (len as u128) << 120)
}

impl Interner {
    /// The id of `name`, assigning the next one if it is new.
    #[inline]
    pub fn intern(&mut self, name: &str) -> Id {
        let next = Id::try_from(self.names.len()).expect("fewer than 2^32 distinct ids");
        let id = match pack(name) {
            Some(key) => *self.short.entry(key).or_insert(next),
            None => match self.long.get(name) {
                Some(id) => *id,
                None => *self.long.entry(name.into()).or_insert(next),
            },
        };
        if id == next {
            self.names.push(name.into());
        }
        id
    }

    /// The id of `name` if it was interned.
    pub fn get(&self, name: &str) -> Option<Id> {
        match pack(name) {
            Some(key) => self.short.get(&key),
            None => self.long.get(name),
        }
        .copied()
    }

    /// The string of `id`.
    pub fn name(&self, id: Id) -> &str {
        &self.names[id as usize]
    }

    /// How many distinct strings are interned.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether nothing is interned.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_dense_stable_and_reversible() {
        let mut i = Interner::default();
        assert_eq!(i.intern("a"), 0);
        assert_eq!(i.intern("b"), 1);
        assert_eq!(i.intern("a"), 0);
        assert_eq!(i.get("b"), Some(1));
        assert_eq!(i.get("c"), None);
        assert_eq!(i.name(1), "b");
        assert_eq!(i.len(), 2);
    }

    #[test]
    fn packing_is_the_bytes_and_the_length() {
        let text = "0123456789abcdefg";
        for len in 0..=text.len() {
            let name = &text[..len];
            let expected = (len < 16).then(|| {
                let mut key = [0u8; 16];
                key[..len].copy_from_slice(name.as_bytes());
                key[15] = len as u8;
                u128::from_le_bytes(key)
            });
            assert_eq!(pack(name), expected, "{name:?}");
        }
    }

    #[test]
    fn short_and_long_strings_are_told_apart() {
        let mut i = Interner::default();
        // Strings that differ only by trailing NULs or length, around the 15-byte limit.
        let names = [
            "",
            "\0",
            "a",
            "a\0",
            "123456789012345",
            "1234567890123456",
            "12345678901234\0",
            "123456789012345\0",
            "a long document id, well past sixteen bytes",
        ];
        for (id, name) in names.iter().enumerate() {
            assert_eq!(i.intern(name), id as Id, "{name:?}");
        }
        for (id, name) in names.iter().enumerate() {
            assert_eq!(i.intern(name), id as Id, "{name:?} again");
            assert_eq!(i.get(name), Some(id as Id));
            assert_eq!(i.name(id as Id), *name);
        }
        assert_eq!(i.len(), names.len());
        assert_eq!(i.get("12345678901234"), None);
    }
}
