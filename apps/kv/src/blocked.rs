//! The blocking registry behind BLPOP, BRPOP & co. (the commands are in `cmd/blocking.rs`):
//! parking a client, serving it first-come-first-served when another client fills a key, and
//! waking it. It takes only what it needs: the data, the registry itself, and WATCH's registry
//! to mark the keys it pops from.
//!
//! A blocking command that finds nothing leaves a [`Block`] on its client and no reply. The
//! session then *parks* it: it sets a reactor timer for the timeout (a century for 0, "for
//! ever"), registers the client under each key in [`Waiting`], pauses reading, and leaves the
//! rest of its input undecoded. When any write command touches a key with waiters, [`serve`]
//! pops for the waiters in arrival order — the reply goes to the waiter's connection through
//! the writer's outbox (`write_to`) — and the waiter's timer is reset to fire at once. The
//! waiter's session, on that timer (or on a real timeout, when it replies with a null), resumes
//! reading and processing its input. No callback ever runs inside another.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use spindle_protocols::resp::{ReplyWriter, Version};
use spindle_reactor::{ConnId, TimerId};

use crate::db::Db;
use crate::error::WRONGTYPE;
use crate::types::str::Str;
use crate::types::stream::{createconsumer_argv, GroupRead, Stream, StreamId};
use crate::types::value::Value;
use crate::watches::Watches;

/// What a blocked client waits to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BlockOp {
    /// BLPOP (`left`) / BRPOP: pop one element, reply `[key, element]`.
    Pop {
        /// From the head.
        left: bool,
    },
    /// BLMOVE / BRPOPLPUSH: pop one element, push it onto `dest`, reply the element.
    Move {
        /// Index into [`Block::keys`] of the destination (it is not waited on).
        dest: usize,
        /// Pop from the head.
        from_left: bool,
        /// Push onto the head.
        to_left: bool,
    },
    /// BLMPOP: pop up to `count` elements, reply `[key, [elements…]]`.
    MPop {
        /// From the head.
        left: bool,
        /// How many at most.
        count: usize,
    },
    /// BZPOPMIN / BZPOPMAX: pop one member of a sorted set, reply `[key, member, score]`.
    ZPop {
        /// The highest score (else the lowest).
        max: bool,
    },
    /// BZMPOP: pop up to `count` members, reply `[key, [[member, score]…]]`.
    ZMPop {
        /// The highest scores (else the lowest).
        max: bool,
        /// How many at most.
        count: usize,
    },
    /// XREAD / XREADGROUP: entries after an id of each key, served by [`serve_streams`].
    Stream(Box<StreamWait>),
}

/// What a blocked XREAD or XREADGROUP waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StreamWait {
    /// Per waited key, the id to read after (`$` resolved when it blocked; the largest id
    /// for XREADGROUP's `>`, which reads after its group's last id).
    pub(crate) ids: Vec<StreamId>,
    /// XREADGROUP's group, consumer and NOACK.
    pub(crate) group: Option<(Bytes, Bytes, bool)>,
    /// At most this many entries.
    pub(crate) count: usize,
}

impl BlockOp {
    /// True for the sorted-set operations (which wait for a sorted set, not a list).
    fn on_zset(&self) -> bool {
        matches!(self, BlockOp::ZPop { .. } | BlockOp::ZMPop { .. })
    }

    /// True for XREAD / XREADGROUP.
    fn on_stream(&self) -> bool {
        matches!(self, BlockOp::Stream(_))
    }
}

/// A blocking command's wait, set by the handler for the session to park.
#[derive(Debug, Clone)]
pub(crate) struct Block {
    /// The database of the keys.
    pub(crate) db: usize,
    /// The keys waited on, in the order the command named them (for BLMOVE, followed by the
    /// destination, which is not waited on).
    pub(crate) keys: Vec<Bytes>,
    /// How many of `keys` are waited on.
    pub(crate) waited: usize,
    /// What to do once a key has data.
    pub(crate) op: BlockOp,
    /// How long to wait; `None` for ever.
    pub(crate) timeout: Option<Duration>,
}

#[derive(Debug)]
struct Waiter {
    conn: ConnId,
    resp: Version,
    block: Block,
    timer: TimerId,
}

/// The error a client gets when CLIENT UNBLOCK … ERROR ends its wait.
pub(crate) const UNBLOCKED_ERROR: &str = "UNBLOCKED client unblocked via CLIENT UNBLOCK";

/// Every blocked client, by client id and by the keys it waits on.
#[derive(Debug, Default)]
pub(crate) struct Waiting {
    clients: HashMap<u64, Waiter>,
    by_key: HashMap<(usize, Bytes), VecDeque<u64>>,
    served: HashSet<u64>,
    woken: Vec<TimerId>,
}

impl Waiting {
    /// True when nobody is blocked.
    pub(crate) fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    /// Blocked clients (INFO's `blocked_clients`).
    pub(crate) fn len(&self) -> usize {
        self.clients.len()
    }

    /// Blocked clients that wait with a timeout (INFO's `clients_in_timeout_table`).
    pub(crate) fn with_timeout(&self) -> usize {
        self.clients
            .values()
            .filter(|w| w.block.timeout.is_some())
            .count()
    }

    /// Queues timers to be reset to fire now by the session that runs the current command.
    pub(crate) fn wake(&mut self, timers: Vec<TimerId>) {
        self.woken.extend(timers);
    }

    /// Timers of clients served since the last call: reset them to fire now.
    pub(crate) fn take_woken(&mut self) -> Vec<TimerId> {
        std::mem::take(&mut self.woken)
    }

    /// CLIENT UNBLOCK: ends client `id`'s wait now. With `error`, it is answered with an
    /// `-UNBLOCKED` error (returned here for the caller to deliver); otherwise it times out.
    /// `None` if it was not blocked.
    pub(crate) fn cancel(&mut self, id: u64, error: bool) -> Option<(ConnId, Option<Bytes>)> {
        let timer = self.clients.get(&id)?.timer;
        self.woken.push(timer);
        if !error {
            return self.clients.get(&id).map(|w| (w.conn, None));
        }
        let w = self.forget(id)?;
        self.served.insert(id);
        let mut reply = BytesMut::new();
        ReplyWriter::new(w.resp, &mut reply).error(UNBLOCKED_ERROR);
        Some((w.conn, Some(reply.freeze())))
    }

    /// Parks client `id` (see the module docs): it waits on `block`'s keys, is answered on
    /// `conn` in `resp`, and its session's `timer` fires when it is served or times out.
    pub(crate) fn park(
        &mut self,
        id: u64,
        conn: ConnId,
        resp: Version,
        block: Block,
        timer: TimerId,
    ) {
        for key in block.keys.iter().take(block.waited) {
            self.by_key
                .entry((block.db, key.clone()))
                .or_default()
                .push_back(id);
        }
        self.clients.insert(
            id,
            Waiter {
                conn,
                resp,
                block,
                timer,
            },
        );
    }

    /// Ends client `id`'s wait (its timer fired, or it disconnected). True if it had been
    /// served (its reply is already written); false if it timed out or was not blocked.
    pub(crate) fn unblock(&mut self, id: u64) -> bool {
        let served = self.served.remove(&id);
        self.forget(id);
        served
    }

    fn forget(&mut self, id: u64) -> Option<Waiter> {
        let w = self.clients.remove(&id)?;
        for key in w.block.keys.iter().take(w.block.waited) {
            let k = (w.block.db, key.clone());
            if let Some(q) = self.by_key.get_mut(&k) {
                q.retain(|c| *c != id);
                if q.is_empty() {
                    self.by_key.remove(&k);
                }
            }
        }
        Some(w)
    }
}

/// Serves the clients waiting on `key` in `db` while it has data, first come first served:
/// their replies go to `outbox`, the keys popped from are touched in `watches`.
pub(crate) fn serve(
    data: &mut Db,
    waiting: &mut Waiting,
    watches: &mut Watches,
    db: usize,
    key: &[u8],
    outbox: &mut Vec<(ConnId, Bytes)>,
    now: u64,
) {
    let k = (db, Bytes::copy_from_slice(key));
    serve_streams(data, waiting, db, key, outbox, now);
    loop {
        // Stream readers are served above, each on its own terms, and never pop.
        let Some(id) = waiting.by_key.get(&k).and_then(|q| {
            q.iter().copied().find(|c| {
                !waiting
                    .clients
                    .get(c)
                    .is_some_and(|w| w.block.op.on_stream())
            })
        }) else {
            return;
        };
        let wants_zset = waiting
            .clients
            .get(&id)
            .is_some_and(|w| w.block.op.on_zset());
        let has_data = match data.entry(db, key, now).map(|e| &e.value) {
            Some(Value::List(l)) => !wants_zset && !l.is_empty(),
            Some(Value::ZSet(z)) => wants_zset && !z.is_empty(),
            _ => false,
        };
        if !has_data {
            return;
        }
        let Some(w) = waiting.forget(id) else {
            return;
        };
        let mut reply = BytesMut::new();
        let mut out = ReplyWriter::new(w.resp, &mut reply);
        let mut pushed_to = None;
        match w.block.op {
            BlockOp::Pop { left } => {
                if let Some(v) = pop(data, db, key, left, now) {
                    out.array_len(2);
                    out.bulk(key);
                    out.bulk(&v);
                }
            }
            BlockOp::MPop { left, count } => {
                let mut items = Vec::new();
                while items.len() < count {
                    match pop(data, db, key, left, now) {
                        Some(v) => items.push(v),
                        None => break,
                    }
                }
                out.array_len(2);
                out.bulk(key);
                out.array_len(items.len());
                for v in &items {
                    out.bulk(v);
                }
            }
            BlockOp::ZPop { max } => {
                if let Some((member, score)) = zpop(data, db, key, max, now) {
                    out.array_len(3);
                    out.bulk(key);
                    out.bulk(&member);
                    out.double(score);
                }
            }
            BlockOp::ZMPop { max, count } => {
                let mut items = Vec::new();
                while items.len() < count {
                    match zpop(data, db, key, max, now) {
                        Some(m) => items.push(m),
                        None => break,
                    }
                }
                out.array_len(2);
                out.bulk(key);
                out.array_len(items.len());
                for (member, score) in &items {
                    out.array_len(2);
                    out.bulk(member);
                    out.double(*score);
                }
            }
            BlockOp::Move {
                dest,
                from_left,
                to_left,
            } => {
                let dest = w.block.keys.get(dest).cloned().unwrap_or_default();
                let dest_ok = matches!(
                    data.entry(db, &dest, now).map(|e| &e.value),
                    None | Some(Value::List(_))
                );
                if !dest_ok {
                    out.error(WRONGTYPE);
                    data.stats.error_reply(WRONGTYPE);
                } else if let Some(v) = pop(data, db, key, from_left, now) {
                    // The destination was checked above: only a list or nothing is there.
                    if let Ok(l) = data.get_or_create::<VecDeque<Str>>(db, &dest, now) {
                        if to_left {
                            l.push_front(v.clone());
                        } else {
                            l.push_back(v.clone());
                        }
                    }
                    out.bulk(&v);
                    pushed_to = Some(dest);
                }
            }
            BlockOp::Stream(_) => {}
        }
        data.removed_from(db, key);
        watches.touch(db, key);
        waiting.served.insert(id);
        waiting.woken.push(w.timer);
        outbox.push((w.conn, reply.freeze()));
        if let Some(dest) = pushed_to {
            // The element landed on another list: its own waiters may now be served.
            watches.touch(db, &dest);
            serve(data, waiting, watches, db, &dest, outbox, now);
        }
    }
}

/// Serves the XREAD / XREADGROUP clients waiting on `key` in `db` that it can serve now, in
/// the order they blocked, as Redis's `serveClientsBlockedOnStreamKey`: a reader when the
/// stream's last id passed the one it waits after (its group's last id for XREADGROUP),
/// with the entries of this key only. A group reader whose group is gone gets NOGROUP, and
/// one whose key is no longer a stream UNBLOCKED. What a group read changed is propagated.
fn serve_streams(
    data: &mut Db,
    waiting: &mut Waiting,
    db: usize,
    key: &[u8],
    outbox: &mut Vec<(ConnId, Bytes)>,
    now: u64,
) {
    let k = (db, Bytes::copy_from_slice(key));
    let readers: Vec<u64> = waiting.by_key.get(&k).map_or_else(Vec::new, |q| {
        q.iter()
            .copied()
            .filter(|c| {
                waiting
                    .clients
                    .get(c)
                    .is_some_and(|w| w.block.op.on_stream())
            })
            .collect()
    });
    for id in readers {
        let Some(w) = waiting.clients.get(&id) else {
            continue;
        };
        let BlockOp::Stream(wait) = &w.block.op else {
            continue;
        };
        let at = w.block.keys.iter().position(|k| k == key);
        let (wait, resp) = ((**wait).clone(), w.resp);
        let mut gt = at
            .and_then(|i| wait.ids.get(i))
            .copied()
            .unwrap_or_default();
        let mut reply = BytesMut::new();
        let mut out = ReplyWriter::new(resp, &mut reply);
        let stream = match data.entry(db, key, now).map(|e| &mut e.value) {
            Some(Value::Stream(s)) => Some(s),
            _ => None,
        };
        let mut prop = Vec::new();
        match (stream, &wait.group) {
            (None, None) => continue,
            (None, Some(_)) => {
                let text = "UNBLOCKED the stream key no longer exists";
                out.error(text);
                data.stats.error_reply(text);
            }
            (Some(s), Some((group, consumer, noack))) => {
                let Some(g) = s.groups.get_mut(&group[..]) else {
                    let text =
                        "NOGROUP the consumer group this client was blocked on no longer exists";
                    out.error(text);
                    data.stats.error_reply(text);
                    finish(waiting, id, reply, outbox);
                    continue;
                };
                gt = g.last_id;
                if s.last_id <= gt {
                    continue;
                }
                if g.consumer(consumer, now) && *noack {
                    prop.push(createconsumer_argv(key, group, consumer));
                }
                stream_reply_head(&mut out, key);
                let r = GroupRead {
                    key,
                    group,
                    consumer,
                    noack: *noack,
                    count: wait.count,
                    now,
                };
                s.read_new(&mut out, &r, &mut prop);
            }
            (Some(s), None) => {
                if s.last_id <= gt {
                    continue;
                }
                let s: &Stream = s;
                stream_reply_head(&mut out, key);
                let start = gt.incr().unwrap_or(StreamId::MAX);
                let entries = s.range(start, StreamId::MAX, false, wait.count);
                out.array_len(entries.len());
                for (id, pairs) in &entries {
                    crate::types::stream::write_entry(&mut out, *id, pairs);
                }
            }
        }
        if !prop.is_empty() {
            for argv in prop {
                data.propagation.replace(argv);
            }
            data.propagation.command_done(db, &[], false);
        }
        finish(waiting, id, reply, outbox);
    }
}

/// The head of a served stream read: the one key, in an array of one (RESP2) or a map.
fn stream_reply_head(out: &mut ReplyWriter<'_>, key: &[u8]) {
    if out.version == Version::Resp2 {
        out.array_len(1);
        out.array_len(2);
    } else {
        out.map_len(1);
    }
    out.bulk(key);
}

/// Ends client `id`'s wait with `reply`, delivered through `outbox`.
fn finish(waiting: &mut Waiting, id: u64, reply: BytesMut, outbox: &mut Vec<(ConnId, Bytes)>) {
    if let Some(w) = waiting.forget(id) {
        waiting.served.insert(id);
        waiting.woken.push(w.timer);
        outbox.push((w.conn, reply.freeze()));
    }
}

fn zpop(data: &mut Db, db: usize, key: &[u8], max: bool, now: u64) -> Option<(Str, f64)> {
    match data.entry(db, key, now).map(|e| &mut e.value) {
        Some(Value::ZSet(z)) => z.pop(max),
        _ => None,
    }
}

fn pop(data: &mut Db, db: usize, key: &[u8], left: bool, now: u64) -> Option<Str> {
    match data.entry(db, key, now).map(|e| &mut e.value) {
        Some(Value::List(l)) => {
            if left {
                l.pop_front()
            } else {
                l.pop_back()
            }
        }
        _ => None,
    }
}
