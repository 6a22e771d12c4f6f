//! WATCH's registry: which clients watch which keys, and which of them saw a watched key
//! change (their EXEC fails). IO-free; the engine and the blocking registry mark keys through it.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;

/// Watched keys and the clients whose transaction a write invalidated.
#[derive(Debug, Default)]
pub(crate) struct Watches {
    /// (database, key) → the ids of the clients watching it.
    by_key: HashMap<(usize, Bytes), Vec<u64>>,
    /// Clients whose watched keys were touched.
    dirty: HashSet<u64>,
}

impl Watches {
    /// True when no key is watched (writes then skip the bookkeeping).
    pub(crate) fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Client `id` watches `key` in `db`.
    pub(crate) fn add(&mut self, db: usize, key: Bytes, id: u64) {
        self.by_key.entry((db, key)).or_default().push(id);
    }

    /// Marks every client watching `key` in `db` as dirty (a write touched it).
    pub(crate) fn touch(&mut self, db: usize, key: &[u8]) {
        if self.by_key.is_empty() {
            return;
        }
        if let Some(ids) = self.by_key.get(&(db, Bytes::copy_from_slice(key))) {
            self.dirty.extend(ids.iter().copied());
        }
    }

    /// Marks every client watching any key of `db`, or of every database with `None`
    /// (FLUSHDB, FLUSHALL, SWAPDB).
    pub(crate) fn touch_db(&mut self, db: Option<usize>) {
        for ((d, _), ids) in &self.by_key {
            if db.is_none_or(|x| x == *d) {
                self.dirty.extend(ids.iter().copied());
            }
        }
    }

    /// True if a key client `id` watches was touched since it watched it.
    pub(crate) fn is_dirty(&self, id: u64) -> bool {
        self.dirty.contains(&id)
    }

    /// Forgets client `id`'s watches on `keys` (its WATCH list, drained by the caller).
    pub(crate) fn forget(&mut self, id: u64, keys: impl Iterator<Item = (usize, Bytes)>) {
        for k in keys {
            if let Some(ids) = self.by_key.get_mut(&k) {
                ids.retain(|c| *c != id);
                if ids.is_empty() {
                    self.by_key.remove(&k);
                }
            }
        }
        self.dirty.remove(&id);
    }
}
