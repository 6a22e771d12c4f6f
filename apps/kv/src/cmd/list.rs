//! List commands: LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LLEN LRANGE LINDEX LSET LTRIM LINSERT LREM
//! LPOS LMPOP RPOPLPUSH LMOVE.

use std::collections::VecDeque;

use bytes::Bytes;

use super::args::{arg, int_arg, is};
use super::ctx::{CmdResult, Ctx};
use super::string::normalize_range;
use crate::error::CmdError;
use crate::types::str::Str;
use crate::types::value::Value;

fn push(ctx: &mut Ctx<'_, '_>, args: &[Bytes], left: bool, only_existing: bool) -> CmdResult {
    let db = ctx.dbi();
    let key = arg(args, 1);
    let now = ctx.now;
    let values = args.get(2..).unwrap_or_default();
    let list = if only_existing {
        match ctx.db.get_as::<VecDeque<Str>>(db, key, now)? {
            Some(list) => list,
            None => {
                // Counted as a write all the same, as it always was (WATCH sees it).
                ctx.db.dirty += 1;
                ctx.out.int(0);
                return Ok(());
            }
        }
    } else {
        ctx.db.get_or_create::<VecDeque<Str>>(db, key, now)?
    };
    for v in values {
        if left {
            list.push_front(Str::new(v));
        } else {
            list.push_back(Str::new(v));
        }
    }
    let len = list.len();
    ctx.db.dirty += 1;
    ctx.out.int(len as i64);
    Ok(())
}

/// `LPUSH key element…`
pub(crate) fn lpush(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    push(ctx, args, true, false)
}

/// `RPUSH key element…`
pub(crate) fn rpush(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    push(ctx, args, false, false)
}

/// `LPUSHX key element…`
pub(crate) fn lpushx(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    push(ctx, args, true, true)
}

/// `RPUSHX key element…`
pub(crate) fn rpushx(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    push(ctx, args, false, true)
}

fn pop(ctx: &mut Ctx<'_, '_>, args: &[Bytes], left: bool) -> CmdResult {
    let count = match args.get(2) {
        Some(c) => {
            let n =
                int_arg(c).map_err(|_| CmdError::err("value is out of range, must be positive"))?;
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
    let Some(list) = ctx.db.get_as::<VecDeque<Str>>(db, key, now)? else {
        if count.is_some() {
            ctx.out.null_array();
        } else {
            ctx.out.null();
        }
        return Ok(());
    };
    match count {
        None => {
            let v = if left {
                list.pop_front()
            } else {
                list.pop_back()
            };
            match v {
                Some(v) => ctx.out.bulk(&v),
                None => ctx.out.null(),
            }
        }
        Some(n) => {
            let n = n.min(list.len());
            ctx.out.array_len(n);
            for _ in 0..n {
                let v = if left {
                    list.pop_front()
                } else {
                    list.pop_back()
                };
                if let Some(v) = v {
                    ctx.out.bulk(&v);
                }
            }
        }
    }
    ctx.db.removed_from(db, key);
    Ok(())
}

/// `LPOP key [count]`
pub(crate) fn lpop(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    pop(ctx, args, true)
}

/// `RPOP key [count]`
pub(crate) fn rpop(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    pop(ctx, args, false)
}

/// `LLEN key`
pub(crate) fn llen(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let n = ctx
        .db
        .read_as::<VecDeque<Str>>(ctx.client.db, arg(args, 1), ctx.now)?
        .map_or(0, |l| l.len());
    ctx.out.int(n as i64);
    Ok(())
}

/// `LRANGE key start stop`
pub(crate) fn lrange(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let (start, stop) = (int_arg(arg(args, 2))?, int_arg(arg(args, 3))?);
    let db = ctx.dbi();
    let now = ctx.now;
    let list = match ctx.db.read_as::<VecDeque<Str>>(db, arg(args, 1), now)? {
        Some(l) => l,
        None => {
            ctx.out.array_len(0);
            return Ok(());
        }
    };
    match normalize_range(start, stop, list.len()) {
        Some((s, e)) => {
            ctx.out.array_len(e - s + 1);
            for v in list.range(s..=e) {
                ctx.out.bulk(v);
            }
        }
        None => ctx.out.array_len(0),
    }
    Ok(())
}

fn index_of(i: i64, len: usize) -> Option<usize> {
    let len = len as i64;
    let i = if i < 0 { len + i } else { i };
    (0..len).contains(&i).then_some(i as usize)
}

/// `LINDEX key index`
pub(crate) fn lindex(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let i = int_arg(arg(args, 2))?;
    let out_of = ctx
        .db
        .read_as::<VecDeque<Str>>(ctx.client.db, arg(args, 1), ctx.now)?
        .and_then(|l| index_of(i, l.len()).and_then(|i| l.get(i)).cloned());
    match out_of {
        Some(v) => ctx.out.bulk(&v),
        None => ctx.out.null(),
    }
    Ok(())
}

/// `LSET key index element`
pub(crate) fn lset(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let i = int_arg(arg(args, 2))?;
    let value = Str::new(arg(args, 3));
    let db = ctx.dbi();
    let Some(list) = ctx.db.get_as::<VecDeque<Str>>(db, arg(args, 1), ctx.now)? else {
        return Err(CmdError::err("no such key"));
    };
    let slot = index_of(i, list.len())
        .and_then(|i| list.get_mut(i))
        .ok_or_else(|| CmdError::err("index out of range"))?;
    *slot = value;
    ctx.db.dirty += 1;
    ctx.out.ok();
    Ok(())
}

/// `LTRIM key start stop`
pub(crate) fn ltrim(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let (start, stop) = (int_arg(arg(args, 2))?, int_arg(arg(args, 3))?);
    let db = ctx.dbi();
    let key = arg(args, 1);
    if let Some(e) = ctx.db.entry(db, key, ctx.now) {
        let Value::List(list) = &mut e.value else {
            return Err(CmdError::WrongType);
        };
        match normalize_range(start, stop, list.len()) {
            Some((s, e)) => {
                list.truncate(e + 1);
                list.drain(..s);
            }
            None => list.clear(),
        }
        ctx.db.removed_from(db, key);
    }
    ctx.out.ok();
    Ok(())
}

/// `LINSERT key BEFORE|AFTER pivot element`: the new length, -1 without the pivot, 0 without
/// the key.
pub(crate) fn linsert(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let after = match arg(args, 2) {
        w if is(w, "after") => true,
        w if is(w, "before") => false,
        _ => return Err(CmdError::Syntax),
    };
    let (pivot, element) = (arg(args, 3), arg(args, 4));
    let db = ctx.dbi();
    let Some(list) = ctx.db.get_as::<VecDeque<Str>>(db, arg(args, 1), ctx.now)? else {
        ctx.out.int(0);
        return Ok(());
    };
    match list.iter().position(|v| v.as_bytes() == pivot) {
        Some(pos) => {
            list.insert(if after { pos + 1 } else { pos }, Str::new(element));
            let n = list.len();
            ctx.db.dirty += 1;
            ctx.out.int(n as i64);
        }
        None => ctx.out.int(-1),
    }
    Ok(())
}

/// `LREM key count element`: removes up to |count| (all for 0) occurrences, from the head for
/// a positive count, from the tail for a negative one.
pub(crate) fn lrem(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let count = int_arg(arg(args, 2))?;
    let element = arg(args, 3);
    let db = ctx.dbi();
    let key = arg(args, 1);
    let Some(list) = ctx.db.get_as::<VecDeque<Str>>(db, key, ctx.now)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let limit = if count == 0 {
        usize::MAX
    } else {
        usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX)
    };
    let mut removed = 0usize;
    if count >= 0 {
        list.retain(|v| {
            if removed < limit && v.as_bytes() == element {
                removed += 1;
                false
            } else {
                true
            }
        });
    } else {
        let mut keep: Vec<bool> = vec![true; list.len()];
        for (i, v) in list.iter().enumerate().rev() {
            if removed >= limit {
                break;
            }
            if v.as_bytes() == element {
                if let Some(k) = keep.get_mut(i) {
                    *k = false;
                }
                removed += 1;
            }
        }
        let mut it = keep.into_iter();
        list.retain(|_| it.next().unwrap_or(true));
    }
    if removed > 0 {
        ctx.db.removed_from(db, key);
    }
    ctx.out.int(removed as i64);
    Ok(())
}

/// `LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]`
pub(crate) fn lpos(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let mut rank: i64 = 1;
    let mut count: Option<usize> = None;
    let mut maxlen: usize = 0;
    let mut i = 3;
    while let Some(opt) = args.get(i) {
        let Some(value) = args.get(i + 1) else {
            return Err(CmdError::Syntax);
        };
        if is(opt, "rank") {
            rank = int_arg(value)?;
            if rank == 0 {
                return Err(CmdError::err(
                    "RANK can't be zero: use 1 to start from the first match, 2 from the \
                     second ... or use negative to start from the end of the list",
                ));
            }
        } else if is(opt, "count") {
            let err = || CmdError::err("COUNT can't be negative");
            let n = int_arg(value).map_err(|_| err())?;
            if n < 0 {
                return Err(err());
            }
            count = Some(n as usize);
        } else if is(opt, "maxlen") {
            let err = || CmdError::err("MAXLEN can't be negative");
            let n = int_arg(value).map_err(|_| err())?;
            if n < 0 {
                return Err(err());
            }
            maxlen = n as usize;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    let element = arg(args, 2);
    let found: Vec<usize> =
        match ctx
            .db
            .read_as::<VecDeque<Str>>(ctx.client.db, arg(args, 1), ctx.now)?
        {
            None => Vec::new(),
            Some(list) => {
                let want = match count {
                    Some(0) => usize::MAX,
                    Some(n) => n,
                    None => 1,
                };
                let scan = if maxlen == 0 { list.len() } else { maxlen };
                // Redis 7.0 negates the rank and keeps the matches at or past it; the most
                // negative rank stays negative there, so every match from the tail counts.
                let mut skip = if rank == i64::MIN {
                    0
                } else {
                    rank.unsigned_abs() - 1
                };
                let mut found = Vec::new();
                let mut visit = |idx: usize, v: &Str| {
                    if v.as_bytes() == element {
                        if skip > 0 {
                            skip -= 1;
                        } else {
                            found.push(idx);
                        }
                    }
                    found.len() < want
                };
                if rank > 0 {
                    for (idx, v) in list.iter().enumerate().take(scan) {
                        if !visit(idx, v) {
                            break;
                        }
                    }
                } else {
                    for (idx, v) in list.iter().enumerate().rev().take(scan) {
                        if !visit(idx, v) {
                            break;
                        }
                    }
                }
                found
            }
        };
    match count {
        Some(_) => {
            ctx.out.array_len(found.len());
            for idx in found {
                ctx.out.int(idx as i64);
            }
        }
        None => match found.first() {
            Some(&idx) => ctx.out.int(idx as i64),
            None => ctx.out.null(),
        },
    }
    Ok(())
}

fn side_arg(b: &[u8]) -> Result<bool, CmdError> {
    if is(b, "left") {
        Ok(true)
    } else if is(b, "right") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

/// `LMPOP numkeys key… LEFT|RIGHT [COUNT count]`: pops from the first non-empty list; replies
/// `[key, [elements…]]`, or a null array when every list is empty.
pub(crate) fn lmpop(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let numkeys_err = || CmdError::err("numkeys should be greater than 0");
    let numkeys = int_arg(arg(args, 1)).map_err(|_| numkeys_err())?;
    if numkeys < 1 {
        return Err(numkeys_err());
    }
    let where_idx = usize::try_from(numkeys)
        .ok()
        .and_then(|n| n.checked_add(2))
        .filter(|&w| w < args.len())
        .ok_or(CmdError::Syntax)?;
    let left = side_arg(arg(args, where_idx))?;
    let mut count: Option<usize> = None;
    let mut i = where_idx + 1;
    while let Some(opt) = args.get(i) {
        match args.get(i + 1) {
            Some(v) if count.is_none() && is(opt, "count") => {
                let count_err = || CmdError::err("count should be greater than 0");
                let n = int_arg(v).map_err(|_| count_err())?;
                if n < 1 {
                    return Err(count_err());
                }
                count = Some(usize::try_from(n).unwrap_or(usize::MAX));
            }
            _ => return Err(CmdError::Syntax),
        }
        i += 2;
    }
    let count = count.unwrap_or(1);
    let db = ctx.dbi();
    let now = ctx.now;
    for key in args.get(2..where_idx).unwrap_or_default() {
        let Some(list) = ctx.db.get_as::<VecDeque<Str>>(db, key, now)? else {
            continue;
        };
        if list.is_empty() {
            continue;
        }
        let n = count.min(list.len());
        ctx.out.array_len(2);
        ctx.out.bulk(key);
        ctx.out.array_len(n);
        for _ in 0..n {
            let v = if left {
                list.pop_front()
            } else {
                list.pop_back()
            };
            if let Some(v) = v {
                ctx.out.bulk(&v);
            }
        }
        ctx.db.removed_from(db, key);
        return Ok(());
    }
    ctx.out.null_array();
    Ok(())
}

/// Pops from `src` (its head if `from_left`) and pushes onto `dst` (its head if `to_left`).
fn move_impl(
    ctx: &mut Ctx<'_, '_>,
    src: &[u8],
    dst: &[u8],
    from_left: bool,
    to_left: bool,
) -> CmdResult {
    let db = ctx.dbi();
    let now = ctx.now;
    let Some(list) = ctx.db.get_as::<VecDeque<Str>>(db, src, now)? else {
        ctx.out.null();
        return Ok(());
    };
    if list.is_empty() {
        ctx.out.null();
        return Ok(());
    }
    match ctx.db.entry(db, dst, now).map(|e| &e.value) {
        Some(Value::List(_)) | None => {}
        Some(_) => return Err(CmdError::WrongType),
    }
    let Some(Value::List(list)) = ctx.db.entry(db, src, now).map(|e| &mut e.value) else {
        return Err(CmdError::WrongType);
    };
    let Some(v) = (if from_left {
        list.pop_front()
    } else {
        list.pop_back()
    }) else {
        ctx.out.null();
        return Ok(());
    };
    let list = ctx.db.get_or_create::<VecDeque<Str>>(db, dst, now)?;
    if to_left {
        list.push_front(v.clone());
    } else {
        list.push_back(v.clone());
    }
    ctx.db.dirty += 1;
    ctx.db.drop_if_empty(db, src);
    ctx.out.bulk(&v);
    Ok(())
}

/// `RPOPLPUSH source destination`
pub(crate) fn rpoplpush(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    move_impl(ctx, arg(args, 1), arg(args, 2), false, true)
}

/// `LMOVE source destination LEFT|RIGHT LEFT|RIGHT`
pub(crate) fn lmove(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let from_left = side_arg(arg(args, 3))?;
    let to_left = side_arg(arg(args, 4))?;
    move_impl(ctx, arg(args, 1), arg(args, 2), from_left, to_left)
}

#[cfg(test)]
mod tests {
    use crate::testkit::*;

    #[test]
    fn linsert_and_lrem() {
        let mut t = T::new();
        t.check(&[
            ("RPUSH l a b c b d", i(5)),
            ("LINSERT l BEFORE b X", i(6)),
            ("LRANGE l 0 -1", a(&["a", "X", "b", "c", "b", "d"])),
            ("LINSERT l after d Y", i(7)),
            ("LINSERT l AFTER a Z", i(8)),
            (
                "LRANGE l 0 -1",
                a(&["a", "Z", "X", "b", "c", "b", "d", "Y"]),
            ),
            ("LINSERT l AFTER zz Y", i(-1)),
            ("LINSERT missing BEFORE a b", i(0)),
            ("EXISTS missing", i(0)),
            ("LINSERT l MIDDLE a b", e(SYNTAX)),
            ("SET s x", ok()),
            ("LINSERT s BEFORE a b", e(WRONGTYPE)),
            ("RPUSH r a b a c a", i(5)),
            ("LREM r 2 a", i(2)),
            ("LRANGE r 0 -1", a(&["b", "c", "a"])),
            ("RPUSH r2 a b a c a", i(5)),
            ("LREM r2 -2 a", i(2)),
            ("LRANGE r2 0 -1", a(&["a", "b", "c"])),
            ("LREM r2 0 zz", i(0)),
            ("RPUSH r2 a a", i(5)),
            ("LREM r2 0 a", i(3)),
            ("LRANGE r2 0 -1", a(&["b", "c"])),
            ("LREM r2 -9223372036854775808 b", i(1)),
            ("LREM r2 1 c", i(1)),
            ("EXISTS r2", i(0)),
            ("LREM missing 1 a", i(0)),
            ("LREM r x a", e(NOT_INT)),
            ("LREM s 1 a", e(WRONGTYPE)),
        ]);
    }

    #[test]
    fn lpos() {
        let mut t = T::new();
        t.check(&[
            ("RPUSH p a b c 1 2 3 c c", i(8)),
            ("LPOS p c", i(2)),
            ("LPOS p c RANK 2", i(6)),
            ("LPOS p c RANK -1", i(7)),
            ("LPOS p c RANK -3", i(2)),
            ("LPOS p c RANK 4", Frame::Null),
            ("LPOS p c COUNT 2", ints(&[2, 6])),
            ("LPOS p c COUNT 0", ints(&[2, 6, 7])),
            ("LPOS p c RANK -1 COUNT 2", ints(&[7, 6])),
            ("LPOS p c RANK -9223372036854775808 COUNT 2", ints(&[7, 6])),
            ("LPOS p c RANK 2 COUNT 0", ints(&[6, 7])),
            ("LPOS p c MAXLEN 1", Frame::Null),
            ("LPOS p c COUNT 0 MAXLEN 3", ints(&[2])),
            ("LPOS p a RANK -1 MAXLEN 7", Frame::Null),
            ("LPOS p a RANK -1 MAXLEN 8", i(0)),
            ("LPOS p zz", Frame::Null),
            ("LPOS p zz COUNT 1", ints(&[])),
            ("LPOS missing a", Frame::Null),
            ("LPOS missing a COUNT 1", ints(&[])),
            (
                "LPOS p c RANK 0",
                e(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the \
                   second ... or use negative to start from the end of the list",
                ),
            ),
            ("LPOS p c RANK -9223372036854775808", i(7)),
            ("LPOS p c RANK x", e(NOT_INT)),
            ("LPOS p c COUNT -1", e("ERR COUNT can't be negative")),
            ("LPOS p c COUNT x", e("ERR COUNT can't be negative")),
            ("LPOS p c MAXLEN -1", e("ERR MAXLEN can't be negative")),
            ("LPOS p c RANK", e(SYNTAX)),
            ("LPOS p c FOO 1", e(SYNTAX)),
            ("SET s x", ok()),
            ("LPOS s x", e(WRONGTYPE)),
        ]);
    }

    #[test]
    fn lmpop() {
        let mut t = T::new();
        t.check(&[
            ("LMPOP 2 e1 e2 LEFT", Frame::Null),
            ("RPUSH m1 a b c", i(3)),
            ("LMPOP 2 e1 m1 LEFT", arr(vec![b("m1"), a(&["a"])])),
            (
                "LMPOP 2 e1 m1 right COUNT 10",
                arr(vec![b("m1"), a(&["c", "b"])]),
            ),
            ("EXISTS m1", i(0)),
            ("RPUSH m2 x y", i(2)),
            ("SET s v", ok()),
            ("LMPOP 2 m2 s LEFT", arr(vec![b("m2"), a(&["x"])])),
            ("LMPOP 2 s m2 LEFT", e(WRONGTYPE)),
            ("LMPOP 0 a LEFT", e("ERR numkeys should be greater than 0")),
            ("LMPOP -1 a LEFT", e("ERR numkeys should be greater than 0")),
            ("LMPOP x a LEFT", e("ERR numkeys should be greater than 0")),
            ("LMPOP 5 a LEFT", e(SYNTAX)),
            ("LMPOP 9223372036854775807 a LEFT", e(SYNTAX)),
            ("LMPOP 1 a MIDDLE", e(SYNTAX)),
            (
                "LMPOP 1 a LEFT COUNT 0",
                e("ERR count should be greater than 0"),
            ),
            (
                "LMPOP 1 a LEFT COUNT x",
                e("ERR count should be greater than 0"),
            ),
            ("LMPOP 1 a LEFT COUNT 1 COUNT 1", e(SYNTAX)),
            ("LMPOP 1 a LEFT COUNT", e(SYNTAX)),
            (
                "LMPOP 1 a",
                e("ERR wrong number of arguments for 'lmpop' command"),
            ),
        ]);
        t.resp3();
        t.check(&[
            ("LMPOP 1 none LEFT", Frame::Null),
            ("LMPOP 1 m2 LEFT", arr(vec![b("m2"), a(&["y"])])),
        ]);
    }

    #[test]
    fn rpoplpush_and_lmove() {
        let mut t = T::new();
        t.check(&[
            ("RPUSH s a b c", i(3)),
            ("RPOPLPUSH s d", b("c")),
            ("LRANGE d 0 -1", a(&["c"])),
            ("RPOPLPUSH s s", b("b")),
            ("LRANGE s 0 -1", a(&["b", "a"])),
            ("LMOVE s d LEFT RIGHT", b("b")),
            ("LRANGE d 0 -1", a(&["c", "b"])),
            ("LMOVE d d left left", b("c")),
            ("LRANGE d 0 -1", a(&["c", "b"])),
            ("LMOVE d d RIGHT LEFT", b("b")),
            ("LRANGE d 0 -1", a(&["b", "c"])),
            ("LMOVE s d UP LEFT", e(SYNTAX)),
            ("LMOVE s d LEFT DOWN", e(SYNTAX)),
            ("RPOPLPUSH missing d", Frame::Null),
            ("SET str x", ok()),
            ("RPOPLPUSH missing str", Frame::Null),
            ("RPOPLPUSH s str", e(WRONGTYPE)),
            ("RPOPLPUSH str d", e(WRONGTYPE)),
            ("LRANGE s 0 -1", a(&["a"])),
            ("LMOVE s fresh LEFT LEFT", b("a")),
            ("EXISTS s", i(0)),
            ("LRANGE fresh 0 -1", a(&["a"])),
        ]);
    }

    #[test]
    fn lmove_keeps_destination_ttl() {
        let mut t = T::new();
        t.check(&[
            ("RPUSH s a", i(1)),
            ("RPUSH d b", i(1)),
            ("EXPIRE d 100", i(1)),
            ("LMOVE s d LEFT RIGHT", b("a")),
            ("TTL d", i(100)),
        ]);
    }
}
