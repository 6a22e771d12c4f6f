//! Key commands: DEL UNLINK EXISTS TOUCH TYPE KEYS SCAN RANDOMKEY RENAME RENAMENX, the EXPIRE
//! family (NX XX GT LT), TTL PTTL EXPIRETIME PEXPIRETIME PERSIST.

use bytes::Bytes;

use super::{int_arg, is, CmdError, CmdResult, Ctx};
use crate::kv::glob;

fn arg(args: &[Bytes], i: usize) -> &[u8] {
    args.get(i).map_or(&[][..], |b| b)
}

/// `DEL key…` (also UNLINK)
pub fn del(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
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

/// `EXISTS key…` (also TOUCH): counts keys, repeats included.
pub fn exists(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.dbi();
    let n = args
        .get(1..)
        .unwrap_or_default()
        .iter()
        .filter(|k| ctx.db.exists(db, k, ctx.now))
        .count();
    ctx.out.int(n as i64);
    Ok(())
}

/// `TYPE key`
pub fn type_(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.dbi();
    let name = ctx
        .db
        .entry(db, arg(args, 1), ctx.now)
        .map_or("none", |e| e.value.type_name());
    ctx.out.simple(name);
    Ok(())
}

/// `KEYS pattern`
pub fn keys(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
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
pub fn scan(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let cursor: u64 = std::str::from_utf8(arg(args, 1))
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| CmdError::err("invalid cursor"))?;
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
pub fn random(seed: u64) -> u64 {
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
pub fn randomkey(ctx: &mut Ctx<'_, '_>, _args: &[Bytes]) -> CmdResult {
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
    let Some(entry) = ctx.db.space(db).remove(from) else {
        return Err(CmdError::err("no such key"));
    };
    ctx.db.set(db, to, entry.value, false, now);
    if entry.expire_at != 0 {
        ctx.db.space(db).set_expire_at(to, entry.expire_at);
    }
    if nx {
        ctx.out.int(1);
    } else {
        ctx.out.ok();
    }
    Ok(())
}

/// `RENAME key newkey`
pub fn rename(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    rename_impl(ctx, args, false)
}

/// `RENAMENX key newkey`
pub fn renamenx(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
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
    } else {
        ctx.db.space(db).set_expire_at(key, at as u64);
        ctx.db.dirty += 1;
    }
    ctx.out.int(1);
    Ok(())
}

/// `EXPIRE key seconds [NX | XX | GT | LT]`
pub fn expire(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    expire_impl(ctx, args, "expire", |n, now| {
        n.checked_mul(1000)?.checked_add(now as i64)
    })
}

/// `PEXPIRE key milliseconds [NX | XX | GT | LT]`
pub fn pexpire(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    expire_impl(ctx, args, "pexpire", |n, now| n.checked_add(now as i64))
}

/// `EXPIREAT key unix-seconds [NX | XX | GT | LT]`
pub fn expireat(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    expire_impl(ctx, args, "expireat", |n, _| n.checked_mul(1000))
}

/// `PEXPIREAT key unix-milliseconds [NX | XX | GT | LT]`
pub fn pexpireat(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    expire_impl(ctx, args, "pexpireat", |n, _| Some(n))
}

/// -2 for a missing key, -1 for no expiry, else `f(expire_at, now)`.
fn ttl_impl(ctx: &mut Ctx<'_, '_>, args: &[Bytes], f: impl Fn(u64, u64) -> i64) -> CmdResult {
    let db = ctx.dbi();
    let now = ctx.now;
    let v = match ctx.db.entry(db, arg(args, 1), now) {
        None => -2,
        Some(e) if e.expire_at == 0 => -1,
        Some(e) => f(e.expire_at, now),
    };
    ctx.out.int(v);
    Ok(())
}

/// `TTL key`: seconds left, rounded as Redis rounds them.
pub fn ttl(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    ttl_impl(ctx, args, |at, now| ((at - now + 500) / 1000) as i64)
}

/// `PTTL key`
pub fn pttl(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    ttl_impl(ctx, args, |at, now| (at - now) as i64)
}

/// `EXPIRETIME key`
pub fn expiretime(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    ttl_impl(ctx, args, |at, _| (at / 1000) as i64)
}

/// `PEXPIRETIME key`
pub fn pexpiretime(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    ttl_impl(ctx, args, |at, _| at as i64)
}

/// `PERSIST key`
pub fn persist(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
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
