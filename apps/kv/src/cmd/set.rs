//! Set commands: SADD SREM SCARD SISMEMBER SMEMBERS SPOP SMISMEMBER SMOVE SRANDMEMBER SINTER
//! SUNION SDIFF SINTERSTORE SUNIONSTORE SDIFFSTORE SINTERCARD SSCAN.

use bytes::Bytes;

use super::args::{arg, check_repeat_reply, cursor_arg, int_arg, is, MIN_BULK_REPLY};
use super::ctx::{CmdResult, Ctx};
use super::keys::random;
use crate::error::CmdError;
use crate::glob;
use crate::types::set::Set;
use crate::types::str::Str;
use crate::types::value::Value;

/// `SADD key member…`
pub(crate) fn sadd(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.dbi();
    let key = arg(args, 1);
    let now = ctx.now;
    let set = ctx.db.get_or_create::<Set>(db, key, now)?;
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
pub(crate) fn srem(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.dbi();
    let key = arg(args, 1);
    let removed = match ctx.db.get_as::<Set>(db, key, ctx.now)? {
        Some(s) => args
            .get(2..)
            .unwrap_or_default()
            .iter()
            .filter(|m| s.remove(m))
            .count(),
        None => 0,
    };
    if removed > 0 {
        ctx.db.removed_from(db, key);
    }
    ctx.out.int(removed as i64);
    Ok(())
}

/// `SCARD key`
pub(crate) fn scard(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let n = ctx
        .db
        .read_as::<Set>(ctx.client.db, arg(args, 1), ctx.now)?
        .map_or(0, |s| s.len());
    ctx.out.int(n as i64);
    Ok(())
}

/// `SISMEMBER key member`
pub(crate) fn sismember(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let yes = ctx
        .db
        .read_as::<Set>(ctx.client.db, arg(args, 1), ctx.now)?
        .is_some_and(|s| s.contains(arg(args, 2)));
    ctx.out.int(i64::from(yes));
    Ok(())
}

/// `SMEMBERS key`
pub(crate) fn smembers(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.dbi();
    match ctx.db.read_as::<Set>(db, arg(args, 1), ctx.now)? {
        Some(s) => {
            ctx.out.set_len(s.len());
            for m in s.iter() {
                ctx.out.bulk(m);
            }
        }
        None => ctx.out.set_len(0),
    }
    Ok(())
}

/// `SPOP key [count]`
pub(crate) fn spop(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
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
    let popped: Vec<Str> = match ctx.db.get_as::<Set>(db, key, now)? {
        Some(s) => {
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

/// Runs `f` on the set at `key` (`None` if missing), or fails with WRONGTYPE.
fn with_set<R>(
    ctx: &mut Ctx<'_, '_>,
    key: &[u8],
    f: impl FnOnce(Option<&Set>) -> R,
) -> Result<R, CmdError> {
    let db = ctx.dbi();
    match ctx.db.read_as::<Set>(db, key, ctx.now)? {
        Some(s) => Ok(f(Some(s))),
        None => Ok(f(None)),
    }
}

/// `SMISMEMBER key member…`
pub(crate) fn smismember(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let members = args.get(2..).unwrap_or_default();
    let found: Vec<bool> = with_set(ctx, arg(args, 1), |s| {
        members
            .iter()
            .map(|m| s.is_some_and(|s| s.contains(m)))
            .collect()
    })?;
    ctx.out.array_len(found.len());
    for yes in found {
        ctx.out.int(i64::from(yes));
    }
    Ok(())
}

/// `SMOVE source destination member`
pub(crate) fn smove(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let (src, dst, member) = (arg(args, 1), arg(args, 2), arg(args, 3));
    let db = ctx.dbi();
    let now = ctx.now;
    let src_has = match ctx.db.get_as::<Set>(db, src, now)? {
        None => {
            ctx.out.int(0);
            return Ok(());
        }
        Some(s) => s.contains(member),
    };
    match ctx.db.entry(db, dst, now).map(|e| &e.value) {
        Some(Value::Set(_)) | None => {}
        Some(_) => return Err(CmdError::WrongType),
    }
    if src == dst || !src_has {
        ctx.out.int(i64::from(src_has));
        return Ok(());
    }
    if let Some(Value::Set(s)) = ctx.db.entry(db, src, now).map(|e| &mut e.value) {
        s.remove(member);
    }
    ctx.db.drop_if_empty(db, src);
    ctx.db.get_or_create::<Set>(db, dst, now)?.insert(member);
    ctx.db.dirty += 1;
    ctx.out.int(1);
    Ok(())
}

/// Picks `count` distinct positions out of `0..len` (`count < len`), in random order.
pub(super) fn distinct_positions(len: usize, count: usize, seed: u64) -> Vec<usize> {
    if count.saturating_mul(3) <= len {
        let mut chosen = std::collections::HashSet::with_capacity(count);
        let mut out = Vec::with_capacity(count);
        let mut i = 0u64;
        while out.len() < count {
            let pos = random(seed ^ i) as usize % len;
            i += 1;
            if chosen.insert(pos) {
                out.push(pos);
            }
        }
        out
    } else {
        // A partial Fisher-Yates shuffle.
        let mut all: Vec<usize> = (0..len).collect();
        for i in 0..count {
            let j = i + random(seed ^ i as u64) as usize % (len - i);
            all.swap(i, j);
        }
        all.truncate(count);
        all
    }
}

const RANGE_ERR: &str =
    "value is out of range, value must between -9223372036854775807 and 9223372036854775807";

/// `SRANDMEMBER key [count]`: a positive count gives distinct members, a negative one allows
/// repeats.
pub(crate) fn srandmember(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let now = ctx.now;
    let Some(c) = args.get(2) else {
        let m = with_set(ctx, arg(args, 1), |s| {
            s.filter(|s| !s.is_empty())
                .and_then(|s| s.get(random(now) as usize % s.len()).cloned())
        })?;
        match m {
            Some(m) => ctx.out.bulk(&m),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    let count = int_arg(c)?;
    if count == i64::MIN {
        return Err(CmdError::err(RANGE_ERR));
    }
    let limit = ctx.shared.config.proto_max_bulk_len;
    let db = ctx.dbi();
    let s = match ctx.db.read_as::<Set>(db, arg(args, 1), now)? {
        Some(s) => s,
        None => {
            ctx.out.array_len(0);
            return Ok(());
        }
    };
    let len = s.len();
    if count == 0 || len == 0 {
        ctx.out.array_len(0);
    } else if count < 0 {
        let n = count.unsigned_abs();
        check_repeat_reply(n, MIN_BULK_REPLY, limit)?;
        ctx.out.array_len(n as usize);
        for i in 0..n {
            if let Some(m) = s.get(random(now ^ i) as usize % len) {
                ctx.out.bulk(m);
            }
        }
    } else if count as u64 >= len as u64 {
        ctx.out.array_len(len);
        for m in s.iter() {
            ctx.out.bulk(m);
        }
    } else {
        let picked = distinct_positions(len, count as usize, now);
        ctx.out.array_len(picked.len());
        for pos in picked {
            if let Some(m) = s.get(pos) {
                ctx.out.bulk(m);
            }
        }
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum SetOp {
    Inter,
    Union,
    Diff,
}

/// Computes an intersection, union or difference of the sets at `keys` (missing keys are
/// empty sets). Every key is type-checked first, as Redis does. `limit` (0: none) stops an
/// intersection early (SINTERCARD).
fn combine(
    ctx: &mut Ctx<'_, '_>,
    keys: &[Bytes],
    op: SetOp,
    limit: usize,
) -> Result<Set, CmdError> {
    let mut lens: Vec<Option<usize>> = Vec::with_capacity(keys.len());
    for key in keys {
        lens.push(with_set(ctx, key, |s| s.map(Set::len))?);
    }
    let mut out = Set::default();
    match op {
        SetOp::Inter => {
            if lens.iter().any(|l| l.is_none_or(|n| n == 0)) {
                return Ok(out);
            }
            // Start from the smallest set, keep what every other one holds.
            let (smallest, _) = lens
                .iter()
                .enumerate()
                .min_by_key(|(_, l)| l.unwrap_or(0))
                .unwrap_or((0, &None));
            let Some(first) = keys.get(smallest) else {
                return Ok(out);
            };
            let mut candidates: Vec<Str> =
                with_set(ctx, first, |s| s.map(|s| s.iter().cloned().collect()))?
                    .unwrap_or_default();
            for (i, key) in keys.iter().enumerate() {
                if i == smallest {
                    continue;
                }
                with_set(ctx, key, |s| {
                    candidates.retain(|m| s.is_some_and(|s| s.contains(m)));
                })?;
            }
            for m in candidates {
                if limit != 0 && out.len() >= limit {
                    break;
                }
                out.insert(&m);
            }
        }
        SetOp::Union => {
            for key in keys {
                with_set(ctx, key, |s| {
                    for m in s.into_iter().flat_map(|s| s.iter()) {
                        out.insert(m);
                    }
                })?;
            }
        }
        SetOp::Diff => {
            let Some((first, rest)) = keys.split_first() else {
                return Ok(out);
            };
            with_set(ctx, first, |s| {
                for m in s.into_iter().flat_map(|s| s.iter()) {
                    out.insert(m);
                }
            })?;
            for key in rest {
                if out.is_empty() {
                    break;
                }
                with_set(ctx, key, |s| {
                    for m in s.into_iter().flat_map(|s| s.iter()) {
                        out.remove(m);
                    }
                })?;
            }
        }
    }
    Ok(out)
}

fn reply_set(ctx: &mut Ctx<'_, '_>, s: &Set) {
    ctx.out.set_len(s.len());
    for m in s.iter() {
        ctx.out.bulk(m);
    }
}

/// Stores `result` at `dest` (deleting it when empty) and replies its size.
fn store(ctx: &mut Ctx<'_, '_>, dest: &[u8], result: Set) {
    let db = ctx.dbi();
    let n = result.len();
    if n == 0 {
        ctx.db.delete(db, dest, ctx.now);
    } else {
        ctx.db
            .set(db, dest, Value::Set(Box::new(result)), false, ctx.now);
    }
    ctx.out.int(n as i64);
}

/// `SINTER key…`
pub(crate) fn sinter(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let s = combine(ctx, args.get(1..).unwrap_or_default(), SetOp::Inter, 0)?;
    reply_set(ctx, &s);
    Ok(())
}

/// `SUNION key…`
pub(crate) fn sunion(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let s = combine(ctx, args.get(1..).unwrap_or_default(), SetOp::Union, 0)?;
    reply_set(ctx, &s);
    Ok(())
}

/// `SDIFF key…`
pub(crate) fn sdiff(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let s = combine(ctx, args.get(1..).unwrap_or_default(), SetOp::Diff, 0)?;
    reply_set(ctx, &s);
    Ok(())
}

/// `SINTERSTORE destination key…`
pub(crate) fn sinterstore(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let s = combine(ctx, args.get(2..).unwrap_or_default(), SetOp::Inter, 0)?;
    store(ctx, arg(args, 1), s);
    Ok(())
}

/// `SUNIONSTORE destination key…`
pub(crate) fn sunionstore(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let s = combine(ctx, args.get(2..).unwrap_or_default(), SetOp::Union, 0)?;
    store(ctx, arg(args, 1), s);
    Ok(())
}

/// `SDIFFSTORE destination key…`
pub(crate) fn sdiffstore(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let s = combine(ctx, args.get(2..).unwrap_or_default(), SetOp::Diff, 0)?;
    store(ctx, arg(args, 1), s);
    Ok(())
}

/// `SINTERCARD numkeys key… [LIMIT limit]`
pub(crate) fn sintercard(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let numkeys_err = || CmdError::err("numkeys should be greater than 0");
    let numkeys = int_arg(arg(args, 1)).map_err(|_| numkeys_err())?;
    if numkeys < 1 {
        return Err(numkeys_err());
    }
    if numkeys as u64 > (args.len() - 2) as u64 {
        return Err(CmdError::err(
            "Number of keys can't be greater than number of args",
        ));
    }
    let end = 2 + numkeys as usize;
    let mut limit = 0usize;
    let mut i = end;
    while let Some(opt) = args.get(i) {
        match args.get(i + 1) {
            Some(v) if is(opt, "limit") => {
                let err = || CmdError::err("LIMIT can't be negative");
                let n = int_arg(v).map_err(|_| err())?;
                if n < 0 {
                    return Err(err());
                }
                limit = usize::try_from(n).unwrap_or(usize::MAX);
            }
            _ => return Err(CmdError::Syntax),
        }
        i += 2;
    }
    let s = combine(
        ctx,
        args.get(2..end).unwrap_or_default(),
        SetOp::Inter,
        limit,
    )?;
    ctx.out.int(s.len() as i64);
    Ok(())
}

/// `MATCH pattern` and `COUNT n` of the SCAN family, from `args[from..]`.
pub(super) fn scan_options(
    args: &[Bytes],
    from: usize,
) -> Result<(Option<&[u8]>, usize), CmdError> {
    let mut pattern: Option<&[u8]> = None;
    let mut count = 10usize;
    let mut i = from;
    while let Some(opt) = args.get(i) {
        let value = args.get(i + 1).ok_or(CmdError::Syntax)?;
        if is(opt, "match") {
            pattern = Some(value);
        } else if is(opt, "count") {
            let n = int_arg(value)?;
            if n < 1 {
                return Err(CmdError::Syntax);
            }
            count = usize::try_from(n).unwrap_or(usize::MAX);
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    Ok((pattern, count))
}

/// `SSCAN key cursor [MATCH pattern] [COUNT count]`
///
/// Cursor semantics: members sit densely at positions `0..len`, and a removal moves the last
/// member into the hole. SSCAN therefore walks positions from the top down: cursor 0 starts at
/// `len`, and a returned cursor `c > 0` means "positions `0..c` are still to visit". A removal
/// during the scan only ever moves an already-visited member (the last one) down, so every
/// member present for the whole scan is returned at least once (some may be returned twice);
/// members added during the scan land above the cursor and may be missed, as Redis allows.
/// COUNT is the number of positions visited per call; MATCH filters after that.
pub(crate) fn sscan(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let cursor = cursor_arg(arg(args, 2))?;
    let db = ctx.dbi();
    let s = match ctx.db.read_as::<Set>(db, arg(args, 1), ctx.now)? {
        Some(s) => s,
        None => {
            ctx.out.array_len(2);
            ctx.out.bulk(b"0");
            ctx.out.array_len(0);
            return Ok(());
        }
    };
    let (pattern, count) = scan_options(args, 3)?;
    let top = if cursor == 0 {
        s.len()
    } else {
        usize::try_from(cursor).unwrap_or(usize::MAX).min(s.len())
    };
    let bottom = top.saturating_sub(count);
    let found: Vec<&Str> = (bottom..top)
        .rev()
        .filter_map(|pos| s.get(pos))
        .filter(|m| pattern.is_none_or(|p| glob::matches(p, m, false)))
        .collect();
    ctx.out.array_len(2);
    ctx.out.bulk(bottom.to_string().as_bytes());
    ctx.out.array_len(found.len());
    for m in found {
        ctx.out.bulk(m);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use crate::testkit::*;

    fn setup(t: &mut T) {
        t.check(&[
            ("SADD s1 a b c d", i(4)),
            ("SADD s2 c d e", i(3)),
            ("SADD s3 a c e", i(3)),
            ("SET str x", ok()),
        ]);
    }

    #[test]
    fn smismember_and_smove() {
        let mut t = T::new();
        setup(&mut t);
        t.check(&[
            ("SMISMEMBER s1 a z d", ints(&[1, 0, 1])),
            ("SMISMEMBER missing a", ints(&[0])),
            ("SMISMEMBER str a", e(WRONGTYPE)),
            ("SMOVE s1 s2 a", i(1)),
            ("SISMEMBER s1 a", i(0)),
            ("SISMEMBER s2 a", i(1)),
            ("SMOVE s1 s2 c", i(1)),
            ("SCARD s2", i(4)),
            ("SMOVE s1 s2 zz", i(0)),
            ("SMOVE missing s2 a", i(0)),
            ("SMOVE missing str a", i(0)),
            ("SMOVE s1 str b", e(WRONGTYPE)),
            ("SMOVE str s1 b", e(WRONGTYPE)),
            ("SMOVE s1 s1 b", i(1)),
            ("SMOVE s1 s1 zz", i(0)),
            ("SADD one x", i(1)),
            ("SMOVE one fresh x", i(1)),
            ("EXISTS one", i(0)),
            ("SMEMBERS fresh", a(&["x"])),
        ]);
    }

    #[test]
    fn algebra() {
        let mut t = T::new();
        setup(&mut t);
        assert_eq!(sorted(t.run("SINTER s1 s2")), ["c", "d"]);
        assert_eq!(sorted(t.run("SINTER s1 s2 s3")), ["c"]);
        assert_eq!(sorted(t.run("SINTER s1")), ["a", "b", "c", "d"]);
        assert_eq!(
            sorted(t.run("SUNION s1 s2 missing")),
            ["a", "b", "c", "d", "e"]
        );
        assert_eq!(sorted(t.run("SDIFF s1 s2 s3")), ["b"]);
        assert_eq!(sorted(t.run("SDIFF s1 missing")), ["a", "b", "c", "d"]);
        t.check(&[
            ("SINTER s1 missing", ints(&[])),
            ("SDIFF missing s1", ints(&[])),
            ("SUNION missing", ints(&[])),
            ("SINTER s1 str", e(WRONGTYPE)),
            ("SINTER missing str", e(WRONGTYPE)),
            ("SUNION s1 str", e(WRONGTYPE)),
            ("SDIFF s1 str", e(WRONGTYPE)),
            ("SINTERSTORE dst s1 s2", i(2)),
            ("SDIFFSTORE dst s1 s2", i(2)),
            ("SUNIONSTORE dst s1 s2", i(5)),
            ("SINTERSTORE dst s1 missing", i(0)),
            ("EXISTS dst", i(0)),
            ("SDIFFSTORE dst s1 s1", i(0)),
            ("EXISTS dst", i(0)),
            ("SINTERSTORE dst s1 str", e(WRONGTYPE)),
            ("SET target v EX 100", ok()),
            ("SUNIONSTORE target s1", i(4)),
            ("TYPE target", Frame::Simple("set".into())),
            ("TTL target", i(-1)),
            ("SINTERSTORE s1 s1 s2", i(2)),
        ]);
        assert_eq!(sorted(t.run("SMEMBERS s1")), ["c", "d"]);
        t.resp3();
        match t.run("SUNION s2 s3") {
            Frame::Set(v) => assert_eq!(v.len(), 4),
            other => panic!("{other:?}"),
        }
        assert_eq!(t.run("SINTER s1 missing"), Frame::Set(vec![]));
    }

    #[test]
    fn sintercard() {
        let mut t = T::new();
        setup(&mut t);
        t.check(&[
            ("SINTERCARD 2 s1 s2", i(2)),
            ("SINTERCARD 2 s1 s2 LIMIT 1", i(1)),
            ("SINTERCARD 2 s1 s2 limit 0", i(2)),
            ("SINTERCARD 1 s1", i(4)),
            ("SINTERCARD 2 s1 missing", i(0)),
            ("SINTERCARD 2 s1 str", e(WRONGTYPE)),
            ("SINTERCARD 0 s1", e("ERR numkeys should be greater than 0")),
            ("SINTERCARD x s1", e("ERR numkeys should be greater than 0")),
            (
                "SINTERCARD 3 s1 s2",
                e("ERR Number of keys can't be greater than number of args"),
            ),
            (
                "SINTERCARD 2 s1 s2 LIMIT -1",
                e("ERR LIMIT can't be negative"),
            ),
            (
                "SINTERCARD 2 s1 s2 LIMIT x",
                e("ERR LIMIT can't be negative"),
            ),
            ("SINTERCARD 1 s1 FOO", e(SYNTAX)),
            ("SINTERCARD 1 s1 LIMIT", e(SYNTAX)),
        ]);
    }

    #[test]
    fn srandmember() {
        let mut t = T::new();
        t.check(&[("SADD s a b c d e", i(5))]);
        let all: HashSet<String> = ["a", "b", "c", "d", "e"].map(String::from).into();
        match t.run("SRANDMEMBER s") {
            Frame::Bulk(m) => assert!(all.contains(&*String::from_utf8_lossy(&m))),
            other => panic!("{other:?}"),
        }
        for n in [1usize, 3, 4] {
            let got = sorted(t.run(&format!("SRANDMEMBER s {n}")));
            let distinct: HashSet<_> = got.iter().cloned().collect();
            assert_eq!(got.len(), n);
            assert_eq!(distinct.len(), n);
            assert!(distinct.is_subset(&all));
        }
        assert_eq!(sorted(t.run("SRANDMEMBER s 10")), ["a", "b", "c", "d", "e"]);
        let repeats = sorted(t.run("SRANDMEMBER s -20"));
        assert_eq!(repeats.len(), 20);
        assert!(repeats.iter().all(|m| all.contains(m)));
        t.check(&[
            ("SRANDMEMBER s 0", ints(&[])),
            ("SRANDMEMBER missing 5", ints(&[])),
            ("SRANDMEMBER missing -5", ints(&[])),
            ("SRANDMEMBER missing", Frame::Null),
            ("SRANDMEMBER s x", e(NOT_INT)),
            ("SRANDMEMBER s 1 2", e(SYNTAX)),
            (
                "SRANDMEMBER s -9223372036854775808",
                e("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"),
            ),
            ("SET str x", ok()),
            ("SRANDMEMBER str", e(WRONGTYPE)),
            ("SRANDMEMBER str 1", e(WRONGTYPE)),
        ]);
        // RESP3: still an array, as Redis 7.0 replies.
        t.resp3();
        assert!(matches!(t.run("SRANDMEMBER s 2"), Frame::Array(v) if v.len() == 2));
        assert!(matches!(t.run("SRANDMEMBER s -2"), Frame::Array(v) if v.len() == 2));
    }

    /// Runs SSCAN to the end, returning every member seen (with repeats).
    fn full_scan(
        t: &mut T,
        key: &str,
        extra: &str,
        mut between: impl FnMut(&mut T),
    ) -> Vec<String> {
        let mut cursor = "0".to_string();
        let mut seen = Vec::new();
        let mut calls = 0;
        loop {
            let reply = t.run(&format!("SSCAN {key} {cursor}{extra}"));
            let Frame::Array(parts) = reply else {
                panic!("{reply:?}");
            };
            let [Frame::Bulk(next), members] = &parts[..] else {
                panic!("{parts:?}");
            };
            seen.extend(sorted(members.clone()));
            cursor = String::from_utf8_lossy(next).into_owned();
            calls += 1;
            assert!(calls < 10_000);
            if cursor == "0" {
                return seen;
            }
            between(t);
        }
    }

    #[test]
    fn sscan() {
        let mut t = T::new();
        for n in 0..100 {
            t.run(&format!("SADD s m{n}"));
        }
        let seen = full_scan(&mut t, "s", " COUNT 7", |_| {});
        assert_eq!(seen.len(), 100);
        assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 100);
        let m1: Vec<String> = full_scan(&mut t, "s", " MATCH m1* COUNT 1000", |_| {});
        assert_eq!(m1.len(), 11);
        // Members removed and added during the scan: every member present throughout is seen.
        let mut removed = 0;
        let seen: HashSet<String> = full_scan(&mut t, "s", " COUNT 5", |t| {
            t.run(&format!("SREM s m{}", removed * 3));
            t.run(&format!("SADD s new{removed}"));
            removed += 1;
        })
        .into_iter()
        .collect();
        for n in 0..100 {
            let m = format!("m{n}");
            if n % 3 != 0 || n / 3 >= removed {
                assert!(seen.contains(&m), "{m} missed");
            }
        }
        t.check(&[
            ("SSCAN missing 0", arr(vec![b("0"), ints(&[])])),
            ("SSCAN missing 0 COUNT 0", arr(vec![b("0"), ints(&[])])),
            ("SSCAN s x", e("ERR invalid cursor")),
            ("SSCAN s \t1", e("ERR invalid cursor")),
            ("SSCAN s 1x", e("ERR invalid cursor")),
            ("SSCAN s 18446744073709551616", e("ERR invalid cursor")),
            ("SSCAN s 0 COUNT 0", e(SYNTAX)),
            ("SSCAN s 0 COUNT x", e(NOT_INT)),
            ("SSCAN s 0 MATCH", e(SYNTAX)),
            ("SSCAN s 0 FOO bar", e(SYNTAX)),
            ("SET str x", ok()),
            ("SSCAN str 0", e(WRONGTYPE)),
            ("SADD small a", i(1)),
            ("SSCAN small 0", arr(vec![b("0"), a(&["a"])])),
            ("SSCAN small 99", arr(vec![b("0"), a(&["a"])])),
        ]);
    }
}
