//! [`Interner`]: maps the string ids of the wire (skus, locations, shipment and PO ids) to
//! dense `u32`s, so state is keyed by small integers and a string is stored once.

use std::collections::HashMap;

use foldhash::fast::FixedState;

/// A string interned to a dense id (index into the interner's table).
pub type Id = u32;

/// Assigns dense ids to strings, first come first served; ids are never reused.
#[derive(Debug, Default)]
pub struct Interner {
    ids: HashMap<Box<str>, Id, FixedState>,
    names: Vec<Box<str>>,
}

impl Interner {
    /// The id of `name`, assigning the next one if it is new.
    pub fn intern(&mut self, name: &str) -> Id {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = Id::try_from(self.names.len()).expect("fewer than 2^32 distinct ids");
        self.names.push(name.into());
        self.ids.insert(name.into(), id);
        id
    }

    /// The id of `name` if it was interned.
    pub fn get(&self, name: &str) -> Option<Id> {
        self.ids.get(name).copied()
    }

    /// The string of `id`.
    pub fn name(&self, id: Id) -> &str {
        &self.names[id as usize]
    }

    /// How many distinct strings are interned.
    pub fn len(&self) -> usize {
        self.names.len()
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
}
