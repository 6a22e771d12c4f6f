//! Eviction: which keys go when the data outgrows `maxmemory`, as Redis 7.0's `evict.c` and
//! the LFU functions of `object.c` decide it.
//!
//! # Layout
//!
//! | item | job |
//! |---|---|
//! | [`Access`] | keeps each entry's access stamp under the policy: the access time (LRU) or a logarithmic access counter with its last decrement time (LFU) |
//! | [`lfu_log_incr`], [`lfu_decr_and_return`] | Redis's `LFULogIncr` and `LFUDecrAndReturn` |
//! | [`Pool`] | the 16 best candidates seen so far, kept across rounds (`EvictionPoolLRU`) |
//! | [`perform`] | one round of eviction (`performEvictions`): pick, delete, propagate, until under the limit, out of candidates or out of time |
//!
//! An entry's `accessed` stamp is one `u32`, as Redis's 24-bit `lru` field is one field
//! whatever the policy: Unix seconds under the LRU (and other) policies, and under the LFU
//! ones an LFU word of 16 bits of minutes (the last decrement time) and 8 bits of counter.
//! An LFU word is always below 2^24 and Unix seconds always above, so a stamp says which it
//! is: a key stamped in seconds (made before the policy changed, or by code that stamps a new
//! key with the time) reads under LFU as a new key of that minute, with the initial counter.
//!
//! Memory is what the allocator has handed out ([`crate::alloc`]) less what Redis does not
//! count for eviction (the AOF's buffer) and less the keyspaces' freed slab slots, which the
//! next keys take without allocating: so evicting a key frees its slot as well as its heap
//! parts, as freeing a `dictEntry` does in Redis.

use std::time::Instant;

use crate::config::{Config, MaxmemoryPolicy};
use crate::keyspace::{unix_seconds, Entry, Keyspace};
use crate::propagate::Propagation;
use crate::types::str::Str;

/// A new key's LFU counter: high enough to survive a few rounds before its first reads.
pub(crate) const LFU_INIT_VAL: u8 = 5;

/// Candidates the pool keeps (Redis's `EVPOOL_SIZE`).
pub(crate) const POOL_SIZE: usize = 16;

/// Stamps below this are LFU words; Unix seconds have been above it since July 1970.
const LFU_WORD_LIMIT: u32 = 1 << 24;

/// Redis's `LFUGetTimeInMinutes`: Unix minutes, their low 16 bits.
fn minutes(now_ms: u64) -> u32 {
    ((now_ms / 60_000) & 0xFFFF) as u32
}

/// Redis's `LFUTimeElapsed`: minutes from `ldt` to `now` on the 16-bit clock, wrapping at
/// most once (as Redis counts it: 65535 - ldt + now).
pub(crate) fn lfu_time_elapsed(ldt: u32, now: u32) -> u32 {
    if now >= ldt {
        now - ldt
    } else {
        65535 - ldt + now
    }
}

/// Redis's `LFULogIncr`: counts one access with probability 1 / ((counter - 5) * factor + 1),
/// so the counter grows logarithmically with the accesses; `r` is uniform in [0, 1).
pub(crate) fn lfu_log_incr(counter: u8, log_factor: u32, r: f64) -> u8 {
    if counter == 255 {
        return 255;
    }
    let baseval = f64::from(counter.saturating_sub(LFU_INIT_VAL));
    let p = 1.0 / (baseval * f64::from(log_factor) + 1.0);
    if r < p {
        counter + 1
    } else {
        counter
    }
}

/// Redis's `LFUDecrAndReturn`: the counter of an LFU word less one per `decay_time` minutes
/// elapsed since its last decrement (0: no decay), without changing the word.
pub(crate) fn lfu_decr_and_return(word: u32, now_minutes: u32, decay_time: u32) -> u8 {
    let ldt = word >> 8;
    let counter = (word & 255) as u8;
    let periods = match decay_time {
        0 => 0,
        d => lfu_time_elapsed(ldt, now_minutes) / d,
    };
    u8::try_from(u32::from(counter).saturating_sub(periods)).unwrap_or(0)
}

/// The LFU word of `stamp`: itself, or for a stamp in seconds a new key's word of its minute.
fn lfu_word(stamp: u32) -> u32 {
    if stamp < LFU_WORD_LIMIT {
        stamp
    } else {
        (minutes(u64::from(stamp) * 1000) << 8) | u32::from(LFU_INIT_VAL)
    }
}

/// How lookups stamp the entries they touch: with the time, or under an LFU policy by
/// counting the access (Redis's `lookupKey`: `updateLFU` or `LRU_CLOCK()`).
#[derive(Debug, Clone)]
pub(crate) struct Access {
    lfu: bool,
    log_factor: u32,
    decay_time: u32,
    /// xorshift64 state for `lfu_log_incr`'s coin.
    rng: u64,
}

impl Default for Access {
    fn default() -> Self {
        Access {
            lfu: false,
            log_factor: 10,
            decay_time: 1,
            rng: 0x9E37_79B9_7F4A_7C15,
        }
    }
}

impl Access {
    /// Takes the policy and LFU parameters from `config` (at start and after CONFIG SET).
    pub(crate) fn configure(&mut self, config: &Config) {
        self.lfu = config.maxmemory_policy.is_lfu();
        self.log_factor = config.lfu_log_factor;
        self.decay_time = config.lfu_decay_time;
    }

    /// True under an LFU policy.
    pub(crate) fn is_lfu(&self) -> bool {
        self.lfu
    }

    /// A uniform number in [0, 1).
    fn coin(&mut self) -> f64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Marks an access at `now_ms` on `stamp`: the time, or under LFU the decayed counter
    /// counted once more, stamped with this minute (Redis's `updateLFU`).
    pub(crate) fn touch(&mut self, stamp: &mut u32, now_ms: u64) {
        if !self.lfu {
            *stamp = unix_seconds(now_ms);
            return;
        }
        let now_min = minutes(now_ms);
        let counter = lfu_decr_and_return(lfu_word(*stamp), now_min, self.decay_time);
        let r = self.coin();
        let counter = lfu_log_incr(counter, self.log_factor, r);
        *stamp = (now_min << 8) | u32::from(counter);
    }

    /// The access frequency of `stamp` at `now_ms`, decayed (OBJECT FREQ).
    pub(crate) fn frequency(&self, stamp: u32, now_ms: u64) -> u8 {
        lfu_decr_and_return(lfu_word(stamp), minutes(now_ms), self.decay_time)
    }

    /// The stamp RESTORE … FREQ gives: the frequency as of this minute.
    pub(crate) fn with_frequency(freq: u8, now_ms: u64) -> u32 {
        (minutes(now_ms) << 8) | u32::from(freq)
    }
}

/// What a round of eviction achieved (Redis's `EVICT_OK`, `EVICT_RUNNING`, `EVICT_FAIL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Under the limit (or no limit, or eviction not allowed now).
    Ok,
    /// Still over, out of time for this round: the next round goes on.
    Running,
    /// Over, and nothing may be evicted: writes that may grow memory are refused.
    Fail,
}

/// One candidate: its score (higher goes first), database and key.
#[derive(Debug, Clone)]
struct Candidate {
    score: u64,
    db: usize,
    key: Str,
}

/// The best candidates seen so far, in ascending score (Redis's eviction pool): sampled keys
/// enter when they beat the worst one kept, and stay across rounds, so a round looks at far
/// more keys than its own samples. Entries may be ghosts (keys since deleted); a pick skips
/// them.
#[derive(Debug, Default, Clone)]
pub(crate) struct Pool {
    entries: Vec<Candidate>,
}

impl Pool {
    /// Offers a sampled key with `score`, as `evictionPoolPopulate` inserts it: into a free
    /// place in order, or, when full, in place of the lowest score if it beats it.
    fn offer(&mut self, score: u64, db: usize, key: &Str) {
        let k = self.entries.iter().take_while(|c| c.score < score).count();
        let full = self.entries.len() >= POOL_SIZE;
        let candidate = Candidate {
            score,
            db,
            key: key.clone(),
        };
        if !full {
            self.entries.insert(k, candidate);
        } else if k > 0 {
            // Full: the lowest score leaves, the new one goes just before the first higher.
            self.entries.remove(0);
            self.entries.insert(k - 1, candidate);
        }
    }

    /// Takes candidates from the best down until `exists` accepts one.
    fn take_best(&mut self, mut exists: impl FnMut(usize, &[u8]) -> bool) -> Option<(usize, Str)> {
        while let Some(c) = self.entries.pop() {
            if exists(c.db, c.key.as_bytes()) {
                return Some((c.db, c.key));
            }
        }
        None
    }

    /// The keys in the pool, best first (for tests and DEBUG).
    #[cfg(test)]
    fn keys(&self) -> Vec<Vec<u8>> {
        self.entries.iter().rev().map(|c| c.key.to_vec()).collect()
    }
}

/// How much memory counts against `maxmemory`, given the keyspaces: the allocator's count less
/// the slab room for entries to come (see the module doc); replaced in tests.
pub(crate) type Meter = fn(&[Keyspace]) -> usize;

/// The allocator's count less the keyspaces' reusable room.
pub(crate) fn allocator_meter(spaces: &[Keyspace]) -> usize {
    let reusable: usize = spaces.iter().map(Keyspace::reusable_bytes).sum();
    crate::alloc::used().saturating_sub(reusable)
}

/// Eviction's state between rounds: the pool, the random policies' next database, the
/// sampling coin, the access stamps' rules and the memory meter.
#[derive(Debug, Clone)]
pub(crate) struct Evictor {
    /// How lookups stamp entries.
    pub(crate) access: Access,
    pool: Pool,
    next_db: usize,
    rng: u64,
    /// Memory counted against `maxmemory`.
    pub(crate) meter: Meter,
    /// The last round ran out of time with memory still over: the server cron goes on.
    pub(crate) running: bool,
}

impl Default for Evictor {
    fn default() -> Self {
        Evictor {
            access: Access::default(),
            pool: Pool::default(),
            next_db: 0,
            rng: 0x2545_F491_4F6C_DD1D,
            meter: allocator_meter,
            running: false,
        }
    }
}

impl Evictor {
    fn random(&mut self) -> usize {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x as usize
    }

    /// Samples `samples` keys of database `db` into the pool, scored by `policy` (Redis's
    /// `evictionPoolPopulate`; the samples are independent random slab positions rather than
    /// a run of hash buckets, which in a slab would be keys made at the same time).
    fn populate(
        &mut self,
        db: usize,
        space: &Keyspace,
        policy: MaxmemoryPolicy,
        samples: usize,
        now_ms: u64,
    ) {
        let volatile = !matches!(
            policy,
            MaxmemoryPolicy::AllkeysLru | MaxmemoryPolicy::AllkeysLfu
        );
        let now_s = unix_seconds(now_ms);
        let size = if volatile {
            space.volatile_len()
        } else {
            space.len()
        };
        // As dictGetSomeKeys, a database of no more keys than the samples gives each key once.
        let whole = size <= samples;
        let mut slab = whole.then(|| space.iter());
        for n in 0..samples.min(size) {
            let entry: Option<&Entry> = match (&mut slab, volatile) {
                (Some(all), false) => all.next(),
                (_, true) if whole => space.volatile_entry(n),
                (_, true) => space.volatile_entry(self.random()),
                (_, false) => space.entry_near(self.random()),
            };
            let Some(e) = entry else { return };
            let score = match policy {
                MaxmemoryPolicy::VolatileTtl => u64::MAX - e.expire_at,
                p if p.is_lfu() => 255 - u64::from(self.access.frequency(e.accessed, now_ms)),
                // LRU: idle milliseconds at Redis's one-second clock resolution.
                _ => u64::from(now_s.saturating_sub(e.accessed)) * 1000,
            };
            self.pool.offer(score, db, &e.key);
        }
    }

    /// The next key to evict under `policy`, or `None` when none may go.
    fn pick(
        &mut self,
        spaces: &[Keyspace],
        policy: MaxmemoryPolicy,
        samples: usize,
        now_ms: u64,
    ) -> Option<(usize, Str)> {
        let allkeys = matches!(
            policy,
            MaxmemoryPolicy::AllkeysLru
                | MaxmemoryPolicy::AllkeysLfu
                | MaxmemoryPolicy::AllkeysRandom
        );
        let size = |s: &Keyspace| if allkeys { s.len() } else { s.volatile_len() };
        match policy {
            MaxmemoryPolicy::NoEviction => None,
            MaxmemoryPolicy::AllkeysRandom | MaxmemoryPolicy::VolatileRandom => {
                // One database after another, so that every database gives up keys.
                let n = spaces.len();
                for _ in 0..n {
                    self.next_db = self.next_db.wrapping_add(1);
                    let db = self.next_db % n.max(1);
                    let Some(space) = spaces.get(db) else {
                        continue;
                    };
                    if size(space) == 0 {
                        continue;
                    }
                    let r = self.random();
                    let e = if allkeys {
                        space.entry_near(r)
                    } else {
                        space.volatile_entry(r)
                    };
                    if let Some(e) = e {
                        return Some((db, e.key.clone()));
                    }
                }
                None
            }
            _ => loop {
                let mut total = 0;
                for (db, space) in spaces.iter().enumerate() {
                    let keys = size(space);
                    if keys != 0 {
                        self.populate(db, space, policy, samples, now_ms);
                        total += keys;
                    }
                }
                if total == 0 {
                    return None;
                }
                let found = self.pool.take_best(|db, key| {
                    spaces
                        .get(db)
                        .and_then(|s| s.get(key))
                        .is_some_and(|e| allkeys || e.expire_at != 0)
                });
                if found.is_some() {
                    return found;
                }
            },
        }
    }
}

/// Redis's `evictionTimeLimitUs`: how long a round may evict, from the tenacity (0–100):
/// 50 µs per step up to 10, then 15 % more per step, no limit at 100.
pub(crate) fn time_limit_us(tenacity: u32) -> u64 {
    match tenacity {
        0..=10 => 50 * u64::from(tenacity),
        11..=99 => (500.0 * 1.15f64.powi(tenacity as i32 - 10)) as u64,
        _ => u64::MAX,
    }
}

/// One round of eviction (Redis's `performEvictions`): while the memory counted is over
/// `maxmemory` by more than what was freed, picks a key by the policy, deletes it and
/// propagates its DEL (each on its own, never wrapped with the command that made the room).
/// Every 16 keys the round checks its time. `not_counted` is the memory Redis leaves out (the
/// AOF buffer); the keys evicted are appended to `evicted` (their WATCHers must fail).
pub(crate) fn perform(
    spaces: &mut [Keyspace],
    propagation: &mut Propagation,
    evictor: &mut Evictor,
    config: &Config,
    not_counted: usize,
    now_ms: u64,
    evicted: &mut Vec<(usize, Str)>,
) -> Outcome {
    let limit = config.maxmemory as usize;
    if limit == 0 {
        return Outcome::Ok;
    }
    let counted = |spaces: &[Keyspace], meter: Meter| meter(spaces).saturating_sub(not_counted);
    let used = counted(spaces, evictor.meter);
    if used <= limit {
        return Outcome::Ok;
    }
    let policy = config.maxmemory_policy;
    if policy == MaxmemoryPolicy::NoEviction {
        return Outcome::Fail;
    }
    let to_free = used - limit;
    let time_limit = time_limit_us(config.maxmemory_eviction_tenacity);
    let started = Instant::now();
    let samples = config.maxmemory_samples as usize;
    let mut freed = 0usize;
    let mut keys_freed = 0usize;
    while freed < to_free {
        let Some((db, key)) = evictor.pick(spaces, policy, samples, now_ms) else {
            return Outcome::Fail;
        };
        let before = counted(spaces, evictor.meter);
        let Some(space) = spaces.get_mut(db) else {
            return Outcome::Fail;
        };
        drop(space.remove(key.as_bytes()));
        // What the deletion alone freed (the DEL's propagation is not the key's memory).
        freed += before.saturating_sub(counted(spaces, evictor.meter));
        propagation.evicted(db, key.as_bytes());
        evicted.push((db, key));
        keys_freed += 1;
        if keys_freed.is_multiple_of(16) && started.elapsed().as_micros() as u64 > time_limit {
            return Outcome::Running;
        }
    }
    Outcome::Ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::value::Value;

    #[test]
    fn lfu_log_incr_follows_redis_probabilities() {
        // At or below LFU_INIT_VAL an access always counts (p = 1).
        assert_eq!(lfu_log_incr(0, 10, 0.999), 1);
        assert_eq!(lfu_log_incr(5, 10, 0.999), 6);
        // Above it p = 1 / ((c - 5) * factor + 1): at 6 with factor 10, 1/11.
        assert_eq!(lfu_log_incr(6, 10, 1.0 / 11.0 - 1e-9), 7);
        assert_eq!(lfu_log_incr(6, 10, 1.0 / 11.0), 6);
        // Factor 0: every access counts.
        assert_eq!(lfu_log_incr(100, 0, 0.999), 101);
        assert_eq!(lfu_log_incr(255, 0, 0.0), 255, "saturates");
        // Accesses needed to reach a counter, on average, against a simulation of Redis's
        // formula (300 runs each: means 9.75 after 100 hits, 19.1 after 1000).
        let mut access = Access {
            lfu: true,
            log_factor: 10,
            decay_time: 0,
            ..Access::default()
        };
        let now = 1_700_000_000_000;
        let mean_after = |access: &mut Access, hits: usize| {
            let mut sum = 0.0;
            for _ in 0..300 {
                let mut stamp = Access::with_frequency(LFU_INIT_VAL, now);
                for _ in 0..hits {
                    access.touch(&mut stamp, now);
                }
                sum += f64::from(access.frequency(stamp, now));
            }
            sum / 300.0
        };
        let m100 = mean_after(&mut access, 100);
        let m1000 = mean_after(&mut access, 1000);
        assert!((9.3..10.2).contains(&m100), "{m100}");
        assert!((18.5..19.7).contains(&m1000), "{m1000}");
    }

    #[test]
    fn lfu_decay_is_one_step_per_decay_time_and_wraps_once() {
        let word = (100 << 8) | 20;
        assert_eq!(lfu_decr_and_return(word, 100, 1), 20);
        assert_eq!(lfu_decr_and_return(word, 107, 1), 13);
        assert_eq!(lfu_decr_and_return(word, 107, 2), 17);
        assert_eq!(lfu_decr_and_return(word, 200, 1), 0);
        assert_eq!(lfu_decr_and_return(word, 5000, 0), 20, "decay time 0: none");
        // The 16-bit minute clock wrapped: 65535 - 65530 + 3 = 8 minutes.
        assert_eq!(lfu_time_elapsed(65530, 3), 8);
        assert_eq!(lfu_decr_and_return((65530 << 8) | 20, 3, 1), 12);
        // A stamp in seconds reads as a new key of its minute.
        let now = 1_700_000_000_000u64;
        assert_eq!(
            Access::default().frequency(unix_seconds(now), now),
            LFU_INIT_VAL
        );
        let later = now + 3 * 60_000;
        assert_eq!(
            Access::default().frequency(unix_seconds(now), later),
            LFU_INIT_VAL - 3
        );
    }

    #[test]
    fn touch_stamps_time_under_lru_and_counts_under_lfu() {
        let now = 1_700_000_000_000u64;
        let mut a = Access::default();
        let mut stamp = 0;
        a.touch(&mut stamp, now);
        assert_eq!(stamp, unix_seconds(now));
        a.lfu = true;
        a.touch(&mut stamp, now);
        assert!(stamp < LFU_WORD_LIMIT);
        assert_eq!(stamp & 255, 6, "5 read from the seconds stamp, + 1 (p = 1)");
        assert_eq!(stamp >> 8, minutes(now));
    }

    #[test]
    fn pool_keeps_the_sixteen_best_in_order_as_redis_inserts() {
        let mut pool = Pool::default();
        for score in [5u64, 1, 9, 3] {
            pool.offer(score, 0, &Str::new(format!("k{score}").as_bytes()));
        }
        assert_eq!(
            pool.keys(),
            [
                b"k9".to_vec(),
                b"k5".to_vec(),
                b"k3".to_vec(),
                b"k1".to_vec()
            ]
        );
        for score in 10..30u64 {
            pool.offer(score, 0, &Str::new(format!("k{score}").as_bytes()));
        }
        assert_eq!(pool.entries.len(), POOL_SIZE);
        let scores: Vec<u64> = pool.entries.iter().map(|c| c.score).collect();
        assert_eq!(scores, (14..30).collect::<Vec<_>>());
        // Below the worst of a full pool: not taken.
        pool.offer(2, 0, &Str::new(b"low"));
        assert_eq!(pool.entries.first().map(|c| c.score), Some(14));
        // Ghosts are skipped, best first.
        let got = pool.take_best(|_, k| k != b"k29" && k != b"k28");
        assert_eq!(got.map(|(_, k)| k.to_vec()), Some(b"k27".to_vec()));
        assert_eq!(pool.entries.len(), 13);
    }

    fn spaces_with(n: usize, ttl_every: usize, now: u64) -> Vec<Keyspace> {
        let mut space = Keyspace::new();
        for i in 0..n {
            let key = format!("key:{i}");
            space.insert(
                key.as_bytes(),
                Value::string(b"v"),
                false,
                unix_seconds(now) - i as u32,
            );
            if ttl_every != 0 && i % ttl_every == 0 {
                space.set_expire_at(key.as_bytes(), now + 1000 * (i as u64 + 1));
            }
        }
        vec![space, Keyspace::new()]
    }

    #[test]
    fn candidates_follow_the_policy() {
        let now = 1_700_000_000_000u64;
        let spaces = spaces_with(200, 3, now);
        let mut ev = Evictor::default();
        // LRU: the first picks are among the idlest (key:199 idles longest).
        for _ in 0..5 {
            let (_, key) = ev
                .pick(&spaces, MaxmemoryPolicy::AllkeysLru, 5, now)
                .unwrap();
            let i: usize = std::str::from_utf8(&key.to_vec()[4..])
                .unwrap()
                .parse()
                .unwrap();
            assert!(i >= 100, "an idle key: {i}");
        }
        // volatile-*: only keys with a TTL.
        for policy in [
            MaxmemoryPolicy::VolatileLru,
            MaxmemoryPolicy::VolatileLfu,
            MaxmemoryPolicy::VolatileRandom,
            MaxmemoryPolicy::VolatileTtl,
        ] {
            let mut ev = Evictor::default();
            for _ in 0..20 {
                let (db, key) = ev.pick(&spaces, policy, 5, now).unwrap();
                assert!(
                    spaces[db].get(key.as_bytes()).unwrap().expire_at != 0,
                    "{policy:?}"
                );
            }
        }
        // volatile-ttl: the soonest expiry is among the first (sampling 5 of 67 keys, the
        // pool's best of the first round is at most about a fifth of the way in).
        let mut ev = Evictor::default();
        let (_, key) = ev
            .pick(&spaces, MaxmemoryPolicy::VolatileTtl, 5, now)
            .unwrap();
        let at = spaces[0].get(key.as_bytes()).unwrap().expire_at;
        assert!(at <= now + 1000 * 200);
        // Nothing to evict: none.
        let empty: Vec<Keyspace> = (0..2).map(|_| Keyspace::new()).collect();
        assert!(Evictor::default()
            .pick(&empty, MaxmemoryPolicy::AllkeysLru, 5, now)
            .is_none());
        let no_ttl = spaces_with(10, 0, now);
        for policy in [
            MaxmemoryPolicy::VolatileLru,
            MaxmemoryPolicy::VolatileRandom,
        ] {
            assert!(Evictor::default().pick(&no_ttl, policy, 5, now).is_none());
        }
        assert!(Evictor::default()
            .pick(&spaces, MaxmemoryPolicy::NoEviction, 5, now)
            .is_none());
    }

    #[test]
    fn lfu_picks_the_least_frequent() {
        let now = 1_700_000_000_000u64;
        let mut spaces = spaces_with(50, 0, now);
        let mut access = Access {
            lfu: true,
            ..Access::default()
        };
        for i in 0..40 {
            let (e, _) = spaces[0].live_mut(format!("key:{i}").as_bytes(), now);
            let e = e.unwrap();
            for _ in 0..50 {
                access.touch(&mut e.accessed, now);
            }
        }
        let mut ev = Evictor {
            access,
            ..Evictor::default()
        };
        for _ in 0..5 {
            let (_, key) = ev
                .pick(&spaces, MaxmemoryPolicy::AllkeysLfu, 30, now)
                .unwrap();
            let i: usize = std::str::from_utf8(&key.to_vec()[4..])
                .unwrap()
                .parse()
                .unwrap();
            assert!(i >= 40, "a cold key: {i}");
            spaces[0].remove(key.as_bytes());
        }
    }

    #[test]
    fn tenacity_gives_redis_time_limits() {
        assert_eq!(time_limit_us(0), 0);
        assert_eq!(time_limit_us(10), 500);
        assert_eq!(time_limit_us(11), 575);
        assert_eq!(time_limit_us(100), u64::MAX);
    }
}

/// The eviction step as clients see it, through the engine, with a meter of 1000 bytes a key.
#[cfg(test)]
mod engine_tests {
    use std::time::Duration;

    use crate::keyspace::Keyspace;
    use crate::testkit::Frame;
    use crate::testkit::{b, e, i, ok, T as Harness};

    const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

    fn thousand_a_key(spaces: &[Keyspace]) -> usize {
        spaces.iter().map(Keyspace::len).sum::<usize>() * 1000
    }

    /// A server that holds 10 keys' worth under `policy`.
    fn harness(policy: &str) -> Harness {
        let mut h = Harness::new();
        h.server.db.evict.meter = thousand_a_key;
        assert_eq!(h.run("CONFIG SET maxmemory 10000"), ok());
        assert_eq!(
            h.run(&format!("CONFIG SET maxmemory-policy {policy}")),
            ok()
        );
        h
    }

    fn keys(h: &mut Harness) -> usize {
        h.server.db.spaces.iter().map(Keyspace::len).sum()
    }

    fn info_field(h: &mut Harness, section: &str, field: &str) -> String {
        let Frame::Bulk(text) = h.run(&format!("INFO {section}")) else {
            panic!("INFO is a bulk string");
        };
        let text = String::from_utf8(text.to_vec()).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .unwrap_or_else(|| panic!("{field} in {text}"))
            .to_string()
    }

    #[test]
    fn noeviction_refuses_writes_that_may_grow_and_keeps_every_key() {
        let mut h = harness("noeviction");
        for n in 0..11 {
            assert_eq!(
                h.run(&format!("SET k{n} v")),
                ok(),
                "not over before the 11th"
            );
        }
        assert_eq!(h.run("SET k11 v"), e(OOM));
        assert_eq!(h.run("LPUSH l a"), e(OOM));
        assert_eq!(keys(&mut h), 11);
        // Reads and deletions still run.
        assert_eq!(h.run("GET k0"), b("v"));
        assert_eq!(h.run("EXPIRE k0 100"), i(1));
        // In MULTI every command but EXEC/DISCARD is refused, and EXEC then aborts.
        assert_eq!(h.run("MULTI"), ok());
        assert_eq!(h.run("GET k1"), e(OOM));
        assert_eq!(
            h.run("EXEC"),
            e("EXECABORT Transaction discarded because of previous errors.")
        );
        assert_eq!(h.run("DEL k0 k1"), i(2));
        assert_eq!(h.run("SET k11 v"), ok(), "room again");
        assert_eq!(info_field(&mut h, "stats", "evicted_keys"), "0");
        assert_eq!(
            info_field(&mut h, "memory", "maxmemory_policy"),
            "noeviction"
        );
        assert_eq!(info_field(&mut h, "memory", "maxmemory_human"), "9.77K");
    }

    #[test]
    fn exec_of_a_transaction_holding_a_denyoom_command_is_aborted_and_discarded() {
        let mut h = harness("noeviction");
        assert_eq!(h.run("WATCH k0"), ok());
        assert_eq!(h.run("MULTI"), ok());
        assert_eq!(h.run("SET k0 v"), Frame::Simple("QUEUED".into()));
        for n in 1..12 {
            h.server.db.set(
                0,
                format!("f{n}").as_bytes(),
                crate::types::value::Value::Int(1),
                false,
                0,
            );
        }
        assert_eq!(
            h.run("EXEC"),
            e(&format!(
                "EXECABORT Transaction discarded because of: {OOM}"
            ))
        );
        assert_eq!(h.run("EXEC"), e("ERR EXEC without MULTI"));
        // A transaction of reads only still runs once over.
        assert_eq!(h.run("DEL f1 f2"), i(2));
        assert_eq!(h.run("MULTI"), ok());
        assert_eq!(h.run("GET k0"), Frame::Simple("QUEUED".into()));
        h.server
            .db
            .set(0, b"f1", crate::types::value::Value::Int(1), false, 0);
        h.server
            .db
            .set(0, b"f2", crate::types::value::Value::Int(1), false, 0);
        assert_eq!(h.run("EXEC"), Frame::Array(vec![Frame::Null]));
    }

    #[test]
    fn allkeys_lru_keeps_the_keys_read_lately() {
        let mut h = harness("allkeys-lru");
        for n in 0..10 {
            assert_eq!(h.run(&format!("SET cold{n} v")), ok());
        }
        h.advance(Duration::from_secs(10));
        for round in 0..30 {
            for hot in 0..3 {
                h.run(&format!("GET cold{hot}"));
            }
            assert_eq!(h.run(&format!("SET new{round} v")), ok());
            h.advance(Duration::from_secs(1));
            assert!(keys(&mut h) <= 11, "{} keys", keys(&mut h));
        }
        for hot in 0..3 {
            assert_eq!(
                h.run(&format!("EXISTS cold{hot}")),
                i(1),
                "cold{hot} was read"
            );
        }
        for n in 3..10 {
            assert_eq!(h.run(&format!("EXISTS cold{n}")), i(0), "cold{n} idled");
        }
        let evicted: u64 = info_field(&mut h, "stats", "evicted_keys").parse().unwrap();
        assert_eq!(evicted, 40 - keys(&mut h) as u64);
    }

    #[test]
    fn volatile_policies_evict_only_keys_with_a_ttl_and_ttl_the_soonest() {
        for policy in [
            "volatile-lru",
            "volatile-lfu",
            "volatile-random",
            "volatile-ttl",
        ] {
            let mut h = harness(policy);
            for n in 0..5 {
                assert_eq!(h.run(&format!("SET keep{n} v")), ok());
                assert_eq!(h.run(&format!("SET ttl{n} v EX {}", 1000 - n)), ok());
            }
            // The 11th key is let in; each write after it makes room first: 4 TTL keys go.
            for n in 0..5 {
                assert_eq!(h.run(&format!("SET more{n} v")), ok(), "{policy}");
            }
            let has = |h: &Harness, key: &str| h.server.db.spaces[0].get(key.as_bytes()).is_some();
            for n in 0..5 {
                assert!(has(&h, &format!("keep{n}")), "{policy}: keep{n}");
                assert!(has(&h, &format!("more{n}")), "{policy}: more{n}");
            }
            assert_eq!(h.server.db.spaces[0].volatile_len(), 1, "{policy}");
            if policy == "volatile-ttl" {
                // ttl4 expires first, then ttl3…: ttl0, the last to expire, is left.
                assert!(has(&h, "ttl0"));
            }
            // Once no key has a TTL, nothing may go: writes are refused.
            assert_eq!(h.run("SET last v"), ok(), "{policy}: ttl0 makes room");
            assert_eq!(h.server.db.spaces[0].volatile_len(), 0);
            assert_eq!(h.run("SET last2 v"), e(OOM), "{policy}");
            assert_eq!(info_field(&mut h, "stats", "evicted_keys"), "5");
        }
    }

    #[test]
    fn allkeys_lfu_keeps_the_keys_read_often_and_object_freq_grows() {
        let mut h = harness("allkeys-lfu");
        assert_eq!(h.run("SET hot v"), ok());
        assert_eq!(h.run("OBJECT FREQ hot"), i(5), "LFU_INIT_VAL");
        assert_eq!(
            h.run("OBJECT IDLETIME hot"),
            e("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
        );
        for _ in 0..100 {
            h.run("GET hot");
        }
        let Frame::Integer(freq) = h.run("OBJECT FREQ hot") else {
            panic!()
        };
        assert!((8..=13).contains(&freq), "{freq}");
        for n in 0..40 {
            assert_eq!(h.run(&format!("SET cold{n} v")), ok());
            h.run("GET hot");
        }
        assert_eq!(h.run("EXISTS hot"), i(1));
        // A minute idle per decay step: the count falls.
        h.advance(Duration::from_secs(180));
        let Frame::Integer(later) = h.run("OBJECT FREQ hot") else {
            panic!()
        };
        assert!(later < freq, "{later} < {freq}");
        // RESTORE FREQ sets the count under LFU.
        let Frame::Bulk(payload) = h.run("DUMP hot") else {
            panic!()
        };
        h.args(&[b"RESTORE", b"copy", b"0", &payload, b"FREQ", b"100"]);
        assert_eq!(h.run("OBJECT FREQ copy"), i(100));
        // Back to LRU: FREQ is refused, IDLETIME answers.
        assert_eq!(h.run("CONFIG SET maxmemory-policy allkeys-lru"), ok());
        assert_eq!(
            h.run("OBJECT FREQ hot"),
            e("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
        );
    }

    #[test]
    fn a_lower_maxmemory_evicts_at_the_next_command() {
        let mut h = harness("allkeys-random");
        for n in 0..10 {
            assert_eq!(h.run(&format!("SET k{n} v")), ok());
        }
        assert_eq!(h.run("CONFIG SET maxmemory 4000"), ok());
        assert_eq!(keys(&mut h), 10, "CONFIG SET itself is let through first");
        assert_eq!(h.run("PING"), Frame::Simple("PONG".into()));
        assert_eq!(keys(&mut h), 4);
        assert_eq!(info_field(&mut h, "stats", "evicted_keys"), "6");
        assert_eq!(h.run("CONFIG RESETSTAT"), ok());
        assert_eq!(info_field(&mut h, "stats", "evicted_keys"), "0");
    }

    #[test]
    fn an_eviction_is_propagated_as_a_del_of_its_own_before_the_command() {
        let mut h = harness("allkeys-lru");
        h.server.db.propagation.aof = Some(Default::default());
        for n in 0..11 {
            assert_eq!(h.run(&format!("SET k{n} v")), ok());
        }
        h.server.db.propagation.aof.as_mut().unwrap().buf.clear();
        assert_eq!(h.run("MULTI"), ok());
        assert_eq!(h.run("DISCARD"), ok());
        assert_eq!(h.run("SET x v"), ok());
        let buf = h.server.db.propagation.aof.as_mut().unwrap().buf.split();
        let text = String::from_utf8(buf.to_vec()).unwrap();
        assert!(text.starts_with("*2\r\n$3\r\nDEL\r\n$2\r\nk"), "{text:?}");
        assert!(
            text.ends_with("*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$1\r\nv\r\n"),
            "{text:?}"
        );
        assert!(!text.contains("MULTI"), "{text:?}");
    }

    #[test]
    fn watchers_of_an_evicted_key_fail() {
        let mut h = harness("allkeys-lru");
        assert_eq!(h.run("SET watched v"), ok());
        assert_eq!(h.run("WATCH watched"), ok());
        for n in 0..10 {
            assert_eq!(h.run(&format!("SET k{n} v")), ok());
        }
        // Room for none: every key goes.
        assert_eq!(h.run("CONFIG SET maxmemory 1"), ok());
        assert_eq!(h.run("PING"), Frame::Simple("PONG".into()));
        assert_eq!(keys(&mut h), 0);
        assert_eq!(h.run("EXISTS watched"), i(0));
        assert_eq!(h.run("MULTI"), ok());
        assert_eq!(h.run("PING"), Frame::Simple("QUEUED".into()));
        assert_eq!(h.run("EXEC"), Frame::Null);
    }

    #[test]
    fn policies_and_parameters_are_config_directives_with_redis_errors() {
        let mut h = Harness::new();
        h.check(&[
            (
                "CONFIG SET maxmemory-policy bogus",
                e("ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction"),
            ),
            ("CONFIG SET maxmemory-policy ALLKEYS-LFU", ok()),
            (
                "CONFIG GET maxmemory-policy",
                Frame::Array(vec![b("maxmemory-policy"), b("allkeys-lfu")]),
            ),
            (
                "CONFIG SET maxmemory-samples 0",
                e("ERR CONFIG SET failed (possibly related to argument 'maxmemory-samples') - argument must be between 1 and 2147483647 inclusive"),
            ),
            (
                "CONFIG SET lfu-log-factor -1",
                e("ERR CONFIG SET failed (possibly related to argument 'lfu-log-factor') - argument must be between 0 and 2147483647 inclusive"),
            ),
            (
                "CONFIG SET maxmemory-eviction-tenacity 101",
                e("ERR CONFIG SET failed (possibly related to argument 'maxmemory-eviction-tenacity') - argument must be between 0 and 100 inclusive"),
            ),
            ("CONFIG SET lfu-decay-time 0 lfu-log-factor 0 maxmemory-samples 10", ok()),
        ]);
        let c = &h.server.shared.config;
        assert_eq!(
            (c.lfu_decay_time, c.lfu_log_factor, c.maxmemory_samples),
            (0, 0, 10)
        );
        // The rules follow the configuration from the next command on.
        assert_eq!(h.run("PING"), Frame::Simple("PONG".into()));
        assert!(h.server.db.evict.access.is_lfu());
    }

    #[test]
    fn bytes_print_as_redis_prints_them() {
        use crate::cmd::info::bytes_to_human as human;
        assert_eq!(human(0), "0B");
        assert_eq!(human(1023), "1023B");
        assert_eq!(human(914_536), "893.10K");
        assert_eq!(human(3 << 20), "3.00M");
        assert_eq!(human(5 << 30), "5.00G");
    }
}
