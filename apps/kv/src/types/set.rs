//! [`Set`]: the members of a set in a dense vector, indexed by a hash table of positions.
//!
//! Removal swaps the last member into the hole, so the vector stays dense and a random member
//! (SPOP, SRANDMEMBER) is one random index away — with std's `HashSet` a pop from the front
//! has to skip the buckets emptied by earlier pops, which made SPOP slower the more it popped.

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

use super::str::Str;

/// A set of byte strings with O(1) insert, remove, membership and random pick.
#[derive(Default, Clone)]
pub(crate) struct Set {
    items: Vec<Str>,
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

impl std::fmt::Debug for Set {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.items.iter()).finish()
    }
}

impl Set {
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// True when empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn find(&self, member: &[u8]) -> Option<u32> {
        let items = &self.items;
        self.index
            .find(self.hasher.hash_one(member), |&i| {
                items
                    .get(i as usize)
                    .is_some_and(|m| m.as_bytes() == member)
            })
            .copied()
    }

    /// True if `member` is in the set.
    pub(crate) fn contains(&self, member: &[u8]) -> bool {
        self.find(member).is_some()
    }

    /// Adds `member`; true if it was new.
    pub(crate) fn insert(&mut self, member: &[u8]) -> bool {
        if self.find(member).is_some() {
            return false;
        }
        let pos = self.items.len() as u32;
        self.items.push(Str::new(member));
        let (items, hasher) = (&self.items, &self.hasher);
        self.index
            .insert_unique(hasher.hash_one(member), pos, |&i| {
                hasher.hash_one(items.get(i as usize).map_or(&[][..], |m| m.as_bytes()))
            });
        true
    }

    /// Removes `member`; true if it was there.
    pub(crate) fn remove(&mut self, member: &[u8]) -> bool {
        match self.find(member) {
            Some(pos) => {
                self.remove_at(pos as usize);
                true
            }
            None => false,
        }
    }

    /// Removes and returns the member at `pos` (moving the last member into its place).
    pub(crate) fn remove_at(&mut self, pos: usize) -> Option<Str> {
        let member = self.items.get(pos)?.clone();
        let hash = self.hasher.hash_one(member.as_bytes());
        if let Ok(entry) = self.index.find_entry(hash, |&i| i as usize == pos) {
            entry.remove();
        }
        let last = self.items.len() - 1;
        if pos != last {
            // Re-point the last member's index entry at `pos`.
            let moved_hash = self
                .hasher
                .hash_one(self.items.get(last).map_or(&[][..], |m| m.as_bytes()));
            if let Some(slot) = self.index.find_mut(moved_hash, |&i| i as usize == last) {
                *slot = pos as u32;
            }
        }
        self.items.swap_remove(pos);
        Some(member)
    }

    /// The member at position `pos` (positions are dense: `0..len`).
    pub(crate) fn get(&self, pos: usize) -> Option<&Str> {
        self.items.get(pos)
    }

    /// Every member.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Str> {
        self.items.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_remove_and_swap_keep_the_index_right() {
        let mut s = Set::default();
        for i in 0..1000 {
            assert!(s.insert(format!("m{i}").as_bytes()));
        }
        assert!(!s.insert(b"m5"));
        for i in (0..1000).step_by(3) {
            assert!(s.remove(format!("m{i}").as_bytes()));
        }
        for i in 0..1000 {
            assert_eq!(s.contains(format!("m{i}").as_bytes()), i % 3 != 0, "m{i}");
        }
        while !s.is_empty() {
            let m = s.remove_at(0).unwrap();
            assert!(!s.contains(&m));
        }
    }
}
