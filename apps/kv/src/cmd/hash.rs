//! Hash commands: HSET HMSET HSETNX HGET HMGET HGETALL HKEYS HVALS HLEN HEXISTS HDEL HINCRBY
//! HSTRLEN HINCRBYFLOAT HRANDFIELD HSCAN.

use bytes::Bytes;

use spindle_protocols::resp::Version;

use super::args::cursor_arg;
use super::args::{arg, check_repeat_reply, float_arg, int_arg, is, MIN_BULK_REPLY};
use super::ctx::{CmdResult, Ctx};
use super::keys::random;
use super::set::{distinct_positions, scan_options};
use super::string::format_float_value;
use crate::error::CmdError;
use crate::glob;
use crate::types::hash::Hash;
use crate::types::str::Str;

/// The hash at `key` for a write, created if missing; the write is counted.
fn hash_for_write<'c>(ctx: &'c mut Ctx<'_, '_>, key: &[u8]) -> Result<&'c mut Hash, CmdError> {
    ctx.db.dirty += 1;
    ctx.db.get_or_create::<Hash>(ctx.client.db, key, ctx.now)
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
pub(crate) fn hset(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
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
pub(crate) fn hmset(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
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
pub(crate) fn hsetnx(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
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
pub(crate) fn hget(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let v = ctx
        .db
        .read_as::<Hash>(ctx.client.db, arg(args, 1), ctx.now)?
        .and_then(|h| h.get(arg(args, 2)).map(Str::new));
    match v {
        Some(v) => ctx.out.bulk(&v),
        None => ctx.out.null(),
    }
    Ok(())
}

/// `HMGET key field…`
pub(crate) fn hmget(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let fields = args.get(2..).unwrap_or_default();
    let values: Vec<Option<Str>> =
        match ctx
            .db
            .read_as::<Hash>(ctx.client.db, arg(args, 1), ctx.now)?
        {
            Some(h) => fields.iter().map(|f| h.get(&f[..]).map(Str::new)).collect(),
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
    let h = match ctx.db.read_as::<Hash>(db, key, ctx.now)? {
        Some(h) => h,
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
pub(crate) fn hgetall(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    dump(ctx, arg(args, 1), true, true)
}

/// `HKEYS key`
pub(crate) fn hkeys(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    dump(ctx, arg(args, 1), true, false)
}

/// `HVALS key`
pub(crate) fn hvals(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    dump(ctx, arg(args, 1), false, true)
}

/// `HLEN key`
pub(crate) fn hlen(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let n = ctx
        .db
        .read_as::<Hash>(ctx.client.db, arg(args, 1), ctx.now)?
        .map_or(0, |h| h.len());
    ctx.out.int(n as i64);
    Ok(())
}

/// `HEXISTS key field`
pub(crate) fn hexists(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let yes = ctx
        .db
        .read_as::<Hash>(ctx.client.db, arg(args, 1), ctx.now)?
        .is_some_and(|h| h.contains_key(arg(args, 2)));
    ctx.out.int(i64::from(yes));
    Ok(())
}

/// `HSTRLEN key field`
pub(crate) fn hstrlen(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let n = ctx
        .db
        .read_as::<Hash>(ctx.client.db, arg(args, 1), ctx.now)?
        .and_then(|h| h.get(arg(args, 2)).map(|v| v.len()))
        .unwrap_or(0);
    ctx.out.int(n as i64);
    Ok(())
}

/// `HDEL key field…`
pub(crate) fn hdel(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.dbi();
    let key = arg(args, 1);
    let removed = match ctx.db.get_as::<Hash>(db, key, ctx.now)? {
        Some(h) => args
            .get(2..)
            .unwrap_or_default()
            .iter()
            .filter(|f| h.remove(f).is_some())
            .count(),
        None => 0,
    };
    if removed > 0 {
        ctx.db.removed_from(db, key);
    }
    ctx.out.int(removed as i64);
    Ok(())
}

/// `HINCRBY key field increment`
pub(crate) fn hincrby(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let by = int_arg(arg(args, 3))?;
    let field = arg(args, 2);
    let h = hash_for_write(ctx, arg(args, 1))?;
    let current = match h.get(field) {
        Some(v) => crate::types::value::canonical_int(v)
            .ok_or_else(|| CmdError::err("hash value is not an integer"))?,
        None => 0,
    };
    let v = current.checked_add(by).ok_or(CmdError::Overflow)?;
    h.insert(Str::new(field), Str::new(v.to_string().as_bytes()));
    ctx.out.int(v);
    Ok(())
}

/// `HINCRBYFLOAT key field increment`
pub(crate) fn hincrbyfloat(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let by = float_arg(arg(args, 3))?;
    if by.is_infinite() {
        return Err(CmdError::err("value is NaN or Infinity"));
    }
    let field = arg(args, 2);
    let db = ctx.dbi();
    let key = arg(args, 1);
    let current = match ctx.db.get_as::<Hash>(db, key, ctx.now)? {
        Some(h) => match h.get(field) {
            Some(v) => float_arg(v).map_err(|_| CmdError::err("hash value is not a float"))?,
            None => 0.0,
        },
        None => 0.0,
    };
    let v = current + by;
    if !v.is_finite() {
        return Err(CmdError::err("increment would produce NaN or Infinity"));
    }
    let text = format_float_value(v);
    let h = hash_for_write(ctx, key)?;
    h.insert(Str::new(field), Str::new(text.as_bytes()));
    ctx.out.bulk(text.as_bytes());
    Ok(())
}

const RANGE_ERR: &str =
    "value is out of range, value must between -9223372036854775807 and 9223372036854775807";

/// `HRANDFIELD key [count [WITHVALUES]]`: a positive count gives distinct fields, a negative
/// one allows repeats. With WITHVALUES, RESP3 gets `[field, value]` pairs and RESP2 a flat
/// array.
pub(crate) fn hrandfield(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let Some(c) = args.get(2) else {
        let picked = ctx
            .db
            .read_as::<Hash>(ctx.client.db, arg(args, 1), ctx.now)?
            .and_then(|h| {
                let n = h.len();
                (n > 0)
                    .then(|| h.keys().nth(random(now) as usize % n).map(Str::new))
                    .flatten()
            });
        match picked {
            Some(f) => ctx.out.bulk(&f),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    let count = int_arg(c)?;
    if count == i64::MIN {
        return Err(CmdError::err(RANGE_ERR));
    }
    let with_values = match args.get(3) {
        None => false,
        Some(w) if args.len() == 4 && is(w, "withvalues") => {
            if !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
                return Err(CmdError::err("value is out of range"));
            }
            true
        }
        Some(_) => return Err(CmdError::Syntax),
    };
    let resp3 = ctx.out.version == Version::Resp3;
    let limit = ctx.shared.config.proto_max_bulk_len;
    let db = ctx.dbi();
    let h = match ctx.db.read_as::<Hash>(db, arg(args, 1), now)? {
        Some(h) => h,
        None => {
            ctx.out.array_len(0);
            return Ok(());
        }
    };
    let entries: Vec<(&[u8], &[u8])> = if count == 0 {
        Vec::new()
    } else {
        h.iter().collect()
    };
    let len = entries.len();
    let picked: Box<dyn Iterator<Item = usize>> = if count == 0 || len == 0 {
        Box::new(std::iter::empty())
    } else if count < 0 {
        let n = count.unsigned_abs();
        Box::new((0..n).map(move |i| random(now ^ i) as usize % len))
    } else if count as u64 >= len as u64 {
        Box::new(0..len)
    } else {
        Box::new(distinct_positions(len, count as usize, now).into_iter())
    };
    let n = match count {
        0 => 0,
        c if c < 0 => c.unsigned_abs() as usize,
        c => (c as u64).min(len as u64) as usize,
    };
    let n = if len == 0 { 0 } else { n };
    if count < 0 && n > 0 {
        let per_pick = if with_values { 2 } else { 1 } * MIN_BULK_REPLY;
        check_repeat_reply(n as u64, per_pick, limit)?;
    }
    ctx.out
        .array_len(if with_values && !resp3 { n * 2 } else { n });
    for pos in picked {
        let Some((f, v)) = entries.get(pos) else {
            continue;
        };
        if with_values && resp3 {
            ctx.out.array_len(2);
        }
        ctx.out.bulk(f);
        if with_values {
            ctx.out.bulk(v);
        }
    }
    Ok(())
}

fn field_hash(field: &[u8]) -> u64 {
    use std::hash::Hasher;
    // Fixed keys: the same field hashes the same on every call, which the cursor relies on.
    let mut h = std::hash::DefaultHasher::new();
    h.write(field);
    h.finish()
}

/// A field and its value, borrowed from the hash.
type Pair<'a> = (&'a [u8], &'a [u8]);

/// `HSCAN key cursor [MATCH pattern] [COUNT count]`
///
/// Cursor semantics: a hash with up to 128 fields (what Redis keeps as a listpack) is returned
/// whole, with cursor 0, as Redis does. A larger one is walked in the order of a fixed 64-bit
/// hash of each field: the cursor is the lowest hash not yet returned, so every field present
/// for the whole scan is returned exactly once (fields sharing a hash come back together), and
/// growth or shrinking of the hash between calls cannot make the scan skip or repeat a field.
/// Each call costs O(fields), so COUNT is raised to at least 1/64 of the hash's size: a full
/// scan takes at most ~64 calls.
pub(crate) fn hscan(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let cursor = cursor_arg(arg(args, 2))?;
    let db = ctx.dbi();
    let h = match ctx.db.read_as::<Hash>(db, arg(args, 1), ctx.now)? {
        Some(h) => h,
        None => {
            ctx.out.array_len(2);
            ctx.out.bulk(b"0");
            ctx.out.array_len(0);
            return Ok(());
        }
    };
    let (pattern, count) = scan_options(args, 3)?;
    let (next, mut picked): (u64, Vec<Pair<'_>>) = if h.len() <= 128 {
        (0, h.iter().collect())
    } else {
        let count = count.max(h.len() / 64).max(1);
        let mut candidates: Vec<(u64, &[u8], &[u8])> = h
            .iter()
            .map(|(f, v)| (field_hash(f), f, v))
            .filter(|(hash, _, _)| *hash >= cursor)
            .collect();
        if candidates.len() <= count {
            (0, candidates.into_iter().map(|(_, f, v)| (f, v)).collect())
        } else {
            candidates.select_nth_unstable_by_key(count - 1, |c| c.0);
            let boundary = candidates.get(count - 1).map_or(u64::MAX, |c| c.0);
            let mut chosen: Vec<(u64, &[u8], &[u8])> =
                candidates.into_iter().filter(|c| c.0 <= boundary).collect();
            chosen.sort_unstable_by_key(|c| c.0);
            let next = boundary.checked_add(1).unwrap_or(0);
            (next, chosen.into_iter().map(|(_, f, v)| (f, v)).collect())
        }
    };
    if let Some(p) = pattern {
        picked.retain(|(f, _)| glob::matches(p, f, false));
    }
    ctx.out.array_len(2);
    ctx.out.bulk(next.to_string().as_bytes());
    ctx.out.array_len(picked.len() * 2);
    for (f, v) in picked {
        ctx.out.bulk(f);
        ctx.out.bulk(v);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use crate::testkit::*;

    #[test]
    fn hincrbyfloat() {
        let mut t = T::new();
        t.check(&[
            ("HSET h f 10.50", i(1)),
            ("HINCRBYFLOAT h f 0.1", b("10.6")),
            ("HINCRBYFLOAT h f -5", b("5.6")),
            ("HSET h g 5.0e3", i(1)),
            ("HINCRBYFLOAT h g 2.0e2", b("5200")),
            ("HGET h g", b("5200")),
            ("HINCRBYFLOAT h new 1.5", b("1.5")),
            ("HINCRBYFLOAT fresh f -2.5", b("-2.5")),
            ("HGET fresh f", b("-2.5")),
            ("HSET h s abc", i(1)),
            ("HINCRBYFLOAT h s 1", e("ERR hash value is not a float")),
            ("HINCRBYFLOAT h f x", e("ERR value is not a valid float")),
            ("HINCRBYFLOAT h f inf", e("ERR value is NaN or Infinity")),
            ("HINCRBYFLOAT h f nan", e("ERR value is not a valid float")),
            ("HSET h big 1.7e308", i(1)),
            (
                "HINCRBYFLOAT h big 1.7e308",
                e("ERR increment would produce NaN or Infinity"),
            ),
            ("HGET h big", b("1.7e308")),
            (
                "HINCRBYFLOAT missing f x",
                e("ERR value is not a valid float"),
            ),
            ("EXISTS missing", i(0)),
            ("SET str x", ok()),
            ("HINCRBYFLOAT str f 1", e(WRONGTYPE)),
        ]);
        assert_eq!(t.args(&[b"HSET", b"h", b"sp", b" 1"]), i(1));
        assert_eq!(
            t.run("HINCRBYFLOAT h sp 1"),
            e("ERR hash value is not a float")
        );
    }

    fn pairs(f: Frame) -> Vec<Frame> {
        match f {
            Frame::Array(v) => v,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hrandfield() {
        let mut t = T::new();
        t.check(&[("HSET r a 1 b 2 c 3", i(3))]);
        let fields: HashSet<String> = ["a", "b", "c"].map(String::from).into();
        match t.run("HRANDFIELD r") {
            Frame::Bulk(f) => assert!(fields.contains(&*String::from_utf8_lossy(&f))),
            other => panic!("{other:?}"),
        }
        let two = sorted(t.run("HRANDFIELD r 2"));
        assert_eq!(two.len(), 2);
        assert_ne!(two[0], two[1]);
        assert_eq!(sorted(t.run("HRANDFIELD r 5")), ["a", "b", "c"]);
        let many = sorted(t.run("HRANDFIELD r -7"));
        assert_eq!(many.len(), 7);
        assert!(many.iter().all(|f| fields.contains(f)));
        // RESP2 WITHVALUES: a flat array of field, value.
        let flat = pairs(t.run("HRANDFIELD r 2 WITHVALUES"));
        assert_eq!(flat.len(), 4);
        for pair in flat.chunks(2) {
            let (Frame::Bulk(f), Frame::Bulk(v)) = (&pair[0], &pair[1]) else {
                panic!("{pair:?}");
            };
            let want = match &f[..] {
                b"a" => "1",
                b"b" => "2",
                _ => "3",
            };
            assert_eq!(&v[..], want.as_bytes());
        }
        assert_eq!(pairs(t.run("HRANDFIELD r -5 withvalues")).len(), 10);
        assert_eq!(pairs(t.run("HRANDFIELD r 9 WITHVALUES")).len(), 6);
        t.check(&[
            ("HRANDFIELD r 0", ints(&[])),
            ("HRANDFIELD r 0 WITHVALUES", ints(&[])),
            ("HRANDFIELD missing", Frame::Null),
            ("HRANDFIELD missing 3", ints(&[])),
            ("HRANDFIELD missing -3 WITHVALUES", ints(&[])),
            ("HRANDFIELD r 1 FOO", e(SYNTAX)),
            ("HRANDFIELD r 1 WITHVALUES x", e(SYNTAX)),
            ("HRANDFIELD r x", e(NOT_INT)),
            (
                "HRANDFIELD r -9223372036854775808",
                e("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"),
            ),
            (
                "HRANDFIELD r -9223372036854775807 WITHVALUES",
                e("ERR value is out of range"),
            ),
            ("SET str x", ok()),
            ("HRANDFIELD str", e(WRONGTYPE)),
            ("HRANDFIELD str 1", e(WRONGTYPE)),
        ]);
        // RESP3 WITHVALUES: an array of [field, value] pairs.
        t.resp3();
        let nested = pairs(t.run("HRANDFIELD r -4 WITHVALUES"));
        assert_eq!(nested.len(), 4);
        for p in nested {
            assert!(matches!(&p, Frame::Array(v) if v.len() == 2), "{p:?}");
        }
        let all = pairs(t.run("HRANDFIELD r 3 WITHVALUES"));
        assert_eq!(all.len(), 3);
        assert!(matches!(t.run("HRANDFIELD r 2"), Frame::Array(v) if v.len() == 2));
    }

    /// Runs HSCAN to the end: the fields seen, in order, and the number of calls.
    fn full_scan(t: &mut T, key: &str, extra: &str) -> (Vec<String>, usize) {
        let mut cursor = "0".to_string();
        let mut fields = Vec::new();
        let mut calls = 0;
        loop {
            let Frame::Array(parts) = t.run(&format!("HSCAN {key} {cursor}{extra}")) else {
                panic!();
            };
            let [Frame::Bulk(next), Frame::Array(items)] = &parts[..] else {
                panic!("{parts:?}");
            };
            for pair in items.chunks(2) {
                let [Frame::Bulk(f), Frame::Bulk(v)] = pair else {
                    panic!("{pair:?}");
                };
                assert_eq!(&f[1..], &v[..], "value goes with its field");
                fields.push(String::from_utf8_lossy(f).into_owned());
            }
            cursor = String::from_utf8_lossy(next).into_owned();
            calls += 1;
            if cursor == "0" {
                return (fields, calls);
            }
            assert!(calls < 10_000);
        }
    }

    #[test]
    fn hscan() {
        let mut t = T::new();
        for n in 0..10 {
            t.run(&format!("HSET small f{n} {n}"));
        }
        let (fields, calls) = full_scan(&mut t, "small", " COUNT 2");
        assert_eq!(
            (fields.len(), calls),
            (10, 1),
            "a small hash comes back whole"
        );
        for n in 0..1000 {
            t.run(&format!("HSET big f{n} {n}"));
        }
        let (fields, calls) = full_scan(&mut t, "big", " COUNT 100");
        assert_eq!(fields.len(), 1000);
        assert_eq!(fields.iter().collect::<HashSet<_>>().len(), 1000);
        assert!(calls >= 10, "{calls}");
        let (fields, _) = full_scan(&mut t, "big", " MATCH f99* COUNT 10");
        let mut fields = fields;
        fields.sort();
        assert_eq!(
            fields,
            [
                "f99", "f990", "f991", "f992", "f993", "f994", "f995", "f996", "f997", "f998",
                "f999"
            ]
        );
        t.check(&[
            ("HSCAN missing 0", arr(vec![b("0"), ints(&[])])),
            ("HSCAN big x", e("ERR invalid cursor")),
            ("HSCAN big 0 COUNT 0", e(SYNTAX)),
            ("HSCAN big 0 NOVALUES", e(SYNTAX)),
            ("HSCAN big 0 MATCH", e(SYNTAX)),
            ("HSET one f v", i(1)),
            ("HSCAN one 0", arr(vec![b("0"), a(&["f", "v"])])),
            ("HSCAN one 0 MATCH x*", arr(vec![b("0"), ints(&[])])),
            ("SET str x", ok()),
            ("HSCAN str 0", e(WRONGTYPE)),
        ]);
    }

    #[test]
    fn hscan_survives_changes_between_calls() {
        let mut t = T::new();
        for n in 0..600 {
            t.run(&format!("HSET h f{n} {n}"));
        }
        let mut cursor = "0".to_string();
        let mut seen = HashSet::new();
        let mut step = 0;
        loop {
            let Frame::Array(parts) = t.run(&format!("HSCAN h {cursor} COUNT 20")) else {
                panic!();
            };
            let [Frame::Bulk(next), Frame::Array(items)] = &parts[..] else {
                panic!();
            };
            for pair in items.chunks(2) {
                if let Frame::Bulk(f) = &pair[0] {
                    assert!(seen.insert(f.clone()), "{f:?} twice");
                }
            }
            // Grow the hash a lot (forcing rehashes) and delete some fields.
            for k in 0..50 {
                t.run(&format!("HSET h n{step}_{k} x"));
            }
            t.run(&format!("HDEL h f{}", 599 - step));
            step += 1;
            cursor = String::from_utf8_lossy(next).into_owned();
            if cursor == "0" {
                break;
            }
        }
        for n in 0..(600 - step) {
            assert!(seen.contains(format!("f{n}").as_bytes()), "f{n} missed");
        }
    }
}
