//! String commands: GET SET SETNX SETEX PSETEX GETSET GETDEL MGET MSET MSETNX INCR DECR INCRBY
//! DECRBY INCRBYFLOAT APPEND STRLEN GETRANGE SETRANGE.

use bytes::Bytes;

use super::args::{
    arg, check_string_length, expire_at, float_arg, int_arg, is, reply_string, string_bytes,
};
use super::ctx::{CmdResult, Ctx};
use crate::error::CmdError;
use crate::types::str::Str;
use crate::types::value::Value;

/// `GET key`
pub(crate) fn get(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.dbi();
    match ctx.db.read(db, arg(args, 1), ctx.now) {
        Some(e) => reply_string(ctx.out, &e.value),
        None => {
            ctx.out.null();
            Ok(())
        }
    }
}

/// The options of SET (NX XX GET KEEPTTL and an expiry) or GETEX (PERSIST and an expiry), as
/// Redis's `parseExtendedStringArgumentsOrReply` reads them: every word is checked before the
/// expiry's number is, and an option may repeat (the last expiry of one kind wins) but not
/// meet a conflicting one.
#[derive(Default)]
struct StringOptions<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keep_ttl: bool,
    persist: bool,
    /// EX, PX, EXAT or PXAT (lower case) and its argument, not yet parsed.
    expire: Option<(&'static str, &'a [u8])>,
}

impl<'a> StringOptions<'a> {
    /// Reads `args` (the words after the key, or after the value for SET); `set` chooses
    /// SET's options over GETEX's.
    fn parse(args: &'a [Bytes], set: bool) -> Result<Self, CmdError> {
        let mut o = StringOptions::default();
        let mut i = 0;
        while let Some(opt) = args.get(i) {
            let next = args.get(i + 1);
            let kind = ["ex", "px", "exat", "pxat"]
                .into_iter()
                .find(|k| is(opt, k));
            if set && is(opt, "nx") && !o.xx {
                o.nx = true;
            } else if set && is(opt, "xx") && !o.nx {
                o.xx = true;
            } else if set && is(opt, "get") {
                o.get = true;
            } else if set && is(opt, "keepttl") && o.expire.is_none() {
                o.keep_ttl = true;
            } else if !set && is(opt, "persist") && o.expire.is_none() {
                o.persist = true;
            } else if let (Some(kind), Some(value)) = (kind, next) {
                let same_kind = o.expire.is_none_or(|(k, _)| k == kind);
                if o.keep_ttl || o.persist || !same_kind {
                    return Err(CmdError::Syntax);
                }
                o.expire = Some((kind, value));
                i += 1;
            } else {
                return Err(CmdError::Syntax);
            }
            i += 1;
        }
        Ok(o)
    }

    /// When the expiry falls, in Unix milliseconds, if one was given; "invalid expire time in
    /// '<command>' command" for a time that is not positive or overflows.
    fn expire_at(&self, now: u64, command: &str) -> Result<Option<u64>, CmdError> {
        let Some((kind, value)) = self.expire else {
            return Ok(None);
        };
        let n = int_arg(value)?;
        let seconds = kind == "ex" || kind == "exat";
        let relative = kind == "ex" || kind == "px";
        expire_at(n, if seconds { 1000 } else { 1 }, relative, now)
            .map(Some)
            .ok_or_else(|| CmdError::err(format!("invalid expire time in '{command}' command")))
    }
}

/// `SET key value [NX | XX] [GET] [EX s | PX ms | EXAT s | PXAT ms | KEEPTTL]`
pub(crate) fn set(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let (key, value) = (arg(args, 1), arg(args, 2));
    let opts = StringOptions::parse(args.get(3..).unwrap_or_default(), true)?;
    let at = opts.expire_at(ctx.now, "set")?;
    let (nx, xx, get) = (opts.nx, opts.xx, opts.get);
    let db = ctx.dbi();
    let now = ctx.now;
    let existing = ctx.db.entry(db, key, now);
    if get {
        match existing.as_ref().map(|e| &e.value) {
            Some(Value::Str(_) | Value::Int(_)) | None => {}
            Some(_) => return Err(CmdError::WrongType),
        }
    }
    let old = existing.map(|e| e.value.clone());
    let exists = old.is_some();
    if (nx && exists) || (xx && !exists) {
        if get {
            match &old {
                Some(v) => reply_string(ctx.out, v)?,
                None => ctx.out.null(),
            }
        } else {
            ctx.out.null();
        }
        return Ok(());
    }
    ctx.db
        .set(db, key, Value::string(value), opts.keep_ttl, now);
    if let Some(at) = at {
        ctx.db.space(db).set_expire_at(key, at);
        if at <= now {
            ctx.db.delete(db, key, now);
        }
    }
    if get {
        match &old {
            Some(v) => reply_string(ctx.out, v)?,
            None => ctx.out.null(),
        }
    } else {
        ctx.out.ok();
    }
    Ok(())
}

/// `SETNX key value`
pub(crate) fn setnx(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.dbi();
    if ctx.db.exists(db, arg(args, 1), ctx.now) {
        ctx.out.int(0);
    } else {
        ctx.db.set(
            db,
            arg(args, 1),
            Value::string(arg(args, 2)),
            false,
            ctx.now,
        );
        ctx.out.int(1);
    }
    Ok(())
}

fn set_with_ttl(ctx: &mut Ctx<'_, '_>, args: &[Bytes], unit_ms: i64, name: &str) -> CmdResult {
    let n = int_arg(arg(args, 2))?;
    let at = expire_at(n, unit_ms, true, ctx.now)
        .ok_or_else(|| CmdError::err(format!("invalid expire time in '{name}' command")))?;
    let db = ctx.dbi();
    let key = arg(args, 1);
    ctx.db
        .set(db, key, Value::string(arg(args, 3)), false, ctx.now);
    ctx.db.space(db).set_expire_at(key, at);
    ctx.out.ok();
    Ok(())
}

/// `SETEX key seconds value`
pub(crate) fn setex(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    set_with_ttl(ctx, args, 1000, "setex")
}

/// `PSETEX key milliseconds value`
pub(crate) fn psetex(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    set_with_ttl(ctx, args, 1, "psetex")
}

/// `GETSET key value`
pub(crate) fn getset(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.dbi();
    let key = arg(args, 1);
    let old = match ctx.db.entry(db, key, ctx.now) {
        Some(e) => {
            string_bytes(&e.value)?;
            Some(e.value.clone())
        }
        None => None,
    };
    ctx.db
        .set(db, key, Value::string(arg(args, 2)), false, ctx.now);
    match old {
        Some(v) => reply_string(ctx.out, &v)?,
        None => ctx.out.null(),
    }
    Ok(())
}

/// `GETDEL key`
pub(crate) fn getdel(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.dbi();
    let key = arg(args, 1);
    match ctx.db.read(db, key, ctx.now) {
        Some(e) => {
            reply_string(ctx.out, &e.value)?;
            ctx.db.delete(db, key, ctx.now);
        }
        None => ctx.out.null(),
    }
    Ok(())
}

/// `MGET key…`: a nil for keys that are missing or not strings.
pub(crate) fn mget(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.dbi();
    let keys = args.get(1..).unwrap_or_default();
    ctx.out.array_len(keys.len());
    for key in keys {
        match ctx.db.read(db, key, ctx.now).map(|e| &e.value) {
            Some(v @ (Value::Str(_) | Value::Int(_))) => reply_string(ctx.out, v)?,
            _ => ctx.out.null(),
        }
    }
    Ok(())
}

/// The `key value` pairs of MSET/MSETNX, borrowed from the arguments.
fn pairs<'a>(
    args: &'a [Bytes],
    name: &str,
) -> Result<impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone, CmdError> {
    let rest = args.get(1..).unwrap_or_default();
    if rest.is_empty() || rest.len() % 2 != 0 {
        return Err(CmdError::err(format!(
            "wrong number of arguments for '{name}' command"
        )));
    }
    Ok(rest.chunks_exact(2).filter_map(|p| match p {
        [k, v] => Some((&k[..], &v[..])),
        _ => None,
    }))
}

/// `MSET key value [key value …]`
pub(crate) fn mset(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.dbi();
    for (k, v) in pairs(args, "mset")? {
        ctx.db.set(db, k, Value::string(v), false, ctx.now);
    }
    ctx.out.ok();
    Ok(())
}

/// `MSETNX key value [key value …]`: all or nothing.
pub(crate) fn msetnx(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.dbi();
    let pairs = pairs(args, "msetnx")?;
    if pairs.clone().any(|(k, _)| ctx.db.exists(db, k, ctx.now)) {
        ctx.out.int(0);
        return Ok(());
    }
    for (k, v) in pairs {
        ctx.db.set(db, k, Value::string(v), false, ctx.now);
    }
    ctx.out.int(1);
    Ok(())
}

/// Adds `by` to the integer at `key` (0 if missing), keeping its TTL.
fn incr_by(ctx: &mut Ctx<'_, '_>, key: &[u8], by: i64) -> CmdResult {
    let db = ctx.dbi();
    let now = ctx.now;
    let current = match ctx.db.entry(db, key, now) {
        Some(e) => match &mut e.value {
            Value::Int(n) => {
                // The hot path: in place, no allocation.
                let v = n.checked_add(by).ok_or(CmdError::Overflow)?;
                *n = v;
                ctx.db.dirty += 1;
                ctx.out.int(v);
                return Ok(());
            }
            Value::Str(s) => int_arg(s)?,
            _ => return Err(CmdError::WrongType),
        },
        None => 0,
    };
    let v = current.checked_add(by).ok_or(CmdError::Overflow)?;
    ctx.db.set(db, key, Value::Int(v), true, now);
    ctx.out.int(v);
    Ok(())
}

/// `INCR key`
pub(crate) fn incr(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    incr_by(ctx, arg(args, 1), 1)
}

/// `DECR key`
pub(crate) fn decr(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    incr_by(ctx, arg(args, 1), -1)
}

/// `INCRBY key increment`
pub(crate) fn incrby(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let by = int_arg(arg(args, 2))?;
    incr_by(ctx, arg(args, 1), by)
}

/// `DECRBY key decrement`
pub(crate) fn decrby(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let by = int_arg(arg(args, 2))?;
    // As Redis's decrbyCommand: the one decrement that cannot be negated has its own error.
    let by = by
        .checked_neg()
        .ok_or_else(|| CmdError::err("decrement would overflow"))?;
    incr_by(ctx, arg(args, 1), by)
}

/// Formats a float as INCRBYFLOAT stores it (Redis: `%.17Lg`, trailing zeros removed).
pub(crate) fn format_float_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e17 {
        return format!("{}", v as i64);
    }
    let s = format!("{v:.17}");
    let s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    // Prefer the shortest form that reads back the same.
    let short = format!("{v}");
    if short.parse::<f64>().ok() == Some(v) && short.len() <= s.len() {
        short
    } else {
        s
    }
}

/// `INCRBYFLOAT key increment`: the key's type, then its value, then the increment are
/// checked in Redis's order; a stored value is read with the increment's rules (no surrounding
/// spaces, `inf` accepted and then refused as a result).
pub(crate) fn incrbyfloat(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.dbi();
    let key = arg(args, 1);
    let current = match ctx.db.entry(db, key, ctx.now) {
        Some(e) => match &e.value {
            Value::Int(n) => *n as f64,
            Value::Str(s) => float_arg(s)?,
            _ => return Err(CmdError::WrongType),
        },
        None => 0.0,
    };
    let by = float_arg(arg(args, 2))?;
    let v = current + by;
    if !v.is_finite() {
        return Err(CmdError::err("increment would produce NaN or Infinity"));
    }
    let text = format_float_value(v);
    ctx.db
        .set(db, key, Value::Str(text.as_bytes().into()), true, ctx.now);
    ctx.out.bulk(text.as_bytes());
    Ok(())
}

/// `APPEND key value`
pub(crate) fn append(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.dbi();
    let key = arg(args, 1);
    let tail = arg(args, 2);
    let limit = ctx.shared.config.proto_max_bulk_len;
    let len = match ctx.db.entry(db, key, ctx.now) {
        Some(e) => {
            let old_len = string_bytes(&e.value)?.len();
            check_string_length(old_len as u64, tail.len() as u64, limit)?;
            // The string grows where it is; an integer becomes its text first.
            if let Value::Int(n) = e.value {
                e.value = Value::Str(Str::new(n.to_string().as_bytes()));
            }
            if let Value::Str(s) = &mut e.value {
                s.append(tail);
            }
            ctx.db.dirty += 1;
            old_len + tail.len()
        }
        None => {
            ctx.db.set(db, key, Value::string(tail), true, ctx.now);
            tail.len()
        }
    };
    ctx.out.int(len as i64);
    Ok(())
}

/// `STRLEN key`
pub(crate) fn strlen(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.dbi();
    let n = match ctx.db.read(db, arg(args, 1), ctx.now) {
        Some(e) => string_bytes(&e.value)?.len(),
        None => 0,
    };
    ctx.out.int(n as i64);
    Ok(())
}

/// Redis's range normalisation: negative indexes count from the end; returns an inclusive
/// `(start, end)` or `None` for an empty range.
pub(crate) fn normalize_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut s = if start < 0 { len + start } else { start };
    let mut e = if end < 0 { len + end } else { end };
    if s < 0 {
        s = 0;
    }
    if e < 0 || s >= len || s > e {
        return None;
    }
    if e >= len {
        e = len - 1;
    }
    Some((s as usize, e as usize))
}

/// `GETRANGE key start end`
pub(crate) fn getrange(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let (start, end) = (int_arg(arg(args, 2))?, int_arg(arg(args, 3))?);
    let db = ctx.dbi();
    // Borrowed: a short range of a long string copies only the range.
    let bytes = match ctx.db.read(db, arg(args, 1), ctx.now) {
        Some(e) => string_bytes(&e.value)?,
        None => std::borrow::Cow::Borrowed(&[][..]),
    };
    match getrange_bounds(start, end, bytes.len()) {
        Some((s, e)) => ctx.out.bulk(bytes.get(s..=e).unwrap_or_default()),
        None => ctx.out.bulk(b""),
    }
    Ok(())
}

/// GETRANGE's range, as Redis's `getrangeCommand` makes it — unlike LRANGE's, an end that is
/// still negative after counting from the end is clamped to 0 (`GETRANGE "m2" 0 -5` is "m"),
/// and both ends negative with start past end is empty.
fn getrange_bounds(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    if start < 0 && end < 0 && start > end {
        return None;
    }
    let len = len as i64;
    let s = if start < 0 { len + start } else { start }.max(0);
    let e = if end < 0 { len + end } else { end }.max(0).min(len - 1);
    if len == 0 || s > e {
        return None;
    }
    Some((s as usize, e as usize))
}

/// `SETRANGE key offset value`
pub(crate) fn setrange(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let offset = int_arg(arg(args, 2))?;
    if offset < 0 {
        return Err(CmdError::err("offset is out of range"));
    }
    let value = arg(args, 3);
    let limit = ctx.shared.config.proto_max_bulk_len;
    let db = ctx.dbi();
    let key = arg(args, 1);
    // As Redis: the type first, then an empty value changes nothing, then the length.
    let len = match ctx.db.entry(db, key, ctx.now) {
        Some(e) => {
            let old_len = string_bytes(&e.value)?.len();
            if value.is_empty() {
                ctx.out.int(old_len as i64);
                return Ok(());
            }
            check_string_length(offset as u64, value.len() as u64, limit)?;
            // Written where it is: an existing long string is not copied whole.
            if let Value::Int(n) = e.value {
                e.value = Value::Str(Str::new(n.to_string().as_bytes()));
            }
            if let Value::Str(s) = &mut e.value {
                s.write_at(offset as usize, value);
            }
            ctx.db.dirty += 1;
            old_len.max(offset as usize + value.len())
        }
        None if value.is_empty() => 0,
        None => {
            check_string_length(offset as u64, value.len() as u64, limit)?;
            let mut s = Str::default();
            s.write_at(offset as usize, value);
            let len = s.as_bytes().len();
            ctx.db.set(db, key, Value::Str(s), true, ctx.now);
            len
        }
    };
    ctx.out.int(len as i64);
    Ok(())
}

/// `GETEX key [EX seconds | PX milliseconds | EXAT unix-time-seconds |
/// PXAT unix-time-milliseconds | PERSIST]`
pub(crate) fn getex(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let opts = StringOptions::parse(args.get(2..).unwrap_or_default(), false)?;
    let db = ctx.dbi();
    let key = arg(args, 1);
    let now = ctx.now;
    // As Redis: a missing key answers nil and a wrong type WRONGTYPE before the expiry's
    // number is looked at.
    let Some(e) = ctx.db.read(db, key, now) else {
        ctx.out.null();
        return Ok(());
    };
    string_bytes(&e.value)?;
    let at = opts.expire_at(now, "getex")?;
    reply_string(ctx.out, &e.value)?;
    let had_ttl = e.expire_at != 0;
    match at {
        Some(at) if at <= now => {
            ctx.db.delete(db, key, now);
        }
        Some(at) => {
            ctx.db.space(db).set_expire_at(key, at);
            ctx.db.dirty += 1;
        }
        None if opts.persist && had_ttl => {
            ctx.db.space(db).set_expire_at(key, 0);
            ctx.db.dirty += 1;
        }
        None => {}
    }
    Ok(())
}

/// `LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]`
pub(crate) fn lcs(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.dbi();
    let now = ctx.now;
    let mut strings: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    for (slot, key) in strings.iter_mut().zip([arg(args, 1), arg(args, 2)]) {
        if let Some(e) = ctx.db.read(db, key, now) {
            *slot = string_bytes(&e.value)
                .map_err(|_| CmdError::err("The specified keys must contain string values"))?
                .into_owned();
        }
    }
    let (mut get_len, mut get_idx, mut with_match_len) = (false, false, false);
    let mut min_match_len: u64 = 0;
    let mut i = 3;
    while let Some(opt) = args.get(i) {
        if is(opt, "len") {
            get_len = true;
        } else if is(opt, "idx") {
            get_idx = true;
        } else if is(opt, "withmatchlen") {
            with_match_len = true;
        } else if is(opt, "minmatchlen") && args.get(i + 1).is_some() {
            min_match_len = int_arg(arg(args, i + 1))?.max(0) as u64;
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if get_len && get_idx {
        return Err(CmdError::err(
            "If you want both the length and indexes, please just use IDX.",
        ));
    }
    let [a, b] = &strings;
    let (alen, blen) = (a.len(), b.len());
    // The DP table is (alen+1)*(blen+1) u32s; refuse what Redis refuses.
    let cells = (alen as u128 + 1) * (blen as u128 + 1);
    if alen >= u32::MAX as usize - 1 || blen >= u32::MAX as usize - 1 {
        return Err(CmdError::err("String too long for LCS"));
    }
    if cells * 4 > ctx.shared.config.proto_max_bulk_len as u128 {
        return Err(CmdError::err(
            "Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        ));
    }
    let width = blen + 1;
    let mut dp = vec![0u32; cells as usize];
    let at = |i: usize, j: usize| i * width + j;
    for i in 1..=alen {
        for j in 1..=blen {
            let v = if a.get(i - 1) == b.get(j - 1) {
                dp.get(at(i - 1, j - 1)).copied().unwrap_or(0) + 1
            } else {
                let up = dp.get(at(i - 1, j)).copied().unwrap_or(0);
                let left = dp.get(at(i, j - 1)).copied().unwrap_or(0);
                up.max(left)
            };
            if let Some(slot) = dp.get_mut(at(i, j)) {
                *slot = v;
            }
        }
    }
    let total = dp.get(at(alen, blen)).copied().unwrap_or(0) as usize;
    if get_len {
        ctx.out.int(total as i64);
        return Ok(());
    }
    // Walk back from the end, collecting the LCS and (for IDX) the matching ranges, in the
    // order Redis emits them (last match first).
    let mut result = vec![0u8; total];
    let mut matches: Vec<[usize; 5]> = Vec::new();
    let (mut i, mut j, mut idx) = (alen, blen, total);
    let (mut a_start, mut a_end, mut b_start, mut b_end) = (alen, 0, 0, 0);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a.get(i - 1) == b.get(j - 1) {
            if let Some(slot) = result.get_mut(idx.wrapping_sub(1)) {
                *slot = a.get(i - 1).copied().unwrap_or(0);
            }
            if a_start == alen {
                (a_start, a_end, b_start, b_end) = (i - 1, i - 1, j - 1, j - 1);
            } else if a_start == i && b_start == j {
                a_start -= 1;
                b_start -= 1;
            } else {
                emit = true;
            }
            if a_start == 0 || b_start == 0 {
                emit = true;
            }
            idx = idx.saturating_sub(1);
            i -= 1;
            j -= 1;
        } else {
            let lcs1 = dp.get(at(i - 1, j)).copied().unwrap_or(0);
            let lcs2 = dp.get(at(i, j - 1)).copied().unwrap_or(0);
            if lcs1 > lcs2 {
                i -= 1;
            } else {
                j -= 1;
            }
            if a_start != alen {
                emit = true;
            }
        }
        if emit {
            let len = a_end - a_start + 1;
            if min_match_len == 0 || len as u64 >= min_match_len {
                matches.push([a_start, a_end, b_start, b_end, len]);
            }
            a_start = alen;
        }
    }
    if !get_idx {
        ctx.out.bulk(&result);
        return Ok(());
    }
    ctx.out.map_len(2);
    ctx.out.bulk(b"matches");
    ctx.out.array_len(matches.len());
    for [sa, ea, sb, eb, len] in matches {
        ctx.out.array_len(if with_match_len { 3 } else { 2 });
        ctx.out.array_len(2);
        ctx.out.int(sa as i64);
        ctx.out.int(ea as i64);
        ctx.out.array_len(2);
        ctx.out.int(sb as i64);
        ctx.out.int(eb as i64);
        if with_match_len {
            ctx.out.int(len as i64);
        }
    }
    ctx.out.bulk(b"len");
    ctx.out.int(total as i64);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::getrange_bounds;

    #[test]
    fn getrange_clamps_a_negative_end_as_redis_does() {
        // "m2": end -5 counts to -3, clamped to 0 -> "m" (found by tests/kv_differential.rs).
        assert_eq!(getrange_bounds(0, -5, 2), Some((0, 0)));
        assert_eq!(getrange_bounds(-5, -3, 2), Some((0, 0)));
        assert_eq!(getrange_bounds(-1, -3, 2), None);
        assert_eq!(getrange_bounds(1, 0, 2), None);
        assert_eq!(getrange_bounds(0, 100, 2), Some((0, 1)));
        assert_eq!(getrange_bounds(0, 0, 0), None);
        assert_eq!(getrange_bounds(5, 9, 2), None);
    }

    use crate::testkit::*;

    const BAD_TTL: &str = "ERR invalid expire time in 'getex' command";

    #[test]
    fn getex() {
        let mut t = T::new();
        t.check(&[
            ("GETEX missing", Frame::Null),
            ("GETEX missing EX 10", Frame::Null),
            ("EXISTS missing", i(0)),
            ("SET k v", ok()),
            ("GETEX k", b("v")),
            ("TTL k", i(-1)),
            ("GETEX k EX 100", b("v")),
            ("TTL k", i(100)),
            ("GETEX k", b("v")),
            ("TTL k", i(100)),
            ("GETEX k PERSIST", b("v")),
            ("TTL k", i(-1)),
            ("GETEX k px 5000", b("v")),
            ("PTTL k", i(5000)),
            ("GETEX k EX 0", e(BAD_TTL)),
            ("GETEX k EX -1", e(BAD_TTL)),
            ("GETEX k PXAT 0", e(BAD_TTL)),
            ("GETEX k EX 9223372036854775807", e(BAD_TTL)),
            ("GETEX k EX abc", e(NOT_INT)),
            ("GETEX k EX 10 PX 10", e(SYNTAX)),
            ("GETEX k EX 10 PERSIST", e(SYNTAX)),
            ("GETEX k EX", e(SYNTAX)),
            ("GETEX k FOO", e(SYNTAX)),
            ("PTTL k", i(5000)),
            ("SET n 42", ok()),
            ("GETEX n EXAT 99999999999", b("42")),
            ("GETEX n EXAT 1", b("42")),
            ("EXISTS n", i(0)),
            ("RPUSH l a", i(1)),
            ("GETEX l", e(WRONGTYPE)),
            (
                "GETEX",
                e("ERR wrong number of arguments for 'getex' command"),
            ),
        ]);
    }

    #[test]
    fn lcs() {
        let mut t = T::new();
        let idx = |m: Vec<Frame>, len: i64| arr(vec![b("matches"), arr(m), b("len"), i(len)]);
        let range = |a0: i64, a1: i64, b0: i64, b1: i64, len: Option<i64>| {
            let mut v = vec![ints(&[a0, a1]), ints(&[b0, b1])];
            v.extend(len.map(i));
            arr(v)
        };
        t.check(&[
            ("MSET key1 ohmytext key2 mynewtext", ok()),
            ("LCS key1 key2", b("mytext")),
            ("LCS key1 key2 LEN", i(6)),
            (
                "LCS key1 key2 IDX",
                idx(vec![range(4, 7, 5, 8, None), range(2, 3, 0, 1, None)], 6),
            ),
            (
                "LCS key1 key2 IDX MINMATCHLEN 4",
                idx(vec![range(4, 7, 5, 8, None)], 6),
            ),
            (
                "LCS key1 key2 IDX MINMATCHLEN 4 WITHMATCHLEN",
                idx(vec![range(4, 7, 5, 8, Some(4))], 6),
            ),
            (
                "LCS key1 key2 IDX WITHMATCHLEN MINMATCHLEN -5",
                idx(
                    vec![range(4, 7, 5, 8, Some(4)), range(2, 3, 0, 1, Some(2))],
                    6,
                ),
            ),
            ("LCS key1 missing", b("")),
            ("LCS missing other LEN", i(0)),
            ("LCS missing other IDX", idx(vec![], 0)),
            ("SET n 12345", ok()),
            ("SET m 0245", ok()),
            ("LCS n m", b("245")),
            ("LCS key1 key1 IDX", idx(vec![range(0, 7, 0, 7, None)], 8)),
            (
                "LCS key1 key2 LEN IDX",
                e("ERR If you want both the length and indexes, please just use IDX."),
            ),
            ("LCS key1 key2 FOO", e(SYNTAX)),
            ("LCS key1 key2 MINMATCHLEN", e(SYNTAX)),
            ("LCS key1 key2 MINMATCHLEN x", e(NOT_INT)),
            ("RPUSH l a", i(1)),
            (
                "LCS key1 l",
                e("ERR The specified keys must contain string values"),
            ),
            (
                "LCS l key1 FOO",
                e("ERR The specified keys must contain string values"),
            ),
        ]);
        t.resp3();
        assert_eq!(
            t.run("LCS key1 key2 IDX MINMATCHLEN 4"),
            Frame::Map(vec![
                (b("matches"), arr(vec![range(4, 7, 5, 8, None)])),
                (b("len"), i(6)),
            ])
        );
    }

    #[test]
    fn lcs_refuses_a_table_beyond_proto_max_bulk_len() {
        let mut t = T::new();
        t.server.shared.config.proto_max_bulk_len = 1024 * 1024;
        let long = vec![b'a'; 600];
        assert_eq!(t.args(&[b"SET", b"x", &long]), ok());
        assert_eq!(t.args(&[b"SET", b"y", &long]), ok());
        assert_eq!(
            t.run("LCS x y LEN"),
            e("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")
        );
        assert_eq!(t.args(&[b"SET", b"y", &long[..400]]), ok());
        assert_eq!(t.run("LCS x y LEN"), i(400));
    }
}
