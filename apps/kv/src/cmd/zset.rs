//! Sorted-set commands, as Redis 7.0: ZADD ZINCRBY ZCARD ZCOUNT ZLEXCOUNT ZSCORE ZMSCORE ZRANK
//! ZREVRANK ZRANGE (BYSCORE BYLEX REV LIMIT WITHSCORES) ZRANGESTORE ZREVRANGE ZRANGEBYSCORE
//! ZREVRANGEBYSCORE ZRANGEBYLEX ZREVRANGEBYLEX ZREM ZREMRANGEBYRANK ZREMRANGEBYSCORE
//! ZREMRANGEBYLEX ZPOPMIN ZPOPMAX ZMPOP ZINTER ZUNION ZDIFF ZINTERSTORE ZUNIONSTORE ZDIFFSTORE
//! ZINTERCARD ZRANDMEMBER ZSCAN.
//!
//! Every range is turned into a span of ranks with O(log n) seeks in the skiplist
//! ([`ZSet::rank_where_score`], [`ZSet::rank_where`]), then walked; RESP3 replies WITHSCORES as `[member, double]` pairs.
//!
//! ZSCAN's cursor: sets of up to 128 members (Redis's listpack size) are returned whole with
//! cursor 0, as Redis does. Larger ones are walked in score order and the cursor is the next
//! score to return, mapped to an order-preserving `u64` (never 0, which ends the scan); a call
//! never stops inside a run of equal scores. So every member present with the same score for
//! the whole scan is returned, as SCAN promises; members may repeat when their score moves.

use std::collections::HashMap;

use bytes::Bytes;
use spindle_protocols::resp::{format_double, ReplyWriter, Version};

use super::args::{arg, check_repeat_reply, float_arg, int_arg, is, MIN_BULK_REPLY};
use super::ctx::{CmdResult, Ctx};
use super::keys::random;
use super::string::normalize_range;
use crate::error::CmdError;
use crate::glob;
use crate::types::set::Set;
use crate::types::str::Str;
use crate::types::value::{Value, ZSet};

fn resp3(ctx: &Ctx<'_, '_>) -> bool {
    ctx.out.version == Version::Resp3
}

// ----- ranges ----------------------------------------------------------------------------------

/// `strtod` as Redis's range parsing uses it: leading spaces allowed, the empty string is 0.
fn strtod(b: &[u8]) -> Option<f64> {
    if b.is_empty() {
        return Some(0.0);
    }
    let s = std::str::from_utf8(b).ok()?;
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let v = match t.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => t.parse::<f64>().ok()?,
    };
    (!v.is_nan()).then_some(v)
}

/// A score interval: `min`/`max` with `(` exclusivity.
#[derive(Debug, Clone, Copy)]
struct ScoreRange {
    min: f64,
    max: f64,
    minex: bool,
    maxex: bool,
}

impl ScoreRange {
    fn parse(min: &[u8], max: &[u8]) -> Result<Self, CmdError> {
        let bound = |b: &[u8]| match b.split_first() {
            Some((b'(', rest)) => strtod(rest).map(|v| (v, true)),
            _ => strtod(b).map(|v| (v, false)),
        };
        match (bound(min), bound(max)) {
            (Some((min, minex)), Some((max, maxex))) => Ok(ScoreRange {
                min,
                max,
                minex,
                maxex,
            }),
            _ => Err(CmdError::err("min or max is not a float")),
        }
    }

    fn below_min(&self, s: f64) -> bool {
        if self.minex {
            s <= self.min
        } else {
            s < self.min
        }
    }

    fn within_max(&self, s: f64) -> bool {
        if self.maxex {
            s < self.max
        } else {
            s <= self.max
        }
    }

    /// The ranks in range: `[lo, hi)`.
    fn ranks(&self, z: &ZSet) -> (usize, usize) {
        if self.min > self.max || (self.min == self.max && (self.minex || self.maxex)) {
            return (0, 0);
        }
        let lo = z.rank_where_score(|s| self.below_min(s));
        let hi = z.rank_where_score(|s| self.within_max(s));
        (lo, hi.max(lo))
    }
}

/// One end of a lex range.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Lex<'a> {
    Min,
    Max,
    Incl(&'a [u8]),
    Excl(&'a [u8]),
}

impl<'a> Lex<'a> {
    fn parse(b: &'a [u8]) -> Option<Self> {
        match b.split_first() {
            Some((b'+', [])) => Some(Lex::Max),
            Some((b'-', [])) => Some(Lex::Min),
            Some((b'(', rest)) => Some(Lex::Excl(rest)),
            Some((b'[', rest)) => Some(Lex::Incl(rest)),
            _ => None,
        }
    }

    fn value(&self) -> Option<&'a [u8]> {
        match *self {
            Lex::Incl(v) | Lex::Excl(v) => Some(v),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct LexRange<'a> {
    min: Lex<'a>,
    max: Lex<'a>,
}

impl<'a> LexRange<'a> {
    fn parse(min: &'a [u8], max: &'a [u8]) -> Result<Self, CmdError> {
        match (Lex::parse(min), Lex::parse(max)) {
            (Some(min), Some(max)) => Ok(LexRange { min, max }),
            _ => Err(CmdError::err("min or max not valid string range item")),
        }
    }

    fn below_min(&self, m: &[u8]) -> bool {
        match self.min {
            Lex::Min => false,
            Lex::Max => true,
            Lex::Incl(v) => m < v,
            Lex::Excl(v) => m <= v,
        }
    }

    fn within_max(&self, m: &[u8]) -> bool {
        match self.max {
            Lex::Min => false,
            Lex::Max => true,
            Lex::Incl(v) => m <= v,
            Lex::Excl(v) => m < v,
        }
    }

    fn is_empty(&self) -> bool {
        use std::cmp::Ordering::*;
        let cmp = match (self.min, self.max) {
            (Lex::Min, Lex::Min) | (Lex::Max, Lex::Max) => Equal,
            (Lex::Min, _) | (_, Lex::Max) => Less,
            (Lex::Max, _) | (_, Lex::Min) => Greater,
            (a, b) => a.value().cmp(&b.value()),
        };
        let exclusive = matches!(self.min, Lex::Excl(_)) || matches!(self.max, Lex::Excl(_));
        cmp == Greater || (cmp == Equal && exclusive)
    }

    /// The ranks in range: `[lo, hi)` (meaningful when all scores are equal, as Redis says).
    fn ranks(&self, z: &ZSet) -> (usize, usize) {
        if self.is_empty() {
            return (0, 0);
        }
        let lo = z.rank_where(|_, m| self.below_min(m));
        let hi = z.rank_where(|_, m| self.within_max(m));
        (lo, hi.max(lo))
    }
}

/// Writes `n` elements of `items` as a range reply.
fn emit<'a>(
    out: &mut ReplyWriter<'_>,
    items: impl Iterator<Item = (&'a Str, f64)>,
    n: usize,
    withscores: bool,
) {
    let resp3 = out.version == Version::Resp3;
    out.array_len(if withscores && !resp3 { n * 2 } else { n });
    for (m, s) in items.take(n) {
        if withscores && resp3 {
            out.array_len(2);
        }
        out.bulk(m);
        if withscores {
            out.double(s);
        }
    }
}

/// Turns `[lo, hi)` with LIMIT into (first rank, count), walking down from `hi` when `rev`.
fn limit_span(lo: usize, hi: usize, rev: bool, offset: i64, count: i64) -> (usize, usize) {
    if offset < 0 {
        return (0, 0);
    }
    let available = (hi - lo).saturating_sub(offset as usize);
    let n = if count < 0 {
        available
    } else {
        available.min(count as usize)
    };
    if n == 0 {
        return (0, 0);
    }
    let off = offset as usize;
    if rev {
        (hi - 1 - off, n)
    } else {
        (lo + off, n)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum By {
    Rank,
    Score,
    Lex,
}

/// ZRANGE and its kin. `start`: index of the source key; `dst`: ZRANGESTORE's destination;
/// `by`/`rev`: fixed by the legacy commands, chosen by keywords for ZRANGE.
fn range_generic(
    ctx: &mut Ctx<'_, '_>,
    args: &[Bytes],
    start: usize,
    dst: Option<&[u8]>,
    mut by: Option<By>,
    mut rev: Option<bool>,
) -> CmdResult {
    let store = dst.is_some();
    let (mut withscores, mut offset, mut limit) = (false, 0i64, -1i64);
    let mut j = start + 3;
    while let Some(a) = args.get(j) {
        let left = args.len() - j - 1;
        if !store && is(a, "withscores") {
            withscores = true;
        } else if is(a, "limit") && left >= 2 {
            offset = int_arg(arg(args, j + 1))?;
            limit = int_arg(arg(args, j + 2))?;
            j += 2;
        } else if rev.is_none() && is(a, "rev") {
            rev = Some(true);
        } else if by.is_none() && is(a, "bylex") {
            by = Some(By::Lex);
        } else if by.is_none() && is(a, "byscore") {
            by = Some(By::Score);
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let rev = rev.unwrap_or(false);
    let by = by.unwrap_or(By::Rank);
    if limit != -1 && by == By::Rank {
        return Err(CmdError::err(
            "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && by == By::Lex {
        return Err(CmdError::err(
            "syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    let (mut lo_arg, mut hi_arg) = (arg(args, start + 1), arg(args, start + 2));
    if rev && by != By::Rank {
        std::mem::swap(&mut lo_arg, &mut hi_arg);
    }
    enum Parsed<'a> {
        Rank(i64, i64),
        Score(ScoreRange),
        Lex(LexRange<'a>),
    }
    let parsed = match by {
        By::Rank => Parsed::Rank(int_arg(lo_arg)?, int_arg(hi_arg)?),
        By::Score => Parsed::Score(ScoreRange::parse(lo_arg, hi_arg)?),
        By::Lex => Parsed::Lex(LexRange::parse(lo_arg, hi_arg)?),
    };
    let dbi = ctx.dbi();
    let now = ctx.now;
    let key = arg(args, start);
    let z = if store {
        ctx.db.get_as::<ZSet>(dbi, key, now)?
    } else {
        ctx.db.read_as::<ZSet>(dbi, key, now)?
    }
    .map(|z| &*z);
    let (first, n) = match (z, &parsed) {
        (None, _) => (0, 0),
        (Some(z), Parsed::Rank(s, e)) => match normalize_range(*s, *e, z.len()) {
            Some((s, e)) if rev => (z.len() - 1 - s, e - s + 1),
            Some((s, e)) => (s, e - s + 1),
            None => (0, 0),
        },
        (Some(z), Parsed::Score(r)) => {
            let (lo, hi) = r.ranks(z);
            limit_span(lo, hi, rev, offset, limit)
        }
        (Some(z), Parsed::Lex(r)) => {
            let (lo, hi) = r.ranks(z);
            limit_span(lo, hi, rev, offset, limit)
        }
    };
    let Some(dst) = dst else {
        match z {
            Some(z) => emit(ctx.out, z.iter_from(first, rev), n, withscores),
            None => ctx.out.array_len(0),
        }
        return Ok(());
    };
    let picked: Vec<(Str, f64)> = z.map_or_else(Vec::new, |z| {
        z.iter_from(first, rev)
            .take(n)
            .map(|(m, s)| (m.clone(), s))
            .collect()
    });
    store_result(ctx, dst, picked);
    Ok(())
}

/// Stores `items` at `dst` as a new sorted set (deleting `dst` when empty); replies the size.
pub(crate) fn store_result(ctx: &mut Ctx<'_, '_>, dst: &[u8], items: Vec<(Str, f64)>) {
    let dbi = ctx.dbi();
    let now = ctx.now;
    let mut z = ZSet::new();
    for (m, s) in items {
        z.insert(m, s);
    }
    let n = z.len();
    if n == 0 {
        ctx.db.delete(dbi, dst, now);
    } else {
        ctx.db.set(dbi, dst, Value::ZSet(Box::new(z)), false, now);
    }
    ctx.out.int(n as i64);
}

/// `ZRANGE key start stop [BYSCORE | BYLEX] [REV] [LIMIT offset count] [WITHSCORES]`
pub(crate) fn zrange(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    range_generic(ctx, args, 1, None, None, None)
}

/// `ZRANGESTORE dst src min max [BYSCORE | BYLEX] [REV] [LIMIT offset count]`
pub(crate) fn zrangestore(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    range_generic(ctx, args, 2, Some(arg(args, 1)), None, None)
}

/// `ZREVRANGE key start stop [WITHSCORES]`
pub(crate) fn zrevrange(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    range_generic(ctx, args, 1, None, Some(By::Rank), Some(true))
}

/// `ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]`
pub(crate) fn zrangebyscore(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    range_generic(ctx, args, 1, None, Some(By::Score), Some(false))
}

/// `ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]`
pub(crate) fn zrevrangebyscore(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    range_generic(ctx, args, 1, None, Some(By::Score), Some(true))
}

/// `ZRANGEBYLEX key min max [LIMIT offset count]`
pub(crate) fn zrangebylex(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    range_generic(ctx, args, 1, None, Some(By::Lex), Some(false))
}

/// `ZREVRANGEBYLEX key max min [LIMIT offset count]`
pub(crate) fn zrevrangebylex(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    range_generic(ctx, args, 1, None, Some(By::Lex), Some(true))
}

/// `ZCOUNT key min max`
pub(crate) fn zcount(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let range = ScoreRange::parse(arg(args, 2), arg(args, 3))?;
    let dbi = ctx.dbi();
    let n = ctx
        .db
        .read_as::<ZSet>(dbi, arg(args, 1), ctx.now)?
        .map_or(0, |z| {
            let (lo, hi) = range.ranks(z);
            hi - lo
        });
    ctx.out.int(n as i64);
    Ok(())
}

/// `ZLEXCOUNT key min max`
pub(crate) fn zlexcount(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let range = LexRange::parse(arg(args, 2), arg(args, 3))?;
    let dbi = ctx.dbi();
    let n = ctx
        .db
        .read_as::<ZSet>(dbi, arg(args, 1), ctx.now)?
        .map_or(0, |z| {
            let (lo, hi) = range.ranks(z);
            hi - lo
        });
    ctx.out.int(n as i64);
    Ok(())
}

// ----- adding, scores, ranks -------------------------------------------------------------------

/// `ZADD key [NX | XX] [GT | LT] [CH] [INCR] score member [score member …]`
pub(crate) fn zadd(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
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
    if xx && !ctx.db.exists(db, key, now) {
        if incr {
            ctx.out.null();
        } else {
            ctx.out.int(0);
        }
        return Ok(());
    }
    let z = ctx.db.get_or_create::<ZSet>(db, key, now)?;
    let (mut added, mut changed) = (0, 0);
    let mut incr_result = None;
    for (score, member) in parsed {
        let old = z.score(member);
        let mut new = score;
        if incr {
            new = old.unwrap_or(0.0) + score;
            if new.is_nan() {
                ctx.db.drop_if_empty(db, key);
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
    if added + changed > 0 {
        ctx.db.dirty += 1;
    }
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

/// `ZINCRBY key increment member`
pub(crate) fn zincrby(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let as_zadd = [
        Bytes::from_static(b"zadd"),
        args.get(1).cloned().unwrap_or_default(),
        Bytes::from_static(b"incr"),
        args.get(2).cloned().unwrap_or_default(),
        args.get(3).cloned().unwrap_or_default(),
    ];
    zadd(ctx, &as_zadd)
}

/// `ZSCORE key member`
pub(crate) fn zscore(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let dbi = ctx.dbi();
    match ctx
        .db
        .read_as::<ZSet>(dbi, arg(args, 1), ctx.now)?
        .and_then(|z| z.score(arg(args, 2)))
    {
        Some(v) => ctx.out.double(v),
        None => ctx.out.null(),
    }
    Ok(())
}

/// `ZMSCORE key member [member …]`
pub(crate) fn zmscore(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let dbi = ctx.dbi();
    let z = ctx
        .db
        .read_as::<ZSet>(dbi, arg(args, 1), ctx.now)?
        .map(|z| &*z);
    let members = args.get(2..).unwrap_or_default();
    ctx.out.array_len(members.len());
    for m in members {
        match z.and_then(|z| z.score(m)) {
            Some(v) => ctx.out.double(v),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

/// `ZCARD key`
pub(crate) fn zcard(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let dbi = ctx.dbi();
    let n = ctx
        .db
        .read_as::<ZSet>(dbi, arg(args, 1), ctx.now)?
        .map_or(0, |z| z.len());
    ctx.out.int(n as i64);
    Ok(())
}

fn rank_generic(ctx: &mut Ctx<'_, '_>, args: &[Bytes], rev: bool) -> CmdResult {
    let dbi = ctx.dbi();
    let r = ctx
        .db
        .read_as::<ZSet>(dbi, arg(args, 1), ctx.now)?
        .and_then(|z| {
            z.rank(arg(args, 2))
                .map(|r| if rev { z.len() - 1 - r } else { r })
        });
    match r {
        Some(r) => ctx.out.int(r as i64),
        None => ctx.out.null(),
    }
    Ok(())
}

/// `ZRANK key member`
pub(crate) fn zrank(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    rank_generic(ctx, args, false)
}

/// `ZREVRANK key member`
pub(crate) fn zrevrank(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    rank_generic(ctx, args, true)
}

// ----- removing --------------------------------------------------------------------------------

/// `ZREM key member…`
pub(crate) fn zrem(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.dbi();
    let key = arg(args, 1);
    let removed = match ctx.db.get_as::<ZSet>(db, key, ctx.now)? {
        Some(z) => args
            .get(2..)
            .unwrap_or_default()
            .iter()
            .filter(|m| z.remove(m))
            .count(),
        None => 0,
    };
    if removed > 0 {
        ctx.db.removed_from(db, key);
    }
    ctx.out.int(removed as i64);
    Ok(())
}

fn remrange(ctx: &mut Ctx<'_, '_>, args: &[Bytes], by: By) -> CmdResult {
    let (a, b) = (arg(args, 2), arg(args, 3));
    enum Parsed<'a> {
        Rank(i64, i64),
        Score(ScoreRange),
        Lex(LexRange<'a>),
    }
    let parsed = match by {
        By::Rank => Parsed::Rank(int_arg(a)?, int_arg(b)?),
        By::Score => Parsed::Score(ScoreRange::parse(a, b)?),
        By::Lex => Parsed::Lex(LexRange::parse(a, b)?),
    };
    let db = ctx.dbi();
    let key = arg(args, 1);
    let removed = match ctx.db.get_as::<ZSet>(db, key, ctx.now)? {
        Some(z) => {
            let (first, n) = match parsed {
                Parsed::Rank(s, e) => match normalize_range(s, e, z.len()) {
                    Some((s, e)) => (s, e - s + 1),
                    None => (0, 0),
                },
                Parsed::Score(r) => {
                    let (lo, hi) = r.ranks(z);
                    (lo, hi - lo)
                }
                Parsed::Lex(r) => {
                    let (lo, hi) = r.ranks(z);
                    (lo, hi - lo)
                }
            };
            let doomed: Vec<Str> = z
                .iter_from(first, false)
                .take(n)
                .map(|(m, _)| m.clone())
                .collect();
            for m in &doomed {
                z.remove(m);
            }
            doomed.len()
        }
        None => 0,
    };
    if removed > 0 {
        ctx.db.removed_from(db, key);
    }
    ctx.out.int(removed as i64);
    Ok(())
}

/// `ZREMRANGEBYRANK key start stop`
pub(crate) fn zremrangebyrank(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    remrange(ctx, args, By::Rank)
}

/// `ZREMRANGEBYSCORE key min max`
pub(crate) fn zremrangebyscore(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    remrange(ctx, args, By::Score)
}

/// `ZREMRANGEBYLEX key min max`
pub(crate) fn zremrangebylex(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    remrange(ctx, args, By::Lex)
}

// ----- popping ---------------------------------------------------------------------------------

/// A key and the elements popped from it.
type Popped = (Bytes, Vec<(Str, f64)>);

/// Pops up to `count` elements from the first non-empty sorted set of `keys`; WRONGTYPE stops
/// at the first key of another type. Returns the key popped from and the elements.
fn pop_generic(
    ctx: &mut Ctx<'_, '_>,
    keys: &[Bytes],
    max: bool,
    count: usize,
) -> Result<Option<Popped>, CmdError> {
    let db = ctx.dbi();
    let now = ctx.now;
    for key in keys {
        let Some(z) = ctx.db.get_as::<ZSet>(db, key, now)? else {
            continue;
        };
        let n = count.min(z.len());
        let popped: Vec<(Str, f64)> = (0..n).filter_map(|_| z.pop(max)).collect();
        if !popped.is_empty() {
            ctx.db.removed_from(db, key);
        }
        return Ok(Some((key.clone(), popped)));
    }
    Ok(None)
}

fn zpop(ctx: &mut Ctx<'_, '_>, args: &[Bytes], max: bool) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::Syntax);
    }
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
    let popped = pop_generic(
        ctx,
        args.get(1..2).unwrap_or_default(),
        max,
        count.unwrap_or(1),
    )?
    .map(|(_, p)| p)
    .unwrap_or_default();
    if count.is_some() && resp3(ctx) {
        emit(
            ctx.out,
            popped.iter().map(|(m, s)| (m, *s)),
            popped.len(),
            true,
        );
    } else {
        // RESP2, and RESP3 without a count: a flat member, score, member, score… list.
        ctx.out.array_len(popped.len() * 2);
        for (m, s) in &popped {
            ctx.out.bulk(m);
            ctx.out.double(*s);
        }
    }
    Ok(())
}

/// `ZPOPMIN key [count]`
pub(crate) fn zpopmin(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    zpop(ctx, args, false)
}

/// `ZPOPMAX key [count]`
pub(crate) fn zpopmax(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    zpop(ctx, args, true)
}

/// Parses `numkeys` for ZMPOP: a positive integer, else this exact message.
fn numkeys_positive(b: &[u8]) -> Result<usize, CmdError> {
    match int_arg(b) {
        Ok(n) if n >= 1 => Ok(n as usize),
        _ => Err(CmdError::err("numkeys should be greater than 0")),
    }
}

/// `ZMPOP numkeys key [key …] MIN | MAX [COUNT count]`
pub(crate) fn zmpop(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let numkeys = numkeys_positive(arg(args, 1))?;
    let where_idx = numkeys.saturating_add(2);
    let Some(w) = args.get(where_idx) else {
        return Err(CmdError::Syntax);
    };
    let max = if is(w, "min") {
        false
    } else if is(w, "max") {
        true
    } else {
        return Err(CmdError::Syntax);
    };
    let mut count = None;
    let mut j = where_idx + 1;
    while let Some(opt) = args.get(j) {
        if count.is_none() && is(opt, "count") && j + 1 < args.len() {
            j += 1;
            match int_arg(arg(args, j)) {
                Ok(n) if n >= 1 => count = Some(n as usize),
                _ => return Err(CmdError::err("count should be greater than 0")),
            }
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let keys = args.get(2..where_idx).unwrap_or_default();
    match pop_generic(ctx, keys, max, count.unwrap_or(1))? {
        Some((key, popped)) if !popped.is_empty() => {
            ctx.out.array_len(2);
            ctx.out.bulk(&key);
            ctx.out.array_len(popped.len());
            for (m, s) in &popped {
                ctx.out.array_len(2);
                ctx.out.bulk(m);
                ctx.out.double(*s);
            }
        }
        _ => ctx.out.null_array(),
    }
    Ok(())
}

// ----- set operations --------------------------------------------------------------------------

/// An input of ZUNION/ZINTER/ZDIFF: a sorted set, a plain set (every score 1), or nothing.
#[derive(Debug, Clone, Copy)]
enum Src<'a> {
    None,
    Z(&'a ZSet),
    S(&'a Set),
}

impl<'a> Src<'a> {
    fn len(&self) -> usize {
        match self {
            Src::None => 0,
            Src::Z(z) => z.len(),
            Src::S(s) => s.len(),
        }
    }

    fn score(&self, m: &[u8]) -> Option<f64> {
        match self {
            Src::None => None,
            Src::Z(z) => z.score(m),
            Src::S(s) => s.contains(m).then_some(1.0),
        }
    }

    fn for_each(&self, mut f: impl FnMut(&'a Str, f64)) {
        match *self {
            Src::None => {}
            Src::Z(z) => z.iter().for_each(|(m, s)| f(m, s)),
            Src::S(s) => s.iter().for_each(|m| f(m, 1.0)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Union,
    Inter,
    Diff,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

fn aggregate(target: &mut f64, v: f64, how: Aggregate) {
    match how {
        Aggregate::Sum => {
            *target += v;
            // +inf + -inf: Redis's convention is 0.
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => {
            if v < *target {
                *target = v;
            }
        }
        Aggregate::Max => {
            if v > *target {
                *target = v;
            }
        }
    }
}

/// `weight * score`, with NaN (0 × inf) counted as 0, as Redis.
fn weighted(score: f64, weight: f64) -> f64 {
    let v = score * weight;
    if v.is_nan() {
        0.0
    } else {
        v
    }
}

/// What ZUNION/ZINTER/ZDIFF (and their STORE forms, and ZINTERCARD) compute.
fn setop_generic(
    ctx: &mut Ctx<'_, '_>,
    args: &[Bytes],
    name: &str,
    dst: Option<&[u8]>,
    op: Op,
    card_only: bool,
) -> CmdResult {
    let numkeys_idx = if dst.is_some() { 2 } else { 1 };
    let setnum = int_arg(arg(args, numkeys_idx))?;
    if setnum < 1 {
        return Err(CmdError::err(format!(
            "at least 1 input key is needed for '{name}' command"
        )));
    }
    let setnum = setnum as usize;
    if setnum > args.len() - (numkeys_idx + 1) {
        return Err(CmdError::Syntax);
    }
    let keys = args
        .get(numkeys_idx + 1..numkeys_idx + 1 + setnum)
        .unwrap_or_default();
    let dbi = ctx.dbi();
    let now = ctx.now;
    // Pass 1: expire, count hits, check types.
    for k in keys {
        let e = if dst.is_some() {
            ctx.db.entry(dbi, k, now)
        } else {
            ctx.db.read(dbi, k, now)
        };
        if let Some(e) = e {
            if !matches!(e.value, Value::ZSet(_) | Value::Set(_)) {
                return Err(CmdError::WrongType);
            }
        }
    }
    // Options.
    let mut weights = vec![1.0f64; setnum];
    let mut how = Aggregate::Sum;
    let mut withscores = false;
    let mut limit = 0usize;
    let mut j = numkeys_idx + 1 + setnum;
    while j < args.len() {
        let remaining = args.len() - j;
        let a = arg(args, j);
        if op != Op::Diff && !card_only && remaining > setnum && is(a, "weights") {
            j += 1;
            for w in weights.iter_mut() {
                *w = float_arg(arg(args, j))
                    .map_err(|_| CmdError::err("weight value is not a float"))?;
                j += 1;
            }
        } else if op != Op::Diff && !card_only && remaining >= 2 && is(a, "aggregate") {
            let v = arg(args, j + 1);
            how = if is(v, "sum") {
                Aggregate::Sum
            } else if is(v, "min") {
                Aggregate::Min
            } else if is(v, "max") {
                Aggregate::Max
            } else {
                return Err(CmdError::Syntax);
            };
            j += 2;
        } else if dst.is_none() && !card_only && is(a, "withscores") {
            withscores = true;
            j += 1;
        } else if card_only && remaining >= 2 && is(a, "limit") {
            limit = match int_arg(arg(args, j + 1)) {
                Ok(n) if n >= 0 => n as usize,
                _ => return Err(CmdError::err("LIMIT can't be negative")),
            };
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    // Pass 2: borrow every input at once.
    let space = &*ctx.db.space(dbi);
    let mut srcs: Vec<(Src<'_>, f64)> = keys
        .iter()
        .zip(&weights)
        .map(|(k, w)| {
            let src = match space.get(k).map(|e| &e.value) {
                Some(Value::ZSet(z)) => Src::Z(z),
                Some(Value::Set(s)) => Src::S(s),
                _ => Src::None,
            };
            (src, *w)
        })
        .collect();
    let mut result: Vec<(Str, f64)> = Vec::new();
    match op {
        Op::Inter => {
            // Smallest first: the fewest lookups.
            srcs.sort_by_key(|(s, _)| s.len());
            let Some(&(first, w0)) = srcs.first() else {
                return Err(CmdError::Syntax);
            };
            let rest = srcs.get(1..).unwrap_or_default();
            if card_only {
                let mut n = 0usize;
                if rest.iter().all(|(s, _)| s.len() > 0) {
                    let mut done = false;
                    first.for_each(|m, _| {
                        if !done && rest.iter().all(|(s, _)| s.score(m).is_some()) {
                            n += 1;
                            done = limit > 0 && n >= limit;
                        }
                    });
                }
                ctx.out.int(n as i64);
                return Ok(());
            }
            first.for_each(|m, s| {
                let mut score = weighted(s, w0);
                for (src, w) in rest {
                    match src.score(m) {
                        Some(v) => aggregate(&mut score, v * w, how),
                        None => return,
                    }
                }
                result.push((m.clone(), score));
            });
        }
        Op::Union => {
            srcs.sort_by_key(|(s, _)| s.len());
            let mut acc: HashMap<&Str, f64> = HashMap::new();
            for (src, w) in &srcs {
                src.for_each(|m, s| {
                    let v = weighted(s, *w);
                    acc.entry(m)
                        .and_modify(|t| aggregate(t, v, how))
                        .or_insert(v);
                });
            }
            result = acc.into_iter().map(|(m, s)| (m.clone(), s)).collect();
        }
        Op::Diff => {
            if let Some(&(first, _)) = srcs.first() {
                let rest = srcs.get(1..).unwrap_or_default();
                first.for_each(|m, s| {
                    if rest.iter().all(|(src, _)| src.score(m).is_none()) {
                        result.push((m.clone(), s));
                    }
                });
            }
        }
    }
    if let Some(dst) = dst {
        store_result(ctx, dst, result);
        return Ok(());
    }
    result.sort_by(|a, b| {
        a.1.partial_cmp(&b.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.0.cmp(&b.0))
    });
    let n = result.len();
    emit(ctx.out, result.iter().map(|(m, s)| (m, *s)), n, withscores);
    Ok(())
}

/// `ZUNION numkeys key [key …] [WEIGHTS weight …] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]`
pub(crate) fn zunion(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    setop_generic(ctx, args, "zunion", None, Op::Union, false)
}

/// `ZINTER numkeys key [key …] [WEIGHTS weight …] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]`
pub(crate) fn zinter(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    setop_generic(ctx, args, "zinter", None, Op::Inter, false)
}

/// `ZDIFF numkeys key [key …] [WITHSCORES]`
pub(crate) fn zdiff(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    setop_generic(ctx, args, "zdiff", None, Op::Diff, false)
}

/// `ZUNIONSTORE destination numkeys key [key …] [WEIGHTS weight …] [AGGREGATE SUM|MIN|MAX]`
pub(crate) fn zunionstore(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    setop_generic(
        ctx,
        args,
        "zunionstore",
        Some(arg(args, 1)),
        Op::Union,
        false,
    )
}

/// `ZINTERSTORE destination numkeys key [key …] [WEIGHTS weight …] [AGGREGATE SUM|MIN|MAX]`
pub(crate) fn zinterstore(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    setop_generic(
        ctx,
        args,
        "zinterstore",
        Some(arg(args, 1)),
        Op::Inter,
        false,
    )
}

/// `ZDIFFSTORE destination numkeys key [key …]`
pub(crate) fn zdiffstore(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    setop_generic(ctx, args, "zdiffstore", Some(arg(args, 1)), Op::Diff, false)
}

/// `ZINTERCARD numkeys key [key …] [LIMIT limit]`
pub(crate) fn zintercard(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    setop_generic(ctx, args, "zintercard", None, Op::Inter, true)
}

// ----- random members and scanning -------------------------------------------------------------

/// `ZRANDMEMBER key [count [WITHSCORES]]`
pub(crate) fn zrandmember(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let dbi = ctx.dbi();
    let now = ctx.now;
    let Some(c) = args.get(2) else {
        match ctx.db.read_as::<ZSet>(dbi, arg(args, 1), now)? {
            Some(z) if !z.is_empty() => {
                let r = random(now) as usize % z.len();
                match z.get_by_rank(r) {
                    Some((m, _)) => ctx.out.bulk(m),
                    None => ctx.out.null(),
                }
            }
            _ => ctx.out.null(),
        }
        return Ok(());
    };
    let count = int_arg(c)?;
    if count == i64::MIN {
        return Err(CmdError::err(format!(
            "value is out of range, value must between {} and {}",
            -i64::MAX,
            i64::MAX
        )));
    }
    let withscores = match args.get(3) {
        _ if args.len() > 4 => return Err(CmdError::Syntax),
        Some(w) if is(w, "withscores") => true,
        Some(_) => return Err(CmdError::Syntax),
        None => false,
    };
    if withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(CmdError::err("value is out of range"));
    }
    let Some(z) = ctx.db.read_as::<ZSet>(dbi, arg(args, 1), now)? else {
        ctx.out.array_len(0);
        return Ok(());
    };
    let size = z.len();
    let limit = ctx.shared.config.proto_max_bulk_len;
    let out = &mut *ctx.out;
    if count == 0 || size == 0 {
        out.array_len(0);
        return Ok(());
    }
    let unique = count > 0;
    let n = count.unsigned_abs() as usize;
    if !unique || n == 1 {
        // With repetitions: n independent picks (a score costs at least `,0\r\n`).
        let per_pick = MIN_BULK_REPLY + if withscores { 4 } else { 0 };
        check_repeat_reply(n as u64, per_pick, limit)?;
        let picks = (0..n as u64).filter_map(|i| z.get_by_rank(random(now ^ i) as usize % size));
        emit(out, picks, n, withscores);
    } else if n >= size {
        emit(out, z.iter(), size, withscores);
    } else if n * 3 > size {
        // Most of the set: shuffle the ranks and keep n.
        let mut ranks: Vec<usize> = (0..size).collect();
        for i in 0..n {
            let j = i + random(now ^ i as u64) as usize % (size - i);
            ranks.swap(i, j);
        }
        ranks.truncate(n);
        emit(
            out,
            ranks.iter().filter_map(|&r| z.get_by_rank(r)),
            n,
            withscores,
        );
    } else {
        let mut seen = std::collections::HashSet::with_capacity(n);
        let mut ranks = Vec::with_capacity(n);
        let mut i = 0u64;
        while ranks.len() < n {
            let r = random(now ^ i) as usize % size;
            i += 1;
            if seen.insert(r) {
                ranks.push(r);
            }
        }
        emit(
            out,
            ranks.iter().filter_map(|&r| z.get_by_rank(r)),
            n,
            withscores,
        );
    }
    Ok(())
}

/// An order-preserving map of scores to non-zero `u64` cursors (`-0` counts as `0`).
fn score_cursor(s: f64) -> u64 {
    let s = if s == 0.0 { 0.0 } else { s };
    let bits = s.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

/// `ZSCAN key cursor [MATCH pattern] [COUNT count]` (see the module docs for the cursor).
pub(crate) fn zscan(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let cursor = super::args::cursor_arg(arg(args, 2))?;
    let dbi = ctx.dbi();
    // As Redis: a missing key answers an empty scan before the options are even looked at.
    let Some(z) = ctx.db.read_as::<ZSet>(dbi, arg(args, 1), ctx.now)? else {
        ctx.out.array_len(2);
        ctx.out.bulk(b"0");
        ctx.out.array_len(0);
        return Ok(());
    };
    let mut pattern: Option<&[u8]> = None;
    let mut count = 10usize;
    let mut i = 3;
    while let Some(opt) = args.get(i) {
        let Some(value) = args.get(i + 1) else {
            return Err(CmdError::Syntax);
        };
        if is(opt, "match") {
            pattern = Some(value);
        } else if is(opt, "count") {
            let n = int_arg(value)?;
            if n < 1 {
                return Err(CmdError::Syntax);
            }
            count = n as usize;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    let mut found: Vec<(&Str, f64)> = Vec::new();
    let mut next = 0u64;
    let keep = |m: &[u8]| pattern.is_none_or(|p| glob::matches(p, m, false));
    if z.len() <= 128 {
        found.extend(z.iter().filter(|(m, _)| keep(m)));
    } else {
        let start = if cursor == 0 {
            0
        } else {
            z.rank_where_score(|s| score_cursor(s) < cursor)
        };
        let mut last: Option<u64> = None;
        for (walked, (m, s)) in z.iter_from(start, false).enumerate() {
            let key = score_cursor(s);
            if walked >= count && last != Some(key) {
                next = key;
                break;
            }
            last = Some(key);
            if keep(m) {
                found.push((m, s));
            }
        }
    }
    let out = &mut *ctx.out;
    out.array_len(2);
    out.bulk(next.to_string().as_bytes());
    out.array_len(found.len() * 2);
    for (m, s) in found {
        out.bulk(m);
        out.bulk(format_double(s).as_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use bytes::Bytes;
    use spindle_protocols::resp::Frame;

    use crate::testkit::T as H;

    fn bulk(s: &str) -> Frame {
        Frame::Bulk(Bytes::copy_from_slice(s.as_bytes()))
    }

    fn err(s: &str) -> Frame {
        Frame::Error(Bytes::copy_from_slice(s.as_bytes()))
    }

    fn int(n: i64) -> Frame {
        Frame::Integer(n)
    }

    fn arr(items: &[&str]) -> Frame {
        Frame::Array(items.iter().map(|s| bulk(s)).collect())
    }

    fn pair(m: &str, s: f64) -> Frame {
        Frame::Array(vec![bulk(m), Frame::Double(s)])
    }

    const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
    const NOT_INT: &str = "ERR value is not an integer or out of range";
    const NOT_FLOAT: &str = "ERR value is not a valid float";
    const SYNTAX: &str = "ERR syntax error";
    const RANGE_FLOAT: &str = "ERR min or max is not a float";
    const RANGE_LEX: &str = "ERR min or max not valid string range item";

    #[test]
    fn zadd_flags_incr_and_scores() {
        let mut h = H::new();
        h.check(&[
            ("ZADD z 1 a 2 b 3 c", int(3)),
            ("ZADD z XX 10 new", int(0)),
            ("ZSCORE z new", Frame::Null),
            ("ZADD z NX 10 a", int(0)),
            ("ZSCORE z a", bulk("1")),
            ("ZADD z GT 0 a", int(0)),
            ("ZSCORE z a", bulk("1")),
            ("ZADD z GT CH 5 a", int(1)),
            ("ZADD z LT CH 6 a", int(0)),
            ("ZADD z CH 5 a 9 new", int(1)),
            ("ZREM z new", int(1)),
            (
                "ZADD z GT LT 1 a",
                err("ERR GT, LT, and/or NX options at the same time are not compatible"),
            ),
            (
                "ZADD z NX GT 1 a",
                err("ERR GT, LT, and/or NX options at the same time are not compatible"),
            ),
            (
                "ZADD z NX XX 1 a",
                err("ERR XX and NX options at the same time are not compatible"),
            ),
            (
                "ZADD z INCR 1 a 2 b",
                err("ERR INCR option supports a single increment-element pair"),
            ),
            ("ZADD z INCR 2 a", bulk("7")),
            ("ZADD z NX INCR 1 a", Frame::Null),
            ("ZADD z XX INCR 1 nosuch", Frame::Null),
            ("ZADD z GT INCR -1 a", Frame::Null),
            ("ZADD missing XX 1 a", int(0)),
            ("ZADD missing XX INCR 1 a", Frame::Null),
            ("EXISTS missing", int(0)),
            ("ZADD z inf x", int(1)),
            (
                "ZINCRBY z -inf x",
                err("ERR resulting score is not a number (NaN)"),
            ),
            (
                "ZADD z INCR -inf x",
                err("ERR resulting score is not a number (NaN)"),
            ),
            ("ZSCORE z x", bulk("inf")),
            ("ZADD z nan x", err(NOT_FLOAT)),
            ("ZADD z 1 a 2", err(SYNTAX)),
            (
                "ZADD z 1",
                err("ERR wrong number of arguments for 'zadd' command"),
            ),
            ("ZINCRBY z 1.5 b", bulk("3.5")),
            ("ZINCRBY z abc b", err(NOT_FLOAT)),
            ("ZINCRBY fresh 2 m", bulk("2")),
            ("ZINCRBY fresh 0.1 m", bulk("2.1")),
            (
                "ZMSCORE z a nosuch b",
                Frame::Array(vec![bulk("7"), Frame::Null, bulk("3.5")]),
            ),
            ("ZMSCORE nokey a", Frame::Array(vec![Frame::Null])),
            ("ZCARD z", int(4)),
            ("ZCARD nokey", int(0)),
            // order: c 3, b 3.5, a 7, x inf
            ("ZRANK z c", int(0)),
            ("ZRANK z a", int(2)),
            ("ZREVRANK z a", int(1)),
            ("ZREVRANK z x", int(0)),
            ("ZRANK z nosuch", Frame::Null),
            ("ZRANK nokey a", Frame::Null),
            ("ZREM z a nosuch", int(1)),
            ("ZREM z c b x", int(3)),
            ("EXISTS z", int(0)),
            ("ZREM z a", int(0)),
            ("SET str v", Frame::Simple(Bytes::from_static(b"OK"))),
            ("ZADD str 1 a", err(WRONGTYPE)),
            ("ZINCRBY str 1 a", err(WRONGTYPE)),
            ("ZSCORE str a", err(WRONGTYPE)),
            ("ZMSCORE str a", err(WRONGTYPE)),
            ("ZCARD str", err(WRONGTYPE)),
            ("ZRANK str a", err(WRONGTYPE)),
            ("ZREM str a", err(WRONGTYPE)),
            ("ZRANGE str 0 -1", err(WRONGTYPE)),
            ("ZCOUNT str 0 1", err(WRONGTYPE)),
        ]);
    }

    #[test]
    fn writes_bump_dirty_and_noops_do_not() {
        let mut h = H::new();
        h.run("ZADD z 1 a");
        let d = h.server.db.dirty;
        h.run("ZADD z 1 a");
        h.run("ZADD z NX 5 a");
        h.run("ZREM z nosuch");
        h.run("ZREMRANGEBYSCORE z 5 6");
        assert_eq!(h.server.db.dirty, d);
        h.run("ZADD z 2 a");
        assert_eq!(h.server.db.dirty, d + 1);
        h.run("ZPOPMIN z");
        assert_eq!(h.server.db.dirty, d + 2);
    }

    #[test]
    fn ranges_by_rank() {
        let mut h = H::new();
        h.check(&[
            ("ZADD z 1 a 2 b 3 c 4 d 5 e", int(5)),
            ("ZRANGE z 0 -1", arr(&["a", "b", "c", "d", "e"])),
            ("ZRANGE z -2 -1", arr(&["d", "e"])),
            ("ZRANGE z 3 1", arr(&[])),
            ("ZRANGE z -100 1", arr(&["a", "b"])),
            ("ZRANGE z 4 100", arr(&["e"])),
            ("ZRANGE z 5 10", arr(&[])),
            ("ZRANGE z 0 1 REV", arr(&["e", "d"])),
            ("ZRANGE z -1 -1 rev withscores", arr(&["a", "1"])),
            ("ZREVRANGE z 0 1 WITHSCORES", arr(&["e", "5", "d", "4"])),
            ("ZREVRANGE z -2 -1", arr(&["b", "a"])),
            (
                "ZRANGE z 0 1 LIMIT 0 1",
                err("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"),
            ),
            (
                "ZRANGE z 0 1 BYLEX WITHSCORES",
                err("ERR syntax error, WITHSCORES not supported in combination with BYLEX"),
            ),
            ("ZRANGE z 0 1 FOO", err(SYNTAX)),
            ("ZRANGE z 0 1 REV REV", err(SYNTAX)),
            ("ZRANGE z 0 1 BYSCORE BYLEX", err(SYNTAX)),
            ("ZRANGE z 0 1 LIMIT 1", err(SYNTAX)),
            ("ZRANGE z a 1", err(NOT_INT)),
            ("ZREVRANGE z 0 1 REV", err(SYNTAX)),
            ("ZREVRANGE z 0 1 BYSCORE", err(SYNTAX)),
            ("ZRANGE nokey 0 -1", arr(&[])),
            ("ZRANGE z 0", err("ERR wrong number of arguments for 'zrange' command")),
        ]);
    }

    #[test]
    fn ranges_by_score() {
        let mut h = H::new();
        h.check(&[
            ("ZADD z 1 a 2 b 3 c 4 d 5 e", int(5)),
            ("ZRANGEBYSCORE z 2 4", arr(&["b", "c", "d"])),
            ("ZRANGEBYSCORE z (2 4", arr(&["c", "d"])),
            ("ZRANGEBYSCORE z (2 (4", arr(&["c"])),
            ("ZRANGEBYSCORE z -inf +inf", arr(&["a", "b", "c", "d", "e"])),
            ("ZRANGEBYSCORE z -inf (2", arr(&["a"])),
            ("ZRANGEBYSCORE z (1 (1", arr(&[])),
            ("ZRANGEBYSCORE z 1 1", arr(&["a"])),
            ("ZRANGEBYSCORE z 4 2", arr(&[])),
            ("ZRANGEBYSCORE z 2.5 inf", arr(&["c", "d", "e"])),
            ("ZRANGEBYSCORE z -inf +inf LIMIT 1 2", arr(&["b", "c"])),
            ("ZRANGEBYSCORE z -inf +inf LIMIT -1 2", arr(&[])),
            (
                "ZRANGEBYSCORE z -inf +inf LIMIT 1 -1",
                arr(&["b", "c", "d", "e"]),
            ),
            ("ZRANGEBYSCORE z -inf +inf LIMIT 0 0", arr(&[])),
            ("ZRANGEBYSCORE z -inf +inf LIMIT 10 5", arr(&[])),
            ("ZRANGEBYSCORE z 1 2 WITHSCORES", arr(&["a", "1", "b", "2"])),
            (
                "ZRANGEBYSCORE z 1 5 WITHSCORES LIMIT 3 5",
                arr(&["d", "4", "e", "5"]),
            ),
            ("ZREVRANGEBYSCORE z 4 2", arr(&["d", "c", "b"])),
            ("ZREVRANGEBYSCORE z 2 4", arr(&[])),
            ("ZREVRANGEBYSCORE z +inf -inf LIMIT 1 2", arr(&["d", "c"])),
            (
                "ZREVRANGEBYSCORE z (4 2 WITHSCORES",
                arr(&["c", "3", "b", "2"]),
            ),
            ("ZRANGE z 2 4 BYSCORE REV", arr(&[])),
            ("ZRANGE z 4 2 BYSCORE REV", arr(&["d", "c", "b"])),
            ("ZRANGE z 4 2 REV BYSCORE LIMIT 1 1", arr(&["c"])),
            (
                "ZRANGE z (1 +inf BYSCORE LIMIT 0 2 WITHSCORES",
                arr(&["b", "2", "c", "3"]),
            ),
            ("ZRANGEBYSCORE z x 2", err(RANGE_FLOAT)),
            ("ZRANGEBYSCORE z (nan 2", err(RANGE_FLOAT)),
            ("ZRANGEBYSCORE z 1 2x", err(RANGE_FLOAT)),
            ("ZRANGEBYSCORE z 1 2 LIMIT a 1", err(NOT_INT)),
            ("ZRANGEBYSCORE z 1 2 REV", err(SYNTAX)),
            ("ZRANGEBYSCORE nokey 1 2", arr(&[])),
            ("ZCOUNT z (1 3", int(2)),
            ("ZCOUNT z -inf +inf", int(5)),
            ("ZCOUNT z 3 1", int(0)),
            ("ZCOUNT z (3 (3", int(0)),
            ("ZCOUNT nokey 0 1", int(0)),
            ("ZCOUNT z a b", err(RANGE_FLOAT)),
        ]);
        // Ties on the score come out in member order, both ways.
        h.check(&[
            ("ZADD t 1 b 1 a 1 c 0 z", int(4)),
            ("ZRANGEBYSCORE t 1 1", arr(&["a", "b", "c"])),
            ("ZREVRANGEBYSCORE t 1 1", arr(&["c", "b", "a"])),
            ("ZRANGE t 0 -1", arr(&["z", "a", "b", "c"])),
        ]);
    }

    #[test]
    fn ranges_by_lex() {
        let mut h = H::new();
        h.check(&[
            ("ZADD l 0 a 0 b 0 c 0 d 0 e", int(5)),
            ("ZRANGEBYLEX l - +", arr(&["a", "b", "c", "d", "e"])),
            ("ZRANGEBYLEX l [b (d", arr(&["b", "c"])),
            ("ZRANGEBYLEX l (b [d", arr(&["c", "d"])),
            ("ZRANGEBYLEX l - [c LIMIT 1 5", arr(&["b", "c"])),
            ("ZRANGEBYLEX l [aa [cc", arr(&["b", "c"])),
            ("ZREVRANGEBYLEX l + - LIMIT 0 2", arr(&["e", "d"])),
            ("ZREVRANGEBYLEX l [d (b", arr(&["d", "c"])),
            ("ZRANGE l [d [b BYLEX REV", arr(&["d", "c", "b"])),
            ("ZRANGE l - + BYLEX LIMIT 2 2", arr(&["c", "d"])),
            ("ZRANGEBYLEX l b d", err(RANGE_LEX)),
            ("ZRANGEBYLEX l [a +x", err(RANGE_LEX)),
            ("ZRANGEBYLEX l + -", arr(&[])),
            ("ZRANGEBYLEX l (c (c", arr(&[])),
            ("ZRANGEBYLEX l [c [c", arr(&["c"])),
            ("ZRANGEBYLEX l [d [b", arr(&[])),
            (
                "ZRANGEBYLEX l - + WITHSCORES",
                err("ERR syntax error, WITHSCORES not supported in combination with BYLEX"),
            ),
            ("ZLEXCOUNT l - +", int(5)),
            ("ZLEXCOUNT l [b (e", int(3)),
            ("ZLEXCOUNT l + -", int(0)),
            ("ZLEXCOUNT l x y", err(RANGE_LEX)),
            ("ZLEXCOUNT nokey - +", int(0)),
            ("ZREMRANGEBYLEX l [b (d", int(2)),
            ("ZRANGE l 0 -1", arr(&["a", "d", "e"])),
            ("ZREMRANGEBYLEX l x y", err(RANGE_LEX)),
            ("ZREMRANGEBYLEX l - +", int(3)),
            ("EXISTS l", int(0)),
        ]);
    }

    #[test]
    fn rangestore() {
        let mut h = H::new();
        h.check(&[
            ("ZADD z 1 a 2 b 3 c", int(3)),
            ("ZRANGESTORE dst z 0 1", int(2)),
            ("ZRANGE dst 0 -1 WITHSCORES", arr(&["a", "1", "b", "2"])),
            ("ZRANGESTORE dst z 5 10", int(0)),
            ("EXISTS dst", int(0)),
            ("ZRANGESTORE dst z (1 +inf BYSCORE LIMIT 0 1", int(1)),
            ("ZRANGE dst 0 -1 WITHSCORES", arr(&["b", "2"])),
            ("ZRANGESTORE dst z 0 -1 WITHSCORES", err(SYNTAX)),
            ("ZRANGESTORE dst nokey 0 -1", int(0)),
            ("EXISTS dst", int(0)),
            ("ZRANGESTORE dst z [a [b BYLEX", int(2)),
            ("ZRANGESTORE dst z 0 -1 REV", int(3)),
            ("ZRANGE dst 0 -1", arr(&["a", "b", "c"])),
            ("ZRANGESTORE z z 0 0", int(1)),
            ("ZRANGE z 0 -1", arr(&["a"])),
            ("SET s x", Frame::Simple(Bytes::from_static(b"OK"))),
            ("ZRANGESTORE dst s 0 1", err(WRONGTYPE)),
            (
                "ZRANGESTORE dst z 0",
                err("ERR wrong number of arguments for 'zrangestore' command"),
            ),
        ]);
    }

    #[test]
    fn remove_ranges() {
        let mut h = H::new();
        h.check(&[
            ("ZADD z 1 a 2 b 3 c 4 d 5 e", int(5)),
            ("ZREMRANGEBYRANK z 0 0", int(1)),
            ("ZREMRANGEBYRANK z -1 -1", int(1)),
            ("ZRANGE z 0 -1", arr(&["b", "c", "d"])),
            ("ZREMRANGEBYRANK z 5 10", int(0)),
            ("ZREMRANGEBYRANK z 2 1", int(0)),
            ("ZREMRANGEBYRANK z a 1", err(NOT_INT)),
            ("ZREMRANGEBYSCORE z (2 3", int(1)),
            ("ZREMRANGEBYSCORE z x 1", err(RANGE_FLOAT)),
            ("ZREMRANGEBYSCORE z -inf +inf", int(2)),
            ("EXISTS z", int(0)),
            ("ZREMRANGEBYSCORE nokey 1 2", int(0)),
            ("ZREMRANGEBYRANK nokey 0 -1", int(0)),
            ("ZADD z 1 a 2 b 3 c", int(3)),
            ("ZREMRANGEBYRANK z 0 -1", int(3)),
            ("EXISTS z", int(0)),
        ]);
    }

    #[test]
    fn pops_and_zmpop() {
        let mut h = H::new();
        h.check(&[
            ("ZADD z 1 a 2 b 3 c", int(3)),
            ("ZPOPMIN z", arr(&["a", "1"])),
            ("ZPOPMAX z 0", arr(&[])),
            (
                "ZPOPMIN z -1",
                err("ERR value is out of range, must be positive"),
            ),
            ("ZPOPMIN z x", err(NOT_INT)),
            ("ZPOPMIN z 1 2", err(SYNTAX)),
            ("ZPOPMAX z 10", arr(&["c", "3", "b", "2"])),
            ("EXISTS z", int(0)),
            ("ZPOPMIN z", arr(&[])),
            ("ZPOPMIN z 3", arr(&[])),
            ("ZADD z1 1 a 2 b 3 c", int(3)),
            (
                "ZMPOP 2 nokey z1 MIN",
                Frame::Array(vec![bulk("z1"), Frame::Array(vec![arr(&["a", "1"])])]),
            ),
            (
                "ZMPOP 2 nokey z1 max COUNT 10",
                Frame::Array(vec![
                    bulk("z1"),
                    Frame::Array(vec![arr(&["c", "3"]), arr(&["b", "2"])]),
                ]),
            ),
            ("EXISTS z1", int(0)),
            ("ZMPOP 1 nokey MIN", Frame::Null),
            (
                "ZMPOP 0 z1 MIN",
                err("ERR numkeys should be greater than 0"),
            ),
            (
                "ZMPOP x z1 MIN",
                err("ERR numkeys should be greater than 0"),
            ),
            ("ZMPOP 1 z1 FOO", err(SYNTAX)),
            ("ZMPOP 5 z1 MIN", err(SYNTAX)),
            (
                "ZMPOP 1 z1 MIN COUNT 0",
                err("ERR count should be greater than 0"),
            ),
            ("ZMPOP 1 z1 MIN COUNT 1 COUNT 1", err(SYNTAX)),
            ("ZMPOP 1 z1 MIN COUNT", err(SYNTAX)),
            ("SET str v", Frame::Simple(Bytes::from_static(b"OK"))),
            ("ZMPOP 2 nokey str MIN", err(WRONGTYPE)),
            ("ZPOPMIN str", err(WRONGTYPE)),
        ]);
        let mut h = H::with_resp3();
        h.check(&[
            ("ZADD z 1 a 2 b 3 c", int(3)),
            (
                "ZPOPMIN z",
                Frame::Array(vec![bulk("a"), Frame::Double(1.0)]),
            ),
            ("ZPOPMIN z 1", Frame::Array(vec![pair("b", 2.0)])),
            (
                "ZMPOP 1 z MAX",
                Frame::Array(vec![bulk("z"), Frame::Array(vec![pair("c", 3.0)])]),
            ),
            ("ZMPOP 1 z MAX", Frame::Null),
        ]);
    }

    #[test]
    fn union_inter_diff() {
        let mut h = H::new();
        h.check(&[
            ("ZADD za 1 a 2 b 3 c", int(3)),
            ("ZADD zb 10 b 20 c 30 d", int(3)),
            ("SADD s c d e", int(3)),
            (
                "ZUNION 2 za zb WITHSCORES",
                arr(&["a", "1", "b", "12", "c", "23", "d", "30"]),
            ),
            ("ZUNION 2 za zb", arr(&["a", "b", "c", "d"])),
            ("ZINTER 2 za zb", arr(&["b", "c"])),
            (
                "ZINTER 2 za zb WEIGHTS 2 1 WITHSCORES",
                arr(&["b", "14", "c", "26"]),
            ),
            (
                "ZINTER 2 za zb AGGREGATE MIN WITHSCORES",
                arr(&["b", "2", "c", "3"]),
            ),
            (
                "ZINTER 2 za zb WITHSCORES aggregate max",
                arr(&["b", "10", "c", "20"]),
            ),
            (
                "ZUNION 3 za zb s WITHSCORES",
                arr(&["a", "1", "e", "1", "b", "12", "c", "24", "d", "31"]),
            ),
            (
                "ZUNION 2 za zb WEIGHTS 1 -1 WITHSCORES",
                arr(&["d", "-30", "c", "-17", "b", "-8", "a", "1"]),
            ),
            ("ZINTER 2 za s WITHSCORES", arr(&["c", "4"])),
            ("ZDIFF 2 za zb WITHSCORES", arr(&["a", "1"])),
            ("ZDIFF 2 zb s", arr(&["b"])),
            ("ZDIFF 3 za zb s", arr(&["a"])),
            ("ZDIFF 1 nokey", arr(&[])),
            ("ZINTER 2 za nokey", arr(&[])),
            ("ZUNION 2 nokey nokey2", arr(&[])),
            ("ZUNIONSTORE out 2 za zb WEIGHTS 1", err(SYNTAX)),
            (
                "ZUNIONSTORE out 2 za zb WEIGHTS 1 x",
                err("ERR weight value is not a float"),
            ),
            ("ZUNIONSTORE out 2 za zb AGGREGATE foo", err(SYNTAX)),
            ("ZUNIONSTORE out 2 za zb AGGREGATE", err(SYNTAX)),
            ("ZUNIONSTORE out 2 za zb WITHSCORES", err(SYNTAX)),
            ("ZINTERSTORE out 2 za zb", int(2)),
            ("ZRANGE out 0 -1 WITHSCORES", arr(&["b", "12", "c", "23"])),
            ("ZUNIONSTORE out 3 za zb s AGGREGATE MAX", int(5)),
            (
                "ZRANGE out 0 -1 WITHSCORES",
                arr(&["a", "1", "e", "1", "b", "10", "c", "20", "d", "30"]),
            ),
            ("ZINTERSTORE out 2 za nokey", int(0)),
            ("EXISTS out", int(0)),
            ("ZDIFFSTORE out 2 za zb", int(1)),
            ("ZRANGE out 0 -1 WITHSCORES", arr(&["a", "1"])),
            ("ZDIFFSTORE out 2 za za", int(0)),
            ("EXISTS out", int(0)),
            ("ZDIFF 2 za zb WEIGHTS 1 1", err(SYNTAX)),
            ("ZDIFF 2 za zb AGGREGATE SUM", err(SYNTAX)),
            (
                "ZUNION 0 za",
                err("ERR at least 1 input key is needed for 'zunion' command"),
            ),
            (
                "ZINTERSTORE out 0 za",
                err("ERR at least 1 input key is needed for 'zinterstore' command"),
            ),
            ("ZUNION 3 za zb", err(SYNTAX)),
            ("ZUNION x za", err(NOT_INT)),
            ("SET str v", Frame::Simple(Bytes::from_static(b"OK"))),
            ("ZUNION 2 za str", err(WRONGTYPE)),
            ("ZINTERSTORE out 2 str za", err(WRONGTYPE)),
            // inf * 0 and inf + -inf count as 0, as Redis.
            ("ZADD zinf inf m", int(1)),
            ("ZADD zninf -inf m", int(1)),
            ("ZUNION 1 zinf WEIGHTS 0 WITHSCORES", arr(&["m", "0"])),
            ("ZUNION 2 zinf zninf WITHSCORES", arr(&["m", "0"])),
            ("ZINTER 2 zinf zninf WITHSCORES", arr(&["m", "0"])),
            (
                "ZINTER 2 zinf zninf AGGREGATE MIN WITHSCORES",
                arr(&["m", "-inf"]),
            ),
            ("ZINTERCARD 2 za zb", int(2)),
            ("ZINTERCARD 2 za zb LIMIT 1", int(1)),
            ("ZINTERCARD 2 za zb LIMIT 0", int(2)),
            ("ZINTERCARD 2 za s", int(1)),
            ("ZINTERCARD 2 za nokey", int(0)),
            (
                "ZINTERCARD 2 za zb LIMIT -1",
                err("ERR LIMIT can't be negative"),
            ),
            (
                "ZINTERCARD 0 za",
                err("ERR at least 1 input key is needed for 'zintercard' command"),
            ),
            ("ZINTERCARD 1 za WITHSCORES", err(SYNTAX)),
            ("ZINTERCARD 2 za zb WEIGHTS 1 2", err(SYNTAX)),
            ("ZINTERCARD 2 za str", err(WRONGTYPE)),
        ]);
        // ZUNIONSTORE replaces the destination, whatever its type, and drops its TTL.
        h.check(&[
            ("SET dst v EX 100", Frame::Simple(Bytes::from_static(b"OK"))),
            ("ZUNIONSTORE dst 1 za", int(3)),
            ("TTL dst", int(-1)),
            ("TYPE dst", Frame::Simple(Bytes::from_static(b"zset"))),
        ]);
        let mut h = H::with_resp3();
        h.check(&[
            ("ZADD za 1 a 2 b", int(2)),
            ("ZADD zb 1 b", int(1)),
            (
                "ZUNION 2 za zb WITHSCORES",
                Frame::Array(vec![pair("a", 1.0), pair("b", 3.0)]),
            ),
            ("ZINTER 2 za zb", arr(&["b"])),
        ]);
    }

    #[test]
    fn resp3_shapes() {
        let mut h = H::with_resp3();
        h.check(&[
            ("ZADD z 1 a 2.5 b", int(2)),
            (
                "ZRANGE z 0 -1 WITHSCORES",
                Frame::Array(vec![pair("a", 1.0), pair("b", 2.5)]),
            ),
            ("ZRANGE z 0 -1", arr(&["a", "b"])),
            (
                "ZRANGEBYSCORE z -inf +inf WITHSCORES LIMIT 1 1",
                Frame::Array(vec![pair("b", 2.5)]),
            ),
            (
                "ZREVRANGE z 0 0 WITHSCORES",
                Frame::Array(vec![pair("b", 2.5)]),
            ),
            ("ZSCORE z b", Frame::Double(2.5)),
            (
                "ZMSCORE z b nosuch",
                Frame::Array(vec![Frame::Double(2.5), Frame::Null]),
            ),
            ("ZINCRBY z 1 a", Frame::Double(2.0)),
            ("ZADD z INCR 1 a", Frame::Double(3.0)),
            ("ZRANK z a", int(1)),
            ("ZRANK z nosuch", Frame::Null),
            ("ZSCORE z nosuch", Frame::Null),
            (
                "ZRANDMEMBER z 5 WITHSCORES",
                Frame::Array(vec![pair("b", 2.5), pair("a", 3.0)]),
            ),
            (
                "ZSCAN z 0",
                Frame::Array(vec![bulk("0"), arr(&["b", "2.5", "a", "3"])]),
            ),
        ]);
    }

    #[test]
    fn randmember() {
        let mut h = H::new();
        h.check(&[
            ("ZRANDMEMBER nokey", Frame::Null),
            ("ZRANDMEMBER nokey 5", arr(&[])),
            ("ZADD z 1 a 2 b 3 c", int(3)),
            ("ZRANDMEMBER z 0", arr(&[])),
            ("ZRANDMEMBER z 5", arr(&["a", "b", "c"])),
            ("ZRANDMEMBER z 3 WITHSCORES", arr(&["a", "1", "b", "2", "c", "3"])),
            ("ZRANDMEMBER z 1 2", err(SYNTAX)),
            ("ZRANDMEMBER z 1 FOO", err(SYNTAX)),
            ("ZRANDMEMBER z x", err(NOT_INT)),
            (
                "ZRANDMEMBER z -9223372036854775808",
                err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"),
            ),
            (
                "ZRANDMEMBER z 9223372036854775807 WITHSCORES",
                err("ERR value is out of range"),
            ),
            ("SET str v", Frame::Simple(Bytes::from_static(b"OK"))),
            ("ZRANDMEMBER str", err(WRONGTYPE)),
            ("ZRANDMEMBER str 1", err(WRONGTYPE)),
        ]);
        let all: HashSet<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let one = h.members("ZRANDMEMBER z 1");
        assert_eq!(one.len(), 1);
        let Frame::Bulk(single) = h.run("ZRANDMEMBER z") else {
            panic!()
        };
        assert!(all.contains(std::str::from_utf8(&single).unwrap()));
        let rep = h.members("ZRANDMEMBER z -7");
        assert_eq!(rep.len(), 7);
        assert!(rep.iter().all(|m| all.contains(m)));
        let two = h.members("ZRANDMEMBER z 2");
        assert_eq!(two.len(), 2);
        assert_ne!(two[0], two[1]);
        let ws = h.members("ZRANDMEMBER z -4 WITHSCORES");
        assert_eq!(ws.len(), 8);
        for p in ws.chunks(2) {
            assert_eq!(
                p[1],
                match p[0].as_str() {
                    "a" => "1",
                    "b" => "2",
                    _ => "3",
                }
            );
        }
        for i in 0..100 {
            h.run(&format!("ZADD big {i} m{i}"));
        }
        for n in [10usize, 40, 99] {
            let got = h.members(&format!("ZRANDMEMBER big {n}"));
            assert_eq!(got.len(), n);
            assert_eq!(got.iter().collect::<HashSet<_>>().len(), n, "distinct");
        }
    }

    #[test]
    fn zscan_small_and_large() {
        let mut h = H::new();
        h.check(&[
            ("ZADD z 1 a 2 b 0.5 ab", int(3)),
            (
                "ZSCAN z 0",
                Frame::Array(vec![bulk("0"), arr(&["ab", "0.5", "a", "1", "b", "2"])]),
            ),
            (
                "ZSCAN z 0 MATCH a*",
                Frame::Array(vec![bulk("0"), arr(&["ab", "0.5", "a", "1"])]),
            ),
            ("ZSCAN nokey 0", Frame::Array(vec![bulk("0"), arr(&[])])),
            ("ZSCAN z x", err("ERR invalid cursor")),
            (
                "ZSCAN nokey 0 COUNT 0",
                Frame::Array(vec![bulk("0"), arr(&[])]),
            ),
            ("ZSCAN z 0 COUNT 0", err(SYNTAX)),
            ("ZSCAN z 0 COUNT x", err(NOT_INT)),
            ("ZSCAN z 0 FOO 1", err(SYNTAX)),
            ("ZSCAN z 0 COUNT", err(SYNTAX)),
            ("SET str v", Frame::Simple(Bytes::from_static(b"OK"))),
            ("ZSCAN str 0", err(WRONGTYPE)),
        ]);
        // 1000 members over 300 scores (many ties), including negatives and -0.
        for i in 0..1000 {
            let score = match i % 300 {
                0 => "-0".to_string(),
                k => format!("{}", k as i64 - 150),
            };
            h.run(&format!("ZADD big {score} m{i}"));
        }
        let scan = |h: &mut H, count: usize, delete_seen: bool| {
            let mut seen: Vec<String> = Vec::new();
            let mut cursor = "0".to_string();
            let mut calls = 0;
            loop {
                let Frame::Array(parts) = h.run(&format!("ZSCAN big {cursor} COUNT {count}"))
                else {
                    panic!()
                };
                let (Some(Frame::Bulk(next)), Some(Frame::Array(found))) =
                    (parts.first(), parts.get(1))
                else {
                    panic!()
                };
                for p in found.chunks(2) {
                    let Frame::Bulk(m) = &p[0] else { panic!() };
                    let m = String::from_utf8(m.to_vec()).unwrap();
                    if delete_seen {
                        h.run(&format!("ZREM big {m}"));
                    }
                    seen.push(m);
                }
                cursor = String::from_utf8(next.to_vec()).unwrap();
                calls += 1;
                if cursor == "0" {
                    break;
                }
            }
            (seen, calls)
        };
        let (seen, calls) = scan(&mut h, 7, false);
        assert_eq!(seen.len(), 1000, "each member exactly once");
        assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 1000);
        assert!(calls > 50, "COUNT bounds the work: {calls} calls");
        // Deleting members already returned does not make the scan miss the others.
        let (seen, _) = scan(&mut h, 13, true);
        assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 1000);
        assert_eq!(h.run("EXISTS big"), int(0));
    }

    #[test]
    fn many_members_keep_ranks_consistent() {
        let mut h = H::new();
        for i in 0..600 {
            h.run(&format!("ZADD z {} m{i:03}", (i * 7919) % 101));
        }
        let all = h.members("ZRANGE z 0 -1");
        assert_eq!(all.len(), 600);
        for (r, m) in all.iter().enumerate().step_by(37) {
            assert_eq!(h.run(&format!("ZRANK z {m}")), int(r as i64));
            assert_eq!(h.run(&format!("ZREVRANK z {m}")), int(599 - r as i64));
            assert_eq!(h.members(&format!("ZRANGE z {r} {r}")), vec![m.clone()]);
        }
        let want = (0..600)
            .filter(|i| (10..20).contains(&((i * 7919) % 101)))
            .count() as i64;
        assert_eq!(h.run("ZCOUNT z 10 (20"), int(want));
        assert_eq!(h.members("ZRANGEBYSCORE z 10 (20").len() as i64, want);
        assert_eq!(h.run("ZREMRANGEBYSCORE z 10 (20"), int(want));
        assert_eq!(h.run("ZCARD z"), int(600 - want));
        assert_eq!(h.run("ZREMRANGEBYRANK z 0 99"), int(100));
        assert_eq!(h.run("ZCARD z"), int(500 - want));
    }
}
