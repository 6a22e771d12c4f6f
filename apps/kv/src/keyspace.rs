//! [`Keyspace`]: one database's keys, values and expiry times.
//!
//! Entries live in a slab (`Vec<Option<Entry>>`) whose positions never move; a hashbrown
//! `HashTable<u32>` maps a key's hash to its slab position. Three things follow:
//!
//! - each key is stored once (the index holds 4-byte positions, not keys);
//! - SCAN's cursor is a slab position: growing the index never moves an entry, so a full
//!   iteration returns every key present throughout, however the table grows;
//! - keys with a time to live are also listed in `volatile` (each entry knows its place there),
//!   so the active expiry cycle samples only keys that can expire, in O(1) per sample.
//!
//! Hashing is foldhash (hashbrown's default hasher) with a per-process random seed: several
//! times cheaper than std's SipHash on short keys, and the seed keeps clients from choosing
//! colliding keys in advance.

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

use crate::types::str::Str;
use crate::types::value::Value;

/// The access clock of entries: Unix seconds from Unix milliseconds (u32 lasts until 2106).
pub(crate) fn unix_seconds(now_ms: u64) -> u32 {
    (now_ms / 1000) as u32
}

const NO_TTL: u32 = u32::MAX;

/// A key with its value and expiry.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) key: Str,
    pub(crate) value: Value,
    /// Expiry as Unix time in milliseconds; 0 when the key does not expire.
    pub(crate) expire_at: u64,
    /// Position in `Keyspace::volatile`, or `NO_TTL`.
    volatile_pos: u32,
    /// When the key was last read or written, in Unix seconds (Redis's LRU clock, which
    /// OBJECT IDLETIME reports); under an LFU policy, its access counter and last decrement
    /// minute instead (see `evict.rs`). Fits in what was padding: entries do not grow.
    pub(crate) accessed: u32,
}

impl Entry {
    /// Whole seconds since the key was last read or written (OBJECT IDLETIME).
    pub(crate) fn idle_seconds(&self, now_ms: u64) -> u32 {
        unix_seconds(now_ms).saturating_sub(self.accessed)
    }
}

/// One database: a map from keys to entries, with expiry.
#[derive(Debug, Default)]
pub(crate) struct Keyspace {
    index: HashTable<u32>,
    slots: Vec<Option<Entry>>,
    free: Vec<u32>,
    volatile: Vec<u32>,
    hasher: DefaultHashBuilder,
    /// The active expiry cycle's running estimate of the keys' remaining time to live, in ms
    /// (INFO keyspace's `avg_ttl`; 0 until sampled).
    pub(crate) avg_ttl: u64,
}

impl Keyspace {
    /// An empty keyspace.
    pub(crate) fn new() -> Self {
        Keyspace::default()
    }

    /// Number of keys (expired ones not yet reclaimed included).
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    /// True when there are no keys.
    pub(crate) fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Bytes of the keyspace's own tables (the index, the slab of entries, the list of keys
    /// with a time to live), the part of the dataset's memory INFO counts as overhead.
    pub(crate) fn overhead_bytes(&self) -> usize {
        self.index.allocation_size()
            + self.slots.capacity() * std::mem::size_of::<Option<Entry>>()
            + (self.free.capacity() + self.volatile.capacity()) * std::mem::size_of::<u32>()
    }

    /// Keys with an expiry time.
    pub(crate) fn volatile_len(&self) -> usize {
        self.volatile.len()
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    fn position(&self, key: &[u8]) -> Option<u32> {
        self.find(self.hash(key), key)
    }

    /// The slab position of `key`, whose hash the caller computed.
    fn find(&self, hash: u64, key: &[u8]) -> Option<u32> {
        let slots = &self.slots;
        self.index
            .find(hash, |&i| {
                slots
                    .get(i as usize)
                    .and_then(Option::as_ref)
                    .is_some_and(|e| e.key.as_bytes() == key)
            })
            .copied()
    }

    /// The live entry for `key` at `now_ms`, hashing the key once: an entry whose time to live
    /// ran out is removed on the way. Returns the entry (if live) and whether one expired.
    pub(crate) fn live_mut(&mut self, key: &[u8], now_ms: u64) -> (Option<&mut Entry>, bool) {
        let hash = self.hash(key);
        let Some(pos) = self.find(hash, key) else {
            return (None, false);
        };
        let due = self
            .slots
            .get(pos as usize)
            .and_then(Option::as_ref)
            .is_some_and(|e| e.expire_at != 0 && e.expire_at <= now_ms);
        if due {
            self.remove_at(hash, pos);
            return (None, true);
        }
        (
            self.slots.get_mut(pos as usize).and_then(Option::as_mut),
            false,
        )
    }

    /// The live entry for `key` at `now_ms`, made from `make()` if the key is missing or has
    /// expired — with one hash of the key. Returns the entry, whether it was made, and
    /// whether an old entry expired.
    pub(crate) fn live_or_insert_with(
        &mut self,
        key: &[u8],
        now_ms: u64,
        make: impl FnOnce() -> Value,
    ) -> (Option<&mut Entry>, bool, bool) {
        let hash = self.hash(key);
        let mut expired = false;
        if let Some(pos) = self.find(hash, key) {
            let due = self
                .slots
                .get(pos as usize)
                .and_then(Option::as_ref)
                .is_some_and(|e| e.expire_at != 0 && e.expire_at <= now_ms);
            if !due {
                return (
                    self.slots.get_mut(pos as usize).and_then(Option::as_mut),
                    false,
                    false,
                );
            }
            self.remove_at(hash, pos);
            expired = true;
        }
        let pos = self.push_new(hash, key, make(), unix_seconds(now_ms));
        (
            self.slots.get_mut(pos as usize).and_then(Option::as_mut),
            true,
            expired,
        )
    }

    /// The entry for `key`, expired or not.
    pub(crate) fn get(&self, key: &[u8]) -> Option<&Entry> {
        let pos = self.position(key)?;
        self.slots.get(pos as usize)?.as_ref()
    }

    /// Sets `key` to `value` at `now_s` (Unix seconds, the entry's access time). An existing key
    /// keeps its expiry only with `keep_ttl`. Returns the old value.
    pub(crate) fn insert(
        &mut self,
        key: &[u8],
        value: Value,
        keep_ttl: bool,
        now_s: u32,
    ) -> Option<Value> {
        // One hash for both the lookup and the insertion.
        let hash = self.hash(key);
        if let Some(pos) = self.find(hash, key) {
            let old = match self.slots.get_mut(pos as usize).and_then(Option::as_mut) {
                Some(e) => {
                    e.accessed = now_s;
                    std::mem::replace(&mut e.value, value)
                }
                None => return None,
            };
            if !keep_ttl {
                self.set_expire_at_pos(pos, 0);
            }
            return Some(old);
        }
        self.push_new(hash, key, value, now_s);
        None
    }

    /// Adds an entry for `key` (known to be absent, its hash computed); returns its position.
    fn push_new(&mut self, hash: u64, key: &[u8], value: Value, now_s: u32) -> u32 {
        let entry = Entry {
            key: Str::new(key),
            value,
            expire_at: 0,
            volatile_pos: NO_TTL,
            accessed: now_s,
        };
        let pos = match self.free.pop() {
            Some(p) => {
                if let Some(slot) = self.slots.get_mut(p as usize) {
                    *slot = Some(entry);
                }
                p
            }
            None => {
                self.slots.push(Some(entry));
                (self.slots.len() - 1) as u32
            }
        };
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.index.insert_unique(hash, pos, |&i| {
            let key = slots
                .get(i as usize)
                .and_then(Option::as_ref)
                .map_or(&[][..], |e| e.key.as_bytes());
            hasher.hash_one(key)
        });
        pos
    }

    /// Removes `key`; returns its entry.
    pub(crate) fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let hash = self.hash(key);
        let pos = self.find(hash, key)?;
        self.remove_at(hash, pos)
    }

    /// Removes the entry at slab position `pos`, whose key hashes to `hash`.
    fn remove_at(&mut self, hash: u64, pos: u32) -> Option<Entry> {
        match self.index.find_entry(hash, |&i| i == pos) {
            Ok(occupied) => {
                occupied.remove();
            }
            Err(_) => return None,
        }
        self.set_expire_at_pos(pos, 0);
        let entry = self.slots.get_mut(pos as usize)?.take();
        // Keep the slab from growing with holes at its end.
        if pos as usize + 1 == self.slots.len() {
            self.slots.pop();
        } else {
            self.free.push(pos);
        }
        entry
    }

    /// Sets (or with 0 clears) the expiry of `key`; false if the key does not exist.
    pub(crate) fn set_expire_at(&mut self, key: &[u8], at: u64) -> bool {
        match self.position(key) {
            Some(pos) => {
                self.set_expire_at_pos(pos, at);
                true
            }
            None => false,
        }
    }

    fn set_expire_at_pos(&mut self, pos: u32, at: u64) {
        let Some(Some(e)) = self.slots.get_mut(pos as usize) else {
            return;
        };
        e.expire_at = at;
        let listed = e.volatile_pos != NO_TTL;
        if at != 0 && !listed {
            e.volatile_pos = self.volatile.len() as u32;
            self.volatile.push(pos);
        } else if at == 0 && listed {
            let i = e.volatile_pos as usize;
            e.volatile_pos = NO_TTL;
            self.volatile.swap_remove(i);
            if let Some(&moved) = self.volatile.get(i) {
                if let Some(Some(m)) = self.slots.get_mut(moved as usize) {
                    m.volatile_pos = i as u32;
                }
            }
        }
    }

    /// Folds the mean remaining time to live of a cycle's samples into [`avg_ttl`]
    /// (Self::avg_ttl) as Redis's activeExpireCycle does: 2 % for the new mean, 98 % for the
    /// estimate so far, which starts at the first mean.
    pub(crate) fn note_ttls(&mut self, ttl_sum: u64, samples: u64) {
        let Some(mean) = ttl_sum.checked_div(samples) else {
            return;
        };
        if self.avg_ttl == 0 {
            self.avg_ttl = mean;
        }
        self.avg_ttl = (self.avg_ttl / 50) * 49 + mean / 50;
    }

    /// The `n`th (modulo) entry with an expiry (the active expiry cycle, eviction's samples).
    pub(crate) fn volatile_entry(&self, n: usize) -> Option<&Entry> {
        let len = self.volatile.len();
        if len == 0 {
            return None;
        }
        let pos = *self.volatile.get(n % len)?;
        self.slots.get(pos as usize)?.as_ref()
    }

    /// A key chosen from the slab by `n` (RANDOMKEY passes a random number).
    pub(crate) fn key_near(&self, n: usize) -> Option<&Str> {
        self.entry_near(n).map(|e| &e.key)
    }

    /// The entry at slab position `n` (modulo), or the next one after it (RANDOMKEY, eviction's
    /// samples).
    pub(crate) fn entry_near(&self, n: usize) -> Option<&Entry> {
        if self.is_empty() {
            return None;
        }
        let len = self.slots.len();
        (0..len)
            .map(|i| (n + i) % len)
            .find_map(|i| self.slots.get(i).and_then(Option::as_ref))
    }

    /// Bytes of the slab's freed slots: the next keys take them without allocating, so
    /// eviction counts them as free (a key evicted frees its slot for the next). The spare
    /// capacity of a grown slab is not counted so: growing costs memory, as a grown hash
    /// table does in Redis.
    pub(crate) fn reusable_bytes(&self) -> usize {
        self.free.len() * std::mem::size_of::<Option<Entry>>()
    }

    /// Visits slab positions from `cursor` until about `count` entries were seen; returns the
    /// next cursor (0 when done). SCAN's guarantee: entries never move, so every key present
    /// during the whole iteration is visited exactly once.
    pub(crate) fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&Entry)) -> u64 {
        let mut pos = cursor as usize;
        let mut seen = 0;
        while pos < self.slots.len() && seen < count.max(1) {
            if let Some(Some(e)) = self.slots.get(pos) {
                f(e);
                seen += 1;
            }
            pos += 1;
        }
        if pos >= self.slots.len() {
            0
        } else {
            pos as u64
        }
    }

    /// Every entry, in slab order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.slots.iter().filter_map(Option::as_ref)
    }

    /// Removes every key.
    pub(crate) fn clear(&mut self) {
        *self = Keyspace {
            hasher: std::mem::take(&mut self.hasher),
            ..Keyspace::default()
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avg_ttl_is_a_running_average_as_redis_keeps_it() {
        let mut k = Keyspace::new();
        k.note_ttls(0, 0);
        assert_eq!(k.avg_ttl, 0);
        // The first mean starts the estimate; later ones weigh 2 %.
        k.note_ttls(3 * 100_000, 3);
        assert_eq!(k.avg_ttl, 100_000);
        k.note_ttls(50_000, 1);
        assert_eq!(k.avg_ttl, 2_000 * 49 + 1_000);
    }

    fn s(v: &str) -> Value {
        Value::string(v.as_bytes())
    }

    #[test]
    fn insert_get_remove_and_slot_reuse() {
        let mut ks = Keyspace::new();
        assert!(ks.insert(b"a", s("1"), false, 0).is_none());
        assert!(ks.insert(b"b", s("two"), false, 0).is_none());
        assert!(matches!(
            ks.insert(b"a", s("x"), false, 0),
            Some(Value::Int(1))
        ));
        assert_eq!(ks.len(), 2);
        assert!(ks.remove(b"a").is_some());
        assert!(ks.get(b"a").is_none());
        assert!(ks.insert(b"c", s("3"), false, 0).is_none());
        assert_eq!(ks.len(), 2);
        assert!(ks.get(b"b").is_some() && ks.get(b"c").is_some());
    }

    #[test]
    fn expiry_list_follows_sets_clears_and_removals() {
        let mut ks = Keyspace::new();
        for k in ["a", "b", "c"] {
            ks.insert(k.as_bytes(), s(k), false, 0);
            assert!(ks.set_expire_at(k.as_bytes(), 100));
        }
        assert_eq!(ks.volatile_len(), 3);
        ks.remove(b"a");
        assert_eq!(ks.volatile_len(), 2);
        ks.insert(b"b", s("new"), false, 0); // SET clears the TTL
        assert_eq!(ks.volatile_len(), 1);
        assert_eq!(
            ks.volatile_entry(0).map(|e| e.key.to_vec()),
            Some(b"c".to_vec())
        );
        ks.insert(b"c", s("kept"), true, 0);
        assert_eq!(ks.get(b"c").unwrap().expire_at, 100);
        assert!(!ks.set_expire_at(b"zz", 5));
    }

    #[test]
    fn scan_sees_every_key_present_throughout_while_the_table_grows() {
        let mut ks = Keyspace::new();
        for i in 0..1000 {
            ks.insert(format!("old{i}").as_bytes(), s("v"), false, 0);
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            cursor = ks.scan(cursor, 10, |e| {
                seen.insert(e.key.to_vec());
            });
            // Grow the table a lot between calls.
            for j in 0..5 {
                ks.insert(format!("new{round}-{j}").as_bytes(), s("v"), false, 0);
            }
            round += 1;
            if cursor == 0 {
                break;
            }
        }
        for i in 0..1000 {
            assert!(seen.contains(format!("old{i}").as_bytes()), "old{i} missed");
        }
    }
}
