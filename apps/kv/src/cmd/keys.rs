//! Key commands: DEL UNLINK EXISTS TOUCH TYPE KEYS SCAN RANDOMKEY RENAME RENAMENX, the EXPIRE
//! family (NX XX GT LT), TTL PTTL EXPIRETIME PEXPIRETIME PERSIST, DUMP RESTORE.

use bytes::Bytes;

use super::args::{arg, int_arg, is};
use super::ctx::{CmdResult, Ctx};
use crate::error::CmdError;
use crate::glob;
use crate::types::value::Value;

/// `DEL key…` (also UNLINK)
pub(crate) fn del(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.dbi();
    let n = args
        .get(1..)
        .unwrap_or_default()
        .iter()
        .filter(|k| ctx.db.delete(db, k, ctx.now))
        .count();
    ctx.out.int(n as i64);
    Ok(())
}

/// `EXISTS key…`: counts keys, repeats included, without marking them accessed.
pub(crate) fn exists(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    count_keys(ctx, args, |db, d, k, now| d.exists(db, k, now))
}

/// `TOUCH key…`: counts keys like EXISTS, and marks them accessed (OBJECT IDLETIME 0).
pub(crate) fn touch(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    count_keys(ctx, args, |db, d, k, now| d.entry(db, k, now).is_some())
}

fn count_keys(
    ctx: &mut Ctx<'_, '_>,
    args: &[Bytes],
    found: impl Fn(usize, &mut crate::db::Db, &[u8], u64) -> bool,
) -> CmdResult {
    let db = ctx.dbi();
    let n = args
        .get(1..)
        .unwrap_or_default()
        .iter()
        .filter(|k| found(db, ctx.db, k, ctx.now))
        .count();
    ctx.out.int(n as i64);
    Ok(())
}

/// `TYPE key`
pub(crate) fn type_(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.dbi();
    let name = ctx
        .db
        .peek(db, arg(args, 1), ctx.now)
        .map_or("none", |e| e.value.type_name());
    ctx.out.simple(name);
    Ok(())
}

/// `KEYS pattern`
pub(crate) fn keys(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let pattern = arg(args, 1);
    let now = ctx.now;
    let space = ctx.db.space(ctx.client.db);
    let found: Vec<&[u8]> = space
        .iter()
        .filter(|e| e.expire_at == 0 || e.expire_at > now)
        .map(|e| e.key.as_bytes())
        .filter(|k| pattern == b"*" || glob::matches(pattern, k, false))
        .collect();
    ctx.out.array_len(found.len());
    for k in found {
        ctx.out.bulk(k);
    }
    Ok(())
}

/// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`
pub(crate) fn scan(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let cursor = super::args::cursor_arg(arg(args, 1))?;
    let mut pattern: Option<&[u8]> = None;
    let mut count = 10usize;
    let mut type_filter: Option<String> = None;
    let mut i = 2;
    while let Some(opt) = args.get(i) {
        let value = args.get(i + 1).ok_or(CmdError::Syntax)?;
        if is(opt, "match") {
            pattern = Some(value);
        } else if is(opt, "count") {
            let n = int_arg(value)?;
            if n < 1 {
                return Err(CmdError::Syntax);
            }
            count = n as usize;
        } else if is(opt, "type") {
            type_filter = Some(String::from_utf8_lossy(value).to_ascii_lowercase());
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    let now = ctx.now;
    let mut found: Vec<Vec<u8>> = Vec::new();
    let next = ctx.db.space(ctx.client.db).scan(cursor, count, |e| {
        let live = e.expire_at == 0 || e.expire_at > now;
        let matches = pattern.is_none_or(|p| glob::matches(p, &e.key, false));
        let typed = type_filter
            .as_deref()
            .is_none_or(|t| t == e.value.type_name());
        if live && matches && typed {
            found.push(e.key.to_vec());
        }
    });
    ctx.out.array_len(2);
    ctx.out.bulk(next.to_string().as_bytes());
    ctx.out.array_len(found.len());
    for k in found {
        ctx.out.bulk(&k);
    }
    Ok(())
}

/// A cheap random number (xorshift over the clock and a counter): RANDOMKEY needs no more.
pub(crate) fn random(seed: u64) -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STATE: AtomicU64 = AtomicU64::new(0x2545_F491_4F6C_DD1D);
    let mut x = STATE.load(Ordering::Relaxed) ^ seed.rotate_left(17);
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    STATE.store(x, Ordering::Relaxed);
    x
}

/// `RANDOMKEY`
pub(crate) fn randomkey(ctx: &mut Ctx<'_, '_>, _args: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let db = ctx.dbi();
    for attempt in 0..100u64 {
        let n = random(now ^ attempt) as usize;
        let Some(key) = ctx.db.space(db).key_near(n).cloned() else {
            break;
        };
        if ctx.db.exists(db, &key, now) {
            ctx.out.bulk(&key);
            return Ok(());
        }
    }
    ctx.out.null();
    Ok(())
}

/// Takes `key` out of database `db` with its expiry time (0: none), for RENAME and MOVE to put
/// it back under another name or in another database. The expiry is read before the removal,
/// which takes the key off the expiry list and so clears the removed entry's time.
fn take(ctx: &mut Ctx<'_, '_>, db: usize, key: &[u8]) -> Option<(Value, u64)> {
    let expire_at = ctx.db.peek(db, key, ctx.now)?.expire_at;
    let entry = ctx.db.space(db).remove(key)?;
    Some((entry.value, expire_at))
}

fn rename_impl(ctx: &mut Ctx<'_, '_>, args: &[Bytes], nx: bool) -> CmdResult {
    let (from, to) = (arg(args, 1), arg(args, 2));
    let db = ctx.dbi();
    let now = ctx.now;
    if !ctx.db.exists(db, from, now) {
        return Err(CmdError::err("no such key"));
    }
    if from == to {
        if nx {
            ctx.out.int(0);
        } else {
            ctx.out.ok();
        }
        return Ok(());
    }
    if nx && ctx.db.exists(db, to, now) {
        ctx.out.int(0);
        return Ok(());
    }
    let Some((value, expire_at)) = take(ctx, db, from) else {
        return Err(CmdError::err("no such key"));
    };
    ctx.db.set(db, to, value, false, now);
    if expire_at != 0 {
        ctx.db.space(db).set_expire_at(to, expire_at);
    }
    if nx {
        ctx.out.int(1);
    } else {
        ctx.out.ok();
    }
    Ok(())
}

/// `RENAME key newkey`
pub(crate) fn rename(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    rename_impl(ctx, args, false)
}

/// `RENAMENX key newkey`
pub(crate) fn renamenx(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    rename_impl(ctx, args, true)
}

/// The shared body of EXPIRE, PEXPIRE, EXPIREAT and PEXPIREAT: `at_ms(n)` turns the argument
/// into a Unix time in milliseconds.
fn expire_impl(
    ctx: &mut Ctx<'_, '_>,
    args: &[Bytes],
    name: &str,
    at_ms: impl Fn(i64, u64) -> Option<i64>,
) -> CmdResult {
    let key = arg(args, 1);
    let n = int_arg(arg(args, 2))?;
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in args.get(3..).unwrap_or_default() {
        if is(opt, "nx") {
            nx = true;
        } else if is(opt, "xx") {
            xx = true;
        } else if is(opt, "gt") {
            gt = true;
        } else if is(opt, "lt") {
            lt = true;
        } else {
            return Err(CmdError::err(format!(
                "Unsupported option {}",
                String::from_utf8_lossy(opt)
            )));
        }
    }
    if nx && (xx || gt || lt) {
        return Err(CmdError::err(
            "NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if gt && lt {
        return Err(CmdError::err(
            "GT and LT options at the same time are not compatible",
        ));
    }
    let now = ctx.now;
    let at = at_ms(n, now)
        .ok_or_else(|| CmdError::err(format!("invalid expire time in '{name}' command")))?;
    let db = ctx.dbi();
    let Some(entry) = ctx.db.entry(db, key, now) else {
        ctx.out.int(0);
        return Ok(());
    };
    let current = entry.expire_at;
    // A key without a TTL counts as an infinite TTL for GT and LT.
    let ok = if nx {
        current == 0
    } else if xx && current == 0 {
        false
    } else if gt {
        current != 0 && at > current as i64
    } else if lt {
        current == 0 || (at as u64) < current
    } else {
        true
    };
    if !ok {
        ctx.out.int(0);
        return Ok(());
    }
    if at <= now as i64 {
        ctx.db.delete(db, key, now);
        // A time already past deletes, and a replay must not depend on when it runs.
        ctx.db.propagation.replace(vec![
            Bytes::from_static(b"DEL"),
            Bytes::copy_from_slice(key),
        ]);
    } else {
        ctx.db.space(db).set_expire_at(key, at as u64);
        ctx.db.dirty += 1;
        // Relative times are made absolute, so a replay later expires the key at the same
        // moment (the options are kept, as Redis keeps them).
        let absolute = args.iter().enumerate().map(|(i, a)| match i {
            0 => Bytes::from_static(b"PEXPIREAT"),
            2 => Bytes::from(at.to_string()),
            _ => a.clone(),
        });
        ctx.db.propagation.replace(absolute.collect());
    }
    ctx.out.int(1);
    Ok(())
}

/// `EXPIRE key seconds [NX | XX | GT | LT]`
pub(crate) fn expire(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    expire_impl(ctx, args, "expire", |n, now| {
        n.checked_mul(1000)?.checked_add(now as i64)
    })
}

/// `PEXPIRE key milliseconds [NX | XX | GT | LT]`
pub(crate) fn pexpire(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    expire_impl(ctx, args, "pexpire", |n, now| n.checked_add(now as i64))
}

/// `EXPIREAT key unix-seconds [NX | XX | GT | LT]`
pub(crate) fn expireat(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    expire_impl(ctx, args, "expireat", |n, _| n.checked_mul(1000))
}

/// `PEXPIREAT key unix-milliseconds [NX | XX | GT | LT]`
pub(crate) fn pexpireat(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    expire_impl(ctx, args, "pexpireat", |n, _| Some(n))
}

/// -2 for a missing key, -1 for no expiry, else `f(expire_at, now)`.
fn ttl_impl(ctx: &mut Ctx<'_, '_>, args: &[Bytes], f: impl Fn(u64, u64) -> i64) -> CmdResult {
    let db = ctx.dbi();
    let now = ctx.now;
    let v = match ctx.db.peek(db, arg(args, 1), now) {
        None => -2,
        Some(e) if e.expire_at == 0 => -1,
        Some(e) => f(e.expire_at, now),
    };
    ctx.out.int(v);
    Ok(())
}

/// `TTL key`: seconds left, rounded as Redis rounds them.
pub(crate) fn ttl(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    ttl_impl(ctx, args, |at, now| {
        ((at - now).saturating_add(500) / 1000) as i64
    })
}

/// `PTTL key`
pub(crate) fn pttl(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    ttl_impl(ctx, args, |at, now| (at - now) as i64)
}

/// `EXPIRETIME key`: rounded to the nearest second, as Redis rounds TTL (`(ms + 500) / 1000`).
pub(crate) fn expiretime(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    ttl_impl(ctx, args, |at, _| (at.saturating_add(500) / 1000) as i64)
}

/// `PEXPIRETIME key`
pub(crate) fn pexpiretime(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    ttl_impl(ctx, args, |at, _| at as i64)
}

/// `PERSIST key`
pub(crate) fn persist(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.dbi();
    let key = arg(args, 1);
    let had = ctx
        .db
        .entry(db, key, ctx.now)
        .is_some_and(|e| e.expire_at != 0);
    if had {
        ctx.db.space(db).set_expire_at(key, 0);
        ctx.db.dirty += 1;
    }
    ctx.out.int(i64::from(had));
    Ok(())
}

/// `COPY source destination [DB destination-db] [REPLACE]`
pub(crate) fn copy(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let (src, dst) = (arg(args, 1), arg(args, 2));
    let mut target_db = ctx.dbi();
    let mut replace = false;
    let mut i = 3;
    while let Some(opt) = args.get(i) {
        if is(opt, "replace") {
            replace = true;
        } else if is(opt, "db") && args.get(i + 1).is_some() {
            let n = int_arg(arg(args, i + 1))?;
            if n < 0 || n as usize >= ctx.db.spaces.len() {
                return Err(CmdError::err("DB index is out of range"));
            }
            target_db = n as usize;
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    let db = ctx.dbi();
    let now = ctx.now;
    if db == target_db && src == dst {
        return Err(CmdError::err("source and destination objects are the same"));
    }
    let Some(entry) = ctx.db.entry(db, src, now).cloned() else {
        ctx.out.int(0);
        return Ok(());
    };
    if ctx.db.exists(target_db, dst, now) {
        if !replace {
            ctx.out.int(0);
            return Ok(());
        }
        ctx.db.delete(target_db, dst, now);
    }
    ctx.db.set(target_db, dst, entry.value, false, now);
    if entry.expire_at != 0 {
        ctx.db.space(target_db).set_expire_at(dst, entry.expire_at);
    }
    ctx.shared.touch(target_db, dst);
    ctx.out.int(1);
    Ok(())
}

/// `MOVE key db`
pub(crate) fn move_(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let key = arg(args, 1);
    let n = int_arg(arg(args, 2))?;
    if n < 0 || n as usize >= ctx.db.spaces.len() {
        return Err(CmdError::err("DB index is out of range"));
    }
    let (db, target) = (ctx.dbi(), n as usize);
    if db == target {
        return Err(CmdError::err("source and destination objects are the same"));
    }
    let now = ctx.now;
    if !ctx.db.exists(db, key, now) || ctx.db.exists(target, key, now) {
        ctx.out.int(0);
        return Ok(());
    }
    let Some((value, expire_at)) = take(ctx, db, key) else {
        ctx.out.int(0);
        return Ok(());
    };
    ctx.db.set(target, key, value, false, now);
    if expire_at != 0 {
        ctx.db.space(target).set_expire_at(key, expire_at);
    }
    ctx.shared.touch(target, key);
    ctx.out.int(1);
    Ok(())
}

/// `SWAPDB index1 index2`
pub(crate) fn swapdb(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let parse = |b: &[u8]| -> Result<usize, CmdError> {
        let n = int_arg(b).map_err(|_| CmdError::err("invalid first DB index"))?;
        if n < 0 {
            return Err(CmdError::err("DB index is out of range"));
        }
        Ok(n as usize)
    };
    let a = parse(arg(args, 1))?;
    let b = int_arg(arg(args, 2)).map_err(|_| CmdError::err("invalid second DB index"))?;
    let n = ctx.db.spaces.len();
    if a >= n || b < 0 || b as usize >= n {
        return Err(CmdError::err("DB index is out of range"));
    }
    let b = b as usize;
    if let (Some(x), Some(y)) = (ctx.db.spaces.get(a), ctx.db.spaces.get(b)) {
        if a != b {
            ctx.shared.touch_db(a, x, Some(y), ctx.now);
            ctx.shared.touch_db(b, y, Some(x), ctx.now);
        }
    }
    ctx.db.spaces.swap(a, b);
    ctx.db.dirty += 1;
    ctx.out.ok();
    Ok(())
}

/// `OBJECT ENCODING | FREQ | IDLETIME | REFCOUNT key`
pub(crate) fn object(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let sub = arg(args, 1);
    if args.len() != 3 {
        return Err(CmdError::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try OBJECT HELP.",
            String::from_utf8_lossy(sub)
        )));
    }
    let db = ctx.dbi();
    let now = ctx.now;
    let Some(e) = ctx.db.peek(db, arg(args, 2), now) else {
        ctx.out.null();
        return Ok(());
    };
    if is(sub, "encoding") {
        let name = crate::types::value::encoding_name(&e.value, &ctx.shared.config);
        ctx.out.bulk(name.as_bytes());
    } else if is(sub, "refcount") {
        let n = super::introspect::refcount(&e.value, &ctx.shared.config);
        ctx.out.int(n);
    } else if is(sub, "idletime") {
        if ctx.shared.config.maxmemory_policy.is_lfu() {
            return Err(CmdError::err(
                "An LFU maxmemory policy is selected, idle time not tracked. Please note that \
                 when switching between policies at runtime LRU and LFU data will take some time \
                 to adjust.",
            ));
        }
        ctx.out.int(i64::from(e.idle_seconds(now)));
    } else if is(sub, "freq") {
        if !ctx.shared.config.maxmemory_policy.is_lfu() {
            return Err(CmdError::err(
                "An LFU maxmemory policy is not selected, access frequency not tracked. Please \
                 note that when switching between policies at runtime LRU and LFU data will \
                 take some time to adjust.",
            ));
        }
        let stamp = e.accessed;
        let freq = ctx.db.evict.access.frequency(stamp, now);
        ctx.out.int(i64::from(freq));
    } else {
        return Err(CmdError::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try OBJECT HELP.",
            String::from_utf8_lossy(sub)
        )));
    }
    Ok(())
}

/// `DUMP key`: the value serialized as Redis's DUMP does (see `rdb::dump`), nil if missing.
pub(crate) fn dump(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.dbi();
    match ctx.db.read(db, arg(args, 1), ctx.now) {
        Some(e) => {
            let payload = crate::rdb::dump(&e.value);
            ctx.out.bulk(&payload);
        }
        None => ctx.out.null(),
    }
    Ok(())
}

/// `RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]`, with
/// Redis's checks in Redis's order (options, BUSYKEY, TTL, version and checksum, contents).
/// As Redis's objectSetLRUOrLFU, FREQ sets the key's access frequency under an LFU policy and
/// IDLETIME its idle time under any other (each is checked, and ignored under the other).
pub(crate) fn restore(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq) = (None, None);
    let mut i = 4;
    while let Some(opt) = args.get(i) {
        let more = args.len() - i - 1;
        if is(opt, "replace") {
            replace = true;
        } else if is(opt, "absttl") {
            absttl = true;
        } else if is(opt, "idletime") && more >= 1 && freq.is_none() {
            let n = int_arg(arg(args, i + 1))?;
            if n < 0 {
                return Err(CmdError::err("Invalid IDLETIME value, must be >= 0"));
            }
            idle = Some(n);
            i += 1;
        } else if is(opt, "freq") && more >= 1 && idle.is_none() {
            let n = int_arg(arg(args, i + 1))?;
            if !(0..=255).contains(&n) {
                return Err(CmdError::err("Invalid FREQ value, must be >= 0 and <= 255"));
            }
            freq = Some(n);
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    let (db, now, key) = (ctx.dbi(), ctx.now, arg(args, 1));
    if !replace && ctx.db.exists(db, key, now) {
        return Err(CmdError::Msg(
            "BUSYKEY Target key name already exists.".into(),
        ));
    }
    let ttl = int_arg(arg(args, 2))?;
    if ttl < 0 {
        return Err(CmdError::err("Invalid TTL value, must be >= 0"));
    }
    let payload = arg(args, 3);
    if !crate::rdb::verify_payload(payload) {
        return Err(CmdError::err("DUMP payload version or checksum are wrong"));
    }
    let Ok(Some(value)) = crate::rdb::decode_payload(payload) else {
        return Err(CmdError::err("Bad data format"));
    };
    let deleted = replace && ctx.db.delete(db, key, now);
    let at = match (ttl, absttl) {
        (0, _) => 0,
        (t, true) => t as u64,
        // Redis adds the current time in a signed 64-bit integer: past its range the sum
        // wraps negative, which reads as already expired, and the key is not created.
        (t, false) => i64::try_from(now)
            .ok()
            .and_then(|n| n.checked_add(t))
            .map_or(1, |at| at as u64),
    };
    if at != 0 && at <= now {
        if deleted {
            ctx.shared.touch(db, key);
        }
        ctx.out.ok();
        return Ok(());
    }
    ctx.db.set(db, key, value, false, now);
    let space = ctx.db.space(db);
    if at != 0 {
        space.set_expire_at(key, at);
    }
    let lfu = ctx.shared.config.maxmemory_policy.is_lfu();
    if let (Some(idle), (Some(e), _), false) = (idle, space.live_mut(key, now), lfu) {
        let idle = u32::try_from(idle).unwrap_or(u32::MAX);
        e.accessed = crate::db::unix_seconds(now).saturating_sub(idle);
    }
    if let (Some(freq), (Some(e), _), true) = (freq, space.live_mut(key, now), lfu) {
        let freq = u8::try_from(freq).unwrap_or(u8::MAX);
        e.accessed = crate::evict::Access::with_frequency(freq, now);
    }
    ctx.shared.touch(db, key);
    ctx.out.ok();
    Ok(())
}

/// An estimate of the bytes a value uses (MEMORY USAGE): entry, inline parts and heap parts.
pub(crate) fn memory_of(key: &[u8], v: &Value) -> usize {
    use crate::types::str::Str;
    let s = |x: &Str| std::mem::size_of::<Str>() + x.heap_size();
    let base = 64 + key.len().saturating_sub(22);
    base + match v {
        Value::Str(x) => x.heap_size(),
        Value::Int(_) => 0,
        Value::List(l) => l.iter().map(s).sum::<usize>() + 48,
        Value::Hash(h) => h.heap_size() + 48,
        Value::Set(st) => st.iter().map(|m| s(m) + 8).sum::<usize>() + 64,
        Value::ZSet(z) => z.len() * 96 + 64,
        Value::Stream(st) => st.heap_size(),
    }
}

/// `MEMORY USAGE key [SAMPLES count]`
pub(crate) fn memory(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let sub = arg(args, 1);
    if !is(sub, "usage") {
        return super::introspect::memory(ctx, args);
    }
    if args.len() < 3 {
        return Err(CmdError::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try MEMORY HELP.",
            String::from_utf8_lossy(sub)
        )));
    }
    let db = ctx.dbi();
    let key = arg(args, 2);
    match ctx.db.entry(db, key, ctx.now) {
        Some(e) => {
            let n = memory_of(key, &e.value);
            ctx.out.int(n as i64);
        }
        None => ctx.out.null(),
    }
    Ok(())
}

/// Resolves a SORT `BY`/`GET` pattern for `element`: `#` is the element itself, `key*` the
/// string at that key, `key*->field` a hash field.
fn sort_lookup(ctx: &mut Ctx<'_, '_>, pattern: &[u8], element: &[u8]) -> Option<Vec<u8>> {
    if pattern == b"#" {
        return Some(element.to_vec());
    }
    let star = pattern.iter().position(|&c| c == b'*')?;
    let (head, tail) = pattern.split_at(star);
    let tail = tail.get(1..).unwrap_or_default();
    let (tail, field) = match tail.windows(2).position(|w| w == b"->") {
        Some(p) => (tail.get(..p)?, tail.get(p + 2..)),
        None => (tail, None),
    };
    let key = [head, element, tail].concat();
    let db = ctx.dbi();
    let e = ctx.db.entry(db, &key, ctx.now)?;
    match (field, &e.value) {
        (None, v @ (Value::Str(_) | Value::Int(_))) => {
            super::args::string_bytes(v).ok().map(|b| b.into_owned())
        }
        (Some(f), Value::Hash(h)) => h.get(f).map(|v| v.to_vec()),
        _ => None,
    }
}

fn sort_impl(ctx: &mut Ctx<'_, '_>, args: &[Bytes], readonly: bool) -> CmdResult {
    let key = arg(args, 1);
    let (mut by, mut desc, mut alpha) = (None::<Bytes>, false, false);
    let mut limit: Option<(i64, i64)> = None;
    let mut gets: Vec<Bytes> = Vec::new();
    let mut store: Option<Bytes> = None;
    let mut i = 2;
    while let Some(opt) = args.get(i) {
        let next = args.get(i + 1);
        if is(opt, "asc") {
            desc = false;
        } else if is(opt, "desc") {
            desc = true;
        } else if is(opt, "alpha") {
            alpha = true;
        } else if is(opt, "by") && next.is_some() {
            by = next.cloned();
            i += 1;
        } else if is(opt, "get") && next.is_some() {
            gets.extend(next.cloned());
            i += 1;
        } else if is(opt, "limit") && args.get(i + 2).is_some() {
            limit = Some((int_arg(arg(args, i + 1))?, int_arg(arg(args, i + 2))?));
            i += 2;
        } else if is(opt, "store") && next.is_some() && !readonly {
            store = next.cloned();
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    let db = ctx.dbi();
    let now = ctx.now;
    let elements: Vec<Vec<u8>> = match ctx.db.entry(db, key, now).map(|e| &e.value) {
        None => Vec::new(),
        Some(Value::List(l)) => l.iter().map(|m| m.to_vec()).collect(),
        Some(Value::Set(s)) => s.iter().map(|m| m.to_vec()).collect(),
        Some(Value::ZSet(z)) => z.iter().map(|(m, _)| m.to_vec()).collect(),
        Some(_) => return Err(CmdError::WrongType),
    };
    let dont_sort = by.as_deref().is_some_and(|b| !b.contains(&b'*'));
    let mut keyed: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::with_capacity(elements.len());
    for e in elements {
        let weight = match &by {
            Some(p) if !dont_sort => sort_lookup(ctx, p, &e),
            _ => Some(e.clone()),
        };
        keyed.push((e, weight));
    }
    if !dont_sort {
        if alpha {
            keyed.sort_by(|a, b| a.1.cmp(&b.1));
        } else {
            let mut scored = Vec::with_capacity(keyed.len());
            for (e, w) in keyed {
                let score = match &w {
                    Some(w) => std::str::from_utf8(w)
                        .ok()
                        .and_then(|s| s.trim().parse::<f64>().ok())
                        .filter(|f| !f.is_nan())
                        .ok_or_else(|| {
                            CmdError::err("One or more scores can't be converted into double")
                        })?,
                    None => 0.0,
                };
                scored.push((e, score));
            }
            scored.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
            keyed = scored.into_iter().map(|(e, _)| (e, None)).collect();
        }
        if desc {
            keyed.reverse();
        }
    }
    let mut picked: Vec<Vec<u8>> = keyed.into_iter().map(|(e, _)| e).collect();
    if let Some((off, count)) = limit {
        let off = off.max(0) as usize;
        let count = if count < 0 {
            picked.len()
        } else {
            count as usize
        };
        picked = picked.into_iter().skip(off).take(count).collect();
    }
    let mut rows: Vec<Option<Vec<u8>>> = Vec::new();
    if gets.is_empty() {
        rows = picked.into_iter().map(Some).collect();
    } else {
        for e in &picked {
            for g in &gets {
                rows.push(sort_lookup(ctx, g, e));
            }
        }
    }
    match store {
        Some(dest) => {
            let list: std::collections::VecDeque<crate::types::str::Str> = rows
                .iter()
                .map(|r| crate::types::str::Str::new(r.as_deref().unwrap_or_default()))
                .collect();
            let n = list.len();
            ctx.db.delete(db, &dest, now);
            if n > 0 {
                ctx.db
                    .set(db, &dest, Value::List(Box::new(list)), false, now);
            }
            ctx.shared.touch(db, &dest);
            ctx.out.int(n as i64);
        }
        None => {
            ctx.out.array_len(rows.len());
            for r in rows {
                match r {
                    Some(b) => ctx.out.bulk(&b),
                    None => ctx.out.null(),
                }
            }
        }
    }
    Ok(())
}

/// `SORT key [BY pattern] [LIMIT offset count] [GET pattern …] [ASC | DESC] [ALPHA] [STORE dest]`
pub(crate) fn sort(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    sort_impl(ctx, args, false)
}

/// `SORT_RO key [BY pattern] [LIMIT offset count] [GET pattern …] [ASC | DESC] [ALPHA]`
pub(crate) fn sort_ro(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    sort_impl(ctx, args, true)
}
