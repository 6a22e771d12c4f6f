//! Sorted-set commands: ZADD (NX XX GT LT CH INCR) ZSCORE ZCARD ZREM ZRANGE (by index, REV,
//! WITHSCORES) ZPOPMIN ZPOPMAX.

use bytes::Bytes;

use super::string::normalize_range;
use super::{float_arg, int_arg, is, CmdError, CmdResult, Ctx};
use crate::kv::str::Str;
use crate::kv::value::{Value, ZSet};

fn arg(args: &[Bytes], i: usize) -> &[u8] {
    args.get(i).map_or(&[][..], |b| b)
}

fn read_zset<'c>(ctx: &'c mut Ctx<'_, '_>, key: &[u8]) -> Result<Option<&'c mut ZSet>, CmdError> {
    let db = ctx.dbi();
    match ctx.db.read(db, key, ctx.now).map(|e| &mut e.value) {
        Some(Value::ZSet(z)) => Ok(Some(z)),
        Some(_) => Err(CmdError::WrongType),
        None => Ok(None),
    }
}

/// `ZADD key [NX | XX] [GT | LT] [CH] [INCR] score member [score member …]`
pub fn zadd(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let (mut nx, mut xx, mut gt, mut lt, mut ch, mut incr) =
        (false, false, false, false, false, false);
    let mut i = 2;
    while let Some(opt) = args.get(i) {
        if is(opt, "nx") {
            nx = true;
        } else if is(opt, "xx") {
            xx = true;
        } else if is(opt, "gt") {
            gt = true;
        } else if is(opt, "lt") {
            lt = true;
        } else if is(opt, "ch") {
            ch = true;
        } else if is(opt, "incr") {
            incr = true;
        } else {
            break;
        }
        i += 1;
    }
    let pairs = args.get(i..).unwrap_or_default();
    if pairs.is_empty() || pairs.len() % 2 != 0 {
        return Err(CmdError::Syntax);
    }
    if nx && xx {
        return Err(CmdError::err(
            "XX and NX options at the same time are not compatible",
        ));
    }
    if ((gt || lt) && nx) || (gt && lt) {
        return Err(CmdError::err(
            "GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if incr && pairs.len() > 2 {
        return Err(CmdError::err(
            "INCR option supports a single increment-element pair",
        ));
    }
    let mut parsed = Vec::with_capacity(pairs.len() / 2);
    for p in pairs.chunks(2) {
        if let [score, member] = p {
            parsed.push((float_arg(score)?, member));
        }
    }
    let db = ctx.dbi();
    let key = arg(args, 1);
    let now = ctx.now;
    if !ctx.db.exists(db, key, now) {
        if xx {
            if incr {
                ctx.out.null();
            } else {
                ctx.out.int(0);
            }
            return Ok(());
        }
        ctx.db.set(db, key, Value::ZSet(Box::default()), false, now);
    }
    let Some(Value::ZSet(z)) = ctx.db.entry(db, key, now).map(|e| &mut e.value) else {
        return Err(CmdError::WrongType);
    };
    let (mut added, mut changed) = (0, 0);
    let mut incr_result = None;
    for (score, member) in parsed {
        let old = z.scores.get(&member[..]).copied();
        let mut new = score;
        if incr {
            new = old.unwrap_or(0.0) + score;
            if new.is_nan() {
                return Err(CmdError::err("resulting score is not a number (NaN)"));
            }
        }
        match old {
            None if xx => continue,
            Some(_) if nx => continue,
            Some(o) if (gt && new <= o) || (lt && new >= o) => continue,
            _ => {}
        }
        incr_result = Some(new);
        match old {
            None => {
                z.insert(Str::new(member), new);
                added += 1;
            }
            Some(o) if o != new => {
                z.insert(Str::new(member), new);
                changed += 1;
            }
            Some(_) => {}
        }
    }
    ctx.db.drop_if_empty(db, key);
    ctx.db.dirty += 1;
    if incr {
        match incr_result {
            Some(v) => ctx.out.double(v),
            None => ctx.out.null(),
        }
    } else {
        ctx.out.int(if ch { added + changed } else { added });
    }
    Ok(())
}

/// `ZSCORE key member`
pub fn zscore(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let s = read_zset(ctx, arg(args, 1))?.and_then(|z| z.scores.get(arg(args, 2)).copied());
    match s {
        Some(v) => ctx.out.double(v),
        None => ctx.out.null(),
    }
    Ok(())
}

/// `ZCARD key`
pub fn zcard(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let n = read_zset(ctx, arg(args, 1))?.map_or(0, |z| z.len());
    ctx.out.int(n as i64);
    Ok(())
}

/// `ZREM key member…`
pub fn zrem(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.dbi();
    let key = arg(args, 1);
    let removed = match ctx.db.entry(db, key, ctx.now).map(|e| &mut e.value) {
        Some(Value::ZSet(z)) => args
            .get(2..)
            .unwrap_or_default()
            .iter()
            .filter(|m| z.remove(m))
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

/// `ZRANGE key start stop [REV] [WITHSCORES]` (by index; BYSCORE/BYLEX come with the full
/// sorted-set work).
pub fn zrange(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let (start, stop) = (int_arg(arg(args, 2))?, int_arg(arg(args, 3))?);
    let (mut rev, mut withscores) = (false, false);
    for opt in args.get(4..).unwrap_or_default() {
        if is(opt, "rev") {
            rev = true;
        } else if is(opt, "withscores") {
            withscores = true;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let resp3 = ctx.out.version == spindle_protocols::resp::Version::Resp3;
    let db = ctx.dbi();
    let z = match ctx.db.read(db, arg(args, 1), ctx.now).map(|e| &e.value) {
        Some(Value::ZSet(z)) => z,
        Some(_) => return Err(CmdError::WrongType),
        None => {
            ctx.out.array_len(0);
            return Ok(());
        }
    };
    let Some((s, e)) = normalize_range(start, stop, z.len()) else {
        ctx.out.array_len(0);
        return Ok(());
    };
    let n = e - s + 1;
    let items: Vec<(f64, Str)> = if rev {
        z.order
            .iter()
            .rev()
            .skip(s)
            .take(n)
            .map(|(sc, m)| (sc.0, m.clone()))
            .collect()
    } else {
        z.order
            .iter()
            .skip(s)
            .take(n)
            .map(|(sc, m)| (sc.0, m.clone()))
            .collect()
    };
    write_members(ctx, &items, withscores, resp3);
    Ok(())
}

fn write_members(ctx: &mut Ctx<'_, '_>, items: &[(f64, Str)], withscores: bool, resp3: bool) {
    if withscores && resp3 {
        ctx.out.array_len(items.len());
        for (score, m) in items {
            ctx.out.array_len(2);
            ctx.out.bulk(m);
            ctx.out.double(*score);
        }
    } else if withscores {
        ctx.out.array_len(items.len() * 2);
        for (score, m) in items {
            ctx.out.bulk(m);
            ctx.out.double(*score);
        }
    } else {
        ctx.out.array_len(items.len());
        for (_, m) in items {
            ctx.out.bulk(m);
        }
    }
}

fn zpop(ctx: &mut Ctx<'_, '_>, args: &[Bytes], max: bool) -> CmdResult {
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
    let resp3 = ctx.out.version == spindle_protocols::resp::Version::Resp3;
    let db = ctx.dbi();
    let key = arg(args, 1);
    let popped: Vec<(f64, Str)> = match ctx.db.entry(db, key, ctx.now).map(|e| &mut e.value) {
        Some(Value::ZSet(z)) => {
            let n = count.unwrap_or(1).min(z.len());
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                let first = if max {
                    z.order.iter().next_back().cloned()
                } else {
                    z.order.iter().next().cloned()
                };
                if let Some((score, m)) = first {
                    z.remove(&m);
                    out.push((score.0, m));
                }
            }
            out
        }
        Some(_) => return Err(CmdError::WrongType),
        None => Vec::new(),
    };
    ctx.db.drop_if_empty(db, key);
    if !popped.is_empty() {
        ctx.db.dirty += 1;
    }
    if count.is_none() || !resp3 {
        // RESP2 (and RESP3 without a count): a flat member, score, member, score… list.
        ctx.out.array_len(popped.len() * 2);
        for (score, m) in &popped {
            ctx.out.bulk(m);
            ctx.out.double(*score);
        }
    } else {
        write_members(ctx, &popped, true, true);
    }
    Ok(())
}

/// `ZPOPMIN key [count]`
pub fn zpopmin(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    zpop(ctx, args, false)
}

/// `ZPOPMAX key [count]`
pub fn zpopmax(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    zpop(ctx, args, true)
}
