//! [`Stream`]: a stream value as Redis 7.0 keeps it — entries in nodes, consumer groups with
//! their pending entries lists.
//!
//! # Layout
//!
//! Entries live in *nodes* of at most 100 entries (`stream-node-max-entries`) and about 4 KiB
//! (`stream-node-max-bytes`), kept in a `BTreeMap` keyed by the node's *master id* (the id of
//! its first entry) — Redis's radix tree of listpacks. Inside a node, entries sit back to back
//! in one `Vec<u8>`:
//!
//! | part | encoding |
//! |---|---|
//! | flags | one byte: [`DELETED`], [`SAME_FIELDS`] |
//! | ms, seq | varints: the id's distance from the master id (seq zigzagged, as it may be smaller) |
//! | fields | only without `SAME_FIELDS`: varint count, then each name (varint length + bytes) |
//! | values | one per field: varint length + bytes |
//!
//! An entry whose field names equal the node's first entry's (the *master fields*) stores
//! only its values, as Redis's listpack "master entry" does; `XADD s * f v` costs about six
//! bytes. XDEL only flags an entry deleted; a node goes when its last live entry does.
//!
//! The node boundaries are Redis's own: a node also counts the bytes its listpack would take
//! in Redis (`lp_bytes`), so that a new node starts exactly where redis-server starts one.
//! Approximate trimming (`MAXLEN ~`) removes whole nodes, so its results match only if the
//! nodes do; the RDB nodes carry the same boundaries both ways.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use spindle_protocols::resp::ReplyWriter;

use super::str::Str;

/// Entry flag: deleted (a tombstone, skipped by readers).
pub(crate) const DELETED: u8 = 1;
/// Entry flag: its field names are the node's master fields.
pub(crate) const SAME_FIELDS: u8 = 2;

/// Redis's default `stream-node-max-bytes`.
pub(crate) const NODE_MAX_BYTES: usize = 4096;
/// Redis's default `stream-node-max-entries`.
pub(crate) const NODE_MAX_ENTRIES: usize = 100;
/// The largest total of field and value bytes one entry may have (`STREAM_LISTPACK_MAX_SIZE`).
pub(crate) const ENTRY_MAX_BYTES: usize = 1 << 30;

/// `entries_read` of a group whose counter is unknown (`SCG_INVALID_ENTRIES_READ`).
pub(crate) const INVALID_ENTRIES_READ: i64 = -1;

/// A stream entry id: milliseconds and sequence number, ordered as a 128-bit number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub(crate) struct StreamId {
    /// Milliseconds part.
    pub(crate) ms: u64,
    /// Sequence part.
    pub(crate) seq: u64,
}

impl StreamId {
    /// `0-0`.
    pub(crate) const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    /// The largest id.
    pub(crate) const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    /// An id.
    pub(crate) const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// The id after this one, `None` after the largest (`streamIncrID`).
    pub(crate) fn incr(self) -> Option<StreamId> {
        if self.seq < u64::MAX {
            Some(StreamId::new(self.ms, self.seq + 1))
        } else if self.ms < u64::MAX {
            Some(StreamId::new(self.ms + 1, 0))
        } else {
            None
        }
    }

    /// The id before this one, `None` before `0-0` (`streamDecrID`).
    pub(crate) fn decr(self) -> Option<StreamId> {
        if self.seq > 0 {
            Some(StreamId::new(self.ms, self.seq - 1))
        } else if self.ms > 0 {
            Some(StreamId::new(self.ms - 1, u64::MAX))
        } else {
            None
        }
    }

    /// True for `0-0`.
    pub(crate) fn is_zero(self) -> bool {
        self == StreamId::MIN
    }

    /// `<ms>-<seq>`.
    pub(crate) fn text(self) -> String {
        format!("{}-{}", self.ms, self.seq)
    }

    /// The 16 big-endian bytes Redis keys its radix trees and RDB nodes with.
    pub(crate) fn to_be_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        let (hi, lo) = b.split_at_mut(8);
        hi.copy_from_slice(&self.ms.to_be_bytes());
        lo.copy_from_slice(&self.seq.to_be_bytes());
        b
    }

    /// The id of 16 big-endian bytes; `None` for another length.
    pub(crate) fn from_be_bytes(b: &[u8]) -> Option<StreamId> {
        let ms = u64::from_be_bytes(b.get(..8)?.try_into().ok()?);
        let seq = u64::from_be_bytes(b.get(8..16)?.try_into().ok()?);
        (b.len() == 16).then_some(StreamId::new(ms, seq))
    }
}

/// What a parsed id argument said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ParsedId {
    /// The id (with `missing_seq` where only the milliseconds were given).
    pub(crate) id: StreamId,
    /// False for XADD's `<ms>-*` form (the sequence is to be made).
    pub(crate) seq_given: bool,
}

/// Parses an id argument as Redis's `streamGenericParseIDOrReply`: `-` and `+` (refused when
/// `strict`), `<ms>`, `<ms>-<seq>`, and with `seq_star` the `<ms>-*` form; each number read as
/// `string2ull` does (C's `strtoull` for what is not canonical). `None`: invalid.
pub(crate) fn parse_id(
    arg: &[u8],
    missing_seq: u64,
    strict: bool,
    seq_star: bool,
) -> Option<ParsedId> {
    if arg.len() > 127 {
        return None;
    }
    // The argument is a C string to Redis: it ends at a NUL.
    let s = match arg.iter().position(|&b| b == 0) {
        Some(n) => arg.get(..n)?,
        None => arg,
    };
    if strict && (s == b"-" || s == b"+") {
        return None;
    }
    if s == b"-" {
        return Some(ParsedId {
            id: StreamId::MIN,
            seq_given: true,
        });
    }
    if s == b"+" {
        return Some(ParsedId {
            id: StreamId::MAX,
            seq_given: true,
        });
    }
    let (ms_part, seq_part) = match s.iter().position(|&b| b == b'-') {
        Some(n) => (s.get(..n)?, Some(s.get(n + 1..)?)),
        None => (s, None),
    };
    let ms = string_to_u64(ms_part)?;
    let (seq, seq_given) = match seq_part {
        Some(b"*") if seq_star => (0, false),
        Some(p) => (string_to_u64(p)?, true),
        None => (missing_seq, true),
    };
    Some(ParsedId {
        id: StreamId::new(ms, seq),
        seq_given,
    })
}

/// Redis's `string2ull`: a canonical non-negative integer, else whatever C's `strtoull` reads
/// in base 10 from the whole string (leading spaces and a sign allowed, a minus wrapping
/// around), failing on overflow.
fn string_to_u64(s: &[u8]) -> Option<u64> {
    let mut rest = s;
    while let Some((c, tail)) = rest.split_first() {
        if matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
            rest = tail;
        } else {
            break;
        }
    }
    let (neg, digits) = match rest.split_first() {
        Some((b'-', tail)) => (true, tail),
        Some((b'+', tail)) => (false, tail),
        _ => (false, rest),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut n: u64 = 0;
    for d in digits {
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(if neg { n.wrapping_neg() } else { n })
}

// ---- Redis listpack sizes, to start nodes where Redis does ----

/// Listpack's `lpStringToInt64`: the string is the canonical decimal form of an i64.
fn lp_int(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        let v = i64::from(d - b'0');
        n = n.checked_mul(10)?;
        n = if neg {
            n.checked_sub(v)?
        } else {
            n.checked_add(v)?
        };
    }
    Some(n)
}

/// Bytes of a listpack element's back-length for an encoding of `l` bytes.
fn lp_backlen(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2_097_150 => 3,
        2_097_151..=268_435_454 => 4,
        _ => 5,
    }
}

/// Bytes a listpack takes for the integer `v`.
pub(crate) fn lp_int_size(v: i64) -> usize {
    let enc = match v {
        0..=127 => 1,
        -4096..=4095 => 2,
        -32768..=32767 => 3,
        -8_388_608..=8_388_607 => 4,
        -2_147_483_648..=2_147_483_647 => 5,
        _ => 9,
    };
    enc + lp_backlen(enc)
}

/// Bytes a listpack takes for the string `s` (an integer's canonical form is stored as one).
pub(crate) fn lp_str_size(s: &[u8]) -> usize {
    if let Some(v) = lp_int(s) {
        return lp_int_size(v);
    }
    let enc = match s.len() {
        0..=63 => 1 + s.len(),
        64..=4095 => 2 + s.len(),
        _ => 5 + s.len(),
    };
    enc + lp_backlen(enc)
}

// ---- varints ----

fn put_varint(buf: &mut Vec<u8>, mut n: u64) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            buf.push(byte);
            return;
        }
        buf.push(byte | 0x80);
    }
}

fn get_varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut n = 0u64;
    let mut shift = 0;
    loop {
        let b = *buf.get(*pos)?;
        *pos += 1;
        n |= u64::from(b & 0x7f).checked_shl(shift)?;
        if b & 0x80 == 0 {
            return Some(n);
        }
        shift += 7;
    }
}

fn put_bytes(buf: &mut Vec<u8>, s: &[u8]) {
    put_varint(buf, s.len() as u64);
    buf.extend_from_slice(s);
}

fn get_bytes<'a>(buf: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let n = usize::try_from(get_varint(buf, pos)?).ok()?;
    let s = buf.get(*pos..pos.checked_add(n)?)?;
    *pos += n;
    Some(s)
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// One node: the entries from its master id up to the next node's.
#[derive(Debug, Clone, Default)]
pub(crate) struct Node {
    /// The field names of the node's first entry.
    master_fields: Box<[Str]>,
    /// The entries, encoded as the module docs say.
    data: Vec<u8>,
    /// Entries not deleted.
    pub(crate) live: u32,
    /// Entries flagged deleted.
    pub(crate) deleted: u32,
    /// Bytes Redis's listpack for this node would take, but for its two counters.
    lp_bytes: u32,
}

/// An entry's field/value pairs, borrowed from its node.
pub(crate) type Pairs<'a> = Vec<(&'a [u8], &'a [u8])>;

/// An entry as loaded: flags, id, pairs.
pub(crate) type LoadedEntry<'a> = (u8, StreamId, Pairs<'a>);

/// One entry of a node, as read.
#[derive(Debug, Clone)]
pub(crate) struct RawEntry<'a> {
    /// Where its flags byte is in the node.
    pos: usize,
    /// Its flags.
    pub(crate) flags: u8,
    /// Its id.
    pub(crate) id: StreamId,
    /// Its field/value pairs.
    pub(crate) pairs: Vec<(&'a [u8], &'a [u8])>,
}

impl Node {
    fn new(fields: &[&[u8]]) -> Node {
        // Header (6), end byte (1), master field count, names, the zero terminator.
        let lp = 7
            + lp_int_size(fields.len() as i64)
            + fields.iter().map(|f| lp_str_size(f)).sum::<usize>()
            + lp_int_size(0);
        Node {
            master_fields: fields.iter().map(|f| Str::new(f)).collect(),
            data: Vec::new(),
            live: 0,
            deleted: 0,
            lp_bytes: lp as u32,
        }
    }

    /// Bytes Redis's listpack for this node takes.
    pub(crate) fn lp_bytes(&self) -> usize {
        self.lp_bytes as usize
            + lp_int_size(i64::from(self.live))
            + lp_int_size(i64::from(self.deleted))
    }

    /// The master field names.
    pub(crate) fn master_fields(&self) -> impl Iterator<Item = &[u8]> {
        self.master_fields.iter().map(|s| s.as_bytes())
    }

    /// Appends an entry (flags given: a loaded node keeps its tombstones).
    fn push(&mut self, master: StreamId, id: StreamId, flags: u8, pairs: &[(&[u8], &[u8])]) {
        let same = pairs.len() == self.master_fields.len()
            && pairs
                .iter()
                .zip(self.master_fields.iter())
                .all(|((f, _), m)| *f == m.as_bytes());
        let flags = (flags & DELETED) | if same { SAME_FIELDS } else { 0 };
        let ms = id.ms.wrapping_sub(master.ms);
        let seq = id.seq.wrapping_sub(master.seq) as i64;
        self.data.push(flags);
        put_varint(&mut self.data, ms);
        put_varint(&mut self.data, zigzag(seq));
        let mut lp = lp_int_size(i64::from(flags)) + lp_int_size(ms as i64) + lp_int_size(seq);
        let mut lp_count = pairs.len() + 3;
        if !same {
            put_varint(&mut self.data, pairs.len() as u64);
            lp += lp_int_size(pairs.len() as i64);
            lp_count += pairs.len() + 1;
            for (f, _) in pairs {
                put_bytes(&mut self.data, f);
                lp += lp_str_size(f);
            }
        }
        for (_, v) in pairs {
            put_bytes(&mut self.data, v);
            lp += lp_str_size(v);
        }
        lp += lp_int_size(lp_count as i64);
        self.lp_bytes = self.lp_bytes.saturating_add(lp as u32);
        if flags & DELETED != 0 {
            self.deleted += 1;
        } else {
            self.live += 1;
        }
    }

    /// The entry whose flags byte is at `pos`, and the position after it.
    fn entry_at(&self, master: StreamId, pos: usize) -> Option<(RawEntry<'_>, usize)> {
        let data = &self.data;
        let mut p = pos;
        let flags = *data.get(p)?;
        p += 1;
        let ms = master.ms.wrapping_add(get_varint(data, &mut p)?);
        let seq = master
            .seq
            .wrapping_add(unzigzag(get_varint(data, &mut p)?) as u64);
        let mut pairs = Vec::new();
        if flags & SAME_FIELDS != 0 {
            for f in self.master_fields.iter() {
                pairs.push((f.as_bytes(), get_bytes(data, &mut p)?));
            }
        } else {
            let n = usize::try_from(get_varint(data, &mut p)?).ok()?;
            let mut names = Vec::with_capacity(n.min(1024));
            for _ in 0..n {
                names.push(get_bytes(data, &mut p)?);
            }
            for f in names {
                pairs.push((f, get_bytes(data, &mut p)?));
            }
        }
        Some((
            RawEntry {
                pos,
                flags,
                id: StreamId::new(ms, seq),
                pairs,
            },
            p,
        ))
    }

    /// Every entry of the node, tombstones included, in order.
    pub(crate) fn entries(&self, master: StreamId) -> Vec<RawEntry<'_>> {
        let mut out = Vec::with_capacity((self.live + self.deleted) as usize);
        let mut pos = 0;
        while pos < self.data.len() {
            match self.entry_at(master, pos) {
                Some((e, next)) => {
                    out.push(e);
                    pos = next;
                }
                None => break,
            }
        }
        out
    }

    /// Flags the entry at `pos` deleted.
    fn mark_deleted(&mut self, pos: usize) {
        if let Some(f) = self.data.get_mut(pos) {
            if *f & DELETED == 0 {
                *f |= DELETED;
                self.live = self.live.saturating_sub(1);
                self.deleted += 1;
            }
        }
    }

    /// Bytes on the heap.
    fn heap_size(&self) -> usize {
        self.data.capacity()
            + self
                .master_fields
                .iter()
                .map(|s| std::mem::size_of::<Str>() + s.heap_size())
                .sum::<usize>()
    }
}

/// An entry in a group's pending entries list: delivered, not yet acknowledged.
#[derive(Debug, Clone)]
pub(crate) struct Nack {
    /// When it was last delivered (unix ms).
    pub(crate) delivery_time: u64,
    /// How many times it was delivered.
    pub(crate) delivery_count: u64,
    /// The consumer it was delivered to.
    pub(crate) consumer: Str,
}

impl Nack {
    /// Counts one more delivery. The count may come from a restored payload at `u64::MAX`;
    /// it wraps to 0 as Redis's `uint64_t` `delivery_count++` does.
    pub(crate) fn count_delivery(&mut self) {
        self.delivery_count = self.delivery_count.wrapping_add(1);
    }
}

/// Milliseconds from `since` to `now`, 0 if `since` is later (XPENDING's and XINFO's idle
/// times, XCLAIM's min-idle-time): Redis clamps a negative idle time to 0. A restored
/// payload may carry any `since`, so no `i64` subtraction, which overflows past `i64::MAX`.
pub(crate) fn idle_ms(now: u64, since: u64) -> i64 {
    i64::try_from(now.saturating_sub(since)).unwrap_or(i64::MAX)
}

/// A consumer of a group.
#[derive(Debug, Clone, Default)]
pub(crate) struct Consumer {
    /// When it last read or claimed (unix ms).
    pub(crate) seen_time: u64,
    /// The ids pending for it (their [`Nack`]s are in the group's PEL).
    pub(crate) pel: BTreeSet<StreamId>,
}

/// A consumer group.
#[derive(Debug, Clone, Default)]
pub(crate) struct Group {
    /// The last id delivered to the group.
    pub(crate) last_id: StreamId,
    /// How many entries the group read ([`INVALID_ENTRIES_READ`]: unknown).
    pub(crate) entries_read: i64,
    /// Pending entries, by id.
    pub(crate) pel: BTreeMap<StreamId, Nack>,
    /// Consumers, by name.
    pub(crate) consumers: BTreeMap<Str, Consumer>,
}

impl Group {
    /// A group delivering after `last_id`.
    pub(crate) fn new(last_id: StreamId, entries_read: i64) -> Group {
        Group {
            last_id,
            entries_read,
            ..Group::default()
        }
    }

    /// Removes `id` from the PEL and its consumer's; true if it was pending.
    pub(crate) fn ack(&mut self, id: StreamId) -> bool {
        match self.pel.remove(&id) {
            Some(nack) => {
                if let Some(c) = self.consumers.get_mut(nack.consumer.as_bytes()) {
                    c.pel.remove(&id);
                }
                true
            }
            None => false,
        }
    }

    /// Gives pending `id` to `consumer` (which exists), leaving delivery time and count to
    /// the caller. Creates the NACK if missing.
    pub(crate) fn assign(&mut self, id: StreamId, consumer: &[u8], now: u64) -> &mut Nack {
        let nack = self.pel.entry(id).or_insert_with(|| Nack {
            delivery_time: now,
            delivery_count: 0,
            consumer: Str::new(consumer),
        });
        if nack.consumer.as_bytes() != consumer {
            if let Some(c) = self.consumers.get_mut(nack.consumer.as_bytes()) {
                c.pel.remove(&id);
            }
            nack.consumer = Str::new(consumer);
        }
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pel.insert(id);
        }
        nack
    }

    /// The consumer `name`, made if missing (seen now either way); true if it was made.
    pub(crate) fn consumer(&mut self, name: &[u8], now: u64) -> bool {
        match self.consumers.get_mut(name) {
            Some(c) => {
                c.seen_time = now;
                false
            }
            None => {
                self.consumers.insert(
                    Str::new(name),
                    Consumer {
                        seen_time: now,
                        pel: BTreeSet::new(),
                    },
                );
                true
            }
        }
    }

    /// Deletes consumer `name` and its pending entries; how many it had, `None` if missing.
    pub(crate) fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let c = self.consumers.remove(name)?;
        for id in &c.pel {
            self.pel.remove(id);
        }
        Some(c.pel.len())
    }
}

/// How XADD and XTRIM trim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trim {
    /// Keep at most this many entries.
    MaxLen(u64),
    /// Keep no entry below this id.
    MinId(StreamId),
}

/// A stream.
#[derive(Debug, Clone, Default)]
pub(crate) struct Stream {
    /// The nodes, by master id.
    nodes: BTreeMap<StreamId, Node>,
    /// Live entries.
    pub(crate) length: u64,
    /// The last id ever added (or set by XSETID).
    pub(crate) last_id: StreamId,
    /// The first live entry's id, as Redis records it (`recorded-first-entry-id`).
    pub(crate) first_id: StreamId,
    /// The largest id ever deleted (`max-deleted-entry-id`).
    pub(crate) max_deleted: StreamId,
    /// Entries ever added.
    pub(crate) entries_added: u64,
    /// Consumer groups, by name.
    pub(crate) groups: BTreeMap<Str, Group>,
}

impl Stream {
    /// The nodes in order, with their master ids.
    pub(crate) fn nodes(&self) -> impl DoubleEndedIterator<Item = (&StreamId, &Node)> {
        self.nodes.iter()
    }

    /// The id `*` makes at `now_ms` (`streamNextID`).
    pub(crate) fn next_id(&self, now_ms: u64) -> Option<StreamId> {
        if self.last_id.ms < now_ms {
            Some(StreamId::new(now_ms, 0))
        } else {
            self.last_id.incr()
        }
    }

    /// Appends an entry with `id` (the caller checked it is above `last_id`), starting a new
    /// node where Redis would with these node limits (0: none).
    pub(crate) fn append(
        &mut self,
        id: StreamId,
        pairs: &[(&[u8], &[u8])],
        max_bytes: usize,
        max_entries: usize,
    ) {
        let total: usize = pairs.iter().map(|(f, v)| f.len() + v.len()).sum();
        let max_bytes = if max_bytes == 0 || max_bytes > ENTRY_MAX_BYTES {
            ENTRY_MAX_BYTES
        } else {
            max_bytes
        };
        let fits = self.nodes.last_key_value().is_some_and(|(_, n)| {
            n.lp_bytes() + total < max_bytes
                && (max_entries == 0 || ((n.live + n.deleted) as usize) < max_entries)
        });
        if !fits {
            if let Some(mut last) = self.nodes.last_entry() {
                last.get_mut().data.shrink_to_fit();
            }
            let names: Vec<&[u8]> = pairs.iter().map(|(f, _)| *f).collect();
            self.nodes.insert(id, Node::new(&names));
        }
        if let Some(mut last) = self.nodes.last_entry() {
            let master = *last.key();
            last.get_mut().push(master, id, 0, pairs);
        }
        self.length += 1;
        self.entries_added += 1;
        self.last_id = id;
        if self.length == 1 {
            self.first_id = id;
        }
    }

    /// Adds a node as loaded (RDB): its master id, master fields, and entries with their
    /// flags, in order. False if the entries are not in order or the node is empty.
    pub(crate) fn push_node(
        &mut self,
        master: StreamId,
        master_fields: &[&[u8]],
        entries: &[LoadedEntry<'_>],
    ) -> bool {
        if self
            .nodes
            .last_key_value()
            .is_some_and(|(k, _)| *k >= master)
        {
            return false;
        }
        let mut node = Node::new(master_fields);
        let mut prev: Option<StreamId> = None;
        for (flags, id, pairs) in entries {
            if *id < master || prev.is_some_and(|p| p >= *id) {
                return false;
            }
            prev = Some(*id);
            node.push(master, *id, *flags, pairs);
        }
        if node.live == 0 {
            // Redis never keeps a node without live entries… but for trimming's leftovers;
            // accept it as Redis's loader does.
            if node.deleted == 0 {
                return false;
            }
        }
        node.data.shrink_to_fit();
        self.nodes.insert(master, node);
        true
    }

    /// Visits entries from `start` to `end` (inclusive), forward or in reverse, tombstones
    /// skipped unless `tombstones`; `f` returns false to stop.
    pub(crate) fn scan<'a>(
        &'a self,
        start: StreamId,
        end: StreamId,
        rev: bool,
        tombstones: bool,
        mut f: impl FnMut(&RawEntry<'a>) -> bool,
    ) {
        if start > end {
            return;
        }
        if !rev {
            let from = self
                .nodes
                .range(..=start)
                .next_back()
                .map_or(StreamId::MIN, |(k, _)| *k);
            for (master, node) in self.nodes.range(from..) {
                if *master > end {
                    return;
                }
                let mut pos = 0;
                while let Some((e, next)) = node.entry_at(*master, pos) {
                    pos = next;
                    if e.id > end {
                        return;
                    }
                    if e.id < start || (!tombstones && e.flags & DELETED != 0) {
                        continue;
                    }
                    if !f(&e) {
                        return;
                    }
                }
            }
        } else {
            for (master, node) in self.nodes.range(..=end).rev() {
                for e in node.entries(*master).iter().rev() {
                    if e.id < start {
                        return;
                    }
                    if e.id > end || (!tombstones && e.flags & DELETED != 0) {
                        continue;
                    }
                    if !f(e) {
                        return;
                    }
                }
            }
        }
    }

    /// Up to `count` (0: all) live entries from `start` to `end`, as id and pairs.
    pub(crate) fn range(
        &self,
        start: StreamId,
        end: StreamId,
        rev: bool,
        count: usize,
    ) -> Vec<(StreamId, Pairs<'_>)> {
        let mut out = Vec::new();
        self.scan(start, end, rev, false, |e| {
            out.push((e.id, e.pairs.clone()));
            count == 0 || out.len() < count
        });
        out
    }

    /// The live entry `id`, if there is one.
    pub(crate) fn get(&self, id: StreamId) -> Option<Vec<(&[u8], &[u8])>> {
        self.range(id, id, false, 1).pop().map(|(_, p)| p)
    }

    /// True if `id` is a live entry.
    pub(crate) fn exists(&self, id: StreamId) -> bool {
        self.get(id).is_some()
    }

    /// The first (or last) entry's id, tombstones counted or not; with no entry, the largest
    /// id for `first` and `0-0` for the last (`streamGetEdgeID`).
    pub(crate) fn edge_id(&self, first: bool, skip_tombstones: bool) -> StreamId {
        let mut found = None;
        self.scan(
            StreamId::MIN,
            StreamId::MAX,
            !first,
            !skip_tombstones,
            |e| {
                found = Some(e.id);
                false
            },
        );
        found.unwrap_or(if first { StreamId::MAX } else { StreamId::MIN })
    }

    /// The last live entry's id (`streamLastValidID`), `0-0` if none.
    pub(crate) fn last_valid_id(&self) -> StreamId {
        self.edge_id(false, true)
    }

    /// Deletes the live entry `id` (XDEL); true if it was there. Keeps `length`,
    /// `first_id` and `max_deleted` as Redis does.
    pub(crate) fn delete(&mut self, id: StreamId) -> bool {
        let Some((master, node)) = self.nodes.range_mut(..=id).next_back() else {
            return false;
        };
        let master = *master;
        let mut found = None;
        let mut pos = 0;
        while let Some((e, next)) = node.entry_at(master, pos) {
            pos = next;
            if e.id == id && e.flags & DELETED == 0 {
                found = Some(e.pos);
                break;
            }
            if e.id >= id {
                break;
            }
        }
        let Some(pos) = found else {
            return false;
        };
        if node.live == 1 {
            self.nodes.remove(&master);
        } else {
            node.mark_deleted(pos);
        }
        self.length -= 1;
        true
    }

    /// Trims from the oldest end as Redis's `streamTrim`: whole nodes first; with `approx`
    /// only whole nodes; `limit` (0: none) bounds the entries removed. Returns how many.
    pub(crate) fn trim(&mut self, how: Trim, approx: bool, limit: u64) -> u64 {
        let mut deleted = 0u64;
        loop {
            if let Trim::MaxLen(max) = how {
                if self.length <= max {
                    break;
                }
            }
            let Some(mut first) = self.nodes.first_entry() else {
                break;
            };
            let master = *first.key();
            let entries = u64::from(first.get().live);
            if limit > 0 && deleted + entries > limit {
                break;
            }
            let remove = match how {
                Trim::MaxLen(max) => self.length - entries >= max,
                Trim::MinId(min) => {
                    let last = first.get().entries(master).last().map(|e| e.id);
                    last.is_some_and(|l| l < min)
                }
            };
            if remove {
                first.remove();
                self.length -= entries;
                deleted += entries;
                continue;
            }
            if approx {
                break;
            }
            let node = first.get_mut();
            let marks: Vec<(usize, bool, StreamId)> = node
                .entries(master)
                .iter()
                .map(|e| (e.pos, e.flags & DELETED != 0, e.id))
                .collect();
            for (pos, was_deleted, id) in marks {
                let stop = match how {
                    Trim::MaxLen(max) => self.length <= max,
                    Trim::MinId(min) => id >= min,
                };
                if stop {
                    break;
                }
                if !was_deleted {
                    node.mark_deleted(pos);
                    self.length -= 1;
                    deleted += 1;
                }
            }
            break;
        }
        if self.length == 0 {
            self.first_id = StreamId::MIN;
        } else if deleted > 0 {
            self.first_id = self.edge_id(true, true);
        }
        deleted
    }

    /// True if a tombstone may lie between `start` and `end` (`streamRangeHasTombstones`).
    pub(crate) fn range_has_tombstones(&self, start: StreamId, end: StreamId) -> bool {
        if self.length == 0 || self.max_deleted.is_zero() || self.first_id > self.max_deleted {
            return false;
        }
        start <= self.max_deleted && self.max_deleted <= end
    }

    /// How many entries were added up to `id` (`streamEstimateDistanceFromFirstEverEntry`),
    /// [`INVALID_ENTRIES_READ`] when that cannot be known.
    pub(crate) fn estimate_distance(&self, id: StreamId) -> i64 {
        let added = self.entries_added as i64;
        if self.entries_added == 0 {
            return 0;
        }
        if self.length == 0 && id <= self.last_id {
            return added;
        }
        if id == self.last_id {
            return added;
        } else if id > self.last_id {
            return INVALID_ENTRIES_READ;
        }
        if self.max_deleted.is_zero() || self.max_deleted < self.first_id {
            // As Redis's `long long` arithmetic, wrapping: a restored payload may hold any
            // counts.
            if id < self.first_id {
                return added.wrapping_sub(self.length as i64);
            } else if id == self.first_id {
                return added.wrapping_sub(self.length as i64).wrapping_add(1);
            }
        }
        INVALID_ENTRIES_READ
    }

    /// A group's lag (`streamReplyWithCGLag`): `None` when it cannot be known.
    pub(crate) fn lag(&self, g: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if g.entries_read != INVALID_ENTRIES_READ
            && !self.range_has_tombstones(g.last_id, StreamId::MAX)
        {
            return Some((self.entries_added as i64).wrapping_sub(g.entries_read));
        }
        let read = self.estimate_distance(g.last_id);
        (read != INVALID_ENTRIES_READ).then(|| (self.entries_added as i64).wrapping_sub(read))
    }

    /// Moves `group`'s last id to `id` (delivered now), counting the read as Redis does.
    pub(crate) fn advance_group(&mut self, group: &[u8], id: StreamId) {
        let tombstones = self.range_has_tombstones(id, StreamId::MAX);
        let estimate = self.estimate_distance(id);
        let added = self.entries_added;
        if let Some(g) = self.groups.get_mut(group) {
            if id > g.last_id {
                if g.entries_read != INVALID_ENTRIES_READ && !tombstones {
                    g.entries_read += 1;
                } else if added > 0 {
                    g.entries_read = estimate;
                }
                g.last_id = id;
            }
        }
    }

    /// Radix tree keys and nodes, as XINFO STREAM reports them (`raxSize`, `numnodes`):
    /// the nodes of a radix tree over the 16-byte big-endian master ids.
    pub(crate) fn rax_counts(&self) -> (usize, usize) {
        let keys: Vec<[u8; 16]> = self.nodes.keys().map(|k| k.to_be_bytes()).collect();
        if keys.is_empty() {
            return (0, 1);
        }
        (keys.len(), rax_nodes(&keys, 0))
    }

    /// Bytes on the heap (MEMORY USAGE's estimate).
    pub(crate) fn heap_size(&self) -> usize {
        let nodes: usize = self.nodes.values().map(|n| n.heap_size() + 80).sum();
        let groups: usize = self
            .groups
            .values()
            .map(|g| {
                64 + g.pel.len() * 80
                    + g.consumers
                        .values()
                        .map(|c| 64 + c.pel.len() * 24)
                        .sum::<usize>()
            })
            .sum();
        nodes + groups + 64
    }
}

/// Writes one entry as Redis replies it: `[id, [field, value, …]]`.
pub(crate) fn write_entry(out: &mut ReplyWriter<'_>, id: StreamId, pairs: &[(&[u8], &[u8])]) {
    out.array_len(2);
    out.bulk(id.text().as_bytes());
    out.array_len(pairs.len() * 2);
    for (f, v) in pairs {
        out.bulk(f);
        out.bulk(v);
    }
}

/// A consumer group read (XREADGROUP, or a blocked one served): who reads, how.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GroupRead<'a> {
    /// The stream's key (for the propagated commands).
    pub(crate) key: &'a [u8],
    /// The group.
    pub(crate) group: &'a [u8],
    /// The consumer (it exists: the caller made it).
    pub(crate) consumer: &'a [u8],
    /// Deliver without adding to the PEL.
    pub(crate) noack: bool,
    /// At most this many entries (0: all).
    pub(crate) count: usize,
    /// The time, unix ms.
    pub(crate) now: u64,
}

fn b(s: &[u8]) -> Bytes {
    Bytes::copy_from_slice(s)
}

/// The XCLAIM that gives `id` to its NACK's consumer on a replica (`streamPropagateXCLAIM`).
pub(crate) fn xclaim_argv(
    key: &[u8],
    group: &[u8],
    id: &[u8],
    nack: &Nack,
    last_id: StreamId,
) -> Vec<Bytes> {
    vec![
        Bytes::from_static(b"XCLAIM"),
        b(key),
        b(group),
        b(nack.consumer.as_bytes()),
        Bytes::from_static(b"0"),
        b(id),
        Bytes::from_static(b"TIME"),
        Bytes::from(nack.delivery_time.to_string()),
        Bytes::from_static(b"RETRYCOUNT"),
        Bytes::from(nack.delivery_count.to_string()),
        Bytes::from_static(b"FORCE"),
        Bytes::from_static(b"JUSTID"),
        Bytes::from_static(b"LASTID"),
        Bytes::from(last_id.text()),
    ]
}

/// `XGROUP SETID key group <last id> ENTRIESREAD <n>` (`streamPropagateGroupID`).
pub(crate) fn setid_argv(key: &[u8], group: &[u8], g: &Group) -> Vec<Bytes> {
    vec![
        Bytes::from_static(b"XGROUP"),
        Bytes::from_static(b"SETID"),
        b(key),
        b(group),
        Bytes::from(g.last_id.text()),
        Bytes::from_static(b"ENTRIESREAD"),
        Bytes::from(g.entries_read.to_string()),
    ]
}

/// `XGROUP CREATECONSUMER key group consumer` (`streamPropagateConsumerCreation`).
pub(crate) fn createconsumer_argv(key: &[u8], group: &[u8], consumer: &[u8]) -> Vec<Bytes> {
    vec![
        Bytes::from_static(b"XGROUP"),
        Bytes::from_static(b"CREATECONSUMER"),
        b(key),
        b(group),
        b(consumer),
    ]
}

impl Stream {
    /// Delivers to `r`'s consumer the entries after its group's last id, as Redis's
    /// `streamReplyWithRange` with a group: writes their array, moves the group's last id,
    /// adds them to the PELs (unless NOACK), and pushes what to propagate onto `prop`.
    /// Returns how many were delivered.
    pub(crate) fn read_new(
        &mut self,
        out: &mut ReplyWriter<'_>,
        r: &GroupRead<'_>,
        prop: &mut Vec<Vec<Bytes>>,
    ) -> usize {
        let start = self.groups.get(r.group).and_then(|g| g.last_id.incr());
        let ids: Vec<StreamId> = match start {
            Some(start) => {
                let entries = self.range(start, StreamId::MAX, false, r.count);
                out.array_len(entries.len());
                for (id, pairs) in &entries {
                    write_entry(out, *id, pairs);
                }
                entries.iter().map(|(id, _)| *id).collect()
            }
            None => {
                out.array_len(0);
                Vec::new()
            }
        };
        let mut moved = false;
        for &id in &ids {
            let before = self.groups.get(r.group).map(|g| g.last_id);
            self.advance_group(r.group, id);
            let Some(g) = self.groups.get_mut(r.group) else {
                break;
            };
            moved |= before != Some(g.last_id);
            if !r.noack {
                let last = g.last_id;
                let nack = g.assign(id, r.consumer, r.now);
                nack.delivery_time = r.now;
                nack.delivery_count = 1;
                prop.push(xclaim_argv(
                    r.key,
                    r.group,
                    id.text().as_bytes(),
                    nack,
                    last,
                ));
            }
        }
        if r.noack && moved {
            if let Some(g) = self.groups.get(r.group) {
                prop.push(setid_argv(r.key, r.group, g));
            }
        }
        ids.len()
    }

    /// Serves a consumer its own history (XREADGROUP with an id): its pending entries from
    /// `start`, each delivered again (`[id, nil]` for one deleted since).
    pub(crate) fn read_history(
        &mut self,
        out: &mut ReplyWriter<'_>,
        r: &GroupRead<'_>,
        start: StreamId,
    ) -> usize {
        let ids: Vec<StreamId> = self
            .groups
            .get(r.group)
            .and_then(|g| g.consumers.get(r.consumer))
            .map(|c| {
                c.pel
                    .range(start..)
                    .take(if r.count == 0 { usize::MAX } else { r.count })
                    .copied()
                    .collect()
            })
            .unwrap_or_default();
        out.array_len(ids.len());
        let mut present = Vec::with_capacity(ids.len());
        for &id in &ids {
            match self.get(id) {
                Some(pairs) => {
                    write_entry(out, id, &pairs);
                    present.push(id);
                }
                None => {
                    out.array_len(2);
                    out.bulk(id.text().as_bytes());
                    out.null_array();
                }
            }
        }
        if let Some(g) = self.groups.get_mut(r.group) {
            for id in present {
                if let Some(n) = g.pel.get_mut(&id) {
                    n.delivery_time = r.now;
                    n.count_delivery();
                }
            }
        }
        ids.len()
    }
}

/// Nodes of a compressed radix tree holding `keys` (sorted, equal length), from `depth`.
fn rax_nodes(keys: &[[u8; 16]], depth: usize) -> usize {
    if depth >= 16 {
        return 1;
    }
    let Some(first) = keys.first() else {
        return 0;
    };
    // A run of bytes shared by every key is one compressed node.
    let mut d = depth;
    while d < 16 && keys.iter().all(|k| k.get(d) == first.get(d)) {
        d += 1;
    }
    if d > depth {
        return 1 + rax_nodes(keys, d);
    }
    // A branching node, and a subtree per distinct byte.
    let mut n = 1;
    let mut i = 0;
    while let Some(k) = keys.get(i) {
        let b = k.get(depth);
        let j = i + keys.get(i..).map_or(0, |rest| {
            rest.iter().take_while(|x| x.get(depth) == b).count()
        });
        n += rax_nodes(keys.get(i..j).unwrap_or_default(), depth + 1);
        i = j;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId::new(ms, seq)
    }

    #[test]
    fn ids_parse_as_redis_reads_them() {
        let p = |s: &str| parse_id(s.as_bytes(), 0, false, false).map(|p| p.id);
        assert_eq!(p("1-2"), Some(id(1, 2)));
        assert_eq!(p("5"), Some(id(5, 0)));
        assert_eq!(p("-"), Some(StreamId::MIN));
        assert_eq!(p("+"), Some(StreamId::MAX));
        assert_eq!(p("007-1"), Some(id(7, 1)));
        assert_eq!(p(" 7"), Some(id(7, 0)));
        assert_eq!(p("1--1"), Some(id(1, u64::MAX)));
        assert_eq!(p("18446744073709551616"), None);
        assert_eq!(p("a"), None);
        assert_eq!(p(""), None);
        assert_eq!(p("1-"), None);
        assert_eq!(parse_id(b"-", 0, true, false), None);
        let star = parse_id(b"5-*", 0, true, true).unwrap();
        assert_eq!((star.id, star.seq_given), (id(5, 0), false));
        assert_eq!(parse_id(b"5-*", 0, true, false), None);
    }

    #[test]
    fn entries_round_trip_and_nodes_split_at_redis_limits() {
        let mut s = Stream::default();
        for i in 1..=250u64 {
            let v = i.to_string();
            if i % 7 == 0 {
                s.append(
                    id(i, 0),
                    &[(b"other", v.as_bytes()), (b"x", b"y")],
                    NODE_MAX_BYTES,
                    NODE_MAX_ENTRIES,
                );
            } else {
                s.append(
                    id(i, 0),
                    &[(b"f", v.as_bytes())],
                    NODE_MAX_BYTES,
                    NODE_MAX_ENTRIES,
                );
            }
        }
        assert_eq!(s.nodes.len(), 3);
        assert_eq!(s.length, 250);
        let all = s.range(StreamId::MIN, StreamId::MAX, false, 0);
        assert_eq!(all.len(), 250);
        assert_eq!(
            all[6].1,
            vec![(&b"other"[..], &b"7"[..]), (&b"x"[..], &b"y"[..])]
        );
        let rev = s.range(StreamId::MIN, StreamId::MAX, true, 3);
        assert_eq!(
            rev.iter().map(|e| e.0.ms).collect::<Vec<_>>(),
            vec![250, 249, 248]
        );
        assert!(s.delete(id(3, 0)));
        assert!(!s.delete(id(3, 0)));
        assert_eq!(s.length, 249);
        assert!(!s.exists(id(3, 0)));
        assert_eq!(s.trim(Trim::MaxLen(120), true, 0), 99);
        assert_eq!(s.trim(Trim::MaxLen(120), false, 0), 30);
        assert_eq!(s.length, 120);
        assert_eq!(s.first_id, id(131, 0));
    }

    #[test]
    fn rax_node_counts() {
        let mut s = Stream::default();
        assert_eq!(s.rax_counts(), (0, 1));
        s.append(id(1, 0), &[(b"f", b"v")], 0, 1);
        assert_eq!(s.rax_counts(), (1, 2));
    }
}
