//! [`Db`]: the store's state — 16 keyspaces (SELECT), lazy expiry, typed lookups and the
//! statistics INFO reports. Free of IO: commands call it with the current time and get values
//! back.
//!
//! Every lookup hashes its key once: the expiry check, the hit/miss count and the access mark
//! work on the entry found, and [`Db::get_or_create`] finds or makes a collection in the same
//! probe. A value of the wrong type is [`CmdError::WrongType`], decided here for every family.

use crate::error::CmdError;
use crate::evict::Evictor;
pub(crate) use crate::keyspace::unix_seconds;
use crate::keyspace::{Entry, Keyspace};
use crate::propagate::Propagation;
use crate::types::value::{Collection, Value};

/// Counters INFO reports.
#[derive(Debug, Default, Clone)]
pub(crate) struct Stats {
    /// Reads that found their key.
    pub(crate) keyspace_hits: u64,
    /// Reads that did not.
    pub(crate) keyspace_misses: u64,
    /// Keys removed because their time to live ran out.
    pub(crate) expired_keys: u64,
    /// Keys removed to keep under `maxmemory`.
    pub(crate) evicted_keys: u64,
    /// Commands executed.
    pub(crate) commands: u64,
    /// Connections accepted.
    pub(crate) connections: u64,
    /// Connections refused because `maxclients` were connected.
    pub(crate) rejected_connections: u64,
    /// Clients closed by `maxmemory-clients`.
    pub(crate) evicted_clients: u64,
    /// Per command, and per subcommand of a container (`config|get`, as Redis 7 counts
    /// them): calls, time spent, calls that failed or were refused (INFO commandstats).
    pub(crate) per_command: hashbrown::HashMap<(&'static str, Option<&'static str>), CommandStat>,
    /// Error replies sent (`total_error_replies`).
    pub(crate) error_replies: u64,
    /// `error_replies` when the latest call began or a call nested in it ended (Redis's
    /// `prev_err_count` in `incrCommandStatsOnError`).
    errors_mark: u64,
    /// Errors counted when they arose (a script's failed command) and written again since
    /// the latest call began: each makes that call failed once more, as Redis's
    /// `afterErrorReply` does for an error it does not count twice.
    recounted_errors: u64,
    /// Error replies by their first word, `ERR`, `WRONGTYPE`… (INFO errorstats), in byte
    /// order as Redis's radix tree lists them.
    pub(crate) errors: std::collections::BTreeMap<String, u64>,
    /// Bytes read from and written to clients, replicas excluded (`total_net_*_bytes`).
    pub(crate) net_input_bytes: u64,
    pub(crate) net_output_bytes: u64,
    /// Bytes of the replication stream read from a master and sent to replicas.
    pub(crate) net_repl_input_bytes: u64,
    pub(crate) net_repl_output_bytes: u64,
    /// Reads from client sockets, and batches of replies handed to them for writing
    /// (`total_reads_processed`, `total_writes_processed`).
    pub(crate) reads_processed: u64,
    pub(crate) writes_processed: u64,
    /// Replicas given a full snapshot, PSYNCs continued, PSYNCs refused (`sync_*`).
    pub(crate) sync_full: u64,
    pub(crate) sync_partial_ok: u64,
    pub(crate) sync_partial_err: u64,
    /// Error replies sent to a master or while loading the AOF (`unexpected_error_replies`):
    /// the stream they answer should never fail.
    pub(crate) unexpected_error_replies: u64,
    /// RESTORE payloads checked in depth because `sanitize-dump-payload` asked for it.
    pub(crate) dump_payload_sanitizations: u64,
    /// The active expiry cycle: its running estimate of the share of expired keys among those
    /// with a time to live (`expired_stale_perc`, 0–1), the cycles cut short by their time
    /// budget, and the time spent in it (µs).
    pub(crate) expired_stale_perc: f64,
    pub(crate) expired_time_cap_reached_count: u64,
    pub(crate) expire_cycle_micros: u64,
    /// Since when memory is over `maxmemory` (a round of eviction ran out of time or found
    /// nothing to evict), and how long such spells lasted before (µs), as Redis times them.
    pub(crate) eviction_exceeded_since: Option<std::time::Instant>,
    pub(crate) eviction_exceeded_micros: u64,
    /// Samples of the counters above taken by the cron for the `instantaneous_*` fields.
    pub(crate) instantaneous: crate::metrics::Instantaneous,
}

impl Stats {
    /// Samples the counters behind INFO's `instantaneous_*` rates, at most once per
    /// [`PERIOD_MS`](crate::metrics::PERIOD_MS) (the cron calls it on every cycle).
    pub(crate) fn sample_rates(&mut self, now_ms: u64) {
        let inst = &mut self.instantaneous;
        if now_ms.saturating_sub(inst.sampled_ms) < crate::metrics::PERIOD_MS {
            return;
        }
        inst.sampled_ms = now_ms;
        inst.ops.track(self.commands, now_ms);
        inst.net_input
            .track(self.net_input_bytes + self.net_repl_input_bytes, now_ms);
        inst.net_output
            .track(self.net_output_bytes + self.net_repl_output_bytes, now_ms);
        inst.repl_input.track(self.net_repl_input_bytes, now_ms);
        inst.repl_output.track(self.net_repl_output_bytes, now_ms);
    }

    /// A call begins: the errors counted from now on are its own.
    pub(crate) fn call_started(&mut self) {
        self.errors_mark = self.error_replies;
        self.recounted_errors = 0;
    }

    /// An error already counted is written again in the current call's reply (a script
    /// returning the error of a command it called).
    pub(crate) fn error_rewritten(&mut self) {
        self.recounted_errors += 1;
    }

    /// How many times the call that just ended counts as failed, as Redis 7.0 counts it: once
    /// if an error was counted since it began and since the last call nested in it (a
    /// script's command, a transaction's) ended, and once more for each error counted earlier
    /// that its reply carries again ([`error_rewritten`](Self::error_rewritten)). So a script
    /// that catches its command's error and then runs another command is not failed, one
    /// that returns `{err=…}` right after it is, and one that returns the caught error is.
    /// Starts the next interval, so an enclosing call sees only the errors that follow.
    pub(crate) fn call_failed(&mut self) -> u64 {
        let failed = u64::from(self.error_replies > self.errors_mark) + self.recounted_errors;
        self.errors_mark = self.error_replies;
        self.recounted_errors = 0;
        failed
    }

    /// Counts a call of the command `key` in INFO commandstats: its time, and how many times
    /// it failed ([`call_failed`](Self::call_failed)).
    pub(crate) fn count_call(
        &mut self,
        key: (&'static str, Option<&'static str>),
        nanos: u64,
        failed: u64,
    ) {
        let stat = self.per_command.entry(key).or_default();
        stat.calls += 1;
        stat.nsec += nanos;
        stat.failed += failed;
    }

    /// Counts an error reply of `text` (without the leading `-`) under its first word, as
    /// Redis's `afterErrorReply`: the code is what comes before a space in the first 31
    /// bytes, `ERR` when there is no such space.
    pub(crate) fn error_reply(&mut self, text: &str) {
        self.error_replies += 1;
        let space = text.bytes().take(31).position(|b| b == b' ');
        let code = space.and_then(|end| text.get(..end)).unwrap_or("ERR");
        match self.errors.get_mut(code) {
            Some(n) => *n += 1,
            None => {
                self.errors.insert(code.to_string(), 1);
            }
        }
    }
}

/// One command's counters.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct CommandStat {
    /// Times run.
    pub(crate) calls: u64,
    /// Microseconds spent running it.
    pub(crate) nsec: u64,
    /// Times it replied with an error.
    pub(crate) failed: u64,
    /// Times it was refused before running (wrong arity, no permission, OOM…).
    pub(crate) rejected: u64,
}

/// The whole dataset.
#[derive(Debug)]
pub(crate) struct Db {
    /// The databases, indexed by SELECT's number.
    pub(crate) spaces: Vec<Keyspace>,
    /// Stands in for a database if `spaces` were ever empty (it never is: `new` makes at
    /// least one), so that [`space`](Self::space) needs no panic.
    spare: Keyspace,
    pub(crate) stats: Stats,
    /// Bumped by every write to a key (the engine sees a write by its change).
    pub(crate) dirty: u64,
    /// Writes as the AOF and replicas receive them; expiries found here are propagated as DEL.
    pub(crate) propagation: Propagation,
    /// How lookups stamp entries (LRU time or LFU counter), and eviction's state.
    pub(crate) evict: Evictor,
    /// The code of every FUNCTION library, in name order: what a dump file, a replica's
    /// snapshot and the AOF base carry before the keys. FUNCTION's commands keep it equal to
    /// the libraries loaded; a file loaded fills it for the loader to compile them.
    pub(crate) libraries: Vec<bytes::Bytes>,
}

/// The keyspace `db` of `spaces`, the last one for an index past the end (callers validate
/// the index at SELECT); a function of the fields, so that the statistics stay borrowable.
fn space_of<'s>(
    spaces: &'s mut [Keyspace],
    spare: &'s mut Keyspace,
    db: usize,
) -> &'s mut Keyspace {
    let last = spaces.len().saturating_sub(1);
    match spaces.get_mut(db.min(last)) {
        Some(space) => space,
        None => spare,
    }
}

impl Db {
    /// `n` empty databases.
    pub(crate) fn new(n: usize) -> Self {
        Db {
            spaces: (0..n.max(1)).map(|_| Keyspace::new()).collect(),
            spare: Keyspace::new(),
            stats: Stats::default(),
            dirty: 0,
            propagation: Propagation::default(),
            evict: Evictor::default(),
            libraries: Vec::new(),
        }
    }

    /// The keyspace `db` (callers validate the index at SELECT).
    pub(crate) fn space(&mut self, db: usize) -> &mut Keyspace {
        space_of(&mut self.spaces, &mut self.spare, db)
    }

    /// The live entry for `key` (an expired one is deleted and counted), not marked.
    fn live(&mut self, db: usize, key: &[u8], now: u64) -> Option<&mut Entry> {
        let (entry, expired) = space_of(&mut self.spaces, &mut self.spare, db).live_mut(key, now);
        if expired {
            self.stats.expired_keys += 1;
            self.propagation.expired(db, key);
        }
        entry
    }

    /// Removes `key` if its time has come; true if it did.
    fn expire_if_due(&mut self, db: usize, key: &[u8], now: u64) -> bool {
        let (_, expired) = space_of(&mut self.spaces, &mut self.spare, db).live_mut(key, now);
        if expired {
            self.stats.expired_keys += 1;
            self.propagation.expired(db, key);
        }
        expired
    }

    /// The live entry for `key` (an expired key is deleted and reported absent), marked as
    /// accessed now.
    pub(crate) fn entry(&mut self, db: usize, key: &[u8], now: u64) -> Option<&mut Entry> {
        let (entry, expired) = space_of(&mut self.spaces, &mut self.spare, db).live_mut(key, now);
        if expired {
            self.stats.expired_keys += 1;
            self.propagation.expired(db, key);
        }
        let e = entry?;
        self.evict.access.touch(&mut e.accessed, now);
        Some(e)
    }

    /// The live entry for `key` without marking it accessed: for the commands Redis looks keys
    /// up with `LOOKUP_NOTOUCH` (EXISTS, TYPE, TTL and kin, OBJECT).
    pub(crate) fn peek(&mut self, db: usize, key: &[u8], now: u64) -> Option<&Entry> {
        self.live(db, key, now).map(|e| &*e)
    }

    /// Like [`entry`](Self::entry), counting a keyspace hit or miss (for reads).
    pub(crate) fn read(&mut self, db: usize, key: &[u8], now: u64) -> Option<&mut Entry> {
        let (entry, expired) = space_of(&mut self.spaces, &mut self.spare, db).live_mut(key, now);
        if expired {
            self.stats.expired_keys += 1;
            self.propagation.expired(db, key);
        }
        match entry {
            Some(e) => {
                self.stats.keyspace_hits += 1;
                self.evict.access.touch(&mut e.accessed, now);
                Some(e)
            }
            None => {
                self.stats.keyspace_misses += 1;
                None
            }
        }
    }

    /// The collection of type `C` at `key` for a read (a hit or a miss is counted): `None`
    /// if missing, WRONGTYPE if the key holds another type.
    pub(crate) fn read_as<C: Collection>(
        &mut self,
        db: usize,
        key: &[u8],
        now: u64,
    ) -> Result<Option<&mut C>, CmdError> {
        match self.read(db, key, now) {
            Some(e) => C::of_mut(&mut e.value).map(Some).ok_or(CmdError::WrongType),
            None => Ok(None),
        }
    }

    /// The collection of type `C` at `key` for a write that needs it to exist (LPUSHX, SREM…):
    /// `None` if missing, WRONGTYPE if the key holds another type.
    pub(crate) fn get_as<C: Collection>(
        &mut self,
        db: usize,
        key: &[u8],
        now: u64,
    ) -> Result<Option<&mut C>, CmdError> {
        match self.entry(db, key, now) {
            Some(e) => C::of_mut(&mut e.value).map(Some).ok_or(CmdError::WrongType),
            None => Ok(None),
        }
    }

    /// The collection of type `C` at `key`, created empty if the key is missing (or expired),
    /// with one hash of the key; WRONGTYPE if it holds another type. The caller fills a new
    /// collection at once (empty ones are not kept).
    pub(crate) fn get_or_create<C: Collection>(
        &mut self,
        db: usize,
        key: &[u8],
        now: u64,
    ) -> Result<&mut C, CmdError> {
        let (entry, created, expired) =
            space_of(&mut self.spaces, &mut self.spare, db).live_or_insert_with(key, now, C::empty);
        if expired {
            self.stats.expired_keys += 1;
            self.propagation.expired(db, key);
        }
        if created {
            self.dirty += 1;
        }
        let e = entry.ok_or(CmdError::WrongType)?;
        // A new key keeps its creation stamp (under LFU: the initial count, not one more).
        if !created {
            self.evict.access.touch(&mut e.accessed, now);
        }
        C::of_mut(&mut e.value).ok_or(CmdError::WrongType)
    }

    /// True if `key` exists (and has not expired). Does not count as an access.
    pub(crate) fn exists(&mut self, db: usize, key: &[u8], now: u64) -> bool {
        self.live(db, key, now).is_some()
    }

    /// Sets `key` to `value`, clearing its expiry unless `keep_ttl`.
    pub(crate) fn set(&mut self, db: usize, key: &[u8], value: Value, keep_ttl: bool, now: u64) {
        // Overwriting clears the expiry anyway, so only KEEPTTL needs an expired key gone
        // first (its stale TTL must not be kept).
        if keep_ttl {
            self.expire_if_due(db, key, now);
        }
        // Under LFU a value written over another takes its count, one access more (Redis's
        // lookupKeyWrite, then dbOverwrite keeping `lru`).
        let mut stamp = unix_seconds(now);
        if self.evict.access.is_lfu() {
            if let Some(e) = self.space(db).get(key) {
                stamp = e.accessed;
                self.evict.access.touch(&mut stamp, now);
            }
        }
        self.space(db).insert(key, value, keep_ttl, stamp);
        self.dirty += 1;
    }

    /// Deletes `key`; true if it existed.
    pub(crate) fn delete(&mut self, db: usize, key: &[u8], now: u64) -> bool {
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
    pub(crate) fn removed_from(&mut self, db: usize, key: &[u8]) {
        self.dirty += 1;
        self.drop_if_empty(db, key);
    }

    /// Deletes `key` if it holds an empty collection (after a pop or a remove).
    pub(crate) fn drop_if_empty(&mut self, db: usize, key: &[u8]) {
        let space = self.space(db);
        if space
            .get(key)
            .is_some_and(|e| e.value.is_empty_collection())
        {
            space.remove(key);
        }
    }

    /// One step of active expiry on database `db`: looks at up to `samples` keys with a time
    /// to live, starting from `start`, and deletes the expired ones; the others' remaining
    /// times feed the database's `avg_ttl` (0 again once no key has a time to live, as in
    /// Redis). Returns (looked, expired).
    pub(crate) fn expire_cycle(
        &mut self,
        db: usize,
        start: usize,
        samples: usize,
        now: u64,
    ) -> (usize, usize) {
        let mut expired = 0;
        let mut looked = 0;
        let mut n = start;
        let (mut ttl_sum, mut ttl_samples) = (0u64, 0u64);
        if self.space(db).volatile_len() == 0 {
            self.space(db).avg_ttl = 0;
            return (0, 0);
        }
        // As activeExpireCycle: at most as many samples as there are keys with a time to live,
        // so no key is counted twice in the average.
        let samples = samples.min(self.space(db).volatile_len());
        for _ in 0..samples {
            let space = self.space(db);
            if space.volatile_len() == 0 {
                break;
            }
            let Some((key, expire_at)) = space
                .volatile_entry(n)
                .map(|e| (e.key.clone(), e.expire_at))
            else {
                break;
            };
            looked += 1;
            if self.expire_if_due(db, &key, now) {
                expired += 1;
            } else {
                // Clients may set times to live up to i64::MAX ms: a few of them exceed u64.
                ttl_sum = ttl_sum.saturating_add(expire_at.saturating_sub(now));
                ttl_samples += 1;
                n = n.wrapping_add(1);
            }
        }
        self.space(db).note_ttls(ttl_sum, ttl_samples);
        (looked, expired)
    }
}
