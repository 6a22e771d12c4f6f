//! [`Db`]: the store's state — 16 keyspaces (SELECT), lazy expiry and the statistics INFO
//! reports. Free of IO: commands call it with the current time and get values back.

pub use crate::keyspace::unix_seconds;
use crate::keyspace::{Entry, Keyspace};
use crate::types::value::Value;

/// Counters INFO reports.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Reads that found their key.
    pub keyspace_hits: u64,
    /// Reads that did not.
    pub keyspace_misses: u64,
    /// Keys removed because their time to live ran out.
    pub expired_keys: u64,
    /// Commands executed.
    pub commands: u64,
    /// Connections accepted.
    pub connections: u64,
    /// Per command: calls, microseconds spent, calls that failed (INFO commandstats).
    pub per_command: hashbrown::HashMap<&'static str, CommandStat>,
}

/// One command's counters.
#[derive(Debug, Default, Clone, Copy)]
pub struct CommandStat {
    /// Times run.
    pub calls: u64,
    /// Microseconds spent running it.
    pub nsec: u64,
    /// Times it replied with an error.
    pub failed: u64,
}

/// The whole dataset.
#[derive(Debug)]
pub struct Db {
    /// The databases, indexed by SELECT's number.
    pub spaces: Vec<Keyspace>,
    /// Counters.
    pub stats: Stats,
    /// Bumped by every write to a key (WATCH compares it later).
    pub dirty: u64,
}

impl Db {
    /// `n` empty databases.
    pub fn new(n: usize) -> Self {
        Db {
            spaces: (0..n.max(1)).map(|_| Keyspace::new()).collect(),
            stats: Stats::default(),
            dirty: 0,
        }
    }

    /// The keyspace `db` (callers validate the index at SELECT).
    pub fn space(&mut self, db: usize) -> &mut Keyspace {
        let last = self.spaces.len() - 1;
        let i = db.min(last);
        &mut self.spaces[i]
    }

    /// Removes `key` if its time has come; true if it did.
    fn expire_if_due(&mut self, db: usize, key: &[u8], now: u64) -> bool {
        let space = self.space(db);
        let due = space
            .get(key)
            .is_some_and(|e| e.expire_at != 0 && e.expire_at <= now);
        if due {
            space.remove(key);
            self.stats.expired_keys += 1;
        }
        due
    }

    /// The live entry for `key` (an expired key is deleted and reported absent), marked as
    /// accessed now.
    pub fn entry(&mut self, db: usize, key: &[u8], now: u64) -> Option<&mut Entry> {
        self.expire_if_due(db, key, now);
        let e = self.space(db).get_mut(key)?;
        e.accessed = unix_seconds(now);
        Some(e)
    }

    /// The live entry for `key` without marking it accessed: for the commands Redis looks keys
    /// up with `LOOKUP_NOTOUCH` (EXISTS, TYPE, TTL and kin, OBJECT).
    pub fn peek(&mut self, db: usize, key: &[u8], now: u64) -> Option<&Entry> {
        self.expire_if_due(db, key, now);
        self.space(db).get(key)
    }

    /// Like [`entry`](Self::entry), counting a keyspace hit or miss (for reads).
    pub fn read(&mut self, db: usize, key: &[u8], now: u64) -> Option<&mut Entry> {
        self.expire_if_due(db, key, now);
        let space_index = db.min(self.spaces.len() - 1);
        let found = self.spaces[space_index].get(key).is_some();
        if found {
            self.stats.keyspace_hits += 1;
        } else {
            self.stats.keyspace_misses += 1;
        }
        let e = self.spaces[space_index].get_mut(key)?;
        e.accessed = unix_seconds(now);
        Some(e)
    }

    /// True if `key` exists (and has not expired). Does not count as an access.
    pub fn exists(&mut self, db: usize, key: &[u8], now: u64) -> bool {
        self.peek(db, key, now).is_some()
    }

    /// Sets `key` to `value`, clearing its expiry unless `keep_ttl`.
    pub fn set(&mut self, db: usize, key: &[u8], value: Value, keep_ttl: bool, now: u64) {
        // Overwriting clears the expiry anyway, so only KEEPTTL needs an expired key gone
        // first (its stale TTL must not be kept).
        if keep_ttl {
            self.expire_if_due(db, key, now);
        }
        self.space(db)
            .insert(key, value, keep_ttl, unix_seconds(now));
        self.dirty += 1;
    }

    /// Deletes `key`; true if it existed.
    pub fn delete(&mut self, db: usize, key: &[u8], now: u64) -> bool {
        if self.expire_if_due(db, key, now) {
            return false;
        }
        let removed = self.space(db).remove(key).is_some();
        if removed {
            self.dirty += 1;
        }
        removed
    }

    /// Records that a write took elements out of `key`: counts the change and deletes the key
    /// if its collection is now empty (Redis never keeps empty collections).
    pub fn removed_from(&mut self, db: usize, key: &[u8]) {
        self.dirty += 1;
        self.drop_if_empty(db, key);
    }

    /// Deletes `key` if it holds an empty collection (after a pop or a remove).
    pub fn drop_if_empty(&mut self, db: usize, key: &[u8]) {
        let space = self.space(db);
        if space
            .get(key)
            .is_some_and(|e| e.value.is_empty_collection())
        {
            space.remove(key);
        }
    }

    /// One step of active expiry on database `db`: looks at up to `samples` keys with a time
    /// to live, starting from `start`, and deletes the expired ones. Returns (looked, expired).
    pub fn expire_cycle(
        &mut self,
        db: usize,
        start: usize,
        samples: usize,
        now: u64,
    ) -> (usize, usize) {
        let mut expired = 0;
        let mut looked = 0;
        let mut n = start;
        for _ in 0..samples {
            let space = self.space(db);
            if space.volatile_len() == 0 {
                break;
            }
            let Some(key) = space.volatile_key(n).cloned() else {
                break;
            };
            looked += 1;
            if self.expire_if_due(db, &key, now) {
                expired += 1;
            } else {
                n = n.wrapping_add(1);
            }
        }
        (looked, expired)
    }
}
