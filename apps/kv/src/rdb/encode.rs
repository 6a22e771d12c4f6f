//! Writing: whole datasets ([`encode_dataset`]) and single values ([`dump`], DUMP's payload),
//! each type in the encoding Redis 7.0 chooses for it at the default size limits.

use std::io::Write;

use super::crc64::crc64;
use super::format::*;
pub(crate) use super::strings::{write_int, write_len, write_string};
use super::{intset, listpack};
use crate::config::REDIS_VERSION;
use crate::db::Db;
use crate::types::value::{canonical_int, Value};

/// Hashes and sorted sets up to this many entries are written as listpacks
/// (`hash-max-listpack-entries`, `zset-max-listpack-entries`).
const MAX_LISTPACK_ENTRIES: usize = 128;
/// …when no field, value or member is longer than this (`*-max-listpack-value`).
const MAX_LISTPACK_VALUE: usize = 64;
/// Sets of integers up to this many members are written as intsets (`set-max-intset-entries`).
const MAX_INTSET_ENTRIES: usize = 512;
/// A list's listpack nodes hold up to this many bytes (`list-max-listpack-size -2`).
const LIST_NODE_BYTES: usize = 8192;
/// What quicklist counts per element on top of its bytes when sizing a node.
const NODE_ENTRY_OVERHEAD: usize = 8;
/// A score as Redis 7.0's `d2string` writes it into a listpack: `inf`/`-inf`, integers below
/// 2^52 in decimal, anything else as C's `%.17g`.
fn score_text(score: f64) -> Vec<u8> {
    if score.is_infinite() {
        return if score > 0.0 {
            b"inf".to_vec()
        } else {
            b"-inf".to_vec()
        };
    }
    if score == 0.0 {
        return if score.is_sign_negative() {
            b"-0".to_vec()
        } else {
            b"0".to_vec()
        };
    }
    if score.fract() == 0.0 && score.abs() < 4_503_599_627_370_496.0 {
        return (score as i64).to_string().into_bytes();
    }
    format_g17(score).into_bytes()
}

/// C's `%.17g`: 17 significant digits, trailing zeros dropped, exponent form when the exponent
/// is below -4 or at least 17.
pub(crate) fn format_g17(v: f64) -> String {
    let sci = format!("{v:.16e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if !(-4..17).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa), exp.abs())
    } else {
        let decimals = (16 - exp).max(0) as usize;
        trim(&format!("{v:.decimals$}"))
    }
}

/// Appends `v`'s object body (without its type byte); returns the type byte.
pub(crate) fn write_value(out: &mut Vec<u8>, v: &Value) -> u8 {
    match v {
        Value::Str(s) => {
            write_string(out, s.as_bytes());
            TYPE_STRING
        }
        Value::Int(n) => {
            if !write_int(out, *n) {
                write_string(out, n.to_string().as_bytes());
            }
            TYPE_STRING
        }
        Value::List(list) => {
            let mut nodes = Vec::new();
            let mut lp = listpack::Builder::new();
            for e in list.iter() {
                if lp.count() > 0 && lp.len() + e.len() + NODE_ENTRY_OVERHEAD > LIST_NODE_BYTES {
                    nodes.push(std::mem::replace(&mut lp, listpack::Builder::new()).finish());
                }
                lp.push(e.as_bytes());
            }
            if lp.count() > 0 {
                nodes.push(lp.finish());
            }
            write_len(out, nodes.len() as u64);
            for node in &nodes {
                write_len(out, CONTAINER_PACKED);
                write_string(out, node);
            }
            TYPE_LIST_QUICKLIST_2
        }
        Value::Set(set) => {
            let ints: Option<Vec<i64>> = if set.len() <= MAX_INTSET_ENTRIES {
                set.iter().map(|m| canonical_int(m.as_bytes())).collect()
            } else {
                None
            };
            match ints {
                Some(mut ints) => {
                    write_string(out, &intset::encode(&mut ints));
                    TYPE_SET_INTSET
                }
                None => {
                    write_len(out, set.len() as u64);
                    for m in set.iter() {
                        write_string(out, m.as_bytes());
                    }
                    TYPE_SET
                }
            }
        }
        Value::Hash(h) => {
            let small = h.is_packed()
                && h.len() <= MAX_LISTPACK_ENTRIES
                && h.iter()
                    .all(|(f, v)| f.len() <= MAX_LISTPACK_VALUE && v.len() <= MAX_LISTPACK_VALUE);
            if small {
                let mut lp = listpack::Builder::new();
                for (f, v) in h.iter() {
                    lp.push(f);
                    lp.push(v);
                }
                write_string(out, &lp.finish());
                TYPE_HASH_LISTPACK
            } else {
                write_len(out, h.len() as u64);
                for (f, v) in h.iter() {
                    write_string(out, f);
                    write_string(out, v);
                }
                TYPE_HASH
            }
        }
        Value::Stream(s) => {
            super::stream::write(out, s);
            TYPE_STREAM_LISTPACKS_2
        }
        Value::ZSet(z) => {
            let small = z.len() <= MAX_LISTPACK_ENTRIES
                && z.iter().all(|(m, _)| m.len() <= MAX_LISTPACK_VALUE);
            if small {
                let mut lp = listpack::Builder::new();
                for (m, score) in z.iter() {
                    lp.push(m.as_bytes());
                    lp.push(&score_text(score));
                }
                write_string(out, &lp.finish());
                TYPE_ZSET_LISTPACK
            } else {
                // Redis writes a skiplist from its tail, so that loading inserts at the head.
                let all: Vec<_> = z.iter().collect();
                write_len(out, all.len() as u64);
                for (m, score) in all.iter().rev() {
                    write_string(out, m.as_bytes());
                    out.extend_from_slice(&score.to_le_bytes());
                }
                TYPE_ZSET_2
            }
        }
    }
}

/// DUMP's payload for `v`: type byte, object, RDB version (2 bytes, little-endian) and the
/// CRC64 of all that (8 bytes, little-endian), as Redis's `createDumpPayload`.
pub(crate) fn dump(v: &Value) -> Vec<u8> {
    let mut body = Vec::new();
    let ty = write_value(&mut body, v);
    let mut out = Vec::with_capacity(body.len() + 11);
    out.push(ty);
    out.extend_from_slice(&body);
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Writes each library's code as a FUNCTION2 record, as Redis 7.0's `rdbSaveFunctions` does
/// in a file and FUNCTION DUMP in its payload.
pub(crate) fn write_functions<'c>(out: &mut Vec<u8>, codes: impl IntoIterator<Item = &'c [u8]>) {
    for code in codes {
        out.push(OP_FUNCTION2);
        write_string(out, code);
    }
}

/// Buffers output, keeps the running CRC64, and hands full chunks to the writer.
struct Sink<'w, W: Write> {
    w: &'w mut W,
    buf: Vec<u8>,
    crc: u64,
}

impl<W: Write> Sink<'_, W> {
    fn flush(&mut self) -> std::io::Result<()> {
        self.crc = crc64(self.crc, &self.buf);
        self.w.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    fn flush_if_big(&mut self) -> std::io::Result<()> {
        if self.buf.len() >= 64 * 1024 {
            self.flush()?;
        }
        Ok(())
    }

    fn aux(&mut self, key: &str, value: &[u8]) {
        self.buf.push(OP_AUX);
        write_string(&mut self.buf, key.as_bytes());
        write_string(&mut self.buf, value);
    }
}

/// Writes the whole of `db` to `w` as an RDB version 10 file, as Redis 7.0's SAVE would: the
/// header, aux fields (`redis-ver`, `redis-bits`, `ctime`, `used-mem`, `aof-base`), the
/// FUNCTION libraries (`db.libraries`, a FUNCTION2 record each), for each
/// non-empty database SELECTDB and RESIZEDB then its keys (an expiry as EXPIRETIME_MS before
/// its key), EOF and the CRC64 of everything before it. `now_ms` (Unix milliseconds) is the
/// `ctime` recorded. Keys past their expiry that are still held are written as Redis does; a
/// loader drops them.
pub(crate) fn encode_dataset(db: &Db, now_ms: u64, w: &mut impl Write) -> Result<(), RdbError> {
    let mut sink = Sink {
        w,
        buf: Vec::with_capacity(64 * 1024),
        crc: 0,
    };
    sink.buf
        .extend_from_slice(format!("REDIS{RDB_VERSION:04}").as_bytes());
    sink.aux("redis-ver", REDIS_VERSION.as_bytes());
    sink.aux("redis-bits", b"64");
    sink.aux("ctime", (now_ms / 1000).to_string().as_bytes());
    sink.aux("used-mem", b"0");
    sink.aux("aof-base", b"0");
    write_functions(&mut sink.buf, db.libraries.iter().map(|c| &c[..]));
    sink.flush_if_big()?;
    for (index, space) in db.spaces.iter().enumerate() {
        if space.is_empty() {
            continue;
        }
        sink.buf.push(OP_SELECTDB);
        write_len(&mut sink.buf, index as u64);
        sink.buf.push(OP_RESIZEDB);
        write_len(&mut sink.buf, space.len() as u64);
        write_len(&mut sink.buf, space.volatile_len() as u64);
        for entry in space.iter() {
            if entry.expire_at != 0 {
                sink.buf.push(OP_EXPIRETIME_MS);
                sink.buf.extend_from_slice(&entry.expire_at.to_le_bytes());
            }
            let mut body = Vec::new();
            let ty = write_value(&mut body, &entry.value);
            sink.buf.push(ty);
            write_string(&mut sink.buf, entry.key.as_bytes());
            sink.buf.extend_from_slice(&body);
            sink.flush_if_big()?;
        }
    }
    sink.buf.push(OP_EOF);
    sink.flush()?;
    let crc = sink.crc;
    sink.w.write_all(&crc.to_le_bytes())?;
    Ok(())
}
