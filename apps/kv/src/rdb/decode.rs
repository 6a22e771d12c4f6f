//! Reading: whole files ([`decode_into`]) and DUMP payloads ([`verify_payload`],
//! [`decode_payload`]). Every byte is untrusted: each length is checked against the bytes
//! left before anything is allocated for it, LZF output is bounded by what its input can
//! expand to, and malformed input is an [`RdbError`], never a panic.

use std::collections::VecDeque;

use super::crc64::crc64;
use super::format::*;
use super::{intset, listpack, lzf, ziplist};
use crate::db::Db;
use crate::keyspace::unix_seconds;
use crate::types::hash::Hash;
use crate::types::set::Set;
use crate::types::str::Str;
use crate::types::stream::Stream;
use crate::types::value::{Value, ZSet};

/// The most an LZF stream can expand per input byte (a 3-byte reference makes 264 bytes).
const LZF_MAX_RATIO: usize = 88;
/// The highest file version read (Redis 7.2's 11 also loads, save for its new types).
const MAX_READ_VERSION: u16 = 11;

/// A cursor over untrusted bytes.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

/// A length, or the special encoding of a string (`11xxxxxx`).
enum Len {
    Plain(u64),
    Encoded(u8),
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], RdbError> {
        let end = self.pos.checked_add(n).ok_or(RdbError::Format("length"))?;
        let s = self
            .bytes
            .get(self.pos..end)
            .ok_or(RdbError::Format("truncated"))?;
        self.pos = end;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8, RdbError> {
        Ok(self.take(1)?.first().copied().unwrap_or(0))
    }

    fn le(&mut self, n: usize) -> Result<u64, RdbError> {
        Ok(self
            .take(n)?
            .iter()
            .rev()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    fn be(&mut self, n: usize) -> Result<u64, RdbError> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    fn len_or_enc(&mut self) -> Result<Len, RdbError> {
        let b = self.byte()?;
        Ok(match b >> 6 {
            0 => Len::Plain(u64::from(b & 0x3f)),
            1 => Len::Plain((u64::from(b & 0x3f) << 8) | u64::from(self.byte()?)),
            3 => Len::Encoded(b & 0x3f),
            _ => match b {
                LEN_32 => Len::Plain(self.be(4)?),
                LEN_64 => Len::Plain(self.be(8)?),
                _ => return bad("length encoding"),
            },
        })
    }

    fn len(&mut self) -> Result<u64, RdbError> {
        match self.len_or_enc()? {
            Len::Plain(n) => Ok(n),
            Len::Encoded(_) => bad("encoded length where a plain one belongs"),
        }
    }

    /// A count of things that each take at least `min_bytes` of what is left: a larger
    /// count cannot be honest, and bounding it bounds what is allocated for it.
    fn count(&mut self, min_bytes: usize) -> Result<usize, RdbError> {
        let n = self.len()?;
        if n > (self.remaining() / min_bytes.max(1)) as u64 {
            return bad("count larger than the data");
        }
        Ok(n as usize)
    }

    /// A string, int-encoded ones in decimal, LZF ones decompressed.
    fn string(&mut self) -> Result<Vec<u8>, RdbError> {
        match self.len_or_enc()? {
            Len::Plain(n) => {
                let n = usize::try_from(n).map_err(|_| RdbError::Format("length"))?;
                Ok(self.take(n)?.to_vec())
            }
            Len::Encoded(ENC_INT8) => Ok(format_i64(i64::from(self.byte()? as i8))),
            Len::Encoded(ENC_INT16) => Ok(format_i64(i64::from(self.le(2)? as u16 as i16))),
            Len::Encoded(ENC_INT32) => Ok(format_i64(i64::from(self.le(4)? as u32 as i32))),
            Len::Encoded(ENC_LZF) => {
                let clen = self.len()? as usize;
                let ulen = self.len()? as usize;
                if clen > self.remaining()
                    || ulen > clen.saturating_mul(LZF_MAX_RATIO).saturating_add(64)
                {
                    return bad("LZF lengths");
                }
                let packed = self.take(clen)?;
                lzf::decompress(packed, ulen).ok_or(RdbError::Format("LZF data"))
            }
            Len::Encoded(_) => bad("string encoding"),
        }
    }
}

fn score(text: &[u8]) -> Result<f64, RdbError> {
    let v: f64 = std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(RdbError::Format("score"))?;
    if v.is_nan() {
        return bad("NaN score");
    }
    Ok(v)
}

fn list_of(items: impl IntoIterator<Item = Vec<u8>>) -> Value {
    Value::List(Box::new(
        items
            .into_iter()
            .map(|e| Str::new(&e))
            .collect::<VecDeque<_>>(),
    ))
}

fn set_of(items: impl IntoIterator<Item = Vec<u8>>) -> Result<Value, RdbError> {
    let mut set = Set::default();
    for m in items {
        if !set.insert(&m) {
            return bad("duplicate set member");
        }
    }
    Ok(Value::Set(Box::new(set)))
}

fn hash_of(pairs: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>) -> Result<Value, RdbError> {
    let mut h = Hash::default();
    for (f, v) in pairs {
        if h.insert(Str::new(&f), Str::new(&v)).is_some() {
            return bad("duplicate hash field");
        }
    }
    Ok(Value::Hash(Box::new(h)))
}

fn zset_of(pairs: impl IntoIterator<Item = (Vec<u8>, f64)>) -> Result<Value, RdbError> {
    let mut z = ZSet::new();
    for (m, s) in pairs {
        if !z.insert(Str::new(&m), s) {
            return bad("duplicate sorted set member");
        }
    }
    Ok(Value::ZSet(Box::new(z)))
}

/// Pairs up a flat list of entries (field, value, field, value…).
/// A field and its value.
type Pair = (Vec<u8>, Vec<u8>);

fn pairs(flat: Vec<Vec<u8>>) -> Result<Vec<Pair>, RdbError> {
    if !flat.len().is_multiple_of(2) {
        return bad("odd number of entries");
    }
    let mut out = Vec::with_capacity(flat.len() / 2);
    let mut it = flat.into_iter();
    while let (Some(a), Some(b)) = (it.next(), it.next()) {
        out.push((a, b));
    }
    Ok(out)
}

fn scored(flat: Vec<Vec<u8>>) -> Result<Vec<(Vec<u8>, f64)>, RdbError> {
    pairs(flat)?
        .into_iter()
        .map(|(m, s)| Ok((m, score(&s)?)))
        .collect()
}

fn listpack(blob: &[u8]) -> Result<Vec<Vec<u8>>, RdbError> {
    listpack::decode(blob).ok_or(RdbError::Format("listpack"))
}

fn ziplist(blob: &[u8]) -> Result<Vec<Vec<u8>>, RdbError> {
    ziplist::decode(blob).ok_or(RdbError::Format("ziplist"))
}

/// A key's expiry as the file gives it (signed ms, as Redis's loader reads it), as an
/// `expire_at` (0: none): -1 is Redis's "no expiry"; any other time up to the epoch has passed
/// (1 ms, which the loader then drops as expired, as Redis drops it). So no key reaches the
/// keyspace with an expiry past i64::MAX ms, which TTL's arithmetic could not take.
fn expire_at_of(ms: i64) -> u64 {
    match ms {
        -1 => 0,
        ..=0 => 1,
        ms => ms.unsigned_abs(),
    }
}

/// The value of object type `ty`; `None` for an empty collection (Redis skips those).
fn object(r: &mut Reader<'_>, ty: u8) -> Result<Option<Value>, RdbError> {
    let v = match ty {
        TYPE_STRING => Value::string(&r.string()?),
        TYPE_LIST => {
            let n = r.count(1)?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                items.push(r.string()?);
            }
            list_of(items)
        }
        TYPE_SET => {
            let n = r.count(1)?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                items.push(r.string()?);
            }
            set_of(items)?
        }
        TYPE_ZSET | TYPE_ZSET_2 => {
            let n = r.count(2)?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                let m = r.string()?;
                let s = if ty == TYPE_ZSET_2 {
                    let v = f64::from_le_bytes(r.le(8)?.to_le_bytes());
                    if v.is_nan() {
                        return bad("NaN score");
                    }
                    v
                } else {
                    match r.byte()? {
                        253 => return bad("NaN score"),
                        254 => f64::INFINITY,
                        255 => f64::NEG_INFINITY,
                        n => score(r.take(usize::from(n))?)?,
                    }
                };
                items.push((m, s));
            }
            zset_of(items)?
        }
        TYPE_HASH => {
            let n = r.count(2)?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                let f = r.string()?;
                items.push((f, r.string()?));
            }
            hash_of(items)?
        }
        TYPE_HASH_ZIPMAP => {
            let blob = r.string()?;
            hash_of(ziplist::decode_zipmap(&blob).ok_or(RdbError::Format("zipmap"))?)?
        }
        TYPE_LIST_ZIPLIST => list_of(ziplist(&r.string()?)?),
        TYPE_SET_INTSET => {
            let blob = r.string()?;
            let ints = intset::decode(&blob).ok_or(RdbError::Format("intset"))?;
            set_of(ints.into_iter().map(format_i64))?
        }
        TYPE_SET_LISTPACK => set_of(listpack(&r.string()?)?)?,
        TYPE_ZSET_ZIPLIST => zset_of(scored(ziplist(&r.string()?)?)?)?,
        TYPE_ZSET_LISTPACK => zset_of(scored(listpack(&r.string()?)?)?)?,
        TYPE_HASH_ZIPLIST => hash_of(pairs(ziplist(&r.string()?)?)?)?,
        TYPE_HASH_LISTPACK => hash_of(pairs(listpack(&r.string()?)?)?)?,
        TYPE_LIST_QUICKLIST | TYPE_LIST_QUICKLIST_2 => {
            let nodes = r.count(1)?;
            let mut items = Vec::new();
            for _ in 0..nodes {
                let container = if ty == TYPE_LIST_QUICKLIST {
                    CONTAINER_PACKED
                } else {
                    r.len()?
                };
                let blob = r.string()?;
                match (ty, container) {
                    (TYPE_LIST_QUICKLIST, _) => items.extend(ziplist(&blob)?),
                    (_, CONTAINER_PLAIN) => items.push(blob),
                    (_, CONTAINER_PACKED) => items.extend(listpack(&blob)?),
                    _ => return bad("quicklist container"),
                }
            }
            list_of(items)
        }
        TYPE_STREAM_LISTPACKS | TYPE_STREAM_LISTPACKS_2 | TYPE_STREAM_LISTPACKS_3 => {
            Value::Stream(Box::new(stream(r, ty)?))
        }
        _ => return bad("unsupported object type (module or unknown)"),
    };
    Ok((!v.is_empty_collection()).then_some(v))
}

/// A stream (`RDB_TYPE_STREAM_LISTPACKS`, `_2`, `_3`), loaded as Redis 7.0's `rdbLoadObject`
/// does: nodes, counters (estimated for the oldest type), groups and their PELs, each
/// consumer's pending id resolved against its group's PEL.
fn stream(r: &mut Reader<'_>, ty: u8) -> Result<Stream, RdbError> {
    use crate::types::stream::{Consumer, Group, StreamId};
    let id_of = |b: &[u8]| StreamId::from_be_bytes(b).map_or_else(|| bad("stream id"), Ok);
    let mut s = Stream::default();
    let nodes = r.count(2)?;
    for _ in 0..nodes {
        let master = id_of(&r.string()?)?;
        let blob = r.string()?;
        let items = listpack(&blob)?;
        super::stream::read_node(&mut s, master, &items)?;
    }
    s.length = r.len()?;
    s.last_id = StreamId::new(r.len()?, r.len()?);
    if ty == TYPE_STREAM_LISTPACKS {
        s.entries_added = s.length;
        s.first_id = s.edge_id(true, true);
    } else {
        s.first_id = StreamId::new(r.len()?, r.len()?);
        s.max_deleted = StreamId::new(r.len()?, r.len()?);
        s.entries_added = r.len()?;
    }
    let live: u64 = s.nodes().map(|(_, n)| u64::from(n.live)).sum();
    if live != s.length {
        return bad("stream length inconsistent with its nodes");
    }
    let groups = r.count(3)?;
    for _ in 0..groups {
        let name = r.string()?;
        let last = StreamId::new(r.len()?, r.len()?);
        let read = if ty == TYPE_STREAM_LISTPACKS {
            s.estimate_distance(last)
        } else {
            r.len()? as i64
        };
        let mut g = Group::new(last, read);
        let pel = r.count(17)?;
        for _ in 0..pel {
            let id = id_of(r.take(16)?)?;
            let delivery_time = r.le(8)?;
            let delivery_count = r.len()?;
            let nack = crate::types::stream::Nack {
                delivery_time,
                delivery_count,
                consumer: Str::default(),
            };
            if g.pel.insert(id, nack).is_some() {
                return bad("duplicated global PEL entry");
            }
        }
        let mut resolved = std::collections::BTreeSet::new();
        let consumers = r.count(10)?;
        for _ in 0..consumers {
            let cname = r.string()?;
            let seen_time = r.le(8)?;
            if ty == TYPE_STREAM_LISTPACKS_3 {
                r.le(8)?;
            }
            let mut c = Consumer {
                seen_time,
                ..Consumer::default()
            };
            let owned = r.count(16)?;
            for _ in 0..owned {
                let id = id_of(r.take(16)?)?;
                match g.pel.get_mut(&id) {
                    Some(n) if resolved.insert(id) => n.consumer = Str::new(&cname),
                    _ => return bad("consumer entry not found in group global PEL"),
                }
                c.pel.insert(id);
            }
            if g.consumers.insert(Str::new(&cname), c).is_some() {
                return bad("duplicate stream consumer");
            }
        }
        if resolved.len() != g.pel.len() {
            return bad("stream PEL entry without consumer");
        }
        if s.groups.insert(Str::new(&name), g).is_some() {
            return bad("duplicated consumer group name");
        }
    }
    Ok(s)
}

/// True if `payload` ends with an RDB version this store reads and a matching CRC64, as
/// Redis's `verifyDumpPayload` checks before RESTORE looks inside.
pub(crate) fn verify_payload(payload: &[u8]) -> bool {
    let Some(split) = payload.len().checked_sub(10) else {
        return false;
    };
    let (body, footer) = payload.split_at(split);
    let version = footer
        .get(0..2)
        .and_then(|v| v.try_into().ok())
        .map_or(u16::MAX, u16::from_le_bytes);
    let stored = footer.get(2..10).and_then(|c| c.try_into().ok());
    let mut covered = body.to_vec();
    covered.extend_from_slice(footer.get(0..2).unwrap_or_default());
    version <= RDB_VERSION && stored.map(u64::from_le_bytes) == Some(crc64(0, &covered))
}

/// A reader of a payload's body: what comes before its version and CRC64 footer.
fn payload_reader(payload: &[u8]) -> Reader<'_> {
    Reader {
        bytes: payload
            .get(..payload.len().saturating_sub(10))
            .unwrap_or_default(),
        pos: 0,
    }
}

/// The value in a DUMP payload (checked by [`verify_payload`] first): a type byte and one
/// object. `None` for an empty collection, which RESTORE refuses as Redis does.
pub(crate) fn decode_payload(payload: &[u8]) -> Result<Option<Value>, RdbError> {
    let mut r = payload_reader(payload);
    let ty = r.byte()?;
    object(&mut r, ty)
}

/// One library's code from a function record whose opcode was just read, as Redis's
/// `rdbFunctionLoad` reads it: FUNCTION2's code string, or the FUNCTION of 7.0's release
/// candidates (name, engine, an optional description, the body) made into the
/// `#!<engine> name=<name>` code it stands for. The error is Redis's text.
fn function_record(r: &mut Reader<'_>, op: u8) -> Result<Vec<u8>, &'static str> {
    if op == OP_FUNCTION2 {
        return r.string().map_err(|_| "Failed loading library payload");
    }
    let name = r.string().map_err(|_| "Failed loading library name")?;
    let engine = r.string().map_err(|_| "Failed loading engine name")?;
    let has_description = r
        .len()
        .map_err(|_| "Failed loading library description indicator")?;
    if has_description != 0 {
        r.string()
            .map_err(|_| "Failed loading library description")?;
    }
    let body = r.string().map_err(|_| "Failed loading library blob")?;
    let mut code = b"#!".to_vec();
    code.extend_from_slice(&engine);
    code.extend_from_slice(b" name=");
    code.extend_from_slice(&name);
    code.push(b'\n');
    code.extend_from_slice(&body);
    Ok(code)
}

/// The libraries' code in a FUNCTION DUMP payload (checked by [`verify_payload`] first): one
/// function record after another, as FUNCTION RESTORE reads them. The error is Redis's text.
pub(crate) fn decode_functions_payload(payload: &[u8]) -> Result<Vec<Vec<u8>>, &'static str> {
    let mut r = payload_reader(payload);
    let mut codes = Vec::new();
    while r.remaining() > 0 {
        let op = r.byte().map_err(|_| "can not read data type")?;
        if op != OP_FUNCTION && op != OP_FUNCTION2 {
            return Err("given type is not a function");
        }
        codes.push(function_record(&mut r, op)?);
    }
    Ok(codes)
}

/// What [`decode_into`] loaded.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Loaded {
    /// Keys added.
    pub(crate) keys: usize,
    /// Keys skipped because their expiry had passed (Redis drops them when loading).
    pub(crate) expired: usize,
}

/// Loads the RDB file `bytes` (versions 1 to 11) into `db`, which should be empty: keys whose
/// expiry is at or before `now_ms` are skipped, as a Redis master does. Reads every encoding
/// Redis 7.0 loads except modules; FUNCTION libraries' code goes to `db.libraries`, for the
/// caller to compile. A database index beyond `db`'s, a
/// key twice, or a wrong checksum is an error; on error `db` may hold part of the file, so
/// load into a fresh one and swap it in on success.
pub(crate) fn decode_into(db: &mut Db, bytes: &[u8], now_ms: u64) -> Result<Loaded, RdbError> {
    let mut r = Reader { bytes, pos: 0 };
    let header = r.take(9)?;
    let version: u16 = match header.split_at(5) {
        (b"REDIS", digits) => std::str::from_utf8(digits)
            .ok()
            .and_then(|d| d.parse().ok())
            .ok_or(RdbError::Format("version"))?,
        _ => return bad("not an RDB file"),
    };
    if version == 0 || version > MAX_READ_VERSION {
        return bad("unsupported RDB version");
    }
    let mut loaded = Loaded::default();
    let mut index = 0usize;
    let mut expire_at = 0u64;
    let now_s = unix_seconds(now_ms);
    loop {
        let op = r.byte()?;
        match op {
            OP_EXPIRETIME => {
                // rdbLoadTime: signed 32-bit seconds.
                let seconds = i64::from(r.le(4)? as u32 as i32);
                expire_at = expire_at_of(seconds.saturating_mul(1000));
                continue;
            }
            OP_EXPIRETIME_MS => {
                // rdbLoadMillisecondTime: signed 64-bit milliseconds.
                expire_at = expire_at_of(r.le(8)? as i64);
                continue;
            }
            OP_FREQ => {
                r.byte()?;
                continue;
            }
            OP_IDLE => {
                r.len()?;
                continue;
            }
            OP_EOF => break,
            OP_SELECTDB => {
                index = usize::try_from(r.len()?).unwrap_or(usize::MAX);
                if index >= db.spaces.len() {
                    return bad("database index out of range");
                }
                continue;
            }
            OP_RESIZEDB => {
                r.len()?;
                r.len()?;
                continue;
            }
            OP_AUX => {
                r.string()?;
                r.string()?;
                continue;
            }
            OP_FUNCTION | OP_FUNCTION2 => {
                let code = function_record(&mut r, op).map_err(RdbError::Format)?;
                db.libraries.push(bytes::Bytes::from(code));
                continue;
            }
            OP_MODULE_AUX => return bad("modules are not supported"),
            _ => {}
        }
        let key = r.string()?;
        let value = object(&mut r, op)?;
        let at = std::mem::take(&mut expire_at);
        let Some(value) = value else { continue };
        if at != 0 && at <= now_ms {
            loaded.expired += 1;
            continue;
        }
        let space = db.space(index);
        if space.get(&key).is_some() {
            return bad("duplicate key");
        }
        space.insert(&key, value, false, now_s);
        if at != 0 {
            space.set_expire_at(&key, at);
        }
        loaded.keys += 1;
    }
    if version >= 5 {
        let covered = bytes.get(..r.pos).unwrap_or_default();
        let stored = r.le(8)?;
        if stored != 0 && stored != crc64(0, covered) {
            return Err(RdbError::Checksum);
        }
    }
    Ok(loaded)
}
