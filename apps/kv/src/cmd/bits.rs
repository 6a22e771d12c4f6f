//! Bit commands on strings: SETBIT GETBIT BITCOUNT BITOP BITPOS BITFIELD BITFIELD_RO.
//!
//! Bits are numbered as Redis numbers them: bit 0 is the most significant bit of byte 0.
//! Every offset a client gives is checked against `proto-max-bulk-len` (512 MB by default, so
//! at most 2^32-1 bits) before anything is allocated.

use bytes::Bytes;

use super::args::{arg, int_arg, is, string_bytes};
use super::ctx::{CmdResult, Ctx};
use crate::db::unix_seconds;
use crate::error::CmdError;
use crate::types::str::Str;
use crate::types::value::Value;

const OFFSET_ERR: &str = "bit offset is not an integer or out of range";

/// Parses a bit offset (`#n` means `n * bits` when `hash_bits` is given), refusing offsets
/// whose byte lies beyond `max_bytes`.
fn offset_arg(b: &[u8], hash_bits: Option<u32>, max_bytes: usize) -> Result<u64, CmdError> {
    let (digits, mul) = match (hash_bits, b.split_first()) {
        (Some(bits), Some((b'#', rest))) => (rest, i64::from(bits)),
        _ => (b, 1),
    };
    let n = int_arg(digits).map_err(|_| CmdError::err(OFFSET_ERR))?;
    let n = n
        .checked_mul(mul)
        .ok_or_else(|| CmdError::err(OFFSET_ERR))?;
    if n < 0 || (n as u64 >> 3) >= max_bytes as u64 {
        return Err(CmdError::err(OFFSET_ERR));
    }
    Ok(n as u64)
}

/// The mutable bytes of a string.
fn str_bytes_mut(s: &mut Str) -> &mut [u8] {
    match s {
        Str::Inline(len, data) => data.get_mut(..*len as usize).unwrap_or_default(),
        Str::Heap(b) => b,
    }
}

/// Runs `f` on the string at `key`, grown with zero bytes to at least `min_len` bytes (created
/// if missing), keeping its TTL. `f` is told whether the string was made or grown (every write
/// then counts as a change, as in Redis's `lookupStringForBitCommand`) and returns its result
/// with the number of changes it made: only those count as writes (the `dirty` counter, and so
/// WATCH), as SETBIT and BITFIELD count them in Redis.
fn with_string_mut<R>(
    ctx: &mut Ctx<'_, '_>,
    key: &[u8],
    min_len: usize,
    f: impl FnOnce(&mut [u8], bool) -> (R, u64),
) -> Result<R, CmdError> {
    let db = ctx.dbi();
    let now = ctx.now;
    let mut bytes = match ctx.db.entry(db, key, now) {
        Some(e) => match &mut e.value {
            // The common case: the string is long enough, change it in place.
            Value::Str(s) if s.len() >= min_len => {
                let (r, changes) = f(str_bytes_mut(s), false);
                ctx.db.dirty += changes;
                return Ok(r);
            }
            v => string_bytes(v)?.into_owned(),
        },
        None => {
            let mut bytes = vec![0; min_len];
            let (r, changes) = f(&mut bytes, true);
            // Made even when nothing counted (a BITFIELD whose writes all failed), as Redis.
            let value = Value::Str(Str::new(&bytes));
            ctx.db.space(db).insert(key, value, true, unix_seconds(now));
            ctx.db.dirty += changes;
            return Ok(r);
        }
    };
    let grown = bytes.len() < min_len;
    if grown {
        bytes.resize(min_len, 0);
    }
    let (r, changes) = f(&mut bytes, grown);
    // An integer becomes its text even when no bit changed (OBJECT ENCODING says raw after).
    let value = Value::Str(Str::new(&bytes));
    ctx.db.space(db).insert(key, value, true, unix_seconds(now));
    ctx.db.dirty += changes;
    Ok(r)
}

/// The string at `key` for reading (`None` if missing), or WRONGTYPE.
fn read_bytes(ctx: &mut Ctx<'_, '_>, key: &[u8]) -> Result<Option<Vec<u8>>, CmdError> {
    let db = ctx.dbi();
    match ctx.db.read(db, key, ctx.now) {
        Some(e) => Ok(Some(string_bytes(&e.value)?.into_owned())),
        None => Ok(None),
    }
}

fn get_bit(bytes: &[u8], bit: u64) -> u8 {
    let byte = bytes.get((bit >> 3) as usize).copied().unwrap_or(0);
    (byte >> (7 - (bit & 7))) & 1
}

/// `SETBIT key offset value`: replies the bit's previous value.
pub(crate) fn setbit(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let max = ctx.shared.config.proto_max_bulk_len;
    let offset = offset_arg(arg(args, 2), None, max)?;
    let on = match arg(args, 3) {
        b"0" => false,
        b"1" => true,
        _ => return Err(CmdError::err("bit is not an integer or out of range")),
    };
    let byte = (offset >> 3) as usize;
    let shift = 7 - (offset & 7) as u32;
    let old = with_string_mut(ctx, arg(args, 1), byte + 1, |b, grown| {
        let slot = b.get_mut(byte);
        let old = slot.as_ref().map_or(0, |v| (**v >> shift) & 1);
        if let Some(v) = slot {
            if on {
                *v |= 1 << shift;
            } else {
                *v &= !(1 << shift);
            }
        }
        (old, u64::from(grown || (old == 1) != on))
    })?;
    ctx.out.int(i64::from(old));
    Ok(())
}

/// `GETBIT key offset`
pub(crate) fn getbit(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let max = ctx.shared.config.proto_max_bulk_len;
    let offset = offset_arg(arg(args, 2), None, max)?;
    let bit = read_bytes(ctx, arg(args, 1))?.map_or(0, |b| get_bit(&b, offset));
    ctx.out.int(i64::from(bit));
    Ok(())
}

/// A `start end [BYTE|BIT]` range resolved against a string of `len` bytes: the inclusive byte
/// range and the masks of bits outside the range in its first and last byte (BIT mode).
struct ByteRange {
    start: usize,
    end: usize,
    first_mask: u8,
    last_mask: u8,
}

/// Redis's normalisation for BITCOUNT/BITPOS: negative indexes count from the end, then clamp.
/// `None` for an empty range.
fn resolve_range(start: i64, end: i64, len: usize, bit_mode: bool) -> Option<ByteRange> {
    let total = if bit_mode {
        (len as i64).saturating_mul(8)
    } else {
        len as i64
    };
    let mut s = if start < 0 {
        total.saturating_add(start)
    } else {
        start
    };
    let mut e = if end < 0 {
        total.saturating_add(end)
    } else {
        end
    };
    s = s.max(0);
    e = e.max(0);
    if e >= total {
        e = total - 1;
    }
    if s > e {
        return None;
    }
    if bit_mode {
        let first_mask = !((1u16 << (8 - (s & 7))) - 1) as u8;
        let last_mask = ((1u16 << (7 - (e & 7))) - 1) as u8;
        Some(ByteRange {
            start: (s >> 3) as usize,
            end: (e >> 3) as usize,
            first_mask,
            last_mask,
        })
    } else {
        Some(ByteRange {
            start: s as usize,
            end: e as usize,
            first_mask: 0,
            last_mask: 0,
        })
    }
}

fn unit_arg(b: &[u8]) -> Result<bool, CmdError> {
    if is(b, "bit") {
        Ok(true)
    } else if is(b, "byte") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

/// `BITCOUNT key [start end [BYTE | BIT]]`: as Redis, the key is looked up before the range is
/// read (a missing key counts 0 whatever follows), and a range whose ends are both negative
/// with the start after the end counts 0 before it is normalised (normalising would clamp both
/// ends to the first byte or bit and count it).
pub(crate) fn bitcount(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let Some(bytes) = read_bytes(ctx, arg(args, 1))? else {
        ctx.out.int(0);
        return Ok(());
    };
    let range = match args.len() {
        2 => resolve_range(0, -1, bytes.len(), false),
        4 | 5 => {
            let start = int_arg(arg(args, 2))?;
            let end = int_arg(arg(args, 3))?;
            if start < 0 && end < 0 && start > end {
                ctx.out.int(0);
                return Ok(());
            }
            let bit_mode = match args.get(4) {
                Some(u) => unit_arg(u)?,
                None => false,
            };
            resolve_range(start, end, bytes.len(), bit_mode)
        }
        _ => return Err(CmdError::Syntax),
    };
    let n = match range {
        None => 0,
        Some(r) => {
            let slice = bytes.get(r.start..=r.end).unwrap_or_default();
            let mut n: u64 = slice.iter().map(|b| u64::from(b.count_ones())).sum();
            if let Some(first) = slice.first() {
                n -= u64::from((first & r.first_mask).count_ones());
            }
            if let Some(last) = slice.last() {
                n -= u64::from((last & r.last_mask).count_ones());
            }
            n
        }
    };
    ctx.out.int(n as i64);
    Ok(())
}

/// `BITPOS key bit [start [end [BYTE | BIT]]]`
pub(crate) fn bitpos(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let bit = int_arg(arg(args, 2))?;
    if bit != 0 && bit != 1 {
        return Err(CmdError::err("The bit argument must be 1 or 0."));
    }
    let Some(bytes) = read_bytes(ctx, arg(args, 1))? else {
        ctx.out.int(if bit == 1 { -1 } else { 0 });
        return Ok(());
    };
    let (mut start, mut end, mut bit_mode, mut end_given) = (0i64, -1i64, false, false);
    match args.len() {
        3 => {}
        4..=6 => {
            start = int_arg(arg(args, 3))?;
            if let Some(u) = args.get(5) {
                bit_mode = unit_arg(u)?;
            }
            if let Some(e) = args.get(4) {
                end = int_arg(e)?;
                end_given = true;
            }
        }
        _ => return Err(CmdError::Syntax),
    }
    let Some(r) = resolve_range(start, end, bytes.len(), bit_mode) else {
        ctx.out.int(-1);
        return Ok(());
    };
    let slice = bytes.get(r.start..=r.end).unwrap_or_default();
    let last = slice.len().saturating_sub(1);
    let mut found: Option<u64> = None;
    for (i, &b) in slice.iter().enumerate() {
        // Bits outside the range are forced to the value not looked for.
        let mut b = if bit == 1 { b } else { !b };
        if i == 0 {
            b &= !r.first_mask;
        }
        if i == last {
            b &= !r.last_mask;
        }
        if b != 0 {
            found = Some(i as u64 * 8 + u64::from(b.leading_zeros()));
            break;
        }
    }
    let pos = match found {
        Some(p) => (r.start as u64 * 8 + p) as i64,
        // Looking for a clear bit with no end given: the string is as if padded with zeros.
        None if bit == 0 && !end_given => ((r.end + 1) as u64 * 8) as i64,
        None => -1,
    };
    ctx.out.int(pos);
    Ok(())
}

/// `BITOP AND|OR|XOR|NOT destkey key…`: replies the length of the result stored.
pub(crate) fn bitop(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    #[derive(Clone, Copy, PartialEq)]
    enum Op {
        And,
        Or,
        Xor,
        Not,
    }
    let op = match arg(args, 1) {
        o if is(o, "and") => Op::And,
        o if is(o, "or") => Op::Or,
        o if is(o, "xor") => Op::Xor,
        o if is(o, "not") => Op::Not,
        _ => return Err(CmdError::Syntax),
    };
    let sources = args.get(3..).unwrap_or_default();
    if op == Op::Not && sources.len() != 1 {
        return Err(CmdError::err(
            "BITOP NOT must be called with a single source key.",
        ));
    }
    let mut values: Vec<Vec<u8>> = Vec::with_capacity(sources.len());
    for key in sources {
        let db = ctx.dbi();
        match ctx.db.entry(db, key, ctx.now) {
            Some(e) => values.push(string_bytes(&e.value)?.into_owned()),
            None => values.push(Vec::new()),
        }
    }
    let max_len = values.iter().map(Vec::len).max().unwrap_or(0);
    let dest = arg(args, 2);
    let db = ctx.dbi();
    if max_len == 0 {
        ctx.db.delete(db, dest, ctx.now);
        ctx.out.int(0);
        return Ok(());
    }
    let mut res = vec![0u8; max_len];
    for (i, slot) in res.iter_mut().enumerate() {
        let mut bytes = values.iter().map(|v| v.get(i).copied().unwrap_or(0));
        let first = bytes.next().unwrap_or(0);
        *slot = match op {
            Op::Not => !first,
            Op::And => bytes.fold(first, |a, b| a & b),
            Op::Or => bytes.fold(first, |a, b| a | b),
            Op::Xor => bytes.fold(first, |a, b| a ^ b),
        };
    }
    ctx.db
        .set(db, dest, Value::Str(Str::new(&res)), false, ctx.now);
    ctx.out.int(max_len as i64);
    Ok(())
}

// ----- BITFIELD -------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Debug)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, Debug)]
enum FieldOp {
    Get,
    Set(i64),
    Incr(i64),
}

#[derive(Clone, Copy, Debug)]
struct Field {
    op: FieldOp,
    signed: bool,
    bits: u32,
    offset: u64,
    overflow: Overflow,
}

fn type_arg(b: &[u8]) -> Result<(bool, u32), CmdError> {
    let bad = || {
        CmdError::err(
            "Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
        )
    };
    let (signed, digits) = match b.split_first() {
        Some((b'i' | b'I', rest)) => (true, rest),
        Some((b'u' | b'U', rest)) => (false, rest),
        _ => return Err(bad()),
    };
    let bits = int_arg(digits).map_err(|_| bad())?;
    let ok = if signed {
        (1..=64).contains(&bits)
    } else {
        (1..=63).contains(&bits)
    };
    if !ok {
        return Err(bad());
    }
    Ok((signed, bits as u32))
}

/// Reads `bits` bits at bit `offset` as an unsigned number (missing bytes read as zero).
fn read_field(bytes: &[u8], offset: u64, bits: u32) -> u64 {
    let mut v = 0u64;
    for i in 0..u64::from(bits) {
        v = (v << 1) | u64::from(get_bit(bytes, offset + i));
    }
    v
}

fn write_field(bytes: &mut [u8], offset: u64, bits: u32, value: u64) {
    for i in 0..u64::from(bits) {
        let bit = (value >> (u64::from(bits) - 1 - i)) & 1;
        let pos = offset + i;
        if let Some(b) = bytes.get_mut((pos >> 3) as usize) {
            let shift = 7 - (pos & 7);
            if bit == 1 {
                *b |= 1 << shift;
            } else {
                *b &= !(1 << shift);
            }
        }
    }
}

/// Interprets the low `bits` of `raw` as a signed or unsigned number.
fn to_number(raw: u64, signed: bool, bits: u32) -> i128 {
    if signed && bits < 64 && raw & (1 << (bits - 1)) != 0 {
        i128::from(raw) - (1i128 << bits)
    } else if signed {
        i128::from(raw as i64)
    } else {
        i128::from(raw)
    }
}

/// Fits `v` into the field's range under the overflow policy: `None` when FAIL refuses it.
fn fit(v: i128, signed: bool, bits: u32, overflow: Overflow) -> Option<i128> {
    let (min, max) = if signed {
        (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
    } else {
        (0, (1i128 << bits) - 1)
    };
    if (min..=max).contains(&v) {
        return Some(v);
    }
    match overflow {
        Overflow::Fail => None,
        Overflow::Sat => Some(if v > max { max } else { min }),
        Overflow::Wrap => {
            let raw = (v.rem_euclid(1i128 << bits)) as u64;
            Some(to_number(raw, signed, bits))
        }
    }
}

fn bitfield_impl(ctx: &mut Ctx<'_, '_>, args: &[Bytes], read_only: bool) -> CmdResult {
    let max = ctx.shared.config.proto_max_bulk_len;
    let mut fields: Vec<Field> = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut highest_write: Option<u64> = None;
    let mut i = 2;
    while let Some(sub) = args.get(i) {
        let remaining = args.len() - i - 1;
        let op = if is(sub, "get") && remaining >= 2 {
            FieldOp::Get
        } else if is(sub, "set") && remaining >= 3 {
            FieldOp::Set(0)
        } else if is(sub, "incrby") && remaining >= 3 {
            FieldOp::Incr(0)
        } else if is(sub, "overflow") && remaining >= 1 {
            let kind = arg(args, i + 1);
            overflow = if is(kind, "wrap") {
                Overflow::Wrap
            } else if is(kind, "sat") {
                Overflow::Sat
            } else if is(kind, "fail") {
                Overflow::Fail
            } else {
                return Err(CmdError::err("Invalid OVERFLOW type specified"));
            };
            i += 2;
            continue;
        } else {
            return Err(CmdError::Syntax);
        };
        let (signed, bits) = type_arg(arg(args, i + 1))?;
        let offset = offset_arg(arg(args, i + 2), Some(bits), max)?;
        let op = match op {
            FieldOp::Get => FieldOp::Get,
            FieldOp::Set(_) => FieldOp::Set(int_arg(arg(args, i + 3))?),
            FieldOp::Incr(_) => FieldOp::Incr(int_arg(arg(args, i + 3))?),
        };
        if !matches!(op, FieldOp::Get) {
            let last = offset + u64::from(bits) - 1;
            highest_write = Some(highest_write.map_or(last, |h| h.max(last)));
        }
        fields.push(Field {
            op,
            signed,
            bits,
            offset,
            overflow,
        });
        i += if matches!(op, FieldOp::Get) { 3 } else { 4 };
    }
    let key = arg(args, 1);
    let results: Vec<Option<i128>> = match highest_write {
        None => {
            let bytes = read_bytes(ctx, key)?.unwrap_or_default();
            fields
                .iter()
                .map(|f| {
                    Some(to_number(
                        read_field(&bytes, f.offset, f.bits),
                        f.signed,
                        f.bits,
                    ))
                })
                .collect()
        }
        Some(_) if read_only => {
            return Err(CmdError::err(
                "BITFIELD_RO only supports the GET subcommand",
            ))
        }
        Some(last) => {
            let min_len = (last >> 3) as usize + 1;
            with_string_mut(ctx, key, min_len, |bytes, grown| {
                let mut changes = 0;
                let results = fields
                    .iter()
                    .map(|f| {
                        let old = to_number(read_field(bytes, f.offset, f.bits), f.signed, f.bits);
                        let (new, reply) = match f.op {
                            FieldOp::Get => return Some(old),
                            FieldOp::Set(v) => {
                                // An unsigned field takes the value's two's complement bits.
                                let v = if f.signed {
                                    i128::from(v)
                                } else {
                                    i128::from(v as u64)
                                };
                                let new = fit(v, f.signed, f.bits, f.overflow)?;
                                (new, old)
                            }
                            FieldOp::Incr(by) => {
                                let new = fit(old + i128::from(by), f.signed, f.bits, f.overflow)?;
                                (new, new)
                            }
                        };
                        write_field(bytes, f.offset, f.bits, new as u64);
                        if grown || new != old {
                            changes += 1;
                        }
                        Some(reply)
                    })
                    .collect();
                (results, changes)
            })?
        }
    };
    ctx.out.array_len(results.len());
    for r in results {
        match r {
            Some(v) => ctx.out.int(v as i64),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

/// `BITFIELD key [GET type offset] [SET type offset value] [INCRBY type offset increment]
/// [OVERFLOW WRAP|SAT|FAIL] …`
pub(crate) fn bitfield(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    bitfield_impl(ctx, args, false)
}

/// `BITFIELD_RO key [GET type offset] …`
pub(crate) fn bitfield_ro(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    bitfield_impl(ctx, args, true)
}

#[cfg(test)]
mod tests {
    use crate::testkit::*;

    const OFF: &str = "ERR bit offset is not an integer or out of range";
    const TYPE: &str =
        "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";

    #[test]
    fn setbit_getbit() {
        let mut t = T::new();
        t.check(&[
            ("SETBIT b 7 1", i(0)),
            ("GET b", raw(b"\x01")),
            ("GETBIT b 7", i(1)),
            ("GETBIT b 6", i(0)),
            ("GETBIT b 100", i(0)),
            ("SETBIT b 7 1", i(1)),
            ("SETBIT b 7 0", i(1)),
            ("GET b", raw(b"\x00")),
            ("SETBIT b 17 1", i(0)),
            ("STRLEN b", i(3)),
            ("GETBIT missing 0", i(0)),
            (
                "SETBIT b 4294967295 x",
                e("ERR bit is not an integer or out of range"),
            ),
            (
                "SETBIT b 0 2",
                e("ERR bit is not an integer or out of range"),
            ),
            (
                "SETBIT b 0 -1",
                e("ERR bit is not an integer or out of range"),
            ),
            ("SETBIT b 4294967296 1", e(OFF)),
            ("SETBIT b -1 1", e(OFF)),
            ("SETBIT b x 1", e(OFF)),
            ("GETBIT b 4294967296", e(OFF)),
            ("GETBIT b 4294967295", i(0)),
            ("SET n 1", ok()),
            ("SETBIT n 6 1", i(0)),
            ("GET n", b("3")),
            ("RPUSH l a", i(1)),
            ("SETBIT l 0 1", e(WRONGTYPE)),
            ("GETBIT l 0", e(WRONGTYPE)),
            (
                "SETBIT k 0",
                e("ERR wrong number of arguments for 'setbit' command"),
            ),
        ]);
    }

    #[test]
    fn setbit_keeps_ttl() {
        let mut t = T::new();
        t.check(&[
            ("SET k a EX 100", ok()),
            ("SETBIT k 100 1", i(0)),
            ("TTL k", i(100)),
        ]);
    }

    #[test]
    fn bitcount() {
        let mut t = T::new();
        t.check(&[
            ("SET s foobar", ok()),
            ("BITCOUNT s", i(26)),
            ("BITCOUNT s 0 0", i(4)),
            ("BITCOUNT s 1 1", i(6)),
            ("BITCOUNT s 1 1 BYTE", i(6)),
            ("BITCOUNT s 5 30 BIT", i(17)),
            ("BITCOUNT s -1 -1", i(4)),
            ("BITCOUNT s -100 100", i(26)),
            ("BITCOUNT s 5 2", i(0)),
            ("BITCOUNT s 0 -1 bit", i(26)),
            ("BITCOUNT s 47 47 BIT", i(0)),
            ("BITCOUNT s 46 46 BIT", i(1)),
            ("BITCOUNT missing", i(0)),
            ("BITCOUNT missing 0 5", i(0)),
            ("BITCOUNT s 0", e(SYNTAX)),
            ("BITCOUNT s 0 1 2", e(SYNTAX)),
            ("BITCOUNT s 0 1 BIT x", e(SYNTAX)),
            ("BITCOUNT s a 1", e(NOT_INT)),
            ("RPUSH l a", i(1)),
            ("BITCOUNT l", e(WRONGTYPE)),
        ]);
    }

    #[test]
    fn bitpos() {
        let mut t = T::new();
        assert_eq!(t.args(&[b"SET", b"p", b"\xff\xf0\x00"]), ok());
        assert_eq!(t.args(&[b"SET", b"q", b"\x00\xff\xf0"]), ok());
        assert_eq!(t.args(&[b"SET", b"z", b"\x00\x00\x00"]), ok());
        assert_eq!(t.args(&[b"SET", b"ones", b"\xff\xff"]), ok());
        t.check(&[
            ("BITPOS p 0", i(12)),
            ("BITPOS q 1 0", i(8)),
            ("BITPOS q 1 2", i(16)),
            ("BITPOS q 1 2 -1 BYTE", i(16)),
            ("BITPOS q 1 7 15 BIT", i(8)),
            ("BITPOS q 1 9 15 BIT", i(9)),
            ("BITPOS q 0 9 15 BIT", i(-1)),
            ("BITPOS q 0 8 -1 BIT", i(20)),
            ("BITPOS z 1", i(-1)),
            ("BITPOS z 0", i(0)),
            ("BITPOS ones 0", i(16)),
            ("BITPOS ones 0 1", i(16)),
            ("BITPOS ones 0 0 -1", i(-1)),
            ("BITPOS ones 1 3 1", i(-1)),
            ("BITPOS missing 1", i(-1)),
            ("BITPOS missing 0", i(0)),
            ("BITPOS p 2", e("ERR The bit argument must be 1 or 0.")),
            ("BITPOS p x", e(NOT_INT)),
            ("BITPOS p 1 0 1 FOO", e(SYNTAX)),
            ("BITPOS p 1 0 1 BIT x", e(SYNTAX)),
            ("BITPOS p 1 x", e(NOT_INT)),
            ("RPUSH l a", i(1)),
            ("BITPOS l 1", e(WRONGTYPE)),
        ]);
    }

    #[test]
    fn bitop() {
        let mut t = T::new();
        assert_eq!(t.args(&[b"SET", b"a", b"\xf0\x0f"]), ok());
        assert_eq!(t.args(&[b"SET", b"b", b"\xff"]), ok());
        t.check(&[
            ("BITOP AND d a b", i(2)),
            ("GET d", raw(b"\xf0\x00")),
            ("BITOP or d a b", i(2)),
            ("GET d", raw(b"\xff\x0f")),
            ("BITOP XOR d a b", i(2)),
            ("GET d", raw(b"\x0f\x0f")),
            ("BITOP NOT d a", i(2)),
            ("GET d", raw(b"\x0f\xf0")),
            ("BITOP AND d a missing", i(2)),
            ("GET d", raw(b"\x00\x00")),
            (
                "BITOP NOT d a b",
                e("ERR BITOP NOT must be called with a single source key."),
            ),
            ("BITOP FOO d a", e(SYNTAX)),
            ("BITOP AND d missing other", i(0)),
            ("EXISTS d", i(0)),
            ("RPUSH l a", i(1)),
            ("BITOP AND d a l", e(WRONGTYPE)),
            ("BITOP OR l a", i(2)),
            ("TYPE l", Frame::Simple("string".into())),
        ]);
    }

    #[test]
    fn bitfield() {
        let mut t = T::new();
        t.check(&[
            ("BITFIELD k INCRBY i5 100 1 GET u4 0", ints(&[1, 0])),
            (
                "BITFIELD m incrby u2 100 1 OVERFLOW SAT incrby u2 102 1",
                ints(&[1, 1]),
            ),
            (
                "BITFIELD m incrby u2 100 1 OVERFLOW SAT incrby u2 102 1",
                ints(&[2, 2]),
            ),
            (
                "BITFIELD m incrby u2 100 1 OVERFLOW SAT incrby u2 102 1",
                ints(&[3, 3]),
            ),
            (
                "BITFIELD m incrby u2 100 1 OVERFLOW SAT incrby u2 102 1",
                ints(&[0, 3]),
            ),
            (
                "BITFIELD m OVERFLOW FAIL incrby u2 102 1",
                arr(vec![Frame::Null]),
            ),
            ("BITFIELD bf SET i8 #0 100 SET i8 #1 200", ints(&[0, 0])),
            (
                "BITFIELD bf GET i8 #1 GET u8 8 GET i8 0",
                ints(&[-56, 200, 100]),
            ),
            ("BITFIELD_RO bf GET u8 #1", ints(&[200])),
            (
                "BITFIELD s OVERFLOW SAT SET i8 0 200 GET i8 0",
                ints(&[0, 127]),
            ),
            ("BITFIELD s OVERFLOW SAT INCRBY i8 0 -1000", ints(&[-128])),
            (
                "BITFIELD s OVERFLOW FAIL INCRBY i8 0 -1 GET i8 0",
                arr(vec![Frame::Null, i(-128)]),
            ),
            ("BITFIELD s OVERFLOW WRAP INCRBY i8 0 -1", ints(&[127])),
            ("BITFIELD w SET i64 0 9223372036854775807", ints(&[0])),
            ("BITFIELD w INCRBY i64 0 1", ints(&[i64::MIN])),
            ("BITFIELD w OVERFLOW SAT INCRBY i64 0 -1", ints(&[i64::MIN])),
            ("BITFIELD u SET u8 0 -1 GET u8 0", ints(&[0, 255])),
            (
                "BITFIELD u OVERFLOW SAT SET u8 0 -1 GET u8 0",
                ints(&[255, 255]),
            ),
            ("BITFIELD u OVERFLOW SAT INCRBY u8 0 -300", ints(&[0])),
            (
                "BITFIELD u SET u63 1 9223372036854775807 GET u63 1",
                ints(&[0, i64::MAX]),
            ),
            ("BITFIELD v SET u1 3 1 GET u1 3 GET i1 3", ints(&[0, 1, -1])),
            ("BITFIELD missing GET i64 4294967295", ints(&[0])),
            ("EXISTS missing", i(0)),
            ("BITFIELD k", ints(&[])),
            ("BITFIELD k GET x8 0", e(TYPE)),
            ("BITFIELD k GET u64 0", e(TYPE)),
            ("BITFIELD k GET i65 0", e(TYPE)),
            ("BITFIELD k GET i0 0", e(TYPE)),
            ("BITFIELD k GET i8 -1", e(OFF)),
            ("BITFIELD k SET u8 #536870912 1", e(OFF)),
            ("BITFIELD k GET i8 #x", e(OFF)),
            (
                "BITFIELD k OVERFLOW foo",
                e("ERR Invalid OVERFLOW type specified"),
            ),
            ("BITFIELD k GET u8", e(SYNTAX)),
            ("BITFIELD k FOO u8 0", e(SYNTAX)),
            ("BITFIELD k SET u8 0 x", e(NOT_INT)),
            (
                "BITFIELD_RO k SET u8 0 1",
                e("ERR BITFIELD_RO only supports the GET subcommand"),
            ),
            (
                "BITFIELD_RO k INCRBY u8 0 1",
                e("ERR BITFIELD_RO only supports the GET subcommand"),
            ),
            ("RPUSH l a", i(1)),
            ("BITFIELD l GET u8 0", e(WRONGTYPE)),
            ("BITFIELD l SET u8 0 1", e(WRONGTYPE)),
        ]);
    }

    #[test]
    fn bitfield_fail_still_creates_the_key_and_resp3_null() {
        let mut t = T::new();
        t.resp3();
        t.check(&[
            (
                "BITFIELD f OVERFLOW FAIL SET u2 0 7",
                arr(vec![Frame::Null]),
            ),
            ("STRLEN f", i(1)),
        ]);
    }
}
