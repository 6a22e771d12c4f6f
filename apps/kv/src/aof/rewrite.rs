//! An AOF base written as commands (`aof-use-rdb-preamble no`), as Redis 7.0's
//! `rewriteAppendOnlyFileRio`: the FUNCTION libraries as `FUNCTION LOAD`, then for each
//! non-empty database a SELECT and, per key, the commands that rebuild it — SET; RPUSH, SADD,
//! ZADD and HMSET with at most [`ITEMS_PER_CMD`] elements each; XADD per entry, XSETID, XGROUP
//! CREATE and the pending entries as XCLAIM — and PEXPIREAT for a key with an expiry.
//! Keys past their expiry that are still held are written with it, as Redis does; a loader
//! drops them.

use std::io::{self, Write};
use std::path::Path;

use bytes::BytesMut;
use spindle_protocols::resp::{ReplyWriter, Version};

use crate::db::Db;
use crate::rdb::encode::format_g17;
use crate::types::stream::{Stream, StreamId, DELETED};
use crate::types::value::Value;

/// Elements per RPUSH/SADD/ZADD/HMSET, as Redis's `AOF_REWRITE_ITEMS_PER_CMD`.
const ITEMS_PER_CMD: usize = 64;

/// Writes `db` to `path` atomically as an AOF base: an RDB (`rdb`, `aof-use-rdb-preamble
/// yes`) or commands (see [`crate::rdb::file::save_as`]).
pub(crate) fn save_base(db: &Db, path: &Path, now_ms: u64, rdb: bool) -> io::Result<()> {
    if rdb {
        crate::rdb::file::save(db, path, now_ms)
    } else {
        crate::rdb::file::save_as(path, |w| write_commands(db, w))
    }
}

/// Writes the commands that rebuild `db` (its libraries and every database) to `w`.
pub(crate) fn write_commands(db: &Db, w: &mut impl Write) -> io::Result<()> {
    let mut out = Out {
        buf: BytesMut::with_capacity(64 << 10),
    };
    for code in &db.libraries {
        out.command(&[b"FUNCTION", b"LOAD", &code[..]]);
    }
    for (index, space) in db.spaces.iter().enumerate() {
        if space.is_empty() {
            continue;
        }
        out.command(&[b"SELECT", index.to_string().as_bytes()]);
        for entry in space.iter() {
            let key = entry.key.as_bytes();
            out.value(key, &entry.value);
            if entry.expire_at != 0 {
                out.command(&[b"PEXPIREAT", key, entry.expire_at.to_string().as_bytes()]);
            }
            if out.buf.len() >= 64 << 10 {
                w.write_all(&out.buf)?;
                out.buf.clear();
            }
        }
    }
    w.write_all(&out.buf)
}

/// The commands being written.
struct Out {
    buf: BytesMut,
}

impl Out {
    fn writer(&mut self) -> ReplyWriter<'_> {
        ReplyWriter::new(Version::Resp2, &mut self.buf)
    }

    fn command(&mut self, argv: &[&[u8]]) {
        crate::propagate::encode(&mut self.buf, argv);
    }

    /// `name key` followed by `items` (each `per_item` arguments), in commands of at most
    /// [`ITEMS_PER_CMD`] items.
    fn batched<'a, I>(&mut self, name: &[u8], key: &[u8], len: usize, per_item: usize, items: I)
    where
        I: Iterator<Item = Vec<std::borrow::Cow<'a, [u8]>>>,
    {
        let mut left = len;
        let mut in_cmd = 0;
        for item in items {
            if in_cmd == 0 {
                let n = left.min(ITEMS_PER_CMD);
                let mut w = self.writer();
                w.array_len(2 + n * per_item);
                w.bulk(name);
                w.bulk(key);
            }
            let mut w = self.writer();
            for arg in &item {
                w.bulk(arg);
            }
            in_cmd += 1;
            left = left.saturating_sub(1);
            if in_cmd == ITEMS_PER_CMD {
                in_cmd = 0;
            }
        }
    }

    fn value(&mut self, key: &[u8], value: &Value) {
        use std::borrow::Cow::{Borrowed, Owned};
        match value {
            Value::Str(s) => self.command(&[b"SET", key, s.as_bytes()]),
            Value::Int(n) => self.command(&[b"SET", key, n.to_string().as_bytes()]),
            Value::List(list) => self.batched(
                b"RPUSH",
                key,
                list.len(),
                1,
                list.iter().map(|e| vec![Borrowed(e.as_bytes())]),
            ),
            Value::Set(set) => self.batched(
                b"SADD",
                key,
                set.len(),
                1,
                set.iter().map(|m| vec![Borrowed(m.as_bytes())]),
            ),
            Value::ZSet(z) => self.batched(
                b"ZADD",
                key,
                z.len(),
                2,
                z.iter().map(|(m, score)| {
                    vec![
                        Owned(format_g17(score).into_bytes()),
                        Borrowed(m.as_bytes()),
                    ]
                }),
            ),
            Value::Hash(h) => self.batched(
                b"HMSET",
                key,
                h.len(),
                2,
                h.iter().map(|(f, v)| vec![Borrowed(f), Borrowed(v)]),
            ),
            Value::Stream(s) => self.stream(key, s),
        }
    }

    /// As Redis's `rewriteStreamObject`: the live entries as XADD (an empty stream made by
    /// `XADD key MAXLEN 0 0-1 x y`), XSETID with the stream's counters, then each group with
    /// XGROUP CREATE, its pending entries as XCLAIM … JUSTID FORCE, and its consumers without
    /// pending entries as XGROUP CREATECONSUMER.
    fn stream(&mut self, key: &[u8], s: &Stream) {
        if s.length > 0 {
            for (master, node) in s.nodes() {
                for e in node.entries(*master) {
                    if e.flags & DELETED != 0 {
                        continue;
                    }
                    let id = e.id.text();
                    let mut w = self.writer();
                    w.array_len(3 + 2 * e.pairs.len());
                    w.bulk(b"XADD");
                    w.bulk(key);
                    w.bulk(id.as_bytes());
                    for (f, v) in &e.pairs {
                        w.bulk(f);
                        w.bulk(v);
                    }
                }
            }
        } else {
            let id = StreamId::new(0, 1).text();
            self.command(&[b"XADD", key, b"MAXLEN", b"0", id.as_bytes(), b"x", b"y"]);
        }
        self.command(&[
            b"XSETID",
            key,
            s.last_id.text().as_bytes(),
            b"ENTRIESADDED",
            s.entries_added.to_string().as_bytes(),
            b"MAXDELETEDID",
            s.max_deleted.text().as_bytes(),
        ]);
        for (name, g) in &s.groups {
            let name = name.as_bytes();
            self.command(&[
                b"XGROUP",
                b"CREATE",
                key,
                name,
                g.last_id.text().as_bytes(),
                b"ENTRIESREAD",
                g.entries_read.to_string().as_bytes(),
            ]);
            for (consumer, c) in &g.consumers {
                if c.pel.is_empty() {
                    self.command(&[b"XGROUP", b"CREATECONSUMER", key, name, consumer.as_bytes()]);
                    continue;
                }
                for id in &c.pel {
                    let Some(nack) = g.pel.get(id) else {
                        continue;
                    };
                    self.command(&[
                        b"XCLAIM",
                        key,
                        name,
                        consumer.as_bytes(),
                        b"0",
                        id.text().as_bytes(),
                        b"TIME",
                        nack.delivery_time.to_string().as_bytes(),
                        b"RETRYCOUNT",
                        nack.delivery_count.to_string().as_bytes(),
                        b"JUSTID",
                        b"FORCE",
                    ]);
                }
            }
        }
    }
}
