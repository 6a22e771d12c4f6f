//! Set commands: SADD SREM SCARD SISMEMBER SMEMBERS SPOP.

use bytes::Bytes;

use super::keys::random;
use super::{int_arg, CmdError, CmdResult, Ctx};
use crate::kv::set::Set;
use crate::kv::str::Str;
use crate::kv::value::Value;

fn arg(args: &[Bytes], i: usize) -> &[u8] {
    args.get(i).map_or(&[][..], |b| b)
}

fn read_set<'c>(ctx: &'c mut Ctx<'_, '_>, key: &[u8]) -> Result<Option<&'c mut Set>, CmdError> {
    let db = ctx.dbi();
    match ctx.db.read(db, key, ctx.now).map(|e| &mut e.value) {
        Some(Value::Set(s)) => Ok(Some(s)),
        Some(_) => Err(CmdError::WrongType),
        None => Ok(None),
    }
}

/// `SADD key member…`
pub fn sadd(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.dbi();
    let key = arg(args, 1);
    let now = ctx.now;
    if !ctx.db.exists(db, key, now) {
        ctx.db.set(db, key, Value::Set(Box::default()), false, now);
    }
    let Some(Value::Set(set)) = ctx.db.entry(db, key, now).map(|e| &mut e.value) else {
        return Err(CmdError::WrongType);
    };
    let added = args
        .get(2..)
        .unwrap_or_default()
        .iter()
        .filter(|m| set.insert(m))
        .count();
    ctx.db.dirty += 1;
    ctx.out.int(added as i64);
    Ok(())
}

/// `SREM key member…`
pub fn srem(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.dbi();
    let key = arg(args, 1);
    let removed = match ctx.db.entry(db, key, ctx.now).map(|e| &mut e.value) {
        Some(Value::Set(s)) => args
            .get(2..)
            .unwrap_or_default()
            .iter()
            .filter(|m| s.remove(m))
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

/// `SCARD key`
pub fn scard(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let n = read_set(ctx, arg(args, 1))?.map_or(0, |s| s.len());
    ctx.out.int(n as i64);
    Ok(())
}

/// `SISMEMBER key member`
pub fn sismember(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let yes = read_set(ctx, arg(args, 1))?.is_some_and(|s| s.contains(arg(args, 2)));
    ctx.out.int(i64::from(yes));
    Ok(())
}

/// `SMEMBERS key`
pub fn smembers(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.dbi();
    match ctx.db.read(db, arg(args, 1), ctx.now).map(|e| &e.value) {
        Some(Value::Set(s)) => {
            ctx.out.set_len(s.len());
            for m in s.iter() {
                ctx.out.bulk(m);
            }
        }
        Some(_) => return Err(CmdError::WrongType),
        None => ctx.out.set_len(0),
    }
    Ok(())
}

/// `SPOP key [count]`
pub fn spop(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let count = match args.get(2) {
        Some(c) => {
            let n = int_arg(c)?;
            if n < 0 {
                return Err(CmdError::err("value is out of range, must be positive"));
            }
            Some(n as usize)
        }
        None => None,
    };
    if args.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let db = ctx.dbi();
    let key = arg(args, 1);
    let now = ctx.now;
    let popped: Vec<Str> = match ctx.db.entry(db, key, now).map(|e| &mut e.value) {
        Some(Value::Set(s)) => {
            let n = count.unwrap_or(1).min(s.len());
            let mut picked = Vec::with_capacity(n);
            for i in 0..n {
                let pos = random(now ^ i as u64) as usize % s.len();
                if let Some(m) = s.remove_at(pos) {
                    picked.push(m);
                }
            }
            picked
        }
        Some(_) => return Err(CmdError::WrongType),
        None => Vec::new(),
    };
    ctx.db.drop_if_empty(db, key);
    if !popped.is_empty() {
        ctx.db.dirty += 1;
    }
    match count {
        None => match popped.first() {
            Some(m) => ctx.out.bulk(m),
            None => ctx.out.null(),
        },
        Some(_) => {
            ctx.out.set_len(popped.len());
            for m in &popped {
                ctx.out.bulk(m);
            }
        }
    }
    Ok(())
}
