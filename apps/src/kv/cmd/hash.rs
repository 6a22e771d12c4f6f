//! Hash commands: HSET HMSET HSETNX HGET HMGET HGETALL HKEYS HVALS HLEN HEXISTS HDEL HINCRBY
//! HSTRLEN.

use std::collections::HashMap;

use bytes::Bytes;

use super::{int_arg, CmdError, CmdResult, Ctx};
use crate::kv::str::Str;
use crate::kv::value::Value;

fn arg(args: &[Bytes], i: usize) -> &[u8] {
    args.get(i).map_or(&[][..], |b| b)
}

/// The hash at `key`, created if missing.
fn hash_for_write<'c>(
    ctx: &'c mut Ctx<'_, '_>,
    key: &[u8],
) -> Result<&'c mut HashMap<Str, Str>, CmdError> {
    let db = ctx.dbi();
    let now = ctx.now;
    if !ctx.db.exists(db, key, now) {
        ctx.db.set(db, key, Value::Hash(Box::default()), false, now);
    }
    ctx.db.dirty += 1;
    match ctx.db.entry(db, key, now).map(|e| &mut e.value) {
        Some(Value::Hash(h)) => Ok(h),
        _ => Err(CmdError::WrongType),
    }
}

/// The hash at `key` for reading.
fn hash_for_read<'c>(
    ctx: &'c mut Ctx<'_, '_>,
    key: &[u8],
) -> Result<Option<&'c mut HashMap<Str, Str>>, CmdError> {
    let db = ctx.dbi();
    match ctx.db.read(db, key, ctx.now).map(|e| &mut e.value) {
        Some(Value::Hash(h)) => Ok(Some(h)),
        Some(_) => Err(CmdError::WrongType),
        None => Ok(None),
    }
}

fn field_pairs<'a>(args: &'a [Bytes], name: &str) -> Result<&'a [Bytes], CmdError> {
    let rest = args.get(2..).unwrap_or_default();
    if rest.is_empty() || rest.len() % 2 != 0 {
        return Err(CmdError::err(format!(
            "wrong number of arguments for '{name}' command"
        )));
    }
    Ok(rest)
}

/// `HSET key field value [field value …]`
pub fn hset(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let pairs = field_pairs(args, "hset")?;
    let h = hash_for_write(ctx, arg(args, 1))?;
    let mut added = 0;
    for p in pairs.chunks(2) {
        if let [f, v] = p {
            if h.insert(Str::new(f), Str::new(v)).is_none() {
                added += 1;
            }
        }
    }
    ctx.out.int(added);
    Ok(())
}

/// `HMSET key field value [field value …]`
pub fn hmset(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let pairs = field_pairs(args, "hmset")?;
    let h = hash_for_write(ctx, arg(args, 1))?;
    for p in pairs.chunks(2) {
        if let [f, v] = p {
            h.insert(Str::new(f), Str::new(v));
        }
    }
    ctx.out.ok();
    Ok(())
}

/// `HSETNX key field value`
pub fn hsetnx(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let h = hash_for_write(ctx, arg(args, 1))?;
    let field = arg(args, 2);
    let added = if h.contains_key(field) {
        0
    } else {
        h.insert(Str::new(field), Str::new(arg(args, 3)));
        1
    };
    ctx.out.int(added);
    Ok(())
}

/// `HGET key field`
pub fn hget(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let v = hash_for_read(ctx, arg(args, 1))?.and_then(|h| h.get(arg(args, 2)).cloned());
    match v {
        Some(v) => ctx.out.bulk(&v),
        None => ctx.out.null(),
    }
    Ok(())
}

/// `HMGET key field…`
pub fn hmget(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let fields = args.get(2..).unwrap_or_default();
    let values: Vec<Option<Str>> = match hash_for_read(ctx, arg(args, 1))? {
        Some(h) => fields.iter().map(|f| h.get(&f[..]).cloned()).collect(),
        None => fields.iter().map(|_| None).collect(),
    };
    ctx.out.array_len(values.len());
    for v in values {
        match v {
            Some(v) => ctx.out.bulk(&v),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn dump(ctx: &mut Ctx<'_, '_>, key: &[u8], keys: bool, vals: bool) -> CmdResult {
    let db = ctx.dbi();
    let h = match ctx.db.read(db, key, ctx.now).map(|e| &e.value) {
        Some(Value::Hash(h)) => h,
        Some(_) => return Err(CmdError::WrongType),
        None => {
            if keys && vals {
                ctx.out.map_len(0);
            } else {
                ctx.out.array_len(0);
            }
            return Ok(());
        }
    };
    if keys && vals {
        ctx.out.map_len(h.len());
    } else {
        ctx.out.array_len(h.len());
    }
    for (f, v) in h.iter() {
        if keys {
            ctx.out.bulk(f);
        }
        if vals {
            ctx.out.bulk(v);
        }
    }
    Ok(())
}

/// `HGETALL key`
pub fn hgetall(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    dump(ctx, arg(args, 1), true, true)
}

/// `HKEYS key`
pub fn hkeys(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    dump(ctx, arg(args, 1), true, false)
}

/// `HVALS key`
pub fn hvals(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    dump(ctx, arg(args, 1), false, true)
}

/// `HLEN key`
pub fn hlen(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let n = hash_for_read(ctx, arg(args, 1))?.map_or(0, |h| h.len());
    ctx.out.int(n as i64);
    Ok(())
}

/// `HEXISTS key field`
pub fn hexists(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let yes = hash_for_read(ctx, arg(args, 1))?.is_some_and(|h| h.contains_key(arg(args, 2)));
    ctx.out.int(i64::from(yes));
    Ok(())
}

/// `HSTRLEN key field`
pub fn hstrlen(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let n = hash_for_read(ctx, arg(args, 1))?
        .and_then(|h| h.get(arg(args, 2)).map(|v| v.len()))
        .unwrap_or(0);
    ctx.out.int(n as i64);
    Ok(())
}

/// `HDEL key field…`
pub fn hdel(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.dbi();
    let key = arg(args, 1);
    let removed = match ctx.db.entry(db, key, ctx.now).map(|e| &mut e.value) {
        Some(Value::Hash(h)) => args
            .get(2..)
            .unwrap_or_default()
            .iter()
            .filter(|f| h.remove(&f[..]).is_some())
            .count(),
        Some(_) => return Err(CmdError::WrongType),
        None => 0,
    };
    if removed > 0 {
        ctx.db.dirty += 1;
        ctx.db.drop_if_empty(db, key);
    }
    ctx.out.int(removed as i64);
    Ok(())
}

/// `HINCRBY key field increment`
pub fn hincrby(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let by = int_arg(arg(args, 3))?;
    let field = arg(args, 2);
    let h = hash_for_write(ctx, arg(args, 1))?;
    let current = match h.get(field) {
        Some(v) => std::str::from_utf8(v)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or_else(|| CmdError::err("hash value is not an integer"))?,
        None => 0,
    };
    let v = current.checked_add(by).ok_or(CmdError::Overflow)?;
    h.insert(Str::new(field), Str::new(v.to_string().as_bytes()));
    ctx.out.int(v);
    Ok(())
}
