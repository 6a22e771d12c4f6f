//! WATCH's registry: which clients watch which keys, and which of them saw a watched key
//! change (their EXEC fails). IO-free; the engine and the blocking registry mark keys through it.
//!
//! A key is touched when a write changed it. FLUSHDB, FLUSHALL and SWAPDB touch only the watched
//! keys they really change, as Redis 7.0's `touchAllWatchedKeysInDb` decides: a key in neither
//! database (or only stale in both) is no change. A key that expired is a change, seen at EXEC
//! (a key present when watched and gone since).

use std::collections::{HashMap, HashSet};

use bytes::Bytes;

use crate::keyspace::Keyspace;

/// One client's watch on one key.
#[derive(Debug, Clone, Copy)]
struct Watcher {
    client: u64,
    /// The key is logically absent but held stale (past its expiry) in the database: it was
    /// stale when a SWAPDB brought it in, so its later deletion is no change.
    stale: bool,
}

/// Watched keys and the clients whose transaction a write invalidated.
#[derive(Debug, Default)]
pub(crate) struct Watches {
    /// (database, key) → the clients watching it.
    by_key: HashMap<(usize, Bytes), Vec<Watcher>>,
    /// Clients whose watched keys were touched.
    dirty: HashSet<u64>,
}

/// Whether `key` is held in `space` (its expiry may have passed), and whether it is stale.
fn held(space: &Keyspace, key: &[u8], now: u64) -> (bool, bool) {
    match space.get(key) {
        Some(e) => (true, e.expire_at != 0 && e.expire_at <= now),
        None => (false, false),
    }
}

impl Watches {
    /// True when no key is watched (writes then skip the bookkeeping).
    pub(crate) fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Client `id` watches `key` in `db`. The caller has removed a stale key first (WATCH
    /// looks it up), so the key is live or absent.
    pub(crate) fn add(&mut self, db: usize, key: Bytes, id: u64) {
        self.by_key.entry((db, key)).or_default().push(Watcher {
            client: id,
            stale: false,
        });
    }

    /// Marks every client watching `key` in `db` as dirty (a write touched it).
    pub(crate) fn touch(&mut self, db: usize, key: &[u8]) {
        if self.by_key.is_empty() {
            return;
        }
        if let Some(watchers) = self.by_key.get(&(db, Bytes::copy_from_slice(key))) {
            self.dirty.extend(watchers.iter().map(|w| w.client));
        }
    }

    /// Database `db`, whose keys are `emptied`, is about to be emptied (FLUSHDB, FLUSHALL) or,
    /// with `replaced_with`, to take that database's keys (SWAPDB; called for each side before
    /// the swap). Marks the clients whose watched key in `db` this changes: one held in either
    /// database, unless it is stale where it was and absent or stale in its replacement.
    pub(crate) fn touch_db(
        &mut self,
        db: usize,
        emptied: &Keyspace,
        replaced_with: Option<&Keyspace>,
        now: u64,
    ) {
        for ((d, key), watchers) in &mut self.by_key {
            if *d != db {
                continue;
            }
            let (in_emptied, _) = held(emptied, key, now);
            let (in_replacement, replacement_stale) =
                replaced_with.map_or((false, false), |r| held(r, key, now));
            if !in_emptied && !in_replacement {
                continue;
            }
            for w in watchers.iter_mut() {
                if w.stale {
                    if !in_replacement {
                        // The stale key is deleted: logically no change.
                        w.stale = false;
                        continue;
                    }
                    if replacement_stale {
                        continue;
                    }
                } else if !in_emptied && replacement_stale {
                    // An absent key replaced by a stale one: still absent.
                    w.stale = true;
                    continue;
                }
                self.dirty.insert(w.client);
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
            if let Some(watchers) = self.by_key.get_mut(&k) {
                watchers.retain(|w| w.client != id);
                if watchers.is_empty() {
                    self.by_key.remove(&k);
                }
            }
        }
        self.dirty.remove(&id);
    }
}
