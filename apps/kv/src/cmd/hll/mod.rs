//! HyperLogLog commands: PFADD PFCOUNT PFMERGE PFDEBUG PFSELFTEST. A HyperLogLog is a plain
//! string value in Redis's own layout ([`sketch`]), so GET, SET, DUMP and RESTORE carry it
//! between spindle kv and redis-server byte for byte, and both estimate it alike.
//!
//! A dense value (12304 bytes) is changed where it lies; a sparse one (at most
//! `hll-sparse-max-bytes`, 3000 by default) is copied, changed and stored back, since its
//! length changes.

mod sketch;

use bytes::Bytes;

use super::args::{arg, is};
use super::ctx::flags::{ADMIN, DENYOOM, FAST, READONLY, WRITE};
use super::ctx::{CmdResult, Ctx};
use super::{cmd, Command};
use crate::error::CmdError;
use crate::types::str::Str;
use crate::types::value::Value;

use sketch::{Encoding, HEADER, REGISTERS};

/// This family's rows of the command table (arity, flags and key positions as Redis 7.0's
/// COMMAND reports them).
pub(crate) static COMMANDS: &[Command] = &[
    cmd("pfadd", -2, WRITE | DENYOOM | FAST, (1, 1, 1), pfadd),
    cmd("pfcount", -2, READONLY, (1, -1, 1), pfcount),
    cmd("pfmerge", -2, WRITE | DENYOOM, (1, -1, 1), pfmerge),
    cmd("pfdebug", 3, WRITE | DENYOOM | ADMIN, (2, 2, 1), pfdebug),
    cmd("pfselftest", 1, ADMIN, (0, 0, 0), pfselftest),
];

/// A string that is not a HyperLogLog, in Redis's words.
fn not_hll() -> CmdError {
    CmdError::Msg("WRONGTYPE Key is not a valid HyperLogLog string value.".into())
}

/// Sparse opcodes that do not cover the registers, in Redis's words.
fn corrupt(_: sketch::Corrupt) -> CmdError {
    CmdError::Msg("INVALIDOBJ Corrupted HLL object detected".into())
}

/// The string of a value Redis accepts as a HyperLogLog: WRONGTYPE for another type, and
/// Redis's own WRONGTYPE text for a string that is not one (an integer never is).
fn hll_str(v: &mut Value) -> Result<&mut Str, CmdError> {
    match v {
        Value::Str(s) if sketch::encoding_of(s.as_bytes()).is_some() => Ok(s),
        Value::Str(_) | Value::Int(_) => Err(not_hll()),
        _ => Err(CmdError::WrongType),
    }
}

/// The bytes of a string, to change in place without changing its length (a dense value's
/// registers, the cached cardinality).
fn bytes_mut(s: &mut Str) -> &mut [u8] {
    match s {
        Str::Inline(len, data) => data.get_mut(..usize::from(*len)).unwrap_or_default(),
        Str::Heap(b) => b,
    }
}

/// `hll-sparse-max-bytes` as configured.
fn sparse_max_bytes(ctx: &Ctx<'_, '_>) -> usize {
    ctx.shared.config.hll_sparse_max_bytes
}

/// Adds `elements` to the value `bytes` (sparse or dense, valid); returns how many changed a
/// register, and marks the cached cardinality stale if any did. On corrupt opcodes the
/// registers changed before them stay changed and the cache is left alone, as in Redis.
fn add_all(
    bytes: &mut Vec<u8>,
    elements: &[Bytes],
    max_bytes: usize,
) -> (u64, Result<(), sketch::Corrupt>) {
    let mut changed = 0;
    for element in elements {
        match sketch::add(bytes, element, max_bytes) {
            Ok(true) => changed += 1,
            Ok(false) => {}
            Err(e) => return (changed, Err(e)),
        }
    }
    if changed > 0 {
        sketch::invalidate(bytes);
    }
    (changed, Ok(()))
}

/// `PFADD key [element …]`: 1 if the key was made or a register changed, else 0.
pub(crate) fn pfadd(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let key = arg(args, 1);
    let elements = args.get(2..).unwrap_or_default();
    let max_bytes = sparse_max_bytes(ctx);
    let (db, now) = (ctx.dbi(), ctx.now);
    let Some(entry) = ctx.db.entry(db, key, now) else {
        let mut v = sketch::new_sparse();
        let (changed, result) = add_all(&mut v, elements, max_bytes);
        result.map_err(corrupt)?;
        // A new value's cache is stale even when no element was given, as Redis makes it.
        sketch::invalidate(&mut v);
        ctx.db.set(db, key, Value::Str(Str::new(&v)), false, now);
        ctx.db.dirty += changed;
        ctx.out.int(1);
        return Ok(());
    };
    let s = hll_str(&mut entry.value)?;
    let changed = if sketch::encoding_of(s.as_bytes()) == Some(Encoding::Dense) {
        let bytes = bytes_mut(s);
        let regs = bytes.get_mut(HEADER..).unwrap_or_default();
        let changed = elements
            .iter()
            .filter(|e| sketch::dense_add(regs, e))
            .count() as u64;
        if changed > 0 {
            sketch::invalidate(bytes);
        }
        changed
    } else {
        let mut v = s.as_bytes().to_vec();
        let (changed, result) = add_all(&mut v, elements, max_bytes);
        if changed > 0 {
            *s = Str::new(&v);
        }
        result.map_err(corrupt)?;
        changed
    };
    ctx.db.dirty += changed;
    ctx.out.int(i64::from(changed > 0));
    Ok(())
}

/// `PFCOUNT key [key …]`: one key's estimate (cached in the value, which counts as a write
/// when the cache was stale), or the estimate of several keys' union, made aside without
/// changing them.
pub(crate) fn pfcount(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let (db, now) = (ctx.dbi(), ctx.now);
    let keys = args.get(1..).unwrap_or_default();
    if keys.len() > 1 {
        let mut max = vec![0u8; REGISTERS];
        for key in keys {
            let Some(entry) = ctx.db.read(db, key, now) else {
                continue;
            };
            let s = hll_str(&mut entry.value)?;
            sketch::merge_into(&mut max, s.as_bytes()).map_err(corrupt)?;
        }
        let card = sketch::estimate(&sketch::raw_histogram(&max));
        ctx.out.int(card as i64);
        return Ok(());
    }
    let Some(entry) = ctx.db.read(db, arg(args, 1), now) else {
        ctx.out.int(0);
        return Ok(());
    };
    let s = hll_str(&mut entry.value)?;
    let card = match sketch::cached(s.as_bytes()) {
        Some(card) => card,
        None => {
            let card = sketch::count(s.as_bytes()).map_err(corrupt)?;
            sketch::set_cached(bytes_mut(s), card);
            ctx.db.dirty += 1;
            card
        }
    };
    ctx.out.int(card as i64);
    Ok(())
}

/// Raises the registers of `v` to `max` (one byte per register), dense first if `dense`, and
/// marks its cache stale.
fn merged(mut v: Vec<u8>, max: &[u8], dense: bool, max_bytes: usize) -> Result<Vec<u8>, CmdError> {
    if dense {
        sketch::to_dense(&mut v).map_err(corrupt)?;
    }
    for (i, &m) in max.iter().enumerate() {
        // The value was checked while merging the sources (it is one of them), so this
        // cannot meet corrupt opcodes; Redis ignores the result here too.
        if m > 0 {
            let _ = sketch::set_register(&mut v, i, m, max_bytes);
        }
    }
    sketch::invalidate(&mut v);
    Ok(v)
}

/// `PFMERGE destkey [sourcekey …]`: the destination (itself one of the sources) becomes the
/// union; dense if any source was dense.
pub(crate) fn pfmerge(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let (db, now) = (ctx.dbi(), ctx.now);
    let max_bytes = sparse_max_bytes(ctx);
    let mut max = vec![0u8; REGISTERS];
    let mut dense = false;
    for key in args.get(1..).unwrap_or_default() {
        let Some(entry) = ctx.db.read(db, key, now) else {
            continue;
        };
        let s = hll_str(&mut entry.value)?;
        dense |= sketch::encoding_of(s.as_bytes()) == Some(Encoding::Dense);
        sketch::merge_into(&mut max, s.as_bytes()).map_err(corrupt)?;
    }
    let dest = arg(args, 1);
    match ctx.db.entry(db, dest, now) {
        Some(entry) => {
            let s = hll_str(&mut entry.value)?;
            *s = Str::new(&merged(s.as_bytes().to_vec(), &max, dense, max_bytes)?);
            ctx.db.dirty += 1;
        }
        None => {
            let v = merged(sketch::new_sparse(), &max, dense, max_bytes)?;
            ctx.db.set(db, dest, Value::Str(Str::new(&v)), false, now);
        }
    }
    ctx.out.ok();
    Ok(())
}

/// `PFDEBUG GETREG|DECODE|ENCODING|TODENSE key`: the registers (making the value dense), the
/// sparse opcodes as text, the encoding, or a conversion to dense (1 if it was sparse).
pub(crate) fn pfdebug(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let (db, now) = (ctx.dbi(), ctx.now);
    let sub = arg(args, 1);
    let Some(entry) = ctx.db.entry(db, arg(args, 2), now) else {
        return Err(CmdError::err("The specified key does not exist"));
    };
    let s = hll_str(&mut entry.value)?;
    let sparse = sketch::encoding_of(s.as_bytes()) == Some(Encoding::Sparse);
    let to_dense = |s: &mut Str| -> CmdResult {
        let mut v = s.as_bytes().to_vec();
        sketch::to_dense(&mut v).map_err(corrupt)?;
        *s = Str::new(&v);
        Ok(())
    };
    if is(sub, "getreg") {
        if sparse {
            to_dense(s)?;
        }
        let regs = s.as_bytes().get(HEADER..).unwrap_or_default();
        ctx.out.array_len(REGISTERS);
        for i in 0..REGISTERS {
            ctx.out.int(i64::from(sketch::dense_get(regs, i)));
        }
    } else if is(sub, "decode") {
        if !sparse {
            return Err(CmdError::err("HLL encoding is not sparse"));
        }
        ctx.out.bulk(sketch::decode(s.as_bytes()).as_bytes());
    } else if is(sub, "encoding") {
        ctx.out.simple(if sparse { "sparse" } else { "dense" });
    } else if is(sub, "todense") {
        if sparse {
            to_dense(s)?;
        }
        ctx.out.int(i64::from(sparse));
    } else {
        return Err(CmdError::err(format!(
            "Unknown PFDEBUG subcommand '{}'",
            String::from_utf8_lossy(sub)
        )));
    }
    // A conversion changes the stored bytes.
    if sparse && (is(sub, "getreg") || is(sub, "todense")) {
        ctx.db.dirty += 1;
    }
    Ok(())
}

/// Rounds of random register values PFSELFTEST writes and reads back.
const SELFTEST_CYCLES: u32 = 1000;
/// Elements PFSELFTEST adds.
const SELFTEST_ADDS: u64 = 10_000_000;

/// `PFSELFTEST`: Redis's self-test of the registers and the estimator (see
/// [`sketch::selftest`]); OK, or the failure.
pub(crate) fn pfselftest(ctx: &mut Ctx<'_, '_>, _args: &[Bytes]) -> CmdResult {
    let max_bytes = sparse_max_bytes(ctx);
    sketch::selftest(SELFTEST_CYCLES, SELFTEST_ADDS, max_bytes, ctx.now).map_err(CmdError::err)?;
    ctx.out.ok();
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::testkit::*;

    const NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
    const CORRUPT: &str = "INVALIDOBJ Corrupted HLL object detected";

    fn get(t: &mut T, key: &str) -> Vec<u8> {
        match t.run(&format!("GET {key}")) {
            Frame::Bulk(b) => b.to_vec(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pfadd_pfcount_and_the_bytes() {
        let mut t = T::new();
        t.check(&[
            ("PFADD h a b c", i(1)),
            ("PFADD h a b", i(0)),
            ("PFADD h", i(0)),
            ("PFADD empty", i(1)),
            ("PFCOUNT empty", i(0)),
            ("PFCOUNT missing", i(0)),
        ]);
        // As redis-server 7.0.15 leaves it: sparse, cache stale, then cached 3.
        let before = get(&mut t, "h");
        assert_eq!(&before[..16], b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80");
        assert_eq!(
            &before[16..],
            b"\x60\xf3\x80\x50\xb1\x84\x4b\xfb\x80\x42\x5a"
        );
        t.check(&[("PFCOUNT h", i(3))]);
        assert_eq!(&get(&mut t, "h")[8..16], b"\x03\0\0\0\0\0\0\0");
        t.check(&[("PFADD h d", i(1))]);
        // Stale again: only the top bit is set, the old count stays.
        assert_eq!(&get(&mut t, "h")[8..16], b"\x03\0\0\0\0\0\0\x80");
        t.check(&[
            ("PFCOUNT h", i(4)),
            ("PFDEBUG ENCODING h", Frame::Simple("sparse".into())),
            (
                "PFDEBUG DECODE h",
                b("Z:7292 v:1,1 Z:1143 v:1,1 Z:4274 v:2,1 Z:3068 v:1,1 Z:603"),
            ),
        ]);
    }

    #[test]
    fn wrong_types_and_corrupt_values() {
        let mut t = T::new();
        t.check(&[
            ("SET s hello", ok()),
            ("SET n 123", ok()),
            ("RPUSH l a", i(1)),
            ("PFADD s a", e(NOT_HLL)),
            ("PFADD n a", e(NOT_HLL)),
            ("PFADD l a", e(WRONGTYPE)),
            ("PFCOUNT s", e(NOT_HLL)),
            ("PFCOUNT l", e(WRONGTYPE)),
            ("PFCOUNT missing s", e(NOT_HLL)),
            ("PFMERGE d s", e(NOT_HLL)),
            ("EXISTS d", i(0)),
            (
                "PFDEBUG ENCODING nokey",
                e("ERR The specified key does not exist"),
            ),
            ("PFDEBUG FOO s", e(NOT_HLL)),
        ]);
        // A sparse value whose opcodes cover 16129 registers only.
        t.args(&[b"SET", b"bad", b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80\x7f"]);
        t.check(&[
            ("PFCOUNT bad", e(CORRUPT)),
            ("PFCOUNT bad bad", e(CORRUPT)),
            ("PFMERGE d bad", e(CORRUPT)),
            ("PFADD bad x", e(CORRUPT)),
            ("PFDEBUG GETREG bad", e(CORRUPT)),
            ("PFDEBUG TODENSE bad", e(CORRUPT)),
            ("PFDEBUG FOO bad", e("ERR Unknown PFDEBUG subcommand 'FOO'")),
        ]);
        // A dense value of the wrong length is not a HyperLogLog at all.
        t.args(&[b"SET", b"short", b"HYLL\0\0\0\0\0\0\0\0\0\0\0\0\0\0"]);
        t.check(&[("PFCOUNT short", e(NOT_HLL))]);
    }

    #[test]
    fn promotion_merge_and_debug() {
        let mut t = T::new();
        let elements: Vec<String> = (0..3000).map(|n| format!("e{n}")).collect();
        let mut line = String::from("PFADD big");
        for e in &elements {
            line.push(' ');
            line.push_str(e);
        }
        t.check(&[
            (line.as_str(), i(1)),
            ("PFDEBUG ENCODING big", Frame::Simple("dense".into())),
            ("STRLEN big", i(12304)),
            ("PFADD small a b c", i(1)),
            ("PFMERGE both small big", ok()),
            ("PFDEBUG ENCODING both", Frame::Simple("dense".into())),
            ("PFMERGE copy small", ok()),
            ("PFDEBUG ENCODING copy", Frame::Simple("sparse".into())),
            ("PFCOUNT copy", i(3)),
            ("PFDEBUG DECODE big", e("ERR HLL encoding is not sparse")),
            ("PFDEBUG TODENSE copy", i(1)),
            ("PFDEBUG TODENSE copy", i(0)),
            ("PFCOUNT copy", i(3)),
        ]);
        let union = t.run("PFCOUNT small big");
        t.check(&[("PFCOUNT both", union.clone())]);
        // Multi-key PFCOUNT leaves its keys as they were.
        let small = get(&mut t, "small");
        t.run("PFCOUNT small big");
        assert_eq!(get(&mut t, "small"), small);
        match t.run("PFDEBUG GETREG small") {
            Frame::Array(regs) => {
                assert_eq!(regs.len(), 16384);
                assert_eq!(regs[8436], i(1));
                assert_eq!(regs[12711], i(2));
            }
            other => panic!("{other:?}"),
        }
        // GETREG made it dense.
        t.check(&[("PFDEBUG ENCODING small", Frame::Simple("dense".into()))]);
    }

    #[test]
    fn writes_touch_watched_keys() {
        let mut t = T::new();
        t.check(&[("PFADD h a", i(1)), ("PFCOUNT h", i(1))]);
        // A PFADD that changes nothing and a cached PFCOUNT are not writes.
        t.check(&[
            ("WATCH h", ok()),
            ("PFADD h a", i(0)),
            ("PFCOUNT h", i(1)),
            ("MULTI", ok()),
            ("PING", Frame::Simple("QUEUED".into())),
        ]);
        assert_eq!(t.run("EXEC"), arr(vec![Frame::Simple("PONG".into())]));
        let mut other = t.other(1);
        for write in ["PFADD h b", "PFCOUNT h", "PFMERGE h x"] {
            t.check(&[("WATCH h", ok()), ("MULTI", ok())]);
            t.run_as(&mut other, write);
            t.run("PING");
            assert_eq!(t.run("EXEC"), Frame::Null, "{write}");
        }
    }

    #[test]
    fn pfselftest_replies_ok() {
        // The full test (10 million elements) is slow in a debug build; the sketch's own test
        // runs it smaller. Here: only the table row and the reply path.
        let mut t = T::new();
        t.check(&[(
            "PFSELFTEST extra",
            e("ERR wrong number of arguments for 'pfselftest' command"),
        )]);
    }
}
